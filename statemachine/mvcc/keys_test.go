package mvcc

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// Escaped keys keep user-key order, round-trip, and each key's versions
// sort before the next key.
func TestEscapeOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	s := NewSpace(1)
	key := func() []byte {
		b := make([]byte, rng.Intn(4))
		for i := range b {
			b[i] = []byte{0x00, 0x01, 0x02, 0xFF, 'a'}[rng.Intn(5)]
		}
		return b
	}
	for i := 0; i < 20000; i++ {
		a, b := key(), key()
		ea, eb := ekey(a), ekey(b)
		require.Equal(t, a, unescape(ea))
		require.Equal(t, bytes.Compare(a, b), bytes.Compare(ea, eb), "%q %q", a, b)
		if bytes.Compare(a, b) < 0 {
			last := s.dataKey(ea, Revision(1<<62))
			require.Negative(t, bytes.Compare(last, s.dataKey(eb, 0)))
			require.LessOrEqual(t, bytes.Compare(s.keyEnd(ea), s.keyStart(eb)), 0)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []record{
		{tombstone: true},
		{create: 1, version: 1},
		{create: 1 << 40, version: 7, lease: -5, value: []byte("value")},
	} {
		got, err := decodeRecord(r.appendTo(nil))
		require.NoError(t, err)
		if len(got.value) == 0 {
			got.value = r.value
		}
		require.Equal(t, r, got)
	}
	_, err := decodeRecord(nil)
	require.Error(t, err)
	_, err = decodeRecord([]byte{0, 0x80})
	require.Error(t, err)
}

func TestLeaseKeys(t *testing.T) {
	s := NewSpace(3)
	for _, id := range []int64{1, 1 << 48, 1<<62 + 5, -1} {
		k := s.LeaseKey(id)
		got, ok := s.LeaseOf(k)
		require.True(t, ok)
		require.Equal(t, id, got)
		lo, hi := s.LeaseBounds()
		require.True(t, bytes.Compare(lo, k) <= 0 && bytes.Compare(k, hi) < 0)

		lo, hi = s.AttachBounds(id)
		require.Negative(t, bytes.Compare(lo, hi))
		for _, key := range [][]byte{{0}, []byte("a"), []byte("a\x00"), {0xFF, 0xFF}} {
			ak := s.AttachKey(id, key)
			require.True(t, bytes.Compare(lo, ak) <= 0 && bytes.Compare(ak, hi) < 0)
			uk, ok := s.AttachedKey(ak)
			require.True(t, ok)
			require.Equal(t, key, uk)
		}
	}
	// Attachment keys of one lease sort in user-key order, and other
	// leases' keys are outside its bounds.
	require.Negative(t, bytes.Compare(s.AttachKey(5, []byte("a")), s.AttachKey(5, []byte("a\x00"))))
	lo, hi := s.AttachBounds(5)
	for _, k := range [][]byte{s.AttachKey(4, []byte{0xFF}), s.AttachKey(6, nil)} {
		require.False(t, bytes.Compare(lo, k) <= 0 && bytes.Compare(k, hi) < 0)
	}
	_, ok := s.LeaseOf(s.MetaKey())
	require.False(t, ok)
	_, ok = s.AttachedKey(s.LeaseKey(1))
	require.False(t, ok)
	// Data keys' Split is unchanged; lease keys are not split.
	require.Equal(t, len(s.LeaseKey(1)), Comparer.Split(s.LeaseKey(1)))
	ak := s.AttachKey(1, []byte("some long user key"))
	require.Equal(t, len(ak), Comparer.Split(ak))
}
