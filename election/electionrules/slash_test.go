package electionrules_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election/electionrules"
	"github.com/coord-io/coord/statemachine/smtest"
)

// TestElectionSlashNames: election names with '/' work end to end —
// campaign, leader, proclaim, the revoke hand-off (which parses the name
// back from a candidate key) — and elections whose names are prefixes of
// one another share no key.
func TestElectionSlashNames(t *testing.T) {
	names := []string{"svc", "svc/a", "svc/a/b", "a", "a/", "/"}
	h := smtest.New(t)
	a, b := h.Grant(10), h.Grant(10)
	first := map[string]int64{}
	for _, n := range names {
		require.NoError(t, electionrules.ValidateName(n), n)
		var r wire.LeaderResponse
		h.Must(campaign(n, a, "a:"+n), &r)
		first[n] = h.Rev()
		h.Must(campaign(n, b, "b:"+n), &r)
	}
	for _, n := range names {
		l, err := h.Shard.Leader(n)
		require.NoError(t, err, n)
		require.Equal(t, "a:"+n, string(l.Value))
		require.Equal(t, first[n], l.Term)
		h.Must(proclaim(n, l.Key, "A:"+n, a), nil)
		// A scan over the election's prefix sees its keys only: the
		// leader record and two candidates.
		require.Len(t, h.Keys(electionrules.Prefix(n), 0), 3, n)
	}
	h.Revoke(a)
	for _, n := range names {
		l, err := h.Shard.Leader(n)
		require.NoError(t, err, n)
		require.Equal(t, "b:"+n, string(l.Value), n)
		require.Equal(t, h.Rev(), l.Term, n)
		require.Len(t, h.Keys(electionrules.Prefix(n), 0), 2, n)
	}
	l, err := h.Shard.Leader("svc")
	require.NoError(t, err)
	h.Must(resign("svc", l.Key, b), nil)
	_, err = h.Shard.Leader("svc")
	require.Equal(t, wire.CodeNotFound, err.(*wire.Error).Code)
	_, err = h.Shard.Leader("svc/a")
	require.NoError(t, err, "svc/a is another election")
}
