package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lni/dragonboat/v3"
	"github.com/stretchr/testify/require"
)

// fakeRounds is a readGate's round function whose rounds end when the
// test releases them, each with the error sent.
type fakeRounds struct {
	started atomic.Int64
	release chan error
}

func (f *fakeRounds) round() error {
	f.started.Add(1)
	return <-f.release
}

// joined is how many reads wait for the gate's next round.
func (g *readGate) joined() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.next == nil {
		return 0
	}
	return g.next.waiters
}

// TestReadGateSharesRounds: one round at a time; the reads that arrive
// while it runs wait for the next round (not the running one, which began
// before them) and share it; a round's error reaches every read of it; a
// read whose context ends leaves without ending the round.
func TestReadGateSharesRounds(t *testing.T) {
	f := &fakeRounds{release: make(chan error)}
	g := &readGate{round: f.round}
	ctx := context.Background()

	first := make(chan error, 1)
	go func() { first <- g.wait(ctx) }()
	require.Eventually(t, func() bool { return f.started.Load() == 1 }, 5*time.Second, time.Millisecond)

	const n = 10
	var wg sync.WaitGroup
	var returned atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.wait(ctx); err != nil {
				t.Error(err)
			}
			returned.Add(1)
		}()
	}
	require.Eventually(t, func() bool { return g.joined() == n }, 5*time.Second, time.Millisecond)
	require.Equal(t, int64(1), f.started.Load(), "no second round while one is in flight")

	f.release <- nil // round 1 ends: only the first read returns
	require.NoError(t, <-first)
	require.Eventually(t, func() bool { return f.started.Load() == 2 }, 5*time.Second, time.Millisecond)
	require.Equal(t, int64(0), returned.Load(), "reads that arrived during round 1 wait for round 2")

	f.release <- nil // round 2 ends: all ten return, after one round
	wg.Wait()
	require.Equal(t, int64(n), returned.Load())
	require.Equal(t, int64(2), f.started.Load())

	// A failed round fails its reads; the gate then starts afresh.
	errRound := errors.New("no leader")
	failed := make(chan error, 1)
	go func() { failed <- g.wait(ctx) }()
	require.Eventually(t, func() bool { return f.started.Load() == 3 }, 5*time.Second, time.Millisecond)
	f.release <- errRound
	require.ErrorIs(t, <-failed, errRound)

	// A read whose context ends leaves with Dragonboat's error for it
	// (which the caller retries while its call has time: a timed-out
	// attempt is ErrTimeout, as SyncRead answers); its round still ends.
	cctx, cancel := context.WithCancel(ctx)
	left := make(chan error, 1)
	go func() { left <- g.wait(cctx) }()
	require.Eventually(t, func() bool { return f.started.Load() == 4 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-left, dragonboat.ErrCanceled)
	dctx, dcancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer dcancel()
	require.ErrorIs(t, g.wait(dctx), dragonboat.ErrTimeout, "a read joining round 5 while round 4 runs")
	f.release <- nil
	f.release <- nil
	require.Eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return !g.running
	}, 5*time.Second, time.Millisecond, "the gate goes idle once no read waits")
}

// TestReadGateRoundsEndBeforeClose: a round runs on after the read that
// started it left (its context ended), so the member's close must wait for
// it — it reads the NodeHost that close stops and clears (a data race,
// and a nil NodeHost, seen under -race in TestPeerTLSRefusesUntrustedMember);
// once closing, a read is refused (ErrClosed) without starting a round.
func TestReadGateRoundsEndBeforeClose(t *testing.T) {
	f := &fakeRounds{release: make(chan error)}
	var rounds trackedGoroutines
	g := &readGate{round: f.round, goRound: rounds.Go}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, g.wait(ctx), dragonboat.ErrTimeout)
	require.Eventually(t, func() bool { return f.started.Load() == 1 }, 5*time.Second, time.Millisecond)

	closed := make(chan struct{})
	go func() { rounds.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("close returned while a round was still running")
	case <-time.After(200 * time.Millisecond):
	}
	f.release <- nil
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("close did not return after the round ended")
	}

	require.ErrorIs(t, g.wait(context.Background()), dragonboat.ErrClosed)
	require.EqualValues(t, 1, f.started.Load(), "a round started after close")
}
