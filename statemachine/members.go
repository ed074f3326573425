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
		if err := msgpack.Unmarshal(it.Value(), &r); err != nil || r.Name != string(it.Key()[len(lo):]) {
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

func (a *applier) memberPublish(req *MemberPublish) (Result, error) {
	rec := req.Record
	if werr := checkMemberRecord(&rec); werr != nil {
		return errResult(werr)
	}
	recs := a.sh.Members()
	if a.members != nil {
		recs = *a.members
	}
	i := sort.Search(len(recs), func(i int) bool { return recs[i].Name >= rec.Name })
	found := i < len(recs) && recs[i].Name == rec.Name
	if found && recs[i] == rec {
		return okResult(&MemberPublishResponse{})
	}
	v, err := msgpack.Marshal(&rec)
	if err != nil {
		return Result{}, fmt.Errorf("statemachine: encode member record: %w", err)
	}
	if err := a.w.Batch().Set(a.sh.space.MemberKey(rec.Name), v, nil); err != nil {
		return Result{}, err
	}
	// Copy on write: readers hold the published slice.
	next := slices.Clone(recs)
	if found {
		next[i] = rec
	} else {
		next = slices.Insert(next, i, rec)
	}
	a.members = &next
	return okResult(&MemberPublishResponse{Changed: true})
}
