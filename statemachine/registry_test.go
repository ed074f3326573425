package statemachine

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/primitive"
)

// A toy primitive, registered the way a real one is: a tally of names,
// each join a key attached to the joiner's lease; a revoke counts the
// joiners that left in a "gone" record.

const tallyRoot = "\x00coord/tally/"

type tallyJoin struct {
	Name  string `msgpack:"n"`
	Lease int64  `msgpack:"l"`
}

type tallyResponse struct {
	Header wire.ResponseHeader `msgpack:"h"`
	Joined int64               `msgpack:"j"`
	Gone   int64               `msgpack:"g"`
}

func tallyPrefix(name string) []byte { return []byte(tallyRoot + "{" + name + "}/") }

func tallyRead(r primitive.Reader, name string) (*tallyResponse, error) {
	p := append(tallyPrefix(name), 'j', '/')
	n, err := r.Count(p, wire.PrefixEnd(p))
	if err != nil {
		return nil, err
	}
	resp := &tallyResponse{Joined: n}
	kv, err := r.Get(append(tallyPrefix(name), 'g'))
	if err != nil || kv == nil {
		return resp, err
	}
	resp.Gone = int64(binary.BigEndian.Uint64(kv.Value))
	return resp, nil
}

var tallyPrimitive = primitive.Primitive{
	Name: "tally",
	Root: tallyRoot,
	Ops: []primitive.Op{
		primitive.NewOp("tally.join", func(st primitive.Store, req *tallyJoin) (*tallyResponse, *wire.Error, error) {
			if req.Name == "" {
				return nil, wire.Errorf(wire.CodeInvalid, "a tally needs a name"), nil
			}
			key := binary.BigEndian.AppendUint64(append(tallyPrefix(req.Name), 'j', '/'), uint64(st.Revision()))
			if err := st.Put(key, nil, req.Lease); err != nil {
				return nil, nil, err
			}
			resp, err := tallyRead(st, req.Name)
			return resp, nil, err
		}, func(r *tallyResponse) *wire.ResponseHeader { return &r.Header }),
	},
	Reads: []primitive.Read{
		primitive.NewRead("tally.read", func(r primitive.Reader, req *tallyJoin) (*tallyResponse, *wire.Error, error) {
			resp, err := tallyRead(r, req.Name)
			return resp, nil, err
		}, func(r *tallyResponse) *wire.ResponseHeader { return &r.Header }),
	},
	Revoked: func(st primitive.LeaseStore, prev *wire.KeyValue) error {
		i := bytes.Index(prev.Key, []byte("}/j/"))
		if i < 0 {
			return nil
		}
		name := string(prev.Key[len(tallyRoot)+1 : i])
		resp, err := tallyRead(st, name)
		if err != nil {
			return err
		}
		return st.Put(append(tallyPrefix(name), 'g'), binary.BigEndian.AppendUint64(nil, uint64(resp.Gone+1)), 0)
	},
}

// TestRegisteredPrimitive registers a primitive as primitives.go does and
// drives it through the core: its op applies at one revision with the
// header filled and exactly-once, a lease revoke calls its hook for its
// keys, its query reads the replica, and the registry refuses a second
// primitive on the same names or root.
func TestRegisteredPrimitive(t *testing.T) {
	saved := primitives
	primitives = append(append([]primitive.Primitive(nil), primitives...), tallyPrimitive)
	register(tallyPrimitive, primitives)
	t.Cleanup(func() {
		primitives = saved
		delete(ops, "tally.join")
		delete(queries, "tally.read")
	})

	h := newHarness(t)
	var g wire.LeaseGrantResponse
	decodeOK(t, h.apply1(NewCommand(OpLeaseGrant, &LeaseGrant{TTL: 10})), &g)

	join := &Command{ClientID: 3, Seq: 1, Op: "tally.join", req: &tallyJoin{Name: "t", Lease: g.ID}}
	rs, events := h.apply(join, join)
	require.Equal(t, rs[0], rs[1], "a retry gets the first result")
	require.Len(t, events, 1)
	var r tallyResponse
	decodeOK(t, rs[0], &r)
	require.EqualValues(t, 1, r.Joined)
	require.Equal(t, wire.ResponseHeader{Shard: 7, Revision: 2}, r.Header)
	decodeOK(t, h.apply1(NewCommand("tally.join", &tallyJoin{Name: "t"})), &r)
	require.EqualValues(t, 2, r.Joined)

	werr := decodeErr(t, h.apply1(NewCommand("tally.join", &tallyJoin{})))
	require.Equal(t, wire.CodeInvalid, werr.Code)

	h.apply1(NewCommand(OpLeaseRevoke, &LeaseRevoke{ID: g.ID}))
	v, err := h.sh.Query("tally.read", &tallyJoin{Name: "t"})
	require.NoError(t, err)
	require.Equal(t, &tallyResponse{Header: wire.ResponseHeader{Shard: 7, Revision: 4}, Joined: 1, Gone: 1}, v)

	_, err = h.sh.Query("tally.nope", &tallyJoin{Name: "t"})
	require.Equal(t, wire.CodeInvalid, wireCode(err))

	require.Panics(t, func() { register(tallyPrimitive, primitives) }, "names registered twice")
	overlap := primitive.Primitive{Name: "sub", Root: tallyRoot + "sub/"}
	require.Panics(t, func() { register(overlap, append(primitives, overlap)) }, "overlapping roots")
}

// TestOpsMatchWireMethods checks the registered names against the wire
// method table: an op or a query named after a wire method takes that
// method's request type (the server proposes the request it received),
// and every write method of the table is an op. (The lease ops take the
// state machine's own requests: the server assigns and checks first.)
func TestOpsMatchWireMethods(t *testing.T) {
	own := map[string]bool{OpLeaseGrant: true, OpLeaseRevoke: true}
	for name, op := range ops {
		m, ok := wire.LookupMethod(name)
		if !ok || own[name] {
			continue
		}
		require.True(t, m.Write, "op %s is a wire method that does not write", name)
		require.Equal(t, reflect.TypeOf(m.NewRequest()), reflect.TypeOf(op.newReq()), "op %s", name)
	}
	for name, q := range queries {
		m, ok := wire.LookupMethod(name)
		if !ok {
			continue
		}
		require.Equal(t, reflect.TypeOf(m.NewRequest()), reflect.TypeOf(q.NewRequest()), "query %s", name)
	}
	for _, m := range wire.Methods() {
		if m.Write {
			_, ok := ops[m.Name]
			require.True(t, ok, "wire write method %s has no op", m.Name)
		}
	}
}
