package statemachine

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/coord/wire"
)

// TestClusterIdentity: the first identity applied is kept, also within one
// batch, across a reopen and through a snapshot; later proposals get it as
// their result.
func TestClusterIdentity(t *testing.T) {
	h := newHarness(t)
	require.Zero(t, h.sh.ClusterID())
	rs, _ := h.apply(&Command{Op: OpClusterIdentity, req: &ClusterIdentity{ID: 11}}, &Command{Op: OpClusterIdentity, req: &ClusterIdentity{ID: 22}})
	for _, r := range rs {
		require.Equal(t, wire.OK, r.Code)
		var id uint64
		require.NoError(t, msgpack.Unmarshal(r.Data, &id))
		require.Equal(t, uint64(11), id)
	}
	require.Equal(t, uint64(11), h.sh.ClusterID())
	require.Equal(t, wire.CodeInvalid, h.apply1(&Command{Op: OpClusterIdentity, req: &ClusterIdentity{}}).Code)

	require.NoError(t, h.sh.Close())
	_, err := h.sh.Open()
	require.NoError(t, err)
	require.Equal(t, uint64(11), h.sh.ClusterID())

	other := newHarness(t)
	other.apply1(&Command{Op: OpClusterIdentity, req: &ClusterIdentity{ID: 33}})
	require.NoError(t, other.sh.RecoverFromSnapshot(bytes.NewReader(snapshotOf(t, h.sh))))
	require.Equal(t, uint64(11), other.sh.ClusterID())
	require.Equal(t, mustHash(t, h.sh), mustHash(t, other.sh))
}
