package fault

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/coord-io/coord/coord"
)

// TestFaultNetIsolates checks the proxies themselves: a leader cut off
// from its peers loses its shard to the majority, a client of the cut-off
// member cannot write, the majority can, and after healing the cut-off
// member serves the majority's write. Then a one-way cut (the leader can
// hear but not speak) must also move leadership.
func TestFaultNetIsolates(t *testing.T) {
	c := NewCluster(t, bin, ClusterOptions{Members: 3, Shards: 1})
	for _, mode := range []LinkMode{LinkDrop, LinkBlackhole} {
		l := c.Leader(0, 10*time.Second)
		if l == nil {
			t.Fatal("no leader")
		}
		c.Isolate(l, mode)
		if err := c.waitFor(15*time.Second, func() bool { return newLeaderAmong(c, l) }); err != nil {
			t.Fatalf("%s: the majority elected no leader while %s was isolated", mode, l.Name)
		}
		only := client(t, l.Client)
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		_, err := only.Put(ctx, "net/cut", "from-isolated")
		cancel()
		if err == nil {
			t.Fatalf("%s: a write through isolated %s succeeded", mode, l.Name)
		}
		var others []string
		for _, m := range c.Members {
			if m != l {
				others = append(others, m.Client)
			}
		}
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		_, err = client(t, others...).Put(ctx, "net/majority", mode.String())
		cancel()
		if err != nil {
			t.Fatalf("%s: a write through the majority failed: %v", mode, err)
		}
		c.RecoverAll()
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		r, err := only.Get(ctx, "net/majority")
		cancel()
		if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != mode.String() {
			t.Fatalf("%s: after healing, %s reads %v, %v", mode, l.Name, r, err)
		}
	}
	l := c.Leader(0, 10*time.Second)
	for _, o := range c.Members {
		if o != l {
			c.CutLink(l, o, LinkBlackhole)
		}
	}
	if err := c.waitFor(15*time.Second, func() bool { return newLeaderAmong(c, l) }); err != nil {
		t.Fatalf("followers that cannot hear leader %s elected no leader", l.Name)
	}
	c.RecoverAll()
}

// newLeaderAmong reports whether a member other than old leads shard 0.
func newLeaderAmong(c *Cluster, old *Member) bool {
	for _, m := range c.Members {
		if m == old {
			continue
		}
		if st, err := status(m); err == nil && len(st.Shards) > 0 && st.Shards[0].IsLeader {
			return true
		}
	}
	return false
}

// client is a client of exactly the members at eps (it learns no others).
func client(t *testing.T, eps ...string) *coord.Client {
	cl, err := coord.New(coord.Config{Endpoints: eps, DialTimeout: 500 * time.Millisecond, StaticEndpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// TestFaultClusterStartsOverWhenAPortIsTaken: a port the harness picked is
// taken by someone else before the member binds it (here: held by the test
// itself); NewCluster starts over on fresh ports instead of waiting a minute
// for a member that has exited, and the cluster it returns serves.
func TestFaultClusterStartsOverWhenAPortIsTaken(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	calls := 0
	pickAddrs = func(n int) ([]string, error) {
		calls++
		addrs, err := freeAddrs(n)
		if err == nil && calls == 1 {
			addrs[5] = held.Addr().String() // n2's client port
		}
		return addrs, err
	}
	defer func() { pickAddrs = freeAddrs }()
	start := time.Now()
	c := NewCluster(t, bin, ClusterOptions{Members: 3, Shards: 1})
	if calls != 2 {
		t.Fatalf("NewCluster picked addresses %d times, want 2 (one start-over)", calls)
	}
	if c.Members[1].Client == held.Addr().String() {
		t.Fatal("the cluster kept the taken port")
	}
	if d := time.Since(start); d > 45*time.Second {
		t.Fatalf("starting over took %v: the harness waited out its ready timeout instead of seeing the exit", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Client().Put(ctx, "net/ports", "ok"); err != nil {
		t.Fatalf("put on the restarted cluster: %v", err)
	}
}
