package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/server/fault"
	"github.com/coord-io/coord/locks"
)

// TestSessionDoneBeforeLockMovesOnWhenBlackholed cuts a lock holder's
// client off the cluster without closing its connection (its proxy
// silently discards both directions), and requires its Session's Done to
// close before another client is granted the lock: the holder must learn
// that it may have lost the lock before anyone else can hold it, even
// though no answer ever comes back to tell it so.
func TestSessionDoneBeforeLockMovesOnWhenBlackholed(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	nw := fault.NewNet()
	t.Cleanup(nw.Close)
	proxied, err := nw.AddClientProxy("A", "n1", tc.endpoints()[0])
	require.NoError(t, err)
	a := tc.client(proxied)
	b := tc.client()
	ctx := ctxT(t, 60*time.Second)

	ttls := []int64{2}
	if !testing.Short() {
		ttls = append(ttls, 5)
	}
	for _, ttl := range ttls {
		name := "bh-" + time.Now().Format("150405.000")
		s, err := coord.NewSession(a, coord.WithTTL(ttl))
		require.NoError(t, err)
		ma := locks.NewMutex(s, name)
		require.NoError(t, ma.Lock(ctx))
		// Healthy: the deadline lies ahead (by less than the TTL) and
		// moves on with each renewal.
		d0 := s.Deadline()
		require.False(t, d0.IsZero())
		require.WithinDuration(t, time.Now().Add(time.Duration(ttl)*time.Second-coord.SessionMargin(time.Duration(ttl)*time.Second)), d0, time.Duration(ttl)*time.Second/2)
		for i := 0; i < 2; i++ {
			prev := s.Deadline()
			require.Eventually(t, func() bool { return s.Deadline().After(prev) }, time.Duration(ttl)*time.Second, 10*time.Millisecond, "a renewal moves the deadline on")
		}
		select {
		case <-s.Done():
			t.Fatalf("TTL %ds: session lost while healthy: %v", ttl, s.Err())
		default:
		}

		nw.Set("A", "n1", fault.LinkBlackhole, 0)
		doneAt := make(chan time.Time, 1)
		go func() {
			<-s.Done()
			doneAt <- time.Now()
		}()
		mb := locks.NewMutex(newSession(t, b, 10), name)
		require.NoError(t, mb.Lock(ctx))
		granted := time.Now()
		select {
		case d := <-doneAt:
			t.Logf("TTL %ds: holder's session done %v before the next grant", ttl, granted.Sub(d))
		default:
			t.Fatalf("TTL %ds: the lock moved on to another client while the cut-off holder's session still counted itself alive", ttl)
		}
		require.ErrorIs(t, s.Err(), coord.ErrLeaseNotFound)
		require.NoError(t, mb.Unlock(ctx))
		nw.Heal()
		s.Orphan()
	}
}
