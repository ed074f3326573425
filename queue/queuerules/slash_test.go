package queuerules_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/queue/queuerules"
	"github.com/coord-io/coord/statemachine"
	"github.com/coord-io/coord/statemachine/smtest"
)

// TestQueueSlashNames: queue names with '/' work end to end — enqueue,
// dequeue, ack, the returns after a consumer's lease or a visibility
// lease ends (which parse the queue's name back from an in-flight key or
// a consumer marker), their dead-letter queues NAME.dead — and queues
// whose names are prefixes of one another, or look like another's
// dead-letter layout (jobs/dead), share no key.
func TestQueueSlashNames(t *testing.T) {
	names := []string{"jobs", "jobs/a", "jobs/dead", "jobs/a/b", "a", "a/", "/"}
	h := smtest.New(t)
	a, b := h.Grant(10), h.Grant(10)
	for _, n := range names {
		require.NoError(t, queuerules.ValidateName(n), n)
		require.NoError(t, queuerules.ValidateName(n+queuerules.DeadSuffix), n)
		h.Must(enqueueCmd(n, 1, "x:"+n, "y:"+n, "z:"+n), nil)
	}
	for _, n := range names {
		require.Equal(t, *item(1, "x:"+n, 1), dequeue(t, h, n, a), n)
		require.Equal(t, *item(2, "y:"+n, 1), dequeue(t, h, n, b), n)
		require.Equal(t, &wire.QueueInfoResponse{Ready: 1, InFlight: 2, Head: item(3, "z:"+n, 0)}, info(t, h, n), n)
	}

	// The consumer a's lease ends: each queue's item 1 goes to its
	// dead-letter queue (one delivery allowed).
	h.Revoke(a)
	// Item 2's visibility lease ends: to the dead-letter queue too.
	for _, n := range names {
		h.Must(statemachine.NewCommand(statemachine.OpLeaseRevoke, &statemachine.LeaseRevoke{ID: visibility(t, h, n, 2), Expire: true}), nil)
	}
	for _, n := range names {
		require.Equal(t, &wire.QueueInfoResponse{Ready: 1, Head: item(3, "z:"+n, 0)}, info(t, h, n), n)
		require.Equal(t, &wire.QueueInfoResponse{Ready: 2, Head: item(1, "x:"+n, 0)}, info(t, h, n+queuerules.DeadSuffix), n)
	}

	// A dead-letter queue's in-flight item comes back to it when its
	// consumer's lease ends.
	c := h.Grant(10)
	for _, n := range names {
		require.Equal(t, *item(1, "x:"+n, 1), dequeue(t, h, n+queuerules.DeadSuffix, c), n)
	}
	h.Revoke(c)
	for _, n := range names {
		d := n + queuerules.DeadSuffix
		require.Equal(t, &wire.QueueInfoResponse{Ready: 2, Head: item(1, "x:"+n, 1)}, info(t, h, d), n)
		require.Equal(t, *item(1, "x:"+n, 2), dequeue(t, h, d, b), n)
		h.Must(ackCmd(d, 1, 2, false), nil)
		require.Equal(t, *item(3, "z:"+n, 1), dequeue(t, h, n, b), n)
		h.Must(ackCmd(n, 3, 1, false), nil)
	}

	// A scan over a queue's prefix sees its own keys and its dead-letter
	// queue's, never another queue's.
	for _, n := range names {
		own := append([]byte(queuerules.Root+"{"), n+"}/"...)
		kvs := h.Keys(queuerules.Prefix(n), 0)
		require.NotEmpty(t, kvs, n)
		for _, kv := range kvs {
			require.True(t, bytes.HasPrefix(kv.Key, own), "%q under %q", kv.Key, n)
		}
		for _, kv := range h.Keys(queuerules.Prefix(n+queuerules.DeadSuffix), 0) {
			require.True(t, bytes.HasPrefix(kv.Key, append(own, "dead/"...)), "%q under %q", kv.Key, n)
		}
	}
	require.Equal(t, "\x00coord/queue/{jobs/a}/", string(queuerules.Prefix("jobs/a")))
	require.Equal(t, "\x00coord/queue/{jobs/a}/dead/", string(queuerules.Prefix("jobs/a.dead")))
	require.Equal(t, "\x00coord/queue/{jobs/dead}/", string(queuerules.Prefix("jobs/dead")))
}
