package wire

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSemaphoreTypesRoundTrip encodes and decodes every semaphore message
// with its fields set, and checks the short field names on the wire.
func TestSemaphoreTypesRoundTrip(t *testing.T) {
	hdr := ResponseHeader{Shard: 3, Revision: 12}
	owner := SemaphoreOwner{Key: []byte("k"), Owner: []byte("host-a"), Weight: 2, Token: 9, Lease: 1 << 49, LeaseTTL: 7}
	for _, tc := range []struct {
		in, out any
		fields  []string
	}{
		{&SemaphoreAcquireRequest{Name: "S", Lease: 1 << 49, Limit: 3, Weight: 2, Owner: []byte("o"), Try: true, Resume: []byte("k")},
			&SemaphoreAcquireRequest{}, []string{"n", "l", "lim", "w", "o", "try", "r"}},
		{&SemaphoreAcquireResponse{Header: hdr, Key: []byte("k"), Token: 12}, &SemaphoreAcquireResponse{}, []string{"h", "k", "t"}},
		{&SemaphoreReleaseRequest{Name: "S", Key: []byte("k"), Lease: 5}, &SemaphoreReleaseRequest{}, []string{"n", "k", "l"}},
		{&SemaphoreReleaseResponse{Header: hdr}, &SemaphoreReleaseResponse{}, []string{"h"}},
		{&SemaphoreStatusRequest{Name: "S"}, &SemaphoreStatusRequest{}, []string{"n"}},
		{&SemaphoreStatusResponse{Header: hdr, Limit: 3, Held: 2, Holders: []SemaphoreOwner{owner}, Waiters: []SemaphoreOwner{{Key: []byte("w"), Weight: 1, Lease: 5}}},
			&SemaphoreStatusResponse{}, []string{"h", "lim", "held", "hs", "ws"}},
	} {
		b, err := Marshal(tc.in)
		require.NoError(t, err)
		require.NoError(t, Unmarshal(b, tc.out))
		require.Equal(t, tc.in, tc.out)
		var m map[string]any
		require.NoError(t, Unmarshal(b, &m))
		require.Len(t, m, len(tc.fields), "%T: %v", tc.in, m)
		for _, f := range tc.fields {
			require.Contains(t, m, f, "%T", tc.in)
		}
	}
	require.True(t, (&SemaphoreAcquireResponse{Token: 4}).Granted())
	require.False(t, (&SemaphoreAcquireResponse{Key: []byte("k")}).Granted())
	require.Equal(t, "semaphore.acquire", MethodSemAcquire)
	require.Equal(t, "semaphore.release", MethodSemRelease)
	require.Equal(t, "semaphore.status", MethodSemStatus)
}
