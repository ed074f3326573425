package queuerules_test

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/queue/queuerules"
	"github.com/coord-io/coord/statemachine"
	"github.com/coord-io/coord/statemachine/smtest"
)

// model is the queue as a test sees it: ready items by seq, in-flight
// ones with their consumer, the dead-letter queue's values in order.
type model struct {
	next     int64
	ready    map[int64]modelItem
	inFlight map[int64]modelItem
	dead     []string
}

type modelItem struct {
	value         string
	deliveries    int64
	maxDeliveries int64
	consumer      int64
	visibility    int64
}

func (m *model) head() (int64, bool) {
	var best int64
	for s := range m.ready {
		if best == 0 || s < best {
			best = s
		}
	}
	return best, best != 0
}

// back returns in-flight item seq: to the ready items, or to the dead.
func (m *model) back(seq int64) {
	it := m.inFlight[seq]
	delete(m.inFlight, seq)
	if it.maxDeliveries > 0 && it.deliveries >= it.maxDeliveries {
		m.dead = append(m.dead, it.value)
		return
	}
	it.consumer, it.visibility = 0, 0
	m.ready[seq] = it
}

// TestQueueRandomHistory applies a seeded random history of enqueues,
// dequeues by several consumers, acks, nacks (some stale), consumer
// crashes (lease revokes), visibility timeouts (visibility lease
// revokes) and compactions, and checks every step against a model: the
// item delivered is the model's head with its delivery count, counts
// and head agree, nothing is lost or duplicated, and the dead-letter
// queue gets exactly the items out of deliveries.
func TestQueueRandomHistory(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	defer func() {
		if t.Failed() {
			t.Logf("reproduce with seed %d", seed)
		}
	}()
	rng := rand.New(rand.NewSource(seed))
	h := smtest.New(t)
	m := &model{next: 1, ready: map[int64]modelItem{}, inFlight: map[int64]modelItem{}}
	consumers := []int64{h.Grant(10), h.Grant(10), h.Grant(10)}
	steps := 1000
	if testing.Short() {
		steps = 400
	}
	counts := map[string]int{}
	for i := 0; i < steps; i++ {
		// Phases of 100 steps: producers ahead, then consumers ahead, so
		// the queue both grows and runs empty.
		enqueueP := 30
		if i/100%2 == 1 {
			enqueueP = 3
		}
		switch r := rng.Intn(100); {
		case r < enqueueP:
			n := 1 + rng.Intn(3)
			maxD := int64(rng.Intn(4))
			vals := make([]string, n)
			for j := range vals {
				vals[j] = fmt.Sprintf("v%d", m.next+int64(j))
			}
			var resp wire.EnqueueResponse
			h.Must(enqueueCmd("Q", maxD, vals...), &resp)
			for j, s := range resp.Seqs {
				require.Equal(t, m.next, s)
				m.ready[s] = modelItem{value: vals[j], maxDeliveries: maxD}
				m.next++
			}
			counts["enqueue"]++
		case r < enqueueP+35:
			c := consumers[rng.Intn(len(consumers))]
			var resp wire.DequeueResponse
			werr, _ := h.Do(dequeueCmd("Q", c, 30), &resp)
			s, ok := m.head()
			if !ok {
				require.NotNil(t, werr, "step %d", i)
				require.Equal(t, wire.CodeEmpty, werr.Code)
				counts["empty"]++
				continue
			}
			require.Nil(t, werr, "step %d", i)
			it := m.ready[s]
			delete(m.ready, s)
			it.deliveries++
			it.consumer = c
			it.visibility = visibility(t, h, "Q", s)
			m.inFlight[s] = it
			require.Equal(t, wire.QueueItem{Seq: s, Value: []byte(it.value), Deliveries: it.deliveries}, resp.Item, "step %d", i)
			counts["dequeue"]++
		case r < enqueueP+55:
			s, it, ok := pick(rng, m.inFlight)
			if !ok || rng.Intn(8) == 0 {
				// A stale or unknown ack.
				s := int64(rng.Intn(int(m.next) + 1))
				d := int64(1 + rng.Intn(3))
				if cur, ok := m.inFlight[s]; ok && cur.deliveries == d {
					continue
				}
				werr, _ := h.Do(ackCmd("Q", s, d, rng.Intn(2) == 0), nil)
				require.NotNil(t, werr, "step %d", i)
				require.Equal(t, wire.CodeNotFound, werr.Code)
				counts["stale ack"]++
				continue
			}
			nack := rng.Intn(3) == 0
			h.Must(ackCmd("Q", s, it.deliveries, nack), nil)
			if nack {
				m.back(s)
				counts["nack"]++
			} else {
				delete(m.inFlight, s)
				counts["ack"]++
			}
		case r < enqueueP+59:
			// A visibility timeout.
			s, it, ok := pick(rng, m.inFlight)
			if !ok {
				continue
			}
			h.Must(statemachine.NewCommand(statemachine.OpLeaseRevoke, &statemachine.LeaseRevoke{ID: it.visibility, Expire: true}), nil)
			m.back(s)
			counts["timeout"]++
		case r < enqueueP+61:
			// A consumer crashes; a new one takes its place.
			j := rng.Intn(len(consumers))
			c := consumers[j]
			h.Revoke(c)
			var seqs []int64
			for s, it := range m.inFlight {
				if it.consumer == c {
					seqs = append(seqs, s)
				}
			}
			sort.Slice(seqs, func(a, b int) bool { return seqs[a] < seqs[b] })
			for _, s := range seqs {
				m.back(s)
			}
			consumers[j] = h.Grant(10)
			counts["crash"]++
		case r < enqueueP+63:
			h.Compact()
			counts["compact"]++
		case r < enqueueP+64:
			// A consumer drains the ready items (acking them): the queue
			// runs empty.
			c := consumers[rng.Intn(len(consumers))]
			for {
				s, ok := m.head()
				var resp wire.DequeueResponse
				werr, _ := h.Do(dequeueCmd("Q", c, 30), &resp)
				if !ok {
					require.NotNil(t, werr, "step %d", i)
					require.Equal(t, wire.CodeEmpty, werr.Code)
					break
				}
				require.Nil(t, werr, "step %d", i)
				require.Equal(t, s, resp.Item.Seq, "step %d", i)
				require.Equal(t, m.ready[s].deliveries+1, resp.Item.Deliveries)
				delete(m.ready, s)
				h.Must(ackCmd("Q", s, resp.Item.Deliveries, false), nil)
			}
			counts["empty"]++
		default:
			// Nothing but a check.
		}
		checkModel(t, h, m, i)
	}
	t.Logf("%v", counts)
	for _, k := range []string{"enqueue", "dequeue", "ack", "nack", "timeout", "crash", "empty", "stale ack"} {
		require.Positive(t, counts[k], k)
	}
}

func pick(rng *rand.Rand, items map[int64]modelItem) (int64, modelItem, bool) {
	if len(items) == 0 {
		return 0, modelItem{}, false
	}
	seqs := make([]int64, 0, len(items))
	for s := range items {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(a, b int) bool { return seqs[a] < seqs[b] })
	s := seqs[rng.Intn(len(seqs))]
	return s, items[s], true
}

func checkModel(t *testing.T, h *smtest.Harness, m *model, step int) {
	t.Helper()
	want := &wire.QueueInfoResponse{Ready: int64(len(m.ready)), InFlight: int64(len(m.inFlight))}
	if s, ok := m.head(); ok {
		it := m.ready[s]
		want.Head = item(s, it.value, it.deliveries)
	}
	require.Equal(t, want, info(t, h, "Q"), "step %d", step)
	require.Len(t, h.Keys(queuerules.ReadyPrefix("Q"), 0), len(m.ready), "step %d", step)
	require.Len(t, h.Keys(queuerules.InFlightPrefix("Q"), 0), len(m.inFlight), "step %d", step)
	require.Len(t, h.Keys(queuerules.ConsumerPrefix("Q"), 0), len(m.inFlight), "step %d", step)
	dead := h.Keys(queuerules.ReadyPrefix("Q.dead"), 0)
	require.Len(t, dead, len(m.dead), "step %d", step)
	for i, kv := range dead {
		r, err := queuerules.DecodeRecord(kv.Value)
		require.NoError(t, err)
		require.Equal(t, m.dead[i], string(r.Value), "step %d", step)
		require.Zero(t, r.Deliveries)
	}
	// Every lease left is a consumer's or an in-flight item's.
	ls, err := h.Shard.Leases()
	require.NoError(t, err)
	require.Len(t, ls, 3+len(m.inFlight), "step %d: visibility leases are revoked with their items", step)
}

// TestLargeQueue enqueues 200,000 items in batches of 1,000 and takes,
// acks, nacks and times out some of them at both ends of the queue: the
// time of a dequeue does not grow with the queue's length (the head is
// found from the meta record, not by a scan), nor with the number of
// items taken before (their tombstones are not walked).
func TestLargeQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("200,000 items")
	}
	h := smtest.New(t)
	a := h.Grant(60)
	const total, batch = 200_000, 1_000
	vals := make([]string, batch)
	start := time.Now()
	for n := 0; n < total; n += batch {
		for j := range vals {
			vals[j] = fmt.Sprintf("item-%07d", n+j+1)
		}
		h.Must(enqueueCmd("big", 0, vals...), nil)
	}
	t.Logf("enqueued %d items in %v", total, time.Since(start))
	require.Equal(t, &wire.QueueInfoResponse{Ready: total, Head: item(1, "item-0000001", 0)}, info(t, h, "big"))

	round := func(n int, from int64) time.Duration {
		start := time.Now()
		for s := from; s < from+int64(n); s++ {
			it := dequeue(t, h, "big", a)
			require.Equal(t, s, it.Seq)
			h.Must(ackCmd("big", s, 1, false), nil)
		}
		return time.Since(start)
	}
	first := round(2000, 1)
	// Items taken and not acked: returned by a nack and a timeout after
	// many more were taken, then redelivered ahead of the rest.
	x, y := dequeue(t, h, "big", a), dequeue(t, h, "big", a)
	second := round(2000, y.Seq+1)
	h.Must(ackCmd("big", y.Seq, 0, true), nil)
	h.Must(statemachine.NewCommand(statemachine.OpLeaseRevoke, &statemachine.LeaseRevoke{ID: visibility(t, h, "big", x.Seq), Expire: true}), nil)
	require.Equal(t, *item(x.Seq, string(x.Value), 2), dequeue(t, h, "big", a))
	require.Equal(t, *item(y.Seq, string(y.Value), 2), dequeue(t, h, "big", a))
	h.Must(ackCmd("big", x.Seq, 2, false), nil)
	h.Must(ackCmd("big", y.Seq, 2, false), nil)
	third := round(2000, y.Seq+2001)
	t.Logf("2000 dequeue+ack: at the head %v, after 2000 taken %v, after redeliveries %v", first, second, third)
	require.Less(t, third, 4*first+time.Second, "dequeues do not slow down as the queue is consumed")
	got := info(t, h, "big")
	require.EqualValues(t, total-6002, got.Ready)
	require.EqualValues(t, 0, got.InFlight)
	require.EqualValues(t, y.Seq+4001, got.Head.Seq)
}

// BenchmarkEnqueueDequeueAck is one item's life through a real shard:
// three commands (enqueue, dequeue granting a visibility lease, ack
// revoking it), each its own batch, on a queue holding 10,000 items.
func BenchmarkEnqueueDequeueAck(b *testing.B) {
	h := smtest.New(b)
	a := h.Grant(60)
	vals := make([]string, 10_000)
	for i := range vals {
		vals[i] = "backlog"
	}
	h.Must(enqueueCmd("bench", 0, vals...), nil)
	value := string(make([]byte, 100))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.Must(enqueueCmd("bench", 0, value), nil)
		var resp wire.DequeueResponse
		h.Must(dequeueCmd("bench", a, 30), &resp)
		h.Must(ackCmd("bench", resp.Item.Seq, resp.Item.Deliveries, false), nil)
	}
}

// BenchmarkEnqueueDequeueAckBatched is the same in batches of 100 items'
// commands per Apply (300 entries), as Raft delivers them under load.
func BenchmarkEnqueueDequeueAckBatched(b *testing.B) {
	h := smtest.New(b)
	a := h.Grant(60)
	value := string(make([]byte, 100))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		n := min(100, b.N-i)
		var cmds []*statemachine.Command
		for range n {
			cmds = append(cmds, enqueueCmd("bench", 0, value))
		}
		h.Apply(cmds...)
		cmds = cmds[:0]
		for range n {
			cmds = append(cmds, dequeueCmd("bench", a, 30))
		}
		rs, _ := h.Apply(cmds...)
		cmds = cmds[:0]
		for _, r := range rs {
			var resp wire.DequeueResponse
			require.Nil(b, smtest.Decode(b, r, &resp))
			cmds = append(cmds, ackCmd("bench", resp.Item.Seq, resp.Item.Deliveries, false))
		}
		h.Apply(cmds...)
	}
}
