package locks_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/statemachine"
	"github.com/coord-io/coord/statemachine/smtest"
)

// The server-side wait of a read-write lock (WaitHolder over GrantKey and
// DecodeGrant), fed the events the rules produce through the state
// machine's apply.

type applyDriver struct{ h *smtest.Harness }

func (d applyDriver) lock(req *wire.LockRequest) (*wire.LockResponse, *wire.Error) {
	d.h.T.Helper()
	var resp wire.LockResponse
	werr, _ := d.h.Do(statemachine.NewCommand(lockrules.OpLock, req), &resp)
	if werr != nil {
		return nil, werr
	}
	return &resp, nil
}

func rlock(name string, lease int64, owner string) *wire.LockRequest {
	return &wire.LockRequest{Name: name, Lease: lease, Owner: []byte(owner), Shared: true}
}

func wlock(name string, lease int64, owner string) *wire.LockRequest {
	return &wire.LockRequest{Name: name, Lease: lease, Owner: []byte(owner)}
}

func unlockCmd(name string, key []byte, lease int64) *statemachine.Command {
	return statemachine.NewCommand(lockrules.OpUnlock, &wire.UnlockRequest{Name: name, Key: key, Lease: lease})
}

// replayEvents is a locks.Events that delivers the recorded events of
// [key, end) from revision from in one batch, then ends the stream.
type replayEvents []wire.Event

func (r replayEvents) Events(ctx context.Context, key, end []byte, from int64) <-chan locks.EventBatch {
	var evs []wire.Event
	for _, e := range r {
		if e.Kv.ModRevision >= from && bytes.Compare(e.Kv.Key, key) >= 0 && bytes.Compare(e.Kv.Key, end) < 0 {
			evs = append(evs, e)
		}
	}
	ch := make(chan locks.EventBatch, 1)
	ch <- locks.EventBatch{Events: evs}
	close(ch)
	return ch
}

// TestRWLockWaitGrant: the server-side wait of a queued Lock, WaitHolder,
// watching GrantKey with DecodeGrant, sees the grant of an exclusive
// owner (the holder record) and of a shared one (its marker), and the
// removal of a waiting shared owner.
func TestRWLockWaitGrant(t *testing.T) {
	h := smtest.New(t)
	d := applyDriver{h}
	a, b, c, e := h.Grant(10), h.Grant(10), h.Grant(10), h.Grant(10)
	d.lock(rlock("L", a, "a"))          // 2: a reads
	rb, _ := d.lock(wlock("L", b, "b")) // 3: b waits
	rc, _ := d.lock(rlock("L", c, "c")) // 4: c waits behind b
	re, _ := d.lock(rlock("L", e, "e")) // 5: e waits behind b
	var evs replayEvents
	record := func(cmd *statemachine.Command) {
		_, ev := h.Do(cmd, nil)
		evs = append(evs, ev...)
	}
	record(unlockCmd("L", lockrules.OwnerKey("L", 2), a)) // 6: b writes
	record(unlockCmd("L", re.Key, e))                     // 7: e gives up
	record(unlockCmd("L", rb.Key, b))                     // 8: c reads

	wait := func(key []byte, from int64, shared bool) (lockrules.Holder, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return locks.WaitHolder(ctx, evs, lockrules.Prefix("L"), lockrules.GrantKey("L", key, shared), key, from, lockrules.DecodeGrant)
	}
	g, err := wait(rb.Key, 4, false)
	require.NoError(t, err)
	require.Equal(t, rb.Key, g.Key)
	require.Equal(t, int64(6), g.Token, "the writer, by the holder record")

	g, err = wait(rc.Key, 5, true)
	require.NoError(t, err)
	require.Equal(t, lockrules.Holder{Key: rc.Key, Token: 8, Lease: c}, g, "the reader, by its marker")
	_, err = wait(rc.Key, 9, true)
	require.EqualError(t, err, "locks: event stream ended", "granted before the wait began: the server's first read sees it")

	_, err = wait(re.Key, 6, true)
	require.ErrorIs(t, err, locks.ErrOwnerRemoved)
}
