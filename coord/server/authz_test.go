package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/coord-io/coord/barrier/barrierrules"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election/electionrules"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/locks/semaphorerules"
	"github.com/coord-io/coord/queue/queuerules"
	"github.com/coord-io/coord/statemachine/auth"
)

// fakeReader is a primitive.Reader over keys in memory: the auth store's
// records, written as its layout says.
type fakeReader struct{ kvs []*wire.KeyValue }

func (r *fakeReader) put(key []byte, v any) {
	b, err := wire.Marshal(v)
	if err != nil {
		panic(err)
	}
	if s, ok := v.(string); ok {
		b = []byte(s)
	}
	r.kvs = append(r.kvs, &wire.KeyValue{Key: key, Value: b})
	sort.Slice(r.kvs, func(i, j int) bool { return bytes.Compare(r.kvs[i].Key, r.kvs[j].Key) < 0 })
}

func (r *fakeReader) Get(key []byte) (*wire.KeyValue, error) {
	for _, kv := range r.kvs {
		if bytes.Equal(kv.Key, key) {
			return kv, nil
		}
	}
	return nil, nil
}

func (r *fakeReader) Range(key, end []byte, limit int) ([]*wire.KeyValue, error) {
	var out []*wire.KeyValue
	for _, kv := range r.kvs {
		if bytes.Compare(kv.Key, key) >= 0 && (len(end) == 0 && bytes.Equal(kv.Key, key) || len(end) > 0 && bytes.Compare(kv.Key, end) < 0) {
			out = append(out, kv)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (r *fakeReader) Count(key, end []byte) (int64, error) {
	kvs, err := r.Range(key, end, 0)
	return int64(len(kvs)), err
}

// testAuthState is an auth store with auth on (enabled): root (root
// role), alice (role app: readwrite /app/ prefix, read /pub/ prefix, lock
// names jobs/ prefix, queue q1, election e1, barrier b1, semaphore s1),
// password "pw" for both.
func testAuthState(t testing.TB, enabled bool) *auth.State {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	require.NoError(t, err)
	var r fakeReader
	if enabled {
		r.put(auth.EnabledKey, "1")
	}
	r.put(auth.RevKey, strconv.Itoa(5))
	r.put(auth.UserKey("root"), &auth.UserRecord{Hash: hash, Roles: []string{wire.RootRole}})
	r.put(auth.UserKey("alice"), &auth.UserRecord{Hash: hash, Roles: []string{"app"}})
	r.put(auth.UserKey("nobody"), &auth.UserRecord{Hash: hash})
	r.put(auth.RoleKey(wire.RootRole), &auth.RoleRecord{})
	r.put(auth.RoleKey("app"), &auth.RoleRecord{Perms: []wire.Permission{
		{Type: wire.PermReadWrite, Key: []byte("/app/"), RangeEnd: wire.PrefixEnd([]byte("/app/"))},
		{Type: wire.PermRead, Key: []byte("/pub/"), RangeEnd: wire.PrefixEnd([]byte("/pub/"))},
		{Type: wire.PermReadWrite, Kind: wire.KindLock, Key: []byte("jobs/"), RangeEnd: wire.PrefixEnd([]byte("jobs/"))},
		{Type: wire.PermReadWrite, Kind: wire.KindQueue, Key: []byte("q1")},
		{Type: wire.PermReadWrite, Kind: wire.KindElection, Key: []byte("e1")},
		{Type: wire.PermReadWrite, Kind: wire.KindBarrier, Key: []byte("b1")},
		{Type: wire.PermRead, Kind: wire.KindSemaphore, Key: []byte("s1")},
	}})
	st, err := auth.Load(&r)
	require.NoError(t, err)
	require.Equal(t, enabled, st.Enabled)
	return st
}

// coreWithAuth is a Core with no shards whose auth cache holds st.
func coreWithAuth(st *auth.State) *Core {
	s := &Core{cfg: DefaultConfig(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s.cfg.BcryptCost = bcrypt.MinCost
	s.auth.cur.Store(&authSnap{gen: s.auth.gen.Load(), st: st})
	return s
}

func method(t testing.TB, name string) *wire.Method {
	m, ok := wire.LookupMethod(name)
	require.True(t, ok, name)
	return m
}

// TestAuthChecksCoverMethods: every method of the protocol has its
// authorization check.
func TestAuthChecksCoverMethods(t *testing.T) {
	require.Len(t, authChecks, len(wire.Methods()))
	for _, m := range wire.Methods() {
		require.NotNil(t, authChecks[m.Name], "no authorization check for %s", m.Name)
	}
}

// TestAuthorizeTable: each method, allowed and denied, over a key, a
// prefix, a range and each primitive kind's names, for a user of role app.
func TestAuthorizeTable(t *testing.T) {
	s := coreWithAuth(testAuthState(t, true))
	alice := &Caller{User: "alice"}
	cases := []struct {
		method string
		req    any
		ok     bool
	}{
		{wire.MethodPut, &wire.PutRequest{Key: []byte("/app/x")}, true},
		{wire.MethodPut, &wire.PutRequest{Key: []byte("/other/x")}, false},
		{wire.MethodPut, &wire.PutRequest{Key: []byte("/pub/x")}, false}, // read only
		{wire.MethodRange, &wire.RangeRequest{Key: []byte("/pub/x")}, true},
		{wire.MethodRange, &wire.RangeRequest{Key: []byte("/app/"), RangeEnd: wire.PrefixEnd([]byte("/app/"))}, true},
		{wire.MethodRange, &wire.RangeRequest{Key: []byte("/app/a"), RangeEnd: []byte("/app/b")}, true},
		{wire.MethodRange, &wire.RangeRequest{Key: []byte("/"), RangeEnd: wire.PrefixEnd([]byte("/"))}, false},
		{wire.MethodRange, &wire.RangeRequest{Key: []byte("/app/"), RangeEnd: []byte{0}}, false},
		{wire.MethodDelete, &wire.DeleteRangeRequest{Key: []byte("/app/"), RangeEnd: wire.PrefixEnd([]byte("/app/"))}, true},
		{wire.MethodDelete, &wire.DeleteRangeRequest{Key: []byte("/pub/"), RangeEnd: wire.PrefixEnd([]byte("/pub/"))}, false},
		{wire.MethodWatch, &wire.WatchRequest{Key: []byte("/pub/"), RangeEnd: wire.PrefixEnd([]byte("/pub/"))}, true},
		{wire.MethodWatch, &wire.WatchRequest{Key: []byte("/other")}, false},
		{wire.MethodTxn, &wire.TxnRequest{
			Compare: []wire.Compare{{Key: []byte("/pub/v")}, {Target: wire.CompareLockToken, Key: []byte("jobs/a")}},
			Success: []wire.RequestOp{{Put: &wire.PutRequest{Key: []byte("/app/x")}}},
			Failure: []wire.RequestOp{{Range: &wire.RangeRequest{Key: []byte("/pub/y")}}},
		}, true},
		{wire.MethodTxn, &wire.TxnRequest{Compare: []wire.Compare{{Key: []byte("/other")}}}, false},
		{wire.MethodTxn, &wire.TxnRequest{Compare: []wire.Compare{{Target: wire.CompareLockToken, Key: []byte("deploy")}}}, false},
		{wire.MethodTxn, &wire.TxnRequest{Failure: []wire.RequestOp{{Put: &wire.PutRequest{Key: []byte("/pub/x")}}}}, false},
		{wire.MethodTxn, &wire.TxnRequest{Success: []wire.RequestOp{{DeleteRange: &wire.DeleteRangeRequest{Key: []byte("/other")}}}}, false},
		{wire.MethodCompact, &wire.CompactRequest{Revision: 1}, false},
		{wire.MethodStatus, &wire.StatusRequest{}, true},
		{wire.MethodAlarm, &wire.AlarmRequest{}, true},
		{wire.MethodAlarm, &wire.AlarmRequest{Action: wire.AlarmDeactivate}, false},
		{wire.MethodDefrag, &wire.DefragRequest{}, false},
		{wire.MethodLeaseGrant, &wire.LeaseGrantRequest{TTL: 10}, true},
		{wire.MethodLeaseLeases, &wire.LeaseLeasesRequest{}, true},
		{wire.MethodLock, &wire.LockRequest{Name: "jobs/a"}, true},
		{wire.MethodLock, &wire.LockRequest{Name: "deploy"}, false},
		{wire.MethodUnlock, &wire.UnlockRequest{Name: "jobs/a"}, true},
		{wire.MethodUnlock, &wire.UnlockRequest{Name: "deploy"}, false},
		{wire.MethodLockStatus, &wire.LockStatusRequest{Name: "jobs/b"}, true},
		{wire.MethodLockStatus, &wire.LockStatusRequest{Name: "deploy"}, false},
		{wire.MethodCampaign, &wire.CampaignRequest{Name: "e1"}, true},
		{wire.MethodCampaign, &wire.CampaignRequest{Name: "e2"}, false},
		{wire.MethodProclaim, &wire.ProclaimRequest{Name: "e2"}, false},
		{wire.MethodResign, &wire.ResignRequest{Name: "e1"}, true},
		{wire.MethodLeader, &wire.LeaderRequest{Name: "e1"}, true},
		{wire.MethodLeader, &wire.LeaderRequest{Name: "e2"}, false},
		{wire.MethodEnqueue, &wire.EnqueueRequest{Name: "q1"}, true},
		{wire.MethodEnqueue, &wire.EnqueueRequest{Name: "q2"}, false},
		{wire.MethodDequeue, &wire.DequeueRequest{Name: "q2"}, false},
		{wire.MethodAck, &wire.AckRequest{Name: "q1"}, true},
		{wire.MethodQueueInfo, &wire.QueueInfoRequest{Name: "q1"}, true},
		{wire.MethodQueueWait, &wire.QueueWaitRequest{Name: "q2"}, false},
		{wire.MethodBarrier, &wire.BarrierRequest{Name: "b1", Op: wire.BarrierHold}, true},
		{wire.MethodBarrier, &wire.BarrierRequest{Name: "b2", Op: wire.BarrierWait}, false},
		{wire.MethodSemAcquire, &wire.SemaphoreAcquireRequest{Name: "s1"}, false}, // read only
		{wire.MethodSemStatus, &wire.SemaphoreStatusRequest{Name: "s1"}, true},
		{wire.MethodSemRelease, &wire.SemaphoreReleaseRequest{Name: "s1"}, false},
		{wire.MethodAuthStatus, &wire.AuthRequest{}, true},
		{wire.MethodAuthenticate, &wire.AuthenticateRequest{}, true},
		{wire.MethodAuthEnable, &wire.AuthRequest{}, false},
		{wire.MethodUserAdd, &wire.UserRequest{Name: "x"}, false},
		{wire.MethodUserList, &wire.UserRequest{}, false},
		{wire.MethodRoleGrantPermission, &wire.RoleRequest{Name: "app"}, false},
		// The auth store is root's, whatever a role says.
		{wire.MethodRange, &wire.RangeRequest{Key: []byte(auth.Root + "user/alice")}, false},
	}
	ctx := context.Background()
	for _, c := range cases {
		werr := s.authorize(ctx, alice, method(t, c.method), c.req)
		if c.ok {
			require.Nil(t, werr, "%s %+v", c.method, c.req)
			continue
		}
		require.NotNil(t, werr, "%s %+v allowed", c.method, c.req)
		require.Equal(t, wire.CodePermissionDenied, werr.Code, werr.Message)
		require.Contains(t, werr.Message, "permission denied: user alice may not")
		// Root may do it all.
		require.Nil(t, s.authorize(ctx, &Caller{User: "root"}, method(t, c.method), c.req), c.method)
	}
}

// TestAuthorizeMessages: a denial names the user, the operation and what
// the request named, and nothing else.
func TestAuthorizeMessages(t *testing.T) {
	s := coreWithAuth(testAuthState(t, true))
	ctx := context.Background()
	alice := &Caller{User: "alice"}
	werr := s.authorize(ctx, alice, method(t, wire.MethodPut), &wire.PutRequest{Key: []byte("/other/x")})
	require.Equal(t, "permission denied: user alice may not write kv /other/x", werr.Message)
	werr = s.authorize(ctx, alice, method(t, wire.MethodRange), &wire.RangeRequest{Key: []byte("/o/"), RangeEnd: wire.PrefixEnd([]byte("/o/"))})
	require.Equal(t, "permission denied: user alice may not read kv prefix /o/", werr.Message)
	werr = s.authorize(ctx, alice, method(t, wire.MethodLock), &wire.LockRequest{Name: "deploy"})
	require.Equal(t, "permission denied: user alice may not write lock deploy", werr.Message)
	werr = s.authorize(ctx, &Caller{User: "nobody"}, method(t, wire.MethodRange), &wire.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c")})
	require.Equal(t, "permission denied: user nobody may not read kv [a, c)", werr.Message)
}

// TestAuthorizeWithoutUser: with auth on, a call without a user is
// refused but authenticate and auth status; with auth off everything
// passes.
func TestAuthorizeWithoutUser(t *testing.T) {
	ctx := context.Background()
	on := coreWithAuth(testAuthState(t, true))
	werr := on.authorize(ctx, &Caller{}, method(t, wire.MethodRange), &wire.RangeRequest{Key: []byte("/app/x")})
	require.NotNil(t, werr)
	require.Equal(t, wire.CodePermissionDenied, werr.Code)
	require.Contains(t, werr.Message, "auth is enabled: authenticate with --user")
	require.Nil(t, on.authorize(ctx, &Caller{}, method(t, wire.MethodAuthStatus), &wire.AuthRequest{}))
	require.Nil(t, on.authorize(ctx, &Caller{}, method(t, wire.MethodAuthenticate), &wire.AuthenticateRequest{}))

	off := coreWithAuth(testAuthState(t, false))
	for _, m := range []string{wire.MethodCompact, wire.MethodPut, wire.MethodUserAdd} {
		require.Nil(t, off.authorize(ctx, &Caller{}, method(t, m), method(t, m).NewRequest()), m)
	}
}

// TestAuthorizeRechecksIdentity: a connection's calls fail once its
// user is gone, its password changed or its token expired.
func TestAuthorizeRechecksIdentity(t *testing.T) {
	ctx := context.Background()
	st := testAuthState(t, true)
	s := coreWithAuth(st)
	put := method(t, wire.MethodPut)
	req := &wire.PutRequest{Key: []byte("/app/x")}
	good := &identity{user: "alice", hash: st.Users["alice"].Hash}
	require.Nil(t, s.authorize(ctx, &Caller{User: "alice", ident: good}, put, req))

	changed := &identity{user: "alice", hash: []byte("an older hash")}
	werr := s.authorize(ctx, &Caller{User: "alice", ident: changed}, put, req)
	require.Equal(t, wire.CodeAuthFailed, werr.Code)
	require.Contains(t, werr.Message, "password of user alice changed")

	gone := &identity{user: "bob", hash: st.Users["alice"].Hash}
	werr = s.authorize(ctx, &Caller{User: "bob", ident: gone}, put, req)
	require.Equal(t, wire.CodeAuthFailed, werr.Code)

	expired := &identity{user: "alice", hash: st.Users["alice"].Hash, expires: time.Now().Add(-time.Millisecond)}
	werr = s.authorize(ctx, &Caller{User: "alice", ident: expired}, put, req)
	require.Equal(t, wire.CodeAuthFailed, werr.Code)
	require.Contains(t, werr.Message, "expired")
}

// TestCheckPasswordRateLimited: after authBurst failures from one host,
// even the right password is refused until the allowance refills; the
// failures of one host do not limit another.
func TestCheckPasswordRateLimited(t *testing.T) {
	s := coreWithAuth(testAuthState(t, true))
	for i := 0; i < int(authBurst); i++ {
		_, werr := s.checkPassword("10.0.0.1:1000", nil, "alice", "wrong")
		require.Equal(t, wire.CodeAuthFailed, werr.Code)
		require.Contains(t, werr.Message, "wrong user name or password")
	}
	_, werr := s.checkPassword("10.0.0.1:1001", nil, "alice", "pw")
	require.NotNil(t, werr)
	require.Contains(t, werr.Message, "too many failed authentication attempts")
	id, werr := s.checkPassword("10.0.0.2:1000", nil, "alice", "pw")
	require.Nil(t, werr)
	require.Equal(t, "alice", id.user)

	// The bucket refills with time.
	b := s.authLimiter.bucket("10.0.0.1:1", time.Now())
	ok, _ := b.allow(time.Now().Add(authRefill))
	require.True(t, ok)

	// A connection's own allowance limits auth.authenticate there.
	conn := newAuthBucket(time.Now())
	s2 := coreWithAuth(testAuthState(t, true))
	for i := 0; i < int(authBurst); i++ {
		s2.authLimiter = authLimiter{} // a fresh host allowance each time
		_, werr = s2.checkPassword("10.0.0.3:1", conn, "alice", "wrong")
		require.Contains(t, werr.Message, "wrong user name or password")
	}
	s2.authLimiter = authLimiter{}
	_, werr = s2.checkPassword("10.0.0.3:1", conn, "alice", "pw")
	require.Contains(t, werr.Message, "too many failed authentication attempts")
}

// TestHashPasswordClearsPlaintext: user add and passwd send only a
// bcrypt hash; an empty password is refused unless the user has none.
func TestHashPasswordClearsPlaintext(t *testing.T) {
	s := coreWithAuth(testAuthState(t, false))
	req := &wire.UserRequest{Name: "bob", Password: "secret", PasswordHash: []byte("client's own")}
	require.Nil(t, s.hashPassword(req, false))
	require.Empty(t, req.Password)
	require.NoError(t, bcrypt.CompareHashAndPassword(req.PasswordHash, []byte("secret")))
	cost, err := bcrypt.Cost(req.PasswordHash)
	require.NoError(t, err)
	require.Equal(t, bcrypt.MinCost, cost)

	werr := s.hashPassword(&wire.UserRequest{Name: "bob"}, false)
	require.Equal(t, wire.CodeInvalid, werr.Code)
	require.Contains(t, werr.Message, "empty password")
	np := &wire.UserRequest{Name: "cert", NoPassword: true, PasswordHash: []byte("x")}
	require.Nil(t, s.hashPassword(np, false))
	require.Empty(t, np.PasswordHash)
	werr = s.hashPassword(&wire.UserRequest{Name: "bob", NoPassword: true}, true)
	require.Equal(t, wire.CodeInvalid, werr.Code, "passwd needs a password")
}

// TestBoundClientID: a client ID claimed by two users is two IDs, and
// neither is the claimed one.
func TestBoundClientID(t *testing.T) {
	a, b := boundClientID("alice", 42), boundClientID("bob", 42)
	require.NotEqual(t, a, b)
	require.NotEqual(t, uint64(42), a)
	require.Equal(t, a, boundClientID("alice", 42))
	require.Equal(t, uint64(42), boundClientID("", 42))
	require.Equal(t, uint64(0), boundClientID("alice", 0))
}

// TestPrimitiveOf: keys under a primitive's root map to its kind and name.
func TestPrimitiveOf(t *testing.T) {
	for key, want := range map[string][2]string{
		"\x00coord/lock/{jobs.a}/o/12345678": {wire.KindLock, "jobs.a"},
		"\x00coord/elect/{e1}/o/12345678":    {wire.KindElection, "e1"},
		"\x00coord/queue/{q}/f/x":            {wire.KindQueue, "q"},
		"\x00coord/queue/{q}/dead/f/x":       {wire.KindQueue, "q.dead"},
		"\x00coord/barrier/{b}/p/x":          {wire.KindBarrier, "b"},
		"\x00coord/semaphore/{s}/o/12345678": {wire.KindSemaphore, "s"},
	} {
		kind, name, ok := primitiveOf([]byte(key))
		require.True(t, ok, key)
		require.Equal(t, want, [2]string{kind, name}, key)
	}
	// Names with '/' (a role's prefix permission jobs/ covers jobs/a):
	// the name is what lies between the root's '{' and the first '}'.
	for _, tc := range []struct {
		key        []byte
		kind, name string
	}{
		{lockrules.OwnerKey("jobs/a", 5), wire.KindLock, "jobs/a"},
		{lockrules.SharedKey("a/b/c", 5), wire.KindLock, "a/b/c"},
		{append(electionrules.Prefix("svc/a"), "o/12345678"...), wire.KindElection, "svc/a"},
		{queuerules.InFlightKey("jobs/a", 3), wire.KindQueue, "jobs/a"},
		{queuerules.ConsumerKey("jobs/a.dead", 3), wire.KindQueue, "jobs/a.dead"},
		{queuerules.ConsumerKey("jobs/dead", 3), wire.KindQueue, "jobs/dead"},
		{queuerules.InFlightKey("a/", 3), wire.KindQueue, "a/"},
		{barrierrules.ParticipantKey("jobs/b", 2), wire.KindBarrier, "jobs/b"},
		{semaphorerules.OwnerKey("/", 2), wire.KindSemaphore, "/"},
	} {
		kind, name, ok := primitiveOf(tc.key)
		require.True(t, ok, "%q", tc.key)
		require.Equal(t, [2]string{tc.kind, tc.name}, [2]string{kind, name}, "%q", tc.key)
	}
	_, _, ok := primitiveOf([]byte("/app/x"))
	require.False(t, ok)
}
