package barrier

import (
	"context"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// Barrier is a gate: while it is held, Wait blocks. Hold and Release may
// come from any client.
type Barrier struct {
	c    *coord.Client
	name string
}

// New returns a handle on gate barrier name.
func New(c *coord.Client, name string) *Barrier { return &Barrier{c: c, name: name} }

func (b *Barrier) call(ctx context.Context, op uint8) (*wire.BarrierResponse, error) {
	var resp wire.BarrierResponse
	if err := b.c.Call(ctx, wire.MethodBarrier, &wire.BarrierRequest{Name: b.name, Op: op}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Hold closes the gate.
func (b *Barrier) Hold(ctx context.Context) error {
	_, err := b.call(ctx, wire.BarrierHold)
	return err
}

// Release opens the gate; every Wait returns.
func (b *Barrier) Release(ctx context.Context) error {
	_, err := b.call(ctx, wire.BarrierRelease)
	return err
}

// Wait blocks while the gate is held (it returns at once if it is not).
func (b *Barrier) Wait(ctx context.Context) error {
	_, err := b.call(ctx, wire.BarrierWait)
	return err
}

// Double is a double barrier: Enter blocks until Count participants have
// entered, Leave until all have left. Participants belong to a Session, so
// one that crashes is removed when its lease expires and the others are
// not stuck.
type Double struct {
	s     *coord.Session
	name  string
	count int64
	key   []byte
}

// NewDouble returns a participant's handle on double barrier name for n
// participants.
func NewDouble(s *coord.Session, name string, n int64) *Double {
	return &Double{s: s, name: name, count: n}
}

// Enter joins the barrier and blocks until n participants are in. When
// ctx ends first the participant leaves. A wait that is cut off (a broken
// connection, a member that stops, the server's cap on one call) is
// resumed without leaving (see coord.Client.Wait).
func (d *Double) Enter(ctx context.Context) error {
	lease, err := d.s.Lease(ctx, string(Prefix(d.name)))
	if err != nil {
		return err
	}
	var resp wire.BarrierResponse
	err = d.s.Client().Wait(ctx, coord.Waiting{
		Method: wire.MethodBarrier,
		Write:  &wire.BarrierRequest{Name: d.name, Op: wire.BarrierEnter, Count: d.count, Lease: lease},
		Resume: func(key []byte) any {
			return &wire.BarrierRequest{Name: d.name, Op: wire.BarrierEnter, Lease: lease, Key: key, Resume: true}
		},
		Key: participantKey,
		Withdraw: func(key []byte) (string, any) {
			return wire.MethodBarrier, &wire.BarrierRequest{Name: d.name, Op: wire.BarrierLeave, Key: key}
		},
	}, &resp)
	if err != nil {
		return err
	}
	d.key = resp.Key
	return nil
}

// participantKey reads the participant key of a BarrierResponse body.
func participantKey(body []byte) ([]byte, error) {
	var r wire.BarrierResponse
	err := wire.Unmarshal(body, &r)
	return r.Key, err
}

// Leave leaves the barrier and blocks until every participant has left.
func (d *Double) Leave(ctx context.Context) error {
	var resp wire.BarrierResponse
	err := d.s.Client().Wait(ctx, coord.Waiting{
		Method: wire.MethodBarrier,
		Write:  &wire.BarrierRequest{Name: d.name, Op: wire.BarrierLeave, Key: d.key},
		Resume: func([]byte) any { return &wire.BarrierRequest{Name: d.name, Op: wire.BarrierLeave, Resume: true} },
		Key:    func([]byte) ([]byte, error) { return nil, nil },
	}, &resp)
	if err != nil {
		return err
	}
	d.key = nil
	return nil
}
