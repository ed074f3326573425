package statemachine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// smallBatch is the batch bound of these tests; a batch may go over it by
// one record (a key and value of at most ~300 bytes here).
const (
	smallBatch = 4 << 10
	recordMax  = 512
)

// bigShard fills h with 400 keys of ~200 bytes, three versions each, a
// hundred of them deleted, and a lease: ~250 KB of history, far over
// smallBatch.
func bigShard(t *testing.T, h *harness) {
	t.Helper()
	val := bytes.Repeat([]byte("v"), 200)
	for round := 0; round < 3; round++ {
		for i := 0; i < 400; i++ {
			h.put(fmt.Sprintf("key%04d", i), fmt.Sprintf("%d%s", round, val))
		}
	}
	for i := 0; i < 400; i += 4 {
		h.del(fmt.Sprintf("key%04d", i), "")
	}
	h.apply1(&Command{Op: OpLeaseGrant, req: &LeaseGrant{TTL: 60}})
}

// recordBatches sets testCommitHook to note the size of every batch
// committed until the returned function is called.
func recordBatches(t *testing.T) (sizes *[]int, stop func()) {
	var s []int
	testCommitHook = func(b *pebble.Batch) { s = append(s, len(b.Repr())) }
	stop = func() { testCommitHook = nil }
	t.Cleanup(stop)
	return &s, stop
}

func smallBatchConfig() Config {
	cfg := DefaultConfig()
	cfg.MaxBatchBytes = smallBatch
	return cfg
}

// TestRestoreInBoundedBatches: a snapshot much larger than the batch bound
// is restored in many batches, none over the bound by more than a record,
// and the restored shard equals the source.
func TestRestoreInBoundedBatches(t *testing.T) {
	src := newHarness(t)
	bigShard(t, src)
	snap := snapshotOf(t, src.sh)
	require.Greater(t, len(snap), 40*smallBatch)

	dst := newHarnessConfig(t, smallBatchConfig())
	dst.put("old", "state") // replaced by the restore
	sizes, stop := recordBatches(t)
	require.NoError(t, dst.sh.RecoverFromSnapshot(bytes.NewReader(snap)))
	stop()
	require.Greater(t, len(*sizes), 40, "restore committed %d batches", len(*sizes))
	for i, n := range *sizes {
		require.LessOrEqual(t, n, smallBatch+recordMax, "batch %d", i)
	}
	require.Equal(t, mustHash(t, src.sh), mustHash(t, dst.sh))
	require.Equal(t, src.sh.AppliedIndex(), dst.sh.AppliedIndex())
	cur, compacted := src.sh.Revision()
	dcur, dcompacted := dst.sh.Revision()
	require.Equal(t, []int64{cur, compacted}, []int64{dcur, dcompacted})
}

// failingReader returns the first n bytes of b, then an error.
type failingReader struct {
	b []byte
	n int
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("connection lost")
	}
	if len(p) > r.n {
		p = p[:r.n]
	}
	k := copy(p, r.b)
	r.b, r.n = r.b[k:], r.n-k
	return k, nil
}

// TestRestoreInterrupted: a restore that fails or crashes after some of
// its batches are committed leaves no state that could pass for a shard:
// Open empties the shard and reports index 0 (so Dragonboat restores the
// snapshot again), and restoring again gives the source's state.
func TestRestoreInterrupted(t *testing.T) {
	src := newHarness(t)
	bigShard(t, src)
	snap := snapshotOf(t, src.sh)
	empty := mustHash(t, newHarness(t).sh)

	for _, how := range []string{"stream error", "crash"} {
		t.Run(how, func(t *testing.T) {
			dst := newHarnessConfig(t, smallBatchConfig())
			dst.put("old", "state")
			sizes, stop := recordBatches(t)
			switch how {
			case "stream error":
				require.Error(t, dst.sh.RecoverFromSnapshot(&failingReader{b: snap, n: len(snap) / 2}))
			case "crash":
				// The process dies before the fifth batch commits.
				testCommitHook = func(b *pebble.Batch) {
					if *sizes = append(*sizes, len(b.Repr())); len(*sizes) == 5 {
						panic("crash")
					}
				}
				require.PanicsWithValue(t, "crash", func() { _ = dst.sh.RecoverFromSnapshot(bytes.NewReader(snap)) })
			}
			stop()
			require.Greater(t, len(*sizes), 2, "some batches were committed")
			require.NoError(t, dst.sh.Close())
			idx, err := dst.sh.Open()
			require.NoError(t, err)
			require.Zero(t, idx)
			require.Equal(t, empty, mustHash(t, dst.sh))

			require.NoError(t, dst.sh.RecoverFromSnapshot(bytes.NewReader(snap)))
			require.Equal(t, mustHash(t, src.sh), mustHash(t, dst.sh))
			require.NoError(t, dst.sh.Close())
			idx, err = dst.sh.Open()
			require.NoError(t, err)
			require.Equal(t, src.sh.AppliedIndex(), idx)
		})
	}
}

// compactBoth builds the same big shard in a store with the default batch
// bound and in one with a small bound, and returns both and the revision
// to compact at.
func compactBoth(t *testing.T) (ref, small *harness, rev int64) {
	ref = newHarness(t)
	small = newHarnessConfig(t, smallBatchConfig())
	bigShard(t, ref)
	bigShard(t, small)
	cur, _ := small.sh.Revision()
	return ref, small, cur - 50
}

// TestCompactInBoundedBatches: compacting history much larger than the
// batch bound commits many batches, none over the bound by more than a
// record, and ends in the same state as one compaction in one batch.
func TestCompactInBoundedBatches(t *testing.T) {
	ref, small, rev := compactBoth(t)
	require.Equal(t, wire.OK, ref.compact(rev).Code)

	sizes, stop := recordBatches(t)
	require.Equal(t, wire.OK, small.compact(rev).Code)
	stop()
	require.Greater(t, len(*sizes), 3, "compaction committed %d batches", len(*sizes))
	for i, n := range *sizes {
		require.LessOrEqual(t, n, smallBatch+recordMax, "batch %d", i)
	}
	require.Equal(t, mustHash(t, ref.sh), mustHash(t, small.sh))
	_, err := small.sh.Range(&wire.RangeRequest{Key: []byte("key0001"), Revision: rev - 1})
	require.Equal(t, wire.CodeCompacted, wireCode(err))
}

// TestCompactInterrupted: a crash after some of a compaction's batches are
// committed leaves the command unapplied (the meta is the previous
// entry's); reads below the compaction revision are refused meanwhile, and
// applying the command again after the restart ends in the state of an
// uninterrupted compaction, with the same result.
func TestCompactInterrupted(t *testing.T) {
	// The first commit is the flush before the compaction; the process
	// dies before the compaction's first, second, ... part commits.
	for crashAt := 2; crashAt <= 5; crashAt++ {
		t.Run(fmt.Sprint(crashAt), func(t *testing.T) {
			ref, small, rev := compactBoth(t)
			want := ref.compact(rev)
			require.Equal(t, wire.OK, want.Code)
			before := small.sh.AppliedIndex()

			n := 0
			testCommitHook = func(*pebble.Batch) {
				if n++; n == crashAt {
					panic("crash")
				}
			}
			t.Cleanup(func() { testCommitHook = nil })
			entry := small.entry(&Command{Op: OpCompact, req: &wire.CompactRequest{Revision: rev}})
			require.PanicsWithValue(t, "crash", func() { _, _ = small.sh.Apply([]Entry{entry}) })
			testCommitHook = nil

			require.NoError(t, small.sh.Close())
			idx, err := small.sh.Open()
			require.NoError(t, err)
			require.Equal(t, before, idx, "the compaction is not applied")
			if crashAt > 2 {
				_, err = small.sh.Range(&wire.RangeRequest{Key: []byte("key0001"), Revision: rev - 1})
				require.Equal(t, wire.CodeCompacted, wireCode(err), "reads below a half-done compaction are refused")
			}

			again := []Entry{entry}
			_, err = small.sh.Apply(again)
			require.NoError(t, err)
			require.Equal(t, want, again[0].Result)
			require.Equal(t, mustHash(t, ref.sh), mustHash(t, small.sh))
		})
	}
}

var _ io.Reader = (*failingReader)(nil)
