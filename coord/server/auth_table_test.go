package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/barrier/barrierrules"
	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election/electionrules"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/locks/semaphorerules"
	"github.com/coord-io/coord/queue/queuerules"
	"github.com/coord-io/coord/statemachine/auth"
)

// Issue 12's table: every method × (allowed, denied) × (kv key, prefix,
// range, primitive name), on a three-member cluster with auth on, each
// row sent with the client's generic Call (or Stream, for a request that
// opens a stream) to the members in turn. The methods only root may call
// (compaction, auth enable and disable, user and role management) have
// denied rows for user t and allowed rows for root (backups too).

// tableAs is who sends a row.
type tableAs int

const (
	asUser tableAs = iota // user t, role t (tableRole)
	asRoot                // root: the allowed rows of root's methods
	asAnon                // a connection that named no user
)

func (a tableAs) String() string { return [...]string{"t", "root", "anonymous"}[a] }

// tableWant is what a row must end with.
type tableWant int

const (
	// rowAllowed: no error, or one of the row's okErrs (an answer about the
	// call itself, never ErrPermissionDenied or ErrAuthFailed).
	rowAllowed tableWant = iota
	// rowDenied: ErrPermissionDenied, at once, naming the user.
	rowDenied
	// rowAuthFailed: ErrAuthFailed (wrong credentials; not a denial).
	rowAuthFailed
)

func (w tableWant) String() string { return [...]string{"allowed", "denied", "auth failed"}[w] }

type tableRow struct {
	name   string
	method string
	as     tableAs
	want   tableWant
	// req returns the request when the row runs (so it may use what
	// earlier rows answered).
	req func() any
	// okErr are the errors an allowed row may end with.
	okErr []error
	// then gets an allowed row's response (when it had no error).
	then func(resp any)
	// absent are keys, and absentPrefix prefixes, a denied write would
	// have written: root finds none of them after the table.
	absent, absentPrefix []string
}

// openToEveryone are the methods no authenticated user can be denied:
// they are open even to a connection that named no user (authOpen), so
// they have allowed rows only. (status, lease grant and lease list are
// open to every authenticated user too, but a connection without a user
// is refused them: that is their denied row.)
var openToEveryone = map[string]bool{
	wire.MethodAuthenticate: true,
	wire.MethodAuthStatus:   true,
}

// tableRole is role t's permissions.
func tableRole() []*wire.Permission {
	perms := []*wire.Permission{
		prefixPerm(wire.KindKV, wire.PermReadWrite, "/rw/"),
		{Type: wire.PermRead, Key: []byte("/ro/a"), RangeEnd: []byte("/ro/m")},
		{Type: wire.PermWrite, Key: []byte("/wo/k")},
	}
	for _, kind := range wire.Kinds[1:] {
		perms = append(perms, prefixPerm(kind, wire.PermReadWrite, "ok/"), prefixPerm(kind, wire.PermRead, "ro/"))
	}
	return perms
}

// tableFixture is what rows learn from root's setup and from each other.
type tableFixture struct {
	rev int64 // a revision root wrote at, for root's compaction

	// Leases: root's without keys; root's with /rw/leased (t may
	// write it); root's with /ro/c (t may only read it); root's holding
	// ro/e's leadership. t's own: without keys; with /wo/k (t may only
	// write it); the one t's primitives use.
	lRoot, lRootRW, lRootRO, lRootE int64
	lOwn, lWo, lPrim                int64

	rootElectKey []byte
	lockKey      []byte
	electKey     []byte
	semKey       []byte
	qItem        wire.QueueItem
}

func tkey(k string) []byte { return []byte(k) }

func primPrefix(root, name string) string { return root + "{" + name + "}" }

// tableRows is the table, in the order it runs.
func tableRows(f *tableFixture) []tableRow {
	pfx := func(p string) []byte { return wire.PrefixEnd([]byte(p)) }
	fromKey := []byte{0}
	put := func(k string) wire.RequestOp {
		return wire.RequestOp{Put: &wire.PutRequest{Key: tkey(k), Value: tkey("v")}}
	}
	rng := func(k, end string) wire.RequestOp {
		return wire.RequestOp{Range: &wire.RangeRequest{Key: tkey(k), RangeEnd: tkey(end)}}
	}
	readRO := wire.Compare{Target: wire.CompareVersion, Result: wire.CompareGreater, Key: tkey("/ro/b")}
	leaseID := func(id *int64) func(any) { return func(r any) { *id = r.(*wire.LeaseGrantResponse).ID } }
	var rows []tableRow
	add := func(r ...tableRow) { rows = append(rows, r...) }

	// Leases first: the kv and primitive rows use them.
	add(
		tableRow{name: "grant", method: wire.MethodLeaseGrant, req: func() any { return &wire.LeaseGrantRequest{TTL: 120} }, then: leaseID(&f.lOwn)},
		tableRow{name: "grant (for /wo/k)", method: wire.MethodLeaseGrant, req: func() any { return &wire.LeaseGrantRequest{TTL: 120} }, then: leaseID(&f.lWo)},
		tableRow{name: "grant (for primitives)", method: wire.MethodLeaseGrant, req: func() any { return &wire.LeaseGrantRequest{TTL: 120} }, then: leaseID(&f.lPrim)},
		tableRow{name: "grant without a user", method: wire.MethodLeaseGrant, as: asAnon, want: rowDenied, req: func() any { return &wire.LeaseGrantRequest{TTL: 120} }},
		tableRow{name: "list", method: wire.MethodLeaseLeases, req: func() any { return &wire.LeaseLeasesRequest{} }},
		tableRow{name: "list without a user", method: wire.MethodLeaseLeases, as: asAnon, want: rowDenied, req: func() any { return &wire.LeaseLeasesRequest{} }},
	)

	// kv.put: a key of the readwrite prefix, the write-only key; a key of
	// the read-only range, a key next to the write-only one, a key of no
	// permission, the auth store.
	add(
		tableRow{name: "key in readwrite prefix", method: wire.MethodPut, req: func() any { return &wire.PutRequest{Key: tkey("/rw/a"), Value: tkey("1")} }},
		tableRow{name: "write-only key, on t's lease", method: wire.MethodPut, req: func() any { return &wire.PutRequest{Key: tkey("/wo/k"), Value: tkey("1"), Lease: f.lWo} }},
		tableRow{name: "key in read-only range", method: wire.MethodPut, want: rowDenied, req: func() any { return &wire.PutRequest{Key: tkey("/ro/x"), Value: tkey("1")} }, absent: []string{"/ro/x"}},
		tableRow{name: "key past write-only key", method: wire.MethodPut, want: rowDenied, req: func() any { return &wire.PutRequest{Key: tkey("/wo/k2"), Value: tkey("1")} }, absent: []string{"/wo/k2"}},
		tableRow{name: "key of no permission", method: wire.MethodPut, want: rowDenied, req: func() any { return &wire.PutRequest{Key: tkey("/other/x"), Value: tkey("1")} }, absent: []string{"/other/x"}},
		tableRow{name: "key of a primitive's root", method: wire.MethodPut, want: rowDenied, req: func() any {
			return &wire.PutRequest{Key: tkey(primPrefix(lockrules.Root, "ok/forged")), Value: tkey("1")}
		}, absent: []string{primPrefix(lockrules.Root, "ok/forged")}},
		tableRow{name: "auth store key", method: wire.MethodPut, want: rowDenied, req: func() any { return &wire.PutRequest{Key: auth.UserKey("t2"), Value: tkey("1")} }, absent: []string{string(auth.UserKey("t2"))}},
		tableRow{name: "without a user", method: wire.MethodPut, as: asAnon, want: rowDenied, req: func() any { return &wire.PutRequest{Key: tkey("/rw/anon"), Value: tkey("1")} }, absent: []string{"/rw/anon"}},
	)

	// kv.range: key, prefix, range inside and straddling each edge, from
	// key, the write-only key, the auth store.
	add(
		tableRow{name: "key in readwrite prefix", method: wire.MethodRange, req: func() any { return &wire.RangeRequest{Key: tkey("/rw/a")} }},
		tableRow{name: "readwrite prefix", method: wire.MethodRange, req: func() any { return &wire.RangeRequest{Key: tkey("/rw/"), RangeEnd: pfx("/rw/")} }},
		tableRow{name: "inside readwrite prefix", method: wire.MethodRange, req: func() any { return &wire.RangeRequest{Key: tkey("/rw/a"), RangeEnd: tkey("/rw/z")} }},
		tableRow{name: "read-only range, whole", method: wire.MethodRange, req: func() any { return &wire.RangeRequest{Key: tkey("/ro/a"), RangeEnd: tkey("/ro/m")} }},
		tableRow{name: "inside read-only range", method: wire.MethodRange, req: func() any { return &wire.RangeRequest{Key: tkey("/ro/b"), RangeEnd: tkey("/ro/c")} }},
		tableRow{name: "key in read-only range, serializable", method: wire.MethodRange, req: func() any { return &wire.RangeRequest{Key: tkey("/ro/b"), Serializable: true} }},
		tableRow{name: "read-only range's end key", method: wire.MethodRange, want: rowDenied, req: func() any { return &wire.RangeRequest{Key: tkey("/ro/m")} }},
		tableRow{name: "straddles read-only range's end", method: wire.MethodRange, want: rowDenied, req: func() any { return &wire.RangeRequest{Key: tkey("/ro/a"), RangeEnd: tkey("/ro/n")} }},
		tableRow{name: "straddles read-only range's start", method: wire.MethodRange, want: rowDenied, req: func() any { return &wire.RangeRequest{Key: tkey("/ro/"), RangeEnd: tkey("/ro/b")} }},
		tableRow{name: "prefix wider than read-only range", method: wire.MethodRange, want: rowDenied, req: func() any { return &wire.RangeRequest{Key: tkey("/ro/"), RangeEnd: pfx("/ro/")} }},
		tableRow{name: "from key in readwrite prefix", method: wire.MethodRange, want: rowDenied, req: func() any { return &wire.RangeRequest{Key: tkey("/rw/"), RangeEnd: fromKey} }},
		tableRow{name: "from key in read-only range", method: wire.MethodRange, want: rowDenied, req: func() any { return &wire.RangeRequest{Key: tkey("/ro/a"), RangeEnd: fromKey} }},
		tableRow{name: "every key", method: wire.MethodRange, want: rowDenied, req: func() any { return &wire.RangeRequest{Key: fromKey, RangeEnd: fromKey} }},
		tableRow{name: "write-only key", method: wire.MethodRange, want: rowDenied, req: func() any { return &wire.RangeRequest{Key: tkey("/wo/k")} }},
		tableRow{name: "auth store", method: wire.MethodRange, want: rowDenied, req: func() any { return &wire.RangeRequest{Key: auth.UserKey("t")} }},
		tableRow{name: "without a user", method: wire.MethodRange, as: asAnon, want: rowDenied, req: func() any { return &wire.RangeRequest{Key: tkey("/rw/a")} }},
	)

	// kv.txn: every compare reads, every op of both branches reads or
	// writes; a denied txn writes none of its keys.
	add(
		tableRow{name: "compare read-only, put readwrite", method: wire.MethodTxn, req: func() any {
			return &wire.TxnRequest{Compare: []wire.Compare{readRO}, Success: []wire.RequestOp{put("/rw/t")}}
		}},
		tableRow{name: "range read-only, put write-only; else delete readwrite", method: wire.MethodTxn, req: func() any {
			putWO := wire.RequestOp{Put: &wire.PutRequest{Key: tkey("/wo/k"), Value: tkey("2"), Lease: f.lWo}} // keeps /wo/k on lWo
			return &wire.TxnRequest{Compare: []wire.Compare{readRO}, Success: []wire.RequestOp{rng("/ro/a", "/ro/m"), putWO},
				Failure: []wire.RequestOp{{DeleteRange: &wire.DeleteRangeRequest{Key: tkey("/rw/t"), RangeEnd: pfx("/rw/t")}}}}
		}},
		tableRow{name: "compare lock token of read-only name", method: wire.MethodTxn, req: func() any {
			return &wire.TxnRequest{Compare: []wire.Compare{{Target: wire.CompareLockToken, Key: tkey("ro/l"), Version: 1}}, Success: []wire.RequestOp{put("/rw/t1")}}
		}},
		tableRow{name: "else branch writes no-permission key", method: wire.MethodTxn, want: rowDenied, req: func() any {
			return &wire.TxnRequest{Compare: []wire.Compare{readRO}, Success: []wire.RequestOp{put("/rw/t2")}, Failure: []wire.RequestOp{put("/other/t2")}}
		}, absent: []string{"/rw/t2", "/other/t2"}},
		tableRow{name: "then branch writes read-only key", method: wire.MethodTxn, want: rowDenied, req: func() any {
			return &wire.TxnRequest{Success: []wire.RequestOp{put("/rw/t3"), put("/ro/t3")}}
		}, absent: []string{"/rw/t3", "/ro/t3"}},
		tableRow{name: "compare write-only key", method: wire.MethodTxn, want: rowDenied, req: func() any {
			return &wire.TxnRequest{Compare: []wire.Compare{{Target: wire.CompareVersion, Key: tkey("/wo/k")}}, Success: []wire.RequestOp{put("/rw/t4")}}
		}, absent: []string{"/rw/t4"}},
		tableRow{name: "compare straddles read-only range", method: wire.MethodTxn, want: rowDenied, req: func() any {
			return &wire.TxnRequest{Compare: []wire.Compare{{Target: wire.CompareVersion, Key: tkey("/ro/a"), RangeEnd: tkey("/ro/n")}}, Success: []wire.RequestOp{put("/rw/t5")}}
		}, absent: []string{"/rw/t5"}},
		tableRow{name: "else branch ranges write-only key", method: wire.MethodTxn, want: rowDenied, req: func() any {
			return &wire.TxnRequest{Success: []wire.RequestOp{put("/rw/t6")}, Failure: []wire.RequestOp{rng("/wo/k", "")}}
		}, absent: []string{"/rw/t6"}},
		tableRow{name: "else branch deletes read-only range", method: wire.MethodTxn, want: rowDenied, req: func() any {
			return &wire.TxnRequest{Compare: []wire.Compare{readRO}, Failure: []wire.RequestOp{{DeleteRange: &wire.DeleteRangeRequest{Key: tkey("/ro/a"), RangeEnd: tkey("/ro/m")}}}}
		}},
		tableRow{name: "compare lock token of no-permission name", method: wire.MethodTxn, want: rowDenied, req: func() any {
			return &wire.TxnRequest{Compare: []wire.Compare{{Target: wire.CompareLockToken, Key: tkey("other/l"), Version: 1}}, Success: []wire.RequestOp{put("/rw/t7")}}
		}, absent: []string{"/rw/t7"}},
	)

	// watch: a stream; a denied one fails at once.
	add(
		tableRow{name: "readwrite prefix", method: wire.MethodWatch, req: func() any { return &wire.WatchRequest{Key: tkey("/rw/"), RangeEnd: pfx("/rw/")} }},
		tableRow{name: "read-only range", method: wire.MethodWatch, req: func() any { return &wire.WatchRequest{Key: tkey("/ro/a"), RangeEnd: tkey("/ro/m")} }},
		tableRow{name: "key in read-only range", method: wire.MethodWatch, req: func() any { return &wire.WatchRequest{Key: tkey("/ro/b")} }},
		tableRow{name: "prefix wider than read-only range", method: wire.MethodWatch, want: rowDenied, req: func() any { return &wire.WatchRequest{Key: tkey("/ro/"), RangeEnd: pfx("/ro/")} }},
		tableRow{name: "straddles read-only range's end", method: wire.MethodWatch, want: rowDenied, req: func() any { return &wire.WatchRequest{Key: tkey("/ro/b"), RangeEnd: tkey("/ro/z")} }},
		tableRow{name: "from key in readwrite prefix", method: wire.MethodWatch, want: rowDenied, req: func() any { return &wire.WatchRequest{Key: tkey("/rw/"), RangeEnd: fromKey} }},
		tableRow{name: "write-only key", method: wire.MethodWatch, want: rowDenied, req: func() any { return &wire.WatchRequest{Key: tkey("/wo/k")} }},
	)

	add(
		tableRow{name: "status", method: wire.MethodStatus, req: func() any { return &wire.StatusRequest{} }},
		tableRow{name: "without a user", method: wire.MethodStatus, as: asAnon, want: rowDenied, req: func() any { return &wire.StatusRequest{} }},
		tableRow{name: "list", method: wire.MethodAlarm, req: func() any { return &wire.AlarmRequest{} }},
		tableRow{name: "t disarms", method: wire.MethodAlarm, want: rowDenied, req: func() any { return &wire.AlarmRequest{Action: wire.AlarmDeactivate} }},
		tableRow{name: "t raises", method: wire.MethodAlarm, want: rowDenied, req: func() any {
			return &wire.AlarmRequest{Action: wire.AlarmActivate, Type: wire.AlarmNoSpace}
		}},
		tableRow{name: "root disarms", method: wire.MethodAlarm, as: asRoot, req: func() any { return &wire.AlarmRequest{Action: wire.AlarmDeactivate} }},
		tableRow{name: "t", method: wire.MethodDefrag, want: rowDenied, req: func() any { return &wire.DefragRequest{} }},
		tableRow{name: "root", method: wire.MethodDefrag, as: asRoot, req: func() any { return &wire.DefragRequest{} }},
		tableRow{name: "t", method: wire.MethodHash, want: rowDenied, req: func() any { return &wire.HashRequest{} }},
		tableRow{name: "root", method: wire.MethodHash, as: asRoot, req: func() any { return &wire.HashRequest{} }},
	)

	// Lease checks: a lease without keys is its granter's; a lease with
	// keys needs write (revoke, keepalive) or read (ttl) on every key.
	add(
		tableRow{name: "own, no keys", method: wire.MethodLeaseTimeToLive, req: func() any { return &wire.LeaseTimeToLiveRequest{ID: f.lOwn, Keys: true} }},
		tableRow{name: "root's, key t may read", method: wire.MethodLeaseTimeToLive, req: func() any { return &wire.LeaseTimeToLiveRequest{ID: f.lRootRO, Keys: true} }},
		tableRow{name: "root's, key t may write", method: wire.MethodLeaseTimeToLive, req: func() any { return &wire.LeaseTimeToLiveRequest{ID: f.lRootRW} }},
		tableRow{name: "root's, no keys", method: wire.MethodLeaseTimeToLive, want: rowDenied, req: func() any { return &wire.LeaseTimeToLiveRequest{ID: f.lRoot} }},
		tableRow{name: "own, key t may only write", method: wire.MethodLeaseTimeToLive, want: rowDenied, req: func() any { return &wire.LeaseTimeToLiveRequest{ID: f.lWo} }},
		tableRow{name: "root's, leader of read-only election", method: wire.MethodLeaseTimeToLive, req: func() any { return &wire.LeaseTimeToLiveRequest{ID: f.lRootE} }},

		tableRow{name: "own, no keys", method: wire.MethodLeaseKeepAlive, req: func() any { return &wire.LeaseKeepAliveRequest{IDs: []int64{f.lOwn}} }},
		tableRow{name: "own, key t may only write", method: wire.MethodLeaseKeepAlive, req: func() any { return &wire.LeaseKeepAliveRequest{IDs: []int64{f.lWo}} }},
		tableRow{name: "root's, key t may write", method: wire.MethodLeaseKeepAlive, req: func() any { return &wire.LeaseKeepAliveRequest{IDs: []int64{f.lRootRW}} }},
		tableRow{name: "root's, no keys", method: wire.MethodLeaseKeepAlive, want: rowDenied, req: func() any { return &wire.LeaseKeepAliveRequest{IDs: []int64{f.lRoot}} }},
		tableRow{name: "own and root's", method: wire.MethodLeaseKeepAlive, want: rowDenied, req: func() any { return &wire.LeaseKeepAliveRequest{IDs: []int64{f.lOwn, f.lRoot}} }},
		tableRow{name: "root's, key t may only read", method: wire.MethodLeaseKeepAlive, want: rowDenied, req: func() any { return &wire.LeaseKeepAliveRequest{IDs: []int64{f.lRootRO}} }},
		tableRow{name: "root's, leader of read-only election", method: wire.MethodLeaseKeepAlive, want: rowDenied, req: func() any { return &wire.LeaseKeepAliveRequest{IDs: []int64{f.lRootE}} }},

		tableRow{name: "root's, no keys", method: wire.MethodLeaseRevoke, want: rowDenied, req: func() any { return &wire.LeaseRevokeRequest{ID: f.lRoot} }},
		tableRow{name: "root's, key t may only read", method: wire.MethodLeaseRevoke, want: rowDenied, req: func() any { return &wire.LeaseRevokeRequest{ID: f.lRootRO} }},
		tableRow{name: "root's, leader of read-only election", method: wire.MethodLeaseRevoke, want: rowDenied, req: func() any { return &wire.LeaseRevokeRequest{ID: f.lRootE} }},
		tableRow{name: "root's, key t may write", method: wire.MethodLeaseRevoke, req: func() any { return &wire.LeaseRevokeRequest{ID: f.lRootRW} }},
		tableRow{name: "own, no keys", method: wire.MethodLeaseRevoke, req: func() any { return &wire.LeaseRevokeRequest{ID: f.lOwn} }},
		tableRow{name: "unknown lease", method: wire.MethodLeaseRevoke, req: func() any { return &wire.LeaseRevokeRequest{ID: f.lOwn} }, okErr: []error{coord.ErrLeaseNotFound, coord.ErrNotFound}},
	)

	// Locks: write on the name to lock and unlock, read for the status.
	add(
		tableRow{name: "name under ok/", method: wire.MethodLock, req: func() any { return &wire.LockRequest{Name: "ok/l", Lease: f.lPrim, Try: true} },
			then: func(r any) { f.lockKey = r.(*wire.LockResponse).Key }},
		tableRow{name: "read-only name", method: wire.MethodLock, want: rowDenied, req: func() any { return &wire.LockRequest{Name: "ro/l2", Lease: f.lPrim, Try: true} },
			absentPrefix: []string{primPrefix(lockrules.Root, "ro/l2")}},
		tableRow{name: "name of no permission (blocking)", method: wire.MethodLock, want: rowDenied, req: func() any { return &wire.LockRequest{Name: "other/l", Lease: f.lPrim} },
			absentPrefix: []string{primPrefix(lockrules.Root, "other/l")}},
		tableRow{name: "name under ok/", method: wire.MethodLockStatus, req: func() any { return &wire.LockStatusRequest{Name: "ok/l"} }},
		tableRow{name: "read-only name", method: wire.MethodLockStatus, req: func() any { return &wire.LockStatusRequest{Name: "ro/l"} }},
		tableRow{name: "name of no permission", method: wire.MethodLockStatus, want: rowDenied, req: func() any { return &wire.LockStatusRequest{Name: "other/l"} }},
		tableRow{name: "read-only name", method: wire.MethodUnlock, want: rowDenied, req: func() any { return &wire.UnlockRequest{Name: "ro/l", Key: tkey("x"), Lease: f.lPrim} }},
		tableRow{name: "name under ok/", method: wire.MethodUnlock, req: func() any { return &wire.UnlockRequest{Name: "ok/l", Key: f.lockKey, Lease: f.lPrim} }},
	)

	// Elections: write to campaign, proclaim and resign, read for the
	// leader (once, or observed: a stream).
	add(
		tableRow{name: "name under ok/", method: wire.MethodCampaign, req: func() any { return &wire.CampaignRequest{Name: "ok/e", Lease: f.lPrim, Value: tkey("t")} },
			then: func(r any) { f.electKey = r.(*wire.LeaderResponse).Key }},
		tableRow{name: "read-only name", method: wire.MethodCampaign, want: rowDenied, req: func() any { return &wire.CampaignRequest{Name: "ro/e2", Lease: f.lPrim, Value: tkey("t")} },
			absentPrefix: []string{primPrefix(electionrules.Root, "ro/e2")}},
		tableRow{name: "name under ok/", method: wire.MethodLeader, req: func() any { return &wire.LeaderRequest{Name: "ok/e"} }},
		tableRow{name: "read-only name", method: wire.MethodLeader, req: func() any { return &wire.LeaderRequest{Name: "ro/e"} }},
		tableRow{name: "name of no permission", method: wire.MethodLeader, want: rowDenied, req: func() any { return &wire.LeaderRequest{Name: "other/e"} }},
		tableRow{name: "observe name under ok/", method: wire.MethodLeader, req: func() any { return &wire.LeaderRequest{Name: "ok/e", Observe: true} }},
		tableRow{name: "observe read-only name", method: wire.MethodLeader, req: func() any { return &wire.LeaderRequest{Name: "ro/e", Observe: true} }},
		tableRow{name: "observe name of no permission", method: wire.MethodLeader, want: rowDenied, req: func() any { return &wire.LeaderRequest{Name: "other/e", Observe: true} }},
		tableRow{name: "name under ok/", method: wire.MethodProclaim, req: func() any {
			return &wire.ProclaimRequest{Name: "ok/e", Key: f.electKey, Lease: f.lPrim, Value: tkey("t2")}
		}},
		tableRow{name: "read-only name", method: wire.MethodProclaim, want: rowDenied, req: func() any {
			return &wire.ProclaimRequest{Name: "ro/e", Key: f.rootElectKey, Lease: f.lRootE, Value: tkey("t")}
		}},
		tableRow{name: "read-only name", method: wire.MethodResign, want: rowDenied, req: func() any { return &wire.ResignRequest{Name: "ro/e", Key: f.rootElectKey, Lease: f.lRootE} }},
		tableRow{name: "name under ok/", method: wire.MethodResign, req: func() any { return &wire.ResignRequest{Name: "ok/e", Key: f.electKey, Lease: f.lPrim} }},
	)

	// Queues: write to enqueue, dequeue and ack, read for info and wait.
	add(
		tableRow{name: "name under ok/", method: wire.MethodEnqueue, req: func() any { return &wire.EnqueueRequest{Name: "ok/q", Values: [][]byte{tkey("a"), tkey("b")}} }},
		tableRow{name: "read-only name", method: wire.MethodEnqueue, want: rowDenied, req: func() any { return &wire.EnqueueRequest{Name: "ro/q2", Values: [][]byte{tkey("a")}} },
			absentPrefix: []string{primPrefix(queuerules.Root, "ro/q2")}},
		tableRow{name: "name of no permission", method: wire.MethodEnqueue, want: rowDenied, req: func() any { return &wire.EnqueueRequest{Name: "other/q", Values: [][]byte{tkey("a")}} },
			absentPrefix: []string{primPrefix(queuerules.Root, "other/q")}},
		tableRow{name: "name under ok/", method: wire.MethodQueueInfo, req: func() any { return &wire.QueueInfoRequest{Name: "ok/q"} }},
		tableRow{name: "read-only name", method: wire.MethodQueueInfo, req: func() any { return &wire.QueueInfoRequest{Name: "ro/q", Peek: true} }},
		tableRow{name: "name of no permission", method: wire.MethodQueueInfo, want: rowDenied, req: func() any { return &wire.QueueInfoRequest{Name: "other/q"} }},
		tableRow{name: "name under ok/", method: wire.MethodQueueWait, req: func() any { return &wire.QueueWaitRequest{Name: "ok/q"} }},
		tableRow{name: "read-only name", method: wire.MethodQueueWait, req: func() any { return &wire.QueueWaitRequest{Name: "ro/q"} }},
		tableRow{name: "name of no permission", method: wire.MethodQueueWait, want: rowDenied, req: func() any { return &wire.QueueWaitRequest{Name: "other/q"} }},
		tableRow{name: "name under ok/", method: wire.MethodDequeue, req: func() any { return &wire.DequeueRequest{Name: "ok/q", Lease: f.lPrim, VisibilitySeconds: 60} },
			then: func(r any) { f.qItem = r.(*wire.DequeueResponse).Item }},
		tableRow{name: "read-only name", method: wire.MethodDequeue, want: rowDenied, req: func() any { return &wire.DequeueRequest{Name: "ro/q", Lease: f.lPrim, VisibilitySeconds: 60} }},
		tableRow{name: "read-only name", method: wire.MethodAck, want: rowDenied, req: func() any { return &wire.AckRequest{Name: "ro/q", Seq: 1, Nack: true} }},
		tableRow{name: "name under ok/", method: wire.MethodAck, req: func() any { return &wire.AckRequest{Name: "ok/q", Seq: f.qItem.Seq, Receipt: f.qItem.Receipt} }},
	)

	// Barriers: write to hold, release, enter and leave, read to wait.
	add(
		tableRow{name: "hold name under ok/", method: wire.MethodBarrier, req: func() any { return &wire.BarrierRequest{Name: "ok/b", Op: wire.BarrierHold} }},
		tableRow{name: "hold read-only name", method: wire.MethodBarrier, want: rowDenied, req: func() any { return &wire.BarrierRequest{Name: "ro/b", Op: wire.BarrierHold} },
			absentPrefix: []string{primPrefix(barrierrules.Root, "ro/b")}},
		tableRow{name: "enter read-only name", method: wire.MethodBarrier, want: rowDenied, req: func() any {
			return &wire.BarrierRequest{Name: "ro/b2", Op: wire.BarrierEnter, Count: 2, Lease: f.lPrim}
		}, absentPrefix: []string{primPrefix(barrierrules.Root, "ro/b2")}},
		tableRow{name: "release read-only name", method: wire.MethodBarrier, want: rowDenied, req: func() any { return &wire.BarrierRequest{Name: "ro/b", Op: wire.BarrierRelease} }},
		tableRow{name: "wait read-only name", method: wire.MethodBarrier, req: func() any { return &wire.BarrierRequest{Name: "ro/b", Op: wire.BarrierWait} }},
		tableRow{name: "wait name of no permission", method: wire.MethodBarrier, want: rowDenied, req: func() any { return &wire.BarrierRequest{Name: "other/b", Op: wire.BarrierWait} }},
		tableRow{name: "release name under ok/", method: wire.MethodBarrier, req: func() any { return &wire.BarrierRequest{Name: "ok/b", Op: wire.BarrierRelease} }},
		tableRow{name: "wait name under ok/", method: wire.MethodBarrier, req: func() any { return &wire.BarrierRequest{Name: "ok/b", Op: wire.BarrierWait} }},
	)

	// Semaphores: write to acquire and release, read for the status.
	add(
		tableRow{name: "name under ok/", method: wire.MethodSemAcquire, req: func() any {
			return &wire.SemaphoreAcquireRequest{Name: "ok/s", Lease: f.lPrim, Limit: 2, Weight: 1, Try: true}
		}, then: func(r any) { f.semKey = r.(*wire.SemaphoreAcquireResponse).Key }},
		tableRow{name: "read-only name", method: wire.MethodSemAcquire, want: rowDenied, req: func() any {
			return &wire.SemaphoreAcquireRequest{Name: "ro/s", Lease: f.lPrim, Limit: 2, Weight: 1, Try: true}
		}, absentPrefix: []string{primPrefix(semaphorerules.Root, "ro/s")}},
		tableRow{name: "name under ok/", method: wire.MethodSemStatus, req: func() any { return &wire.SemaphoreStatusRequest{Name: "ok/s"} }},
		tableRow{name: "read-only name", method: wire.MethodSemStatus, req: func() any { return &wire.SemaphoreStatusRequest{Name: "ro/s"} }},
		tableRow{name: "name of no permission", method: wire.MethodSemStatus, want: rowDenied, req: func() any { return &wire.SemaphoreStatusRequest{Name: "other/s"} }},
		tableRow{name: "read-only name", method: wire.MethodSemRelease, want: rowDenied, req: func() any { return &wire.SemaphoreReleaseRequest{Name: "ro/s", Key: tkey("x"), Lease: f.lPrim} }},
		tableRow{name: "name under ok/", method: wire.MethodSemRelease, req: func() any { return &wire.SemaphoreReleaseRequest{Name: "ok/s", Key: f.semKey, Lease: f.lPrim} }},
	)

	// kv.delete (after the lease rows, which use /wo/k).
	add(
		tableRow{name: "key in readwrite prefix", method: wire.MethodDelete, req: func() any { return &wire.DeleteRangeRequest{Key: tkey("/rw/a")} }},
		tableRow{name: "readwrite prefix, inside", method: wire.MethodDelete, req: func() any { return &wire.DeleteRangeRequest{Key: tkey("/rw/t"), RangeEnd: pfx("/rw/t")} }},
		tableRow{name: "write-only key", method: wire.MethodDelete, req: func() any { return &wire.DeleteRangeRequest{Key: tkey("/wo/k")} }},
		tableRow{name: "key in read-only range", method: wire.MethodDelete, want: rowDenied, req: func() any { return &wire.DeleteRangeRequest{Key: tkey("/ro/b")} }},
		tableRow{name: "read-only range", method: wire.MethodDelete, want: rowDenied, req: func() any { return &wire.DeleteRangeRequest{Key: tkey("/ro/a"), RangeEnd: tkey("/ro/m")} }},
		tableRow{name: "from key in readwrite prefix", method: wire.MethodDelete, want: rowDenied, req: func() any { return &wire.DeleteRangeRequest{Key: tkey("/rw/"), RangeEnd: fromKey} }},
		tableRow{name: "prefix of no permission", method: wire.MethodDelete, want: rowDenied, req: func() any { return &wire.DeleteRangeRequest{Key: tkey("/"), RangeEnd: pfx("/")} }},
	)

	// Root's methods: denied to t, allowed to root.
	add(
		tableRow{name: "t", method: wire.MethodCompact, want: rowDenied, req: func() any { return &wire.CompactRequest{Revision: f.rev, AllShards: true} }},
		tableRow{name: "root", method: wire.MethodCompact, as: asRoot, req: func() any { return &wire.CompactRequest{Revision: f.rev, AllShards: true} },
			okErr: []error{coord.ErrCompacted}},

		tableRow{name: "t", method: wire.MethodSnapshot, want: rowDenied, req: func() any { return &wire.SnapshotRequest{} }},
		tableRow{name: "root", method: wire.MethodSnapshot, as: asRoot, req: func() any { return &wire.SnapshotRequest{} }},

		tableRow{name: "t", method: wire.MethodAuthenticate, req: func() any { return &wire.AuthenticateRequest{Name: "t", Password: "tpw"} }},
		tableRow{name: "without a user", method: wire.MethodAuthenticate, as: asAnon, req: func() any { return &wire.AuthenticateRequest{Name: "t", Password: "tpw"} }},
		tableRow{name: "wrong password", method: wire.MethodAuthenticate, as: asAnon, want: rowAuthFailed, req: func() any { return &wire.AuthenticateRequest{Name: "t", Password: "nope"} }},
		tableRow{name: "t", method: wire.MethodAuthStatus, req: func() any { return &wire.AuthRequest{} }},
		tableRow{name: "without a user", method: wire.MethodAuthStatus, as: asAnon, req: func() any { return &wire.AuthRequest{} }},
		tableRow{name: "t", method: wire.MethodAuthEnable, want: rowDenied, req: func() any { return &wire.AuthRequest{} }},
		tableRow{name: "t", method: wire.MethodAuthDisable, want: rowDenied, req: func() any { return &wire.AuthRequest{} }},

		tableRow{name: "t adds a user", method: wire.MethodUserAdd, want: rowDenied, req: func() any { return &wire.UserRequest{Name: "mallory", Password: "pw"} },
			absent: []string{string(auth.UserKey("mallory"))}},
		tableRow{name: "t reads itself", method: wire.MethodUserGet, want: rowDenied, req: func() any { return &wire.UserRequest{Name: "t"} }},
		tableRow{name: "t", method: wire.MethodUserList, want: rowDenied, req: func() any { return &wire.UserRequest{} }},
		tableRow{name: "t changes its password", method: wire.MethodUserPasswd, want: rowDenied, req: func() any { return &wire.UserRequest{Name: "t", Password: "new"} }},
		tableRow{name: "t grants itself root", method: wire.MethodUserGrantRole, want: rowDenied, req: func() any { return &wire.UserRequest{Name: "t", Role: wire.RootRole} }},
		tableRow{name: "t revokes its role", method: wire.MethodUserRevokeRole, want: rowDenied, req: func() any { return &wire.UserRequest{Name: "t", Role: "t"} }},
		tableRow{name: "t deletes itself", method: wire.MethodUserDelete, want: rowDenied, req: func() any { return &wire.UserRequest{Name: "t"} }},
		tableRow{name: "t adds a role", method: wire.MethodRoleAdd, want: rowDenied, req: func() any { return &wire.RoleRequest{Name: "r-denied"} },
			absent: []string{string(auth.RoleKey("r-denied"))}},
		tableRow{name: "t reads its role", method: wire.MethodRoleGet, want: rowDenied, req: func() any { return &wire.RoleRequest{Name: "t"} }},
		tableRow{name: "t", method: wire.MethodRoleList, want: rowDenied, req: func() any { return &wire.RoleRequest{} }},
		tableRow{name: "t widens its role", method: wire.MethodRoleGrantPermission, want: rowDenied, req: func() any {
			return &wire.RoleRequest{Name: "t", Perm: prefixPerm(wire.KindKV, wire.PermReadWrite, "/")}
		}},
		tableRow{name: "t narrows its role", method: wire.MethodRoleRevokePermission, want: rowDenied, req: func() any {
			return &wire.RoleRequest{Name: "t", Perm: prefixPerm(wire.KindKV, wire.PermReadWrite, "/rw/")}
		}},
		tableRow{name: "t deletes its role", method: wire.MethodRoleDelete, want: rowDenied, req: func() any { return &wire.RoleRequest{Name: "t"} }},

		tableRow{name: "root", method: wire.MethodUserAdd, as: asRoot, req: func() any { return &wire.UserRequest{Name: "u2", Password: "pw"} }},
		tableRow{name: "root", method: wire.MethodUserGet, as: asRoot, req: func() any { return &wire.UserRequest{Name: "u2"} }},
		tableRow{name: "root", method: wire.MethodUserList, as: asRoot, req: func() any { return &wire.UserRequest{} }},
		tableRow{name: "root", method: wire.MethodUserPasswd, as: asRoot, req: func() any { return &wire.UserRequest{Name: "u2", Password: "pw2"} }},
		tableRow{name: "root", method: wire.MethodRoleAdd, as: asRoot, req: func() any { return &wire.RoleRequest{Name: "r2"} }},
		tableRow{name: "root", method: wire.MethodRoleGet, as: asRoot, req: func() any { return &wire.RoleRequest{Name: "r2"} }},
		tableRow{name: "root", method: wire.MethodRoleList, as: asRoot, req: func() any { return &wire.RoleRequest{} }},
		tableRow{name: "root", method: wire.MethodRoleGrantPermission, as: asRoot, req: func() any {
			return &wire.RoleRequest{Name: "r2", Perm: prefixPerm(wire.KindKV, wire.PermRead, "/x/")}
		}},
		tableRow{name: "root", method: wire.MethodRoleRevokePermission, as: asRoot, req: func() any {
			return &wire.RoleRequest{Name: "r2", Perm: prefixPerm(wire.KindKV, wire.PermRead, "/x/")}
		}},
		tableRow{name: "root", method: wire.MethodUserGrantRole, as: asRoot, req: func() any { return &wire.UserRequest{Name: "u2", Role: "r2"} }},
		tableRow{name: "root", method: wire.MethodUserRevokeRole, as: asRoot, req: func() any { return &wire.UserRequest{Name: "u2", Role: "r2"} }},
		tableRow{name: "root", method: wire.MethodRoleDelete, as: asRoot, req: func() any { return &wire.RoleRequest{Name: "r2"} }},
		tableRow{name: "root", method: wire.MethodUserDelete, as: asRoot, req: func() any { return &wire.UserRequest{Name: "u2"} }},
		// Membership changes are root's: allowed rows end with a refusal
		// that only root reaches (nothing changes), denied ones at once.
		tableRow{name: "root", method: wire.MethodMemberAdd, as: asRoot, okErr: []error{coord.ErrInvalid},
			req: func() any { return &wire.MemberAddRequest{Name: "n9", PeerAddr: "no-port"} }},
		tableRow{name: "root", method: wire.MethodMemberPromote, as: asRoot, okErr: []error{coord.ErrNotFound},
			req: func() any { return &wire.MemberPromoteRequest{Name: "n9"} }},
		tableRow{name: "root", method: wire.MethodMemberRemove, as: asRoot, okErr: []error{coord.ErrNotFound},
			req: func() any { return &wire.MemberRemoveRequest{Name: "n9"} }},
		tableRow{name: "t adds a member", method: wire.MethodMemberAdd, want: rowDenied, req: func() any { return &wire.MemberAddRequest{Name: "n9", PeerAddr: "127.0.0.1:1"} }},
		tableRow{name: "t promotes", method: wire.MethodMemberPromote, want: rowDenied, req: func() any { return &wire.MemberPromoteRequest{Name: "n2"} }},
		tableRow{name: "t removes", method: wire.MethodMemberRemove, want: rowDenied, req: func() any { return &wire.MemberRemoveRequest{Name: "n2"} }},
		tableRow{name: "root", method: wire.MethodMemberMoveLeader, as: asRoot, okErr: []error{coord.ErrNotFound},
			req: func() any { return &wire.MemberMoveLeaderRequest{Name: "n9"} }},
		tableRow{name: "t moves the leader", method: wire.MethodMemberMoveLeader, want: rowDenied, req: func() any { return &wire.MemberMoveLeaderRequest{Name: "n2"} }},
		// Last: root turns auth off and on again.
		tableRow{name: "root", method: wire.MethodAuthDisable, as: asRoot, req: func() any { return &wire.AuthRequest{} }},
		tableRow{name: "root", method: wire.MethodAuthEnable, as: asRoot, req: func() any { return &wire.AuthRequest{} }},
	)
	return rows
}

// checkTableCovers fails unless every method has an allowed row and,
// but those of openToEveryone, a denied row.
func checkTableCovers(t *testing.T, rows []tableRow) {
	t.Helper()
	has := map[string]map[tableWant]bool{}
	for _, r := range rows {
		require.True(t, wire.IsMethod(r.method), "row %q: %q is no method", r.name, r.method)
		if has[r.method] == nil {
			has[r.method] = map[tableWant]bool{}
		}
		has[r.method][r.want] = true
	}
	var missing []string
	for _, m := range wire.Methods() {
		if !has[m.Name][rowAllowed] {
			missing = append(missing, m.Name+" (no allowed row)")
		}
		if !has[m.Name][rowDenied] && !openToEveryone[m.Name] {
			missing = append(missing, m.Name+" (no denied row)")
		}
		if has[m.Name][rowDenied] && openToEveryone[m.Name] {
			missing = append(missing, m.Name+" (denied row, but listed as open to everyone)")
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing, "the table must cover every method of wire.Methods()")
}

// TestAuthClusterMethodTable: every method of wire.Methods() × (allowed,
// denied) × (kv key, prefix, range, from key, txn branches; primitive
// names by kind; leases by owner and attached keys), on three members in
// turn, with auth on and a user whose role is tableRole. Allowed rows are
// never refused for authorization; denied ones fail at once with
// ErrPermissionDenied; nothing a denied row would have written exists
// afterwards.
func TestAuthClusterMethodTable(t *testing.T) {
	f := &tableFixture{}
	rows := tableRows(f)
	checkTableCovers(t, rows)

	tc := newAuthCluster(t, 3)
	ctx := ctxT(t, 2*time.Minute)
	admin := tc.client()
	must(t, callAuth(ctx, admin, wire.MethodRoleAdd, &wire.RoleRequest{Name: wire.RootRole}))
	must(t, callAuth(ctx, admin, wire.MethodUserAdd, &wire.UserRequest{Name: wire.RootUser, Password: "rootpw"}))
	must(t, callAuth(ctx, admin, wire.MethodUserGrantRole, &wire.UserRequest{Name: wire.RootUser, Role: wire.RootRole}))
	must(t, callAuth(ctx, admin, wire.MethodRoleAdd, &wire.RoleRequest{Name: "t"}))
	for _, p := range tableRole() {
		must(t, callAuth(ctx, admin, wire.MethodRoleGrantPermission, &wire.RoleRequest{Name: "t", Perm: p}))
	}
	must(t, callAuth(ctx, admin, wire.MethodUserAdd, &wire.UserRequest{Name: "t", Password: "tpw"}))
	must(t, callAuth(ctx, admin, wire.MethodUserGrantRole, &wire.UserRequest{Name: "t", Role: "t"}))
	must(t, callAuth(ctx, admin, wire.MethodAuthEnable, &wire.AuthRequest{}))
	waitEnforced(t, tc)

	eps := tc.Endpoints()
	clients := map[tableAs][]*coord.Client{}
	for _, ep := range eps {
		clients[asUser] = append(clients[asUser], tc.userClient("t", "tpw", ep))
		clients[asRoot] = append(clients[asRoot], tc.userClient(wire.RootUser, "rootpw", ep))
		clients[asAnon] = append(clients[asAnon], tc.client(ep))
	}
	root := clients[asRoot][0]

	// Root's part: keys t may read, leases t may or may not touch, the
	// leader of read-only election ro/e, an item of read-only queue ro/q.
	grant := func() int64 {
		g, err := root.Grant(ctx, 120)
		require.NoError(t, err)
		return g.ID
	}
	f.lRoot, f.lRootRW, f.lRootRO, f.lRootE = grant(), grant(), grant(), grant()
	pr, err := root.Put(ctx, "/ro/b", "root")
	require.NoError(t, err)
	f.rev = pr.Header.Revision
	_, err = root.Put(ctx, "/ro/c", "root", coord.WithLease(f.lRootRO))
	require.NoError(t, err)
	_, err = root.Put(ctx, "/rw/leased", "root", coord.WithLease(f.lRootRW))
	require.NoError(t, err)
	var lr wire.LeaderResponse
	require.NoError(t, root.Call(ctx, wire.MethodCampaign, &wire.CampaignRequest{Name: "ro/e", Lease: f.lRootE, Value: tkey("root")}, &lr))
	f.rootElectKey = lr.Key
	require.NotEmpty(t, f.rootElectKey)
	require.NoError(t, root.Call(ctx, wire.MethodEnqueue, &wire.EnqueueRequest{Name: "ro/q", Values: [][]byte{tkey("root")}}, &wire.EnqueueResponse{}))

	start := time.Now()
	counts := map[tableWant]int{}
	for i, r := range rows {
		ep := i % len(eps)
		c := clients[r.as][ep]
		// The lease checks read the member's own replica: let it apply
		// everything before the row first (a linearizable read).
		_, err := clients[asRoot][ep].Get(ctx, "/sync")
		require.NoError(t, err)

		m, _ := wire.LookupMethod(r.method)
		req := r.req()
		resp := m.NewResponse()
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		t0 := time.Now()
		if m.IsStream(req) {
			// A stream allowed answers its first message (a watch's
			// Created, the observed leader); a denied one fails at once.
			err = c.Stream(rctx, r.method, req, func([]byte) (bool, error) { return false, nil })
		} else {
			err = c.Call(rctx, r.method, req, resp)
		}
		took := time.Since(t0)
		cancel()
		what := fmt.Sprintf("row %d %s %q as %s on member %d: want %s, got %v", i, r.method, r.name, r.as, ep, r.want, err)
		counts[r.want]++
		switch r.want {
		case rowAllowed:
			require.NotErrorIs(t, err, coord.ErrPermissionDenied, what)
			require.NotErrorIs(t, err, coord.ErrAuthFailed, what)
			if err != nil {
				ok := false
				for _, e := range r.okErr {
					ok = ok || errors.Is(err, e)
				}
				require.True(t, ok, what)
			} else if r.then != nil {
				r.then(resp)
			}
		case rowDenied:
			require.ErrorIs(t, err, coord.ErrPermissionDenied, what)
			if r.as == asAnon {
				require.Contains(t, err.Error(), "authenticate with --user", what)
			} else {
				require.Contains(t, err.Error(), "user t may not", what)
			}
			require.Less(t, took, 5*time.Second, what+": not at once")
		case rowAuthFailed:
			require.ErrorIs(t, err, coord.ErrAuthFailed, what)
		}
	}
	t.Logf("%d rows (%d allowed, %d denied, %d auth failed) in %v", len(rows), counts[rowAllowed], counts[rowDenied], counts[rowAuthFailed], time.Since(start).Round(time.Millisecond))

	// Root finds nothing a denied row would have written, and what denied
	// rows would have changed unchanged.
	for i, r := range rows {
		for _, k := range r.absent {
			g, err := root.Get(ctx, k)
			require.NoError(t, err)
			require.Empty(t, g.Kvs, "row %d %s %q was denied, yet %q exists", i, r.method, r.name, k)
		}
		for _, p := range r.absentPrefix {
			g, err := root.Get(ctx, p, coord.WithPrefix())
			require.NoError(t, err)
			require.Empty(t, g.Kvs, "row %d %s %q was denied, yet keys under %q exist", i, r.method, r.name, p)
		}
	}
	for _, k := range []string{"/ro/b", "/ro/c"} {
		g, err := root.Get(ctx, k)
		require.NoError(t, err)
		require.Len(t, g.Kvs, 1, "%s was deleted by a denied delete or revoke", k)
		require.Equal(t, "root", string(g.Kvs[0].Value))
	}
	require.NoError(t, root.Call(ctx, wire.MethodLeader, &wire.LeaderRequest{Name: "ro/e"}, &lr))
	require.Equal(t, "root", string(lr.Value), "a denied proclaim or resign changed ro/e")
	require.Equal(t, f.rootElectKey, lr.Key)
	var qi wire.QueueInfoResponse
	require.NoError(t, root.Call(ctx, wire.MethodQueueInfo, &wire.QueueInfoRequest{Name: "ro/q"}, &qi))
	require.Equal(t, int64(1), qi.Ready, "a denied dequeue took ro/q's item")
	require.Zero(t, qi.InFlight)
	var ur wire.UserResponse
	require.NoError(t, root.Call(ctx, wire.MethodUserGet, &wire.UserRequest{Name: "t"}, &ur))
	require.Equal(t, []string{"t"}, ur.Roles, "a denied grant-role or revoke-role changed t")
	var rr wire.RoleResponse
	require.NoError(t, root.Call(ctx, wire.MethodRoleGet, &wire.RoleRequest{Name: "t"}, &rr))
	require.Len(t, rr.Perms, len(tableRole()), "a denied grant- or revoke-permission changed role t")
	for _, p := range rr.Perms {
		require.NotEqual(t, "/", string(p.Key), "a denied grant-permission widened role t")
	}
	// t's password is unchanged: a new client logs in with it.
	_, err = tc.userClient("t", "tpw").Get(ctx, "/rw/a")
	require.NoError(t, err)
}
