package primitive

import (
	"fmt"

	"github.com/coord-io/coord/coord/wire"
)

// Reader is the view of one shard that read-only rules use: the shard's
// keys at one revision.
type Reader interface {
	// Get returns the live version of key, or nil.
	Get(key []byte) (*wire.KeyValue, error)
	// Range returns up to limit (0: all) live keys of [key, end) in key
	// order; end as in wire.RangeRequest.
	Range(key, end []byte, limit int) ([]*wire.KeyValue, error)
	// Count returns the number of live keys of [key, end).
	Count(key, end []byte) (int64, error)
}

// Store is the view of one shard that a command's rules read and write.
// Reads see the command's own earlier writes; writes happen at the
// command's single revision (Revision), with the events and lease
// attachments of ordinary puts and deletes. A rule checks everything that
// can fail as a user error before its first write: a command fails whole
// or not at all.
type Store interface {
	Reader
	// Put writes key=value attached to lease (0: none), which must exist
	// (check LeaseExists first).
	Put(key, value []byte, lease int64) error
	// Delete deletes key if it is live and reports whether it was.
	Delete(key []byte) (bool, error)
	// LeaseExists reports whether lease id exists in this shard.
	LeaseExists(id int64) (bool, error)
	// Shard is the ID of the shard.
	Shard() uint32
	// Revision is the revision the command writes at: the shard's current
	// revision + 1 while the command runs.
	Revision() int64
}

// LeaseStore is a Store that also grants and revokes leases inside the
// command (a queue item's visibility timeout is a lease of its own). The
// state machine hands every rule a LeaseStore.
type LeaseStore interface {
	Store
	// GrantLease grants a new lease of ttl (≥ 1) seconds in the shard, as
	// a lease grant command would (reported to the server's lessor, which
	// times it). A *wire.Error (the shard ran out of lease IDs) comes
	// before any change.
	GrantLease(ttl int64) (int64, *wire.Error, error)
	// RevokeLease revokes lease id as a client's revoke would: its keys
	// are deleted at Revision (and the primitives' Revoked hooks run for
	// them), and the lessor learns it is gone. A lease that does not
	// exist is left alone.
	RevokeLease(id int64) error
}

// Primitive is what one primitive registers with the state machine.
type Primitive struct {
	// Name names the primitive in messages ("lock", "queue").
	Name string
	// Root is the reserved key prefix under which all of the primitive's
	// state lives ("\x00coord/lock/"). Roots of two primitives never
	// overlap.
	Root string
	// Ops are the primitive's replicated operations.
	Ops []Op
	// Reads are the primitive's read-only queries (status, info), served
	// from a replica at its current revision.
	Reads []Read
	// Revoked, if set, is called by a lease revoke for every key under
	// Root that the revoke deleted, in key order, after all the lease's
	// keys are gone, at the revoke's revision (prev: the key's last live
	// version). It hands the primitive's instance on (the next lock
	// owner, an in-flight item back to its queue) in the same command.
	Revoked func(st LeaseStore, prev *wire.KeyValue) error
}

// Op is one replicated operation of a primitive.
type Op struct {
	// Name is the operation's name in the log: stable forever (it is
	// persisted in every command), by convention the wire method's name
	// ("lock.lock").
	Name string
	// NewRequest returns a new, empty request of the operation (a
	// pointer), into which the state machine decodes the command's
	// msgpack body.
	NewRequest func() any
	// Apply applies a decoded request (a value NewRequest returned) at
	// st.Revision(). It returns the response,
	// whose header the state machine fills (see Header); or a user error,
	// in which case it wrote nothing; or an internal error (storage).
	Apply func(st LeaseStore, req any) (resp any, werr *wire.Error, err error)
	// Header returns the header field of a response Apply returned.
	Header func(resp any) *wire.ResponseHeader
	// Grows reports whether a request (a value NewRequest returned) may
	// grow the store: while a NOSPACE alarm is raised (the space quota
	// of a member is exceeded) the state machine refuses such a command
	// with wire.CodeNoSpace before Apply runs. nil: never (the op
	// releases, acknowledges or only reads). Set it with Growing or
	// GrowingIf.
	Grows func(req any) bool
}

// Growing returns op marked as growing the store with every request
// (refused while a NOSPACE alarm is raised).
func (op Op) Growing() Op {
	op.Grows = func(any) bool { return true }
	return op
}

// GrowingIf returns op marked as growing the store with the requests
// grows reports (refused while a NOSPACE alarm is raised); op takes *Q.
func GrowingIf[Q any](op Op, grows func(*Q) bool) Op {
	op.Grows = func(req any) bool {
		q, ok := req.(*Q)
		return !ok || grows(q)
	}
	return op
}

// Read is one read-only query of a primitive.
type Read struct {
	// Name is the query's name, by convention the wire method's name
	// ("lock.status").
	Name string
	// NewRequest returns a new, empty request of the query (a pointer),
	// for a caller that decodes one.
	NewRequest func() any
	// Read answers a request (of the type NewRequest returns) from
	// r, the replica's keyspace at its current revision, whose header
	// the state machine fills (see Header).
	Read func(r Reader, req any) (resp any, werr *wire.Error, err error)
	// Header returns the header field of a response Read returned.
	Header func(resp any) *wire.ResponseHeader
}

// NewOp builds an Op from typed functions: apply takes the store type
// S (Store or LeaseStore, which the state machine's store implements) and
// a *Q, and returns a *R whose header field header returns.
func NewOp[S Reader, Q, R any](name string, apply func(S, *Q) (*R, *wire.Error, error), header func(*R) *wire.ResponseHeader) Op {
	return Op{
		Name:       name,
		NewRequest: func() any { return new(Q) },
		Apply: func(st LeaseStore, req any) (any, *wire.Error, error) {
			s, ok := any(st).(S)
			if !ok {
				return nil, nil, fmt.Errorf("primitive: op %s: the state machine's store is not a %T", name, *new(S))
			}
			q, ok := req.(*Q)
			if !ok {
				return nil, nil, fmt.Errorf("primitive: op %s takes a %T, not a %T", name, q, req)
			}
			resp, werr, err := apply(s, q)
			if resp == nil || werr != nil || err != nil {
				return nil, werr, err
			}
			return resp, nil, nil
		},
		Header: func(resp any) *wire.ResponseHeader { return header(resp.(*R)) },
	}
}

// NewRead builds a Read from a typed function over a *Q that returns a
// *R whose header field header returns.
func NewRead[Q, R any](name string, read func(Reader, *Q) (*R, *wire.Error, error), header func(*R) *wire.ResponseHeader) Read {
	return Read{
		Name:       name,
		NewRequest: func() any { return new(Q) },
		Read: func(r Reader, req any) (any, *wire.Error, error) {
			q, ok := req.(*Q)
			if !ok {
				return nil, nil, fmt.Errorf("primitive: query %s takes a %T, not a %T", name, q, req)
			}
			resp, werr, err := read(r, q)
			if resp == nil || werr != nil || err != nil {
				return nil, werr, err
			}
			return resp, nil, nil
		},
		Header: func(resp any) *wire.ResponseHeader { return header(resp.(*R)) },
	}
}
