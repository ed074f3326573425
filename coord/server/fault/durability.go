package fault

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/coord-io/coord/coord"
)

// WriteWorkload has each client put fresh keys Prefix/CLIENT/N and
// remembers which puts were acknowledged.
type WriteWorkload struct {
	Clients   []*coord.Client
	Prefix    string
	OpTimeout time.Duration
}

// Acked maps each acknowledged key to its value.
type Acked map[string]string

// Run writes until ctx ends and returns the acknowledged writes and the
// number of attempts.
func (w *WriteWorkload) Run(ctx context.Context) (Acked, int) {
	var mu sync.Mutex
	acked := Acked{}
	attempts := 0
	var wg sync.WaitGroup
	for i, c := range w.Clients {
		wg.Add(1)
		go func(id int, c *coord.Client) {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				key := fmt.Sprintf("%s/%d/%06d", w.Prefix, id, n)
				val := fmt.Sprintf("v%d-%d", id, n)
				octx, cancel := context.WithTimeout(ctx, w.OpTimeout)
				_, err := c.Put(octx, key, val)
				cancel()
				mu.Lock()
				attempts++
				if err == nil {
					acked[key] = val
				}
				mu.Unlock()
				if err != nil {
					pause(ctx, 20*time.Millisecond)
				}
			}
		}(i, c)
	}
	wg.Wait()
	return acked, attempts
}

// Missing reads every key under w.Prefix (linearizably, retrying until
// timeout) and returns the acknowledged writes that are not there with
// their value.
func (w *WriteWorkload) Missing(c *coord.Client, acked Acked, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	got := map[string]string{}
	for id := range w.Clients {
		r, err := c.Get(ctx, fmt.Sprintf("%s/%d/", w.Prefix, id), coord.WithPrefix())
		if err != nil {
			return nil, fmt.Errorf("reading back %s/%d/: %w", w.Prefix, id, err)
		}
		for _, kv := range r.Kvs {
			got[string(kv.Key)] = string(kv.Value)
		}
	}
	var missing []string
	for k, v := range acked {
		if got[k] != v {
			missing = append(missing, fmt.Sprintf("%s=%q (read %q)", k, v, got[k]))
		}
	}
	return missing, nil
}
