// Package members is the member registry of a cluster: each member
// publishes, at start, the addresses its clients reach it on (its native
// client address and its etcd door's URL), so that every member can list
// every member's addresses (etcd's MemberList answers each member's etcd
// URL as its client URL). The registry is one key per member under Root
// in shard 0, written by the state machine like a primitive's state.
package members

import (
	"fmt"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/primitive"
)

// Root is the prefix of the registry's keys: Root + member name.
const Root = "\x00coord/members/"

// Shard is the shard that holds the registry.
const Shard = 0

// Operation names, persisted in the log: never rename them.
const (
	OpPublish = "member.publish"
	OpList    = "member.list"
)

// maxNameLen bounds a member name in the registry.
const maxNameLen = 256

// Record is what one member publishes: its name and where clients reach
// it ("" for a door it does not serve).
type Record struct {
	Name       string `msgpack:"n"`
	ClientAddr string `msgpack:"c,omitempty"`
	EtcdURL    string `msgpack:"e,omitempty"`
}

// PublishResponse answers a publish.
type PublishResponse struct {
	Header wire.ResponseHeader `msgpack:"h"`
}

// ListRequest asks for every member's record.
type ListRequest struct{}

// ListResponse is every published record, in name order.
type ListResponse struct {
	Header  wire.ResponseHeader `msgpack:"h"`
	Members []Record            `msgpack:"ms,omitempty"`
}

// Key is the registry key of member name.
func Key(name string) []byte { return []byte(Root + name) }

// ApplyPublish writes the member's record; a record equal to the one
// stored writes nothing (a restart adds no revision).
func ApplyPublish(st primitive.Store, r *Record) (*PublishResponse, *wire.Error, error) {
	switch {
	case st.Shard() != Shard:
		return nil, wire.Errorf(wire.CodeWrongShard, "the member registry lives in shard %d, not %d", Shard, st.Shard()), nil
	case r.Name == "" || len(r.Name) > maxNameLen || strings.ContainsRune(r.Name, '/'):
		return nil, wire.Errorf(wire.CodeInvalid, "member name %q: 1 to %d bytes, no '/'", r.Name, maxNameLen), nil
	}
	v, err := msgpack.Marshal(r)
	if err != nil {
		return nil, nil, fmt.Errorf("members: encode record: %w", err)
	}
	cur, err := st.Get(Key(r.Name))
	if err != nil {
		return nil, nil, err
	}
	if cur == nil || string(cur.Value) != string(v) {
		if err := st.Put(Key(r.Name), v, 0); err != nil {
			return nil, nil, err
		}
	}
	return &PublishResponse{}, nil, nil
}

// ReadList answers every record.
func ReadList(rd primitive.Reader, _ *ListRequest) (*ListResponse, *wire.Error, error) {
	kvs, err := rd.Range([]byte(Root), []byte(Root[:len(Root)-1]+string(Root[len(Root)-1]+1)), 0)
	if err != nil {
		return nil, nil, err
	}
	out := &ListResponse{}
	for _, kv := range kvs {
		var r Record
		if err := msgpack.Unmarshal(kv.Value, &r); err != nil {
			return nil, wire.Errorf(wire.CodeUnknown, "members: corrupt record %q: %v", kv.Key, err), nil
		}
		out.Members = append(out.Members, r)
	}
	return out, nil, nil
}

// Primitive registers the registry with the state machine.
var Primitive = primitive.Primitive{
	Name: "member registry",
	Root: Root,
	Ops: []primitive.Op{
		primitive.NewOp(OpPublish, ApplyPublish, func(r *PublishResponse) *wire.ResponseHeader { return &r.Header }),
	},
	Reads: []primitive.Read{
		primitive.NewRead(OpList, ReadList, func(r *ListResponse) *wire.ResponseHeader { return &r.Header }),
	},
}
