package statemachine

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/barrier/barrierrules"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election/electionrules"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/queue/queuerules"
)

// fuzzSeeds are well-formed commands of every kind, the starting points
// of FuzzDecodeCommand (also in testdata/fuzz/FuzzDecodeCommand, which
// TestWriteFuzzCorpus regenerates).
func fuzzSeeds() []*Command {
	k := func(s string) []byte { return []byte(s) }
	return []*Command{
		{Op: OpPut, req: &wire.PutRequest{Key: k("a"), Value: k("1"), PrevKV: true}},
		{ClientID: 7, Seq: 1, AckBelow: 1, Op: OpPut, req: &wire.PutRequest{Key: k("a"), Value: k("2")}},
		{Op: OpPut, req: &wire.PutRequest{Key: k("\xff\x00"), Value: nil, Lease: 0x0100000000000001}},
		{Op: OpDelete, req: &wire.DeleteRangeRequest{Key: k("a"), RangeEnd: k("z"), PrevKV: true}},
		{Op: OpDelete, req: &wire.DeleteRangeRequest{Key: k("\x00"), RangeEnd: k("\x00")}},
		{Op: OpTxn, req: &wire.TxnRequest{
			Compare: []wire.Compare{{Target: wire.CompareValue, Result: wire.CompareEqual, Key: k("a"), Value: k("1")}},
			Success: []wire.RequestOp{{Put: &wire.PutRequest{Key: k("a"), Value: k("3")}}, {Range: &wire.RangeRequest{Key: k("a")}}},
			Failure: []wire.RequestOp{{DeleteRange: &wire.DeleteRangeRequest{Key: k("a")}}},
		}},
		{Op: OpTxn, req: &wire.TxnRequest{Compare: []wire.Compare{{Target: wire.CompareLockToken, Result: wire.CompareEqual, Key: k("l"), Version: 3}}}},
		{Op: OpCompact, req: &wire.CompactRequest{Revision: 2}},
		{Op: OpCompact, req: &wire.CompactRequest{Revision: -1, AllShards: true}},
		{Op: OpLeaseGrant, req: &LeaseGrant{TTL: 10}},
		{Op: OpLeaseGrant, req: &LeaseGrant{TTL: -5}},
		{Op: OpLeaseRevoke, req: &LeaseRevoke{ID: 1}},
		{Op: OpLeaseRevoke, req: &LeaseRevoke{ID: 1, Expire: true, RenewSeq: 9}},
		{Op: OpLeaseRenew, req: &LeaseRenew{IDs: []int64{1, 2, -1}}},
		{Op: lockrules.OpLock, req: &wire.LockRequest{Name: "l", Lease: 1, Owner: k("me")}},
		{Op: lockrules.OpLock, req: &wire.LockRequest{Name: "", Lease: 0, Try: true}},
		{Op: lockrules.OpUnlock, req: &wire.UnlockRequest{Name: "l", Key: k("\x00coord/lock/{l}/o/\x00\x00\x00\x00\x00\x00\x00\x02"), Lease: 1}},
		{Op: electionrules.OpCampaign, req: &wire.CampaignRequest{Name: "e", Lease: 1, Value: k("v")}},
		{Op: electionrules.OpProclaim, req: &wire.ProclaimRequest{Name: "e", Key: k("x"), Value: k("w"), Lease: 1}},
		{Op: electionrules.OpResign, req: &wire.ResignRequest{Name: "e", Key: k("x"), Lease: 1}},
		{Op: queuerules.OpEnqueue, req: &wire.EnqueueRequest{Name: "q", Values: [][]byte{k("x"), k("y")}, MaxDeliveries: 2}},
		{Op: queuerules.OpDequeue, req: &wire.DequeueRequest{Name: "q", Lease: 1, VisibilitySeconds: 5}},
		{Op: queuerules.OpAck, req: &wire.AckRequest{Name: "q", Seq: 1, Deliveries: 1, Nack: true}},
		{Op: barrierrules.OpBarrier, req: &wire.BarrierRequest{Name: "b", Op: wire.BarrierEnter, Count: 2, Lease: 1}},
		{Op: OpClusterIdentity, req: &ClusterIdentity{ID: 5}},
		{Op: OpMemberPublish, req: &MemberPublish{Record: MemberRecord{Name: "n1", NodeID: 1, Client: "c:1"}}},
		{Op: OpMemberPublish, req: &MemberPublish{Record: MemberRecord{}}},
		{Op: OpAlarmActivate, req: &AlarmActivate{Alarm: wire.Alarm{Member: "n1", Type: wire.AlarmNoSpace}}},
		{Op: OpAlarmDeactivate, req: &AlarmDeactivate{}},
		{Op: "no.such.op", Body: []byte{0x80}},
		{Op: OpPut, Body: []byte{0xc1}},
		{},
	}
}

// fuzzPrelude gives each fresh shard some state for the input to act on:
// keys, a lease, a held lock with a waiter, an election leader.
func fuzzPrelude(lease int64) []*Command {
	k := func(s string) []byte { return []byte(s) }
	return []*Command{
		{Op: OpPut, req: &wire.PutRequest{Key: k("a"), Value: k("1")}},
		{Op: OpPut, req: &wire.PutRequest{Key: k("{l}/reg"), Value: k("0"), Lease: lease}},
		{Op: lockrules.OpLock, req: &wire.LockRequest{Name: "l", Lease: lease}},
		{Op: lockrules.OpLock, req: &wire.LockRequest{Name: "l", Lease: lease, Owner: k("second")}},
		{Op: electionrules.OpCampaign, req: &wire.CampaignRequest{Name: "e", Lease: lease, Value: k("v")}},
	}
}

// FuzzDecodeCommand decodes arbitrary bytes as a command and applies
// them to a fresh shard (after a prelude that gives it keys, a lease, a
// lock and an election). Apply must never panic or fail with a Go error
// (which would crash the member), must return a valid Result, and must be
// deterministic: two fresh shards give byte-identical results.
func FuzzDecodeCommand(f *testing.F) {
	for _, c := range fuzzSeeds() {
		b, err := EncodeCommand(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// The same commands in the legacy format, and one with two ops.
	for _, c := range fuzzSeeds() {
		if l := toLegacy(c); l != nil {
			f.Add(encodeLegacy(f, l))
		}
	}
	f.Add(encodeLegacy(f, &legacyCommand{Put: &wire.PutRequest{Key: []byte("a")}, DeleteRange: &wire.DeleteRangeRequest{Key: []byte("a")}}))
	f.Add([]byte{})
	f.Add([]byte{0xc1})
	f.Add([]byte{commandVersion})
	// Two stores: each input goes to a fresh shard with the same ID in
	// both, and the results must be identical.
	var stores [2]*Store
	for i := range stores {
		st, err := OpenStore(f.TempDir(), DefaultConfig())
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { _ = st.Close() })
		stores[i] = st
	}
	var next uint32
	f.Fuzz(func(t *testing.T, b []byte) {
		next++
		var results [2]Result
		for i, st := range stores {
			results[i] = fuzzApply(t, st, next, b)
		}
		checkResult(t, results[0])
		if results[0].Code != results[1].Code || !bytes.Equal(results[0].Data, results[1].Data) {
			t.Fatalf("apply is not deterministic: %v %x vs %v %x", results[0].Code, results[0].Data, results[1].Code, results[1].Data)
		}
		if _, err := DecodeCommand(b); err != nil && results[0].Code != wire.CodeInvalid {
			t.Fatalf("undecodable command gave code %v, want %v", results[0].Code, wire.CodeInvalid)
		}
	})
}

// fuzzApply opens shard id, applies the prelude and then b, and returns
// b's result.
func fuzzApply(t *testing.T, st *Store, id uint32, b []byte) Result {
	sh := st.Shard(id)
	if _, err := sh.Open(); err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	index := uint64(0)
	apply := func(cmd []byte) Result {
		index++
		es := []Entry{{Index: index, Cmd: cmd}}
		if _, err := sh.Apply(es); err != nil {
			t.Fatalf("apply returned a Go error (the member would crash): %v", err)
		}
		return es[0].Result
	}
	grant, _ := EncodeCommand(&Command{Op: OpLeaseGrant, req: &LeaseGrant{TTL: 30}})
	var lease int64
	if r := apply(grant); r.Code == wire.OK {
		var resp wire.LeaseGrantResponse
		if err := msgpack.Unmarshal(r.Data, &resp); err != nil {
			t.Fatal(err)
		}
		lease = resp.ID
	}
	for _, c := range fuzzPrelude(lease) {
		cb, _ := EncodeCommand(c)
		apply(cb)
	}
	return apply(b)
}

// checkResult requires a known code and data that decodes: a response
// for OK, else a *wire.Error with the same code and a message.
func checkResult(t *testing.T, r Result) {
	if strings.HasPrefix(r.Code.String(), "code(") {
		t.Fatalf("unknown result code %d", r.Code)
	}
	if r.Code == wire.OK {
		var v map[string]any
		var id uint64 // a cluster identity's result is the kept ID
		if len(r.Data) == 0 || (msgpack.Unmarshal(r.Data, &v) != nil && msgpack.Unmarshal(r.Data, &id) != nil) {
			t.Fatalf("OK result with data that is not a response: %x", r.Data)
		}
		return
	}
	var werr wire.Error
	if err := msgpack.Unmarshal(r.Data, &werr); err != nil {
		t.Fatalf("error result %v with undecodable data %x: %v", r.Code, r.Data, err)
	}
	if werr.Code != r.Code || werr.Message == "" {
		t.Fatalf("error result %v carries %+v", r.Code, werr)
	}
}

// TestWriteFuzzCorpus rewrites the v1-seed files of
// testdata/fuzz/FuzzDecodeCommand from fuzzSeeds when
// COORD_WRITE_FUZZ_CORPUS is set. (The seed files are commands of the
// legacy format, written by earlier builds: keep them.)
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("COORD_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set COORD_WRITE_FUZZ_CORPUS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeCommand")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, c := range fuzzSeeds() {
		b, err := EncodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("v1-seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
