package fault

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"time"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/queue"
)

// QueueEvent is one step of a queue client, recorded for the checker.
//
//   - "enqueue": Enqueue of Value (one value per call) returned. Outcome
//     "ok" (Seq assigned) or "unknown" (any error: the value may or may
//     not be in the queue, so it is never counted as lost).
//   - "deliver": a Dequeue handed Value (Seq, delivery number Deliveries)
//     to Consumer (one id per consumer session). Outcome is what became
//     of the delivery: "acked" (Ack returned nil), "superseded" (Ack
//     failed with ErrNotFound: the delivery had timed out or its session
//     ended, and the item was handed on), "unknown" (Ack failed otherwise,
//     say a timeout: it may have been applied) or "crashed" (the consumer
//     orphaned its session and never acked).
type QueueEvent struct {
	Kind       string `json:"kind"`
	Client     int    `json:"client"`
	Consumer   int64  `json:"consumer,omitempty"`
	Value      string `json:"value"`
	Seq        int64  `json:"seq,omitempty"`
	Deliveries int64  `json:"deliveries,omitempty"`
	Outcome    string `json:"outcome"`
	Call       int64  `json:"call"`   // ns since the history started
	Return     int64  `json:"return"` // ns since the history started
}

// QueueHistory is everything one queue scenario recorded. Drained tells
// whether the queue was seen empty (ready and in flight both 0) after the
// faults healed; Ready and InFlight are its last known length.
type QueueHistory struct {
	Events   []QueueEvent `json:"events"`
	Drained  bool         `json:"drained"`
	Ready    int64        `json:"ready"`
	InFlight int64        `json:"inFlight"`
}

// CheckQueue checks a queue history taken after the queue was drained and
// returns one message per violation:
//
//  1. a value whose Enqueue was acknowledged but that no consumer acked
//     (lost); a delivery whose ack outcome is unknown counts as acked,
//     since that ack may have been applied;
//  2. a value acked successfully more than once (an ack of a superseded
//     delivery must fail with ErrNotFound);
//  3. a value delivered again after a delivery of it was acked
//     successfully: a redelivery may only follow a delivery that crashed,
//     timed out (superseded) or whose ack outcome is unknown;
//  4. the same delivery number of a value handed out twice (two live
//     consumers at once);
//  5. a delivered value that no Enqueue ever asked for;
//  6. a queue that did not drain after the faults healed.
func CheckQueue(h QueueHistory) []string {
	var out []string
	enq := map[string]string{} // value -> "ok" / "unknown"
	var values []string
	dels := map[string][]QueueEvent{}
	for _, e := range h.Events {
		switch e.Kind {
		case "enqueue":
			if _, ok := enq[e.Value]; !ok {
				values = append(values, e.Value)
			}
			if e.Outcome == "ok" || enq[e.Value] == "" {
				enq[e.Value] = e.Outcome
			}
		case "deliver":
			dels[e.Value] = append(dels[e.Value], e)
		}
	}
	for v := range dels {
		if _, ok := enq[v]; !ok {
			values = append(values, v)
		}
	}
	sort.Strings(values)
	if !h.Drained {
		out = append(out, fmt.Sprintf("queue did not drain after the faults healed: ready=%d inFlight=%d", h.Ready, h.InFlight))
	}
	for _, v := range values {
		ds := dels[v]
		sort.SliceStable(ds, func(i, j int) bool { return ds[i].Deliveries < ds[j].Deliveries })
		if _, ok := enq[v]; !ok {
			out = append(out, fmt.Sprintf("value %s delivered (seq %d) but never enqueued", v, ds[0].Seq))
		}
		acks, maybe := 0, 0
		var firstAck *QueueEvent
		byNum := map[int64]QueueEvent{}
		for i, d := range ds {
			switch d.Outcome {
			case "acked":
				acks++
				if firstAck == nil {
					firstAck = &ds[i]
				}
			case "unknown":
				maybe++
			}
			if p, ok := byNum[d.Deliveries]; ok {
				out = append(out, fmt.Sprintf("value %s: delivery %d handed out twice (consumers %d and %d)", v, d.Deliveries, p.Consumer, d.Consumer))
			}
			byNum[d.Deliveries] = d
		}
		if enq[v] == "ok" && acks == 0 && maybe == 0 {
			out = append(out, fmt.Sprintf("value %s lost: enqueued (acknowledged) but never acked by a consumer (%d deliveries)", v, len(ds)))
		}
		if acks > 1 {
			out = append(out, fmt.Sprintf("value %s acked successfully %d times", v, acks))
		}
		if firstAck != nil {
			for _, d := range ds {
				if d.Deliveries > firstAck.Deliveries {
					out = append(out, fmt.Sprintf("value %s delivered again (delivery %d to consumer %d) after delivery %d was acked successfully by consumer %d",
						v, d.Deliveries, d.Consumer, firstAck.Deliveries, firstAck.Consumer))
				}
			}
		}
	}
	return out
}

// QueueWorkload drives producers and consumers of one queue. Producers
// enqueue unique numbered values; consumers dequeue with a visibility
// timeout and ack; now and then a consumer crashes while holding an item
// (orphans its TTL-1 session and never acks) and is replaced by a new one.
type QueueWorkload struct {
	Producers  []*coord.Client
	Consumers  []*coord.Client
	Name       string
	Visibility time.Duration
	SessionTTL int64 // seconds, of the consumers that do not crash
	OpTimeout  time.Duration
	Think      time.Duration
	CrashEvery int // a consumer crashes on about one delivery in CrashEvery
	// Stall makes the first consumer hold its fifth delivery past the
	// visibility timeout once before acking: the item is handed on, and
	// the late Ack must fail with ErrNotFound.
	Stall bool

	mu       sync.Mutex
	h        QueueHistory
	start    time.Time
	consumer int64
	acked    map[string]bool // values acked (or maybe acked)
	okVals   map[string]bool // values whose enqueue was acknowledged
}

func (w *QueueWorkload) now() int64 { return int64(time.Since(w.start)) }

func (w *QueueWorkload) record(e QueueEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.h.Events = append(w.h.Events, e)
	switch {
	case e.Kind == "enqueue" && e.Outcome == "ok":
		w.okVals[e.Value] = true
	case e.Kind == "deliver" && (e.Outcome == "acked" || e.Outcome == "unknown"):
		w.acked[e.Value] = true
	}
}

// Run runs producers and consumers until ctx ends.
func (w *QueueWorkload) Run(ctx context.Context, start time.Time, seed int64) {
	w.mu.Lock()
	w.start = start
	if w.acked == nil {
		w.acked, w.okVals = map[string]bool{}, map[string]bool{}
	}
	w.mu.Unlock()
	var wg sync.WaitGroup
	for i, c := range w.Producers {
		wg.Add(1)
		go func(id int, c *coord.Client) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed + int64(id)*7919))
			q := queue.New(c, w.Name)
			for n := 0; ctx.Err() == nil; n++ {
				pause(ctx, time.Duration(rng.Int63n(int64(2*w.Think)+1)))
				v := fmt.Sprintf("p%d-%d", id, n)
				e := QueueEvent{Kind: "enqueue", Client: id, Value: v, Call: w.now()}
				octx, cancel := context.WithTimeout(context.Background(), w.OpTimeout)
				seqs, err := q.Enqueue(octx, v)
				cancel()
				e.Return = w.now()
				if err != nil {
					e.Outcome, e.Return = "unknown", Infinity
				} else {
					e.Outcome, e.Seq = "ok", seqs[0]
				}
				w.record(e)
			}
		}(i, c)
	}
	for i, c := range w.Consumers {
		wg.Add(1)
		go func(id int, c *coord.Client) {
			defer wg.Done()
			w.consume(ctx, id, c, rand.New(rand.NewSource(seed+int64(id)*104729)), w.Stall)
		}(len(w.Producers)+i, c)
	}
	wg.Wait()
}

// consume runs one consumer slot until ctx ends; with stall it stalls
// once past the visibility timeout (see Stall).
func (w *QueueWorkload) consume(ctx context.Context, id int, c *coord.Client, rng *rand.Rand, stall bool) {
	var sess *coord.Session
	var q *queue.Queue
	var cid int64
	delivered := 0
	defer func() {
		if sess != nil {
			sess.Orphan() // anything still in flight returns when its lease ends
		}
	}()
	for ctx.Err() == nil {
		if sess = dropEnded(sess); sess == nil {
			crashy := w.CrashEvery > 0 && rng.Intn(2) == 0
			ttl := w.SessionTTL
			if crashy {
				ttl = 1
			}
			if sess = newSession(ctx, c, ttl); sess == nil {
				continue
			}
			q = queue.New(c, w.Name, queue.WithSession(sess), queue.WithVisibility(w.Visibility))
			w.mu.Lock()
			w.consumer++
			cid = w.consumer
			w.mu.Unlock()
		}
		call := w.now()
		dctx, cancel := context.WithTimeout(ctx, w.OpTimeout)
		it, err := q.Dequeue(dctx)
		cancel()
		if err != nil {
			// Nothing ready, or the outcome is unknown (an item handed to
			// this consumer comes back after its visibility timeout).
			if ctx.Err() == nil && !errors.Is(err, coord.ErrTimeout) && !errors.Is(err, coord.ErrCanceled) {
				pause(ctx, 50*time.Millisecond)
			}
			continue
		}
		e := QueueEvent{Kind: "deliver", Client: id, Consumer: cid, Value: string(it.Value), Seq: it.Seq, Deliveries: it.Deliveries, Call: call}
		if sess.TTL() == 1 && rng.Intn(w.CrashEvery) == 0 {
			// Crash while holding the item: stop renewing, never ack.
			e.Outcome, e.Return = "crashed", w.now()
			w.record(e)
			sess.Orphan()
			sess = nil
			continue
		}
		delivered++
		if stall && id == len(w.Producers) && delivered == 5 {
			pause(context.Background(), w.Visibility+1500*time.Millisecond)
		} else if w.Think > 0 {
			pause(context.Background(), time.Duration(rng.Int63n(int64(w.Think)+1)))
		}
		actx, cancel := context.WithTimeout(context.Background(), w.OpTimeout)
		err = q.Ack(actx, it)
		cancel()
		e.Return = w.now()
		switch {
		case err == nil:
			e.Outcome = "acked"
		case errors.Is(err, coord.ErrNotFound):
			e.Outcome = "superseded"
		default:
			e.Outcome, e.Return = "unknown", Infinity
		}
		w.record(e)
	}
}

// Drain runs consumers (new sessions) until the queue is empty and every
// value whose enqueue was acknowledged has been acked, or until ctx ends,
// and returns the whole history.
func (w *QueueWorkload) Drain(ctx context.Context, seed int64) QueueHistory {
	allAcked := func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for v := range w.okVals {
			if !w.acked[v] {
				return false
			}
		}
		return true
	}
	probe := queue.New(w.Consumers[0], w.Name)
	var drained bool
	var ready, inFlight int64
	empty := func() bool {
		lctx, cancel := context.WithTimeout(ctx, w.OpTimeout)
		defer cancel()
		r, f, err := probe.Len(lctx)
		if err != nil {
			return false
		}
		ready, inFlight = r, f
		return r == 0 && f == 0
	}
	dctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, c := range w.Consumers {
		wg.Add(1)
		go func(id int, c *coord.Client) {
			defer wg.Done()
			w.consume(dctx, id, c, rand.New(rand.NewSource(seed+int64(id)*31337)), false)
		}(len(w.Producers)+i, c)
	}
	for ctx.Err() == nil {
		if allAcked() && empty() {
			drained = true
			break
		}
		pause(ctx, 200*time.Millisecond)
	}
	cancel()
	wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.h
	h.Events = append([]QueueEvent(nil), w.h.Events...)
	h.Drained, h.Ready, h.InFlight = drained, ready, inFlight
	sort.SliceStable(h.Events, func(i, j int) bool { return h.Events[i].Call < h.Events[j].Call })
	return h
}
