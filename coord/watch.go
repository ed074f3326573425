package coord

import (
	"context"
	"fmt"

	"github.com/coord-io/coord/coord/wire"
)

// WatchChan delivers the responses of one watch.
type WatchChan <-chan WatchResponse

// WatchResponse is one batch of events, in revision order within each
// shard; a revision's events are never split over two responses. The
// first response of a watch has Created set and no events.
type WatchResponse struct {
	Header          ResponseHeader
	Events          []*Event
	CompactRevision int64
	Canceled        bool
	Created         bool
	err             error
}

// Err is why the watch ended (nil unless Canceled). A watch that asked for
// compacted history ends with an error wrapping ErrCompacted whose
// revision CompactRevision also reports.
func (wr *WatchResponse) Err() error { return wr.err }

// WithFilterPut drops put events from a watch.
func WithFilterPut() OpOption { return func(o *Op) { o.filterPut = true } }

// WithFilterDelete drops delete events from a watch.
func WithFilterDelete() OpOption { return func(o *Op) { o.filterDelete = true } }

// Watch streams the changes to a key, or to a range with WithPrefix,
// WithFromKey or WithRange, from the next revision or, with WithRev, from
// an older one (history first, then live, with no gap and no duplicate).
// The channel closes when ctx ends or after a response with Canceled set.
// A broken connection is invisible to the caller: the watch resumes on
// another endpoint after the last revision it delivered, unless that
// endpoint now belongs to another cluster (one replaced on the same
// addresses): the watch then ends with ErrClusterMismatch instead of
// resuming on the other cluster's unrelated revisions.
func (c *Client) Watch(ctx context.Context, key string, opts ...OpOption) WatchChan {
	o := newOp(opGet, key, "", opts)
	req := &wire.WatchRequest{
		Key: []byte(o.key), RangeEnd: o.endBytes(), StartRevision: o.rev,
		PrevKV: o.prevKV, NoPut: o.filterPut, NoDelete: o.filterDelete,
	}
	out := make(chan WatchResponse, 16)
	go c.watchLoop(ctx, req, out)
	return out
}

// watchLoop runs a watch on the client's reconnecting stream (resume):
// each open asks for the revisions after the last it delivered, per
// shard, and what the member sends is delivered once, whole revisions at
// a time.
func (c *Client) watchLoop(ctx context.Context, req *wire.WatchRequest, out chan<- WatchResponse) {
	defer close(out)
	next := map[uint32]int64{} // shard → next revision to deliver
	created := false
	var held []*Event // the first messages of a revision split over several (WatchResponse.Fragment)
	deliver := func(wr WatchResponse) bool {
		select {
		case out <- wr:
			return true
		case <-ctx.Done():
			return false
		}
	}
	err := c.resume(ctx, resumable{
		method: wire.MethodWatch,
		request: func() any {
			r := *req
			if len(next) > 0 {
				r.StartRevisions = next
			}
			// Events of a revision not received whole come again on the
			// new stream (next was not moved past them).
			held = nil
			return &r
		},
		onMsg: func(addr string, body []byte) (bool, error) {
			var wr wire.WatchResponse
			if err := wire.Unmarshal(body, &wr); err != nil {
				return false, fmt.Errorf("%w: bad watch response: %v", ErrUnknown, err)
			}
			if err := c.sameCluster(addr, wr.Header.ClusterID); err != nil {
				return false, err // never resume against another cluster's revisions
			}
			if wr.Created {
				// The revisions the watch starts after, per shard.
				if wr.Header.Shard == wire.AllShards {
					for sh, rev := range wr.Header.Revisions {
						if _, seen := next[sh]; !seen {
							next[sh] = rev + 1
						}
					}
				} else if _, seen := next[wr.Header.Shard]; !seen {
					next[wr.Header.Shard] = wr.Header.Revision + 1
				}
				if created {
					return true, nil // a resumed stream: the caller saw Created already
				}
				created = true
			}
			resp := WatchResponse{Header: wr.Header, Created: wr.Created, CompactRevision: wr.CompactRevision, Canceled: wr.Canceled}
			resp.Events, held = held, nil
			for i := range wr.Events {
				ev := &wr.Events[i]
				if ev.Kv != nil && ev.Kv.ModRevision < next[ev.Shard] {
					continue // already delivered before a resume
				}
				resp.Events = append(resp.Events, ev)
			}
			if wr.Fragment && !wr.Canceled {
				// A revision split over messages is delivered whole:
				// hold its events (and next) until its last message.
				held = resp.Events
				return true, nil
			}
			for _, ev := range resp.Events {
				if ev.Kv != nil && ev.Kv.ModRevision+1 > next[ev.Shard] {
					next[ev.Shard] = ev.Kv.ModRevision + 1
				}
			}
			if wr.Canceled {
				code := wire.CodeCanceled
				if wr.CompactRevision > 0 {
					code = wire.CodeCompacted
				}
				resp.err = fromWire(&wire.Error{Code: code, Message: wr.Reason, CompactRevision: wr.CompactRevision})
				deliver(resp)
				return false, nil
			}
			if len(resp.Events) == 0 && !resp.Created {
				return true, nil
			}
			return deliver(resp), nil
		},
	})
	if err != nil && ctx.Err() == nil {
		deliver(WatchResponse{Canceled: true, err: err, CompactRevision: CompactRevision(err)})
	}
}
