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
