package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
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
