package statemachine

import (
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/coord/wire"
)

// toLegacy returns c in the legacy format (nil if its op has no legacy
// field).
func toLegacy(c *Command) *legacyCommand {
	l := &legacyCommand{ClientID: c.ClientID, Seq: c.Seq, AckBelow: c.AckBelow, Time: c.Time, Sent: c.Sent}
	req := c.req
	if req == nil && c.Op != "" {
		op, ok := ops[c.Op]
		if !ok {
			return nil
		}
		var err error
		if req, err = op.decode(c.Body); err != nil {
			return nil
		}
	}
	switch r := req.(type) {
	case nil:
	case *wire.PutRequest:
		l.Put = r
	case *wire.DeleteRangeRequest:
		l.DeleteRange = r
	case *wire.TxnRequest:
		l.Txn = r
	case *wire.CompactRequest:
		l.Compact = r
	case *LeaseGrant:
		l.LeaseGrant = r
	case *LeaseRevoke:
		l.LeaseRevoke = r
	case *LeaseRenew:
		l.LeaseRenew = r
	case *wire.LockRequest:
		l.Lock = r
	case *wire.UnlockRequest:
		l.Unlock = r
	case *wire.CampaignRequest:
		l.Campaign = r
	case *wire.ProclaimRequest:
		l.Proclaim = r
	case *wire.ResignRequest:
		l.Resign = r
	case *wire.EnqueueRequest:
		l.Enqueue = r
	case *wire.DequeueRequest:
		l.Dequeue = r
	case *wire.AckRequest:
		l.Ack = r
	case *wire.BarrierRequest:
		l.Barrier = r
	case *ClusterIdentity:
		l.ClusterIdentity = r
	default:
		return nil
	}
	return l
}

// legacyCmd is a command that the harness encodes as l, in the legacy
// format (with l's operations, however many).
func legacyCmd(l *legacyCommand) *Command {
	return &Command{ClientID: l.ClientID, Seq: l.Seq, AckBelow: l.AckBelow, Time: l.Time, Sent: l.Sent, req: l}
}

func encodeLegacy(t testing.TB, l *legacyCommand) []byte {
	b, err := msgpack.Marshal(l)
	require.NoError(t, err)
	return b
}

// TestLegacyOpNames pins the op names the legacy format maps its fields
// to: the names the primitives register.
func TestLegacyOpNames(t *testing.T) {
	for _, name := range []string{legacyOpLock, legacyOpUnlock, legacyOpCampaign, legacyOpProclaim, legacyOpResign,
		legacyOpEnqueue, legacyOpDequeue, legacyOpAck, legacyOpBarrier} {
		_, ok := ops[name]
		require.True(t, ok, "no primitive registers op %q", name)
	}
}

// TestLegacyCommandsApplyAlike applies a random log (every operation,
// retries, invalid commands) once as written and once with every command
// re-encoded in the legacy format, as a log written by an earlier build
// holds it, in the same batches: the results, the events and the state
// are identical.
func TestLegacyCommandsApplyAlike(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		log := randomLog(rand.New(rand.NewSource(seed)), 3000)
		legacy := make([]Entry, len(log))
		converted := 0
		for i, e := range log {
			legacy[i] = Entry{Index: e.Index, Cmd: e.Cmd}
			cmd, err := DecodeCommand(e.Cmd)
			if err != nil || len(e.Cmd) == 0 || e.Cmd[0] != commandVersion {
				continue // garbage, or legacy already
			}
			if l := toLegacy(cmd); l != nil {
				legacy[i].Cmd = encodeLegacy(t, l)
				converted++
			}
		}
		require.Greater(t, converted, len(log)*9/10)
		_, a := openShard(t, Config{DedupRetention: 500 * time.Millisecond})
		_, b := openShard(t, Config{DedupRetention: 500 * time.Millisecond})
		rng := rand.New(rand.NewSource(seed))
		for pos := 0; pos < len(log); {
			n := min(1+rng.Intn(40), len(log)-pos)
			wantRes, want := applyBatch(t, a, log[pos:pos+n])
			gotRes, got := applyBatch(t, b, legacy[pos:pos+n])
			require.Equal(t, wantRes, gotRes, "log %d..%d", pos, pos+n)
			require.Equal(t, want, got, "log %d..%d", pos, pos+n)
			pos += n
		}
		require.Equal(t, mustHash(t, a), mustHash(t, b))
	}
}

// TestLegacyCorpusDecodes reads the seed corpus written by the build
// before the versioned format (testdata/fuzz/FuzzDecodeCommand/seed-*,
// legacy bytes as they are in existing logs): each decodes to the same
// command as its re-encoding in the current format, and both apply to
// the same result.
func TestLegacyCorpusDecodes(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeCommand", "seed-*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	ops := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		require.Len(t, lines, 2, f)
		q, ok := strings.CutSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
		require.True(t, ok, f)
		s, err := strconv.Unquote(q)
		require.NoError(t, err, f)
		old := []byte(s)
		require.NotEqual(t, byte(commandVersion), old[0], f)

		cmd, err := DecodeCommand(old)
		require.NoError(t, err, f)
		ops[cmd.Op] = true
		if cmd.Op == "" && cmd.legacyOps != 0 {
			continue // several ops: the current format cannot express it (see TestValidation)
		}
		cur, err := EncodeCommand(cmd)
		require.NoError(t, err)
		again, err := DecodeCommand(cur)
		require.NoError(t, err)
		if cmd.Op != "" {
			require.Equal(t, cmd.Request(), again.Request(), f)
		}

		var res [2]Result
		for i, b := range [][]byte{old, cur} {
			st, err := OpenStore(t.TempDir(), DefaultConfig())
			require.NoError(t, err)
			res[i] = fuzzApply(t, st, 1, b)
			require.NoError(t, st.Close())
		}
		require.Equal(t, res[0], res[1], f)
	}
	for _, op := range []string{OpPut, OpDelete, OpTxn, OpCompact, OpLeaseGrant, OpLeaseRevoke, OpLeaseRenew, legacyOpLock, legacyOpUnlock, legacyOpCampaign, legacyOpProclaim, legacyOpResign, ""} {
		require.True(t, ops[op], "the legacy corpus has no %q command", op)
	}
}
