package statemachine

import (
	"bytes"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

func TestConfig(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	require.Error(t, Config{}.Validate())
	_, err := OpenStore(t.TempDir(), Config{})
	require.Error(t, err)
}

func TestReopen(t *testing.T) {
	h := newHarness(t)
	require.Same(t, h.sh, h.st.Shard(7))
	h.put("a", "1")
	h.put("b", "2")
	h.compact(2)
	other := h.st.Shard(8)
	_, err := other.Open()
	require.NoError(t, err)
	_, err = other.Apply([]Entry{{Index: 1, Cmd: enc(t, &Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("a"), Value: []byte("other")}})}})
	require.NoError(t, err)
	require.NoError(t, h.sh.Sync())
	hash := mustHash(t, h.sh)
	require.Positive(t, h.st.DiskSize())

	require.NoError(t, h.sh.Close())
	require.NoError(t, h.st.Close())
	require.NoError(t, h.st.Close(), "Close is idempotent")

	st, err := OpenStore(h.dir, DefaultConfig())
	require.NoError(t, err)
	defer st.Close()
	sh := st.Shard(7)
	idx, err := sh.Open()
	require.NoError(t, err)
	require.EqualValues(t, 3, idx)
	cur, comp := sh.Revision()
	require.EqualValues(t, 3, cur)
	require.EqualValues(t, 2, comp)
	require.Equal(t, hash, mustHash(t, sh))
	resp, err := sh.Range(&wire.RangeRequest{Key: []byte("a")})
	require.NoError(t, err)
	require.Equal(t, "1", string(resp.Kvs[0].Value), "shards do not see each other's keys")
	idx, err = st.Shard(8).Open()
	require.NoError(t, err)
	require.EqualValues(t, 1, idx)
	resp, err = st.Shard(8).Range(&wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00")})
	require.NoError(t, err)
	require.Equal(t, []string{"a=other"}, kvs(resp))
}

func TestClosed(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	require.NoError(t, h.sh.Close())
	_, err := h.sh.Range(&wire.RangeRequest{Key: []byte("a")})
	require.ErrorIs(t, err, ErrClosed)
	_, err = h.sh.Hash()
	require.ErrorIs(t, err, ErrClosed)
	// Reopening the shard makes it usable again.
	idx, err := h.sh.Open()
	require.NoError(t, err)
	require.EqualValues(t, 1, idx)
	snap, err := h.sh.PrepareSnapshot()
	require.NoError(t, err)
	require.NoError(t, snap.Close())

	require.NoError(t, h.st.Close())
	_, err = h.sh.Range(&wire.RangeRequest{Key: []byte("a")})
	require.ErrorIs(t, err, ErrClosed)
	_, err = h.sh.Hash()
	require.ErrorIs(t, err, ErrClosed)
	_, err = h.sh.Apply([]Entry{{Index: 2, Cmd: enc(t, putCmd(0, 0, 0, "a", "b"))}})
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, h.sh.Sync(), ErrClosed)
	_, err = h.sh.PrepareSnapshot()
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, h.sh.RecoverFromSnapshot(bytes.NewReader(nil)), ErrClosed)
	_, err = h.sh.Open()
	require.ErrorIs(t, err, ErrClosed)
	require.Zero(t, h.st.DiskSize())
	cur, _ := h.sh.Revision()
	require.EqualValues(t, 2, cur)
}

// Reads run concurrently with Apply and with Close.
func TestConcurrentReads(t *testing.T) {
	h := newHarness(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := h.sh.Range(&wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00")})
				if err != nil {
					require.ErrorIs(t, err, ErrClosed)
					continue
				}
				// Point-in-time: the header revision matches the data
				// (key k holds the revision that wrote it).
				for _, kv := range resp.Kvs {
					require.LessOrEqual(t, kv.ModRevision, resp.Header.Revision)
				}
				_, _ = h.sh.Hash()
			}
		}()
	}
	for i := 0; i < 200; i++ {
		h.put(string(rune('a'+i%26)), "v")
	}
	require.NoError(t, h.st.Close())
	close(stop)
	wg.Wait()
}

// TestHashAt: the hash comes with the revision of the state hashed; a
// write changes both, and Hash is HashAt's hash.
func TestHashAt(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	h1, rev1, err := h.sh.HashAt()
	require.NoError(t, err)
	cur, _ := h.sh.Revision()
	require.Equal(t, cur, rev1)
	h.put("a", "2")
	h2, rev2, err := h.sh.HashAt()
	require.NoError(t, err)
	require.Equal(t, rev1+1, rev2)
	require.NotEqual(t, h1, h2)
	plain, err := h.sh.Hash()
	require.NoError(t, err)
	require.Equal(t, h2, plain)
}
