package server

import (
	"errors"
	"io"

	sm "github.com/lni/dragonboat/v3/statemachine"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
)

// diskSM is the one adapter between Dragonboat's on-disk state machine
// interface and Coord's pure core (statemachine.Shard). It converts
// entries and results, and hands each applied batch's events to the
// server without waiting on anyone.
type diskSM struct {
	shard   *statemachine.Shard
	publish func([]wire.Event)               // must not block
	leases  func([]statemachine.LeaseChange) // for the lessor; must not block
	reload  func([]statemachine.LeaseInfo)   // the shard's whole lease table, after open or restore
	// restored is called after the shard's state jumped to a snapshot's:
	// the events in between are never published.
	restored func()
	batch    []statemachine.Entry
}

var _ sm.IOnDiskStateMachine = (*diskSM)(nil)

func (d *diskSM) Open(stopc <-chan struct{}) (uint64, error) {
	idx, err := d.shard.Open()
	if err != nil {
		return 0, err
	}
	return idx, d.reloadLeases()
}

// reloadLeases hands the lessor the shard's lease table.
func (d *diskSM) reloadLeases() error {
	if d.reload == nil {
		return nil
	}
	infos, err := d.shard.Leases()
	if err != nil {
		return err
	}
	d.reload(infos)
	return nil
}

func (d *diskSM) Update(ents []sm.Entry) ([]sm.Entry, error) {
	if cap(d.batch) < len(ents) {
		d.batch = make([]statemachine.Entry, len(ents))
	}
	batch := d.batch[:len(ents)]
	for i, e := range ents {
		batch[i] = statemachine.Entry{Index: e.Index, Cmd: e.Cmd}
	}
	applied, err := d.shard.Apply(batch)
	if err != nil {
		// A storage failure: Dragonboat stops the process, which is the
		// only safe reaction to a store we can no longer write.
		return nil, err
	}
	for i := range ents {
		ents[i].Result = sm.Result{Value: uint64(batch[i].Result.Code), Data: batch[i].Result.Data}
		if batch[i].Replayed {
			ents[i].Result.Value |= replayedFlag
		}
		batch[i] = statemachine.Entry{}
	}
	if len(applied.Events) > 0 && d.publish != nil {
		d.publish(applied.Events)
	}
	if len(applied.Leases) > 0 && d.leases != nil {
		d.leases(applied.Leases)
	}
	return ents, nil
}

// errBadQuery is returned by Lookup for a query type it does not know.
var errBadQuery = errors.New("server: unknown query type")

// primitiveQuery is a primitive's read-only query, by the name it
// registered (statemachine.Shard.Query): a new primitive's status read
// needs no case here.
type primitiveQuery struct {
	name string // the primitive.Read's name, such as lockrules.OpStatus
	req  any    // its request, of the type the Read's NewRequest gives
}

func (d *diskSM) Lookup(q interface{}) (interface{}, error) {
	switch q := q.(type) {
	case *wire.RangeRequest:
		return d.shard.Range(q)
	case *leaseQuery:
		info, found, err := d.shard.Lease(q.id)
		if err != nil || !found {
			return &leaseQueryResult{found: false}, err
		}
		res := &leaseQueryResult{info: info, found: true}
		if q.keys {
			if res.keys, err = d.shard.LeaseKeys(q.id); err != nil {
				return nil, err
			}
		}
		return res, nil
	case leasesQuery:
		return d.shard.Leases()
	case primitiveQuery:
		return d.shard.Query(q.name, q.req)
	default:
		return nil, errBadQuery
	}
}

func (d *diskSM) Sync() error { return d.shard.Sync() }

func (d *diskSM) PrepareSnapshot() (interface{}, error) { return d.shard.PrepareSnapshot() }

func (d *diskSM) SaveSnapshot(ctx interface{}, w io.Writer, _ <-chan struct{}) error {
	snap, ok := ctx.(*statemachine.Snapshot)
	if !ok {
		return errors.New("server: bad snapshot context")
	}
	return d.shard.SaveSnapshot(snap, w)
}

func (d *diskSM) RecoverFromSnapshot(r io.Reader, _ <-chan struct{}) error {
	if err := d.shard.RecoverFromSnapshot(r); err != nil {
		return err
	}
	if d.restored != nil {
		d.restored()
	}
	return d.reloadLeases()
}

func (d *diskSM) Close() error { return d.shard.Close() }
