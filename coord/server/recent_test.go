package server

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// revEvents returns the events of one revision: a put of each key.
func revEvents(rev int64, keys ...string) []wire.Event {
	var evs []wire.Event
	for _, k := range keys {
		evs = append(evs, wire.Event{Type: wire.EventPut, Kv: &wire.KeyValue{Key: []byte(k), ModRevision: rev}})
	}
	return evs
}

func revisions(evs []wire.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s@%d", e.Kv.Key, e.Kv.ModRevision))
	}
	return out
}

func TestRecentEvents(t *testing.T) {
	h := newHub(1)
	r := h.recent[0]
	_, _, ok := r.since(1, []byte("a"), nil)
	require.False(t, ok, "nothing published yet: nothing is known")

	h.publish(0, revEvents(5, "a", "b"))
	h.publish(0, revEvents(6, "a"))
	h.publish(0, revEvents(8, "c"))
	_, _, ok = r.since(4, []byte("a"), nil)
	require.False(t, ok, "revision 4 came before the first one published")
	evs, last, ok := r.since(5, []byte("a"), nil)
	require.True(t, ok)
	require.Equal(t, int64(8), last)
	require.Equal(t, []string{"a@5", "a@6"}, revisions(evs))
	evs, _, _ = r.since(6, []byte("a"), []byte{0})
	require.Equal(t, []string{"a@6", "c@8"}, revisions(evs), "a range from a, from revision 6")
	evs, last, ok = r.since(9, []byte("a"), []byte{0})
	require.True(t, ok)
	require.Empty(t, evs)
	require.Equal(t, int64(8), last)

	// Trimming keeps at least recentKeep events and drops whole revisions.
	rev := int64(9)
	for n := 0; n < 2*recentKeep; rev++ {
		h.publish(0, revEvents(rev, "x", "y", "z"))
		n += 3
	}
	require.GreaterOrEqual(t, len(r.evs), recentKeep)
	require.Less(t, len(r.evs), 2*recentKeep)
	require.Equal(t, r.first, r.evs[0].Kv.ModRevision)
	require.Equal(t, 3*int(rev-r.first), len(r.evs), "whole revisions only")
	_, _, ok = r.since(r.first-1, []byte("x"), nil)
	require.False(t, ok)
	evs, _, ok = r.since(r.first, []byte("x"), nil)
	require.True(t, ok)
	require.Len(t, evs, int(rev-r.first))

	// A snapshot restore forgets them and wakes the shard's watchers so
	// that they catch up from the store.
	w := h.subscribe(0, []byte("x"), nil)
	h.restored(0)
	_, _, ok = r.since(r.first, []byte("x"), nil)
	require.False(t, ok)
	require.True(t, w.lagging.Load())
	select {
	case b := <-w.ch:
		require.Empty(t, b)
	default:
		t.Fatal("an idle watcher was not woken")
	}
	h.publish(0, revEvents(rev, "x"))
	_, _, ok = r.since(rev-1, []byte("x"), nil)
	require.False(t, ok)
	evs, _, ok = r.since(rev, []byte("x"), nil)
	require.True(t, ok)
	require.Equal(t, []string{fmt.Sprintf("x@%d", rev)}, revisions(evs))
}
