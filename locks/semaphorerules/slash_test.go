package semaphorerules

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// TestSlashNames: semaphore names with '/' work end to end — acquire,
// wait, release, the revoke hand-off (which parses the name back from an
// owner key) — and semaphores whose names are prefixes of one another
// share no key (checkInvariants: nothing else under a prefix).
func TestSlashNames(t *testing.T) {
	names := []string{"jobs", "jobs/a", "jobs/a/b", "a", "a/", "/"}
	s := newMemStore(testShard, 4)
	a, b := s.grant(1), s.grant(2)
	first := map[string]int64{}
	for _, n := range names {
		require.NoError(t, ValidateName(n), n)
		resp, werr := s.acquire(t, &wire.SemaphoreAcquireRequest{Name: n, Lease: a, Limit: 1, Owner: []byte("a")})
		require.Nil(t, werr, n)
		require.Equal(t, s.rev, resp.Token, n)
		first[n] = s.rev
		name, ok := OwnerName(resp.Key)
		require.True(t, ok, n)
		require.Equal(t, n, name)
		resp, werr = s.acquire(t, &wire.SemaphoreAcquireRequest{Name: n, Lease: b, Limit: 1, Owner: []byte("b")})
		require.Nil(t, werr, n)
		require.Zero(t, resp.Token, n)
	}
	for _, n := range names {
		checkInvariants(t, s, n)
		st := s.status(t, n)
		require.Len(t, st.Holders, 1, n)
		require.Equal(t, OwnerKey(n, first[n]), st.Holders[0].Key, n)
		require.Len(t, st.Waiters, 1, n)
	}
	s.revoke(t, a)
	for _, n := range names {
		checkInvariants(t, s, n)
		st := s.status(t, n)
		require.Len(t, st.Holders, 1, n)
		require.Equal(t, OwnerKey(n, first[n]+1), st.Holders[0].Key, n)
		require.Equal(t, s.rev, st.Holders[0].Token, n)
		require.Empty(t, st.Waiters, n)
	}
	require.Nil(t, s.release(t, &wire.SemaphoreReleaseRequest{Name: "jobs", Key: OwnerKey("jobs", first["jobs"]+1), Lease: b}))
	require.Empty(t, s.status(t, "jobs").Holders)
	require.Len(t, s.status(t, "jobs/a").Holders, 1)
	for _, n := range names {
		checkInvariants(t, s, n)
	}
}
