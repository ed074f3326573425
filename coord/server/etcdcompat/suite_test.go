package etcdcompat

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	recipe "go.etcd.io/etcd/client/v3/experimental/recipes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// scenario is one entry of the suite: it gets a client of the target
// (and the target, for per-target expectations) and a key prefix of its
// own.
type scenario struct {
	name string
	run  func(t *testing.T, tg *target, c *clientv3.Client, p string)
}

// scenarios is the suite, in order. Scenarios run one after another on
// one cluster per target; compaction runs last (it discards history the
// others might read).
var scenarios = []scenario{
	{"KV/PutGet", kvPutGet},
	{"KV/RangeOptions", kvRangeOptions},
	{"KV/Delete", kvDelete},
	{"KV/Txn", kvTxn},
	{"Watch/Prefix", watchPrefix},
	{"Watch/StartRevisionPrevKV", watchStartRevision},
	{"Watch/Cancel", watchCancel},
	{"Lease/GrantTTLKeysRevoke", leaseGrantRevoke},
	{"Lease/KeepAlive", leaseKeepAlive},
	{"Lease/ExpiryDeletesKeys", leaseExpiry},
	{"Concurrency/Mutex", mutexExclusion},
	{"Concurrency/MutexTryLock", mutexTryLock},
	{"Concurrency/Election", election},
	{"Concurrency/STM", stm},
	{"Recipes/Queue", recipeQueue},
	{"Recipes/PriorityQueue", recipePriorityQueue},
	{"Recipes/Barrier", recipeBarrier},
	{"Recipes/DoubleBarrier", recipeDoubleBarrier},
	{"Recipes/RWMutex", recipeRWMutex},
	{"Differences/LeaseGrantWithID", leaseGrantWithID},
	{"Maintenance/HashAndStatus", maintenance},
	{"Maintenance/MoveLeader", moveLeader},
	{"KV/Compaction", kvCompaction},
}

// TestSuite runs every scenario against three Coord members and against
// a real three-member etcd cluster, with the same assertions.
func TestSuite(t *testing.T) {
	for _, start := range []struct {
		name  string
		start func(*testing.T) *target
	}{{"coord", startCoord}, {"etcd", startEtcd}} {
		t.Run(start.name, func(t *testing.T) {
			begin := time.Now()
			tg := start.start(t)
			t.Logf("%s: three members ready in %v", tg.name, time.Since(begin).Round(10*time.Millisecond))
			c := tg.client(t)
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					guarded(t, func() { sc.run(t, tg, c, "/suite/"+sc.name+"/") })
				})
			}
			t.Logf("%s: suite took %v", tg.name, time.Since(begin).Round(10*time.Millisecond))
		})
	}
}

// ctxT is a context bounded by 30 s and the test.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustFail is what must panics with: guarded turns it into t.Fatal.
type mustFail struct {
	err  error
	line string
}

// must returns v, or ends the scenario (through guarded) when err is
// set. Only for the scenario's own goroutine.
func must[T any](v T, err error) T {
	if err != nil {
		_, file, line, _ := runtime.Caller(1)
		panic(mustFail{err, fmt.Sprintf("%s:%d", filepath.Base(file), line)})
	}
	return v
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// guarded runs f, turning a must failure into t.Fatal.
func guarded(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			if mf, ok := r.(mustFail); ok {
				t.Fatalf("%s: %v", mf.line, mf.err)
			}
			panic(r)
		}
	}()
	f()
}

// stillBlocked fails the test (as what) if the call that sends its
// result on done returns within 300 ms.
func stillBlocked(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s: %v", what, err)
	case <-time.After(300 * time.Millisecond):
	}
}

// returnsOK fails the test unless the call that sends its result on done
// returns without error (call names it) within 15 s (else: late).
func returnsOK(t *testing.T, done <-chan error, call, late string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", call, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal(late)
	}
}

// rev is the store's revision now.
func rev(t *testing.T, c *clientv3.Client) int64 {
	t.Helper()
	return must(c.Get(ctxT(t), "/suite/rev-probe")).Header.Revision
}

func keysOf(kvs []*mvccpb.KeyValue, p string) []string {
	var ks []string
	for _, kv := range kvs {
		ks = append(ks, string(kv.Key)[len(p):])
	}
	return ks
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func eqKeys(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func kvPutGet(t *testing.T, _ *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	r0 := rev(t, c)
	put := must(c.Put(ctx, p+"a", "1"))
	r1 := put.Header.Revision
	if r1 <= r0 {
		t.Fatalf("put's revision %d, want above the revision read before (%d)", r1, r0)
	}
	if put.PrevKv != nil {
		t.Errorf("put without WithPrevKV answered prev_kv %v", put.PrevKv)
	}
	g := must(c.Get(ctx, p+"a"))
	if len(g.Kvs) != 1 {
		t.Fatalf("get: %v", g.Kvs)
	}
	kv := g.Kvs[0]
	eq(t, "value", string(kv.Value), "1")
	eq(t, "create_revision", kv.CreateRevision, r1)
	eq(t, "mod_revision", kv.ModRevision, r1)
	eq(t, "version", kv.Version, int64(1))
	if g.Header.Revision < r1 {
		t.Errorf("get's header revision %d below the put's %d", g.Header.Revision, r1)
	}
	put2 := must(c.Put(ctx, p+"a", "2", clientv3.WithPrevKV()))
	r2 := put2.Header.Revision
	if r2 <= r1 {
		t.Errorf("second put's revision %d not above the first's %d", r2, r1)
	}
	if put2.PrevKv == nil || string(put2.PrevKv.Value) != "1" || put2.PrevKv.ModRevision != r1 {
		t.Errorf("put WithPrevKV: prev_kv %v, want value 1 at mod revision %d", put2.PrevKv, r1)
	}
	kv = must(c.Get(ctx, p+"a")).Kvs[0]
	eq(t, "value after update", string(kv.Value), "2")
	eq(t, "create_revision after update", kv.CreateRevision, r1)
	eq(t, "mod_revision after update", kv.ModRevision, r2)
	eq(t, "version after update", kv.Version, int64(2))
	// Reading at the first revision sees the first value.
	old := must(c.Get(ctx, p+"a", clientv3.WithRev(r1)))
	if len(old.Kvs) != 1 || string(old.Kvs[0].Value) != "1" {
		t.Errorf("get WithRev(%d): %v, want value 1", r1, old.Kvs)
	}
	// Serializable reads answer too (from the member's own store).
	ser := must(c.Get(ctx, p+"a", clientv3.WithSerializable()))
	if len(ser.Kvs) > 1 {
		t.Errorf("serializable get: %v", ser.Kvs)
	}
	if len(must(c.Get(ctx, p+"missing")).Kvs) != 0 {
		t.Error("get of a missing key answered a kv")
	}
	// A read past the store's revision is ErrFutureRev.
	if _, err := c.Get(ctx, p+"a", clientv3.WithRev(r2+1000000)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Errorf("get at a future revision: %v, want ErrFutureRev", err)
	}
}

func kvRangeOptions(t *testing.T, _ *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	for i, k := range []string{"c", "a", "e", "b", "d"} {
		must(c.Put(ctx, p+k, strconv.Itoa(i)))
	}
	must(c.Put(ctx, p[:len(p)-1]+"0", "outside")) // sorts after p's keys, outside the prefix
	g := must(c.Get(ctx, p, clientv3.WithPrefix()))
	eqKeys(t, "prefix", keysOf(g.Kvs, p), "a", "b", "c", "d", "e")
	eq(t, "prefix count", g.Count, int64(5))
	eq(t, "prefix more", g.More, false)

	g = must(c.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithLimit(2)))
	eqKeys(t, "limit 2", keysOf(g.Kvs, p), "a", "b")
	eq(t, "limit count (the whole range)", g.Count, int64(5))
	eq(t, "limit more", g.More, true)

	g = must(c.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(3)))
	eqKeys(t, "sort key descend limit 3", keysOf(g.Kvs, p), "e", "d", "c")

	// Written c a e b d: by mod revision descending, d b e a c.
	g = must(c.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend)))
	eqKeys(t, "sort by mod revision descend", keysOf(g.Kvs, p), "d", "b", "e", "a", "c")
	g = must(c.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByValue, clientv3.SortAscend)))
	eqKeys(t, "sort by value", keysOf(g.Kvs, p), "c", "a", "e", "b", "d")

	g = must(c.Get(ctx, p+"b", clientv3.WithRange(p+"d")))
	eqKeys(t, "range [b, d)", keysOf(g.Kvs, p), "b", "c")

	g = must(c.Get(ctx, p+"d", clientv3.WithFromKey(), clientv3.WithLimit(3)))
	if len(g.Kvs) != 3 || fmt.Sprint(keysOf(g.Kvs[:2], p)) != "[d e]" || string(g.Kvs[2].Key) != p[:len(p)-1]+"0" {
		t.Errorf("from key d, limit 3: %q", g.Kvs)
	}

	g = must(c.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithKeysOnly()))
	eqKeys(t, "keys only", keysOf(g.Kvs, p), "a", "b", "c", "d", "e")
	for _, kv := range g.Kvs {
		if len(kv.Value) != 0 {
			t.Errorf("keys only answered value %q", kv.Value)
		}
	}
	g = must(c.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly()))
	eq(t, "count only: kvs", len(g.Kvs), 0)
	eq(t, "count only: count", g.Count, int64(5))

	// Mod/create revision filters, relative to e's revision.
	e := must(c.Get(ctx, p+"e")).Kvs[0].ModRevision
	g = must(c.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithMinModRev(e)))
	eqKeys(t, "min mod revision (e's)", keysOf(g.Kvs, p), "b", "d", "e")
	g = must(c.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithMaxCreateRev(e)))
	eqKeys(t, "max create revision (e's)", keysOf(g.Kvs, p), "a", "c", "e")
	g = must(c.Get(ctx, p, clientv3.WithFirstCreate()...))
	eqKeys(t, "first create", keysOf(g.Kvs, p), "c")
	g = must(c.Get(ctx, p, clientv3.WithLastCreate()...))
	eqKeys(t, "last create", keysOf(g.Kvs, p), "d")
	g = must(c.Get(ctx, p, clientv3.WithFirstKey()...))
	eqKeys(t, "first key", keysOf(g.Kvs, p), "a")
	g = must(c.Get(ctx, p, clientv3.WithLastKey()...))
	eqKeys(t, "last key", keysOf(g.Kvs, p), "e")
}

func kvDelete(t *testing.T, _ *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	for _, k := range []string{"a", "b", "c"} {
		must(c.Put(ctx, p+k, "v"+k))
	}
	d := must(c.Delete(ctx, p+"a", clientv3.WithPrevKV()))
	eq(t, "deleted", d.Deleted, int64(1))
	if len(d.PrevKvs) != 1 || string(d.PrevKvs[0].Value) != "va" {
		t.Errorf("delete WithPrevKV: %v", d.PrevKvs)
	}
	d = must(c.Delete(ctx, p, clientv3.WithPrefix()))
	eq(t, "deleted by prefix", d.Deleted, int64(2))
	eq(t, "keys left", must(c.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly())).Count, int64(0))
	d = must(c.Delete(ctx, p+"a"))
	eq(t, "deleted again", d.Deleted, int64(0))
	// A recreated key starts again at version 1.
	put := must(c.Put(ctx, p+"a", "again"))
	kv := must(c.Get(ctx, p+"a")).Kvs[0]
	eq(t, "recreated version", kv.Version, int64(1))
	eq(t, "recreated create_revision", kv.CreateRevision, put.Header.Revision)
}

func kvTxn(t *testing.T, _ *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	put := must(c.Put(ctx, p+"k", "10"))
	r := put.Header.Revision
	// Compare on value, version, mod and create revision: all hold.
	tr := must(c.Txn(ctx).If(
		clientv3.Compare(clientv3.Value(p+"k"), "=", "10"),
		clientv3.Compare(clientv3.Version(p+"k"), "=", 1),
		clientv3.Compare(clientv3.ModRevision(p+"k"), "=", r),
		clientv3.Compare(clientv3.CreateRevision(p+"k"), "<", r+1),
		clientv3.Compare(clientv3.CreateRevision(p+"absent"), "=", 0),
	).Then(
		clientv3.OpPut(p+"k", "5"), clientv3.OpPut(p+"audit", "took 5"), clientv3.OpGet(p+"k"),
	).Else(clientv3.OpPut(p+"wrong", "x")).Commit())
	if !tr.Succeeded {
		t.Fatal("txn whose compares all hold did not succeed")
	}
	eq(t, "txn responses", len(tr.Responses), 3)
	if g := tr.Responses[2].GetResponseRange(); g == nil || len(g.Kvs) != 1 || string(g.Kvs[0].Value) != "5" {
		t.Errorf("txn's get after its put: %v", tr.Responses[2])
	}
	// Both puts at one revision, the txn's.
	a := must(c.Get(ctx, p+"audit")).Kvs[0]
	k := must(c.Get(ctx, p+"k")).Kvs[0]
	eq(t, "txn puts share a revision", a.ModRevision, k.ModRevision)
	eq(t, "txn revision is its header's", k.ModRevision, tr.Header.Revision)
	// A failing compare runs Else.
	tr = must(c.Txn(ctx).If(clientv3.Compare(clientv3.Value(p+"k"), "=", "10")).
		Then(clientv3.OpPut(p+"k", "0")).Else(clientv3.OpGet(p + "k")).Commit())
	if tr.Succeeded {
		t.Error("txn with a failing compare succeeded")
	}
	if g := tr.Responses[0].GetResponseRange(); g == nil || string(g.Kvs[0].Value) != "5" {
		t.Errorf("else branch's get: %v", tr.Responses)
	}
	// A CAS on the mod revision: only the first of two with the same
	// expectation wins.
	mod := k.ModRevision
	cas := func(v string) bool {
		return must(c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(p+"k"), "=", mod)).Then(clientv3.OpPut(p+"k", v)).Commit()).Succeeded
	}
	eq(t, "first CAS", cas("x"), true)
	eq(t, "second CAS on the same revision", cas("y"), false)
	eq(t, "value after CAS", string(must(c.Get(ctx, p+"k")).Kvs[0].Value), "x")
	// A txn with a delete by prefix.
	tr = must(c.Txn(ctx).Then(clientv3.OpDelete(p, clientv3.WithPrefix())).Commit())
	if d := tr.Responses[0].GetResponseDeleteRange(); d == nil || d.Deleted != 2 {
		t.Errorf("txn delete by prefix: %v", tr.Responses)
	}
	// Two puts of one key in one txn are refused (etcd's rule).
	_, err := c.Txn(ctx).Then(clientv3.OpPut(p+"d", "1"), clientv3.OpPut(p+"d", "2")).Commit()
	if !errors.Is(err, rpctypes.ErrDuplicateKey) {
		t.Errorf("txn putting one key twice: %v, want ErrDuplicateKey", err)
	}
}

// nextEvent waits for one watch event.
func nextEvents(t *testing.T, wc clientv3.WatchChan, n int) []*clientv3.Event {
	t.Helper()
	var evs []*clientv3.Event
	timeout := time.After(15 * time.Second)
	for len(evs) < n {
		select {
		case wr, ok := <-wc:
			if !ok {
				t.Fatalf("watch channel closed after %d of %d events", len(evs), n)
			}
			if err := wr.Err(); err != nil {
				t.Fatalf("watch: %v", err)
			}
			evs = append(evs, wr.Events...)
		case <-timeout:
			t.Fatalf("%d of %d watch events after 15 s", len(evs), n)
		}
	}
	return evs
}

func describe(p string, evs []*clientv3.Event) string {
	s := ""
	for _, e := range evs {
		s += fmt.Sprintf("%s %s=%s; ", e.Type, string(e.Kv.Key)[len(p):], e.Kv.Value)
	}
	return s
}

func watchPrefix(t *testing.T, _ *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wc := c.Watch(wctx, p, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	select {
	case wr := <-wc:
		if !wr.Created {
			t.Fatalf("first watch response not created: %+v", wr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no created response")
	}
	must(c.Put(ctx, p+"a", "1"))
	must(c.Put(ctx, p[:len(p)-1]+"0", "outside"))
	must(c.Put(ctx, p+"b", "2"))
	d := must(c.Delete(ctx, p+"a"))
	evs := nextEvents(t, wc, 3)
	eq(t, "events", describe(p, evs), "PUT a=1; PUT b=2; DELETE a=; ")
	eq(t, "delete event's mod revision", evs[2].Kv.ModRevision, d.Header.Revision)
	if !evs[0].IsCreate() || evs[1].IsModify() {
		t.Errorf("event kinds: create %v, modify %v", evs[0].IsCreate(), evs[1].IsModify())
	}
}

func watchStartRevision(t *testing.T, _ *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	r1 := must(c.Put(ctx, p+"k", "1")).Header.Revision
	must(c.Put(ctx, p+"k", "2"))
	must(c.Delete(ctx, p+"k"))
	// History from r1 with the previous kv of each event, then live.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wc := c.Watch(wctx, p+"k", clientv3.WithRev(r1), clientv3.WithPrevKV())
	evs := nextEvents(t, wc, 3)
	eq(t, "history", describe(p, evs), "PUT k=1; PUT k=2; DELETE k=; ")
	if evs[0].PrevKv != nil {
		t.Errorf("first put's prev_kv %v, want none", evs[0].PrevKv)
	}
	if evs[1].PrevKv == nil || string(evs[1].PrevKv.Value) != "1" {
		t.Errorf("second put's prev_kv %v, want value 1", evs[1].PrevKv)
	}
	if evs[2].PrevKv == nil || string(evs[2].PrevKv.Value) != "2" {
		t.Errorf("delete's prev_kv %v, want value 2", evs[2].PrevKv)
	}
	eq(t, "first event's revision", evs[0].Kv.ModRevision, r1)
	must(c.Put(ctx, p+"k", "3"))
	eq(t, "live", describe(p, nextEvents(t, wc, 1)), "PUT k=3; ")
	// Filters: no puts.
	wc2 := c.Watch(wctx, p+"k", clientv3.WithRev(r1), clientv3.WithFilterPut())
	eq(t, "no-put filter", describe(p, nextEvents(t, wc2, 1)), "DELETE k=; ")
}

func watchCancel(t *testing.T, _ *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	wctx, cancel := context.WithCancel(ctx)
	wc := c.Watch(wctx, p, clientv3.WithPrefix())
	other := c.Watch(ctx, p+"k") // same stream, stays
	must(c.Put(ctx, p+"k", "1"))
	nextEvents(t, wc, 1)
	nextEvents(t, other, 1)
	cancel()
	// The canceled watch's channel closes; the other still gets events.
	deadline := time.After(15 * time.Second)
	for closed := false; !closed; {
		select {
		case _, ok := <-wc:
			closed = !ok
		case <-deadline:
			t.Fatal("canceled watch's channel still open after 15 s")
		}
	}
	must(c.Put(ctx, p+"k", "2"))
	eq(t, "other watch after cancel", describe(p, nextEvents(t, other, 1)), "PUT k=2; ")
}

func leaseGrantRevoke(t *testing.T, _ *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	g := must(c.Grant(ctx, 60))
	eq(t, "granted TTL", g.TTL, int64(60))
	must(c.Put(ctx, p+"a", "1", clientv3.WithLease(g.ID)))
	must(c.Put(ctx, p+"b", "2", clientv3.WithLease(g.ID)))
	ttl := must(c.TimeToLive(ctx, g.ID, clientv3.WithAttachedKeys()))
	eq(t, "ttl granted", ttl.GrantedTTL, int64(60))
	if ttl.TTL <= 0 || ttl.TTL > 60 {
		t.Errorf("remaining TTL %d", ttl.TTL)
	}
	var keys []string
	for _, k := range ttl.Keys {
		keys = append(keys, string(k)[len(p):])
	}
	sort.Strings(keys) // etcd lists them in no order
	eqKeys(t, "attached keys", keys, "a", "b")
	eq(t, "kv's lease", must(c.Get(ctx, p+"a")).Kvs[0].Lease, int64(g.ID))
	ls := must(c.Leases(ctx))
	found := false
	for _, l := range ls.Leases {
		found = found || l.ID == g.ID
	}
	if !found {
		t.Errorf("Leases does not list %x", g.ID)
	}
	must(c.Revoke(ctx, g.ID))
	eq(t, "keys after revoke", must(c.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly())).Count, int64(0))
	ttl = must(c.TimeToLive(ctx, g.ID))
	eq(t, "TTL of a revoked lease", ttl.TTL, int64(-1))
	if _, err := c.Revoke(ctx, g.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Errorf("revoke again: %v, want ErrLeaseNotFound", err)
	}
	if _, err := c.Put(ctx, p+"c", "3", clientv3.WithLease(g.ID)); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Errorf("put with a revoked lease: %v, want ErrLeaseNotFound", err)
	}
}

func leaseKeepAlive(t *testing.T, _ *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	g := must(c.Grant(ctx, 2))
	ka := must(c.KeepAliveOnce(ctx, g.ID))
	eq(t, "keep-alive once TTL", ka.TTL, g.TTL)
	must(c.Put(ctx, p+"k", "v", clientv3.WithLease(g.ID)))
	kctx, cancel := context.WithCancel(ctx)
	ch := must(c.KeepAlive(kctx, g.ID))
	// Kept alive past twice its TTL: the key stays.
	end := time.Now().Add(time.Duration(2*g.TTL) * time.Second)
	n := 0
	for time.Now().Before(end) {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatal("keep-alive channel closed while the lease lives")
			}
			eq(t, "keep-alive TTL", r.TTL, g.TTL)
			n++
		case <-time.After(time.Until(end)):
		}
	}
	if n < 2 {
		t.Errorf("%d keep-alive responses in %d s, want at least 2", n, 2*g.TTL)
	}
	eq(t, "key of a kept-alive lease", must(c.Get(ctx, p+"k", clientv3.WithCountOnly())).Count, int64(1))
	cancel()
	must(c.Revoke(ctx, g.ID))
	if _, err := c.KeepAliveOnce(ctx, g.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Errorf("keep-alive of a revoked lease: %v, want ErrLeaseNotFound", err)
	}
}

func leaseExpiry(t *testing.T, _ *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	g := must(c.Grant(ctx, 2))
	// Both raise a short TTL to their minimum; 2 s is at or above both.
	if g.TTL < 2 {
		t.Errorf("granted TTL %d, want at least 2", g.TTL)
	}
	start := time.Now()
	must(c.Put(ctx, p+"k", "v", clientv3.WithLease(g.ID)))
	wc := c.Watch(ctx, p+"k", clientv3.WithRev(must(c.Get(ctx, p+"k")).Header.Revision+1))
	eq(t, "expiry event", describe(p, nextEvents(t, wc, 1)), "DELETE k=; ")
	took := time.Since(start)
	if took < time.Duration(g.TTL)*time.Second-500*time.Millisecond {
		t.Errorf("lease of TTL %d s expired after %v", g.TTL, took)
	}
	eq(t, "key after expiry", must(c.Get(ctx, p+"k", clientv3.WithCountOnly())).Count, int64(0))
	eq(t, "TTL after expiry", must(c.TimeToLive(ctx, g.ID)).TTL, int64(-1))
}

func session(t *testing.T, c *clientv3.Client) *concurrency.Session {
	t.Helper()
	s, err := concurrency.NewSession(c, concurrency.WithTTL(10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mutexExclusion(t *testing.T, tg *target, c *clientv3.Client, p string) {
	const workers, rounds = 5, 4
	var inside, maxInside atomic.Int32
	counter := 0 // guarded by the etcd lock only
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		s := session(t, tg.client(t))
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := concurrency.NewMutex(s, p+"lock")
			for range rounds {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				if err := m.Lock(ctx); err != nil {
					cancel()
					errs <- err
					return
				}
				if n := inside.Add(1); n > maxInside.Load() {
					maxInside.Store(n)
				}
				v := counter
				time.Sleep(5 * time.Millisecond)
				counter = v + 1
				inside.Add(-1)
				err := m.Unlock(ctx)
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	eq(t, "holders at once", maxInside.Load(), int32(1))
	eq(t, "counter", counter, workers*rounds)
}

func mutexTryLock(t *testing.T, tg *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	s1, s2 := session(t, c), session(t, tg.client(t))
	m1, m2 := concurrency.NewMutex(s1, p+"lock"), concurrency.NewMutex(s2, p+"lock")
	if err := m1.TryLock(ctx); err != nil {
		t.Fatalf("TryLock of a free mutex: %v", err)
	}
	if err := m2.TryLock(ctx); !errors.Is(err, concurrency.ErrLocked) {
		t.Errorf("TryLock of a held mutex: %v, want ErrLocked", err)
	}
	// The holder's key is the first created under the prefix.
	g := must(c.Get(ctx, p+"lock/", clientv3.WithFirstCreate()...))
	if len(g.Kvs) != 1 || string(g.Kvs[0].Key) != m1.Key() {
		t.Errorf("first created key %v, want the holder's %s", g.Kvs, m1.Key())
	}
	noErr(t, m1.Unlock(ctx))
	if err := m2.TryLock(ctx); err != nil {
		t.Errorf("TryLock after unlock: %v", err)
	}
	// A session that ends releases its lock.
	noErr(t, s2.Close())
	if err := m1.TryLock(ctx); err != nil {
		t.Errorf("TryLock after the holder's session closed: %v", err)
	}
}

func election(t *testing.T, tg *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	s1, s2 := session(t, c), session(t, tg.client(t))
	e1, e2 := concurrency.NewElection(s1, p+"e"), concurrency.NewElection(s2, p+"e")
	if _, err := e1.Leader(ctx); !errors.Is(err, concurrency.ErrElectionNoLeader) {
		t.Errorf("leader with no campaign: %v, want ErrElectionNoLeader", err)
	}
	noErr(t, e1.Campaign(ctx, "alice"))
	obs := concurrency.NewElection(session(t, c), p+"e").Observe(ctx)
	expectLeader := func(want string) {
		t.Helper()
		timeout := time.After(15 * time.Second)
		for {
			select {
			case r, ok := <-obs:
				if !ok {
					t.Fatalf("observe closed before leader %s", want)
				}
				if string(r.Kvs[0].Value) == want {
					return
				}
			case <-timeout:
				t.Fatalf("observe: no leader %s after 15 s", want)
			}
		}
	}
	expectLeader("alice")
	eq(t, "leader", string(must(e1.Leader(ctx)).Kvs[0].Value), "alice")

	won := make(chan error, 1)
	go func() { won <- e2.Campaign(ctx, "bob") }()
	stillBlocked(t, won, "second campaign returned while alice leads")
	noErr(t, e1.Proclaim(ctx, "alice-2"))
	expectLeader("alice-2")
	eq(t, "leader after proclaim", string(must(e2.Leader(ctx)).Kvs[0].Value), "alice-2")

	noErr(t, e1.Resign(ctx))
	returnsOK(t, won, "bob's campaign", "bob not leader 15 s after alice resigned")
	expectLeader("bob")
	l := must(e1.Leader(ctx))
	eq(t, "leader after resign", string(l.Kvs[0].Value), "bob")
	eq(t, "leader's key", string(l.Kvs[0].Key), e2.Key())
	eq(t, "leader's revision", l.Kvs[0].CreateRevision, e2.Rev())
	// A proclaim by the resigned leader fails.
	if err := e1.Proclaim(ctx, "late"); !errors.Is(err, concurrency.ErrElectionNotLeader) {
		t.Errorf("proclaim after resign: %v, want ErrElectionNotLeader", err)
	}
}

func stm(t *testing.T, tg *target, c *clientv3.Client, p string) {
	for _, iso := range []struct {
		name string
		iso  concurrency.Isolation
	}{
		{"Serializable", concurrency.Serializable},
		{"SerializableSnapshot", concurrency.SerializableSnapshot},
		{"RepeatableReads", concurrency.RepeatableReads},
	} {
		t.Run(iso.name, func(t *testing.T) { guarded(t, func() { stmCounter(t, tg, c, p, iso.name, iso.iso) }) })
	}
	stmTransfer(t, tg, c, p)
}

func stmCounter(t *testing.T, tg *target, c *clientv3.Client, p, name string, iso concurrency.Isolation) {
	workers, rounds := 4, 10
	if testing.Short() {
		workers, rounds = 3, 5
	}
	key := p + name
	must(c.Put(ctxT(t), key, "0"))
	// Each worker talks to one member, and an STM's first read may be
	// answered by that member's replica: wait until every replica has the
	// key (a lagging member otherwise answers an empty value).
	cls := make([]*clientv3.Client, workers)
	for i := range workers {
		cls[i] = tg.memberClient(t, i)
		deadline := time.Now().Add(10 * time.Second)
		for {
			r, err := cls[i].Get(ctxT(t), key, clientv3.WithSerializable())
			if err == nil && len(r.Kvs) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("member %d has not applied the put of %s after 10s (%v)", i, key, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		cl := cls[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := concurrency.NewSTM(cl, func(s concurrency.STM) error {
					n, err := strconv.Atoi(s.Get(key))
					if err != nil {
						return err
					}
					s.Put(key, strconv.Itoa(n+1))
					return nil
				}, concurrency.WithIsolation(iso), concurrency.WithAbortContext(ctx))
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	eq(t, "counter", string(must(c.Get(ctxT(t), key)).Kvs[0].Value), strconv.Itoa(workers*rounds))
}

func stmTransfer(t *testing.T, tg *target, c *clientv3.Client, p string) {
	// A transfer between two keys keeps the sum (reads of both in one
	// snapshot).
	ctx := ctxT(t)
	must(c.Put(ctx, p+"acct/a", "100"))
	must(c.Put(ctx, p+"acct/b", "100"))
	var wg sync.WaitGroup
	for i := range 4 {
		cl := tg.memberClient(t, i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := p+"acct/a", p+"acct/b"
			if i%2 == 1 {
				from, to = to, from
			}
			for range 5 {
				_, err := concurrency.NewSTM(cl, func(s concurrency.STM) error {
					f, _ := strconv.Atoi(s.Get(from))
					g, _ := strconv.Atoi(s.Get(to))
					s.Put(from, strconv.Itoa(f-3))
					s.Put(to, strconv.Itoa(g+3))
					return nil
				}, concurrency.WithIsolation(concurrency.SerializableSnapshot))
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	g := must(c.Get(ctx, p+"acct/", clientv3.WithPrefix()))
	sum := 0
	for _, kv := range g.Kvs {
		n, _ := strconv.Atoi(string(kv.Value))
		sum += n
	}
	eq(t, "sum after transfers", sum, 200)
}

func recipeQueue(t *testing.T, tg *target, c *clientv3.Client, p string) {
	q := recipe.NewQueue(c, p+"q")
	for i := range 5 {
		noErr(t, q.Enqueue(strconv.Itoa(i)))
	}
	for i := range 5 {
		eq(t, "dequeued (FIFO)", must(q.Dequeue()), strconv.Itoa(i))
	}
	// A dequeue on an empty queue waits for the next enqueue.
	got := make(chan string, 1)
	go func() {
		v, err := recipe.NewQueue(tg.client(t), p+"q").Dequeue()
		if err != nil {
			v = "error: " + err.Error()
		}
		got <- v
	}()
	time.Sleep(200 * time.Millisecond)
	noErr(t, q.Enqueue("late"))
	select {
	case v := <-got:
		eq(t, "blocked dequeue", v, "late")
	case <-time.After(15 * time.Second):
		t.Fatal("blocked dequeue did not return 15 s after an enqueue")
	}
	// Concurrent consumers take each item exactly once: 3 consumers
	// dequeue 7 items each of 21 (Dequeue waits while the queue is empty).
	const consumers, each = 3, 7
	for i := range consumers * each {
		noErr(t, q.Enqueue(strconv.Itoa(i)))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range consumers {
		cq := recipe.NewQueue(tg.client(t), p+"q")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				v, err := cq.Dequeue()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[v]++
				mu.Unlock()
			}
		}()
	}
	waitGroup(t, &wg, 30*time.Second, "consumers")
	for i := range consumers * each {
		eq(t, "times item "+strconv.Itoa(i)+" was dequeued", seen[strconv.Itoa(i)], 1)
	}
	eq(t, "items left", must(c.Get(ctxT(t), p+"q", clientv3.WithPrefix(), clientv3.WithCountOnly())).Count, int64(0))
}

// waitGroup waits for wg, failing the test after d.
func waitGroup(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s still running after %v", what, d)
	}
}

func recipePriorityQueue(t *testing.T, _ *target, c *clientv3.Client, p string) {
	q := recipe.NewPriorityQueue(c, p+"pq")
	for _, e := range []struct {
		v   string
		pri uint16
	}{{"low", 9}, {"high", 1}, {"mid-1", 5}, {"mid-2", 5}, {"top", 0}} {
		noErr(t, q.Enqueue(e.v, e.pri))
	}
	for _, want := range []string{"top", "high", "mid-1", "mid-2", "low"} {
		eq(t, "dequeued by priority", must(q.Dequeue()), want)
	}
}

func recipeBarrier(t *testing.T, tg *target, c *clientv3.Client, p string) {
	b := recipe.NewBarrier(c, p+"b")
	noErr(t, b.Wait()) // no barrier: no wait
	noErr(t, b.Hold())
	if err := b.Hold(); !errors.Is(err, recipe.ErrKeyExists) {
		t.Errorf("second Hold: %v, want ErrKeyExists", err)
	}
	const waiters = 3
	var passed atomic.Int32
	done := make(chan error, waiters)
	for range waiters {
		wb := recipe.NewBarrier(tg.client(t), p+"b")
		go func() {
			err := wb.Wait()
			passed.Add(1)
			done <- err
		}()
	}
	time.Sleep(300 * time.Millisecond)
	eq(t, "waiters past a held barrier", passed.Load(), int32(0))
	noErr(t, b.Release())
	for range waiters {
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("waiters still blocked 15 s after Release")
		}
	}
}

func recipeDoubleBarrier(t *testing.T, tg *target, c *clientv3.Client, p string) {
	const n = 3
	var entered, left atomic.Int32
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		s := session(t, tg.client(t))
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := recipe.NewDoubleBarrier(s, p+"db", n)
			if err := b.Enter(); err != nil {
				errs <- fmt.Errorf("enter: %w", err)
				return
			}
			entered.Add(1)
			if err := b.Leave(); err != nil {
				errs <- fmt.Errorf("leave: %w", err)
				return
			}
			left.Add(1)
		}()
	}
	// Every worker enters (once all n arrived) and leaves (once all n
	// left); that Enter waits for the n-th is checked below.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("double barrier: workers still blocked after 30 s")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	eq(t, "entered", entered.Load(), int32(n))
	eq(t, "left", left.Load(), int32(n))

	// With n-1 participants, Enter blocks.
	s := session(t, tg.client(t))
	b := recipe.NewDoubleBarrier(s, p+"db2", 2)
	blocked := make(chan error, 1)
	go func() { blocked <- b.Enter() }()
	stillBlocked(t, blocked, "Enter with 1 of 2 participants returned")
	b2 := recipe.NewDoubleBarrier(session(t, tg.client(t)), p+"db2", 2)
	noErr(t, b2.Enter())
	returnsOK(t, blocked, "first Enter", "first Enter still blocked 15 s after the second participant entered")
}

func recipeRWMutex(t *testing.T, tg *target, c *clientv3.Client, p string) {
	r1 := recipe.NewRWMutex(session(t, c), p+"rw")
	r2 := recipe.NewRWMutex(session(t, tg.client(t)), p+"rw")
	w := recipe.NewRWMutex(session(t, tg.client(t)), p+"rw")
	// Two readers at once.
	noErr(t, r1.RLock())
	noErr(t, r2.RLock())
	// A writer waits for both readers.
	wrote := make(chan error, 1)
	go func() { wrote <- w.Lock() }()
	stillBlocked(t, wrote, "Lock returned while two readers hold the lock")
	noErr(t, r1.RUnlock())
	stillBlocked(t, wrote, "Lock returned while a reader holds the lock")
	noErr(t, r2.RUnlock())
	returnsOK(t, wrote, "writer's Lock", "writer still waiting 15 s after the readers left")
	// A reader waits for the writer.
	read := make(chan error, 1)
	go func() { read <- r1.RLock() }()
	stillBlocked(t, read, "RLock returned while a writer holds the lock")
	noErr(t, w.Unlock())
	returnsOK(t, read, "reader's RLock", "reader still waiting 15 s after the writer left")
	noErr(t, r1.RUnlock())
}

// leaseGrantWithID: a grant that names its lease ID. etcd grants that
// ID; Coord assigns lease IDs itself (the top bits name the lease's
// shard) and refuses with InvalidArgument (README: Lease row).
func leaseGrantWithID(t *testing.T, tg *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	id := time.Now().UnixNano() & 0x7fffffffffff
	r, err := pb.NewLeaseClient(c.ActiveConnection()).LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 30, ID: id})
	if tg.coord {
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "Coord assigns lease IDs") {
			t.Errorf("Coord: grant with a chosen ID: %v, want InvalidArgument saying Coord assigns lease IDs", err)
		}
		return
	}
	if err != nil || r.ID != id {
		t.Fatalf("etcd: grant with ID %d: %v, %v", id, r, err)
	}
	must(c.Revoke(ctx, clientv3.LeaseID(id)))
}

// maintenance: Status answers on every member of both (version 3.6.x, a
// leader, a db size); HashKV at one revision is the same on every member
// (Coord's hash is its own: members of one target agree on it); Hash
// answers on both, at a revision the member has applied.
func maintenance(t *testing.T, tg *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	must(c.Put(ctx, p+"k", "v"))
	at := rev(t, c)
	var hashes []uint32
	for _, ep := range tg.endpoints {
		st := must(c.Status(ctx, ep))
		if !strings.HasPrefix(st.Version, "3.6.") || st.Leader == 0 || st.DbSize <= 0 || st.Header.MemberId == 0 {
			t.Errorf("status of %s: version %q, leader %x, db size %d, member %x", ep, st.Version, st.Leader, st.DbSize, st.Header.MemberId)
		}
		// HashKV at one revision: every member the same (retry while
		// a member has not applied it yet).
		var h *clientv3.HashKVResponse
		for deadline := time.Now().Add(10 * time.Second); ; {
			var err error
			h, err = c.HashKV(ctx, ep, at)
			if err == nil || time.Now().After(deadline) {
				noErr(t, err)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		hashes = append(hashes, h.Hash)
	}
	for _, h := range hashes[1:] {
		if h != hashes[0] {
			t.Errorf("HashKV at revision %d differs between members: %x", at, hashes)
		}
	}
	mc := pb.NewMaintenanceClient(c.ActiveConnection())
	h := must(mc.Hash(ctx, &pb.HashRequest{}))
	if h.Header == nil || h.Header.Revision < 1 {
		t.Errorf("Hash header %v", h.Header)
	}
	ml := must(c.MemberList(ctx))
	eq(t, "members", len(ml.Members), 3)
	for _, m := range ml.Members {
		if len(m.ClientURLs) != 1 {
			t.Errorf("member %s client URLs %v", m.Name, m.ClientURLs)
		}
	}
}

// moveLeader: MoveLeader sent to the leader (as etcdctl move-leader
// does) makes a follower the leader, which every member's status then
// shows; an unknown member is ErrBadLeaderTransferee.
func moveLeader(t *testing.T, tg *target, c *clientv3.Client, _ string) {
	ctx := ctxT(t)
	leader := must(c.Status(ctx, tg.endpoints[0])).Leader
	at, to := -1, uint64(0)
	for i, ep := range tg.endpoints {
		id := must(c.Status(ctx, ep)).Header.MemberId
		if id == leader {
			at = i
		} else if to == 0 {
			to = id
		}
	}
	if at < 0 || to == 0 {
		t.Fatalf("leader %x is not one of %v, or no follower", leader, tg.endpoints)
	}
	lc := tg.memberClient(t, at)
	must(lc.MoveLeader(ctx, to))
	for _, ep := range tg.endpoints {
		for deadline := time.Now().Add(10 * time.Second); ; {
			st, err := c.Status(ctx, ep)
			if err == nil && st.Leader == to {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status of %s after MoveLeader to %x: %v, %v", ep, to, st, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The unknown member, asked of the new leader (etcd answers only
	// there).
	for i, ep := range tg.endpoints {
		if must(c.Status(ctx, ep)).Header.MemberId != to {
			continue
		}
		if _, err := tg.memberClient(t, i).MoveLeader(ctx, 12345); !errors.Is(err, rpctypes.ErrBadLeaderTransferee) {
			t.Errorf("MoveLeader to an unknown member: %v, want ErrBadLeaderTransferee", err)
		}
	}
}

func kvCompaction(t *testing.T, tg *target, c *clientv3.Client, p string) {
	ctx := ctxT(t)
	r1 := must(c.Put(ctx, p+"k", "1")).Header.Revision
	r2 := must(c.Put(ctx, p+"k", "2")).Header.Revision
	r3 := must(c.Put(ctx, p+"k", "3")).Header.Revision
	if _, err := c.Compact(ctx, r3+1000000); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Errorf("compact at a future revision: %v, want ErrFutureRev", err)
	}
	must(c.Compact(ctx, r2, clientv3.WithCompactPhysical()))
	if _, err := c.Get(ctx, p+"k", clientv3.WithRev(r1)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("get below the compacted revision: %v, want ErrCompacted", err)
	}
	g := must(c.Get(ctx, p+"k", clientv3.WithRev(r2)))
	if len(g.Kvs) != 1 || string(g.Kvs[0].Value) != "2" {
		t.Errorf("get at the compacted revision: %v, want value 2", g.Kvs)
	}
	if _, err := c.Compact(ctx, r1); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("compact below the compacted revision: %v, want ErrCompacted", err)
	}
	// A watch from a compacted revision ends with the compact revision.
	wc := c.Watch(ctx, p+"k", clientv3.WithRev(r1))
	select {
	case wr := <-wc:
		if !errors.Is(wr.Err(), rpctypes.ErrCompacted) || wr.CompactRevision != r2 {
			t.Errorf("watch from a compacted revision: err %v, compact revision %d, want ErrCompacted and %d", wr.Err(), wr.CompactRevision, r2)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no answer to a watch from a compacted revision")
	}
	// A watch from exactly the compact revision: etcd serves it (the
	// event at r2, then live); Coord's watch needs a revision above the
	// compact revision and ends it with ErrCompacted (README, "What
	// differs").
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wc = c.Watch(wctx, p+"k", clientv3.WithRev(r2))
	select {
	case wr := <-wc:
		if tg.coord {
			if !errors.Is(wr.Err(), rpctypes.ErrCompacted) || wr.CompactRevision != r2 {
				t.Errorf("Coord: watch from the compact revision: err %v, compact revision %d, want ErrCompacted and %d", wr.Err(), wr.CompactRevision, r2)
			}
		} else if wr.Err() != nil || len(wr.Events) == 0 || wr.Events[0].Kv.ModRevision != r2 {
			t.Errorf("etcd: watch from the compact revision: err %v, events %v, want the event at %d", wr.Err(), wr.Events, r2)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no answer to a watch from the compact revision")
	}
}
