package statemachine

import (
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/corruption"
)

// Alarms: a member whose store grows past its space quota raises a
// NOSPACE alarm (the server proposes AlarmActivate to every shard; the
// state machine has no notion of disk size), and an operator disarms it
// (AlarmDeactivate, to every shard). An alarm is a record outside the
// keyspace, like the member registry: one key per (type, member) under
// mvcc.TagAlarm (Space.AlarmKey), with no revision and no event, in
// snapshots and in the hash.
//
// While a shard holds a NOSPACE alarm (raised by any member), its apply
// refuses, with wire.CodeNoSpace and before anything is written, every
// command that grows the store: a put, a txn with a put in either branch,
// a lease grant, and the primitives' ops marked Growing (lock, semaphore
// acquire, campaign, proclaim, enqueue, dequeue, barrier hold and enter).
// Everything that reads or frees space still applies: deletes, txns
// without puts, compaction, lease revokes and renewals, unlock, resign,
// ack, semaphore release, barrier release and leave, the auth store's
// ops, the member registry, and the alarms themselves. The refusal
// depends only on the shard's replicated state, so every replica refuses
// alike.

// Operations of alarms, as named in the log: never change them.
const (
	OpAlarmActivate   = "alarm.activate"   // *AlarmActivate → *wire.AlarmResponse
	OpAlarmDeactivate = "alarm.deactivate" // *AlarmDeactivate → *wire.AlarmResponse
)

// AlarmActivate raises Alarm in the shard (set again, it changes
// nothing). Result: *wire.AlarmResponse with the alarm.
type AlarmActivate struct {
	Alarm wire.Alarm `msgpack:"a"`
}

// AlarmDeactivate disarms the alarms of the shard that match Member and
// Type ("" and wire.AlarmNone match any). Result: *wire.AlarmResponse
// with the alarms disarmed.
type AlarmDeactivate struct {
	Member string         `msgpack:"m,omitempty"`
	Type   wire.AlarmType `msgpack:"t,omitempty"`
}

// Alarms returns the alarms raised in the shard, sorted by type then
// member; nil if none. The caller must not modify the slice.
func (sh *Shard) Alarms() []wire.Alarm {
	if p := sh.alarms.Load(); p != nil {
		return *p
	}
	return nil
}

// loadAlarms reads the stored alarms into the shard's published copy.
func (sh *Shard) loadAlarms(db *pebble.DB) error {
	lo, hi := sh.space.AlarmBounds()
	it := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	var alarms []wire.Alarm
	for valid := it.First(); valid; valid = it.Next() {
		k := it.Key()[len(lo):]
		if len(k) < 2 || len(it.Value()) != 0 {
			_ = it.Close()
			return corruption.Errorf("statemachine: corrupt alarm record %q", it.Key())
		}
		alarms = append(alarms, wire.Alarm{Type: wire.AlarmType(k[0]), Member: string(k[1:])})
	}
	if err := it.Close(); err != nil {
		return err
	}
	sh.alarms.Store(&alarms)
	return nil
}

// workingAlarms is the shard's alarms as this apply sees them.
func (a *applier) workingAlarms() []wire.Alarm {
	if a.alarms != nil {
		return *a.alarms
	}
	return a.sh.Alarms()
}

// noSpace returns the refusal of a command that grows the store while a
// NOSPACE alarm is raised in the shard, nil when none is.
func (a *applier) noSpace() *wire.Error {
	for _, al := range a.workingAlarms() {
		if al.Type == wire.AlarmNoSpace {
			return wire.Errorf(wire.CodeNoSpace,
				"database space exceeded (alarm NOSPACE raised on member %s): shard %d refuses writes that grow the store; free space (delete, compact, coord defrag), then coord alarm disarm",
				al.Member, a.sh.id)
		}
	}
	return nil
}

// alarmCmp orders alarms by type, then member (their key order).
func alarmCmp(x, y wire.Alarm) int {
	if x.Type != y.Type {
		return int(x.Type) - int(y.Type)
	}
	switch {
	case x.Member < y.Member:
		return -1
	case x.Member > y.Member:
		return 1
	}
	return 0
}

func (a *applier) alarmActivate(req *AlarmActivate) (Result, error) {
	al := req.Alarm
	switch {
	case al.Type != wire.AlarmNoSpace:
		return errResult(wire.Errorf(wire.CodeInvalid, "alarm: cannot raise an alarm of type %s (only NOSPACE)", al.Type))
	case al.Member == "" || len(al.Member) > MaxMemberField:
		return errResult(wire.Errorf(wire.CodeInvalid, "alarm: an alarm needs the name of its member (1 to %d bytes)", MaxMemberField))
	}
	cur := a.workingAlarms()
	i, found := slices.BinarySearchFunc(cur, al, alarmCmp)
	if !found {
		if err := a.w.Batch().Set(a.sh.space.AlarmKey(byte(al.Type), al.Member), nil, nil); err != nil {
			return Result{}, err
		}
		next := slices.Insert(slices.Clone(cur), i, al) // copy on write: readers hold the published slice
		a.alarms = &next
	}
	return okResult(&wire.AlarmResponse{Header: a.header(), Alarms: []wire.Alarm{al}})
}

func (a *applier) alarmDeactivate(req *AlarmDeactivate) (Result, error) {
	cur := a.workingAlarms()
	var gone, kept []wire.Alarm
	for _, al := range cur {
		if (req.Member == "" || req.Member == al.Member) && (req.Type == wire.AlarmNone || req.Type == al.Type) {
			gone = append(gone, al)
			continue
		}
		kept = append(kept, al)
	}
	for _, al := range gone {
		if err := a.w.Batch().Delete(a.sh.space.AlarmKey(byte(al.Type), al.Member), nil); err != nil {
			return Result{}, fmt.Errorf("statemachine: disarm alarm: %w", err)
		}
	}
	if len(gone) > 0 {
		a.alarms = &kept
	}
	return okResult(&wire.AlarmResponse{Header: a.header(), Alarms: gone})
}
