package statemachine

import (
	"bytes"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/mvcc"
)

// overwrite replaces the value of every key of the shard for which pick
// is true with value, as a damaged disk or a bug would, and returns how
// many it replaced.
func (h *harness) overwrite(pick func(key []byte) bool, value []byte) int {
	h.t.Helper()
	db := h.st.db
	it := db.NewIter(&pebble.IterOptions{LowerBound: h.sh.space.Lower(), UpperBound: h.sh.space.Upper()})
	var keys [][]byte
	for it.First(); it.Valid(); it.Next() {
		if pick(it.Key()) {
			keys = append(keys, bytes.Clone(it.Key()))
		}
	}
	require.NoError(h.t, it.Close())
	for _, k := range keys {
		require.NoError(h.t, db.Set(k, value, pebble.Sync))
	}
	return len(keys)
}

// TestCorruptRecordsMatchErrCorruption damages stored records of each
// kind and checks that reading them fails with an error that matches the
// one corruption sentinel, whatever layer found the damage.
func TestCorruptRecordsMatchErrCorruption(t *testing.T) {
	tag := func(tg byte) func([]byte) bool {
		return func(k []byte) bool { return len(k) > 4 && k[4] == tg }
	}
	t.Run("key version", func(t *testing.T) {
		h := newHarness(t)
		h.put("a", "1")
		// A live version's flags byte with nothing after it.
		require.Equal(t, 1, h.overwrite(tag(mvcc.TagData), []byte{0}))
		_, err := h.sh.Range(&wire.RangeRequest{Key: []byte("a")})
		require.ErrorIs(t, err, ErrCorruption)
	})
	t.Run("lease", func(t *testing.T) {
		h := newHarness(t)
		id := h.grant(10).ID
		require.Equal(t, 1, h.overwrite(tag(mvcc.TagLease), []byte{0xff}))
		_, _, err := h.sh.Lease(id)
		require.ErrorIs(t, err, ErrCorruption)
		require.ErrorIs(t, err, errCorruptLease, "the package's own sentinel still matches")
	})
	t.Run("snapshot", func(t *testing.T) {
		h := newHarness(t)
		err := h.sh.RecoverFromSnapshot(bytes.NewReader([]byte("nonsense")))
		require.ErrorIs(t, err, ErrCorruption)
	})
}
