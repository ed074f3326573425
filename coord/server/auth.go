package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/auth"
	"github.com/coord-io/coord/statemachine/primitive"
)

// Authentication (the member side of the auth store, statemachine/auth).
//
// The auth store is ordinary keys under auth.Root in shard wire.AuthShard.
// Each member keeps the store of its own shard-0 replica in memory
// (authCache): an applied change under auth.Root, or a snapshot restore
// of shard 0, marks it stale, and the next check loads it again from the
// local replica. With auth off a call costs two atomic loads.
//
// A connection authenticates once, in its handshake: a user with a
// password (bcrypt-compared outside any lock), or with a token from
// auth.authenticate, or (Config.ClientCertAuth) the common name of its
// verified client certificate. Tokens are "simple tokens" as etcd's: a
// random 256-bit string valid Config.AuthTokenTTL, known only to the
// member that issued it (a client that moves to another member
// authenticates again). Failed attempts are rate-limited per remote host
// (authLimiter) and, for auth.authenticate, per connection; they are
// logged with the user and the remote address, never the password.

// authCache is a member's view of the auth store of its shard-0 replica.
type authCache struct {
	// gen counts the changes this replica applied under auth.Root (and
	// its snapshot restores); cur is the state loaded at some generation.
	gen atomic.Uint64
	cur atomic.Pointer[authSnap]
	mu  sync.Mutex // one reload at a time
}

type authSnap struct {
	gen uint64
	st  *auth.State
}

// invalidate marks the cached state stale.
func (c *authCache) invalidate() { c.gen.Add(1) }

// touchesAuth reports whether an applied batch of shard 0 changed the
// auth store.
func touchesAuth(evs []wire.Event) bool {
	for i := range evs {
		if kv := evs[i].Kv; kv != nil && bytes.HasPrefix(kv.Key, []byte(auth.Root)) {
			return true
		}
	}
	return false
}

// authState returns the member's current auth store: two atomic loads
// when nothing changed since the last load.
func (s *Core) authState() (*auth.State, *wire.Error) {
	if c := s.auth.cur.Load(); c != nil && c.gen == s.auth.gen.Load() {
		return c.st, nil
	}
	return s.reloadAuth()
}

func (s *Core) reloadAuth() (*auth.State, *wire.Error) {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	g := s.auth.gen.Load()
	if c := s.auth.cur.Load(); c != nil && c.gen == g {
		return c.st, nil
	}
	var st *auth.State
	_, err := s.shards[wire.AuthShard].Read(func(r primitive.Reader) (err error) {
		st, err = auth.Load(r)
		return err
	})
	if err != nil {
		return nil, wire.Errorf(wire.CodeUnavailable, "member %s cannot read its auth store: %v", s.cfg.Name, err)
	}
	s.auth.cur.Store(&authSnap{gen: g, st: st})
	return st, nil
}

// authEnabled reports whether auth is on at this member (false if the
// store cannot be read: the caller's own check reports that).
func (s *Core) authEnabled() bool {
	st, werr := s.authState()
	return werr == nil && st.Enabled
}

// Rate limiting of failed authentication attempts: a bucket of authBurst
// failures per remote host (and per connection for auth.authenticate)
// that refills one failure per authRefill. An attempt while the bucket is
// empty is refused without checking the password.
var (
	authBurst  = 5.0
	authRefill = time.Second
)

// authBucket is one host's or connection's allowance of failures.
type authBucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newAuthBucket(now time.Time) *authBucket { return &authBucket{tokens: authBurst, last: now} }

// refill brings the bucket up to now; mu held.
func (b *authBucket) refill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(authBurst, b.tokens+float64(d)/float64(authRefill))
	}
	b.last = now
}

// allow reports whether an attempt may be made now, or how long to wait.
func (b *authBucket) allow(now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(authRefill))
}

// failed counts one failed attempt.
func (b *authBucket) failed(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	b.tokens = max(0, b.tokens-1)
}

// full reports whether the bucket has its whole allowance back.
func (b *authBucket) full(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	return b.tokens >= authBurst
}

// authLimiter holds the buckets of remote hosts with recent failures.
type authLimiter struct {
	mu    sync.Mutex
	hosts map[string]*authBucket
}

func (l *authLimiter) bucket(remote string, now time.Time) *authBucket {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hosts == nil {
		l.hosts = map[string]*authBucket{}
	}
	b := l.hosts[host]
	if b == nil {
		if len(l.hosts) >= 4096 {
			for h, o := range l.hosts {
				if o.full(now) {
					delete(l.hosts, h)
				}
			}
		}
		b = newAuthBucket(now)
		l.hosts[host] = b
	}
	return b
}

// tokenInfo is what a token stands for: a user, as authenticated with
// the password hash the user had then, until expires.
type tokenInfo struct {
	user    string
	hash    []byte
	expires time.Time
}

// tokenStore holds the tokens this member issued.
type tokenStore struct {
	mu sync.Mutex
	m  map[string]tokenInfo
}

func (t *tokenStore) issue(info tokenInfo, now time.Time) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b[:])
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]tokenInfo{}
	}
	if len(t.m) >= 1024 {
		for k, v := range t.m {
			if !now.Before(v.expires) {
				delete(t.m, k)
			}
		}
	}
	t.m[tok] = info
	return tok, nil
}

func (t *tokenStore) lookup(tok string, now time.Time) (tokenInfo, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	info, ok := t.m[tok]
	if ok && !now.Before(info.expires) {
		delete(t.m, tok)
		return tokenInfo{}, false
	}
	return info, ok
}

// errAuthFailed is the one answer to wrong credentials: it does not say
// whether the user exists.
func errAuthFailed() *wire.Error {
	return wire.Errorf(wire.CodeAuthFailed, "authentication failed: wrong user name or password")
}

// identity is who a connection authenticated as: the user, the password
// hash it was checked against (nil for a certificate user) and, for a
// token, when it expires.
type identity struct {
	user    string
	hash    []byte
	expires time.Time // zero: no expiry
	cert    bool      // the user is the client certificate's common name
}

// checkPassword checks user's password against the member's auth store,
// after the remote host's (and conn's, if given) failure allowance.
func (s *Core) checkPassword(remote string, conn *authBucket, user, password string) (identity, *wire.Error) {
	now := time.Now()
	host := s.authLimiter.bucket(remote, now)
	for _, b := range []*authBucket{host, conn} {
		if b == nil {
			continue
		}
		if ok, wait := b.allow(now); !ok {
			s.log.Warn("authentication refused: too many failed attempts", "user", user, "remote", remote)
			return identity{}, wire.Errorf(wire.CodeAuthFailed, "too many failed authentication attempts; try again in %v", wait.Round(time.Millisecond))
		}
	}
	st, werr := s.authState()
	if werr != nil {
		return identity{}, werr
	}
	u := st.Users[user]
	reason := ""
	switch {
	case u == nil:
		reason = "no such user"
	case u.NoPassword || len(u.Hash) == 0:
		reason = "the user has no password (certificate only)"
	case password == "":
		reason = "no password given"
	default:
		// bcrypt is slow by design: no lock is held here.
		if bcrypt.CompareHashAndPassword(u.Hash, []byte(password)) != nil {
			reason = "wrong password"
		}
	}
	if reason != "" {
		host.failed(now)
		if conn != nil {
			conn.failed(now)
		}
		s.log.Warn("authentication failed", "user", user, "remote", remote, "reason", reason)
		return identity{}, errAuthFailed()
	}
	return identity{user: user, hash: u.Hash}, nil
}

// checkToken checks a token this member issued for user.
func (s *Core) checkToken(remote, user, token string) (identity, *wire.Error) {
	now := time.Now()
	host := s.authLimiter.bucket(remote, now)
	if ok, wait := host.allow(now); !ok {
		return identity{}, wire.Errorf(wire.CodeAuthFailed, "too many failed authentication attempts; try again in %v", wait.Round(time.Millisecond))
	}
	info, ok := s.tokens.lookup(token, now)
	if !ok || info.user != user {
		host.failed(now)
		s.log.Warn("authentication failed", "user", user, "remote", remote, "reason", "unknown or expired token (a token is valid only on the member that issued it)")
		return identity{}, wire.Errorf(wire.CodeAuthFailed, "authentication failed: unknown or expired token (a token is valid only on member %s if it issued it; authenticate again)", s.cfg.Name)
	}
	return identity{user: info.user, hash: info.hash, expires: info.expires}, nil
}

// checkBearer checks a token this member issued, whoever it names.
func (s *Core) checkBearer(remote, token string) (identity, *wire.Error) {
	info, ok := s.tokens.lookup(token, time.Now())
	if !ok {
		return s.checkToken(remote, "", token) // counts the failure
	}
	return s.checkToken(remote, info.user, token)
}

// stillValid checks, on each call of an authenticated connection while
// auth is on, that the user still exists with the password it
// authenticated with and that its token has not expired.
func (id *identity) stillValid(st *auth.State, now time.Time) *wire.Error {
	if id.cert {
		return nil // an unknown certificate user is denied everything
	}
	if !id.expires.IsZero() && !now.Before(id.expires) {
		return wire.Errorf(wire.CodeAuthFailed, "authentication failed: the token of user %s expired; authenticate again", id.user)
	}
	u := st.Users[id.user]
	if u == nil {
		return wire.Errorf(wire.CodeAuthFailed, "authentication failed: user %s no longer exists", id.user)
	}
	if !bytes.Equal(u.Hash, id.hash) {
		return wire.Errorf(wire.CodeAuthFailed, "authentication failed: the password of user %s changed; connect again with the new one", id.user)
	}
	return nil
}

// authenticate answers a token for a user and password.
func (s *Core) authenticate(_ context.Context, cl *Caller, req *wire.AuthenticateRequest) (*wire.AuthenticateResponse, *wire.Error) {
	if req.Name == "" {
		return nil, wire.Errorf(wire.CodeInvalid, "authenticate: no user name")
	}
	id, werr := s.checkPassword(cl.Remote, cl.authFails, req.Name, req.Password)
	if werr != nil {
		return nil, werr
	}
	ttl := s.cfg.authTokenTTL()
	tok, err := s.tokens.issue(tokenInfo{user: id.user, hash: id.hash, expires: time.Now().Add(ttl)}, time.Now())
	if err != nil {
		return nil, wire.Errorf(wire.CodeUnknown, "draw a token: %v", err)
	}
	resp := &wire.AuthenticateResponse{Token: tok, TTL: int64((ttl + time.Second - 1) / time.Second)}
	s.fillHeader(&resp.Header, wire.AuthShard)
	resp.Header.Shard = wire.AuthShard
	return resp, nil
}

// Handlers of the auth store's methods: every write is proposed to
// wire.AuthShard as the op of the method's name, every read is the
// store's query of that name, after a ReadIndex.

func authWrite[Req, Resp any](header func(*Resp) *wire.ResponseHeader) func(string) func(*Core, context.Context, *Caller, *Req) (*Resp, *wire.Error) {
	return func(method string) func(*Core, context.Context, *Caller, *Req) (*Resp, *wire.Error) {
		return func(s *Core, ctx context.Context, cl *Caller, req *Req) (*Resp, *wire.Error) {
			cmd := s.command(cl)
			cmd.Set(method, req)
			resp := new(Resp)
			if werr := s.proposeDecode(ctx, wire.AuthShard, cmd, resp, header(resp)); werr != nil {
				return nil, werr
			}
			return resp, nil
		}
	}
}

func authRead[Req, Resp any](header func(*Resp) *wire.ResponseHeader) func(string) func(*Core, context.Context, *Caller, *Req) (*Resp, *wire.Error) {
	return func(method string) func(*Core, context.Context, *Caller, *Req) (*Resp, *wire.Error) {
		return func(s *Core, ctx context.Context, _ *Caller, req *Req) (*Resp, *wire.Error) {
			v, werr := s.lookup(ctx, wire.AuthShard, primitiveQuery{name: method, req: req})
			if werr != nil {
				return nil, werr
			}
			resp, ok := v.(*Resp)
			if !ok {
				return nil, wire.Errorf(wire.CodeUnknown, "%s: the state machine answered a %T", method, v)
			}
			s.fillHeader(header(resp), wire.AuthShard)
			return resp, nil
		}
	}
}

var (
	statusWrite = authWrite[wire.AuthRequest](func(r *wire.AuthStatusResponse) *wire.ResponseHeader { return &r.Header })
	statusRead  = authRead[wire.AuthRequest](func(r *wire.AuthStatusResponse) *wire.ResponseHeader { return &r.Header })
	userWrite   = authWrite[wire.UserRequest](func(r *wire.UserResponse) *wire.ResponseHeader { return &r.Header })
	userRead    = authRead[wire.UserRequest](func(r *wire.UserResponse) *wire.ResponseHeader { return &r.Header })
	roleWrite   = authWrite[wire.RoleRequest](func(r *wire.RoleResponse) *wire.ResponseHeader { return &r.Header })
	roleRead    = authRead[wire.RoleRequest](func(r *wire.RoleResponse) *wire.ResponseHeader { return &r.Header })
)

// errEmptyPassword refuses a user add or passwd without a password.
var errEmptyPassword = errors.New("empty password: give one, or add a user that authenticates only by certificate (no password)")

// hashPassword replaces a user request's password by its bcrypt hash:
// the plaintext never enters the Raft log. A client's own PasswordHash is
// never trusted.
func (s *Core) hashPassword(req *wire.UserRequest, passwd bool) *wire.Error {
	req.PasswordHash = nil
	pw := req.Password
	req.Password = ""
	if req.Name == "" {
		return wire.Errorf(wire.CodeInvalid, "no user name")
	}
	if req.NoPassword && !passwd {
		if pw != "" {
			return wire.Errorf(wire.CodeInvalid, "user %s: a password and no password at once", req.Name)
		}
		return nil
	}
	req.NoPassword = false
	if pw == "" {
		return wire.Errorf(wire.CodeInvalid, "user %s: %v", req.Name, errEmptyPassword)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.cfg.bcryptCost())
	if err != nil {
		return wire.Errorf(wire.CodeInvalid, "user %s: %v", req.Name, err)
	}
	req.PasswordHash = h
	return nil
}

func (s *Core) userAdd(ctx context.Context, cl *Caller, req *wire.UserRequest) (*wire.UserResponse, *wire.Error) {
	if werr := s.hashPassword(req, false); werr != nil {
		return nil, werr
	}
	return userWrite(wire.MethodUserAdd)(s, ctx, cl, req)
}

func (s *Core) userPasswd(ctx context.Context, cl *Caller, req *wire.UserRequest) (*wire.UserResponse, *wire.Error) {
	if werr := s.hashPassword(req, true); werr != nil {
		return nil, werr
	}
	return userWrite(wire.MethodUserPasswd)(s, ctx, cl, req)
}

// authHandlers are the dispatch table's entries of the auth methods.
func authHandlers() []*handler {
	return []*handler{
		unary(wire.MethodAuthenticate, (*Core).authenticate),
		unary(wire.MethodAuthEnable, statusWrite(wire.MethodAuthEnable)),
		unary(wire.MethodAuthDisable, statusWrite(wire.MethodAuthDisable)),
		unary(wire.MethodAuthStatus, statusRead(wire.MethodAuthStatus)),
		unary(wire.MethodUserAdd, (*Core).userAdd),
		unary(wire.MethodUserDelete, userWrite(wire.MethodUserDelete)),
		unary(wire.MethodUserGet, userRead(wire.MethodUserGet)),
		unary(wire.MethodUserList, userRead(wire.MethodUserList)),
		unary(wire.MethodUserPasswd, (*Core).userPasswd),
		unary(wire.MethodUserGrantRole, userWrite(wire.MethodUserGrantRole)),
		unary(wire.MethodUserRevokeRole, userWrite(wire.MethodUserRevokeRole)),
		unary(wire.MethodRoleAdd, roleWrite(wire.MethodRoleAdd)),
		unary(wire.MethodRoleDelete, roleWrite(wire.MethodRoleDelete)),
		unary(wire.MethodRoleGet, roleRead(wire.MethodRoleGet)),
		unary(wire.MethodRoleList, roleRead(wire.MethodRoleList)),
		unary(wire.MethodRoleGrantPermission, roleWrite(wire.MethodRoleGrantPermission)),
		unary(wire.MethodRoleRevokePermission, roleWrite(wire.MethodRoleRevokePermission)),
	}
}
