package server

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/coord-io/coord/coord/wire"
)

// maxCallTimeout caps the deadline of a call that brings none, and of
// every call whose deadline is longer (a variable so tests can shorten it).
var maxCallTimeout = 5 * time.Minute

// Causes of the end of a call's context, which its door sets, other than the caller's own
// deadline (context.DeadlineExceeded): a waiting call tells from them
// whether the caller gave up (errCallCancelled, or its deadline) — the
// waiter is then withdrawn — or not (the client will resume the wait).
var (
	errCallCap       = errors.New("the call reached the server's cap on call duration")
	errCallCancelled = errors.New("the caller cancelled the call")
	errConnClosed    = errors.New("the connection closed")
)

// callCapHits counts the calls ended by maxCallTimeout (for tests).
var callCapHits atomic.Int64

// Caller is who makes a call, and the call's exactly-once tag, as a door
// hands them to the handlers: the msgpack door (rpc.go) fills it from its
// handshake and the request frame. Handlers see nothing of the transport.
type Caller struct {
	// ClientID is the client's identity, from its handshake; 0 for a
	// client without one, whose writes are not de-duplicated.
	ClientID uint64
	// Conn identifies the connection the call came on, unique in this
	// process (assigned by the member when it accepted the connection).
	Conn uint64
	// Remote is the client's address, for logs.
	Remote string
	// User is the user the connection authenticated as ("" for none):
	// what authorization (authz.go) checks the call against.
	User string
	// Seq and AckBelow are a write's exactly-once tag: its sequence
	// number (0 for a read) and the client's acknowledgement watermark.
	Seq, AckBelow uint64
	// Received is when the request arrived; AgeMillis how long before
	// that the client first sent it (a retried write's age).
	Received  time.Time
	AgeMillis int64
	// streams counts the streams open on the connection, bounded by
	// Config.MaxWatchesPerConn; nil leaves them unbounded.
	streams *atomic.Int32
	// ident is how the connection authenticated (nil for no user), which
	// admit checks again on every call while auth is on; authFails is the
	// connection's allowance of failed auth.authenticate calls.
	ident     *identity
	authFails *authBucket
	// deadlineExceeded: the etcd door's call ended at the caller's own
	// deadline (etcdCall), which it answers as gRPC's DeadlineExceeded.
	deadlineExceeded bool
}

// Sender is what a door gives a call to send its intermediate messages:
// a stream's messages (watch, observe), or the one message of a resumable
// wait once its write is applied (the msgpack door sends a frame with
// More set). Send fails once the caller is gone.
type Sender interface {
	Send(msg any) error
}

// Stream is the typed side of a Sender, as a streaming handler sees it.
type Stream[Resp any] struct{ out Sender }

// Send sends one intermediate message; it fails once the caller is gone.
func (st Stream[Resp]) Send(msg *Resp) error { return st.out.Send(msg) }

// handler is one method's entry in the dispatch table.
type handler struct {
	m *wire.Method
	// noFields: the request has no fields, so nothing is decoded (what
	// a client sends is ignored).
	noFields bool
	// run calls the method's handler with req, a value of
	// m.NewRequest(), and returns its response (nil for none).
	run func(s *Core, ctx context.Context, cl *Caller, req any, out Sender) (any, *wire.Error)
}

// handlers is the dispatch table: every method of the wire protocol and
// its handler, unary (ctx, caller, request) → (response, error), or
// streaming, which also gets a Stream and returns its final message.
var handlers = newHandlerTable(append([]*handler{
	unary(wire.MethodPut, (*Core).put),
	unary(wire.MethodRange, (*Core).rangeKeys),
	unary(wire.MethodDelete, (*Core).deleteRange),
	unary(wire.MethodTxn, (*Core).txn),
	unary(wire.MethodCompact, (*Core).compact),
	unary(wire.MethodStatus, (*Core).statusCall),
	unary(wire.MethodLeaseGrant, (*Core).leaseGrant),
	unary(wire.MethodLeaseRevoke, (*Core).leaseRevoke),
	unary(wire.MethodLeaseKeepAlive, (*Core).leaseKeepAlive),
	unary(wire.MethodLeaseTimeToLive, (*Core).leaseTimeToLive),
	unary(wire.MethodLeaseLeases, (*Core).leaseLeases),
	streaming(wire.MethodWatch, (*Core).watch),
	streaming(wire.MethodLock, (*Core).lock),
	unary(wire.MethodUnlock, (*Core).unlock),
	unary(wire.MethodLockStatus, (*Core).lockStatus),
	streaming(wire.MethodCampaign, (*Core).campaign),
	unary(wire.MethodProclaim, (*Core).proclaim),
	unary(wire.MethodResign, (*Core).resign),
	streaming(wire.MethodLeader, (*Core).leaderCall),
	unary(wire.MethodEnqueue, (*Core).enqueue),
	unary(wire.MethodDequeue, (*Core).dequeue),
	unary(wire.MethodAck, (*Core).ack),
	unary(wire.MethodQueueInfo, (*Core).queueInfo),
	unary(wire.MethodQueueWait, (*Core).queueWait),
	streaming(wire.MethodBarrier, (*Core).barrier),
	streaming(wire.MethodSemAcquire, (*Core).semAcquire),
	unary(wire.MethodSemRelease, (*Core).semRelease),
	unary(wire.MethodSemStatus, (*Core).semStatus),
	unary(wire.MethodAlarm, (*Core).alarmCall),
	unary(wire.MethodDefrag, (*Core).defragCall),
	unary(wire.MethodHash, (*Core).hashCall),
	streaming(wire.MethodSnapshot, (*Core).snapshot),
	unary(wire.MethodMemberAdd, (*Core).memberAdd),
	unary(wire.MethodMemberPromote, (*Core).memberPromote),
	unary(wire.MethodMemberRemove, (*Core).memberRemove),
	unary(wire.MethodMemberMoveLeader, (*Core).memberMoveLeader),
}, authHandlers()...)...)

// unary registers a handler that answers once.
func unary[Req, Resp any](method string, h func(*Core, context.Context, *Caller, *Req) (*Resp, *wire.Error)) *handler {
	return newHandler[Req, Resp](method, func(s *Core, ctx context.Context, cl *Caller, req any, _ Sender) (any, *wire.Error) {
		return answer(h(s, ctx, cl, req.(*Req)))
	})
}

// streaming registers a handler that may send intermediate messages
// before its final one.
func streaming[Req, Resp any](method string, h func(*Core, context.Context, *Caller, *Req, Stream[Resp]) (*Resp, *wire.Error)) *handler {
	return newHandler[Req, Resp](method, func(s *Core, ctx context.Context, cl *Caller, req any, out Sender) (any, *wire.Error) {
		return answer(h(s, ctx, cl, req.(*Req), Stream[Resp]{out}))
	})
}

// answer turns a handler's typed response into a body: nil stays nil.
func answer[Resp any](resp *Resp, werr *wire.Error) (any, *wire.Error) {
	if resp == nil {
		return nil, werr
	}
	return resp, werr
}

// newHandler checks that the handler's types are the ones the method
// table names for method.
func newHandler[Req, Resp any](method string, run func(*Core, context.Context, *Caller, any, Sender) (any, *wire.Error)) *handler {
	m, ok := wire.LookupMethod(method)
	if !ok {
		panic(fmt.Sprintf("server: handler for %q, which is no method of the wire protocol", method))
	}
	req, resp := reflect.TypeFor[*Req](), reflect.TypeFor[*Resp]()
	if reflect.TypeOf(m.NewRequest()) != req || reflect.TypeOf(m.NewResponse()) != resp {
		panic(fmt.Sprintf("server: handler for %s takes %v and answers %v, the method table says %T and %T",
			method, req, resp, m.NewRequest(), m.NewResponse()))
	}
	return &handler{m: m, noFields: req.Elem().NumField() == 0, run: run}
}

func newHandlerTable(hs ...*handler) map[string]*handler {
	t := make(map[string]*handler, len(hs))
	for _, h := range hs {
		if t[h.m.Name] != nil {
			panic("server: two handlers for " + h.m.Name)
		}
		t[h.m.Name] = h
	}
	return t
}

// Call runs one call, whatever door it came through: the one place
// every call passes, where the member refuses calls it cannot serve, the
// request is decoded (decode fills the method's request type; a door
// that has it already passes one that copies it) and admitted, its
// handler runs, and metrics count it. It returns the final response body
// (nil for none) or the error.
func (s *Core) Call(ctx context.Context, cl *Caller, method string, decode func(req any) *wire.Error, out Sender) (body any, werr *wire.Error) {
	start := time.Now()
	defer func() { s.metrics.observe(method, werr, time.Since(start)) }()
	if s.removed.Load() || s.tombstoned() {
		return nil, s.removedError()
	}
	if s.stopping.Load() {
		return nil, wire.Errorf(wire.CodeUnavailable, "member %s is stopping", s.cfg.Name)
	}
	if werr := s.checkClusterID(method); werr != nil {
		return nil, werr
	}
	h := handlers[method]
	if h == nil {
		return nil, wire.Errorf(wire.CodeUnimplemented, "unknown method %q", method)
	}
	req := h.m.NewRequest()
	if !h.noFields {
		if werr := decode(req); werr != nil {
			return nil, werr
		}
	}
	if werr := s.admit(ctx, cl, h.m, req); werr != nil {
		return nil, werr
	}
	defer s.release(cl, h.m, req)
	return h.run(s, ctx, cl, req, out)
}

// admit decides whether a decoded call may run: the hook for anything
// that applies to every call of every door. It authorizes the call
// (authz.go: by caller, method and request) and bounds the streams open
// per connection (Config.MaxWatchesPerConn). release undoes what admit
// counted, once the call has ended.
func (s *Core) admit(ctx context.Context, cl *Caller, m *wire.Method, req any) *wire.Error {
	if werr := s.authorize(ctx, cl, m, req); werr != nil {
		return werr
	}
	if m.IsStream(req) && cl.streams != nil {
		if n := cl.streams.Add(1); int(n) > s.cfg.MaxWatchesPerConn {
			cl.streams.Add(-1)
			s.metrics.limitHits.WithLabelValues(limitWatches).Inc()
			return wire.Errorf(wire.CodeTooLarge, "too many watches on one connection (limit %d); close one, or watch a wider range", s.cfg.MaxWatchesPerConn)
		}
	}
	return nil
}

// release undoes admit.
func (s *Core) release(cl *Caller, m *wire.Method, req any) {
	if m.IsStream(req) && cl.streams != nil {
		cl.streams.Add(-1)
	}
}
