package fault

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/coord-io/coord/coord"
)

// KVInput is one key-value operation of a history: a linearizable get, a
// put, or a compare-and-set (a txn that puts Value if the key's value is
// Expect).
type KVInput struct {
	Op     string `json:"op"` // "get", "put" or "cas"
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Expect string `json:"expect,omitempty"`
}

// KVOutput is what the cluster answered. Unknown marks a write whose
// outcome is unknown (it timed out or failed in flight): it may or may not
// have taken effect, at any time after its call.
type KVOutput struct {
	Value   string `json:"value,omitempty"` // get: the value read ("" when missing)
	OK      bool   `json:"ok,omitempty"`    // cas: the compare held
	Unknown bool   `json:"unknown,omitempty"`
}

// KVOp is one recorded operation: times are nanoseconds since the start
// of the history; an unknown write returns at Infinity.
type KVOp struct {
	Client int      `json:"client"`
	Input  KVInput  `json:"input"`
	Output KVOutput `json:"output"`
	Call   int64    `json:"call"`
	Return int64    `json:"return"`
}

// Infinity is the return time of an operation whose outcome is unknown:
// porcupine may linearize it anywhere after its call.
const Infinity = math.MaxInt64

// KVModel is a register per key, partitioned by key, for porcupine.
// Every key starts at InitialValue.
var KVModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(KVInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() interface{} { return InitialValue },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st, in, out := state.(string), input.(KVInput), output.(KVOutput)
		switch in.Op {
		case "get":
			return out.Value == st, st
		case "put":
			return true, in.Value
		case "cas":
			if out.Unknown {
				if st == in.Expect {
					return true, in.Value
				}
				return true, st
			}
			if out.OK {
				return st == in.Expect, in.Value
			}
			return st != in.Expect, st
		}
		return false, st
	},
	Equal: func(a, b interface{}) bool { return a.(string) == b.(string) },
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(KVInput), output.(KVOutput)
		suffix := ""
		if out.Unknown {
			suffix = " (unknown)"
		}
		switch in.Op {
		case "get":
			return fmt.Sprintf("get(%s) → %q", in.Key, out.Value)
		case "put":
			return fmt.Sprintf("put(%s, %q)%s", in.Key, in.Value, suffix)
		default:
			return fmt.Sprintf("cas(%s, %q→%q) → %v%s", in.Key, in.Expect, in.Value, out.OK, suffix)
		}
	},
	DescribeState: func(state interface{}) string { return fmt.Sprintf("%q", state) },
}

// InitialValue is the value every key of a KV workload is set to first.
const InitialValue = "init"

// KVCheckTimeout bounds porcupine's search for one history.
var KVCheckTimeout = 60 * time.Second

// CheckKV checks ops for linearizability. It returns porcupine's verdict
// (Ok, Illegal, or Unknown when the search timed out) and the
// linearization info for a visualization.
func CheckKV(ops []KVOp) (porcupine.CheckResult, porcupine.LinearizationInfo) {
	hist := make([]porcupine.Operation, len(ops))
	for i, o := range ops {
		hist[i] = porcupine.Operation{ClientId: o.Client, Input: o.Input, Output: o.Output, Call: o.Call, Return: o.Return}
	}
	return porcupine.CheckOperationsVerbose(KVModel, hist, KVCheckTimeout)
}

// KVWorkload drives concurrent clients over a small key set.
type KVWorkload struct {
	Clients []*coord.Client
	Keys    []string
	// Think is the mean pause of a client between operations.
	Think time.Duration
	// OpTimeout bounds one operation; a write that times out is unknown.
	OpTimeout time.Duration
	// OnError, if set, is told of every operation that failed (from any
	// client's goroutine).
	OnError func(in KVInput, err error)
}

// Setup puts InitialValue into every key.
func (w *KVWorkload) Setup(ctx context.Context) error {
	for _, k := range w.Keys {
		if _, err := w.Clients[0].Put(ctx, k, InitialValue); err != nil {
			return fmt.Errorf("setup put %s: %w", k, err)
		}
	}
	return nil
}

// Run runs every client until ctx ends and returns the history, times
// relative to start. Failed reads are left out (they have no effect);
// failed writes are kept as unknown.
func (w *KVWorkload) Run(ctx context.Context, start time.Time, seed int64) []KVOp {
	do := make([]kvDo, len(w.Clients))
	for i, c := range w.Clients {
		do[i] = func(ctx context.Context, in KVInput) (KVOutput, error) { return coordKVDo(ctx, c, in) }
	}
	return runKV(ctx, kvRun{do: do, keys: w.Keys, think: w.Think, opTimeout: w.OpTimeout, onError: w.OnError}, start, seed)
}

// coordKVDo runs one operation with a Coord client.
func coordKVDo(ctx context.Context, c *coord.Client, in KVInput) (KVOutput, error) {
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
		r, err := c.Txn(ctx).If(coord.Compare(coord.Value(in.Key), "=", in.Expect)).Then(coord.OpPut(in.Key, in.Value)).Commit()
		if err == nil {
			out.OK = r.Succeeded
		}
		return out, err
	}
}

// kvDo runs one operation with one client: what it answered, or why not.
type kvDo func(ctx context.Context, in KVInput) (KVOutput, error)

// kvRun is what runKV runs: one client per do.
type kvRun struct {
	do        []kvDo
	keys      []string
	think     time.Duration
	opTimeout time.Duration
	onError   func(in KVInput, err error)
}

// runKV runs a goroutine per client until ctx ends, each choosing
// get (40%), put or CAS (30% each; a put until it knows a value of the
// key), and returns the history, times relative to start. Failed reads
// are left out (they have no effect); failed writes are kept as unknown.
func runKV(ctx context.Context, r kvRun, start time.Time, seed int64) []KVOp {
	var mu sync.Mutex
	var hist []KVOp
	var wg sync.WaitGroup
	for i, do := range r.do {
		wg.Add(1)
		go func(id int, do kvDo) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed + int64(id)*7919))
			last := map[string]string{} // the value this client last saw per key
			for n := 0; ctx.Err() == nil; n++ {
				if r.think > 0 {
					pause(ctx, time.Duration(rng.Int63n(int64(2*r.think))))
				}
				if ctx.Err() != nil {
					return
				}
				key := r.keys[rng.Intn(len(r.keys))]
				val := fmt.Sprintf("c%d-%d", id, n)
				var in KVInput
				switch x := rng.Intn(10); {
				case x < 4:
					in = KVInput{Op: "get", Key: key}
				case x < 7 || last[key] == "":
					in = KVInput{Op: "put", Key: key, Value: val}
				default:
					in = KVInput{Op: "cas", Key: key, Value: val, Expect: last[key]}
				}
				op, ok := r.one(do, id, in, start)
				if !ok {
					continue
				}
				if in.Op == "get" {
					last[key] = op.Output.Value
				} else if !op.Output.Unknown && (in.Op == "put" || op.Output.OK) {
					last[key] = in.Value
				}
				mu.Lock()
				hist = append(hist, op)
				mu.Unlock()
			}
		}(i, do)
	}
	wg.Wait()
	return hist
}

// one runs one operation; ok is false when it must be left out of the
// history (a read that failed).
func (r kvRun) one(do kvDo, id int, in KVInput, start time.Time) (KVOp, bool) {
	octx, cancel := context.WithTimeout(context.Background(), r.opTimeout)
	defer cancel()
	op := KVOp{Client: id, Input: in, Call: int64(time.Since(start))}
	var err error
	op.Output, err = do(octx, in)
	op.Return = int64(time.Since(start))
	if err != nil && r.onError != nil {
		r.onError(in, err)
	}
	if err != nil {
		if in.Op == "get" {
			return op, false
		}
		op.Output = KVOutput{Unknown: true}
		op.Return = Infinity
	}
	return op, true
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
