package election

import (
	"context"
	"errors"
	"sync"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// Election is one candidate's handle on election name, held through a
// Session. Campaign is one call that returns when the candidate leads;
// candidates are served in arrival order, and when the leader resigns or
// its session lease expires the next one leads from the same replicated
// command. Each leadership has a term — the revision at which it began —
// strictly increasing per election, usable as a fencing token.
type Election struct {
	s    *coord.Session
	name string

	mu    sync.Mutex
	key   []byte
	lease int64 // the lease key is attached to
	term  int64
}

// New returns a candidate handle on election name, owned by session s.
func New(s *coord.Session, name string) *Election { return &Election{s: s, name: name} }

// Name returns the election's name.
func (e *Election) Name() string { return e.name }

// Campaign blocks until this candidate leads with value, or ctx ends (the
// candidacy is then withdrawn). A wait that is cut off is resumed in its
// place (see coord.Client.Wait).
func (e *Election) Campaign(ctx context.Context, value string) error {
	if err := ValidateName(e.name); err != nil {
		return err
	}
	lease, err := e.s.Lease(ctx, string(Prefix(e.name)))
	if err != nil {
		return err
	}
	req := &wire.CampaignRequest{Name: e.name, Lease: lease, Value: []byte(value)}
	for {
		var resp wire.LeaderResponse
		err := e.s.Client().Wait(ctx, coord.Waiting{
			Method: wire.MethodCampaign,
			Write:  req,
			Resume: func(key []byte) any { return &wire.CampaignRequest{Name: e.name, Lease: lease, Resume: key} },
			Key:    candidateKey,
			Withdraw: func(key []byte) (string, any) {
				return wire.MethodResign, &wire.ResignRequest{Name: e.name, Key: key, Lease: lease}
			},
		}, &resp)
		if err == nil {
			e.mu.Lock()
			e.key, e.lease, e.term = resp.Key, lease, resp.Term
			e.mu.Unlock()
			return nil
		}
		if errors.Is(err, coord.ErrCanceled) && ctx.Err() == nil {
			continue // our candidacy was withdrawn by a call that ended as we gave up: campaign again
		}
		return err
	}
}

// candidateKey reads the candidate key of a LeaderResponse body.
func candidateKey(body []byte) ([]byte, error) {
	var r wire.LeaderResponse
	err := wire.Unmarshal(body, &r)
	return r.Key, err
}

// Proclaim changes the leader's value without an election. It fails with
// coord.ErrNotLeader unless this candidate leads.
func (e *Election) Proclaim(ctx context.Context, value string) error {
	e.mu.Lock()
	key, lease := e.key, e.lease
	e.mu.Unlock()
	if key == nil {
		return coord.ErrNotLeader
	}
	return e.s.Client().Call(ctx, wire.MethodProclaim, &wire.ProclaimRequest{Name: e.name, Key: key, Value: []byte(value), Lease: lease}, &wire.LeaderResponse{})
}

// Resign gives up leadership (or the candidacy); the next candidate leads.
// Resign and Proclaim prove ownership with the session lease of the
// campaign.
func (e *Election) Resign(ctx context.Context) error {
	e.mu.Lock()
	key, lease := e.key, e.lease
	e.mu.Unlock()
	if key == nil {
		return nil
	}
	if err := e.s.Client().Call(ctx, wire.MethodResign, &wire.ResignRequest{Name: e.name, Key: key, Lease: lease}, &wire.LeaderResponse{}); err != nil {
		return err
	}
	e.mu.Lock()
	e.key, e.lease, e.term = nil, 0, 0
	e.mu.Unlock()
	return nil
}

// Term returns the term of this candidate's leadership (0 when not leading).
func (e *Election) Term() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.term
}

// Lease returns the session lease of the candidacy (0 when not leading):
// what Resign and Proclaim present, and ResignLeader needs.
func (e *Election) Lease() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lease
}

// Key returns the candidate's key (nil when not leading).
func (e *Election) Key() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.key
}

// Leader returns election name's current leader; coord.ErrNotFound when
// nobody leads.
func Leader(ctx context.Context, c *coord.Client, name string) (*wire.LeaderResponse, error) {
	var resp wire.LeaderResponse
	if err := c.Call(ctx, wire.MethodLeader, &wire.LeaderRequest{Name: name}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// ResignLeader makes the current leader of election name resign (an
// operator's tool); the next candidate leads. It must prove ownership:
// lease is the leader's session lease (as Leader reports it), else
// coord.ErrNotOwner and nothing changes. coord.ErrNotFound when nobody
// leads.
func ResignLeader(ctx context.Context, c *coord.Client, name string, lease int64) error {
	l, err := Leader(ctx, c, name)
	if err != nil {
		return err
	}
	return c.Call(ctx, wire.MethodResign, &wire.ResignRequest{Name: name, Key: l.Key, Lease: lease}, &wire.LeaderResponse{})
}

// Observation is one report of Observe: the leader (nil when nobody
// leads), or the error that ended the observation.
type Observation struct {
	Leader *wire.LeaderResponse
	Err    error
}

// Observe reports the current leader of election name, then every change
// of leader or value, until ctx ends. It reconnects on its own; a change
// that happened while it was reconnecting is reported once it is back.
func Observe(ctx context.Context, c *coord.Client, name string) <-chan Observation {
	out := make(chan Observation, 16)
	go func() {
		defer close(out)
		var last *wire.LeaderResponse
		same := func(a, b *wire.LeaderResponse) bool {
			if a == nil || b == nil {
				return a == b
			}
			return a.Term == b.Term && string(a.Value) == string(b.Value)
		}
		err := c.ResumeStream(ctx, wire.MethodLeader, func() any { return &wire.LeaderRequest{Name: name, Observe: true} }, true, func(body []byte) (bool, error) {
			var lr wire.LeaderResponse
			if err := wire.Unmarshal(body, &lr); err != nil {
				return false, err
			}
			cur := &lr
			if lr.Term == 0 {
				cur = nil // nobody leads
			}
			if same(cur, last) {
				return true, nil
			}
			last = cur
			select {
			case out <- Observation{Leader: cur}:
				return true, nil
			case <-ctx.Done():
				return false, nil
			}
		})
		if err != nil && ctx.Err() == nil {
			select {
			case out <- Observation{Err: err}:
			case <-ctx.Done():
			}
		}
	}()
	return out
}

// Leader returns the election's current leader (coord.ErrNotFound if none).
func (e *Election) Leader(ctx context.Context) (*wire.LeaderResponse, error) {
	return Leader(ctx, e.s.Client(), e.name)
}

// Observe streams the election's leader changes (see the function Observe).
func (e *Election) Observe(ctx context.Context) <-chan Observation {
	return Observe(ctx, e.s.Client(), e.name)
}
