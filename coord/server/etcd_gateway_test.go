package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// postStream posts body to the etcd door's gateway path and returns
// the newline-delimited JSON messages it streams, one at a time.
func postStream(t *testing.T, ctx context.Context, url, body string) (next func() map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() map[string]any {
		t.Helper()
		select {
		case line, ok := <-lines:
			require.True(t, ok, "stream ended")
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m), "%s", line)
			return m
		case <-time.After(15 * time.Second):
			t.Fatal("no message on the gateway stream after 15 s")
			return nil
		}
	}
}

// TestEtcdGatewayWatch: `curl -N -X POST /v3/watch -d
// '{"create_request":{"key":"Zm9v"}}'` streams etcd's gateway messages —
// newline-delimited JSON {"result":{...}} — first the created response,
// then each event, while the request body has ended (the stream lives
// until the client goes, as etcd's).
func TestEtcdGatewayWatch(t *testing.T) {
	tc := newEtcdCluster(t, 1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	next := postStream(t, ctx, "http://"+tc.Member(0).EtcdAddr()+"/v3/watch", `{"create_request":{"key":"Zm9v"}}`)
	created := next()["result"].(map[string]any)
	require.Equal(t, true, created["created"], "%v", created)

	c := tc.etcdClient(clientv3.Config{})
	_, err := c.Put(ctx, "foo", "bar")
	require.NoError(t, err)
	_, err = c.Put(ctx, "other", "x")
	require.NoError(t, err)
	_, err = c.Delete(ctx, "foo")
	require.NoError(t, err)
	var got []string
	for len(got) < 2 {
		res := next()["result"].(map[string]any)
		evs, _ := res["events"].([]any)
		for _, e := range evs {
			ev := e.(map[string]any)
			kv := ev["kv"].(map[string]any)
			typ, _ := ev["type"].(string) // PUT is the zero value: left out
			got = append(got, typ+" "+kv["key"].(string)+" "+func() string { v, _ := kv["value"].(string); return v }())
		}
	}
	require.Equal(t, []string{" Zm9v YmFy", "DELETE Zm9v "}, got)

	// A member with a gateway watch open stops promptly: the stream's
	// handler ends with its request.
	start := time.Now()
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer stopCancel()
	require.NoError(t, tc.Member(0).Stop(stopCtx))
	require.Less(t, time.Since(start), 8*time.Second)
}

// TestEtcdGatewayKeepAlive: POST /v3/lease/keepalive -d '{"ID":…}' renews
// the lease and answers {"result":{...,"TTL":…}} (and "TTL" absent, 0,
// for a lease that is gone), as etcd's gateway.
func TestEtcdGatewayKeepAlive(t *testing.T) {
	tc := newEtcdCluster(t, 1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := tc.etcdClient(clientv3.Config{})
	g, err := c.Grant(ctx, 30)
	require.NoError(t, err)
	url := "http://" + tc.Member(0).EtcdAddr() + "/v3/lease/keepalive"
	res := postStream(t, ctx, url, `{"ID":"`+itoa(int64(g.ID))+`"}`)()["result"].(map[string]any)
	require.Equal(t, itoa(int64(g.ID)), res["ID"], "%v", res)
	require.Equal(t, "30", res["TTL"], "%v", res)

	_, err = c.Revoke(ctx, g.ID)
	require.NoError(t, err)
	res = postStream(t, ctx, url, `{"ID":"`+itoa(int64(g.ID))+`"}`)()["result"].(map[string]any)
	require.NotContains(t, res, "TTL", "%v", res)

	// The unary lease calls still answer through the gateway.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+tc.Member(0).EtcdAddr()+"/v3/lease/grant", strings.NewReader(`{"TTL":"20"}`))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var grant map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&grant))
	require.Equal(t, "20", grant["TTL"], "%v", grant)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestEtcdGatewayBoundsBodies: the gateway reads no more of a request
// body than a request the member takes could need — a unary call's body,
// a stream's each JSON request — and answers etcd's "request is too large"
// past it, having allocated nothing near the body's size; a stream of many
// small requests is not cut off by their sum.
func TestEtcdGatewayBoundsBodies(t *testing.T) {
	const maxReq = 64 << 10
	tc := newEtcdCluster(t, 1, 1, func(c *Config) {
		c.MaxRequestSize = maxReq
		c.MaxValueSize = maxReq / 2
		c.MaxKeySize = 1 << 10
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := "http://" + tc.Member(0).EtcdAddr()
	post := func(path string, body io.Reader) (code int, answer string, allocated uint64) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, body)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		runtime.ReadMemStats(&after)
		return resp.StatusCode, string(b), after.TotalAlloc - before.TotalAlloc
	}
	const huge = 64 << 20
	hugeBody := func(prefix, suffix string) io.Reader {
		return io.MultiReader(strings.NewReader(prefix), &repeatReader{b: 'A', n: huge}, strings.NewReader(suffix))
	}

	// A put whose value is 64 MiB of JSON, and a 64 MiB request on a
	// stream: each refused before it is read whole (the member is in this
	// process: what it allocated is counted). The answer is a 400 (the
	// stream's {"error":…}) naming the cause — or, when the server closes
	// the connection while the client still sends, no answer at all.
	for _, c := range []struct{ path, prefix, suffix string }{
		{"/v3/kv/put", `{"key":"Zm9v","value":"`, `"}`},
		{"/v3/watch", `{"create_request":{"key":"`, `"}}`},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+c.path, hugeBody(c.prefix, c.suffix))
		require.NoError(t, err)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			require.Contains(t, string(b), "request is too large", "%s: status %d: %s", c.path, resp.StatusCode, b)
			if c.path == "/v3/kv/put" {
				require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(b))
			}
		}
		runtime.ReadMemStats(&after)
		allocated := after.TotalAlloc - before.TotalAlloc
		require.Less(t, allocated, uint64(huge/4), "%s: a refused %d-byte request allocated %d bytes", c.path, huge, allocated)
	}

	// A value at the member's limit still goes through the gateway.
	val := base64.StdEncoding.EncodeToString(make([]byte, maxReq/2))
	code, body, _ := post("/v3/kv/put", strings.NewReader(`{"key":"Zm9v","value":"`+val+`"}`))
	require.Equal(t, http.StatusOK, code, body)

	// One watch stream of requests that add up to more than the bound,
	// each small: every one is answered.
	one := `{"progress_request":{}}` + strings.Repeat(" ", 1000) + "\n"
	n := gatewayRequestLimit(maxReq)/len(one) + 50
	next := postStream(t, ctx, base+"/v3/watch", strings.Repeat(one, n))
	for i := 0; i < n; i++ {
		res := next()["result"].(map[string]any)
		require.Contains(t, res, "header", "answer %d: %v", i, res)
	}
}

// repeatReader reads n copies of b.
type repeatReader struct {
	b byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = r.b
	}
	r.n -= k
	return k, nil
}

// TestEtcdGatewayStreamsBothWays: a gateway stream takes requests after it
// has answered some — a client keeping a lease alive over one POST sends
// each renewal when it wants (as `curl -N -T -`), and each is
// answered. (Go's HTTP/1 server stops reading a request body once a
// response is flushed unless the handler enables full duplex.)
func TestEtcdGatewayStreamsBothWays(t *testing.T) {
	tc := newEtcdCluster(t, 1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := tc.etcdClient(clientv3.Config{})
	g, err := c.Grant(ctx, 30)
	require.NoError(t, err)
	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+tc.Member(0).EtcdAddr()+"/v3/lease/keepalive", pr)
	require.NoError(t, err)
	renewal := `{"ID":"` + itoa(int64(g.ID)) + `"}` + "\n"
	send := func() {
		t.Helper()
		sent := make(chan error, 1)
		go func() { _, err := io.WriteString(pw, renewal); sent <- err }()
		select {
		case err := <-sent:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			pw.CloseWithError(errors.New("gave up"))
			t.Fatal("the gateway took no renewal for 10 s after answering one")
		}
	}
	// The response's headers come with the first answer: send the first
	// renewal while Do waits for them.
	go func() { _, _ = io.WriteString(pw, renewal) }()
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		got <- result{resp, err}
	}()
	var resp *http.Response
	select {
	case r := <-got:
		require.NoError(t, r.err)
		resp = r.resp
	case <-time.After(10 * time.Second):
		// (Without full duplex Go's server reads the rest of the body
		// before it sends the first answer's headers: it waits for
		// renewals the client sends only after that answer.)
		pw.CloseWithError(errors.New("gave up"))
		t.Fatal("no answer to the first renewal in 10 s")
	}
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	sc := bufio.NewScanner(resp.Body)
	for i := 0; i < 5; i++ {
		if i > 0 {
			send()
		}
		require.True(t, sc.Scan(), "answer %d: stream ended (%v)", i, sc.Err())
		var m map[string]map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "%s", sc.Text())
		require.Equal(t, itoa(int64(g.ID)), m["result"]["ID"], "answer %d: %s", i, sc.Text())
	}
}
