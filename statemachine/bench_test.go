package statemachine

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// BenchmarkApplyPut measures the write path: batches of 64 puts of
// 256-byte values over 100,000 keys, from 8 clients with exactly-once
// tags. One op is one put.
func BenchmarkApplyPut(b *testing.B) {
	st, err := OpenStore(b.TempDir(), DefaultConfig())
	require.NoError(b, err)
	defer st.Close()
	sh := st.Shard(1)
	_, err = sh.Open()
	require.NoError(b, err)

	const batchSize = 64
	value := make([]byte, 256)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	// Encode the commands up front: encoding is the proposer's cost.
	cmds := make([][]byte, b.N)
	seqs := make([]uint64, 8)
	for i := range cmds {
		c := uint64(i % 8)
		seqs[c]++
		cmds[i] = enc(b, &Command{ClientID: c + 1, Seq: seqs[c], AckBelow: seqs[c], Op: OpPut, req: &wire.PutRequest{Key: []byte(fmt.Sprintf("bench/key/%06d", (i*7919)%100000)), Value: value}})
	}
	batch := make([]Entry, batchSize)
	index := uint64(0)
	var pebbleKeys uint64
	testCommitHook = func(pb *pebble.Batch) { pebbleKeys += uint64(pb.Count()) }
	defer func() { testCommitHook = nil }()
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	for n := 0; n < b.N; n += batchSize {
		m := min(batchSize, b.N-n)
		for i := 0; i < m; i++ {
			index++
			batch[i] = Entry{Index: index, Cmd: cmds[index-1]}
		}
		if _, err := sh.Apply(batch[:m]); err != nil {
			b.Fatal(err)
		}
		if batch[0].Result.Code != wire.OK {
			b.Fatalf("result %v", batch[0].Result.Code)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(pebbleKeys)/float64(b.N), "pebble-keys/op")
}
