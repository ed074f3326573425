package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

func TestKVBasics(t *testing.T) {
	tc := newTestCluster(t, 3, 4)
	c := tc.client()
	ctx := ctxT(t, 20*time.Second)

	p1, err := c.Put(ctx, "a", "1")
	require.NoError(t, err)
	g, err := c.Get(ctx, "a")
	require.NoError(t, err)
	require.Len(t, g.Kvs, 1)
	kv := g.Kvs[0]
	require.Equal(t, "a", string(kv.Key))
	require.Equal(t, "1", string(kv.Value))
	require.Equal(t, p1.Header.Revision, kv.CreateRevision)
	require.Equal(t, p1.Header.Revision, kv.ModRevision)
	require.EqualValues(t, 1, kv.Version)
	require.Equal(t, wire.ShardOf([]byte("a"), 4), g.Header.Shard)
	require.NotEmpty(t, g.Header.Member)
	require.NotZero(t, g.Header.RaftTerm)

	p2, err := c.Put(ctx, "a", "2", coord.WithPrevKV())
	require.NoError(t, err)
	require.Equal(t, "1", string(p2.PrevKV.Value))
	g, err = c.Get(ctx, "a")
	require.NoError(t, err)
	require.Greater(t, g.Kvs[0].ModRevision, kv.ModRevision)
	require.Equal(t, kv.CreateRevision, g.Kvs[0].CreateRevision)
	require.EqualValues(t, 2, g.Kvs[0].Version)

	// The old value is still readable at the old revision.
	old, err := c.Get(ctx, "a", coord.WithRev(p1.Header.Revision))
	require.NoError(t, err)
	require.Equal(t, "1", string(old.Kvs[0].Value))

	// Serializable reads from any member see the value once replicated.
	for _, ep := range tc.endpoints() {
		one := tc.client(ep)
		require.Eventually(t, func() bool {
			r, err := one.Get(ctx, "a", coord.WithSerializable())
			return err == nil && len(r.Kvs) == 1 && string(r.Kvs[0].Value) == "2"
		}, 10*time.Second, 10*time.Millisecond)
	}

	d, err := c.Delete(ctx, "a", coord.WithPrevKV())
	require.NoError(t, err)
	require.EqualValues(t, 1, d.Deleted)
	require.Equal(t, "2", string(d.PrevKvs[0].Value))
	g, err = c.Get(ctx, "a")
	require.NoError(t, err)
	require.Empty(t, g.Kvs)
	require.Zero(t, g.Count)
}

func TestRangeAcrossShards(t *testing.T) {
	tc := newTestCluster(t, 1, 4)
	c := tc.client()
	ctx := ctxT(t, 20*time.Second)

	var keys []string
	shards := map[uint32]bool{}
	for i := 0; i < 40; i++ {
		k := fmt.Sprintf("/r/%02d", i)
		keys = append(keys, k)
		p, err := c.Put(ctx, k, fmt.Sprint(i))
		require.NoError(t, err)
		shards[p.Header.Shard] = true
	}
	require.Len(t, shards, 4, "keys should spread over every shard")

	g, err := c.Get(ctx, "/r/", coord.WithPrefix())
	require.NoError(t, err)
	require.Equal(t, wire.AllShards, g.Header.Shard)
	require.Len(t, g.Header.Revisions, 4)
	require.EqualValues(t, 40, g.Count)
	var got []string
	for _, kv := range g.Kvs {
		got = append(got, string(kv.Key))
	}
	require.Equal(t, keys, got)
	require.True(t, sort.StringsAreSorted(got))

	g, err = c.Get(ctx, "/r/", coord.WithPrefix(), coord.WithLimit(5))
	require.NoError(t, err)
	require.Len(t, g.Kvs, 5)
	require.True(t, g.More)
	require.Equal(t, keys[:5], []string{string(g.Kvs[0].Key), string(g.Kvs[1].Key), string(g.Kvs[2].Key), string(g.Kvs[3].Key), string(g.Kvs[4].Key)})

	g, err = c.Get(ctx, "", coord.WithPrefix(), coord.WithCountOnly())
	require.NoError(t, err)
	require.EqualValues(t, 40, g.Count)
	require.Empty(t, g.Kvs)

	// Keys with one tag live in one shard, and a tagged prefix read is served by it alone.
	var tagShard uint32
	for i := 0; i < 10; i++ {
		p, err := c.Put(ctx, fmt.Sprintf("{svc}/api/n%d", i), "x")
		require.NoError(t, err)
		if i == 0 {
			tagShard = p.Header.Shard
		}
		require.Equal(t, tagShard, p.Header.Shard)
	}
	g, err = c.Get(ctx, "{svc}/", coord.WithPrefix())
	require.NoError(t, err)
	require.Equal(t, tagShard, g.Header.Shard)
	require.Len(t, g.Kvs, 10)

	d, err := c.Delete(ctx, "/r/", coord.WithPrefix())
	require.NoError(t, err)
	require.EqualValues(t, 40, d.Deleted)
}

func TestTxnCAS(t *testing.T) {
	tc := newTestCluster(t, 3, 2)
	ctx := ctxT(t, 20*time.Second)
	c := tc.client()
	_, err := c.Put(ctx, "{acct}/bal", "0")
	require.NoError(t, err)

	// Many clients race the same compare-and-swap: exactly one wins.
	const n = 8
	var wg sync.WaitGroup
	wins := make(chan int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cl := tc.client(tc.endpoints()[i%3])
			r, err := cl.Txn(ctx).If(coord.Compare(coord.Value("{acct}/bal"), "=", "0")).
				Then(coord.OpPut("{acct}/bal", fmt.Sprint(i+1)), coord.OpGet("{acct}/bal")).
				Else(coord.OpGet("{acct}/bal")).Commit()
			if !assertNoErr(t, err) {
				return
			}
			if r.Succeeded {
				wins <- i + 1
			}
		}(i)
	}
	wg.Wait()
	close(wins)
	var winners []int
	for w := range wins {
		winners = append(winners, w)
	}
	require.Len(t, winners, 1)
	g, err := c.Get(ctx, "{acct}/bal")
	require.NoError(t, err)
	require.Equal(t, fmt.Sprint(winners[0]), string(g.Kvs[0].Value))

	// Version and revision compares, and a txn is one revision.
	before := g.Header.Revision
	r, err := c.Txn(ctx).If(coord.Compare(coord.Version("{acct}/bal"), "=", 2),
		coord.Compare(coord.ModRevision("{acct}/bal"), "<", before+1)).
		Then(coord.OpPut("{acct}/a", "1"), coord.OpPut("{acct}/b", "2")).Commit()
	require.NoError(t, err)
	require.True(t, r.Succeeded)
	require.Equal(t, before+1, r.Header.Revision)
	require.Len(t, r.Responses, 2)

	// A txn across shards is refused with the hash-tag rule.
	var crossKey string
	for i := 0; ; i++ {
		crossKey = fmt.Sprintf("k%d", i)
		if wire.ShardOf([]byte(crossKey), 2) != wire.ShardOf([]byte("{acct}/bal"), 2) {
			break
		}
	}
	_, err = c.Txn(ctx).If(coord.Compare(coord.Value("{acct}/bal"), "=", "x")).Then(coord.OpPut(crossKey, "v")).Commit()
	require.ErrorIs(t, err, coord.ErrCrossShardTxn)
	require.Contains(t, err.Error(), "hash tag")
	require.NotContains(t, err.Error(), "\n")
}

func assertNoErr(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("unexpected error: %v", err)
		return false
	}
	return true
}

func TestLimits(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	c := tc.client()
	ctx := ctxT(t, 20*time.Second)
	cfg := tc.Config(0)

	_, err := c.Put(ctx, strings.Repeat("k", cfg.MaxKeySize), "v")
	require.NoError(t, err)
	_, err = c.Put(ctx, strings.Repeat("k", cfg.MaxKeySize+1), "v")
	require.ErrorIs(t, err, coord.ErrTooLarge)

	_, err = c.Put(ctx, "big", strings.Repeat("v", cfg.MaxValueSize))
	require.NoError(t, err)
	_, err = c.Put(ctx, "big", strings.Repeat("v", cfg.MaxValueSize+1))
	require.ErrorIs(t, err, coord.ErrTooLarge)
	require.Contains(t, err.Error(), "limit")

	// A request over the request limit is refused by the client before sending.
	_, err = c.Put(ctx, "huge", strings.Repeat("v", cfg.MaxRequestSize+10))
	require.ErrorIs(t, err, coord.ErrTooLarge)

	ops := make([]coord.Op, cfg.MaxTxnOps+1)
	for i := range ops {
		ops[i] = coord.OpPut(fmt.Sprintf("t%d", i), "v")
	}
	_, err = c.Txn(ctx).Then(ops...).Commit()
	require.ErrorIs(t, err, coord.ErrTooLarge)
	_, err = c.Txn(ctx).Then(ops[:cfg.MaxTxnOps]...).Commit()
	require.NoError(t, err)

	_, err = c.Put(ctx, "", "v")
	require.ErrorIs(t, err, coord.ErrInvalid)
	_, err = c.Put(ctx, "\x00coord/lock/x", "v")
	require.ErrorIs(t, err, coord.ErrPermissionDenied)
	_, err = c.Put(ctx, "leased", "v", coord.WithLease(12345))
	require.ErrorIs(t, err, coord.ErrLeaseNotFound)

	// The server is still fine.
	g, err := c.Get(ctx, "big")
	require.NoError(t, err)
	require.Len(t, g.Kvs[0].Value, cfg.MaxValueSize)
}

func TestGarbageClosesOnlyThatConnection(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	c := tc.client()
	ctx := ctxT(t, 20*time.Second)
	_, err := c.Put(ctx, "before", "1")
	require.NoError(t, err)

	inputs := [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		bytes.Repeat([]byte{0xff}, 4096),
		{0, 0, 0, 5, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1},
		{0x7f, 0xff, 0xff, 0xff}, // a 2 GiB frame
	}
	for _, in := range inputs {
		nc, err := net.Dial("tcp", tc.Config(0).ListenClient)
		require.NoError(t, err)
		_, _ = nc.Write(in)
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 16)
		_, err = nc.Read(buf)
		require.Error(t, err, "the server must close a connection that sends garbage")
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "connection was not closed")
		nc.Close()
	}
	// Existing and new connections keep working.
	_, err = c.Put(ctx, "after", "1")
	require.NoError(t, err)
	g, err := tc.client().Get(ctx, "before")
	require.NoError(t, err)
	require.Len(t, g.Kvs, 1)
}

// rawCall sends one request frame on a raw connection and reads the answer.
func rawCall(t *testing.T, nc net.Conn, fr *wire.FrameReader, f *wire.Frame) *wire.Frame {
	t.Helper()
	b, err := wire.AppendFrame(nil, f)
	require.NoError(t, err)
	_, err = nc.Write(b)
	require.NoError(t, err)
	var r wire.Frame
	require.NoError(t, fr.Read(&r))
	return &r
}

func TestRetriedWriteAppliedOnce(t *testing.T) {
	tc := newTestCluster(t, 3, 1)
	ctx := ctxT(t, 20*time.Second)

	dial := func(addr string) (net.Conn, *wire.FrameReader) {
		nc, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { nc.Close() })
		fr := wire.NewFrameReader(nc, 0)
		hello, _ := wire.Marshal(&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, ClientID: 4242})
		r := rawCall(t, nc, fr, &wire.Frame{Type: wire.FrameHello, Body: hello})
		require.Nil(t, r.Err)
		return nc, fr
	}
	body, _ := wire.Marshal(&wire.PutRequest{Key: []byte("once"), Value: []byte("v")})
	put := &wire.Frame{Type: wire.FrameRequest, ID: 1, Method: wire.MethodPut, Seq: 1, AckBelow: 1, TimeoutMillis: 5000, Body: body}

	nc1, fr1 := dial(tc.Config(0).ListenClient)
	r1 := rawCall(t, nc1, fr1, put)
	require.Nil(t, r1.Err)
	// The same write again, as after a lost answer, through another member.
	nc2, fr2 := dial(tc.Config(1).ListenClient)
	r2 := rawCall(t, nc2, fr2, put)
	require.Nil(t, r2.Err)
	var p1, p2 wire.PutResponse
	require.NoError(t, wire.Unmarshal(r1.Body, &p1))
	require.NoError(t, wire.Unmarshal(r2.Body, &p2))
	require.Equal(t, p1.Header.Revision, p2.Header.Revision)

	g, err := tc.client().Get(ctx, "once")
	require.NoError(t, err)
	require.EqualValues(t, 1, g.Kvs[0].Version, "the retried put must not apply twice")
	require.Equal(t, p1.Header.Revision, g.Header.Revision)

	// A new sequence number is a new write.
	put.Seq, put.ID = 2, 2
	r3 := rawCall(t, nc2, fr2, put)
	require.Nil(t, r3.Err)
	g, err = tc.client().Get(ctx, "once")
	require.NoError(t, err)
	require.EqualValues(t, 2, g.Kvs[0].Version)
}

func TestUnknownMethodAndHandshake(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	nc, err := net.Dial("tcp", tc.Config(0).ListenClient)
	require.NoError(t, err)
	defer nc.Close()
	fr := wire.NewFrameReader(nc, 0)
	hello, _ := wire.Marshal(&wire.Hello{Magic: wire.Magic, Version: 99})
	r := rawCall(t, nc, fr, &wire.Frame{Type: wire.FrameHello, Body: hello})
	require.NotNil(t, r.Err)
	require.Equal(t, wire.CodeUnimplemented, r.Err.Code)

	c := tc.client()
	_, err = c.Status(context.Background(), tc.Config(0).ListenClient)
	require.NoError(t, err)
}

// TestCallsPerConnectionBounded opens more long-lived calls on one
// connection than allowed: the extra one is refused with a clear error,
// and a cancel still gets through.
func TestCallsPerConnectionBounded(t *testing.T) {
	old := maxCallsPerConn
	maxCallsPerConn = 2
	defer func() { maxCallsPerConn = old }()
	tc := newTestCluster(t, 1, 1)
	nc, err := net.Dial("tcp", tc.Config(0).ListenClient)
	require.NoError(t, err)
	defer nc.Close()
	fr := wire.NewFrameReader(nc, 0)
	hello, _ := wire.Marshal(&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, ClientID: 7})
	require.Nil(t, rawCall(t, nc, fr, &wire.Frame{Type: wire.FrameHello, Body: hello}).Err)
	watch, _ := wire.Marshal(&wire.WatchRequest{Key: []byte("w")})
	for id := uint64(1); id <= 3; id++ {
		r := rawCall(t, nc, fr, &wire.Frame{Type: wire.FrameRequest, ID: id, Method: wire.MethodWatch, Body: watch})
		if id <= 2 {
			require.Nil(t, r.Err)
			require.True(t, r.More, "watch %d created", id)
		} else {
			require.NotNil(t, r.Err)
			require.Equal(t, wire.CodeTooLarge, r.Err.Code)
			require.Contains(t, r.Err.Message, "too many calls")
		}
	}
	// Cancelling a watch frees its slot for a new call.
	b, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameCancel, ID: 1})
	_, err = nc.Write(b)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		r := rawCall(t, nc, fr, &wire.Frame{Type: wire.FrameRequest, ID: 100, Method: wire.MethodStatus, Body: []byte{0x80}})
		for r.ID != 100 { // skip the cancelled watch's last message
			var f wire.Frame
			require.NoError(t, fr.Read(&f))
			r = &f
		}
		return r.Err == nil
	}, 5*time.Second, 50*time.Millisecond)
}

func TestHTTPEndpoints(t *testing.T) {
	tc := newTestCluster(t, 1, 2)
	ctx := ctxT(t, 10*time.Second)
	_, err := tc.client().Put(ctx, "m", "1")
	require.NoError(t, err)
	base := "http://" + tc.Member(0).HTTPAddr()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, _ := get("/healthz")
	require.Equal(t, 200, code)
	code, _ = get("/readyz")
	require.Equal(t, 200, code)
	code, body := get("/status")
	require.Equal(t, 200, code)
	var st wire.StatusResponse
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.Equal(t, "n1", st.Member)
	require.Len(t, st.Shards, 2)
	code, body = get("/metrics")
	require.Equal(t, 200, code)
	require.Contains(t, body, `coord_requests_total{code="ok",method="kv.put"}`)
	require.Contains(t, body, "coord_ready 1")
	code, _ = get("/debug/pprof/")
	require.Equal(t, 404, code, "the profiler is off unless enabled")
}

// TestRetryOlderThanRetention: a write whose client reports it first sent
// it long before (more than half the exactly-once retention), reaching a
// shard that has no record of the client, is answered "outcome unknown"
// and not applied: an earlier attempt may have been applied under a record
// since dropped. The same write with a recent first send is applied. A
// tagged write without a sequence number is refused.
func TestRetryOlderThanRetention(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	ctx := ctxT(t, 20*time.Second)
	nc, err := net.Dial("tcp", tc.Config(0).ListenClient)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	fr := wire.NewFrameReader(nc, 0)
	hello, _ := wire.Marshal(&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, ClientID: 4343})
	require.Nil(t, rawCall(t, nc, fr, &wire.Frame{Type: wire.FrameHello, Body: hello}).Err)

	body, _ := wire.Marshal(&wire.PutRequest{Key: []byte("late"), Value: []byte("v")})
	old := time.Hour.Milliseconds()
	put := &wire.Frame{Type: wire.FrameRequest, ID: 1, Method: wire.MethodPut, Seq: 7, AckBelow: 1, TimeoutMillis: 5000, Body: body, AgeMillis: old}
	r := rawCall(t, nc, fr, put)
	require.NotNil(t, r.Err)
	require.Equal(t, wire.CodeOutcomeUnknown, r.Err.Code, r.Err.Message)
	g, err := tc.client().Get(ctx, "late")
	require.NoError(t, err)
	require.Empty(t, g.Kvs, "not applied")

	put.ID, put.Seq, put.AgeMillis = 2, 8, 1500
	r = rawCall(t, nc, fr, put)
	require.Nil(t, r.Err)
	g, err = tc.client().Get(ctx, "late")
	require.NoError(t, err)
	require.Len(t, g.Kvs, 1)

	put.ID, put.Seq, put.AgeMillis = 3, 0, 0
	r = rawCall(t, nc, fr, put)
	require.NotNil(t, r.Err)
	require.Equal(t, wire.CodeInvalid, r.Err.Code, r.Err.Message)
}
