package fault

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFaultQueue checks the queue's delivery guarantees while members
// crash, pause and are partitioned and consumers crash while holding
// items: after the faults heal and the queue is drained, no acknowledged
// value is lost, none is acked twice, and none is delivered again after a
// successful ack.
func TestFaultQueue(t *testing.T) {
	seed := Seed(t)
	rng := NewRand(seed)
	c := NewCluster(t, bin, ClusterOptions{Members: 3, Shards: 1})
	cls := clients(t, c, 5)
	next := Schedule(rng, deadline(t, 0.15), []string{"kill-leader", "isolate-leader-drop", "pause-leader"})
	for s := 0; ; s++ {
		n, ok := next()
		if !ok {
			break
		}
		w := &QueueWorkload{
			Producers: cls[:2], Consumers: cls[2:], Name: fmt.Sprintf("q%d", s),
			Visibility: 3 * time.Second, SessionTTL: 3, OpTimeout: 2 * time.Second,
			Think: 10 * time.Millisecond, CrashEvery: 8, Stall: true,
		}
		faults := c.Faults
		start := time.Now()
		runScenario(t, c, n, seed+int64(s), func(ctx context.Context) { w.Run(ctx, start, seed+int64(s)) })
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		h := w.Drain(dctx, seed+int64(s))
		cancel()
		problems := CheckQueue(h)
		counts := map[string]int{}
		for _, e := range h.Events {
			counts[e.Kind+"/"+e.Outcome]++
		}
		if len(problems) > 0 {
			path, err := WriteArtifact(artifactName("queue", seed, s, n.Name)+".json", h)
			t.Errorf("scenario %d (%s): %d queue violations; seed %d; history %s (%v):\n%s",
				s, n.Name, len(problems), seed, path, err, strings.Join(problems, "\n"))
		}
		if counts["deliver/acked"] == 0 {
			t.Errorf("scenario %d (%s): no value was ever acked", s, n.Name)
		}
		stats.Add(1, len(h.Events), c.Faults-faults, len(problems))
		t.Logf("scenario %d %-24s events=%d took=%v %v", s, n.Name, len(h.Events), time.Since(start).Round(time.Millisecond), counts)
	}
	t.Log(stats.Summary())
}

// TestFaultQueueCheckerCatchesBadHistory runs the queue checker on a
// hand-written history of a broken build — a lost value, a value acked
// twice, a redelivery after a successful ack, one delivery handed to two
// consumers, a phantom value and an undrained queue — and requires every
// violation to be reported, while the legal parts (redelivery after a
// crash, a timeout or an unknown ack; an unknown enqueue never seen) pass.
func TestFaultQueueCheckerCatchesBadHistory(t *testing.T) {
	enq := func(v, outcome string) QueueEvent { return QueueEvent{Kind: "enqueue", Value: v, Outcome: outcome} }
	del := func(v string, n, consumer int64, outcome string) QueueEvent {
		return QueueEvent{Kind: "deliver", Value: v, Deliveries: n, Consumer: consumer, Outcome: outcome}
	}
	good := []QueueEvent{
		enq("ok1", "ok"), del("ok1", 1, 1, "acked"),
		enq("crash", "ok"), del("crash", 1, 1, "crashed"), del("crash", 2, 2, "acked"),
		enq("slow", "ok"), del("slow", 1, 1, "superseded"), del("slow", 3, 2, "acked"), // delivery 2 lost to a client timeout
		enq("maybe", "ok"), del("maybe", 1, 1, "unknown"), del("maybe", 2, 3, "acked"),
		enq("maybe2", "ok"), del("maybe2", 1, 1, "unknown"), // the unknown ack was applied
		enq("unk", "unknown"),                              // never applied
		enq("unk2", "unknown"), del("unk2", 1, 2, "acked"), // applied
	}
	if p := CheckQueue(QueueHistory{Events: good, Drained: true}); len(p) != 0 {
		t.Errorf("checker flagged a correct history:\n%s", strings.Join(p, "\n"))
	}
	bad := append(append([]QueueEvent(nil), good...),
		enq("lost", "ok"), del("lost", 1, 1, "crashed"), del("lost", 2, 2, "superseded"),
		enq("twice", "ok"), del("twice", 1, 1, "superseded"), del("twice", 2, 2, "acked"), del("twice", 3, 3, "acked"),
		enq("again", "ok"), del("again", 1, 1, "acked"), del("again", 2, 2, "crashed"),
		enq("dup", "ok"), del("dup", 1, 1, "crashed"), del("dup", 1, 2, "acked"),
		del("phantom", 1, 3, "acked"),
	)
	got := strings.Join(CheckQueue(QueueHistory{Events: bad, Drained: false, Ready: 1}), "\n")
	for _, want := range []string{
		"value lost lost",
		"value twice acked successfully 2 times",
		"value twice delivered again (delivery 3 to consumer 3) after delivery 2 was acked",
		"value again delivered again (delivery 2 to consumer 2) after delivery 1 was acked",
		"value dup: delivery 1 handed out twice",
		"value phantom delivered (seq 0) but never enqueued",
		"queue did not drain",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("checker missed %q; it reported:\n%s", want, got)
		}
	}
	for _, v := range []string{"ok1", "crash", "slow", "maybe", "unk"} {
		if strings.Contains(got, "value "+v+" ") {
			t.Errorf("checker flagged legal value %s:\n%s", v, got)
		}
	}
}
