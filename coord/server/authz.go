package server

import (
	"bytes"
	"context"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/coord-io/coord/barrier/barrierrules"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election/electionrules"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/locks/semaphorerules"
	"github.com/coord-io/coord/queue/queuerules"
	"github.com/coord-io/coord/statemachine/auth"
)

// Authorization: Core.admit calls authorize for every call of every
// door. With auth off it costs the auth cache's two atomic loads. With
// auth on, a call without a user is refused (but auth.authenticate and
// auth.status); a user's connection is checked again (the user still
// exists with the same password, its token has not expired); then the
// method's check (authChecks) decides from the call's request alone —
// and, for the lease calls, the lease's keys and owner — before anything
// is proposed or read. A denied call changes nothing and reveals
// nothing: its message names the user, the operation and what the
// request itself named.

// authOpen are the methods a call without a user may make while auth is
// on.
var authOpen = map[string]bool{wire.MethodAuthenticate: true, wire.MethodAuthStatus: true}

// authorize decides whether cl may make a call of m with req.
func (s *Core) authorize(ctx context.Context, cl *Caller, m *wire.Method, req any) *wire.Error {
	st, werr := s.authState()
	if werr != nil {
		return werr
	}
	if !st.Enabled {
		return nil
	}
	if authOpen[m.Name] {
		return nil
	}
	if cl.User == "" {
		return wire.Errorf(wire.CodePermissionDenied, "permission denied: auth is enabled: authenticate with --user (no user named for %s)", m.Name)
	}
	if cl.ident != nil {
		if werr := cl.ident.stillValid(st, time.Now()); werr != nil {
			return werr
		}
	}
	if st.IsRoot(cl.User) {
		return nil
	}
	check := authChecks[m.Name]
	if check == nil {
		return wire.Errorf(wire.CodePermissionDenied, "permission denied: user %s may not call %s", cl.User, m.Name)
	}
	return check(&authz{s: s, ctx: ctx, st: st, user: cl.User, method: m.Name}, req)
}

// authz is one call's check: the auth store it is checked against, the
// user, and the member for the lease checks' reads.
type authz struct {
	s      *Core
	ctx    context.Context
	st     *auth.State
	user   string
	method string
}

// authCheck checks one method's request; the user is not root.
type authCheck func(a *authz, req any) *wire.Error

var authRoot = []byte(auth.Root)

// need checks typ on [key, end) of kind (end as in wire.RangeRequest; a
// primitive's name is key alone). Keys under auth.Root (password
// hashes) are root's only, whatever a role grants.
func (a *authz) need(kind string, typ wire.PermType, key, end []byte) *wire.Error {
	if kind == wire.KindKV && overlapsAuthRoot(key, end) {
		return a.denied(kind, typ, key, end)
	}
	if a.st.Allowed(a.user, kind, typ, key, end) {
		return nil
	}
	return a.denied(kind, typ, key, end)
}

// name checks typ on a primitive's name.
func (a *authz) name(kind string, typ wire.PermType, name string) *wire.Error {
	return a.need(kind, typ, []byte(name), nil)
}

func (a *authz) denied(kind string, typ wire.PermType, key, end []byte) *wire.Error {
	return wire.Errorf(wire.CodePermissionDenied, "permission denied: user %s may not %s %s %s", a.user, typ, kind, describeRange(key, end))
}

func (a *authz) rootOnly() *wire.Error {
	return wire.Errorf(wire.CodePermissionDenied, "permission denied: user %s may not call %s (root only)", a.user, a.method)
}

// overlapsAuthRoot reports whether [key, end) touches the auth store.
func overlapsAuthRoot(key, end []byte) bool {
	rootEnd := wire.PrefixEnd(authRoot)
	switch {
	case len(end) == 0:
		return bytes.HasPrefix(key, authRoot)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(key, rootEnd) < 0
	}
	return bytes.Compare(key, rootEnd) < 0 && bytes.Compare(end, authRoot) > 0
}

// describeRange shows a key, a prefix or a range as a user wrote it.
func describeRange(key, end []byte) string {
	switch {
	case len(end) == 0:
		return showKey(key)
	case len(end) == 1 && end[0] == 0:
		return "from " + showKey(key)
	case bytes.Equal(end, wire.PrefixEnd(key)):
		return "prefix " + showKey(key)
	}
	return "[" + showKey(key) + ", " + showKey(end) + ")"
}

func showKey(k []byte) string {
	if utf8.Valid(k) {
		printable := true
		for _, r := range string(k) {
			if !strconv.IsPrint(r) || r == ' ' {
				printable = false
				break
			}
		}
		if printable && len(k) > 0 {
			return string(k)
		}
	}
	return strconv.Quote(string(k))
}

// authChecks is the check of every method a non-root user may call
// (TestAuthChecksCoverMethods: every method has one; the auth store's
// admin methods are root's).
var authChecks = map[string]authCheck{
	wire.MethodPut: typed(func(a *authz, r *wire.PutRequest) *wire.Error {
		return a.need(wire.KindKV, wire.PermWrite, r.Key, nil)
	}),
	wire.MethodRange: typed(func(a *authz, r *wire.RangeRequest) *wire.Error {
		return a.need(wire.KindKV, wire.PermRead, r.Key, r.RangeEnd)
	}),
	wire.MethodDelete: typed(func(a *authz, r *wire.DeleteRangeRequest) *wire.Error {
		return a.need(wire.KindKV, wire.PermWrite, r.Key, r.RangeEnd)
	}),
	wire.MethodTxn:     typed((*authz).txn),
	wire.MethodCompact: typed(func(a *authz, _ *wire.CompactRequest) *wire.Error { return a.rootOnly() }),
	wire.MethodStatus:  typed(func(*authz, *wire.StatusRequest) *wire.Error { return nil }),
	// Any user may list the alarms; raising, disarming and defrag are
	// root's (etcd's maintenance calls are admin-only too).
	wire.MethodAlarm: typed(func(a *authz, r *wire.AlarmRequest) *wire.Error {
		if r.Action == wire.AlarmGet {
			return nil
		}
		return a.rootOnly()
	}),
	wire.MethodDefrag: typed(func(a *authz, _ *wire.DefragRequest) *wire.Error { return a.rootOnly() }),
	wire.MethodWatch: typed(func(a *authz, r *wire.WatchRequest) *wire.Error {
		return a.need(wire.KindKV, wire.PermRead, r.Key, r.RangeEnd)
	}),

	wire.MethodLeaseGrant:  typed(func(*authz, *wire.LeaseGrantRequest) *wire.Error { return nil }),
	wire.MethodLeaseLeases: typed(func(*authz, *wire.LeaseLeasesRequest) *wire.Error { return nil }),
	wire.MethodLeaseRevoke: typed(func(a *authz, r *wire.LeaseRevokeRequest) *wire.Error {
		return a.lease(r.ID, wire.PermWrite, true) // rare: always against the leader's view
	}),
	wire.MethodLeaseKeepAlive: typed(func(a *authz, r *wire.LeaseKeepAliveRequest) *wire.Error {
		for _, id := range r.IDs {
			if werr := a.lease(id, wire.PermWrite, false); werr != nil {
				return werr
			}
		}
		return nil
	}),
	wire.MethodLeaseTimeToLive: typed(func(a *authz, r *wire.LeaseTimeToLiveRequest) *wire.Error {
		return a.lease(r.ID, wire.PermRead, false)
	}),

	wire.MethodLock: typed(func(a *authz, r *wire.LockRequest) *wire.Error {
		return a.name(wire.KindLock, wire.PermWrite, r.Name)
	}),
	wire.MethodUnlock: typed(func(a *authz, r *wire.UnlockRequest) *wire.Error {
		return a.name(wire.KindLock, wire.PermWrite, r.Name)
	}),
	wire.MethodLockStatus: typed(func(a *authz, r *wire.LockStatusRequest) *wire.Error {
		return a.name(wire.KindLock, wire.PermRead, r.Name)
	}),
	wire.MethodCampaign: typed(func(a *authz, r *wire.CampaignRequest) *wire.Error {
		return a.name(wire.KindElection, wire.PermWrite, r.Name)
	}),
	wire.MethodProclaim: typed(func(a *authz, r *wire.ProclaimRequest) *wire.Error {
		return a.name(wire.KindElection, wire.PermWrite, r.Name)
	}),
	wire.MethodResign: typed(func(a *authz, r *wire.ResignRequest) *wire.Error {
		return a.name(wire.KindElection, wire.PermWrite, r.Name)
	}),
	wire.MethodLeader: typed(func(a *authz, r *wire.LeaderRequest) *wire.Error {
		return a.name(wire.KindElection, wire.PermRead, r.Name)
	}),
	wire.MethodEnqueue: typed(func(a *authz, r *wire.EnqueueRequest) *wire.Error {
		return a.name(wire.KindQueue, wire.PermWrite, r.Name)
	}),
	wire.MethodDequeue: typed(func(a *authz, r *wire.DequeueRequest) *wire.Error {
		return a.name(wire.KindQueue, wire.PermWrite, r.Name)
	}),
	wire.MethodAck: typed(func(a *authz, r *wire.AckRequest) *wire.Error {
		return a.name(wire.KindQueue, wire.PermWrite, r.Name)
	}),
	wire.MethodQueueInfo: typed(func(a *authz, r *wire.QueueInfoRequest) *wire.Error {
		return a.name(wire.KindQueue, wire.PermRead, r.Name)
	}),
	wire.MethodQueueWait: typed(func(a *authz, r *wire.QueueWaitRequest) *wire.Error {
		return a.name(wire.KindQueue, wire.PermRead, r.Name)
	}),
	wire.MethodBarrier: typed(func(a *authz, r *wire.BarrierRequest) *wire.Error {
		if r.Op == wire.BarrierWait {
			return a.name(wire.KindBarrier, wire.PermRead, r.Name)
		}
		return a.name(wire.KindBarrier, wire.PermWrite, r.Name)
	}),
	wire.MethodSemAcquire: typed(func(a *authz, r *wire.SemaphoreAcquireRequest) *wire.Error {
		return a.name(wire.KindSemaphore, wire.PermWrite, r.Name)
	}),
	wire.MethodSemRelease: typed(func(a *authz, r *wire.SemaphoreReleaseRequest) *wire.Error {
		return a.name(wire.KindSemaphore, wire.PermWrite, r.Name)
	}),
	wire.MethodSemStatus: typed(func(a *authz, r *wire.SemaphoreStatusRequest) *wire.Error {
		return a.name(wire.KindSemaphore, wire.PermRead, r.Name)
	}),

	// authenticate and status are open (authOpen); the rest is root's.
	wire.MethodAuthenticate:         typed(func(*authz, *wire.AuthenticateRequest) *wire.Error { return nil }),
	wire.MethodAuthStatus:           typed(func(*authz, *wire.AuthRequest) *wire.Error { return nil }),
	wire.MethodAuthEnable:           rootOnly,
	wire.MethodAuthDisable:          rootOnly,
	wire.MethodUserAdd:              rootOnly,
	wire.MethodUserDelete:           rootOnly,
	wire.MethodUserGet:              rootOnly,
	wire.MethodUserList:             rootOnly,
	wire.MethodUserPasswd:           rootOnly,
	wire.MethodUserGrantRole:        rootOnly,
	wire.MethodUserRevokeRole:       rootOnly,
	wire.MethodRoleAdd:              rootOnly,
	wire.MethodRoleDelete:           rootOnly,
	wire.MethodRoleGet:              rootOnly,
	wire.MethodRoleList:             rootOnly,
	wire.MethodRoleGrantPermission:  rootOnly,
	wire.MethodRoleRevokePermission: rootOnly,

	// A backup holds every key, the auth store's included.
	wire.MethodSnapshot: rootOnly,
	// Membership changes are the operator's, as etcd's are.
	wire.MethodMemberAdd:        rootOnly,
	wire.MethodMemberPromote:    rootOnly,
	wire.MethodMemberRemove:     rootOnly,
	wire.MethodMemberMoveLeader: rootOnly,
	// A hash of the whole store covers the auth store's keys too (etcd
	// asks for root as well).
	wire.MethodHash: rootOnly,
}

func rootOnly(a *authz, _ any) *wire.Error { return a.rootOnly() }

// typed adapts a check of one request type.
func typed[Req any](f func(*authz, *Req) *wire.Error) authCheck {
	return func(a *authz, req any) *wire.Error {
		r, ok := req.(*Req)
		if !ok {
			return wire.Errorf(wire.CodeUnknown, "authorization of %s: a %T, not a %T", a.method, req, r)
		}
		return f(a, r)
	}
}

// txn needs read on every compare and range op, write on every put and
// delete, in both branches (a lock-token compare reads the lock of its
// name).
func (a *authz) txn(r *wire.TxnRequest) *wire.Error {
	for i := range r.Compare {
		c := &r.Compare[i]
		var werr *wire.Error
		if c.Target == wire.CompareLockToken {
			werr = a.name(wire.KindLock, wire.PermRead, string(c.Key))
		} else {
			werr = a.need(wire.KindKV, wire.PermRead, c.Key, c.RangeEnd)
		}
		if werr != nil {
			return werr
		}
	}
	for _, ops := range [][]wire.RequestOp{r.Success, r.Failure} {
		for i := range ops {
			var werr *wire.Error
			switch op := &ops[i]; {
			case op.Range != nil:
				werr = a.need(wire.KindKV, wire.PermRead, op.Range.Key, op.Range.RangeEnd)
			case op.Put != nil:
				werr = a.need(wire.KindKV, wire.PermWrite, op.Put.Key, nil)
			case op.DeleteRange != nil:
				werr = a.need(wire.KindKV, wire.PermWrite, op.DeleteRange.Key, op.DeleteRange.RangeEnd)
			}
			if werr != nil {
				return werr
			}
		}
	}
	return nil
}

// lease checks typ on a lease: typ on every key attached to it (a key
// under a primitive's root counts as that primitive's name), and, for a
// lease without keys, that the user granted it. A lease that does not
// exist passes (the call answers that it is not found). The lease is read
// from the local replica — first brought up to date with the shard's
// leader (a ReadIndex) when sync is set or when the replica does not know
// the lease, so a lagging member never lets a lease pass because it has
// not applied its grant yet.
func (a *authz) lease(id int64, typ wire.PermType, sync bool) *wire.Error {
	shard, ok := wire.LeaseShard(id)
	if !ok || int(shard) >= len(a.s.shards) {
		return nil
	}
	sh := a.s.shards[shard]
	if sync {
		if werr := a.s.catchUp(a.ctx, shard); werr != nil {
			return werr
		}
	}
	info, found, err := sh.Lease(id)
	if err != nil {
		return wire.Errorf(wire.CodeUnavailable, "shard %d: %v", shard, err)
	}
	if !found && !sync {
		return a.lease(id, typ, true)
	}
	if !found {
		return nil
	}
	keys, err := sh.LeaseKeys(id)
	if err != nil {
		return wire.Errorf(wire.CodeUnavailable, "shard %d: %v", shard, err)
	}
	if len(keys) == 0 {
		if info.Owner == a.user {
			return nil
		}
		return wire.Errorf(wire.CodePermissionDenied, "permission denied: user %s may not %s lease %016x (it has no keys and another user granted it)", a.user, typ, id)
	}
	for _, k := range keys {
		kind, name, ok := primitiveOf(k)
		var werr *wire.Error
		switch {
		case ok:
			werr = a.name(kind, typ, name)
		case bytes.HasPrefix(k, []byte("\x00coord/")):
			werr = wire.Errorf(wire.CodePermissionDenied, "permission denied: user %s may not %s lease %016x (it holds reserved keys)", a.user, typ, id)
		default:
			werr = a.need(wire.KindKV, typ, k, nil)
		}
		if werr != nil {
			return wire.Errorf(wire.CodePermissionDenied, "%s (attached to lease %016x)", werr.Message, id)
		}
	}
	return nil
}

// catchUp waits until the local replica of shard has applied everything
// its leader had committed when called (a ReadIndex of one key).
func (s *Core) catchUp(ctx context.Context, shard uint32) *wire.Error {
	_, werr := s.read(ctx, shard, &wire.RangeRequest{Key: []byte{0}, CountOnly: true})
	return werr
}

// primitiveRoots map each primitive's key root to its permission kind.
var primitiveRoots = []struct{ root, kind string }{
	{lockrules.Root, wire.KindLock},
	{electionrules.Root, wire.KindElection},
	{queuerules.Root, wire.KindQueue},
	{barrierrules.Root, wire.KindBarrier},
	{semaphorerules.Root, wire.KindSemaphore},
}

// primitiveOf returns the kind and name of the primitive instance a key
// under a primitive's root belongs to: ROOT{NAME}/... (a queue's
// dead-letter queue ROOT{NAME}/dead/... is NAME.dead).
func primitiveOf(key []byte) (kind, name string, ok bool) {
	for _, p := range primitiveRoots {
		if !bytes.HasPrefix(key, []byte(p.root)) {
			continue
		}
		rest := key[len(p.root):]
		end := bytes.IndexByte(rest, '}')
		if len(rest) < 2 || rest[0] != '{' || end < 0 {
			return "", "", false
		}
		name = string(rest[1:end])
		if p.kind == wire.KindQueue && bytes.HasPrefix(rest[end+1:], []byte("/dead/")) {
			name += queuerules.DeadSuffix
		}
		return p.kind, name, true
	}
	return "", "", false
}
