package statemachine

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election/electionrules"
	"github.com/coord-io/coord/locks/lockrules"
)

// encodeV1 encodes c in log format version 1, as the builds before
// format 2 did (frozen: logs hold these bytes).
func encodeV1(t testing.TB, c *Command) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	body := c.Body
	if body == nil && c.req != nil {
		var err error
		body, err = msgpack.Marshal(c.req)
		require.NoError(t, err)
	}
	n := 0
	for _, set := range [...]bool{c.ClientID != 0, c.Seq != 0, c.AckBelow != 0, c.Time != 0, c.Sent != 0, c.Op != "", body != nil} {
		if set {
			n++
		}
	}
	buf.WriteByte(commandV1)
	require.NoError(t, enc.EncodeMapLen(n))
	field := func(key string, set bool, v any) {
		if set {
			require.NoError(t, enc.EncodeString(key))
			require.NoError(t, enc.Encode(v))
		}
	}
	field("cid", c.ClientID != 0, c.ClientID)
	field("seq", c.Seq != 0, c.Seq)
	field("ack", c.AckBelow != 0, c.AckBelow)
	field("t", c.Time != 0, c.Time)
	field("snt", c.Sent != 0, c.Sent)
	field("op", c.Op != "", c.Op)
	if body != nil {
		require.NoError(t, enc.EncodeString("b"))
		// The bin32 header the v1 encoder wrote for a request it encoded.
		buf.Write(binary.BigEndian.AppendUint32([]byte{0xc6}, uint32(len(body))))
		buf.Write(body)
	}
	return buf.Bytes()
}

// TestOpNumbersPinned fails when an op number is changed, reused or
// removed: the numbers are in every command of format 2 in the logs.
// A new number is appended here and in opNumbers.
func TestOpNumbersPinned(t *testing.T) {
	pinned := []string{
		1: "kv.put", 2: "kv.delete", 3: "kv.txn", 4: "kv.compact",
		5: "lease.grant", 6: "lease.revoke", 7: "lease.renew",
		8: "cluster.identity", 9: "member.publish",
		10: "lock.lock", 11: "lock.unlock",
		12: "elect.campaign", 13: "elect.proclaim", 14: "elect.resign",
		15: "queue.enqueue", 16: "queue.dequeue", 17: "queue.ack",
		18: "barrier",
		19: "semaphore.acquire", 20: "semaphore.release",
		21: "auth.enable", 22: "auth.disable",
		23: "user.add", 24: "user.delete", 25: "user.passwd", 26: "user.grant-role", 27: "user.revoke-role",
		28: "role.add", 29: "role.delete", 30: "role.grant-permission", 31: "role.revoke-permission",
	}
	require.Equal(t, len(pinned), len(opNumbers), "op numbers added or removed: pin them here")
	for n, name := range pinned {
		require.Equal(t, name, opNumbers[n], "op number %d", n)
		if n == 0 {
			continue
		}
		_, ok := ops[name]
		require.True(t, ok, "op number %d names %q, which no one registers", n, name)
		require.Equal(t, uint64(n), opNumber[name])
		require.Equal(t, name, opNameOf(uint64(n)))
	}
	// A number no op has decodes to a name no op has.
	for _, n := range []uint64{0, uint64(len(opNumbers)), math.MaxUint64} {
		_, ok := ops[opNameOf(n)]
		require.False(t, ok, "number %d", n)
	}
}

// taggedSeeds are fuzzSeeds with exactly-once tags and times, the way
// the server proposes them, and edge values of every field.
func taggedSeeds() []*Command {
	var out []*Command
	tags := []Command{
		{},
		{ClientID: 0x9e3779b97f4a7c15, Seq: 1234, AckBelow: 1200, Time: 1_764_000_000_123, Sent: 1_764_000_000_100},
		{ClientID: 1, Seq: 1, AckBelow: 1, Time: 1, Sent: 1},
		{ClientID: math.MaxUint64, Seq: math.MaxUint64, AckBelow: 1, Time: math.MaxInt64, Sent: math.MinInt64},
		{ClientID: 5, AckBelow: 9, Time: -7, Sent: 3},               // ack without seq, a negative time
		{ClientID: 5, Seq: 3, AckBelow: 9, Sent: 1_764_000_000_000}, // ack above seq, sent without time
		{Time: math.MinInt64, Sent: math.MaxInt64},
	}
	for i, c := range fuzzSeeds() {
		tag := tags[i%len(tags)]
		c.ClientID, c.Seq, c.AckBelow, c.Time, c.Sent = tag.ClientID, tag.Seq, tag.AckBelow, tag.Time, tag.Sent
		out = append(out, c)
	}
	return out
}

// requireSameCommand requires that got, decoded from some format, is
// want's command.
func requireSameCommand(t *testing.T, want, got *Command, msg string) {
	t.Helper()
	require.Equal(t, want.ClientID, got.ClientID, msg)
	require.Equal(t, want.Seq, got.Seq, msg)
	require.Equal(t, want.AckBelow, got.AckBelow, msg)
	require.Equal(t, want.Time, got.Time, msg)
	require.Equal(t, want.Sent, got.Sent, msg)
	require.Equal(t, want.Op, got.Op, msg)
	require.Equal(t, want.Body, got.Body, msg)
	require.Equal(t, want.req, got.req, msg)
}

// TestCommandFormatsDecodeAlike encodes every kind of command, with edge
// values in every envelope field, in format 2 and in format 1: both
// decode to the same command, which is the one encoded (every field
// exactly), and format 2 is the smaller.
func TestCommandFormatsDecodeAlike(t *testing.T) {
	for i, c := range taggedSeeds() {
		v2, err := EncodeCommand(c)
		require.NoError(t, err)
		require.Equal(t, byte(commandVersion), v2[0])
		v1 := encodeV1(t, c)
		got2, err2 := DecodeCommand(v2)
		got1, err1 := DecodeCommand(v1)
		msg := "seed " + strconv.Itoa(i) + " op " + c.Op
		require.Equal(t, err1 == nil, err2 == nil, "%s: %v / %v", msg, err1, err2)
		if err1 != nil {
			require.ErrorIs(t, err2, errBadCommand, msg) // a body that does not decode
			continue
		}
		requireSameCommand(t, got1, got2, msg)
		require.Equal(t, c.ClientID, got2.ClientID, msg)
		require.Equal(t, c.Seq, got2.Seq, msg)
		require.Equal(t, c.AckBelow, got2.AckBelow, msg)
		require.Equal(t, c.Time, got2.Time, msg)
		require.Equal(t, c.Sent, got2.Sent, msg)
		require.Equal(t, c.Op, got2.Op, msg)
		if c.req != nil {
			require.Equal(t, c.req, got2.Request(), msg)
		}
		require.Less(t, len(v2), len(v1), msg)

		// Re-encoding the decoded command gives the same bytes.
		again, err := EncodeCommand(got2)
		require.NoError(t, err)
		require.Equal(t, v2, again, msg)
	}
}

// TestCommandFormat2Random round-trips random envelopes through format 2.
func TestCommandFormat2Random(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	val := func() uint64 {
		switch rng.Intn(4) {
		case 0:
			return 0
		case 1:
			return uint64(rng.Intn(300))
		case 2:
			return rng.Uint64() >> rng.Intn(64)
		}
		return rng.Uint64()
	}
	names := []string{"", OpPut, electionrules.OpResign, "no.such.op", "#5", strings.Repeat("x", 300)}
	for i := 0; i < 20000; i++ {
		c := &Command{ClientID: val(), Seq: val(), AckBelow: val(), Time: int64(val()), Sent: int64(val()), Op: names[rng.Intn(len(names))]}
		if rng.Intn(2) == 0 {
			c.Body = make([]byte, rng.Intn(40))
			rng.Read(c.Body)
		}
		b, err := EncodeCommand(c)
		require.NoError(t, err)
		got, err := decodeV2(b[1:])
		require.NoError(t, err, "%+v", c)
		require.Equal(t, *c, *got)
	}
}

// TestCommandFormat2Malformed: a format-2 command that is truncated, has
// bytes after its last field or names its op twice does not decode (it
// applies as an invalid command); a number no op has decodes, and
// applies as an unknown op.
func TestCommandFormat2Malformed(t *testing.T) {
	full, err := EncodeCommand(&Command{ClientID: 0x1234567890, Seq: 300, AckBelow: 299, Time: 1_764_000_000_000, Sent: 1_763_999_999_000, Op: "some.op.without.number"})
	require.NoError(t, err)
	for n := 1; n < len(full); n++ {
		_, err := DecodeCommand(full[:n])
		require.ErrorIs(t, err, errBadCommand, "truncated to %d bytes", n)
	}
	_, err = DecodeCommand(append(bytes.Clone(full), 0))
	require.ErrorIs(t, err, errBadCommand, "a byte after the last field")
	_, err = DecodeCommand([]byte{commandVersion, flagOpNumber | flagOpName, 1, 1, 'x'})
	require.ErrorIs(t, err, errBadCommand, "an op number and an op name")
	_, err = DecodeCommand([]byte{commandVersion, flagOpNumber | flagBody, 1, 0xc1})
	require.ErrorIs(t, err, errBadCommand, "a put whose body does not decode")

	c, err := DecodeCommand([]byte{commandVersion, flagOpNumber, 0x7f})
	require.NoError(t, err)
	require.Equal(t, "#127", c.Op)
	h := newHarness(t)
	r := h.apply1(c)
	require.Equal(t, wire.CodeInvalid, r.Code)
	require.Contains(t, string(r.Data), `unknown operation "#127"`)
}

// TestCommandSizes measures the log bytes of the commands of the elect,
// lock and put benchmarks, as the server proposes them, in the format of
// build c98c954 (the legacy format, which had no times), format 1 and
// format 2, and bounds format 2: smaller than format 1, and at most the
// legacy size plus the times it added (Time and Sent, 8 bytes here).
func TestCommandSizes(t *testing.T) {
	const (
		client = 0x9e3779b97f4a7c15 // random, like the client's
		seq    = 123456
		ack    = 123455
		now    = 1_764_612_000_123
		sent   = now - 2
		lease  = 0x0100000012345678
	)
	name := "ab-1-elect-64-elect-123"
	ownerKey := []byte("\x00coord/elect/{ab-1-elect-64-elect-123}/o/\x00\x00\x00\x00\x00\x01\xe2\x40")
	lockName := "ab-1-lock-64-lock-123"
	lockKey := []byte("\x00coord/lock/{ab-1-lock-64-lock-123}/o/\x00\x00\x00\x00\x00\x01\xe2\x40")
	cases := []struct {
		name string
		op   string
		req  any
		// c98 is the request as build c98c954 encoded it, when it
		// differs (its resign and unlock had no lease).
		c98 any
	}{
		{"elect.campaign", electionrules.OpCampaign, &wire.CampaignRequest{Name: name, Lease: lease, Value: []byte("candidate-12")}, nil},
		{"elect.resign", electionrules.OpResign, &wire.ResignRequest{Name: name, Key: ownerKey, Lease: lease},
			&struct {
				Name string `msgpack:"n"`
				Key  []byte `msgpack:"k"`
			}{name, ownerKey}},
		{"lock.lock", lockrules.OpLock, &wire.LockRequest{Name: lockName, Lease: lease}, nil},
		{"lock.unlock", lockrules.OpUnlock, &wire.UnlockRequest{Name: lockName, Key: lockKey, Lease: lease}, nil},
		{"kv.put 256", OpPut, &wire.PutRequest{Key: []byte("ab/1/put-256/key-000123"), Value: make([]byte, 256)}, nil},
	}
	legacyField := map[string]string{electionrules.OpCampaign: "ca", electionrules.OpResign: "rs", lockrules.OpLock: "lo", lockrules.OpUnlock: "ul", OpPut: "put"}
	t.Logf("%-16s %8s %8s %8s", "command", "c98c954", "format1", "format2")
	for _, tc := range cases {
		cmd := &Command{ClientID: client, Seq: seq, AckBelow: ack, Time: now, Sent: sent, Op: tc.op, req: tc.req}
		v2, err := EncodeCommand(cmd)
		require.NoError(t, err)
		v1 := encodeV1(t, cmd)
		c98req := tc.c98
		if c98req == nil {
			c98req = tc.req
		}
		// c98c954's Command: cid, seq, ack, then the op's field.
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		require.NoError(t, enc.EncodeMapLen(4))
		for _, kv := range []struct {
			k string
			v any
		}{{"cid", uint64(client)}, {"seq", uint64(seq)}, {"ack", uint64(ack)}, {legacyField[tc.op], c98req}} {
			require.NoError(t, enc.EncodeString(kv.k))
			require.NoError(t, enc.Encode(kv.v))
		}
		legacy := buf.Bytes()
		t.Logf("%-16s %8d %8d %8d", tc.name, len(legacy), len(v1), len(v2))
		require.Less(t, len(v2), len(v1), tc.name)
		require.LessOrEqual(t, len(v2), len(legacy)+8, tc.name)
	}
}

// TestV1CorpusDecodes reads the seed corpus of format 1
// (testdata/fuzz/FuzzDecodeCommand/v1-seed-*, bytes as they are in logs
// written by the builds of format 1): each decodes to the same command as
// its re-encoding in the current format, and both apply to the same
// result.
func TestV1CorpusDecodes(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeCommand", "v1-seed-*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	seen := map[string]bool{}
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
		require.Equal(t, byte(commandV1), old[0], f)

		cmd, err := DecodeCommand(old)
		if err != nil {
			require.ErrorIs(t, err, errBadCommand, f)
			seen["(malformed)"] = true
			continue
		}
		seen[cmd.Op] = true
		cur, err := EncodeCommand(cmd)
		require.NoError(t, err)
		require.LessOrEqual(t, len(cur), len(old), f)
		again, err := DecodeCommand(cur)
		require.NoError(t, err)
		requireSameCommand(t, cmd, again, f)

		var res [2]Result
		for i, b := range [][]byte{old, cur} {
			st, err := OpenStore(t.TempDir(), DefaultConfig())
			require.NoError(t, err)
			res[i] = fuzzApply(t, st, 1, b)
			require.NoError(t, st.Close())
		}
		require.Equal(t, res[0], res[1], f)
	}
	for _, op := range []string{OpPut, OpTxn, OpLeaseGrant, lockrules.OpLock, electionrules.OpCampaign, electionrules.OpResign, "no.such.op", "(malformed)"} {
		require.True(t, seen[op], "the format-1 corpus has no %q command", op)
	}
}

// TestCommandFormatsApplyAlike applies a random log (every operation,
// retries, invalid commands) once in format 2 and once with every
// command re-encoded in format 1, in the same batches: the results, the
// events and the state are identical.
func TestCommandFormatsApplyAlike(t *testing.T) {
	log := randomLog(rand.New(rand.NewSource(4)), 2000)
	v1 := make([]Entry, len(log))
	converted := 0
	for i, e := range log {
		v1[i] = Entry{Index: e.Index, Cmd: e.Cmd}
		cmd, err := DecodeCommand(e.Cmd)
		if err != nil || len(e.Cmd) == 0 || e.Cmd[0] != commandVersion {
			continue
		}
		v1[i].Cmd = encodeV1(t, cmd)
		converted++
	}
	require.Greater(t, converted, len(log)*9/10)
	_, a := openShard(t, DefaultConfig())
	_, b := openShard(t, DefaultConfig())
	rng := rand.New(rand.NewSource(4))
	for pos := 0; pos < len(log); {
		n := min(1+rng.Intn(40), len(log)-pos)
		wantRes, want := applyBatch(t, a, log[pos:pos+n])
		gotRes, got := applyBatch(t, b, v1[pos:pos+n])
		require.Equal(t, wantRes, gotRes, "log %d..%d", pos, pos+n)
		require.Equal(t, want, got, "log %d..%d", pos, pos+n)
		pos += n
	}
	require.Equal(t, mustHash(t, a), mustHash(t, b))
}

// TestCommandDecodeAllocs: decoding a command of format 2 allocates no
// more than decoding the same command of format 1 (the applier decodes
// every entry on every member).
func TestCommandDecodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts vary under -race (sync.Pool drops pooled decoders at random); this test runs in go test without -race, e.g. go test ./statemachine/")
	}
	lock := &Command{ClientID: 0x9e3779b97f4a7c15, Seq: 5, AckBelow: 5, Time: 1_764_612_000_000, Sent: 1_764_611_999_999}
	lock.Set(lockrules.OpLock, &wire.LockRequest{Name: "ab-1-lock-64-lock-123", Lease: 0x0100000012345678})
	for _, c := range []*Command{benchPutCommand(), lock} {
		v2, err := EncodeCommand(c)
		require.NoError(t, err)
		v1 := encodeV1(t, c)
		a2 := testing.AllocsPerRun(100, func() { _, _ = DecodeCommand(v2) })
		a1 := testing.AllocsPerRun(100, func() { _, _ = DecodeCommand(v1) })
		t.Logf("%s: decode allocations: format 1 %.0f, format 2 %.0f", c.Op, a1, a2)
		require.LessOrEqual(t, a2, a1, c.Op)
	}
}
