package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/coord-io/coord/coord/wire"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The etcd door (etcd.go) end to end: etcd's own Go client (clientv3)
// and its JSON gateway against in-process clusters.

// newEtcdCluster starts n members with shards shards, each with an etcd
// door on a free port.
func newEtcdCluster(t *testing.T, n, shards int, opts ...func(*Config)) *testCluster {
	t.Helper()
	return newTestCluster(t, n, shards, append([]func(*Config){func(c *Config) { c.ListenEtcd = "127.0.0.1:0" }}, opts...)...)
}

// etcdClient is a clientv3 client of the given etcd door addresses (every
// member's when none is given).
func (tc *testCluster) etcdClient(cfg clientv3.Config, eps ...string) *clientv3.Client {
	tc.t.Helper()
	if len(eps) == 0 {
		eps = tc.EtcdEndpoints()
	}
	cfg.Endpoints = eps
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	cfg.Logger = zap.NewNop()
	c, err := clientv3.New(cfg)
	require.NoError(tc.t, err)
	tc.t.Cleanup(func() { c.Close() })
	return c
}

func keysOf(kvs []*mvccpb.KeyValue) []string {
	var ks []string
	for _, kv := range kvs {
		ks = append(ks, string(kv.Key))
	}
	return ks
}

// TestEtcdKV: Put/Get (prefix, from-key, keys-only, count-only, limit,
// rev, sort, revision filters with limit), Delete prev_kv, Txn CAS and
// compares, Compact, and etcd's error values, through clientv3 on a
// three-member cluster; the response header names the cluster and member.
func TestEtcdKV(t *testing.T) {
	tc := newEtcdCluster(t, 3, 1, func(c *Config) { c.MaxValueSize = 4096; c.MaxTxnOps = 16 })
	m0 := tc.Member(0)
	c := tc.etcdClient(clientv3.Config{}, m0.EtcdAddr())
	ctx := ctxT(t, 60*time.Second)

	put, err := c.Put(ctx, "foo", "bar")
	require.NoError(t, err)
	h := put.Header
	require.Equal(t, m0.ClusterID(), h.ClusterId)
	require.Equal(t, etcdMemberID("n1"), h.MemberId)
	require.NotZero(t, h.MemberId)
	require.Positive(t, h.Revision)
	require.NotZero(t, h.RaftTerm)

	var revs []int64
	for _, k := range []string{"a/1", "a/2", "a/3"} {
		r, err := c.Put(ctx, k, "v"+k[2:])
		require.NoError(t, err)
		revs = append(revs, r.Header.Revision)
	}
	_, err = c.Put(ctx, "b", "x")
	require.NoError(t, err)

	g, err := c.Get(ctx, "a/", clientv3.WithPrefix())
	require.NoError(t, err)
	require.Equal(t, []string{"a/1", "a/2", "a/3"}, keysOf(g.Kvs))
	require.Equal(t, "v2", string(g.Kvs[1].Value))
	require.EqualValues(t, 3, g.Count)
	require.False(t, g.More)
	require.GreaterOrEqual(t, g.Header.Revision, revs[2])

	g, err = c.Get(ctx, "a/2", clientv3.WithFromKey())
	require.NoError(t, err)
	require.Equal(t, []string{"a/2", "a/3", "b", "foo"}, keysOf(g.Kvs))

	g, err = c.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	require.NoError(t, err)
	require.Len(t, g.Kvs, 3)
	require.Empty(t, g.Kvs[0].Value)

	g, err = c.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	require.Empty(t, g.Kvs)
	require.EqualValues(t, 3, g.Count)

	g, err = c.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithLimit(2))
	require.NoError(t, err)
	require.Equal(t, []string{"a/1", "a/2"}, keysOf(g.Kvs))
	require.True(t, g.More)
	require.EqualValues(t, 3, g.Count)

	g, err = c.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithRev(revs[0]))
	require.NoError(t, err)
	require.Equal(t, []string{"a/1"}, keysOf(g.Kvs))
	require.GreaterOrEqual(t, g.Header.Revision, revs[2], "etcd's header has the store's revision, not the one read")

	g, err = c.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	require.NoError(t, err)
	require.Equal(t, []string{"a/3", "a/2", "a/1"}, keysOf(g.Kvs))

	g, err = c.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend), clientv3.WithLimit(1))
	require.NoError(t, err)
	require.Equal(t, []string{"a/3"}, keysOf(g.Kvs))
	require.True(t, g.More)

	// The limit applies after the filter: the first key at or above the
	// second put's revision is a/2, not a/1.
	g, err = c.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithMinModRev(revs[1]), clientv3.WithLimit(1))
	require.NoError(t, err)
	require.Equal(t, []string{"a/2"}, keysOf(g.Kvs))
	g, err = c.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithMaxCreateRev(revs[1]))
	require.NoError(t, err)
	require.Equal(t, []string{"a/1", "a/2"}, keysOf(g.Kvs))

	g, err = c.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithSerializable())
	require.NoError(t, err)
	require.Len(t, g.Kvs, 3)

	// Put's options.
	p, err := c.Put(ctx, "foo", "bar2", clientv3.WithPrevKV())
	require.NoError(t, err)
	require.Equal(t, "bar", string(p.PrevKv.Value))
	_, err = c.Put(ctx, "foo", "", clientv3.WithIgnoreValue())
	require.NoError(t, err)
	g, err = c.Get(ctx, "foo")
	require.NoError(t, err)
	require.Equal(t, "bar2", string(g.Kvs[0].Value))
	require.EqualValues(t, 3, g.Kvs[0].Version)
	_, err = c.Put(ctx, "missing", "", clientv3.WithIgnoreValue())
	require.Equal(t, rpctypes.ErrKeyNotFound, err)
	_, err = c.Put(ctx, "foo", "x", clientv3.WithIgnoreValue())
	require.Equal(t, rpctypes.ErrValueProvided, err)
	_, err = c.Put(ctx, "", "x")
	require.Equal(t, rpctypes.ErrEmptyKey, err)

	// Delete.
	d, err := c.Delete(ctx, "a/1", clientv3.WithPrevKV())
	require.NoError(t, err)
	require.EqualValues(t, 1, d.Deleted)
	require.Equal(t, "v1", string(d.PrevKvs[0].Value))
	d, err = c.Delete(ctx, "a/", clientv3.WithPrefix())
	require.NoError(t, err)
	require.EqualValues(t, 2, d.Deleted)

	// Txn: compare and swap.
	cas := func(from, to string) *clientv3.TxnResponse {
		r, err := c.Txn(ctx).If(clientv3.Compare(clientv3.Value("foo"), "=", from)).
			Then(clientv3.OpPut("foo", to)).Else(clientv3.OpGet("foo")).Commit()
		require.NoError(t, err)
		return r
	}
	r := cas("bar2", "baz")
	require.True(t, r.Succeeded)
	require.NotNil(t, r.Responses[0].GetResponsePut())
	r = cas("bar2", "qux")
	require.False(t, r.Succeeded)
	require.Equal(t, "baz", string(r.Responses[0].GetResponseRange().Kvs[0].Value))

	g, err = c.Get(ctx, "foo")
	require.NoError(t, err)
	kv := g.Kvs[0]
	for _, tt := range []struct {
		cmp  clientv3.Cmp
		want bool
	}{
		{clientv3.Compare(clientv3.Version("foo"), "=", kv.Version), true},
		{clientv3.Compare(clientv3.Version("foo"), ">", kv.Version), false},
		{clientv3.Compare(clientv3.CreateRevision("foo"), "=", kv.CreateRevision), true},
		{clientv3.Compare(clientv3.ModRevision("foo"), "<", kv.ModRevision+1), true},
		{clientv3.Compare(clientv3.ModRevision("foo"), "!=", kv.ModRevision), false},
		{clientv3.Compare(clientv3.LeaseValue("foo"), "=", 0), true},
		{clientv3.Compare(clientv3.Version("nokey"), "=", 0), true},
		// etcd: a value compare on a missing key always fails.
		{clientv3.Compare(clientv3.Value("nokey"), "!=", "x"), false},
		{clientv3.Compare(clientv3.Value("nokey"), "=", ""), false},
		{clientv3.Compare(clientv3.Value("nokey"), "<", "x"), false},
	} {
		r, err := c.Txn(ctx).If(tt.cmp).Commit()
		require.NoError(t, err)
		require.Equal(t, tt.want, r.Succeeded, "%v", tt.cmp)
	}

	// Nested transactions: a clear refusal.
	_, err = c.Txn(ctx).Then(clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpPut("n", "1")}, nil)).Commit()
	require.Equal(t, codes.Unimplemented, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "nested")

	// Limits: etcd's errors.
	var ops []clientv3.Op
	for i := 0; i < 17; i++ {
		ops = append(ops, clientv3.OpPut("t"+string(rune('a'+i)), "v"))
	}
	_, err = c.Txn(ctx).Then(ops...).Commit()
	require.Equal(t, rpctypes.ErrTooManyOps, err)
	_, err = c.Put(ctx, "big", strings.Repeat("x", 5000))
	require.Equal(t, rpctypes.ErrRequestTooLarge, err)
	_, err = c.Txn(ctx).Then(clientv3.OpPut("d", "1"), clientv3.OpPut("d", "2")).Commit()
	require.Equal(t, rpctypes.ErrDuplicateKey, err)

	// Compact, then read below it.
	var last int64
	for i := 0; i < 3; i++ {
		p, err := c.Put(ctx, "c", "v")
		require.NoError(t, err)
		last = p.Header.Revision
	}
	_, err = c.Get(ctx, "c", clientv3.WithRev(last+1000))
	require.Equal(t, rpctypes.ErrFutureRev, err)
	require.True(t, errors.Is(err, rpctypes.ErrFutureRev))
	cr, err := c.Compact(ctx, last)
	require.NoError(t, err)
	require.Equal(t, m0.ClusterID(), cr.Header.ClusterId)
	_, err = c.Get(ctx, "c", clientv3.WithRev(last-1))
	require.Equal(t, rpctypes.ErrCompacted, err)
	require.True(t, errors.Is(err, rpctypes.ErrCompacted))
	g, err = c.Get(ctx, "c", clientv3.WithRev(last))
	require.NoError(t, err)
	require.Len(t, g.Kvs, 1)

	// Another member answers with its own member ID, the same cluster ID.
	c2 := tc.etcdClient(clientv3.Config{}, tc.Member(2).EtcdAddr())
	g, err = c2.Get(ctx, "foo")
	require.NoError(t, err)
	require.Equal(t, etcdMemberID("n3"), g.Header.MemberId)
	require.Equal(t, m0.ClusterID(), g.Header.ClusterId)
}

// TestEtcdPaging: a range larger than a page comes back whole (the door
// follows the core's pages at one revision), with its limit.
func TestEtcdPaging(t *testing.T) {
	tc := newEtcdCluster(t, 1, 1, func(c *Config) { c.MaxResponseBytes = minResponseBytes })
	c := tc.etcdClient(clientv3.Config{})
	ctx := ctxT(t, 60*time.Second)
	val := strings.Repeat("v", 1000)
	for i := 0; i < 20; i++ {
		_, err := c.Put(ctx, "p/"+string(rune('a'+i)), val)
		require.NoError(t, err)
	}
	g, err := c.Get(ctx, "p/", clientv3.WithPrefix())
	require.NoError(t, err)
	require.Len(t, g.Kvs, 20)
	require.EqualValues(t, 20, g.Count)
	require.False(t, g.More)
	g, err = c.Get(ctx, "p/", clientv3.WithPrefix(), clientv3.WithLimit(15))
	require.NoError(t, err)
	require.Len(t, g.Kvs, 15)
	require.True(t, g.More)
	require.Equal(t, "p/o", string(g.Kvs[14].Key))
}

// TestEtcdClusterAndStatus: MemberList and Maintenance.Status, as
// `etcdctl member list` and `endpoint status` read them.
func TestEtcdClusterAndStatus(t *testing.T) {
	tc := newEtcdCluster(t, 3, 1)
	ctx := ctxT(t, 30*time.Second)
	addr := tc.Member(1).EtcdAddr()
	c := tc.etcdClient(clientv3.Config{}, addr)

	ml, err := c.MemberList(ctx)
	require.NoError(t, err)
	require.Len(t, ml.Members, 3)
	ids := map[uint64]string{}
	for i, m := range ml.Members {
		name := "n" + string(rune('1'+i))
		require.Equal(t, name, m.Name)
		require.Equal(t, etcdMemberID(name), m.ID)
		require.Equal(t, []string{"http://" + tc.Config(i).ListenPeer}, m.PeerURLs)
		ids[m.ID] = m.Name
	}
	require.Len(t, ids, 3)
	require.Equal(t, []string{"http://" + addr}, ml.Members[1].ClientURLs)
	require.Equal(t, tc.Member(1).ClusterID(), ml.Header.ClusterId)
	require.Equal(t, etcdMemberID("n2"), ml.Header.MemberId)

	_, err = c.Put(ctx, "k", "v")
	require.NoError(t, err)
	st, err := c.Status(ctx, addr)
	require.NoError(t, err)
	require.Equal(t, "3.6.0", st.Version)
	require.Contains(t, ids, st.Leader)
	require.NotZero(t, st.RaftTerm)
	require.NotZero(t, st.RaftIndex)
	require.Positive(t, st.DbSize)
	require.Positive(t, st.Header.Revision)
	require.Equal(t, etcdMemberID("n2"), st.Header.MemberId)
	require.Empty(t, st.Errors)
}

// TestEtcdGateway: etcd's JSON gateway on the same port, as curl uses it.
func TestEtcdGateway(t *testing.T) {
	tc := newEtcdCluster(t, 1, 1)
	base := "http://" + tc.Member(0).EtcdAddr()
	post := func(path, body string) map[string]any {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
		var out map[string]any
		require.NoError(t, json.Unmarshal(b, &out), "%s", b)
		return out
	}
	out := post("/v3/kv/put", `{"key":"Zm9v","value":"YmFy"}`)
	require.Contains(t, out, "header")
	out = post("/v3/kv/range", `{"key":"Zm9v"}`)
	kvs, _ := out["kvs"].([]any)
	require.Len(t, kvs, 1, "%v", out)
	kv := kvs[0].(map[string]any)
	require.Equal(t, "Zm9v", kv["key"])
	require.Equal(t, "YmFy", kv["value"])
	hdr := out["header"].(map[string]any)
	require.NotEmpty(t, hdr["cluster_id"])
	require.NotEmpty(t, hdr["member_id"])

	// An error is etcd's gateway error: a JSON body with the gRPC code.
	resp, err := http.Post(base+"/v3/kv/range", "application/json", strings.NewReader(`{"key":"Zm9v","revision":"100000"}`))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NotEqual(t, http.StatusOK, resp.StatusCode)
	require.True(t, bytes.Contains(b, []byte("future revision")), "%s", b)
}

// TestEtcdAuth: with auth on, clientv3 with a user name and password
// authenticates (Auth.Authenticate, then its token on every call) and is
// allowed and denied as the user's roles say; a client without a user is
// refused.
func TestEtcdAuth(t *testing.T) {
	tc := newAuthCluster(t, 3, func(c *Config) { c.ListenEtcd = "127.0.0.1:0" })
	setupAuth(t, tc)
	ctx := ctxT(t, 60*time.Second)
	for i := 0; i < tc.Len(); i++ {
		c := tc.etcdClient(clientv3.Config{Username: "alice", Password: "pw"}, tc.Member(i).EtcdAddr())
		_, err := c.Put(ctx, "/app/x", "1")
		require.NoError(t, err)
		g, err := c.Get(ctx, "/app/x")
		require.NoError(t, err)
		require.Equal(t, "1", string(g.Kvs[0].Value))
		_, err = c.Put(ctx, "/other", "1")
		require.Equal(t, rpctypes.ErrPermissionDenied, err)
		_, err = c.Put(ctx, "/pub/x", "1")
		require.Equal(t, rpctypes.ErrPermissionDenied, err)
		_, err = c.Get(ctx, "/pub/x")
		require.NoError(t, err)
	}
	_, err := clientv3.New(clientv3.Config{Endpoints: tc.EtcdEndpoints()[:1], DialTimeout: 5 * time.Second,
		Username: "alice", Password: "wrong", Logger: zap.NewNop()})
	require.Equal(t, rpctypes.ErrAuthFailed, err)

	anon := tc.etcdClient(clientv3.Config{})
	_, err = anon.Get(ctx, "/app/x")
	require.Equal(t, rpctypes.ErrUserEmpty, err)

	root := tc.etcdClient(clientv3.Config{Username: "root", Password: "rootpw"})
	_, err = root.Put(ctx, "/other", "1")
	require.NoError(t, err)
}

// TestEtcdAuthNotEnabled: with auth off, a client that names a user
// connects as against etcd (Authenticate says auth is not enabled).
func TestEtcdAuthNotEnabled(t *testing.T) {
	tc := newEtcdCluster(t, 1, 1)
	c := tc.etcdClient(clientv3.Config{Username: "alice", Password: "pw"})
	_, err := c.Put(ctxT(t, 10*time.Second), "k", "v")
	require.NoError(t, err)
}

// TestEtcdShards: with several shards, what etcd defines over one global
// revision and spans shards is refused with the hash-tag rule; within a
// shard it works.
func TestEtcdShards(t *testing.T) {
	tc := newEtcdCluster(t, 1, 4)
	c := tc.etcdClient(clientv3.Config{})
	ctx := ctxT(t, 30*time.Second)
	for _, k := range []string{"{u}/a", "{u}/b", "x", "y", "z"} {
		_, err := c.Put(ctx, k, "v")
		require.NoError(t, err)
	}
	r, err := c.Txn(ctx).If(clientv3.Compare(clientv3.Value("{u}/a"), "=", "v")).Then(clientv3.OpPut("{u}/b", "w")).Commit()
	require.NoError(t, err)
	require.True(t, r.Succeeded)

	_, err = c.Txn(ctx).Then(clientv3.OpPut("x", "1"), clientv3.OpPut("y", "1"), clientv3.OpPut("z", "1")).Commit()
	require.Error(t, err)
	require.Contains(t, []codes.Code{codes.InvalidArgument, codes.FailedPrecondition}, status.Code(err))
	require.Contains(t, err.Error(), "hash tag")

	g, err := c.Get(ctx, "", clientv3.WithFromKey())
	require.NoError(t, err)
	require.Len(t, g.Kvs, 5)
	_, err = c.Get(ctx, "", clientv3.WithFromKey(), clientv3.WithRev(g.Header.Revision))
	require.Error(t, err)
	require.Contains(t, err.Error(), "hash tag")
	g, err = c.Get(ctx, "{u}/", clientv3.WithPrefix(), clientv3.WithRev(1))
	require.NoError(t, err)
}

// TestEtcdDoorStops: the member stops with an etcd client connected, and
// its etcd port is closed afterwards.
func TestEtcdDoorStops(t *testing.T) {
	tc := newEtcdCluster(t, 1, 1)
	c := tc.etcdClient(clientv3.Config{})
	_, err := c.Put(ctxT(t, 10*time.Second), "k", "v")
	require.NoError(t, err)
	addr := tc.Member(0).EtcdAddr()
	tc.stop(0)
	_, err = http.Post("http://"+addr+"/v3/kv/range", "application/json", strings.NewReader(`{"key":"aw=="}`))
	require.Error(t, err)
}

// TestEtcdConfig: the flag's default, off, and a bad address.
func TestEtcdConfig(t *testing.T) {
	require.Equal(t, "127.0.0.1:2379", DefaultConfig().ListenEtcd)
	c := DefaultConfig()
	c.ListenEtcd = ""
	require.NoError(t, c.Validate())
	c.ListenEtcd = "nope"
	require.ErrorContains(t, c.Validate(), "listen-etcd")
	lc, err := NewLocalCluster(LocalClusterConfig{Members: 3, EtcdPorts: []int{2379, 0}})
	require.NoError(t, err)
	defer lc.Close()
	require.Equal(t, "127.0.0.1:2379", lc.Config(0).ListenEtcd)
	require.Equal(t, "127.0.0.1:0", lc.Config(1).ListenEtcd)
	require.Equal(t, "", lc.Config(2).ListenEtcd)
}

// TestEtcdAuthTokenAnyMember: a token from one member's Authenticate is
// valid on every member (as etcd's), a forged one on none, and a
// password change invalidates it.
func TestEtcdAuthTokenAnyMember(t *testing.T) {
	tc := newAuthCluster(t, 3, func(c *Config) { c.ListenEtcd = "127.0.0.1:0" })
	setupAuth(t, tc)
	ctx := ctxT(t, 60*time.Second)
	c0 := tc.etcdClient(clientv3.Config{Username: "alice", Password: "pw"}, tc.Member(0).EtcdAddr())
	a, err := c0.Authenticate(ctx, "alice", "pw")
	require.NoError(t, err)
	with := func(tok string) context.Context { return metadata.AppendToOutgoingContext(ctx, "token", tok) }
	for i := 0; i < tc.Len(); i++ {
		c := tc.etcdClient(clientv3.Config{}, tc.Member(i).EtcdAddr())
		_, err := c.Put(with(a.Token), "/app/t", "1")
		require.NoError(t, err, "member %d", i)
		_, err = c.Put(with(a.Token), "/other", "1")
		require.Equal(t, rpctypes.ErrPermissionDenied, err)
		forged := a.Token[:len(a.Token)-1] + map[bool]string{true: "0", false: "1"}[strings.HasSuffix(a.Token, "1")]
		_, err = c.Put(with(forged), "/app/t", "1")
		require.Equal(t, rpctypes.ErrInvalidAuthToken, err)
	}
	// A password change (here through the native client) invalidates it.
	nc := tc.userClient("root", "rootpw")
	must(t, callAuth(ctx, nc, wire.MethodUserPasswd, &wire.UserRequest{Name: "alice", Password: "pw2"}))
	c := tc.etcdClient(clientv3.Config{}, tc.Member(1).EtcdAddr())
	require.Eventually(t, func() bool {
		_, err := c.Put(with(a.Token), "/app/t", "1")
		return err == rpctypes.ErrInvalidAuthToken
	}, 20*time.Second, 10*time.Millisecond)
}

// TestEtcdTLS: with the client port's TLS and client certificates, the
// etcd door speaks TLS with the same settings: etcd's client with a
// certificate the CA signed works, one without a certificate does not.
func TestEtcdTLS(t *testing.T) {
	p := newTestPKI(t)
	tc := newEtcdCluster(t, 1, 1, func(c *Config) {
		c.TLSCertFile, c.TLSKeyFile = p.serverCert, p.serverKey
		c.ClientCertAuth, c.TrustedCAFile = true, p.caFile
	})
	addr := tc.Member(0).EtcdAddr()
	ctx := ctxT(t, 30*time.Second)
	c := tc.etcdClient(clientv3.Config{TLS: &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.clientPair}}}, "https://"+addr)
	_, err := c.Put(ctx, "k", "v")
	require.NoError(t, err)
	ml, err := c.MemberList(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"https://" + addr}, ml.Members[0].ClientURLs)

	noCert := tc.etcdClient(clientv3.Config{TLS: &tls.Config{RootCAs: p.pool}}, "https://"+addr)
	_, err = noCert.Get(ctxT(t, 2*time.Second), "k")
	require.Error(t, err)
}
