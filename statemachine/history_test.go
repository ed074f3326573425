package statemachine

import (
	"bytes"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// inRange reports whether k is selected by key and end (wire rules).
func inRange(k, key, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(k, key)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(k, key) >= 0
	default:
		return bytes.Compare(k, key) >= 0 && bytes.Compare(k, end) < 0
	}
}

// expectHistory selects from all (normalized Apply events) those History
// should return.
func expectHistory(all []wire.Event, key, end []byte, from, to int64, withPrev bool) []wire.Event {
	var out []wire.Event
	for _, e := range all {
		if e.Kv.ModRevision < from || e.Kv.ModRevision > to || !inRange(e.Kv.Key, key, end) {
			continue
		}
		if !withPrev {
			e.PrevKv = nil
		}
		out = append(out, e)
	}
	return out
}

// normalize turns Apply's events into what History can see: one event per
// (revision, key), the last Apply produced, with the PrevKv of the first
// (the key's version before the revision), ordered by revision then key.
func normalize(events []wire.Event) []wire.Event {
	type rk struct {
		rev int64
		key string
	}
	var out []wire.Event
	at := map[rk]int{}
	for _, e := range events {
		k := rk{e.Kv.ModRevision, string(e.Kv.Key)}
		if i, ok := at[k]; ok {
			prev := out[i].PrevKv
			out[i] = e
			out[i].PrevKv = prev
			continue
		}
		at[k] = len(out)
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kv.ModRevision != out[j].Kv.ModRevision {
			return out[i].Kv.ModRevision < out[j].Kv.ModRevision
		}
		return bytes.Compare(out[i].Kv.Key, out[j].Kv.Key) < 0
	})
	return out
}

func TestHistory(t *testing.T) {
	h := newHarness(t)
	l := h.grant(10).ID
	var all []wire.Event
	do := func(cmds ...*Command) {
		rs, evs := h.apply(cmds...)
		for _, r := range rs {
			require.Equal(t, wire.OK, r.Code)
		}
		all = append(all, evs...)
	}
	do(leasePut("a", "1", 0))                                                   // 2
	do(leasePut("b", "1", 0))                                                   // 3
	do(leasePut("a", "2", l))                                                   // 4
	do(&Command{Op: OpDelete, req: &wire.DeleteRangeRequest{Key: []byte("a")}}) // 5
	do(leasePut("ab", "1", l))                                                  // 6
	do(leasePut("c", "1", 0))                                                   // 7
	do(leasePut("a", "3", 0))                                                   // 8
	do(&Command{Op: OpTxn, req: &wire.TxnRequest{Success: []wire.RequestOp{     // 9
		{Put: &wire.PutRequest{Key: []byte("c"), Value: []byte("2")}},
		{Put: &wire.PutRequest{Key: []byte("b"), Value: []byte("2")}},
	}}})
	do(&Command{Op: OpDelete, req: &wire.DeleteRangeRequest{Key: []byte("b"), RangeEnd: []byte("d")}}) // 10
	do(revokeCmd(l))                                                                                   // 11: ab
	do(leasePut("a", "4", 0))                                                                          // 12
	all = normalize(all)
	require.Len(t, all, 13)

	cases := []struct {
		name     string
		key, end string
		from, to int64
		withPrev bool
		limit    int
		wantRevs []int64 // revisions of the events expected, in order
		wantMore bool
	}{
		{name: "single key", key: "a", from: 2, to: 12, withPrev: true, wantRevs: []int64{2, 4, 5, 8, 12}},
		{name: "single key, window", key: "a", from: 3, to: 8, withPrev: true, wantRevs: []int64{4, 5, 8}},
		{name: "single key, no prev", key: "a", from: 2, to: 12, wantRevs: []int64{2, 4, 5, 8, 12}},
		{name: "missing key", key: "zz", from: 2, to: 12, wantRevs: nil},
		{name: "prefix", key: "a", end: "b", from: 2, to: 12, withPrev: true, wantRevs: []int64{2, 4, 5, 6, 8, 11, 12}},
		{name: "from key", key: "b", end: "\x00", from: 2, to: 12, withPrev: true, wantRevs: []int64{3, 7, 9, 9, 10, 10}},
		{name: "everything", key: "\x00", end: "\x00", from: 2, to: 12, withPrev: true,
			wantRevs: []int64{2, 3, 4, 5, 6, 7, 8, 9, 9, 10, 10, 11, 12}},
		{name: "prev older than from", key: "\x00", end: "\x00", from: 9, to: 11, withPrev: true, wantRevs: []int64{9, 9, 10, 10, 11}},
		{name: "clamped to current", key: "a", from: 6, to: 1001, withPrev: true, wantRevs: []int64{8, 12}},
		{name: "from below 1", key: "a", from: -3, to: 4, withPrev: true, wantRevs: []int64{2, 4}},
		{name: "to before from", key: "a", from: 6, to: 5, wantRevs: nil},
		{name: "empty range", key: "b", end: "a", from: 2, to: 12, wantRevs: nil},
		{name: "limit cuts between revisions", key: "\x00", end: "\x00", from: 2, to: 12, limit: 8,
			wantRevs: []int64{2, 3, 4, 5, 6, 7, 8}, wantMore: true},
		{name: "limit inside the first revision returns it whole", key: "\x00", end: "\x00", from: 9, to: 12, limit: 1,
			wantRevs: []int64{9, 9}, wantMore: true},
		{name: "limit at a revision boundary", key: "\x00", end: "\x00", from: 9, to: 12, limit: 4,
			wantRevs: []int64{9, 9, 10, 10}, wantMore: true},
		{name: "limit not reached", key: "a", from: 2, to: 12, limit: 5, wantRevs: []int64{2, 4, 5, 8, 12}},
		{name: "whole last revision exceeds limit", key: "\x00", end: "\x00", from: 10, to: 10, limit: 1, wantRevs: []int64{10, 10}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, more, err := h.sh.History([]byte(tc.key), bytesOrNil(tc.end), tc.from, tc.to, tc.withPrev, tc.limit)
			require.NoError(t, err)
			require.Equal(t, tc.wantMore, more)
			var revs []int64
			for _, e := range evs {
				revs = append(revs, e.Kv.ModRevision)
			}
			require.Equal(t, tc.wantRevs, revs)
			want := expectHistory(all, []byte(tc.key), bytesOrNil(tc.end), tc.from, min(tc.to, 12), tc.withPrev)
			require.Equal(t, want[:len(evs)], evs)
		})
	}

	// Spot checks of the events' contents.
	evs, _, err := h.sh.History([]byte("a"), nil, 4, 5, true, 0)
	require.NoError(t, err)
	require.Equal(t, []wire.Event{
		{Type: wire.EventPut, Shard: 7,
			Kv:     &wire.KeyValue{Key: []byte("a"), Value: []byte("2"), CreateRevision: 2, ModRevision: 4, Version: 2, Lease: l},
			PrevKv: &wire.KeyValue{Key: []byte("a"), Value: []byte("1"), CreateRevision: 2, ModRevision: 2, Version: 1}},
		{Type: wire.EventDelete, Shard: 7,
			Kv:     &wire.KeyValue{Key: []byte("a"), ModRevision: 5},
			PrevKv: &wire.KeyValue{Key: []byte("a"), Value: []byte("2"), CreateRevision: 2, ModRevision: 4, Version: 2, Lease: l}},
	}, evs)
	evs, _, err = h.sh.History([]byte("a"), nil, 8, 8, true, 0)
	require.NoError(t, err)
	require.Nil(t, evs[0].PrevKv, "the version before a=3 is a tombstone")

	// Compaction: history from the compacted revision or below is gone.
	require.Equal(t, wire.OK, h.compact(5).Code)
	for _, from := range []int64{0, 1, 5} {
		_, _, err := h.sh.History([]byte("a"), nil, from, 12, true, 0)
		require.Equal(t, wire.CodeCompacted, wireCode(err), "from %d", from)
		require.EqualValues(t, 5, err.(*wire.Error).CompactRevision)
	}
	evs, _, err = h.sh.History([]byte("\x00"), []byte("\x00"), 6, 12, true, 0)
	require.NoError(t, err)
	require.Equal(t, expectHistory(all, []byte("\x00"), []byte("\x00"), 6, 12, true), evs,
		"after compaction, history above it is intact, prev versions included")

	// Bad requests, closed shard.
	_, _, err = h.sh.History(nil, nil, 5, 11, false, 0)
	require.Equal(t, wire.CodeInvalid, wireCode(err))
	_, _, err = h.sh.History([]byte("a"), nil, 5, 11, false, -1)
	require.Equal(t, wire.CodeInvalid, wireCode(err))
	require.NoError(t, h.sh.Close())
	_, _, err = h.sh.History([]byte("a"), nil, 5, 11, false, 0)
	require.ErrorIs(t, err, ErrClosed)
}

// TestHistoryMatchesApply checks History over random windows and ranges
// against the events Apply produced for a random log (leases included),
// normalized for the one documented difference (a key written twice by
// one txn), before and after the log's compactions.
func TestHistoryMatchesApply(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	defer func() {
		if t.Failed() {
			t.Logf("reproduce with seed %d", seed)
		}
	}()
	rng := rand.New(rand.NewSource(seed))
	keys := []string{"\x00", "\x00x", "a", "a\x00", "a\x00b", "ab", "b", "b/", "b/1", "b/2", "c", "d", "\xff", "\xff\xff"}
	log := randomLog(rng, 2500)
	_, sh := openShard(t, DefaultConfig())

	var all []wire.Event
	check := func(rounds int) {
		cur, compacted := sh.Revision()
		for i := 0; i < rounds; i++ {
			key := []byte(keys[rng.Intn(len(keys))])
			var end []byte
			switch rng.Intn(4) {
			case 0:
			case 1:
				end = []byte{0}
			default:
				end = []byte(keys[rng.Intn(len(keys))])
			}
			from := compacted + 1 + rng.Int63n(cur-compacted+1)
			to := from + rng.Int63n(cur-from+10)
			if rng.Intn(4) == 0 {
				from, to = compacted+1, cur
			}
			withPrev := rng.Intn(3) != 0
			evs, more, err := sh.History(key, end, from, to, withPrev, 0)
			require.NoError(t, err)
			require.False(t, more)
			want := expectHistory(all, key, end, from, to, withPrev)
			require.Equal(t, want, evs, "History(%q, %q, %d, %d, %v)", key, end, from, to, withPrev)

			// Paging with a limit returns the same events in whole revisions.
			limit := 1 + rng.Intn(5)
			var paged []wire.Event
			for next := from; ; {
				page, more, err := sh.History(key, end, next, to, withPrev, limit)
				require.NoError(t, err)
				paged = append(paged, page...)
				if !more {
					break
				}
				require.NotEmpty(t, page)
				next = page[len(page)-1].Kv.ModRevision + 1
			}
			require.Equal(t, len(want), len(paged))
			if len(want) > 0 {
				require.Equal(t, want, paged)
			}
		}
	}
	// Apply in chunks, checking History (and remembering events) as we go;
	// compactions in the log make later windows start above them.
	for len(log) > 0 {
		n := min(len(log), 1+rng.Intn(200))
		_, evs, _ := applyLog(t, sh, log[:n], rng)
		log = log[n:]
		all = normalize(append(all, evs...))
		check(20)
	}
}
