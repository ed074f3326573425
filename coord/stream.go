package coord

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coord-io/coord/coord/wire"
)

// resumable is a streaming call that Client.resume opens again, on
// whichever member answers, when it breaks: a watch, an observation.
type resumable struct {
	method string
	// request returns the request of the next open, which says where
	// the stream resumes from (the last revision it delivered).
	request func() any
	// onMsg gets each message body and the address of the member that
	// sent it; false stops the stream (the member is told), an error ends
	// it with that error.
	onMsg func(addr string, body []byte) (more bool, err error)
	// reopenOnEnd opens the stream again when its member ended it
	// without an error too (an observation has no end of its own).
	reopenOnEnd bool
}

// streamBackoff is the first pause before a broken stream is opened
// again; it doubles up to a second, and a message received resets it.
const streamBackoff = 20 * time.Millisecond

// resume runs rs until it ends: it returns nil when onMsg stopped it or
// its member ended it (unless rs.reopenOnEnd); onMsg's error; the
// member's failure of it (an error wrapping a sentinel); ErrClosed or
// ErrClusterMismatch when the client cannot go on; an error wrapping
// ErrCanceled or ErrTimeout when ctx ended. A stream that breaks — the
// connection lost, the member stopping, the reader fallen behind — is
// opened again after a backoff (at once when the connection it was to be
// opened on was found broken).
func (c *Client) resume(ctx context.Context, rs resumable) error {
	backoff := streamBackoff
	onMsg := func(addr string, body []byte) (bool, error) {
		backoff = streamBackoff
		return rs.onMsg(addr, body)
	}
	for {
		stopped, err := c.openStream(ctx, rs.method, rs.request(), onMsg)
		switch {
		case ctx.Err() != nil:
			return ctxError(ctx.Err())
		case err == nil && (stopped || !rs.reopenOnEnd):
			return nil
		case err != nil && !IsStreamBroken(err):
			return err
		case errors.Is(err, errConnBroken):
			continue
		}
		if !sleepCtx(ctx, &backoff) {
			return ctxError(ctx.Err())
		}
	}
}

// openStream opens one streaming call on the client's connection and
// hands each message body to onMsg (with the member's address) until the
// stream ends, onMsg stops it (stopped), or ctx ends; see Stream for what
// it returns. A client that cannot connect because it is closed or the
// endpoints belong to another cluster gets that error, not a broken
// stream.
func (c *Client) openStream(ctx context.Context, method string, req any, onMsg func(addr string, body []byte) (bool, error)) (stopped bool, err error) {
	cn, err := c.getConn(ctx)
	if err != nil {
		if errors.Is(err, ErrClosed) || errors.Is(err, ErrClusterMismatch) || ctx.Err() != nil {
			return false, ctxError(err)
		}
		return false, fmt.Errorf("%w: %v", errStreamBroken, err)
	}
	body, err := wire.Marshal(req)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	id, ch, err := cn.start(ctx, &wire.Frame{Method: method, Body: body}, 256)
	if err != nil {
		if errors.Is(err, errConnBroken) {
			c.dropConn(cn)
			return false, fmt.Errorf("%w: %w", errStreamBroken, errConnBroken)
		}
		return false, ctxError(err)
	}
	for {
		select {
		case <-ctx.Done():
			cn.cancel(id)
			return false, ctxError(ctx.Err())
		case <-cn.done:
			c.dropConn(cn)
			return false, errStreamBroken
		case f, ok := <-ch:
			if !ok {
				return false, errStreamBroken
			}
			if f.Err != nil {
				if f.Err.Code == wire.CodeUnavailable || f.Err.Code == wire.CodeMemberRemoved {
					if f.Err.Code == wire.CodeMemberRemoved {
						c.forgetEndpoint(cn.addr)
					}
					c.dropConn(cn)
					return false, fmt.Errorf("%w: %v", errStreamBroken, fromWire(f.Err))
				}
				return false, fromWire(f.Err)
			}
			if len(f.Body) > 0 {
				more, err := onMsg(cn.addr, f.Body)
				if err != nil || !more {
					if f.More {
						cn.cancel(id)
					}
					return err == nil, err
				}
			}
			if !f.More {
				return false, nil
			}
		}
	}
}

// sleepCtx pauses for *backoff, doubling it up to a second; false when
// ctx ended first.
func sleepCtx(ctx context.Context, backoff *time.Duration) bool {
	t := time.NewTimer(*backoff)
	defer t.Stop()
	if *backoff < time.Second {
		*backoff *= 2
	}
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
