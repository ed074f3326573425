package statemachine

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// randomLog makes a command log exercising every operation, exactly-once
// retries and acknowledgements, invalid commands, compactions and index
// jumps that trigger exactly-once eviction.
func randomLog(rng *rand.Rand, n int) []Entry {
	keys := []string{"a", "a\x00", "a\x00b", "ab", "b", "b/1", "b/2", "c", "\x00x", ReservedPrefix + "q", "\xff"}
	key := func() []byte { return []byte(keys[rng.Intn(len(keys))]) }
	end := func(k []byte) []byte {
		switch rng.Intn(4) {
		case 0:
			return nil
		case 1:
			return []byte{0}
		default:
			return key()
		}
	}
	value := func() []byte { return []byte(fmt.Sprintf("v%d", rng.Intn(100))) }
	op := func() wire.RequestOp {
		switch rng.Intn(3) {
		case 0:
			k := key()
			return wire.RequestOp{Range: &wire.RangeRequest{Key: k, RangeEnd: end(k), Limit: int64(rng.Intn(3))}}
		case 1:
			return wire.RequestOp{Put: &wire.PutRequest{Key: key(), Value: value(), PrevKV: rng.Intn(2) == 0}}
		default:
			k := key()
			return wire.RequestOp{DeleteRange: &wire.DeleteRangeRequest{Key: k, RangeEnd: end(k), PrevKV: true}}
		}
	}
	seqs := map[uint64]uint64{}
	var entries []Entry
	index := uint64(0)
	for i := 0; i < n; i++ {
		index++
		if rng.Intn(50) == 0 {
			index += uint64(rng.Intn(3000))
		}
		var cmd Command
		switch r := rng.Intn(100); {
		case r < 45:
			cmd.Put = &wire.PutRequest{Key: key(), Value: value(), PrevKV: rng.Intn(2) == 0}
		case r < 60:
			k := key()
			cmd.DeleteRange = &wire.DeleteRangeRequest{Key: k, RangeEnd: end(k), PrevKV: rng.Intn(2) == 0}
		case r < 90:
			t := &wire.TxnRequest{}
			for j := rng.Intn(3); j > 0; j-- {
				k := key()
				t.Compare = append(t.Compare, wire.Compare{
					Target: wire.CompareTarget(rng.Intn(5)), Result: wire.CompareResult(rng.Intn(4)),
					Key: k, RangeEnd: end(k), Value: value(), Version: int64(rng.Intn(3)), ModRevision: int64(rng.Intn(i + 1)),
				})
			}
			for j := rng.Intn(4); j > 0; j-- {
				t.Success = append(t.Success, op())
			}
			for j := rng.Intn(3); j > 0; j-- {
				t.Failure = append(t.Failure, op())
			}
			cmd.Txn = t
		case r < 93:
			cmd.Compact = &wire.CompactRequest{Revision: int64(rng.Intn(i + 1))}
		case r < 95:
			entries = append(entries, Entry{Index: index, Cmd: []byte{byte(rng.Intn(256)), 0x01}})
			continue
		default:
			cmd.Put, cmd.Compact = &wire.PutRequest{Key: key()}, &wire.CompactRequest{}
		}
		if c := uint64(rng.Intn(4)); c != 0 {
			cmd.ClientID = c
			seqs[c]++
			cmd.Seq = seqs[c]
			if rng.Intn(5) == 0 && cmd.Seq > 3 {
				cmd.Seq -= uint64(rng.Intn(3)) // a retry
			}
			if cmd.Seq > 4 {
				cmd.AckBelow = cmd.Seq - uint64(rng.Intn(4))
			}
		}
		b, err := EncodeCommand(&cmd)
		if err != nil {
			panic(err)
		}
		entries = append(entries, Entry{Index: index, Cmd: b})
	}
	return entries
}

// applyLog applies log to sh in batches of random sizes (1 if rng is nil)
// and returns the results and events.
func applyLog(t *testing.T, sh *Shard, log []Entry, rng *rand.Rand) ([]Result, []wire.Event) {
	t.Helper()
	var results []Result
	var events []wire.Event
	for len(log) > 0 {
		n := 1
		if rng != nil {
			n = 1 + rng.Intn(40)
		}
		n = min(n, len(log))
		batch := make([]Entry, n)
		for i := range batch {
			batch[i] = Entry{Index: log[i].Index, Cmd: log[i].Cmd}
		}
		applied, err := sh.Apply(batch)
		require.NoError(t, err)
		events = append(events, applied.Events...)
		for _, e := range batch {
			results = append(results, e.Result)
		}
		log = log[n:]
	}
	return results, events
}

func openShard(t *testing.T, cfg Config) (*Store, *Shard) {
	t.Helper()
	st, err := OpenStore(t.TempDir(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	sh := st.Shard(3)
	_, err = sh.Open()
	require.NoError(t, err)
	return st, sh
}

func mustHash(t *testing.T, sh *Shard) uint64 {
	t.Helper()
	h, err := sh.Hash()
	require.NoError(t, err)
	return h
}

func TestDeterminism(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	defer func() {
		if t.Failed() {
			t.Logf("reproduce with seed %d", seed)
		}
	}()
	rng := rand.New(rand.NewSource(seed))
	log := randomLog(rng, 3000)
	cfg := Config{DedupRetention: 500}

	_, a := openShard(t, cfg)
	_, b := openShard(t, cfg)
	half := len(log) / 2

	// a: random batches, with a snapshot taken halfway and saved while
	// the rest of the log is applied.
	resA, evA := applyLog(t, a, log[:half], rng)
	snap, err := a.PrepareSnapshot()
	require.NoError(t, err)
	hashHalf := mustHash(t, a)
	var buf bytes.Buffer
	saved := make(chan error, 1)
	go func() { saved <- a.SaveSnapshot(snap, &buf) }()
	r2, e2 := applyLog(t, a, log[half:], rng)
	resA, evA = append(resA, r2...), append(evA, e2...)
	require.NoError(t, <-saved)

	// b: one entry per batch.
	resB, evB := applyLog(t, b, log, nil)
	require.Equal(t, resA, resB)
	require.Equal(t, evA, evB)
	require.Equal(t, mustHash(t, a), mustHash(t, b))
	require.Equal(t, a.AppliedIndex(), b.AppliedIndex())

	// c: restored from the halfway snapshot, then fed the rest.
	_, c := openShard(t, cfg)
	applyLog(t, c, log[:10], nil) // state to be replaced
	require.NoError(t, c.RecoverFromSnapshot(bytes.NewReader(buf.Bytes())))
	require.Equal(t, hashHalf, mustHash(t, c))
	require.Equal(t, log[half-1].Index, c.AppliedIndex())
	resC, evC := applyLog(t, c, log[half:], rng)
	require.Equal(t, resA[half:], resC)
	require.Equal(t, evA[len(evA)-len(evC):], evC)
	require.Equal(t, mustHash(t, a), mustHash(t, c))

	// d: restored from a final snapshot; reads agree at every revision.
	snap, err = a.PrepareSnapshot()
	require.NoError(t, err)
	buf.Reset()
	require.NoError(t, a.SaveSnapshot(snap, &buf))
	_, d := openShard(t, cfg)
	require.NoError(t, d.RecoverFromSnapshot(bytes.NewReader(buf.Bytes())))
	require.Equal(t, mustHash(t, a), mustHash(t, d))
	cur, comp := a.Revision()
	dc, dcomp := d.Revision()
	require.Equal(t, cur, dc)
	require.Equal(t, comp, dcomp)
	for rev := comp; rev <= cur; rev++ {
		req := &wire.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev}
		ra, errA := a.Range(req)
		rd, errD := d.Range(req)
		require.Equal(t, errA, errD)
		require.Equal(t, ra, rd)
	}

	// The same bytes for the same state.
	var again bytes.Buffer
	snap, err = d.PrepareSnapshot()
	require.NoError(t, err)
	require.NoError(t, d.SaveSnapshot(snap, &again))
	require.Equal(t, buf.Bytes(), again.Bytes())
}

func TestRecoverRejectsCorruptSnapshot(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	snap, err := h.sh.PrepareSnapshot()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, h.sh.SaveSnapshot(snap, &buf))
	before := mustHash(t, h.sh)
	for _, bad := range [][]byte{nil, []byte("nonsense"), buf.Bytes()[:buf.Len()-1], flip(buf.Bytes(), 12)} {
		require.Error(t, h.sh.RecoverFromSnapshot(bytes.NewReader(bad)))
		require.Equal(t, before, mustHash(t, h.sh), "a bad snapshot changes nothing")
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x40
	return c
}
