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

// jsonEvent is mvccpb.Event as etcdctl prints it: type 0 (PUT) left out,
// 1 for DELETE.
type jsonEvent struct {
	Type   int32       `json:"type,omitempty"`
	Kv     *jsonEtcdKV `json:"kv,omitempty"`
	PrevKv *jsonEtcdKV `json:"prev_kv,omitempty"`
}

// jsonWatchResp is clientv3's WatchResponse as etcdctl prints it (its Go
// field names).
type jsonWatchResp struct {
	Header          jsonEtcdHeader `json:"Header"`
	Events          []jsonEvent    `json:"Events"`
	CompactRevision int64          `json:"CompactRevision"`
	Canceled        bool           `json:"Canceled"`
	Created         bool           `json:"Created"`
}

// printWatchEvents prints one batch of watch events.
//
// Simple (and table) output is etcdctl's: per event the type line (PUT or
// DELETE), then with --prev-kv the previous key and value lines, then the
// key and value lines (a delete's value line is empty). JSON output is one
// object per batch on one line.
func printWatchEvents(w io.Writer, format string, h wire.ResponseHeader, events []*wire.Event, compactRev int64) error {
	if format == formatJSON {
		j := jsonWatchResp{Header: etcdHeaderOf(h), Events: make([]jsonEvent, 0, len(events)), CompactRevision: compactRev}
		for _, e := range events {
			j.Events = append(j.Events, jsonEvent{Type: int32(e.Type), Kv: etcdKVOf(e.Kv), PrevKv: etcdKVOf(e.PrevKv)})
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
