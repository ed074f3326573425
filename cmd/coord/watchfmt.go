package main

import (
	"fmt"
	"io"

	"github.com/coord-io/coord/coord/wire"
)

// eventTypeName is how etcdctl names an event type.
func eventTypeName(t wire.EventType) string {
	switch t {
	case wire.EventPut:
		return "PUT"
	case wire.EventDelete:
		return "DELETE"
	}
	return fmt.Sprintf("EVENT(%d)", t)
}

type jsonEvent struct {
	Type   string  `json:"type"`
	Kv     *jsonKV `json:"kv"`
	PrevKv *jsonKV `json:"prev_kv,omitempty"`
}

type jsonWatchResp struct {
	Header          jsonHeader  `json:"header"`
	Events          []jsonEvent `json:"events"`
	CompactRevision int64       `json:"compact_revision"`
}

// printWatchEvents prints one batch of watch events.
//
// Simple (and table) output is etcdctl's: per event the type line (PUT or
// DELETE), then with --prev-kv the previous key and value lines, then the
// key and value lines (a delete's value line is empty). JSON output is one
// object per batch on one line.
func printWatchEvents(w io.Writer, format string, h wire.ResponseHeader, events []*wire.Event, compactRev int64) error {
	if format == formatJSON {
		j := jsonWatchResp{Header: jsonHeaderOf(h), Events: make([]jsonEvent, 0, len(events)), CompactRevision: compactRev}
		for _, e := range events {
			j.Events = append(j.Events, jsonEvent{Type: eventTypeName(e.Type), Kv: jsonKVOf(e.Kv), PrevKv: jsonKVOf(e.PrevKv)})
		}
		return writeJSON(w, j)
	}
	for _, e := range events {
		fmt.Fprintln(w, eventTypeName(e.Type))
		if e.PrevKv != nil {
			printKV(w, e.PrevKv, getView{})
		}
		if e.Kv != nil {
			printKV(w, e.Kv, getView{})
		} else {
			fmt.Fprint(w, "\n\n")
		}
	}
	return nil
}
