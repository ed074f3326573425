package main

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

func TestPrintWatchEvents(t *testing.T) {
	h := wire.ResponseHeader{Shard: 0, Revision: 12, RaftTerm: 2, Member: "n1", ClusterID: 7}
	hj := fmt.Sprintf(`{"cluster_id":7,"member_id":%d,"revision":12,"raft_term":2,"shard":0,"member":"n1"}`, wire.EtcdMemberID("n1"))
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
			// etcdctl prints clientv3's WatchResponse: Go field names at the
			// top, PUT (0) as no type.
			`{"Header":` + hj + `,"Events":[` +
				`{"kv":{"key":"aw==","create_revision":3,"mod_revision":11,"version":2,"value":"djI=","lease":7587852521871779343},` +
				`"prev_kv":{"key":"aw==","create_revision":3,"mod_revision":3,"version":1,"value":"djE="}},` +
				`{"type":1,"kv":{"key":"aw==","mod_revision":12}}],"CompactRevision":0,"Canceled":false,"Created":false}` + "\n"},
		{"json empty", formatJSON, nil, `{"Header":` + hj + `,"Events":[],"CompactRevision":0,"Canceled":false,"Created":false}` + "\n"},
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

func TestWatchCanceledError(t *testing.T) {
	// Errors as the client builds them: the server's message, matching a
	// sentinel.
	compacted := serverErr{"required revision has been compacted", coord.ErrCompacted}
	tests := []struct {
		err  error
		rev  int64
		want string
		is   error
	}{
		{compacted, 42, "watch canceled: required revision has been compacted (compacted revision 42)", coord.ErrCompacted},
		{serverErr{"revision 42 has been compacted", coord.ErrCompacted}, 42, "watch canceled: revision 42 has been compacted", coord.ErrCompacted},
		{coord.ErrCompacted, 7, "watch canceled: revision has been compacted (compacted revision 7)", coord.ErrCompacted},
		{nil, 9, "watch canceled: revision compacted: canceled by the server (compacted revision 9)", coord.ErrCanceled},
		{coord.ErrCanceled, 0, "watch canceled: canceled by the server", coord.ErrCanceled},
		{nil, 0, "watch canceled: canceled by the server", coord.ErrCanceled},
		{serverErr{"member n1 is shutting down", coord.ErrCanceled}, 0, "watch canceled: member n1 is shutting down", coord.ErrCanceled},
		{errors.New("watch limit reached\nretry later"), 0, "watch limit reached; retry later", nil},
	}
	for _, tt := range tests {
		err := watchCanceledError(tt.err, tt.rev)
		if err.Error() != tt.want {
			t.Errorf("watchCanceledError(%v, %d) = %q, want %q", tt.err, tt.rev, err, tt.want)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("watchCanceledError(%v, %d) does not match %v", tt.err, tt.rev, tt.is)
		}
		var buf bytes.Buffer
		if code := reportError(err, &buf); code != exitError || buf.String() != "Error: "+tt.want+"\n" {
			t.Errorf("reported as %d %q", code, buf.String())
		}
	}
}

type serverErr struct {
	msg      string
	sentinel error
}

func (e serverErr) Error() string { return e.msg }
func (e serverErr) Unwrap() error { return e.sentinel }
