package barrierrules_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/barrier/barrierrules"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
	"github.com/coord-io/coord/statemachine/smtest"
)

func barrierCmd(name string, op uint8, count, lease int64, key []byte) *statemachine.Command {
	return statemachine.NewCommand(barrierrules.OpBarrier, &wire.BarrierRequest{Name: name, Op: op, Count: count, Lease: lease, Key: key})
}

func state(t *testing.T, h *smtest.Harness, name string) wire.BarrierResponse {
	t.Helper()
	st, err := h.Shard.BarrierState(name)
	require.NoError(t, err)
	st.Header = wire.ResponseHeader{}
	return *st
}

type event struct {
	typ wire.EventType
	key string
}

// keyEvents returns the events of keys gate and ready, in order.
func keyEvents(events []wire.Event, name string) []event {
	var out []event
	for _, e := range events {
		if bytes.Equal(e.Kv.Key, barrierrules.GateKey(name)) || bytes.Equal(e.Kv.Key, barrierrules.ReadyKey(name)) {
			out = append(out, event{e.Type, string(e.Kv.Key[len(barrierrules.Prefix(name)):])})
		}
	}
	return out
}

// TestBarrierRules walks a gate and a double barrier through their
// operations and errors, step by step: responses, revisions, state, and
// the events on the gate and ready keys that the server's waiting reads.
func TestBarrierRules(t *testing.T) {
	h := smtest.New(t)
	a, b, c := h.Grant(10), h.Grant(10), h.Grant(10)
	foreign := wire.LeaseID(smtest.ShardID+1, 1)
	p := func(rev int64) []byte { return barrierrules.ParticipantKey("B", rev) }
	type br = wire.BarrierResponse
	steps := []struct {
		desc   string
		cmd    *statemachine.Command
		code   wire.Code
		msg    string
		resp   br // expected response (Header aside) when OK
		rev    int64
		events []event // on the gate and ready keys
		state  br
	}{
		{"wait on a free gate: nothing to wait for, read only",
			barrierCmd("B", wire.BarrierWait, 0, 0, nil), wire.OK, "", br{}, 1, nil, br{}},
		{"hold puts the gate",
			barrierCmd("B", wire.BarrierHold, 0, 0, nil), wire.OK, "", br{Held: true}, 2,
			[]event{{wire.EventPut, "g"}}, br{Held: true}},
		{"hold again: nothing written",
			barrierCmd("B", wire.BarrierHold, 0, 0, nil), wire.OK, "", br{Held: true}, 2, nil, br{Held: true}},
		{"wait while held: the state, read only",
			barrierCmd("B", wire.BarrierWait, 0, 0, nil), wire.OK, "", br{Held: true}, 2, nil, br{Held: true}},
		{"release deletes the gate: waiters go",
			barrierCmd("B", wire.BarrierRelease, 0, 0, nil), wire.OK, "", br{}, 3,
			[]event{{wire.EventDelete, "g"}}, br{}},
		{"release again: nothing written",
			barrierCmd("B", wire.BarrierRelease, 0, 0, nil), wire.OK, "", br{}, 3, nil, br{}},
		{"enter, 1 of 3",
			barrierCmd("B", wire.BarrierEnter, 3, a, nil), wire.OK, "", br{Key: p(4), Participants: 1}, 4, nil,
			br{Participants: 1}},
		{"enter, 2 of 3",
			barrierCmd("B", wire.BarrierEnter, 3, b, nil), wire.OK, "", br{Key: p(5), Participants: 2}, 5, nil,
			br{Participants: 2}},
		{"count 0: invalid",
			barrierCmd("B", wire.BarrierEnter, 0, c, nil), wire.CodeInvalid, "at least 1", br{}, 5, nil,
			br{Participants: 2}},
		{"no lease: invalid",
			barrierCmd("B", wire.BarrierEnter, 3, 0, nil), wire.CodeInvalid, "a lease is required", br{}, 5, nil,
			br{Participants: 2}},
		{"a lease of another shard",
			barrierCmd("B", wire.BarrierEnter, 3, foreign, nil), wire.CodeWrongShard, "routing key {B}", br{}, 5, nil,
			br{Participants: 2}},
		{"a lease that does not exist",
			barrierCmd("B", wire.BarrierEnter, 3, wire.LeaseID(smtest.ShardID, 99), nil), wire.CodeLeaseNotFound, "not found", br{}, 5, nil,
			br{Participants: 2}},
		{"enter, 3 of 3: the ready record, in the same command",
			barrierCmd("B", wire.BarrierEnter, 3, c, nil), wire.OK, "", br{Key: p(6), Participants: 3, Ready: true}, 6,
			[]event{{wire.EventPut, "r"}}, br{Participants: 3, Ready: true}},
		{"a late fourth: ready already, not put again",
			barrierCmd("B", wire.BarrierEnter, 3, c, nil), wire.OK, "", br{Key: p(7), Participants: 4, Ready: true}, 7, nil,
			br{Participants: 4, Ready: true}},
		{"leave: others are in, still ready",
			barrierCmd("B", wire.BarrierLeave, 0, 0, p(4)), wire.OK, "", br{Participants: 3, Ready: true}, 8, nil,
			br{Participants: 3, Ready: true}},
		{"leave of a key that left: nothing to do",
			barrierCmd("B", wire.BarrierLeave, 0, 0, p(4)), wire.OK, "", br{Participants: 3, Ready: true}, 8, nil,
			br{Participants: 3, Ready: true}},
		{"leave of a key that is not a participant's: nothing to do",
			barrierCmd("B", wire.BarrierLeave, 0, 0, barrierrules.GateKey("B")), wire.OK, "", br{Participants: 3, Ready: true}, 8, nil,
			br{Participants: 3, Ready: true}},
		{"leave of another barrier's participant: nothing to do",
			barrierCmd("C", wire.BarrierLeave, 0, 0, p(5)), wire.OK, "", br{}, 8, nil,
			br{Participants: 3, Ready: true}},
		{"leave",
			barrierCmd("B", wire.BarrierLeave, 0, 0, p(5)), wire.OK, "", br{Participants: 2, Ready: true}, 9, nil,
			br{Participants: 2, Ready: true}},
		{"leave",
			barrierCmd("B", wire.BarrierLeave, 0, 0, p(7)), wire.OK, "", br{Participants: 1, Ready: true}, 10, nil,
			br{Participants: 1, Ready: true}},
		{"the last leaves: the ready record goes, in the same command",
			barrierCmd("B", wire.BarrierLeave, 0, 0, p(6)), wire.OK, "", br{}, 11,
			[]event{{wire.EventDelete, "r"}}, br{}},
		{"count 1: ready at once",
			barrierCmd("B", wire.BarrierEnter, 1, a, nil), wire.OK, "", br{Key: p(12), Participants: 1, Ready: true}, 12,
			[]event{{wire.EventPut, "r"}}, br{Participants: 1, Ready: true}},
		{"unknown operation",
			barrierCmd("B", 9, 0, 0, nil), wire.CodeInvalid, "unknown operation 9", br{}, 12, nil,
			br{Participants: 1, Ready: true}},
		{"a bad name",
			barrierCmd("a{b", wire.BarrierHold, 0, 0, nil), wire.CodeInvalid, "names cannot contain '{' or '}'", br{}, 12, nil,
			br{Participants: 1, Ready: true}},
	}
	for i, s := range steps {
		var resp wire.BarrierResponse
		werr, events := h.Do(s.cmd, &resp)
		if s.code == wire.OK {
			require.Nil(t, werr, "step %d (%s)", i, s.desc)
			resp.Header = wire.ResponseHeader{}
			require.Equal(t, s.resp, resp, "step %d (%s)", i, s.desc)
		} else {
			require.NotNil(t, werr, "step %d (%s)", i, s.desc)
			require.Equal(t, s.code, werr.Code, "step %d (%s): %v", i, s.desc, werr)
			require.Contains(t, werr.Message, s.msg, "step %d (%s)", i, s.desc)
		}
		require.Equal(t, s.rev, h.Rev(), "step %d (%s)", i, s.desc)
		require.Equal(t, s.events, keyEvents(events, "B"), "step %d (%s)", i, s.desc)
		require.Equal(t, s.state, state(t, h, "B"), "step %d (%s)", i, s.desc)
	}
	// Participant keys carry their lease.
	kv := h.Get(p(12), 0)
	require.NotNil(t, kv)
	require.Equal(t, a, kv.Lease)
}

// TestParticipantLeaseRevoke: a participant whose lease ends is removed,
// and when it was the last one the ready record goes in the same
// revision, so the others are never stuck in Leave.
func TestParticipantLeaseRevoke(t *testing.T) {
	h := smtest.New(t)
	a, b, c := h.Grant(10), h.Grant(10), h.Grant(10)
	var ka wire.BarrierResponse
	h.Must(barrierCmd("B", wire.BarrierEnter, 2, a, nil), &ka)
	var kb wire.BarrierResponse
	h.Must(barrierCmd("B", wire.BarrierEnter, 2, b, nil), &kb)
	require.Equal(t, wire.BarrierResponse{Participants: 2, Ready: true}, state(t, h, "B"))

	// One of two crashes: still ready (one is in).
	events := h.Revoke(a)
	require.Empty(t, keyEvents(events, "B"))
	require.Equal(t, wire.BarrierResponse{Participants: 1, Ready: true}, state(t, h, "B"))
	// The other crashes too, having never left: the ready record goes
	// with its key, in the revoke's revision.
	events = h.Revoke(b)
	require.Equal(t, []event{{wire.EventDelete, "r"}}, keyEvents(events, "B"))
	for _, e := range events {
		require.Equal(t, h.Rev(), e.Kv.ModRevision)
	}
	require.Equal(t, wire.BarrierResponse{}, state(t, h, "B"))

	// Before ready: a crashed participant is not counted.
	h.Must(barrierCmd("B", wire.BarrierEnter, 2, c, nil), nil)
	d := h.Grant(10)
	h.Must(barrierCmd("B", wire.BarrierEnter, 3, d, nil), nil)
	h.Revoke(c)
	require.Equal(t, wire.BarrierResponse{Participants: 1}, state(t, h, "B"))
	e := h.Grant(10)
	h.Must(barrierCmd("B", wire.BarrierEnter, 3, e, nil), nil)
	require.Equal(t, wire.BarrierResponse{Participants: 2}, state(t, h, "B"), "2 of 3: the crashed one does not count")

	// A lease holding the keys of two barriers and the gate of a third
	// (the gate has no lease and stays).
	f := h.Grant(10)
	h.Must(barrierCmd("X", wire.BarrierEnter, 1, f, nil), nil)
	h.Must(barrierCmd("Y", wire.BarrierEnter, 1, f, nil), nil)
	h.Must(barrierCmd("Z", wire.BarrierHold, 0, 0, nil), nil)
	events = h.Revoke(f)
	require.Equal(t, []event{{wire.EventDelete, "r"}}, keyEvents(events, "X"))
	require.Equal(t, []event{{wire.EventDelete, "r"}}, keyEvents(events, "Y"))
	require.Equal(t, wire.BarrierResponse{Held: true}, state(t, h, "Z"))
}

func TestBarrierNames(t *testing.T) {
	for _, n := range []string{"B", "job.1", "a/b", "a/", "/", strings.Repeat("n", 256)} {
		require.NoError(t, barrierrules.ValidateName(n), "%q", n)
	}
	for _, n := range []string{"", "{B}", "a{b", "a}b", "a/}", strings.Repeat("n", 257)} {
		err := barrierrules.ValidateName(n)
		var werr *wire.Error
		require.ErrorAs(t, err, &werr, "%q", n)
		require.Equal(t, wire.CodeInvalid, werr.Code)
	}
	require.Equal(t, "\x00coord/barrier/{B}/", string(barrierrules.Prefix("B")))
	require.Equal(t, "\x00coord/barrier/{B}/g", string(barrierrules.GateKey("B")))
	require.Equal(t, "\x00coord/barrier/{B}/r", string(barrierrules.ReadyKey("B")))
	require.Equal(t, "\x00coord/barrier/{B}/p/", string(barrierrules.ParticipantPrefix("B")))
	require.Equal(t, "\x00coord/barrier/{B}/p/\x00\x00\x00\x00\x00\x00\x01\x00", string(barrierrules.ParticipantKey("B", 256)))
}

// TestDocExample replays the worked example of the package doc.
func TestDocExample(t *testing.T) {
	h := smtest.New(t)
	a, b, c := h.Grant(10), h.Grant(10), h.Grant(10)
	p := func(rev int64) []byte { return barrierrules.ParticipantKey("batch", rev) }
	h.Must(barrierCmd("batch", wire.BarrierHold, 0, 0, nil), nil)
	h.Must(barrierCmd("batch", wire.BarrierRelease, 0, 0, nil), nil)
	var r wire.BarrierResponse
	h.Must(barrierCmd("batch", wire.BarrierEnter, 3, a, nil), &r)
	require.Equal(t, p(4), r.Key)
	h.Must(barrierCmd("batch", wire.BarrierEnter, 3, b, nil), &r)
	require.Equal(t, p(5), r.Key)
	h.Must(barrierCmd("batch", wire.BarrierEnter, 3, c, nil), &r)
	r.Header = wire.ResponseHeader{}
	require.Equal(t, wire.BarrierResponse{Key: p(6), Participants: 3, Ready: true}, r)
	require.Equal(t, "3", string(h.Get(barrierrules.ReadyKey("batch"), 0).Value))
	require.Equal(t, "3", string(h.Get(p(6), 0).Value))
	h.Must(barrierCmd("batch", wire.BarrierLeave, 0, 0, p(4)), nil)
	h.Must(barrierCmd("batch", wire.BarrierLeave, 0, 0, p(5)), nil)
	require.Equal(t, wire.BarrierResponse{Participants: 1, Ready: true}, state(t, h, "batch"))
	events := h.Revoke(c)
	require.EqualValues(t, 9, h.Rev())
	require.Equal(t, []event{{wire.EventDelete, "r"}}, keyEvents(events, "batch"))
	require.Equal(t, wire.BarrierResponse{}, state(t, h, "batch"))
}
