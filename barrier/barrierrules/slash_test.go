package barrierrules_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/barrier/barrierrules"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/smtest"
)

// TestBarrierSlashNames: barrier names with '/' work end to end — gate
// hold and release, double barrier enter and leave, participants leaving
// with their lease (which parses the barrier's name back from a
// participant key) — and barriers whose names are prefixes of one another
// share no key.
func TestBarrierSlashNames(t *testing.T) {
	names := []string{"jobs", "jobs/a", "jobs/a/b", "a", "a/", "/"}
	h := smtest.New(t)
	a, b := h.Grant(10), h.Grant(10)
	for _, n := range names {
		require.NoError(t, barrierrules.ValidateName(n), n)
		h.Must(barrierCmd(n, wire.BarrierEnter, 2, a, nil), nil)
		var r wire.BarrierResponse
		h.Must(barrierCmd(n, wire.BarrierEnter, 2, b, nil), &r)
		require.True(t, r.Ready, n)
		require.Equal(t, barrierrules.ParticipantKey(n, h.Rev()), r.Key, n)
	}
	h.Must(barrierCmd("jobs", wire.BarrierHold, 0, 0, nil), nil)
	h.Must(barrierCmd("a/", wire.BarrierHold, 0, 0, nil), nil)
	for _, n := range names {
		held := n == "jobs" || n == "a/"
		require.Equal(t, wire.BarrierResponse{Held: held, Participants: 2, Ready: true}, state(t, h, n), n)
		// A scan over the barrier's prefix sees its keys only.
		want := 3 // ready record and two participants
		if held {
			want++
		}
		require.Len(t, h.Keys(barrierrules.Prefix(n), 0), want, n)
	}

	h.Revoke(a)
	for _, n := range names {
		require.Equal(t, int64(1), state(t, h, n).Participants, n)
		require.True(t, state(t, h, n).Ready, n)
	}
	// The last participant's lease ends: each ready record goes with it.
	events := h.Revoke(b)
	for _, n := range names {
		require.Equal(t, []event{{wire.EventDelete, "r"}}, keyEvents(events, n), n)
		held := n == "jobs" || n == "a/"
		require.Equal(t, wire.BarrierResponse{Held: held}, state(t, h, n), n)
	}
	h.Must(barrierCmd("jobs", wire.BarrierRelease, 0, 0, nil), nil)
	require.False(t, state(t, h, "jobs").Held)
	require.True(t, state(t, h, "a/").Held)
	require.Equal(t, "\x00coord/barrier/{jobs/a}/p/", string(barrierrules.ParticipantPrefix("jobs/a")))
}
