package statemachine

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// TestCompactResultRemembered: a compaction commits the batch before it
// while it runs; the result of a tagged compaction must still be stored
// with its batch, so a retry answered after a snapshot restore (or a
// restart) gets the first result, as on the shard that applied it.
func TestCompactResultRemembered(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	h.put("a", "2")
	cmd := &Command{ClientID: 9, Seq: 1, AckBelow: 1, Op: OpCompact, req: &wire.CompactRequest{Revision: 2}}
	first := h.apply1(cmd)
	require.Equal(t, wire.OK, first.Code)

	snap, err := h.sh.PrepareSnapshot()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, h.sh.SaveSnapshot(snap, &buf))
	restored := newHarness(t)
	require.NoError(t, restored.sh.RecoverFromSnapshot(&buf))
	require.Equal(t, mustHash(t, h.sh), mustHash(t, restored.sh))

	retry := restored.apply1(cmd)
	require.Equal(t, first, retry, "the retried compaction must get its first result")
}
