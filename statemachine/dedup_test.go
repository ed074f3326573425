package statemachine

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

func putCmd(client, seq, ack uint64, key, value string) *Command {
	return &Command{ClientID: client, Seq: seq, AckBelow: ack, Op: OpPut, req: &wire.PutRequest{Key: []byte(key), Value: []byte(value)}}
}

func TestExactlyOnce(t *testing.T) {
	h := newHarness(t)
	// The same command twice in one batch, then again in a later batch.
	rs, events := h.apply(putCmd(1, 1, 0, "a", "x"), putCmd(1, 1, 0, "a", "x"))
	require.Equal(t, rs[0], rs[1])
	require.Len(t, events, 1)
	r, events := h.apply(putCmd(1, 1, 0, "a", "x"))
	require.Equal(t, rs[0], r[0])
	require.Empty(t, events)
	cur, _ := h.sh.Revision()
	require.EqualValues(t, 2, cur)
	require.EqualValues(t, 1, h.get("a", 0).Version)

	// Another client's seq 1 is a different command.
	var p wire.PutResponse
	decodeOK(t, h.apply1(putCmd(2, 1, 0, "a", "y")), &p)
	require.EqualValues(t, 3, p.Header.Revision)

	// Errors are remembered too.
	bad := &Command{ClientID: 1, Seq: 2, Op: OpPut, req: &wire.PutRequest{Key: []byte(ReservedPrefix + "x")}}
	r1 := h.apply1(bad)
	require.Equal(t, wire.CodePermissionDenied, r1.Code)
	require.Equal(t, r1, h.apply1(bad))

	// Out of order seqs are fine until acknowledged.
	decodeOK(t, h.apply1(putCmd(1, 5, 0, "b", "5")), &p)
	decodeOK(t, h.apply1(putCmd(1, 4, 0, "b", "4")), &p)
	require.Equal(t, "4", string(h.get("b", 0).Value))

	// Acknowledging forgets: a retry of an acknowledged seq is a duplicate.
	decodeOK(t, h.apply1(putCmd(1, 6, 5, "c", "6")), &p)
	require.Equal(t, wire.CodeDuplicate, h.apply1(putCmd(1, 1, 5, "a", "x")).Code)
	require.Equal(t, wire.CodeDuplicate, h.apply1(putCmd(1, 4, 5, "b", "4")).Code)
	// Seq 5 was not acknowledged: its first result comes back.
	r5 := h.apply1(putCmd(1, 5, 5, "b", "5"))
	decodeOK(t, r5, &p)
	require.EqualValues(t, 4, p.Header.Revision)
	require.Equal(t, "4", string(h.get("b", 0).Value), "not applied again")

	// The table survives a restart of the store and answers the same.
	hash, err := h.sh.Hash()
	require.NoError(t, err)
	require.NoError(t, h.st.Close())
	st, err := OpenStore(h.dir, DefaultConfig())
	require.NoError(t, err)
	defer st.Close()
	h.st, h.sh = st, st.Shard(7)
	idx, err := h.sh.Open()
	require.NoError(t, err)
	require.Equal(t, h.index, idx)
	require.Equal(t, r5, h.apply1(putCmd(1, 5, 5, "b", "5")))
	require.Equal(t, wire.CodeDuplicate, h.apply1(putCmd(1, 4, 5, "b", "4")).Code)
	h2, err := h.sh.Hash()
	require.NoError(t, err)
	require.NotEqual(t, hash, h2, "last-used indexes changed")
}

func TestExactlyOnceEviction(t *testing.T) {
	// Retention is time-based: each command is stamped with its index as
	// the proposer's clock (ms).
	h := newHarnessConfig(t, Config{DedupRetention: 100 * time.Millisecond})
	stamped := func(index uint64, cmd *Command) []byte {
		cmd.Time = int64(index)
		return enc(t, cmd)
	}
	apply := func(index uint64, cmd *Command) Result {
		e := []Entry{{Index: index, Cmd: stamped(index, cmd)}}
		_, err := h.sh.Apply(e)
		require.NoError(t, err)
		return e[0].Result
	}
	clients := func() int {
		lo, hi := h.sh.space.DedupBounds()
		n := 0
		it := h.st.db.NewIter(nil)
		defer it.Close()
		for v := it.SeekGE(lo); v && string(it.Key()) < string(hi); v = it.Next() {
			n++
		}
		return n
	}
	apply(1, putCmd(1, 1, 0, "a", "1"))
	apply(3000, putCmd(2, 1, 0, "b", "1"))
	apply(4050, putCmd(3, 1, 0, "c", "1"))
	require.Equal(t, 3, clients(), "no check before index 4096")
	// Index 4100 crosses 4096: clients idle for more than 100 entries go.
	apply(4100, &Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("z")}})
	require.Equal(t, 1, clients(), "only client 3 (last 4050) stays")
	// Client 1 was forgotten: its retry is applied again.
	var p wire.PutResponse
	decodeOK(t, apply(4101, putCmd(1, 1, 0, "a", "1")), &p)
	require.EqualValues(t, 6, p.Header.Revision)
	require.EqualValues(t, 2, h.get("a", 0).Version)

	// Eviction inside a batch, with records touched earlier in the batch.
	entries := []Entry{
		{Index: 8000, Cmd: stamped(8000, putCmd(4, 1, 0, "d", "1"))},
		{Index: 8200, Cmd: stamped(8200, putCmd(4, 1, 0, "d", "1"))},
	}
	_, err := h.sh.Apply(entries)
	require.NoError(t, err)
	require.Equal(t, wire.OK, entries[1].Result.Code)
	require.NotEqual(t, entries[0].Result, entries[1].Result, "client 4 was evicted at 8192 (idle since 8000)")
}

func TestExactlyOnceBounded(t *testing.T) {
	h := newHarness(t)
	var cmds []*Command
	for seq := uint64(1); seq <= maxPendingResults+10; seq++ {
		cmds = append(cmds, putCmd(9, seq, 0, "k", "v"))
	}
	h.apply(cmds...)
	c := h.sh.clients[9]
	require.Len(t, c.results, maxPendingResults)
	require.EqualValues(t, 11, c.floor)
	require.Equal(t, wire.CodeDuplicate, h.apply1(putCmd(9, 3, 0, "k", "v")).Code)
	require.Equal(t, wire.OK, h.apply1(putCmd(9, 11, 0, "k", "v")).Code)
}

// TestExactlyOnceStuckAck: a client whose acknowledgement watermark is held
// back by one write that never reached the cluster keeps writing; the
// results it cannot acknowledge pile up past the record's capacity. A retry
// of the write that was never applied must then be applied (once), not
// answered "duplicate" without having been applied; a retry of one that was
// applied and whose result was dropped is a true duplicate.
func TestExactlyOnceStuckAck(t *testing.T) {
	h := newHarness(t)
	const n = 3000
	var batch []*Command
	for seq := uint64(2); seq <= n+1; seq++ {
		batch = append(batch, putCmd(9, seq, 1, fmt.Sprintf("k%d", seq), "v"))
		if len(batch) == 100 {
			h.apply(batch...)
			batch = batch[:0]
		}
	}
	h.apply(batch...)

	// Seq 1 was never applied: its late retry is applied now, once.
	r1 := h.apply1(putCmd(9, 1, 1, "stuck", "v"))
	require.Equal(t, wire.OK, r1.Code, "a write never applied was answered %v", r1.Code)
	kv := h.get("stuck", 0)
	require.NotNil(t, kv)
	require.EqualValues(t, 1, kv.Version)
	require.Equal(t, r1, h.apply1(putCmd(9, 1, 1, "stuck", "v")), "a second retry gets the first result")
	require.EqualValues(t, 1, h.get("stuck", 0).Version)

	// Seq 2 was applied and its result dropped: a duplicate, not applied again.
	require.Equal(t, wire.CodeDuplicate, h.apply1(putCmd(9, 2, 1, "k2", "v")).Code)
	require.EqualValues(t, 1, h.get("k2", 0).Version)
	// The newest results are still there.
	var p wire.PutResponse
	decodeOK(t, h.apply1(putCmd(9, n+1, 1, fmt.Sprintf("k%d", n+1), "v")), &p)
	require.EqualValues(t, 1, h.get(fmt.Sprintf("k%d", n+1), 0).Version)
}

// TestSeqZeroRefused: a tagged write must carry a sequence number; seq 0
// would be de-duplicated against every other seq-0 write of the client.
func TestSeqZeroRefused(t *testing.T) {
	h := newHarness(t)
	require.Equal(t, wire.CodeInvalid, h.apply1(putCmd(1, 0, 0, "a", "1")).Code)
	require.Equal(t, wire.CodeInvalid, h.apply1(putCmd(1, 0, 0, "b", "1")).Code)
	require.Nil(t, h.get("a", 0))
	require.Nil(t, h.get("b", 0))
}

// TestExactlyOnceManyHoles: a client with more unapplied seqs (holes) than
// the record can describe: the oldest holes become "outcome unknown" (never
// applied, never "duplicate"); newer ones are still applied once.
func TestExactlyOnceManyHoles(t *testing.T) {
	h := newHarness(t)
	top := uint64(2 * (maxPendingResults + maxSpans + 100))
	var batch []*Command
	for seq := uint64(2); seq <= top; seq += 2 {
		batch = append(batch, putCmd(9, seq, 1, "even", "v"))
		if len(batch) == 100 {
			h.apply(batch...)
			batch = batch[:0]
		}
	}
	h.apply(batch...)
	c := h.sh.clients[9]
	require.LessOrEqual(t, len(c.spans), maxSpans)
	require.LessOrEqual(t, len(c.results), maxPendingResults)

	require.Equal(t, wire.CodeOutcomeUnknown, h.apply1(putCmd(9, 3, 1, "odd3", "v")).Code)
	require.Nil(t, h.get("odd3", 0), "an unknown outcome is not applied")
	require.Equal(t, wire.CodeDuplicate, h.apply1(putCmd(9, top-2*maxPendingResults-2, 1, "even", "v")).Code)
	require.Equal(t, wire.OK, h.apply1(putCmd(9, top-1, 1, "odd", "v")).Code)
	require.Equal(t, wire.OK, h.apply1(putCmd(9, top-2*maxPendingResults-1, 1, "odd", "v")).Code)
	require.EqualValues(t, 2, h.get("odd", 0).Version)
}

// TestRetryAfterEviction: retention is time-based (the proposers' stamps).
// A client's record idle longer than the retention is dropped; a retry
// that reaches the cluster after that, first sent before the record was
// dropped, is answered "outcome unknown" and not applied a second time. A
// retry first sent recently is applied.
func TestRetryAfterEviction(t *testing.T) {
	const retention = 10 * time.Second
	h := newHarnessConfig(t, Config{DedupRetention: retention})
	apply := func(index uint64, cmd *Command) Result {
		e := []Entry{{Index: index, Cmd: enc(t, cmd)}}
		_, err := h.sh.Apply(e)
		require.NoError(t, err)
		return e[0].Result
	}
	at := func(cmd *Command, now, sent int64) *Command {
		cmd.Time, cmd.Sent = now, sent
		return cmd
	}
	const t0 = int64(1_700_000_000_000)
	ms := retention.Milliseconds()
	require.Equal(t, wire.OK, apply(1, at(putCmd(5, 1, 1, "a", "1"), t0, t0)).Code)
	// Time passes (other proposals), and an eviction check runs.
	apply(2, &Command{Time: t0 + ms + 1000, Op: OpPut, req: &wire.PutRequest{Key: []byte("z")}})
	apply(evictEvery+1, &Command{Time: t0 + ms + 1001, Op: OpPut, req: &wire.PutRequest{Key: []byte("z")}})
	_, ok := h.sh.clients[5]
	require.False(t, ok, "client 5 was idle for more than the retention")

	// The late retry of seq 1, first sent at t0.
	r := apply(evictEvery+2, at(putCmd(5, 1, 1, "a", "1"), t0+ms+1002, t0))
	require.Equal(t, wire.CodeOutcomeUnknown, r.Code)
	require.EqualValues(t, 1, h.get("a", 0).Version, "not applied twice")
	require.Equal(t, r, apply(evictEvery+3, at(putCmd(5, 1, 1, "a", "1"), t0+ms+1003, t0)))
	// The client's new writes go through.
	require.Equal(t, wire.OK, apply(evictEvery+4, at(putCmd(5, 2, 2, "a", "2"), t0+ms+1004, t0+ms+1004)).Code)
	require.EqualValues(t, 2, h.get("a", 0).Version)

	// A retry first sent a moment ago, of a client the shard has not seen
	// (or forgot long before it was sent), is applied.
	require.Equal(t, wire.OK, apply(evictEvery+5, at(putCmd(6, 1, 1, "b", "1"), t0+ms+1005, t0+ms-2000)).Code)
	require.EqualValues(t, 1, h.get("b", 0).Version)

	// The clock and the records survive a snapshot.
	snap, err := h.sh.PrepareSnapshot()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, h.sh.SaveSnapshot(snap, &buf))
	_, restored := openShard(t, Config{DedupRetention: retention})
	require.NoError(t, restored.RecoverFromSnapshot(&buf))
	require.Equal(t, mustHash(t, h.sh), mustHash(t, restored))
	// A new client's retry first sent long ago is judged by the restored
	// clock, not by its own stale stamp.
	e := []Entry{{Index: evictEvery + 6, Cmd: enc(t, at(putCmd(7, 1, 1, "c", "1"), t0, t0))}}
	_, err = restored.Apply(e)
	require.NoError(t, err)
	require.Equal(t, wire.CodeOutcomeUnknown, e[0].Result.Code)
}

// TestReplayedMarked: an entry answered from the exactly-once record (a
// retry of an applied command) is marked Replayed, so the server can check
// that what the first apply handed out (a queue delivery) is still
// current; a first apply, an unrecorded command and an error of a new
// command are not.
func TestReplayedMarked(t *testing.T) {
	h := newHarness(t)
	entries := []Entry{h.entry(putCmd(1, 1, 0, "a", "x")), h.entry(putCmd(1, 1, 0, "a", "x"))}
	_, err := h.sh.Apply(entries)
	require.NoError(t, err)
	require.False(t, entries[0].Replayed, "first apply")
	require.True(t, entries[1].Replayed, "the retry in the same batch")
	later := []Entry{h.entry(putCmd(1, 1, 0, "a", "x")), h.entry(putCmd(1, 2, 0, "b", "y")),
		h.entry(&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("c")}})}
	_, err = h.sh.Apply(later)
	require.NoError(t, err)
	require.Equal(t, []bool{true, false, false}, []bool{later[0].Replayed, later[1].Replayed, later[2].Replayed})
}
