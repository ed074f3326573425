package statemachine

import "github.com/coord-io/coord/coord/wire"

// legacyCommand is the log format before version 1, frozen: the envelope
// with one field per operation, exactly one of them set. Logs and
// snapshots' exactly-once records written by earlier builds hold it;
// DecodeCommand still reads it, and a command decoded from it applies
// exactly as it did (same results, byte for byte, also for the malformed
// ones: see execute). Never change it; the current format is versioned
// (commandVersion).
type legacyCommand struct {
	ClientID uint64 `msgpack:"cid,omitempty"`
	Seq      uint64 `msgpack:"seq,omitempty"`
	AckBelow uint64 `msgpack:"ack,omitempty"`
	Time     int64  `msgpack:"t,omitempty"`
	Sent     int64  `msgpack:"snt,omitempty"`

	Put         *wire.PutRequest         `msgpack:"put,omitempty"`
	DeleteRange *wire.DeleteRangeRequest `msgpack:"del,omitempty"`
	Txn         *wire.TxnRequest         `msgpack:"txn,omitempty"`
	Compact     *wire.CompactRequest     `msgpack:"cmp,omitempty"`
	LeaseGrant  *LeaseGrant              `msgpack:"lg,omitempty"`
	LeaseRevoke *LeaseRevoke             `msgpack:"lr,omitempty"`
	LeaseRenew  *LeaseRenew              `msgpack:"lk,omitempty"`

	Lock     *wire.LockRequest     `msgpack:"lo,omitempty"`
	Unlock   *wire.UnlockRequest   `msgpack:"ul,omitempty"`
	Campaign *wire.CampaignRequest `msgpack:"ca,omitempty"`
	Proclaim *wire.ProclaimRequest `msgpack:"pc,omitempty"`
	Resign   *wire.ResignRequest   `msgpack:"rs,omitempty"`

	Enqueue *wire.EnqueueRequest `msgpack:"eq,omitempty"`
	Dequeue *wire.DequeueRequest `msgpack:"dq,omitempty"`
	Ack     *wire.AckRequest     `msgpack:"ak,omitempty"`
	Barrier *wire.BarrierRequest `msgpack:"br,omitempty"`

	ClusterIdentity *ClusterIdentity `msgpack:"cl,omitempty"`
}

// The legacy format's primitive operations, by the names their rules
// packages register (a test checks they match).
const (
	legacyOpLock     = "lock.lock"
	legacyOpUnlock   = "lock.unlock"
	legacyOpCampaign = "elect.campaign"
	legacyOpProclaim = "elect.proclaim"
	legacyOpResign   = "elect.resign"
	legacyOpEnqueue  = "queue.enqueue"
	legacyOpDequeue  = "queue.dequeue"
	legacyOpAck      = "queue.ack"
	legacyOpBarrier  = "barrier"
)

// decodeLegacy decodes a command of the legacy format. One that carries
// no operation or several keeps their number (legacyOps) and no Op, so
// that applying it fails as it always did.
func decodeLegacy(b []byte) (*Command, error) {
	var l legacyCommand
	if err := wire.Unmarshal(b, &l); err != nil {
		return nil, err
	}
	c := &Command{ClientID: l.ClientID, Seq: l.Seq, AckBelow: l.AckBelow, Time: l.Time, Sent: l.Sent}
	n := 0
	set := func(op string, req any, isSet bool) {
		if isSet {
			n++
			c.Op, c.req = op, req
		}
	}
	set(OpPut, l.Put, l.Put != nil)
	set(OpDelete, l.DeleteRange, l.DeleteRange != nil)
	set(OpTxn, l.Txn, l.Txn != nil)
	set(OpCompact, l.Compact, l.Compact != nil)
	set(OpLeaseGrant, l.LeaseGrant, l.LeaseGrant != nil)
	set(OpLeaseRevoke, l.LeaseRevoke, l.LeaseRevoke != nil)
	set(OpLeaseRenew, l.LeaseRenew, l.LeaseRenew != nil)
	set(legacyOpLock, l.Lock, l.Lock != nil)
	set(legacyOpUnlock, l.Unlock, l.Unlock != nil)
	set(legacyOpCampaign, l.Campaign, l.Campaign != nil)
	set(legacyOpProclaim, l.Proclaim, l.Proclaim != nil)
	set(legacyOpResign, l.Resign, l.Resign != nil)
	set(legacyOpEnqueue, l.Enqueue, l.Enqueue != nil)
	set(legacyOpDequeue, l.Dequeue, l.Dequeue != nil)
	set(legacyOpAck, l.Ack, l.Ack != nil)
	set(legacyOpBarrier, l.Barrier, l.Barrier != nil)
	set(OpClusterIdentity, l.ClusterIdentity, l.ClusterIdentity != nil)
	if n != 1 {
		c.Op, c.req, c.legacyOps = "", nil, n
	}
	return c, nil
}
