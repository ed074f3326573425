package queuerules_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/queue/queuerules"
	"github.com/coord-io/coord/statemachine"
	"github.com/coord-io/coord/statemachine/corruption"
	"github.com/coord-io/coord/statemachine/smtest"
)

func enqueueCmd(name string, maxDeliveries int64, values ...string) *statemachine.Command {
	req := &wire.EnqueueRequest{Name: name, MaxDeliveries: maxDeliveries}
	for _, v := range values {
		req.Values = append(req.Values, []byte(v))
	}
	return statemachine.NewCommand(queuerules.OpEnqueue, req)
}

func dequeueCmd(name string, lease, vis int64) *statemachine.Command {
	return statemachine.NewCommand(queuerules.OpDequeue, &wire.DequeueRequest{Name: name, Lease: lease, VisibilitySeconds: vis})
}

func ackCmd(name string, seq, deliveries int64, nack bool) *statemachine.Command {
	return statemachine.NewCommand(queuerules.OpAck, &wire.AckRequest{Name: name, Seq: seq, Deliveries: deliveries, Nack: nack})
}

func info(t testing.TB, h *smtest.Harness, name string) *wire.QueueInfoResponse {
	t.Helper()
	resp, err := h.Shard.QueueInfo(name, true)
	require.NoError(t, err)
	resp.Header = wire.ResponseHeader{}
	return resp
}

func item(seq int64, value string, deliveries int64) *wire.QueueItem {
	return &wire.QueueItem{Seq: seq, Value: []byte(value), Deliveries: deliveries}
}

// dequeue takes the head of name for lease and returns it.
func dequeue(t testing.TB, h *smtest.Harness, name string, lease int64) wire.QueueItem {
	t.Helper()
	var resp wire.DequeueResponse
	h.Must(dequeueCmd(name, lease, 30), &resp)
	return resp.Item
}

// visibility returns the visibility lease of item seq of name, in flight.
func visibility(t testing.TB, h *smtest.Harness, name string, seq int64) int64 {
	t.Helper()
	kv := h.Get(queuerules.InFlightKey(name, seq), 0)
	require.NotNil(t, kv, "item %d of %s in flight", seq, name)
	return kv.Lease
}

// TestQueueRules walks one queue through enqueue, dequeue, ack, nack and
// the errors, step by step: responses, revisions, counts and head.
func TestQueueRules(t *testing.T) {
	h := smtest.New(t)
	a, b := h.Grant(10), h.Grant(10)
	foreign := wire.LeaseID(smtest.ShardID+1, 1)
	missing := wire.LeaseID(smtest.ShardID, 99)
	type qi = wire.QueueInfoResponse
	steps := []struct {
		desc string
		cmd  *statemachine.Command
		code wire.Code
		msg  string // substring of the error message
		resp any    // expected response, Header aside
		rev  int64  // the shard's revision after the step
		info qi     // QueueInfo("Q", peek) after the step
	}{
		{"an empty queue: CodeEmpty, nothing written",
			dequeueCmd("Q", a, 30), wire.CodeEmpty, `queue "Q" is empty`, nil, 1, qi{}},
		{"enqueue three values: seqs from 1, one revision",
			enqueueCmd("Q", 0, "a", "b", "c"), wire.OK, "", &wire.EnqueueResponse{Seqs: []int64{1, 2, 3}}, 2,
			qi{Ready: 3, Head: item(1, "a", 0)}},
		{"enqueue one more: the sequence goes on",
			enqueueCmd("Q", 0, "d"), wire.OK, "", &wire.EnqueueResponse{Seqs: []int64{4}}, 3,
			qi{Ready: 4, Head: item(1, "a", 0)}},
		{"dequeue: the head, first delivery",
			dequeueCmd("Q", a, 30), wire.OK, "", &wire.DequeueResponse{Item: *item(1, "a", 1)}, 4,
			qi{Ready: 3, InFlight: 1, Head: item(2, "b", 0)}},
		{"another consumer gets the next item",
			dequeueCmd("Q", b, 30), wire.OK, "", &wire.DequeueResponse{Item: *item(2, "b", 1)}, 5,
			qi{Ready: 2, InFlight: 2, Head: item(3, "c", 0)}},
		{"ack of the first",
			ackCmd("Q", 1, 1, false), wire.OK, "", &wire.AckResponse{}, 6,
			qi{Ready: 2, InFlight: 1, Head: item(3, "c", 0)}},
		{"ack again: not in flight",
			ackCmd("Q", 1, 0, false), wire.CodeNotFound,
			`item 1 of queue "Q" is not in flight (acked, or redelivered after its visibility timeout)`, nil, 6,
			qi{Ready: 2, InFlight: 1, Head: item(3, "c", 0)}},
		{"ack of an item never delivered: not in flight",
			ackCmd("Q", 3, 0, false), wire.CodeNotFound, `item 3 of queue "Q" is not in flight`, nil, 6,
			qi{Ready: 2, InFlight: 1, Head: item(3, "c", 0)}},
		{"ack of another delivery than the one in flight",
			ackCmd("Q", 2, 7, false), wire.CodeNotFound, `delivery 7 of item 2 of queue "Q" is not in flight`, nil, 6,
			qi{Ready: 2, InFlight: 1, Head: item(3, "c", 0)}},
		{"nack: back at the head at once, with its deliveries",
			ackCmd("Q", 2, 1, true), wire.OK, "", &wire.AckResponse{}, 7,
			qi{Ready: 3, Head: item(2, "b", 1)}},
		{"redelivered ahead of later items, second delivery",
			dequeueCmd("Q", a, 30), wire.OK, "", &wire.DequeueResponse{Item: *item(2, "b", 2)}, 8,
			qi{Ready: 2, InFlight: 1, Head: item(3, "c", 0)}},
		{"ack of the second delivery, whichever (0)",
			ackCmd("Q", 2, 0, false), wire.OK, "", &wire.AckResponse{}, 9,
			qi{Ready: 2, Head: item(3, "c", 0)}},
		{"visibility 0: invalid",
			dequeueCmd("Q", a, 0), wire.CodeInvalid, "visibility timeout of 0 seconds", nil, 9,
			qi{Ready: 2, Head: item(3, "c", 0)}},
		{"no lease: invalid",
			dequeueCmd("Q", 0, 30), wire.CodeInvalid, "a consumer lease is required", nil, 9,
			qi{Ready: 2, Head: item(3, "c", 0)}},
		{"a lease that does not exist",
			dequeueCmd("Q", missing, 30), wire.CodeLeaseNotFound, "not found", nil, 9,
			qi{Ready: 2, Head: item(3, "c", 0)}},
		{"a lease of another shard",
			dequeueCmd("Q", foreign, 30), wire.CodeWrongShard, "grant the lease with routing key {Q}", nil, 9,
			qi{Ready: 2, Head: item(3, "c", 0)}},
		{"a bad name",
			dequeueCmd("{Q}", a, 30), wire.CodeInvalid, "names cannot contain", nil, 9,
			qi{Ready: 2, Head: item(3, "c", 0)}},
		{"nothing to enqueue",
			enqueueCmd("Q", 0), wire.CodeInvalid, "nothing to enqueue", nil, 9,
			qi{Ready: 2, Head: item(3, "c", 0)}},
		{"negative max deliveries",
			enqueueCmd("Q", -1, "x"), wire.CodeInvalid, "negative", nil, 9,
			qi{Ready: 2, Head: item(3, "c", 0)}},
		{"max deliveries on a dead-letter queue",
			enqueueCmd("Q.dead", 2, "x"), wire.CodeInvalid, "dead-letter queue", nil, 9,
			qi{Ready: 2, Head: item(3, "c", 0)}},
		{"take the rest",
			dequeueCmd("Q", b, 30), wire.OK, "", &wire.DequeueResponse{Item: *item(3, "c", 1)}, 10,
			qi{Ready: 1, InFlight: 1, Head: item(4, "d", 0)}},
		{"take the rest",
			dequeueCmd("Q", b, 30), wire.OK, "", &wire.DequeueResponse{Item: *item(4, "d", 1)}, 11,
			qi{InFlight: 2}},
		{"empty again (with items in flight)",
			dequeueCmd("Q", b, 30), wire.CodeEmpty, `queue "Q" is empty`, nil, 11,
			qi{InFlight: 2}},
	}
	for i, s := range steps {
		var resp any
		if s.resp != nil {
			resp = newOf(s.resp)
		}
		werr, _ := h.Do(s.cmd, resp)
		if s.code == wire.OK {
			require.Nil(t, werr, "step %d (%s)", i, s.desc)
			clearHeader(resp)
			require.Equal(t, s.resp, resp, "step %d (%s)", i, s.desc)
		} else {
			require.NotNil(t, werr, "step %d (%s)", i, s.desc)
			require.Equal(t, s.code, werr.Code, "step %d (%s): %v", i, s.desc, werr)
			require.Contains(t, werr.Message, s.msg, "step %d (%s)", i, s.desc)
		}
		require.Equal(t, s.rev, h.Rev(), "step %d (%s)", i, s.desc)
		require.Equal(t, &s.info, info(t, h, "Q"), "step %d (%s)", i, s.desc)
	}
}

func newOf(v any) any {
	switch v.(type) {
	case *wire.EnqueueResponse:
		return &wire.EnqueueResponse{}
	case *wire.DequeueResponse:
		return &wire.DequeueResponse{}
	case *wire.AckResponse:
		return &wire.AckResponse{}
	}
	panic(fmt.Sprintf("newOf %T", v))
}

func clearHeader(v any) {
	switch r := v.(type) {
	case *wire.EnqueueResponse:
		r.Header = wire.ResponseHeader{}
	case *wire.DequeueResponse:
		r.Header = wire.ResponseHeader{}
	case *wire.AckResponse:
		r.Header = wire.ResponseHeader{}
	}
}

// TestDequeueGrantsVisibilityLease checks the keys a delivery makes: the
// in-flight key attached to a new lease of the visibility TTL, reported
// like a grant, and the consumer marker attached to the consumer's lease;
// an ack deletes both and revokes the visibility lease.
func TestDequeueGrantsVisibilityLease(t *testing.T) {
	h := smtest.New(t)
	a := h.Grant(10)
	h.Must(enqueueCmd("Q", 0, "a"), nil)
	var resp wire.DequeueResponse
	events := h.Must(dequeueCmd("Q", a, 7), &resp)
	require.Len(t, h.Leases, 1, "the visibility lease is reported as a grant")
	vis := h.Leases[0]
	require.Equal(t, statemachine.LeaseChange{ID: vis.ID, TTL: 7}, vis)
	require.Equal(t, resp.Header.Revision, h.Rev())

	f := h.Get(queuerules.InFlightKey("Q", 1), 0)
	require.NotNil(t, f)
	require.Equal(t, vis.ID, f.Lease)
	rec, err := queuerules.DecodeRecord(f.Value)
	require.NoError(t, err)
	require.Equal(t, queuerules.Record{Deliveries: 1, Consumer: a, Visibility: vis.ID, Value: []byte("a")}, rec)
	c := h.Get(queuerules.ConsumerKey("Q", 1), 0)
	require.NotNil(t, c)
	require.Equal(t, a, c.Lease)
	require.Nil(t, h.Get(queuerules.ReadyKey("Q", 1), 0))
	keys, err := h.Shard.LeaseKeys(vis.ID)
	require.NoError(t, err)
	require.Equal(t, [][]byte{queuerules.InFlightKey("Q", 1)}, keys)
	// One revision: the ready key's delete, the in-flight key, the
	// marker, the meta record.
	for _, e := range events {
		require.Equal(t, h.Rev(), e.Kv.ModRevision)
	}

	h.Must(ackCmd("Q", 1, 1, false), nil)
	require.Equal(t, []statemachine.LeaseChange{{ID: vis.ID, TTL: 7, Revoked: true}}, h.Leases)
	_, found, err := h.Shard.Lease(vis.ID)
	require.NoError(t, err)
	require.False(t, found)
	require.Empty(t, h.Keys(queuerules.InFlightPrefix("Q"), 0))
	require.Empty(t, h.Keys(queuerules.ConsumerPrefix("Q"), 0))
	_, found, err = h.Shard.Lease(a)
	require.NoError(t, err)
	require.True(t, found, "the consumer's lease lives on")
}

// requireOneRevision checks that events are all of the shard's current
// revision.
func requireOneRevision(t *testing.T, h *smtest.Harness, events []wire.Event) {
	t.Helper()
	require.NotEmpty(t, events)
	for _, e := range events {
		require.Equal(t, h.Rev(), e.Kv.ModRevision, "event %v %q", e.Type, e.Kv.Key)
	}
}

// hasPut reports whether events put key.
func hasPut(events []wire.Event, key []byte) bool {
	for _, e := range events {
		if e.Type == wire.EventPut && bytes.Equal(e.Kv.Key, key) {
			return true
		}
	}
	return false
}

// TestConsumerLeaseRevoke: a consumer's lease ends (a crash): its items go
// back to the head with their deliveries, in the revoke's revision, their
// in-flight keys are deleted and their visibility leases revoked.
func TestConsumerLeaseRevoke(t *testing.T) {
	h := smtest.New(t)
	a, b := h.Grant(10), h.Grant(10)
	h.Must(enqueueCmd("Q", 0, "1", "2", "3", "4"), nil)
	require.EqualValues(t, 1, dequeue(t, h, "Q", a).Seq)
	require.EqualValues(t, 2, dequeue(t, h, "Q", b).Seq)
	require.EqualValues(t, 3, dequeue(t, h, "Q", a).Seq)
	vis1, vis3 := visibility(t, h, "Q", 1), visibility(t, h, "Q", 3)

	events := h.Revoke(a)
	requireOneRevision(t, h, events)
	require.True(t, hasPut(events, queuerules.ReadyKey("Q", 1)), "a put on the ready prefix wakes a waiting consumer")
	require.True(t, hasPut(events, queuerules.ReadyKey("Q", 3)))
	revoked := map[int64]bool{}
	for _, c := range h.Leases {
		require.True(t, c.Revoked)
		revoked[c.ID] = true
	}
	require.Equal(t, map[int64]bool{a: true, vis1: true, vis3: true}, revoked)
	require.Equal(t, &wire.QueueInfoResponse{Ready: 3, InFlight: 1, Head: item(1, "1", 1)}, info(t, h, "Q"))
	require.Len(t, h.Keys(queuerules.InFlightPrefix("Q"), 0), 1)
	require.Len(t, h.Keys(queuerules.ConsumerPrefix("Q"), 0), 1)

	// FIFO among deliveries: 1 and 3 before 4, with their counts.
	require.Equal(t, *item(1, "1", 2), dequeue(t, h, "Q", b))
	require.Equal(t, *item(3, "3", 2), dequeue(t, h, "Q", b))
	require.Equal(t, *item(4, "4", 1), dequeue(t, h, "Q", b))
}

// TestVisibilityLeaseRevoke: the visibility lease expires (the lessor's
// revoke): the item goes back to the head with its deliveries, its
// consumer marker is deleted, the consumer's lease lives on.
func TestVisibilityLeaseRevoke(t *testing.T) {
	h := smtest.New(t)
	a := h.Grant(10)
	h.Must(enqueueCmd("Q", 0, "1", "2"), nil)
	require.EqualValues(t, 1, dequeue(t, h, "Q", a).Seq)
	vis := visibility(t, h, "Q", 1)
	events := h.Must(statemachine.NewCommand(statemachine.OpLeaseRevoke, &statemachine.LeaseRevoke{ID: vis, Expire: true}), nil)
	requireOneRevision(t, h, events)
	require.True(t, hasPut(events, queuerules.ReadyKey("Q", 1)))
	require.Equal(t, []statemachine.LeaseChange{{ID: vis, TTL: 30, Revoked: true}}, h.Leases)
	require.Empty(t, h.Keys(queuerules.ConsumerPrefix("Q"), 0))
	require.Empty(t, h.Keys(queuerules.InFlightPrefix("Q"), 0))
	keys, err := h.Shard.LeaseKeys(a)
	require.NoError(t, err)
	require.Empty(t, keys)
	require.Equal(t, &wire.QueueInfoResponse{Ready: 2, Head: item(1, "1", 1)}, info(t, h, "Q"))

	// The late ack of the timed-out delivery fails; the redelivery is
	// the second.
	werr, _ := h.Do(ackCmd("Q", 1, 1, false), nil)
	require.NotNil(t, werr)
	require.Equal(t, wire.CodeNotFound, werr.Code)
	require.Equal(t, *item(1, "1", 2), dequeue(t, h, "Q", a))
	werr, _ = h.Do(ackCmd("Q", 1, 1, false), nil)
	require.NotNil(t, werr)
	require.Equal(t, wire.CodeNotFound, werr.Code, "delivery 1 timed out; 2 is in flight")
	h.Must(ackCmd("Q", 1, 2, false), nil)
}

// TestDeadLetter: an item whose last allowed delivery ends unacked (nack,
// visibility timeout, consumer's lease) goes to NAME.dead, in the same
// command, as a new item there with its deliveries reset; NAME.dead is an
// ordinary queue in the same shard.
func TestDeadLetter(t *testing.T) {
	h := smtest.New(t)
	a := h.Grant(10)
	h.Must(enqueueCmd("Q", 2, "x", "y", "z"), nil)
	h.Must(enqueueCmd("Q", 0, "unlimited"), nil)

	// x: delivery 1 nacked, delivery 2 times out → dead.
	require.Equal(t, *item(1, "x", 1), dequeue(t, h, "Q", a))
	h.Must(ackCmd("Q", 1, 1, true), nil)
	require.Equal(t, *item(1, "x", 2), dequeue(t, h, "Q", a))
	events := h.Must(statemachine.NewCommand(statemachine.OpLeaseRevoke, &statemachine.LeaseRevoke{ID: visibility(t, h, "Q", 1)}), nil)
	requireOneRevision(t, h, events)
	require.False(t, hasPut(events, queuerules.ReadyKey("Q", 1)))
	require.True(t, hasPut(events, queuerules.ReadyKey("Q.dead", 1)))
	require.Equal(t, &wire.QueueInfoResponse{Ready: 3, Head: item(2, "y", 0)}, info(t, h, "Q"))
	require.Equal(t, &wire.QueueInfoResponse{Ready: 1, Head: item(1, "x", 0)}, info(t, h, "Q.dead"))

	// y: delivery 2 ends with its consumer's lease → dead.
	require.Equal(t, *item(2, "y", 1), dequeue(t, h, "Q", a))
	h.Must(ackCmd("Q", 2, 0, true), nil)
	require.Equal(t, *item(2, "y", 2), dequeue(t, h, "Q", a))
	h.Revoke(a)
	require.Equal(t, &wire.QueueInfoResponse{Ready: 2, Head: item(3, "z", 0)}, info(t, h, "Q"))
	require.Equal(t, &wire.QueueInfoResponse{Ready: 2, Head: item(1, "x", 0)}, info(t, h, "Q.dead"))

	// z: delivery 2 nacked → dead.
	b := h.Grant(10)
	require.Equal(t, *item(3, "z", 1), dequeue(t, h, "Q", b))
	h.Must(ackCmd("Q", 3, 0, true), nil)
	require.Equal(t, *item(3, "z", 2), dequeue(t, h, "Q", b))
	h.Must(ackCmd("Q", 3, 0, true), nil)
	require.Equal(t, &wire.QueueInfoResponse{Ready: 1, Head: item(4, "unlimited", 0)}, info(t, h, "Q"))

	// An item without a limit comes back for ever.
	for d := int64(1); d <= 5; d++ {
		require.Equal(t, *item(4, "unlimited", d), dequeue(t, h, "Q", b))
		h.Must(ackCmd("Q", 4, d, true), nil)
	}

	// The dead-letter queue: dequeue, nack (no dead-letter queue of its
	// own: it comes back), ack, as any queue.
	require.Equal(t, *item(1, "x", 1), dequeue(t, h, "Q.dead", b))
	h.Must(ackCmd("Q.dead", 1, 1, true), nil)
	require.Equal(t, *item(1, "x", 2), dequeue(t, h, "Q.dead", b))
	h.Must(ackCmd("Q.dead", 1, 2, false), nil)
	require.Equal(t, *item(2, "y", 1), dequeue(t, h, "Q.dead", b))
	require.Equal(t, *item(3, "z", 1), dequeue(t, h, "Q.dead", b))
	require.Equal(t, &wire.QueueInfoResponse{InFlight: 2}, info(t, h, "Q.dead"))
	for _, kv := range h.Keys(queuerules.Prefix("Q.dead"), 0) {
		require.True(t, bytes.HasPrefix(kv.Key, []byte("\x00coord/queue/{Q}/dead/")), "%q", kv.Key)
	}
}

// TestReturnedItemsOrder: several items come back in any order; they are
// redelivered by sequence number, ahead of items never delivered, also
// across a compaction (the tombstones of acked items gone).
func TestReturnedItemsOrder(t *testing.T) {
	for _, compact := range []bool{false, true} {
		t.Run(fmt.Sprintf("compact=%v", compact), func(t *testing.T) {
			h := smtest.New(t)
			a := h.Grant(10)
			h.Must(enqueueCmd("Q", 0, "1", "2", "3", "4", "5", "6", "7", "8"), nil)
			for s := int64(1); s <= 6; s++ {
				require.EqualValues(t, s, dequeue(t, h, "Q", a).Seq)
			}
			h.Must(ackCmd("Q", 1, 0, false), nil)
			h.Must(ackCmd("Q", 3, 0, false), nil)
			h.Must(ackCmd("Q", 5, 0, true), nil)
			h.Must(ackCmd("Q", 2, 0, true), nil)
			if compact {
				h.Compact()
			}
			require.EqualValues(t, 2, dequeue(t, h, "Q", a).Seq)
			h.Must(ackCmd("Q", 6, 0, true), nil)
			h.Must(ackCmd("Q", 4, 0, true), nil)
			if compact {
				h.Compact()
			}
			var got []int64
			for range 5 {
				got = append(got, dequeue(t, h, "Q", a).Seq)
			}
			require.Equal(t, []int64{4, 5, 6, 7, 8}, got)
			werr, _ := h.Do(dequeueCmd("Q", a, 30), nil)
			require.NotNil(t, werr)
			require.Equal(t, wire.CodeEmpty, werr.Code)
			require.Equal(t, &wire.QueueInfoResponse{InFlight: 6}, info(t, h, "Q"))
		})
	}
}

// TestSeqsNeverReused: a drained queue continues its sequence.
func TestSeqsNeverReused(t *testing.T) {
	h := smtest.New(t)
	a := h.Grant(10)
	h.Must(enqueueCmd("Q", 0, "a", "b"), nil)
	for s := int64(1); s <= 2; s++ {
		dequeue(t, h, "Q", a)
		h.Must(ackCmd("Q", s, 0, false), nil)
	}
	h.Compact()
	var resp wire.EnqueueResponse
	h.Must(enqueueCmd("Q", 0, "c"), &resp)
	require.Equal(t, []int64{3}, resp.Seqs)
}

func TestQueueNames(t *testing.T) {
	for _, n := range []string{"Q", "jobs-1", "Q.dead", "a.b", ".x", "a/b", "a/b.dead", "a/", "/", strings.Repeat("n", 256), strings.Repeat("n", 256) + ".dead"} {
		require.NoError(t, queuerules.ValidateName(n), "%q", n)
	}
	for _, n := range []string{"", ".dead", "Q.dead.dead", "a/b.dead.dead", "{Q}", "a{b", "a}", "a/}.dead", strings.Repeat("n", 257)} {
		err := queuerules.ValidateName(n)
		require.Error(t, err, "%q", n)
		var werr *wire.Error
		require.ErrorAs(t, err, &werr)
		require.Equal(t, wire.CodeInvalid, werr.Code)
	}
	require.Equal(t, "\x00coord/queue/{jobs}/", string(queuerules.Prefix("jobs")))
	require.Equal(t, "\x00coord/queue/{jobs}/dead/", string(queuerules.Prefix("jobs.dead")))
	require.Equal(t, "\x00coord/queue/{jobs}/r/", string(queuerules.ReadyPrefix("jobs")))
	require.Equal(t, "\x00coord/queue/{jobs}/dead/r/", string(queuerules.ReadyPrefix("jobs.dead")))
	require.Equal(t, "\x00coord/queue/{jobs}/m", string(queuerules.MetaKey("jobs")))
	require.Equal(t, "\x00coord/queue/{jobs}/f/\x00\x00\x00\x00\x00\x00\x01\x02", string(queuerules.InFlightKey("jobs", 258)))
	require.Equal(t, "\x00coord/queue/{jobs}/c/\x00\x00\x00\x00\x00\x00\x00\x07", string(queuerules.ConsumerKey("jobs", 7)))
	require.Equal(t, "\x00coord/queue/{jobs}/dead/r/\x00\x00\x00\x00\x00\x00\x00\x01", string(queuerules.ReadyKey("jobs.dead", 1)))
}

func TestRecordEncoding(t *testing.T) {
	for _, r := range []queuerules.Record{
		{},
		{Deliveries: 3, MaxDeliveries: 5, Value: []byte("v")},
		{Deliveries: 1 << 40, Consumer: 1<<63 - 1, Visibility: 12345, Value: []byte{0, 1, 2}},
	} {
		got, err := queuerules.DecodeRecord(r.EncodeReady())
		require.NoError(t, err)
		want := queuerules.Record{Deliveries: r.Deliveries, MaxDeliveries: r.MaxDeliveries, Value: r.Value}
		if want.Value == nil {
			want.Value = []byte{}
		}
		require.Equal(t, want, got)
		got, err = queuerules.DecodeRecord(r.EncodeInFlight())
		require.NoError(t, err)
		want.Consumer, want.Visibility = r.Consumer, r.Visibility
		require.Equal(t, want, got)
	}
	for _, bad := range [][]byte{nil, {0}, {9, 1, 1}, {1}, {1, 0x80}, {2, 1, 1, 1}} {
		_, err := queuerules.DecodeRecord(bad)
		require.ErrorIs(t, err, queuerules.ErrCorrupt, "%x", bad)
		require.ErrorIs(t, err, corruption.ErrCorruption, "%x", bad)
	}
	m := queuerules.Meta{Next: 10, Fresh: 7, Ready: 5, InFlight: 2, RetLow: 3}
	got, err := queuerules.DecodeMeta(m.Encode())
	require.NoError(t, err)
	require.Equal(t, m, got)
	require.EqualValues(t, 2, got.Returned())
	for _, bad := range []queuerules.Meta{{}, {Next: 1, Fresh: 2}, {Next: 5, Fresh: 2, Ready: 1}} {
		_, err := queuerules.DecodeMeta(bad.Encode())
		require.ErrorIs(t, err, queuerules.ErrCorrupt, "%+v", bad)
	}
}

// TestDocExample replays the worked example of the package doc.
func TestDocExample(t *testing.T) {
	h := smtest.New(t)
	a, b := h.Grant(10), h.Grant(10)
	meta := func(name string) queuerules.Meta {
		kv := h.Get(queuerules.MetaKey(name), 0)
		require.NotNil(t, kv)
		m, err := queuerules.DecodeMeta(kv.Value)
		require.NoError(t, err)
		return m
	}
	var enq wire.EnqueueResponse
	h.Must(enqueueCmd("jobs", 2, "x", "y", "z"), &enq)
	require.Equal(t, []int64{1, 2, 3}, enq.Seqs)
	require.EqualValues(t, 2, h.Rev())
	require.Equal(t, queuerules.Meta{Next: 4, Fresh: 1, Ready: 3}, meta("jobs"))
	require.Equal(t, *item(1, "x", 1), dequeue(t, h, "jobs", a))
	require.EqualValues(t, 3, h.Rev())
	require.Equal(t, queuerules.Meta{Next: 4, Fresh: 2, Ready: 2, InFlight: 1}, meta("jobs"))
	v1 := visibility(t, h, "jobs", 1)
	require.Equal(t, *item(2, "y", 1), dequeue(t, h, "jobs", b))
	h.Must(ackCmd("jobs", 2, 1, false), nil)
	require.EqualValues(t, 5, h.Rev())
	h.Must(statemachine.NewCommand(statemachine.OpLeaseRevoke, &statemachine.LeaseRevoke{ID: v1, Expire: true}), nil)
	require.EqualValues(t, 6, h.Rev())
	require.Equal(t, queuerules.Meta{Next: 4, Fresh: 3, Ready: 2, RetLow: 1}, meta("jobs"))
	require.Equal(t, *item(1, "x", 2), dequeue(t, h, "jobs", b))
	h.Revoke(b)
	require.EqualValues(t, 8, h.Rev())
	require.Equal(t, queuerules.Meta{Next: 2, Fresh: 1, Ready: 1}, meta("jobs.dead"))
	require.Equal(t, *item(1, "x", 1), dequeue(t, h, "jobs.dead", a))
	werr, _ := h.Do(ackCmd("jobs", 1, 0, false), nil)
	require.NotNil(t, werr)
	require.Equal(t, `item 1 of queue "jobs" is not in flight (acked, or redelivered after its visibility timeout)`, werr.Message)
}

func ownedDequeueCmd(name string, lease int64, receipt wire.Receipt) *statemachine.Command {
	return statemachine.NewCommand(queuerules.OpDequeue, &wire.DequeueRequest{Name: name, Lease: lease, VisibilitySeconds: 30, Receipt: receipt})
}

func receiptAckCmd(name string, seq, deliveries int64, receipt wire.Receipt, nack bool) *statemachine.Command {
	return statemachine.NewCommand(queuerules.OpAck, &wire.AckRequest{Name: name, Seq: seq, Deliveries: deliveries, Receipt: receipt, Nack: nack})
}

// TestAckNeedsReceipt: only the delivery's receipt completes or returns an
// item in flight. An ack without it, or with another (a forged one, another
// delivery's), is CodeNotOwner and writes nothing; an ack of a delivery that
// timed out is CodeNotFound when it names its delivery. The in-flight record
// keeps only the receipt's hash.
func TestAckNeedsReceipt(t *testing.T) {
	h := smtest.New(t)
	a, b := h.Grant(10), h.Grant(10)
	const r1, r2, r3 = wire.Receipt(0x1111), wire.Receipt(0x2222), wire.Receipt(0x3333)
	h.Must(enqueueCmd("Q", 0, "x", "y"), nil)
	var d wire.DequeueResponse
	h.Must(ownedDequeueCmd("Q", a, r1), &d)
	require.Equal(t, wire.QueueItem{Seq: 1, Value: []byte("x"), Deliveries: 1, Receipt: r1}, d.Item, "the answer carries the receipt")
	f := h.Get(queuerules.InFlightKey("Q", 1), 0)
	require.NotNil(t, f)
	rec, err := queuerules.DecodeRecord(f.Value)
	require.NoError(t, err)
	require.Equal(t, queuerules.ReceiptHash(r1), rec.ReceiptHash)
	require.NotZero(t, rec.ReceiptHash)
	require.False(t, bytes.Contains(f.Value, []byte{0x11, 0x11}), "the record keeps the receipt's hash, not the receipt: %x", f.Value)
	h.Must(ownedDequeueCmd("Q", b, r2), &d)

	rev, before := h.Rev(), info(t, h, "Q")
	refused := []struct {
		desc string
		cmd  *statemachine.Command
		code wire.Code
		msg  string
	}{
		{"no receipt", receiptAckCmd("Q", 1, 1, 0, false), wire.CodeNotOwner,
			`item 1 of queue "Q" is in flight: only its consumer may ack it`},
		{"no receipt, any delivery", receiptAckCmd("Q", 1, 0, 0, false), wire.CodeNotOwner, "only its consumer"},
		{"a forged receipt", receiptAckCmd("Q", 1, 1, r1+1, false), wire.CodeNotOwner,
			`receipt 0000000000001112 is not that of the delivery of item 1 of queue "Q" in flight`},
		{"another delivery's receipt", receiptAckCmd("Q", 1, 1, r2, false), wire.CodeNotOwner, "only its consumer"},
		{"a nack without the receipt", receiptAckCmd("Q", 1, 1, 0, true), wire.CodeNotOwner, "only its consumer"},
		{"a nack with a wrong receipt", receiptAckCmd("Q", 1, 1, r2, true), wire.CodeNotOwner, "only its consumer"},
		{"another delivery named: not found first", receiptAckCmd("Q", 1, 2, r1, false), wire.CodeNotFound,
			`delivery 2 of item 1 of queue "Q" is not in flight`},
	}
	for _, s := range refused {
		werr, events := h.Do(s.cmd, nil)
		require.NotNil(t, werr, s.desc)
		require.Equal(t, s.code, werr.Code, "%s: %v", s.desc, werr)
		require.Contains(t, werr.Message, s.msg, s.desc)
		require.Empty(t, events, "%s: nothing written", s.desc)
		require.Equal(t, rev, h.Rev(), s.desc)
		require.Equal(t, before, info(t, h, "Q"), s.desc)
	}

	// Item 1's delivery times out: it comes back and is handed on with a
	// new receipt; the old one completes nothing.
	h.Revoke(rec.Visibility)
	h.Must(ownedDequeueCmd("Q", b, r3), &d)
	require.Equal(t, wire.QueueItem{Seq: 1, Value: []byte("x"), Deliveries: 2, Receipt: r3}, d.Item)
	werr, _ := h.Do(receiptAckCmd("Q", 1, 1, r1, false), nil)
	require.Equal(t, wire.CodeNotFound, werr.Code, "the timed-out delivery, named: %v", werr)
	werr, _ = h.Do(receiptAckCmd("Q", 1, 0, r1, false), nil)
	require.Equal(t, wire.CodeNotOwner, werr.Code, "the timed-out delivery's receipt alone: %v", werr)

	// The receipts in flight complete their deliveries.
	h.Must(receiptAckCmd("Q", 1, 0, r3, false), nil)
	h.Must(receiptAckCmd("Q", 2, 1, r2, true), nil)
	require.Equal(t, &wire.QueueInfoResponse{Ready: 1, Head: item(2, "y", 1)}, info(t, h, "Q"), "nacked: back at the head")
}

// TestAckWithoutReceiptRecord: a delivery made by a command without a
// receipt (proposed before receipts existed, and replayed from the log)
// keeps the record layout of then, and any ack completes it, as then.
func TestAckWithoutReceiptRecord(t *testing.T) {
	h := smtest.New(t)
	a := h.Grant(10)
	h.Must(enqueueCmd("Q", 0, "x"), nil)
	it := dequeue(t, h, "Q", a)
	require.Zero(t, it.Receipt)
	f := h.Get(queuerules.InFlightKey("Q", 1), 0)
	require.Equal(t, byte(2), f.Value[0], "the version without a receipt")
	h.Must(receiptAckCmd("Q", 1, 1, 0x77, false), nil)
}

// TestOwnedRecordEncoding: in-flight records with and without a receipt.
func TestOwnedRecordEncoding(t *testing.T) {
	owned := queuerules.Record{Deliveries: 3, MaxDeliveries: 5, Consumer: 7, Visibility: 9, ReceiptHash: 1 << 63, Value: []byte("v")}
	b := owned.EncodeInFlight()
	require.Equal(t, byte(3), b[0])
	got, err := queuerules.DecodeRecord(b)
	require.NoError(t, err)
	require.Equal(t, owned, got)

	plain := owned
	plain.ReceiptHash = 0
	b = plain.EncodeInFlight()
	require.Equal(t, []byte{2, 3, 5, 7, 9, 'v'}, b, "no receipt: the layout of version 2")
	got, err = queuerules.DecodeRecord(b)
	require.NoError(t, err)
	require.Equal(t, plain, got)

	_, err = queuerules.DecodeRecord([]byte{3, 3, 5, 7, 9, 0, 'v'})
	require.ErrorIs(t, err, queuerules.ErrCorrupt, "version 3 with no receipt hash")
	_, err = queuerules.DecodeRecord([]byte{4, 1, 0})
	require.ErrorIs(t, err, queuerules.ErrCorrupt)
	require.NotEqual(t, queuerules.ReceiptHash(1), queuerules.ReceiptHash(2))
	require.Zero(t, queuerules.ReceiptHash(0))
}
