package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/statemachine"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func ids(es []expiredLease) []int64 {
	var out []int64
	for _, e := range es {
		out = append(out, e.id)
	}
	return out
}

func TestLessorExpiresOnlyAfterTTLOnLeader(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := newLessor(2, clk.now)
	l.applied(0, []statemachine.LeaseChange{{ID: 1, TTL: 5, RenewSeq: 0}, {ID: 2, TTL: 10}})
	l.applied(1, []statemachine.LeaseChange{{ID: 3, TTL: 1}})

	clk.advance(6 * time.Second)
	require.Empty(t, l.expired(10), "a follower never expires leases")

	l.setLeader(0, true)
	require.Empty(t, l.expired(10), "gaining leadership gives every lease a full TTL")
	clk.advance(4 * time.Second)
	require.Empty(t, l.expired(10))
	clk.advance(1*time.Second + time.Millisecond)
	got := l.expired(10)
	require.Equal(t, []int64{1}, ids(got))
	require.Equal(t, uint32(0), got[0].shard)
	require.Empty(t, l.expired(10), "a lease being revoked is not reported twice")

	// The revoke did not remove it (say it failed): it is reported again.
	l.revokeDone(0, 1)
	require.Equal(t, []int64{1}, ids(l.expired(10)))
	// The applied revoke removes it.
	l.applied(0, []statemachine.LeaseChange{{ID: 1, Revoked: true}})
	_, ok := l.remaining(0, 1)
	require.False(t, ok)

	// Shard 1 is not led here: lease 3 never expires here.
	clk.advance(time.Hour)
	require.Equal(t, []int64{2}, ids(l.expired(10)))
}

func TestLessorRenewalAndStaleView(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	l := newLessor(1, clk.now)
	l.setLeader(0, true)
	l.applied(0, []statemachine.LeaseChange{{ID: 7, TTL: 3, RenewSeq: 0}})
	for i := 1; i <= 5; i++ {
		clk.advance(2 * time.Second)
		l.applied(0, []statemachine.LeaseChange{{ID: 7, TTL: 3, RenewSeq: uint64(i)}})
		require.Empty(t, l.expired(10), "renewed every 2s with TTL 3s: never expired")
	}
	left, ok := l.remaining(0, 7)
	require.True(t, ok)
	require.Equal(t, 3*time.Second, left)

	clk.advance(3*time.Second + time.Millisecond)
	got := l.expired(10)
	require.Len(t, got, 1)
	require.Equal(t, uint64(5), got[0].renewSeq, "the revoke carries the renewal the lessor saw")

	// A renewal applied while the revoke is in flight clears the mark and
	// restarts the deadline; the state machine ignores the stale revoke.
	l.applied(0, []statemachine.LeaseChange{{ID: 7, TTL: 3, RenewSeq: 6}})
	l.revokeDone(0, 7)
	require.Empty(t, l.expired(10))
}

func TestLessorLeaderChangeNeverEarly(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	l := newLessor(1, clk.now)
	l.applied(0, []statemachine.LeaseChange{{ID: 1, TTL: 10}})
	clk.advance(9 * time.Second)
	l.setLeader(0, true) // becomes leader 1s before the lease's deadline
	clk.advance(9 * time.Second)
	require.Empty(t, l.expired(10), "a new leader waits a full TTL from its election")
	clk.advance(1*time.Second + time.Millisecond)
	require.Len(t, l.expired(10), 1)

	// Losing and regaining leadership restarts the full TTL again.
	l2 := newLessor(1, clk.now)
	l2.reset(0, []statemachine.LeaseInfo{{ID: 5, TTL: 4, RenewSeq: 2}})
	l2.setLeader(0, true)
	clk.advance(3 * time.Second)
	l2.setLeader(0, false)
	clk.advance(3 * time.Second)
	l2.setLeader(0, true)
	clk.advance(3 * time.Second)
	require.Empty(t, l2.expired(10))
	clk.advance(1*time.Second + time.Millisecond)
	got := l2.expired(10)
	require.Len(t, got, 1)
	require.Equal(t, uint64(2), got[0].renewSeq)
}
