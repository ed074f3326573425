package semaphorerules

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

var seedFlag = flag.Int64("seed", 0, "seed of TestRandomHistory (0: from the clock)")

// modelOwner is an owner of the model: a semaphore as a plain list in
// arrival order, granted by the rule written the simple way.
type modelOwner struct {
	key    []byte
	lease  int64
	weight int64
	token  int64
	data   string
}

type modelSem struct {
	limit  int64
	owners []modelOwner
}

func (m *modelSem) held() (held int64, waiters int) {
	for _, o := range m.owners {
		if o.token != 0 {
			held += o.weight
		} else {
			waiters++
		}
	}
	return held, waiters
}

// regrant grants the waiters from the head while the head fits.
func (m *modelSem) regrant(rev int64) {
	held, _ := m.held()
	for i := range m.owners {
		o := &m.owners[i]
		if o.token != 0 {
			continue
		}
		if o.weight > m.limit-held {
			return
		}
		o.token = rev
		held += o.weight
	}
}

// TestRandomHistory runs a long random sequence of acquires (some with
// Try, a wrong limit or a bad weight), releases of holders and waiters
// (some with the wrong lease), releases of keys that are no owner, and
// lease revokes on a few semaphores, and after every step checks the
// result against the model, the status against the model, and the
// invariants: the permits held never exceed the limit, no waiter that
// fits is left waiting behind nobody, and every grant's token is the
// revision of the command that granted it, never below an earlier one.
// Run with -seed to replay a failure.
func TestRandomHistory(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d", seed)
	defer func() {
		if t.Failed() {
			t.Logf("reproduce with -seed %d", seed)
		}
	}()
	rng := rand.New(rand.NewSource(seed))
	steps := 3000
	if testing.Short() {
		steps = 1000
	}

	s := newMemStore(testShard, 0)
	names := []string{"a", "b", "c"}
	model := map[string]*modelSem{}
	var leases []int64
	nextLease := uint64(1)
	grantLease := func() {
		leases = append(leases, s.grant(nextLease))
		nextLease++
	}
	for i := 0; i < 4; i++ {
		grantLease()
	}
	lastToken := map[string]int64{}
	granted := map[string]bool{} // owner keys seen granted

	for i := 0; i < steps; i++ {
		name := names[rng.Intn(len(names))]
		sem := model[name]
		before := s.rev
		rev := before + 1
		var what string
		switch r := rng.Intn(100); {
		case r < 45:
			lease := leases[rng.Intn(len(leases))]
			limit := int64(1 + rng.Intn(5))
			if sem != nil && rng.Intn(10) != 0 {
				limit = sem.limit
			}
			weight := int64(rng.Intn(int(limit) + 2)) // 0 (= 1) to limit + 1
			try := rng.Intn(4) == 0
			data := fmt.Sprintf("o%d", i)
			what = fmt.Sprintf("acquire %s lease %x limit %d weight %d try %v", name, lease, limit, weight, try)
			resp, werr := s.acquire(t, &wire.SemaphoreAcquireRequest{
				Name: name, Lease: lease, Limit: limit, Weight: weight, Owner: []byte(data), Try: try,
			})
			w := max(weight, 1)
			var fits bool
			switch {
			case w > limit:
				require.NotNil(t, werr, what)
				require.Equal(t, wire.CodeInvalid, werr.Code, what)
			case sem != nil && sem.limit != limit:
				require.NotNil(t, werr, what)
				require.Equal(t, wire.CodeInvalid, werr.Code, what)
				require.Contains(t, werr.Message, fmt.Sprintf("limit of %d, not %d", sem.limit, limit), what)
			default:
				fits = true
				if sem != nil {
					held, waiters := sem.held()
					fits = waiters == 0 && w <= sem.limit-held
				}
				if try && !fits {
					require.NotNil(t, werr, what)
					require.Equal(t, wire.CodeLocked, werr.Code, what)
					break
				}
				require.Nil(t, werr, what)
				if sem == nil {
					sem = &modelSem{limit: limit}
					model[name] = sem
				}
				o := modelOwner{key: OwnerKey(name, rev), lease: lease, weight: w, data: data}
				if fits {
					o.token = rev
				}
				require.Equal(t, o.key, resp.Key, what)
				require.Equal(t, o.token, resp.Token, what)
				sem.owners = append(sem.owners, o)
			}
		case r < 70 && sem != nil:
			j := rng.Intn(len(sem.owners))
			o := sem.owners[j]
			if rng.Intn(8) == 0 {
				// The wrong lease proves nothing.
				other := leases[rng.Intn(len(leases))]
				if other != o.lease {
					what = fmt.Sprintf("release %s %x with lease %x of another", name, o.key, other)
					werr := s.release(t, &wire.SemaphoreReleaseRequest{Name: name, Key: o.key, Lease: other})
					require.NotNil(t, werr, what)
					require.Equal(t, wire.CodeNotOwner, werr.Code, what)
					break
				}
			}
			what = fmt.Sprintf("release %s %x (token %d)", name, o.key, o.token)
			require.Nil(t, s.release(t, &wire.SemaphoreReleaseRequest{Name: name, Key: o.key, Lease: o.lease}), what)
			sem.owners = append(sem.owners[:j:j], sem.owners[j+1:]...)
			sem.regrant(rev)
			if len(sem.owners) == 0 {
				delete(model, name)
			}
		case r < 75:
			key := OwnerKey(name, int64(rng.Intn(int(rev)+1)))
			live := false
			if sem != nil {
				for _, o := range sem.owners {
					live = live || bytes.Equal(o.key, key)
				}
			}
			if live {
				continue
			}
			what = fmt.Sprintf("release %s %x, no owner", name, key)
			werr := s.release(t, &wire.SemaphoreReleaseRequest{Name: name, Key: key, Lease: leases[0]})
			require.NotNil(t, werr, what)
			require.Equal(t, wire.CodeNotHolder, werr.Code, what)
		case r < 88:
			j := rng.Intn(len(leases))
			lease := leases[j]
			what = fmt.Sprintf("revoke %x", lease)
			s.revoke(t, lease)
			leases = append(leases[:j:j], leases[j+1:]...)
			grantLease()
			wrote := false
			for _, n := range names {
				m := model[n]
				if m == nil {
					continue
				}
				kept := m.owners[:0]
				for _, o := range m.owners {
					if o.lease != lease {
						kept = append(kept, o)
					}
				}
				wrote = wrote || len(kept) < len(m.owners)
				m.owners = kept
				m.regrant(rev)
				if len(m.owners) == 0 {
					delete(model, n)
				}
			}
			if !wrote {
				require.Equal(t, before, s.rev, what)
			}
		default:
			what = "grant a lease"
			grantLease()
		}

		// Check every semaphore against the model and the invariants.
		for _, n := range names {
			checkInvariants(t, s, n)
			st := s.status(t, n)
			m := model[n]
			if m == nil {
				require.Equal(t, &wire.SemaphoreStatusResponse{}, st, "step %d (%s): %s", i, what, n)
				continue
			}
			var holders, waiters []wire.SemaphoreOwner
			var held int64
			for _, o := range m.owners {
				so := wire.SemaphoreOwner{Key: o.key, Owner: []byte(o.data), Weight: o.weight, Token: o.token, Lease: o.lease}
				if o.token != 0 {
					holders = append(holders, so)
					held += o.weight
				} else {
					waiters = append(waiters, so)
				}
			}
			require.Equal(t, &wire.SemaphoreStatusResponse{Limit: m.limit, Held: held, Holders: holders, Waiters: waiters}, st,
				"step %d (%s): %s", i, what, n)

			// The invariants, as a user would state them.
			require.LessOrEqual(t, st.Held, st.Limit, "step %d (%s): %s over its limit", i, what, n)
			if len(st.Waiters) > 0 {
				require.Greater(t, st.Waiters[0].Weight, st.Limit-st.Held, "step %d (%s): %s: the head waiter fits", i, what, n)
			}
			for _, h := range st.Holders {
				if granted[string(h.Key)] {
					continue
				}
				granted[string(h.Key)] = true
				require.Equal(t, s.rev, h.Token, "step %d (%s): %s: a new grant's token is the revision that granted it", i, what, n)
				require.GreaterOrEqual(t, h.Token, lastToken[n], "step %d (%s): %s: tokens go down", i, what, n)
				lastToken[n] = h.Token
			}
		}
	}
}
