package fault

import (
	"fmt"
	"math/rand"
	"time"
)

// Nemesis injects one fault and returns the function that ends it.
type Nemesis struct {
	Name string
	// Inject starts the fault; the returned heal ends it. Members killed
	// by Inject are restarted by the runner after heal.
	Inject func(c *Cluster, rng *rand.Rand) (heal func())
}

func randomMember(c *Cluster, rng *rand.Rand) *Member {
	return c.Members[rng.Intn(len(c.Members))]
}

// leaderOr returns the leader of a random shard, or a random member when
// none is known.
func leaderOr(c *Cluster, rng *rand.Rand) *Member {
	if m := c.Leader(uint32(rng.Intn(c.shards)), 5*time.Second); m != nil {
		return m
	}
	return randomMember(c, rng)
}

// Nemeses is every fault the harness knows. The short mode runs ShortNemeses.
var Nemeses = []Nemesis{
	{"kill-restart", func(c *Cluster, rng *rand.Rand) func() {
		m := randomMember(c, rng)
		c.Kill(m)
		return func() { c.Start(m) }
	}},
	{"kill-leader", func(c *Cluster, rng *rand.Rand) func() {
		m := c.KillLeader(uint32(rng.Intn(c.shards)))
		return func() {
			if m != nil {
				c.Start(m)
			}
		}
	}},
	{"isolate-leader-drop", func(c *Cluster, rng *rand.Rand) func() {
		c.Isolate(leaderOr(c, rng), LinkDrop)
		return c.Heal
	}},
	{"isolate-leader-blackhole", func(c *Cluster, rng *rand.Rand) func() {
		c.Isolate(leaderOr(c, rng), LinkBlackhole)
		return c.Heal
	}},
	{"leader-cannot-send", func(c *Cluster, rng *rand.Rand) func() {
		// An asymmetric partition: the leader hears its followers, but
		// they do not hear it.
		l := leaderOr(c, rng)
		for _, o := range c.Members {
			if o != l {
				c.CutLink(l, o, LinkBlackhole)
			}
		}
		return c.Heal
	}},
	{"pause-leader", func(c *Cluster, rng *rand.Rand) func() {
		m := leaderOr(c, rng)
		c.Pause(m)
		return func() { c.Resume(m) }
	}},
	{"slow-member", func(c *Cluster, rng *rand.Rand) func() {
		c.Slow(randomMember(c, rng), time.Duration(20+rng.Intn(80))*time.Millisecond)
		return c.Heal
	}},
	{"cut-client", func(c *Cluster, rng *rand.Rand) func() {
		// A client — preferably one holding a lock — silently cut off
		// every member; the members are fine. What it guards must stop
		// before the cluster hands its lock to another client. The cut
		// lasts at least clientCutAtLeast, past the workloads' session
		// TTLs, so the cluster does expire the client's lease.
		l := c.holdingClient(rng, 3*time.Second)
		if l == nil {
			return func() {}
		}
		c.CutClient(l, LinkBlackhole)
		until := time.Now().Add(clientCutAtLeast)
		return func() {
			time.Sleep(time.Until(until))
			c.Heal()
		}
	}},
	{"kill-two", func(c *Cluster, rng *rand.Rand) func() {
		// Lose the quorum: nothing may be acknowledged, nothing lost.
		p := rng.Perm(len(c.Members))
		a, b := c.Members[p[0]], c.Members[p[1]]
		c.Kill(a)
		c.Kill(b)
		return func() { c.Start(a); c.Start(b) }
	}},
}

// MemberChange replaces a member: it adds a new one (which catches up as
// a learner and promotes itself), then removes another at random — the
// leader of a shard as often as not. The change is permanent. It is not
// among Nemeses: it needs the command line to reach the cluster as an
// operator (no auth) and changes the member list the other scenarios
// rely on; TestFaultMemberChange runs it.
var MemberChange = Nemesis{"member-change", func(c *Cluster, rng *rand.Rand) func() {
	old := append([]*Member(nil), c.Members...)
	c.AddMember(fmt.Sprintf("a%d", c.Faults+1))
	c.RemoveMember(old[rng.Intn(len(old))])
	return func() {}
}}

// clientCutAtLeast is how long cut-client keeps a client cut off: longer
// than the 3 s session TTL of the lock workload (plus the lessor's tick).
const clientCutAtLeast = 4 * time.Second

// ShortNemeses names the faults of the short (CI) mode.
var ShortNemeses = []string{"kill-leader", "isolate-leader-drop", "leader-cannot-send", "pause-leader", "kill-restart"}

// NemesisByName returns the named nemesis.
func NemesisByName(name string) Nemesis {
	for _, n := range Nemeses {
		if n.Name == name {
			return n
		}
	}
	panic("fault: no nemesis " + name)
}

// Schedule returns the nemeses to run: ShortNemeses in order when long is
// false, else one random nemesis per call of next until it returns false.
func Schedule(rng *rand.Rand, deadline time.Time, short []string) func() (Nemesis, bool) {
	i := 0
	return func() (Nemesis, bool) {
		if deadline.IsZero() {
			if i >= len(short) {
				return Nemesis{}, false
			}
			i++
			return NemesisByName(short[i-1]), true
		}
		if time.Now().After(deadline) {
			return Nemesis{}, false
		}
		return Nemeses[rng.Intn(len(Nemeses))], true
	}
}

// RecoverAll heals the network, resumes and restarts every member, and
// waits until every shard has a leader again.
func (c *Cluster) RecoverAll() {
	c.t.Helper()
	c.Heal()
	c.StartAll()
	c.WaitReady(60 * time.Second)
}
