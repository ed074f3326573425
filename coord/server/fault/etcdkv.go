package fault

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EtcdKVWorkload is KVWorkload through the members' etcd doors: its
// clients are etcd's clientv3, each given every member's --listen-etcd
// address; a get is clientv3's Get (linearizable), a put its Put, a CAS
// a Txn comparing the key's value. Its history is a []KVOp that CheckKV
// judges with the same register model.
//
// etcd clients have no exactly-once tag: clientv3 retries a write only
// when it was not sent (its retry policy), so a write applies at most
// once within its call, or its outcome is unknown.
type EtcdKVWorkload struct {
	Clients   []*clientv3.Client
	Keys      []string
	Think     time.Duration
	OpTimeout time.Duration
	OnError   func(in KVInput, err error)
}

// Setup puts InitialValue into every key.
func (w *EtcdKVWorkload) Setup(ctx context.Context) error {
	for _, k := range w.Keys {
		if _, err := w.Clients[0].Put(ctx, k, InitialValue); err != nil {
			return fmt.Errorf("setup put %s: %w", k, err)
		}
	}
	return nil
}

// Run runs every client until ctx ends and returns the history, as
// KVWorkload.Run.
func (w *EtcdKVWorkload) Run(ctx context.Context, start time.Time, seed int64) []KVOp {
	do := make([]kvDo, len(w.Clients))
	for i, c := range w.Clients {
		do[i] = func(ctx context.Context, in KVInput) (KVOutput, error) { return etcdKVDo(ctx, c, in) }
	}
	return runKV(ctx, kvRun{do: do, keys: w.Keys, think: w.Think, opTimeout: w.OpTimeout, onError: w.OnError}, start, seed)
}

// etcdKVDo runs one operation with a clientv3 client.
func etcdKVDo(ctx context.Context, c *clientv3.Client, in KVInput) (KVOutput, error) {
	var out KVOutput
	switch in.Op {
	case "get":
		r, err := c.Get(ctx, in.Key)
		if err == nil && len(r.Kvs) > 0 {
			out.Value = string(r.Kvs[0].Value)
		}
		return out, err
	case "put":
		_, err := c.Put(ctx, in.Key, in.Value)
		return out, err
	default: // cas
		r, err := c.Txn(ctx).If(clientv3.Compare(clientv3.Value(in.Key), "=", in.Expect)).Then(clientv3.OpPut(in.Key, in.Value)).Commit()
		if err == nil {
			out.OK = r.Succeeded
		}
		return out, err
	}
}
