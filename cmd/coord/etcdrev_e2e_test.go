package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/coord-io/coord/coord/server"
)

// TestEtcdRevisionNumbering pins etcd's numbering on a fresh member (issue
// 14), through both doors: an empty store answers a Range with header
// revision 1 and is readable at revision 1; the first write makes revision
// 2 (clientv3's Put header, and `coord get -w json`'s mod_revision); a
// watch from revision 1 replays it; compact 1 succeeds, as on a fresh etcd.
func TestEtcdRevisionNumbering(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lc, err := server.StartLocalCluster(ctx, server.LocalClusterConfig{Members: 1, Dir: t.TempDir(), EtcdPorts: []int{0},
		Configure: func(cfg *server.Config) { cfg.ListenHTTP = "" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lc.Close() })
	ep := lc.Endpoints()[0]
	c, err := clientv3.New(clientv3.Config{Endpoints: lc.EtcdEndpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	getJSON := func(key string) jsonGet {
		t.Helper()
		code, out, errOut := runCLI(t, "", "get", key, "-w", "json", "--endpoints", ep)
		if code != 0 {
			t.Fatalf("coord get %s -w json: exit %d, %s", key, code, errOut)
		}
		var g jsonGet
		if err := json.Unmarshal([]byte(out), &g); err != nil {
			t.Fatalf("coord get -w json: %v in %q", err, out)
		}
		return g
	}

	g, err := c.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if g.Header.Revision != 1 || g.Count != 0 {
		t.Fatalf("Range on a fresh member: header revision %d, count %d; want 1, 0 (etcd's empty store is at 1)", g.Header.Revision, g.Count)
	}
	if g, err := c.Get(ctx, "k", clientv3.WithRev(1)); err != nil || g.Header.Revision != 1 {
		t.Fatalf("Range at revision 1 on a fresh member: %v, %+v", err, g)
	}
	if cg := getJSON("k"); cg.Header.Revision != 1 || cg.Count != 0 {
		t.Fatalf("coord get on a fresh member: %+v, want header revision 1", cg)
	}

	p, err := c.Put(ctx, "k", "v")
	if err != nil {
		t.Fatal(err)
	}
	if p.Header.Revision != 2 {
		t.Fatalf("first Put: header revision %d, want 2 (as etcd's)", p.Header.Revision)
	}
	cg := getJSON("k")
	if cg.Header.Revision != 2 || len(cg.Kvs) != 1 || cg.Kvs[0].ModRevision != 2 || cg.Kvs[0].CreateRevision != 2 || cg.Kvs[0].Version != 1 {
		t.Fatalf("coord get k -w json after the first put: %+v, want mod_revision and create_revision 2", cg)
	}

	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	select {
	case wr := <-c.Watch(wctx, "k", clientv3.WithRev(1)):
		if err := wr.Err(); err != nil || len(wr.Events) != 1 || wr.Events[0].Kv.ModRevision != 2 {
			t.Fatalf("watch from revision 1: %v, %+v", err, wr.Events)
		}
	case <-ctx.Done():
		t.Fatal("watch from revision 1: no event")
	}

	if _, err := c.Compact(ctx, 1); err != nil {
		t.Fatalf("compact 1: %v (etcd compacts a fresh store at 1)", err)
	}
	if _, err := c.Compact(ctx, 3); err == nil {
		t.Fatal("compact 3 at revision 2: no error, want a future revision")
	}
}
