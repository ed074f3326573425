package statemachine

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/queue/queuerules"
	"github.com/coord-io/coord/statemachine/mvcc"
)

// withBigValues rewrites some puts of log (plain and in txns) to carry
// values too large for the latest-version cache, and some to long keys
// it does not cache.
func withBigValues(t *testing.T, rng *rand.Rand, log []Entry) []Entry {
	t.Helper()
	big := bytes.Repeat([]byte("x"), mvcc.MaxCachedValue+1)
	long := append([]byte("long/"), bytes.Repeat([]byte{0, 'k'}, 300)...)
	edit := func(p *wire.PutRequest) bool {
		switch rng.Intn(8) {
		case 0:
			p.Value = append(bytes.Clone(big), p.Value...)
		case 1:
			p.Key = long
		default:
			return false
		}
		return true
	}
	out := make([]Entry, len(log))
	for i, e := range log {
		out[i] = e
		cmd, err := DecodeCommand(e.Cmd)
		if err != nil {
			continue
		}
		changed := false
		if put, ok := cmd.Request().(*wire.PutRequest); ok {
			changed = edit(put)
		}
		if txn, ok := cmd.Request().(*wire.TxnRequest); ok {
			for _, ops := range [][]wire.RequestOp{txn.Success, txn.Failure} {
				for j := range ops {
					if ops[j].Put != nil && edit(ops[j].Put) {
						changed = true
					}
				}
			}
		}
		if changed {
			cmd.Set(cmd.Op, cmd.Request()) // encode the edited request, not the body as decoded
			out[i].Cmd, err = EncodeCommand(cmd)
			require.NoError(t, err)
		}
	}
	return out
}

// applyBatch applies a copy of batch to sh.
func applyBatch(t *testing.T, sh *Shard, batch []Entry) ([]Result, *Applied) {
	t.Helper()
	b := make([]Entry, len(batch))
	for i := range batch {
		b[i] = Entry{Index: batch[i].Index, Cmd: batch[i].Cmd}
	}
	applied, err := sh.Apply(b)
	require.NoError(t, err)
	res := make([]Result, len(b))
	for i := range b {
		res[i] = b[i].Result
	}
	return res, applied
}

func snapshotOf(t *testing.T, sh *Shard) []byte {
	t.Helper()
	snap, err := sh.PrepareSnapshot()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, sh.SaveSnapshot(snap, &buf))
	return buf.Bytes()
}

// TestLatestCacheChangesNothing applies a seeded random log to shards with
// latest-version caches of several sizes and to one without, in the same
// random batches, and requires the same results, events, lease changes
// and state after every batch, also across snapshot restores (to an older
// state, after the caches saw newer writes), reopening and compactions.
func TestLatestCacheChangesNothing(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	defer func() {
		if t.Failed() {
			t.Logf("reproduce with seed %d", seed)
		}
	}()
	rng := rand.New(rand.NewSource(seed))
	log := withBigValues(t, rng, randomLog(rng, 3000))

	sizes := []int{0, 1, 7, 64, DefaultLatestCacheKeys}
	shards := make([]*Shard, len(sizes))
	for i, n := range sizes {
		_, shards[i] = openShard(t, Config{DedupRetention: 500 * time.Millisecond, LatestCacheKeys: n})
	}
	ref := shards[0]
	require.Nil(t, ref.latest)

	type saved struct {
		at   int // log position
		snap []byte
	}
	var snaps []saved
	restores, reopens, compactions := 0, 0, 0
	for pos := 0; pos < len(log); {
		n := min(1+rng.Intn(40), len(log)-pos)
		batch := log[pos : pos+n]
		for _, e := range batch {
			if cmd, err := DecodeCommand(e.Cmd); err == nil && cmd.Op == OpCompact {
				compactions++
			}
		}
		wantRes, want := applyBatch(t, ref, batch)
		wantHash := mustHash(t, ref)
		for i, sh := range shards[1:] {
			res, got := applyBatch(t, sh, batch)
			require.Equal(t, wantRes, res, "cache size %d, log %d..%d", sizes[i+1], pos, pos+n)
			require.Equal(t, want, got, "cache size %d, log %d..%d", sizes[i+1], pos, pos+n)
			require.Equal(t, wantHash, mustHash(t, sh), "cache size %d, log %d..%d", sizes[i+1], pos, pos+n)
			require.LessOrEqual(t, sh.latest.Len(), sizes[i+1])
		}
		pos += n

		switch r := rng.Intn(30); {
		case r < 3:
			snaps = append(snaps, saved{at: pos, snap: snapshotOf(t, ref)})
		case r < 5 && len(snaps) > 0 && restores < 4:
			// Go back to an older state: the caches hold newer versions.
			s := snaps[rng.Intn(len(snaps))]
			for _, sh := range shards {
				require.NoError(t, sh.RecoverFromSnapshot(bytes.NewReader(s.snap)))
			}
			pos = s.at
			restores++
		case r < 6:
			for _, sh := range shards {
				require.NoError(t, sh.Close())
				_, err := sh.Open()
				require.NoError(t, err)
			}
			reopens++
		}
		if pos > 2500 && restores == 0 && len(snaps) > 0 {
			s := snaps[0]
			for _, sh := range shards {
				require.NoError(t, sh.RecoverFromSnapshot(bytes.NewReader(s.snap)))
			}
			pos = s.at
			restores++
		}
	}
	t.Logf("restores %d, reopens %d, compactions %d", restores, reopens, compactions)
	for i, sh := range shards[1:] {
		hits, misses := sh.latest.Stats()
		t.Logf("cache size %d: %d keys, hits %d, misses %d", sizes[i+1], sh.latest.Len(), hits, misses)
		require.Positive(t, hits)
	}
	require.Positive(t, restores)
	require.Positive(t, compactions)

	// Reads agree too.
	cur, comp := ref.Revision()
	for _, sh := range shards[1:] {
		for rev := comp; rev <= cur; rev++ {
			req := &wire.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev}
			ra, errA := ref.Range(req)
			rb, errB := sh.Range(req)
			require.Equal(t, errA, errB)
			require.Equal(t, ra, rb)
		}
	}
}

// TestLatestCacheBound writes many more keys than the cache holds (puts of
// distinct keys and a long queue) and requires the cache to stay within
// its bound, and to stop claiming completeness once it has evicted.
func TestLatestCacheBound(t *testing.T) {
	const bound = 100
	_, sh := openShard(t, Config{DedupRetention: 500 * time.Millisecond, LatestCacheKeys: bound})
	require.True(t, sh.latest.Complete(), "an empty shard's cache starts complete")
	index := uint64(0)
	next := func(c *Command) Entry {
		index++
		return Entry{Index: index, Cmd: enc(t, c)}
	}
	for b := 0; b < 50; b++ {
		batch := make([]Entry, 0, 64)
		for i := 0; i < 32; i++ {
			batch = append(batch, next(&Command{Op: OpPut, req: &wire.PutRequest{
				Key: []byte(fmt.Sprintf("k/%d/%d", b, i)), Value: []byte("v")}}))
			batch = append(batch, next(&Command{Op: queuerules.OpEnqueue, req: &wire.EnqueueRequest{
				Name: "Q", Values: [][]byte{[]byte("a"), []byte("b"), []byte("c")}}}))
		}
		res, _ := applyBatch(t, sh, batch)
		for _, r := range res {
			require.Equal(t, wire.OK, r.Code)
		}
		require.LessOrEqual(t, sh.latest.Len(), bound)
		if index > bound {
			require.False(t, sh.latest.Complete())
		}
	}
	require.Equal(t, bound, sh.latest.Len())

	// Overwrites of a hot key hit the cache despite the churn.
	hits0, _ := sh.latest.Stats()
	for i := 0; i < 10; i++ {
		applyBatch(t, sh, []Entry{next(&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("hot"), Value: []byte{byte(i)}}}),
			next(&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte(fmt.Sprintf("cold/%d", i)), Value: []byte("v")}})})
	}
	hits1, _ := sh.latest.Stats()
	require.GreaterOrEqual(t, hits1-hits0, uint64(8))
	resp, err := sh.Range(&wire.RangeRequest{Key: []byte("hot")})
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, int64(10), resp.Kvs[0].Version)
	require.Equal(t, []byte{9}, resp.Kvs[0].Value)
}
