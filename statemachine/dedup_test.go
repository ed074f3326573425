package statemachine

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

func putCmd(client, seq, ack uint64, key, value string) *Command {
	return &Command{ClientID: client, Seq: seq, AckBelow: ack, Put: &wire.PutRequest{Key: []byte(key), Value: []byte(value)}}
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
	require.EqualValues(t, 1, cur)
	require.EqualValues(t, 1, h.get("a", 0).Version)

	// Another client's seq 1 is a different command.
	var p wire.PutResponse
	decodeOK(t, h.apply1(putCmd(2, 1, 0, "a", "y")), &p)
	require.EqualValues(t, 2, p.Header.Revision)

	// Errors are remembered too.
	bad := &Command{ClientID: 1, Seq: 2, Put: &wire.PutRequest{Key: []byte(ReservedPrefix + "x")}}
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
	require.EqualValues(t, 3, p.Header.Revision)
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
	h := newHarnessConfig(t, Config{DedupRetention: 100})
	apply := func(index uint64, cmd *Command) Result {
		e := []Entry{{Index: index, Cmd: enc(t, cmd)}}
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
	apply(4100, &Command{Put: &wire.PutRequest{Key: []byte("z")}})
	require.Equal(t, 1, clients(), "only client 3 (last 4050) stays")
	// Client 1 was forgotten: its retry is applied again.
	var p wire.PutResponse
	decodeOK(t, apply(4101, putCmd(1, 1, 0, "a", "1")), &p)
	require.EqualValues(t, 5, p.Header.Revision)
	require.EqualValues(t, 2, h.get("a", 0).Version)

	// Eviction inside a batch, with records touched earlier in the batch.
	entries := []Entry{
		{Index: 8000, Cmd: enc(t, putCmd(4, 1, 0, "d", "1"))},
		{Index: 8200, Cmd: enc(t, putCmd(4, 1, 0, "d", "1"))},
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
