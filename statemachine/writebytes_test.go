package statemachine

import (
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election/electionrules"
)

// TestElectWriteBytes measures what a campaign+resign of one client
// costs the state machine's Pebble: the bytes of the batches Apply
// commits (one entry per batch), and the log bytes of the two commands,
// in the steady state (the client's record exists). It bounds them so
// that growth shows: a change that adds to either is a choice to make
// knowingly (see TestCommandSizes).
func TestElectWriteBytes(t *testing.T) {
	h := newHarness(t)
	var g wire.LeaseGrantResponse
	decodeOK(t, h.apply1(&Command{Op: OpLeaseGrant, req: &LeaseGrant{TTL: 60}}), &g)
	var batchBytes, records, logBytes, v1Bytes int
	testCommitHook = func(b *pebble.Batch) { batchBytes += len(b.Repr()); records += int(b.Count()) }
	defer func() { testCommitHook = nil }()
	const client, rounds = 0x9e3779b97f4a7c15, 200
	now := int64(1_764_612_000_000)
	name := "ab-1-elect-64-elect-123"
	seq := uint64(0)
	tagged := func(op string, req any) *Command {
		seq++
		now += 3
		c := &Command{ClientID: client, Seq: seq, AckBelow: seq, Time: now, Sent: now - 1}
		c.Set(op, req)
		e := h.entry(c)
		logBytes += len(e.Cmd)
		v1Bytes += len(encodeV1(t, c))
		h.index-- // apply1 encodes it again
		return c
	}
	for i := 0; i < rounds; i++ {
		if i == 1 {
			batchBytes, records, logBytes, v1Bytes = 0, 0, 0, 0 // steady state from here
		}
		var l wire.LeaderResponse
		decodeOK(t, h.apply1(tagged(electionrules.OpCampaign, &wire.CampaignRequest{Name: name, Lease: g.ID, Value: []byte("candidate-12")})), &l)
		decodeOK(t, h.apply1(tagged(electionrules.OpResign, &wire.ResignRequest{Name: name, Key: l.Key, Lease: g.ID})), &l)
	}
	n := rounds - 1
	t.Logf("per campaign+resign: state machine batches %d bytes (%d records), log %d bytes (format 1: %d)", batchBytes/n, records/n, logBytes/n, v1Bytes/n)
	require.Less(t, logBytes, v1Bytes)
	require.LessOrEqual(t, logBytes/n, 200)
}
