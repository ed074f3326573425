package statemachine

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// TestLeaseOwnerKept: a lease granted with an owner keeps it through a
// renewal and in the lease table; a lease without one has none.
func TestLeaseOwnerKept(t *testing.T) {
	h := newHarness(t)
	var resp wire.LeaseGrantResponse
	decodeOK(t, h.apply1(&Command{Op: OpLeaseGrant, req: &LeaseGrant{TTL: 10, Owner: "alice"}}), &resp)
	plain := h.grant(5).ID
	h.apply1(renewCmd(resp.ID))
	info, ok := h.lease(resp.ID)
	require.True(t, ok)
	require.Equal(t, LeaseInfo{ID: resp.ID, TTL: 10, RenewSeq: 1, Owner: "alice"}, info)
	info, ok = h.lease(plain)
	require.True(t, ok)
	require.Equal(t, "", info.Owner)
	all, err := h.sh.Leases()
	require.NoError(t, err)
	require.Equal(t, "alice", all[0].Owner)
}
