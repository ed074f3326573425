package statemachine

import (
	"fmt"
	"slices"
	"sort"

	"github.com/cockroachdb/pebble"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/corruption"
)

// The member registry: each member's name, Raft node ID and the addresses
// it serves (peer, native client, etcd door, HTTP), replicated in shard 0
// so that every member knows every member's doors (etcd's MemberList,
// `coord member list`, `endpoint status --cluster`).
//
// Like the cluster identity, a record lives outside the keyspace: one
// key per member under mvcc.TagMember (Space.MemberKey), which no range,
// watch, revision or event ever sees. A MemberPublish sets the record of
// its member; publishing the record already kept writes nothing.

// MaxMemberField bounds the length of a member record's name and of each
// of its addresses, in bytes.
const MaxMemberField = 1024

// MemberRecord is one member of the registry: its name, its Raft node ID
// and the addresses it serves, "" for a door it does not serve. Etcd is
// the etcd door's URL (scheme://host:port, as etcd clients take it); the
// others are host:port.
type MemberRecord struct {
	Name   string `msgpack:"n"`
	NodeID uint64 `msgpack:"id,omitempty"`
	Peer   string `msgpack:"pa,omitempty"`
	Client string `msgpack:"ca,omitempty"`
	Etcd   string `msgpack:"ea,omitempty"`
	HTTP   string `msgpack:"ha,omitempty"`

	// Learner: the member was added as a non-voting learner and has not
	// been promoted yet (MemberAdd, MemberPromote). StayLearner: the
	// operator asked for a learner (member add --learner), so the member
	// does not promote itself once caught up. Removed: the member was
	// removed (MemberRemove); the record stays as a tombstone, so that
	// its node ID is never given again (Raft refuses a removed ID).
	Learner     bool `msgpack:"l,omitempty"`
	StayLearner bool `msgpack:"sl,omitempty"`
	Removed     bool `msgpack:"rm,omitempty"`
}

// Operations of the member registry's membership changes, as named in
// the log (with OpMemberPublish): persisted, never change them.
const (
	OpMemberAdd     = "member.record.add"     // *MemberAdd → *MemberChangeResponse
	OpMemberPromote = "member.record.promote" // *MemberPromote → *MemberChangeResponse
	OpMemberRemove  = "member.record.remove"  // *MemberRemove → *MemberChangeResponse
)

// MemberAdd records a new member: Name at Peer, a learner, with the next
// free node ID: the highest of MinNodeID (which the proposer sets above
// every node ID Raft knows, removed ones included) and one more than any
// record's, tombstones included. Adding the same name at the same peer
// again answers the record kept (Existed): a retried add goes on with
// the Raft changes. Another member of that name, or another member at
// that peer, is CodeAlreadyExists. StayLearner: see MemberRecord.
type MemberAdd struct {
	Name        string `msgpack:"n"`
	Peer        string `msgpack:"pa"`
	StayLearner bool   `msgpack:"sl,omitempty"`
	MinNodeID   uint64 `msgpack:"min,omitempty"`
}

// MemberPromote marks learner Name a voter (CodeNotFound for no live
// record; CodeNotLearner for a voter).
type MemberPromote struct {
	Name string `msgpack:"n"`
}

// MemberRemove marks member Name removed (a tombstone). A member of the
// initial cluster that never published has no record: NodeID and Peer
// make its tombstone. CodeNotFound if it was removed already.
type MemberRemove struct {
	Name   string `msgpack:"n"`
	NodeID uint64 `msgpack:"id,omitempty"`
	Peer   string `msgpack:"pa,omitempty"`
}

// MemberChangeResponse answers a membership op: the member's record
// after it, and Existed for a MemberAdd that found it already added.
type MemberChangeResponse struct {
	Record  MemberRecord `msgpack:"r"`
	Existed bool         `msgpack:"ex,omitempty"`
}

// MemberPublish sets the registry's record of a member (Record.Name) to
// Record. Result: *MemberPublishResponse.
type MemberPublish struct {
	Record MemberRecord `msgpack:"r"`
}

// MemberPublishResponse answers a MemberPublish: Changed is false when
// the registry already held the same record (nothing was written).
type MemberPublishResponse struct {
	Changed bool `msgpack:"ch,omitempty"`
}

// Members returns the member registry kept in the shard (the server keeps
// it in shard 0), sorted by name; nil if it is empty. The caller may keep
// the slice but must not modify it.
func (sh *Shard) Members() []MemberRecord {
	if p := sh.members.Load(); p != nil {
		return *p
	}
	return nil
}

// loadMembers reads the stored registry into the shard's published copy.
func (sh *Shard) loadMembers(db *pebble.DB) error {
	lo, hi := sh.space.MemberBounds()
	it := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	var recs []MemberRecord
	for valid := it.First(); valid; valid = it.Next() {
		var r MemberRecord
		if err := wire.Unmarshal(it.Value(), &r); err != nil || r.Name != string(it.Key()[len(lo):]) {
			_ = it.Close()
			return corruption.Errorf("statemachine: corrupt member record %q", it.Key()[len(lo):])
		}
		recs = append(recs, r)
	}
	if err := it.Close(); err != nil {
		return err
	}
	sh.members.Store(&recs)
	return nil
}

// checkMemberRecord validates a record to publish.
func checkMemberRecord(r *MemberRecord) *wire.Error {
	if r.Name == "" {
		return wire.Errorf(wire.CodeInvalid, "a member record needs the member's name")
	}
	for _, f := range []struct{ what, v string }{
		{"name", r.Name}, {"peer address", r.Peer}, {"client address", r.Client},
		{"etcd URL", r.Etcd}, {"HTTP address", r.HTTP},
	} {
		if len(f.v) > MaxMemberField {
			return wire.Errorf(wire.CodeInvalid, "member %.64q: %s of %d bytes (at most %d)", r.Name, f.what, len(f.v), MaxMemberField)
		}
	}
	return nil
}

// workingMembers is the registry as the batch being applied left it.
func (a *applier) workingMembers() []MemberRecord {
	if a.members != nil {
		return *a.members
	}
	return a.sh.Members()
}

// findMember returns the index of name's record in recs (sorted by
// name), or where it would go, and whether it is there.
func findMember(recs []MemberRecord, name string) (int, bool) {
	i := sort.Search(len(recs), func(i int) bool { return recs[i].Name >= name })
	return i, i < len(recs) && recs[i].Name == name
}

func (a *applier) memberPublish(req *MemberPublish) (Result, error) {
	rec := req.Record
	if werr := checkMemberRecord(&rec); werr != nil {
		return errResult(werr)
	}
	recs := a.workingMembers()
	i, found := findMember(recs, rec.Name)
	if found {
		if recs[i].Removed {
			return errResult(wire.Errorf(wire.CodeMemberRemoved, "member %s was removed from the cluster", rec.Name))
		}
		// The membership flags are the registry's, not the publisher's.
		rec.Learner, rec.StayLearner = recs[i].Learner, recs[i].StayLearner
	}
	if found && recs[i] == rec {
		return okResult(&MemberPublishResponse{})
	}
	if err := a.setMember(recs, i, found, rec); err != nil {
		return Result{}, err
	}
	return okResult(&MemberPublishResponse{Changed: true})
}

func (a *applier) memberAdd(req *MemberAdd) (Result, error) {
	rec := MemberRecord{Name: req.Name, Peer: req.Peer, Learner: true, StayLearner: req.StayLearner}
	if werr := checkMemberRecord(&rec); werr != nil {
		return errResult(werr)
	}
	if rec.Peer == "" {
		return errResult(wire.Errorf(wire.CodeInvalid, "member %.64q: a new member needs its peer address", rec.Name))
	}
	recs := a.workingMembers()
	next := req.MinNodeID
	for _, r := range recs {
		next = max(next, r.NodeID+1)
		if r.Removed {
			continue
		}
		switch {
		case r.Name == rec.Name && r.Peer == rec.Peer:
			return okResult(&MemberChangeResponse{Record: r, Existed: true})
		case r.Name == rec.Name:
			return errResult(wire.Errorf(wire.CodeAlreadyExists, "member %s exists (peer %s)", r.Name, r.Peer))
		case r.Peer == rec.Peer:
			return errResult(wire.Errorf(wire.CodeAlreadyExists, "peer address %s is member %s's", r.Peer, r.Name))
		}
	}
	rec.NodeID = max(next, 1)
	i, found := findMember(recs, rec.Name) // found: a tombstone, replaced
	if err := a.setMember(recs, i, found, rec); err != nil {
		return Result{}, err
	}
	return okResult(&MemberChangeResponse{Record: rec})
}

func (a *applier) memberPromote(req *MemberPromote) (Result, error) {
	recs := a.workingMembers()
	i, found := findMember(recs, req.Name)
	if !found || recs[i].Removed {
		return errResult(wire.Errorf(wire.CodeNotFound, "member %.64q not found", req.Name))
	}
	rec := recs[i]
	if !rec.Learner {
		return errResult(wire.Errorf(wire.CodeNotLearner, "member %s is not a learner (it votes already)", rec.Name))
	}
	rec.Learner, rec.StayLearner = false, false
	if err := a.setMember(recs, i, found, rec); err != nil {
		return Result{}, err
	}
	return okResult(&MemberChangeResponse{Record: rec})
}

func (a *applier) memberRemove(req *MemberRemove) (Result, error) {
	recs := a.workingMembers()
	i, found := findMember(recs, req.Name)
	var rec MemberRecord
	switch {
	case found && recs[i].Removed:
		return errResult(wire.Errorf(wire.CodeNotFound, "member %.64q was removed already", req.Name))
	case found:
		rec = recs[i]
	default:
		rec = MemberRecord{Name: req.Name, NodeID: req.NodeID, Peer: req.Peer}
		if werr := checkMemberRecord(&rec); werr != nil {
			return errResult(werr)
		}
	}
	rec.Removed, rec.Learner, rec.StayLearner = true, false, false
	if err := a.setMember(recs, i, found, rec); err != nil {
		return Result{}, err
	}
	return okResult(&MemberChangeResponse{Record: rec})
}

// setMember writes rec, whose place in recs is i (found: replacing the
// record there), and publishes the new registry at the batch's end.
func (a *applier) setMember(recs []MemberRecord, i int, found bool, rec MemberRecord) error {
	v, err := msgpack.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("statemachine: encode member record: %w", err)
	}
	if err := a.w.Batch().Set(a.sh.space.MemberKey(rec.Name), v, nil); err != nil {
		return err
	}
	// Copy on write: readers hold the published slice.
	next := slices.Clone(recs)
	if found {
		next[i] = rec
	} else {
		next = slices.Insert(next, i, rec)
	}
	a.members = &next
	return nil
}
