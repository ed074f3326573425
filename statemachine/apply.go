package statemachine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/cockroachdb/pebble"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/mvcc"
)

// Applied is what one Apply call produced, for the server.
type Applied struct {
	// Events are the watch events of the batch, in revision order.
	Events []wire.Event
	// Leases are the batch's lease changes, in apply order, for the
	// server's lessor: one per grant, per lease renewed, and per revoke
	// (also for an expiry revoke that was ignored because the lease was
	// renewed since: it reports the lease's current state, not revoked).
	Leases []LeaseChange
}

// LeaseChange is the state of a lease after a command changed it: its
// granted TTL in seconds, its renewal count, and whether it is gone.
type LeaseChange struct {
	ID       int64
	TTL      int64
	RenewSeq uint64
	Revoked  bool
}

// Apply applies committed entries in order, sets each entry's Result, and
// returns the events and lease changes they produced. All their effects
// and the new applied index are written in one Pebble batch (not synced;
// see Sync), except that a compaction or an exactly-once eviction first
// commits the entries before it, with the applied index of the last of
// them, so a crash never separates data from its applied index.
//
// User errors are Results; an error returned is a storage failure, after
// which the shard must not be used (reopen it).
func (sh *Shard) Apply(entries []Entry) (*Applied, error) {
	db, err := sh.acquire()
	defer sh.release()
	if err != nil {
		return nil, err
	}
	if sh.clients == nil {
		sh.clients = make(map[uint64]*clientRecord)
	}
	a := &applier{
		sh: sh,
		db: db,
		m: meta{
			applied:   sh.applied.Load(),
			current:   mvcc.Revision(sh.current.Load()),
			compacted: mvcc.Revision(sh.compacted.Load()),
			lastLease: sh.lastLease.Load(),
			clock:     sh.clock.Load(),
		},
		dirty:     make(map[uint64]*clientRecord),
		clusterID: sh.clusterID.Load(),
	}
	a.w = mvcc.NewWriter(sh.space, db, a.m.current, sh.latest)
	defer a.w.Close()

	for i := range entries {
		e := &entries[i]
		cmd, derr := DecodeCommand(e.Cmd)
		if e.Index/evictEvery != a.m.applied/evictEvery {
			now := a.m.clock
			if derr == nil && cmd.Time > 0 {
				now = max(now, uint64(cmd.Time))
			}
			err = a.evict(now)
		}
		if err == nil {
			a.replayed = false
			e.Result, err = a.applyEntry(cmd, derr)
			e.Replayed = a.replayed
		}
		if err != nil {
			// The cache may hold changes that will never be committed.
			sh.clients = make(map[uint64]*clientRecord)
			sh.latest.Reset(false)
			return nil, err
		}
		a.m.applied = e.Index
	}
	if err := a.flush(false); err != nil {
		sh.clients = make(map[uint64]*clientRecord)
		sh.latest.Reset(false)
		return nil, err
	}
	return &Applied{Events: a.events, Leases: a.changes}, nil
}

// testCommitHook, when set by a test, sees every batch Apply commits.
var testCommitHook func(*pebble.Batch)

// applier is the state of one Apply call.
type applier struct {
	sh        *Shard
	db        *pebble.DB
	w         *mvcc.Writer
	m         meta                     // the working meta
	clusterID uint64                   // the working cluster identity
	members   *[]MemberRecord          // the working member registry, nil: unchanged since the last flush
	alarms    *[]wire.Alarm            // the working alarms, nil: unchanged since the last flush
	dirty     map[uint64]*clientRecord // exactly-once records changed since the last flush
	replayed  bool                     // the entry being applied was answered from its exactly-once record
	events    []wire.Event

	leases  map[int64]*leaseEntry     // lease records read or written by this call (lease.go)
	attach  map[int64]map[string]bool // attachments set (true) or removed (false) by this call
	changes []LeaseChange
}

// flush commits everything applied so far with the working meta, then, if
// rebase, restarts the writer on the committed state.
func (a *applier) flush(rebase bool) error {
	b := a.w.Batch()
	ids := make([]uint64, 0, len(a.dirty))
	for id := range a.dirty {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if err := b.Set(a.sh.space.DedupKey(id), a.dirty[id].encode(), nil); err != nil {
			return err
		}
	}
	if err := a.flushLeases(b); err != nil {
		return err
	}
	if err := b.Set(a.sh.space.MetaKey(), a.m.encode(), nil); err != nil {
		return err
	}
	if testCommitHook != nil {
		testCommitHook(b)
	}
	if err := a.db.Apply(b, pebble.NoSync); err != nil {
		return fmt.Errorf("statemachine: commit: %w", err)
	}
	a.w.Committed()
	a.sh.publish(a.m)
	a.sh.clusterID.Store(a.clusterID)
	if a.members != nil {
		a.sh.members.Store(a.members)
		a.members = nil
	}
	if a.alarms != nil {
		a.sh.alarms.Store(a.alarms)
		a.alarms = nil
	}
	clear(a.dirty)
	if rebase {
		a.w.Rebase(a.m.current)
	}
	return nil
}

// evict drops the exactly-once records of clients idle for more than
// DedupRetention at clock now (that of the entry about to be applied).
func (a *applier) evict(now uint64) error {
	if err := a.flush(true); err != nil {
		return err
	}
	retention := uint64(a.sh.store.cfg.DedupRetention.Milliseconds())
	lo, hi := a.sh.space.DedupBounds()
	it := a.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	b := a.w.Batch()
	for valid := it.First(); valid; valid = it.Next() {
		last, legacy, ok := recordLastTime(it.Value())
		id, okKey := a.sh.space.DedupClient(it.Key())
		if !ok || !okKey {
			_ = it.Close()
			return errCorruptDedup
		}
		if legacy {
			// A record of an earlier format (last use unknown): rewrite
			// it as used now.
			c, err := decodeClientRecord(it.Value(), now)
			if err == nil {
				err = b.Set(it.Key(), c.encode(), nil)
			}
			if err != nil {
				_ = it.Close()
				return err
			}
			delete(a.sh.clients, id)
			continue
		}
		if now > last && now-last > retention {
			if err := b.Delete(it.Key(), nil); err != nil {
				_ = it.Close()
				return err
			}
			delete(a.sh.clients, id)
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	// Commit the deletions so that later lookups in the DB agree with the
	// cache.
	return a.flush(true)
}

// client returns the exactly-once record of id, creating an empty one
// born now.
func (a *applier) client(id uint64) (*clientRecord, error) {
	if c := a.sh.clients[id]; c != nil {
		return c, nil
	}
	c := &clientRecord{born: a.m.clock, floor: 1} // seqs start at 1
	v, closer, err := a.db.Get(a.sh.space.DedupKey(id))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		c, err = decodeClientRecord(v, a.m.clock)
		_ = closer.Close()
		if err != nil {
			return nil, err
		}
	}
	a.sh.clients[id] = c
	return c, nil
}

// applyEntry applies one entry's command (derr: it did not decode), with
// exactly-once handling.
func (a *applier) applyEntry(cmd *Command, derr error) (Result, error) {
	if derr != nil {
		return errResult(wire.Errorf(wire.CodeInvalid, "undecodable command"))
	}
	if cmd.Time > 0 {
		a.m.clock = max(a.m.clock, uint64(cmd.Time))
	}
	if cmd.ClientID == 0 {
		return a.execute(cmd)
	}
	if cmd.Seq == 0 {
		return errResult(wire.Errorf(wire.CodeInvalid, "a write of client %x has no sequence number (they start at 1)", cmd.ClientID))
	}
	c, err := a.client(cmd.ClientID)
	if err != nil {
		return Result{}, err
	}
	c.lastTime = a.m.clock
	a.dirty[cmd.ClientID] = c
	c.forgetBelow(cmd.AckBelow)
	r, v := c.lookup(cmd.Seq)
	switch v {
	case verdictResult:
		r.Data = bytes.Clone(r.Data)
		a.replayed = true
		return r, nil
	case verdictDuplicate:
		return errResult(wire.Errorf(wire.CodeDuplicate,
			"request %d of client %x was already applied or acknowledged, and its result is gone", cmd.Seq, cmd.ClientID))
	case verdictUnknown:
		return errResult(wire.Errorf(wire.CodeOutcomeUnknown,
			"request %d of client %x may have been applied (too many of the client's results unacknowledged to tell); it was not applied again", cmd.Seq, cmd.ClientID))
	}
	if a.tooOld(c, cmd) {
		r, err = errResult(wire.Errorf(wire.CodeOutcomeUnknown,
			"request %d of client %x was first sent %d ms ago (shard clock), too long before the shard's record of the client began (limit: half the exactly-once retention of %v): it may have been applied already; it was not applied again",
			cmd.Seq, cmd.ClientID, a.m.clock-uint64(cmd.Sent), a.sh.store.cfg.DedupRetention))
	} else {
		r, err = a.execute(cmd)
	}
	if err != nil {
		return Result{}, err
	}
	c.store(cmd.Seq, r)
	// Mark it again: a command that commits part of the batch while it
	// runs (a compaction) has flushed and cleared the dirty set, and the
	// result just stored must reach the store with this batch.
	a.dirty[cmd.ClientID] = c
	return r, nil
}

// tooOld reports whether cmd, which c does not know, may have been applied
// under an earlier record of its client, since dropped: whether it was
// first sent more than half the retention before c was created. (A record
// is dropped after a retention of idleness, so an earlier record that
// applied cmd was last used at or after cmd was first sent, and at least
// a retention before c was created; the other half is the margin for
// member clock offsets and the transit of the request, see Config.)
func (a *applier) tooOld(c *clientRecord, cmd *Command) bool {
	if cmd.Sent <= 0 {
		return false
	}
	margin := uint64(a.sh.store.cfg.DedupRetention.Milliseconds()) / 2
	return c.born > margin && uint64(cmd.Sent) < c.born-margin
}

// execute applies one decoded command: the operation it names, from
// the core (coreOps) or a registered primitive (primitives.go).
func (a *applier) execute(cmd *Command) (Result, error) {
	op, ok := ops[cmd.Op]
	switch {
	case cmd.Op == "":
		// Also a legacy command with no operation or several.
		return errResult(wire.Errorf(wire.CodeInvalid, "a command must carry exactly one operation, not %d", cmd.legacyOps))
	case !ok:
		return errResult(wire.Errorf(wire.CodeInvalid, "unknown operation %q", cmd.Op))
	}
	req := cmd.req
	if req == nil {
		// A command built in memory with a body and no decoded request.
		var err error
		if req, err = op.decode(cmd.Body); err != nil {
			return errResult(wire.Errorf(wire.CodeInvalid, "undecodable command"))
		}
	}
	if op.grows != nil && op.grows(req) {
		if werr := a.noSpace(); werr != nil {
			return errResult(werr)
		}
	}
	return op.apply(a, req)
}

// coreOps are the operations of the core: the key-value store, leases and
// the cluster identity and the member registry.
var coreOps = map[string]opEntry{
	OpPut:             coreOp(func(a *applier, r *wire.PutRequest) (Result, error) { return a.put(r) }).growing(growsAlways),
	OpDelete:          coreOp(func(a *applier, r *wire.DeleteRangeRequest) (Result, error) { return a.deleteRange(r) }),
	OpTxn:             coreOp(func(a *applier, r *wire.TxnRequest) (Result, error) { return a.txn(r) }).growing(txnGrows),
	OpCompact:         coreOp(func(a *applier, r *wire.CompactRequest) (Result, error) { return a.compact(r) }),
	OpLeaseGrant:      coreOp(func(a *applier, r *LeaseGrant) (Result, error) { return a.leaseGrant(r) }).growing(growsAlways),
	OpLeaseRevoke:     coreOp(func(a *applier, r *LeaseRevoke) (Result, error) { return a.leaseRevoke(r) }),
	OpLeaseRenew:      coreOp(func(a *applier, r *LeaseRenew) (Result, error) { return a.leaseRenew(r) }),
	OpClusterIdentity: coreOp(func(a *applier, r *ClusterIdentity) (Result, error) { return a.clusterIdentity(r) }),
	OpMemberPublish:   coreOp(func(a *applier, r *MemberPublish) (Result, error) { return a.memberPublish(r) }),
	OpAlarmActivate:   coreOp(func(a *applier, r *AlarmActivate) (Result, error) { return a.alarmActivate(r) }),
	OpAlarmDeactivate: coreOp(func(a *applier, r *AlarmDeactivate) (Result, error) { return a.alarmDeactivate(r) }),
	OpMemberAdd:       coreOp(func(a *applier, r *MemberAdd) (Result, error) { return a.memberAdd(r) }),
	OpMemberPromote:   coreOp(func(a *applier, r *MemberPromote) (Result, error) { return a.memberPromote(r) }),
	OpMemberRemove:    coreOp(func(a *applier, r *MemberRemove) (Result, error) { return a.memberRemove(r) }),
}

// Which core operations grow the store (refused while a NOSPACE alarm is
// raised, alarms.go): a put, a txn with a put in either branch (as etcd
// decides, whichever branch runs), a lease grant.
func growsAlways(any) bool { return true }

func txnGrows(req any) bool {
	r, ok := req.(*wire.TxnRequest)
	if !ok {
		return true
	}
	for _, ops := range [][]wire.RequestOp{r.Success, r.Failure} {
		for i := range ops {
			if ops[i].Put != nil {
				return true
			}
		}
	}
	return false
}

// growing returns e marked as growing the store for the requests grows
// reports.
func (e opEntry) growing(grows func(any) bool) opEntry {
	e.grows = grows
	return e
}

// coreOp is the opEntry of a core operation on a *Q.
func coreOp[Q any](apply func(*applier, *Q) (Result, error)) opEntry {
	return opEntry{
		newReq: func() any { return new(Q) },
		apply: func(a *applier, req any) (Result, error) {
			q, ok := req.(*Q)
			if !ok {
				return errResult(wire.Errorf(wire.CodeInvalid, "operation takes a %T, not a %T", q, req))
			}
			return apply(a, q)
		},
	}
}

func (a *applier) header() wire.ResponseHeader {
	return wire.ResponseHeader{Shard: a.sh.id, Revision: int64(a.m.current)}
}

func (a *applier) put(req *wire.PutRequest) (Result, error) {
	if werr := a.checkPut(req); werr != nil {
		return errResult(werr)
	}
	if werr, err := a.checkLeaseExists(req); err != nil || werr != nil {
		if err != nil {
			return Result{}, err
		}
		return errResult(werr)
	}
	rev := a.m.current + 1
	prev, err := a.doPut(req, rev)
	if err != nil {
		return Result{}, err
	}
	a.m.current = rev
	resp := &wire.PutResponse{Header: a.header()}
	if req.PrevKV {
		resp.PrevKV = prev
	}
	return okResult(resp)
}

// doPut writes a validated put at rev, moves the key's lease attachment
// if its lease changes, and records its event.
func (a *applier) doPut(req *wire.PutRequest, rev mvcc.Revision) (prev *wire.KeyValue, err error) {
	kv, prev, err := a.w.Put(req.Key, req.Value, req.Lease, rev)
	if err != nil {
		return nil, err
	}
	var old int64
	if prev != nil {
		old = prev.Lease
	}
	if old != req.Lease {
		if old != 0 {
			a.detach(old, req.Key)
		}
		if req.Lease != 0 {
			a.attachKey(req.Lease, req.Key)
		}
	}
	a.events = append(a.events, wire.Event{Type: wire.EventPut, Shard: a.sh.id, Kv: kv, PrevKv: prev})
	return prev, nil
}

func (a *applier) deleteRange(req *wire.DeleteRangeRequest) (Result, error) {
	if werr := checkDelete(req); werr != nil {
		return errResult(werr)
	}
	rev := a.m.current + 1
	prevs, err := a.doDelete(req.Key, req.RangeEnd, rev, isReserved)
	if err != nil {
		return Result{}, err
	}
	if len(prevs) > 0 {
		a.m.current = rev
	}
	resp := &wire.DeleteRangeResponse{Header: a.header(), Deleted: int64(len(prevs))}
	if req.PrevKV {
		resp.PrevKvs = prevs
	}
	return okResult(resp)
}

// doDelete deletes, at rev, the live keys selected by key and end except
// those skip returns true for (nil: none), detaches them from their
// leases, and records their events.
func (a *applier) doDelete(key, end []byte, rev mvcc.Revision, skip func([]byte) bool) ([]*wire.KeyValue, error) {
	prevs, err := a.w.DeleteRange(key, end, rev, skip)
	if err != nil {
		return nil, err
	}
	for _, p := range prevs {
		if p.Lease != 0 {
			a.detach(p.Lease, p.Key)
		}
		a.events = append(a.events, wire.Event{
			Type:   wire.EventDelete,
			Shard:  a.sh.id,
			Kv:     &wire.KeyValue{Key: p.Key, ModRevision: int64(rev)},
			PrevKv: p,
		})
	}
	return prevs, nil
}

func (a *applier) txn(req *wire.TxnRequest) (Result, error) {
	if werr := a.checkTxn(req); werr != nil {
		return errResult(werr)
	}
	succeeded := true
	for i := range req.Compare {
		ok, err := a.compare(&req.Compare[i])
		if err != nil {
			return Result{}, err
		}
		if !ok {
			succeeded = false
			break
		}
	}
	ops := req.Success
	if !succeeded {
		ops = req.Failure
	}
	// The leases of the branch's puts must exist (checked before any
	// write: a txn fails whole or runs to the end; it cannot revoke).
	for i := range ops {
		if ops[i].Put == nil {
			continue
		}
		if werr, err := a.checkLeaseExists(ops[i].Put); err != nil || werr != nil {
			if err != nil {
				return Result{}, err
			}
			return errResult(werr)
		}
	}
	// Reads without a revision read at rev, the revision this txn writes
	// (if it writes): they see the txn's earlier writes and everything
	// before it.
	rev := a.m.current + 1
	ranges, werr, err := a.txnRanges(req, ops, rev)
	if err != nil || werr != nil {
		if err != nil {
			return Result{}, err
		}
		return errResult(werr)
	}
	wrote := false
	resps := make([]wire.ResponseOp, len(ops))
	for i, op := range ops {
		switch {
		case op.Range != nil:
			if ranges[i] != nil {
				resps[i].Range = ranges[i]
				break
			}
			r := op.Range
			at := rev
			if r.Revision != 0 {
				at = mvcc.Revision(r.Revision)
			}
			rr, err := a.w.Reader().Range(r.Key, r.RangeEnd, at, txnRangeOptions(r))
			if err != nil {
				return Result{}, err
			}
			resps[i].Range = &wire.RangeResponse{Kvs: rr.KVs, More: rr.More, Count: rr.Count}
		case op.Put != nil:
			prev, err := a.doPut(op.Put, rev)
			if err != nil {
				return Result{}, err
			}
			wrote = true
			resps[i].Put = &wire.PutResponse{}
			if op.Put.PrevKV {
				resps[i].Put.PrevKV = prev
			}
		case op.DeleteRange != nil:
			prevs, err := a.doDelete(op.DeleteRange.Key, op.DeleteRange.RangeEnd, rev, isReserved)
			if err != nil {
				return Result{}, err
			}
			wrote = wrote || len(prevs) > 0
			resps[i].DeleteRange = &wire.DeleteRangeResponse{Deleted: int64(len(prevs))}
			if op.DeleteRange.PrevKV {
				resps[i].DeleteRange.PrevKvs = prevs
			}
		}
	}
	if wrote {
		a.m.current = rev
	}
	h := a.header()
	for i, op := range ops {
		switch {
		case op.Range != nil:
			resps[i].Range.Header = h
			if op.Range.Revision != 0 {
				resps[i].Range.Header.Revision = op.Range.Revision
			}
		case op.Put != nil:
			resps[i].Put.Header = h
		case op.DeleteRange != nil:
			resps[i].DeleteRange.Header = h
		}
	}
	return okResult(&wire.TxnResponse{Header: h, Succeeded: succeeded, Responses: resps})
}

// txnRangeOptions are the options of a txn's range op: a txn's result is
// one message, so it is not paged (a MaxBytes sent by a client is ignored;
// the txn's own bound applies).
func txnRangeOptions(r *wire.RangeRequest) mvcc.RangeOptions {
	o := rangeOptions(r)
	o.MaxBytes = 0
	return o
}

// txnRanges bounds the range ops of a txn's branch, before anything is
// written: together they may return at most req.MaxRangeKeys keys and
// req.MaxRangeBytes bytes (wire.KeyValue.Size; 0: no bound), else the txn
// fails with CodeTooLarge. Their results are stored for exactly-once and
// sent in one message, so they cannot be paged.
//
// A range op before the branch's first write reads now what it would read
// in order, so its result is returned (by op index) for the txn to use. A
// range op after a write (it sees the txn's earlier writes) is bounded by
// an estimate that cannot be below what it will read: the range as it is
// now plus every earlier put of the branch into it; it runs in order.
func (a *applier) txnRanges(req *wire.TxnRequest, ops []wire.RequestOp, rev mvcc.Revision) ([]*wire.RangeResponse, *wire.Error, error) {
	maxKeys, maxBytes := req.MaxRangeKeys, req.MaxRangeBytes
	out := make([]*wire.RangeResponse, len(ops))
	var keys, size int64
	wrote := false
	for i := range ops {
		r := ops[i].Range
		if r == nil {
			wrote = true
			continue
		}
		if r.CountOnly || (wrote && maxKeys == 0 && maxBytes == 0) {
			continue // nothing to bound: read in order
		}
		at := rev
		if r.Revision != 0 {
			at = mvcc.Revision(r.Revision)
		}
		o := txnRangeOptions(r)
		if maxKeys > 0 && (o.Limit == 0 || o.Limit > maxKeys-keys+1) {
			o.Limit = maxKeys - keys + 1
		}
		if maxBytes > 0 {
			o.MaxBytes = max(maxBytes-size, 1)
		}
		rr, err := a.w.Reader().Range(r.Key, r.RangeEnd, at, o)
		if err != nil {
			return nil, nil, err
		}
		n, b := int64(len(rr.KVs)), rr.Bytes
		if wrote && r.Revision == 0 {
			for j := 0; j < i; j++ {
				if p := ops[j].Put; p != nil && wire.InRange(p.Key, r.Key, r.RangeEnd) {
					n++
					kv := wire.KeyValue{Key: p.Key, Value: p.Value}
					if r.KeysOnly {
						kv.Value = nil
					}
					b += int64(kv.Size())
				}
			}
			if r.Limit > 0 {
				n = min(n, r.Limit)
			}
		}
		keys, size = keys+n, size+b
		switch {
		case maxKeys > 0 && keys > maxKeys:
			return nil, wire.Errorf(wire.CodeTooLarge,
				"the transaction's range results are over the limit of %d keys: a transaction's reads are answered in one message; read large ranges with get (which pages) or give the range a limit", maxKeys), nil
		case maxBytes > 0 && (rr.Cut || size > maxBytes):
			return nil, wire.Errorf(wire.CodeTooLarge,
				"the transaction's range results are over the limit of %d bytes: a transaction's reads are answered in one message; read large ranges with get (which pages) or give the range a limit", maxBytes), nil
		}
		if !wrote {
			out[i] = &wire.RangeResponse{Kvs: rr.KVs, More: rr.More, Count: rr.Count}
		}
	}
	return out, nil, nil
}

// compare evaluates one condition at the current revision.
func (a *applier) compare(c *wire.Compare) (bool, error) {
	if c.Target == wire.CompareLockToken {
		return a.compareLockToken(c)
	}
	rr, err := a.w.Reader().Range(c.Key, c.RangeEnd, a.m.current, mvcc.RangeOptions{})
	if err != nil {
		return false, err
	}
	if len(rr.KVs) == 0 {
		return compareKV(c, &wire.KeyValue{}), nil
	}
	for _, kv := range rr.KVs {
		if !compareKV(c, kv) {
			return false, nil
		}
	}
	return true, nil
}

// compareKV checks c against kv (a missing key is the zero KeyValue).
func compareKV(c *wire.Compare, kv *wire.KeyValue) bool {
	var r int
	switch c.Target {
	case wire.CompareValue:
		r = bytes.Compare(kv.Value, c.Value)
	case wire.CompareVersion:
		r = cmpInt(kv.Version, c.Version)
	case wire.CompareCreate:
		r = cmpInt(kv.CreateRevision, c.CreateRevision)
	case wire.CompareMod:
		r = cmpInt(kv.ModRevision, c.ModRevision)
	case wire.CompareLease:
		r = cmpInt(kv.Lease, c.Lease)
	}
	return relation(r, c.Result)
}

// relation reports whether r, the comparison of a key's field with a
// Compare's (-1, 0, +1), satisfies result.
func relation(r int, result wire.CompareResult) bool {
	switch result {
	case wire.CompareEqual:
		return r == 0
	case wire.CompareNotEqual:
		return r != 0
	case wire.CompareGreater:
		return r > 0
	default: // wire.CompareLess
		return r < 0
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (a *applier) compact(req *wire.CompactRequest) (Result, error) {
	rev := mvcc.Revision(req.Revision)
	if rev > a.m.current {
		return errResult(wire.Errorf(wire.CodeFutureRevision,
			"required revision is a future revision: cannot compact shard %d at revision %d, it is at revision %d", a.sh.id, rev, a.m.current))
	}
	if rev <= a.m.compacted {
		werr := wire.Errorf(wire.CodeCompacted,
			"required revision has been compacted: cannot compact shard %d at revision %d, it is compacted at revision %d", a.sh.id, rev, a.m.compacted)
		werr.CompactRevision = int64(a.m.compacted)
		return errResult(werr)
	}
	// Compaction reads the whole committed keyspace: commit what this
	// batch wrote so far first.
	if err := a.flush(true); err != nil {
		return Result{}, err
	}
	// The deletions go out in batches of at most MaxBatchBytes (see
	// Writer.Compact). Those committed before the command ends carry the
	// compacting marker, so that a reader seeing any of them refuses reads
	// below rev; the meta (still the previous entry's: after a crash this
	// command is applied again, and finds the same deletions to make) and
	// the marker's removal come with the last part, in the batch's
	// ordinary commit.
	marked := false
	commit := func(b *pebble.Batch) error {
		if !marked {
			if err := b.Set(a.sh.space.CompactingKey(), binary.BigEndian.AppendUint64(nil, uint64(rev)), nil); err != nil {
				return err
			}
			marked = true
		}
		if testCommitHook != nil {
			testCommitHook(b)
		}
		if err := a.db.Apply(b, pebble.NoSync); err != nil {
			return fmt.Errorf("statemachine: commit compaction: %w", err)
		}
		return nil
	}
	if _, err := a.w.Compact(rev, a.sh.store.cfg.MaxBatchBytes, commit); err != nil {
		return Result{}, err
	}
	// Always: a marker left by a crash in this command's first run must go.
	if err := a.w.Batch().Delete(a.sh.space.CompactingKey(), nil); err != nil {
		return Result{}, err
	}
	a.m.compacted = rev
	return okResult(&wire.CompactResponse{Header: a.header()})
}

func okResult(resp any) (Result, error) {
	b, err := msgpack.Marshal(resp)
	if err != nil {
		return Result{}, fmt.Errorf("statemachine: encode response: %w", err)
	}
	return Result{Code: wire.OK, Data: b}, nil
}

func errResult(werr *wire.Error) (Result, error) {
	b, err := msgpack.Marshal(werr)
	if err != nil {
		return Result{}, fmt.Errorf("statemachine: encode error: %w", err)
	}
	return Result{Code: werr.Code, Data: b}, nil
}
