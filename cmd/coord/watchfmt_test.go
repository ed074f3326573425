package main

import (
	"bytes"
	"testing"

	"github.com/coord-io/coord/coord/wire"
)

func TestPrintWatchEvents(t *testing.T) {
	h := wire.ResponseHeader{Shard: 0, Revision: 12, RaftTerm: 2, Member: "n1"}
	put := &wire.Event{Type: wire.EventPut, Kv: &wire.KeyValue{Key: []byte("k"), Value: []byte("v2"), CreateRevision: 3, ModRevision: 11, Version: 2, Lease: 0x694d77aa9e38260f},
		PrevKv: &wire.KeyValue{Key: []byte("k"), Value: []byte("v1"), CreateRevision: 3, ModRevision: 3, Version: 1}}
	del := &wire.Event{Type: wire.EventDelete, Kv: &wire.KeyValue{Key: []byte("k"), ModRevision: 12}}
	noPrev := *put
	noPrev.PrevKv = nil
	tests := []struct {
		name   string
		format string
		events []*wire.Event
		want   string
	}{
		{"put and delete", formatSimple, []*wire.Event{&noPrev, del}, "PUT\nk\nv2\nDELETE\nk\n\n"},
		{"prev kv", formatSimple, []*wire.Event{put}, "PUT\nk\nv1\nk\nv2\n"},
		{"table is simple", formatTable, []*wire.Event{del}, "DELETE\nk\n\n"},
		{"json", formatJSON, []*wire.Event{put, del},
			`{"header":{"shard":0,"revision":12,"raft_term":2,"member":"n1"},"events":[` +
				`{"type":"PUT","kv":{"key":"k","value":"v2","create_revision":3,"mod_revision":11,"version":2,"lease":7587852521871779343},` +
				`"prev_kv":{"key":"k","value":"v1","create_revision":3,"mod_revision":3,"version":1,"lease":0}},` +
				`{"type":"DELETE","kv":{"key":"k","value":"","create_revision":0,"mod_revision":12,"version":0,"lease":0}}],"compact_revision":0}` + "\n"},
		{"json empty", formatJSON, nil, `{"header":{"shard":0,"revision":12,"raft_term":2,"member":"n1"},"events":[],"compact_revision":0}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, func(w *bytes.Buffer) error { return printWatchEvents(w, tt.format, h, tt.events, 0) })
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
