package lockrules

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/statemachine/corruption"
)

func TestHolderEncoding(t *testing.T) {
	for _, h := range []Holder{
		{Key: OwnerKey("L", 1), Token: 1, Lease: 0x0007000000000001},
		{Key: OwnerKey("L", 1<<40), Token: 1 << 40, Lease: 1, Tail: 1<<40 + 7, Owner: []byte("host-a pid 42")},
		{Key: []byte{}, Token: 0, Lease: -1, Owner: []byte{0, 1, 2}},
	} {
		b := h.Encode()
		got, err := DecodeHolder(b)
		require.NoError(t, err)
		if len(h.Key) == 0 {
			h.Key = []byte{}
		}
		require.Equal(t, h, got)
		b[len(b)-1] ^= 0xff // the decoded holder does not alias the value
		require.Equal(t, h, got)
	}
	good := Holder{Key: []byte("k"), Token: 3, Lease: 4, Tail: 5, Owner: []byte("o")}.Encode()
	for _, bad := range [][]byte{nil, {}, {1}, {2}, {2, 3}, {2, 3, 8}, {2, 3, 8, 5}, {2, 3, 8, 5, 5, 'k'}, append([]byte{1}, good[1:]...)} {
		_, err := DecodeHolder(bad)
		require.ErrorIs(t, err, ErrCorruptHolder, "%q", bad)
		require.ErrorIs(t, err, corruption.ErrCorruption, "%q", bad)
	}
}

func TestOwnerName(t *testing.T) {
	for _, tc := range []struct {
		key  []byte
		name string
		ok   bool
	}{
		{OwnerKey("L", 5), "L", true},
		{OwnerKey("a.b c", 1<<50), "a.b c", true},
		{OwnerKey("jobs/a", 5), "jobs/a", true},
		{OwnerKey("a/", 5), "a/", true},
		{OwnerKey("/", 5), "/", true},
		{append(Prefix("jobs/a"), "o/12345678"...), "jobs/a", true},
		{[]byte(Root + "{a}b}/o/12345678"), "", false},
		{[]byte(Root + "{a/o/12345678"), "", false},
		{HolderKey("L"), "", false},
		{Prefix("L"), "", false},
		{append(OwnerKey("L", 5), 0), "", false},
		{OwnerKey("L", 5)[:len(OwnerKey("L", 5))-1], "", false},
		{[]byte(Root + "L}/o/12345678"), "", false},
		{[]byte(Root + "{}/o/12345678"), "", false},
		{[]byte(Root + "{L/o/12345678"), "", false},
		{[]byte("\x00coord/elect/{L}/o/12345678"), "", false},
	} {
		name, ok := OwnerName(Root, tc.key)
		require.Equal(t, tc.ok, ok, "%q", tc.key)
		require.Equal(t, tc.name, name, "%q", tc.key)
	}
}
