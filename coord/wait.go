package coord

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coord-io/coord/coord/wire"
)

// Waiting describes one blocking call of a primitive (a Lock, a Campaign,
// Enter or Leave of a double barrier) for Client.Wait: a write that queues
// the caller, then a wait (see wire.LockRequest).
type Waiting struct {
	// Method is the wire method.
	Method string
	// Write is the request that queues the caller, sent as an
	// exactly-once write.
	Write any
	// Resume returns the request that resumes the wait of the owner key
	// key (nil if the response carries none), sent as a read.
	Resume func(key []byte) any
	// Key returns the owner key in a response body.
	Key func(body []byte) ([]byte, error)
	// Withdraw, if set, returns the write (method and request) that takes
	// owner key out of the queue, or releases it if it was granted: sent,
	// in the background and once, when the caller gives up.
	Withdraw func(key []byte) (string, any)
}

// withdrawTimeout bounds the background withdrawal of a waiter whose
// caller gave up.
const withdrawTimeout = 30 * time.Second

// Wait runs a blocking call and decodes its final response into resp.
//
// The write is retried with its sequence number (exactly-once) until the
// server answers that it was applied: an intermediate response, right
// after the write, with the owner key. The sequence number is finished
// there, so a long wait does not hold back the client's acknowledgement
// watermark. From then on a wait cut off — a broken connection, a member
// that stops or has no quorum, the server's cap on call duration — is
// resumed with Resume(key), as a read, on whichever member answers: the
// caller keeps its place in the queue. A final answer to a retried write
// may be the replay of a result from before, so it is checked by resuming
// too (the resumed wait reads the present state): a grant that is no
// longer current is never reported.
//
// When ctx ends first, the server is told (a Cancel, so it withdraws the
// waiter), and the client itself sends Withdraw in the background as
// well, which covers a Cancel that could not be delivered (the connection
// was down) or a member that stopped before it could withdraw. The error
// then wraps ErrCanceled or ErrTimeout.
func (c *Client) Wait(ctx context.Context, w Waiting, resp any) error {
	writeBody, err := wire.Marshal(w.Write)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	seq := c.allocSeq()
	finished := false
	finish := func() {
		if !finished {
			finished = true
			c.finishSeq(seq)
		}
	}
	defer finish()

	var key []byte
	var firstSent time.Time // when the write was first sent (its age goes with retries)
	queued := false         // the write is applied: resume from now on
	var lastErr error
	giveUp := func(err error) error {
		if queued && w.Withdraw != nil {
			method, req := w.Withdraw(key)
			go c.withdrawLater(method, req)
		}
		if lastErr != nil && !errors.Is(err, ErrClosed) {
			return fmt.Errorf("%w (last error: %w)", ctxError(err), lastErr)
		}
		return ctxError(err)
	}
	backoff := 20 * time.Millisecond
	pause := false
	for attempt := 0; ; attempt++ {
		if pause {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return giveUp(ctx.Err())
			}
			if backoff < 500*time.Millisecond {
				backoff *= 2
			}
		}
		pause = true
		cn, err := c.getConn(ctx)
		if err != nil {
			var refused *Error
			if errors.Is(err, ErrClosed) || ctx.Err() != nil {
				return giveUp(err)
			}
			if errors.As(err, &refused) {
				return err
			}
			lastErr = err
			continue
		}
		f := &wire.Frame{Method: w.Method}
		wrote := !queued // this attempt sends the write (perhaps again)
		if wrote {
			f.Body, f.Seq, f.AckBelow = writeBody, seq, c.ackBelow()
			if firstSent.IsZero() {
				firstSent = time.Now()
			} else {
				// A retry: the cluster answers one older than its
				// exactly-once records with ErrOutcomeUnknown.
				f.AgeMillis = time.Since(firstSent).Milliseconds()
			}
		} else if f.Body, err = wire.Marshal(w.Resume(key)); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		id, ch, err := cn.start(ctx, f, 4)
		if err != nil {
			if errors.Is(err, errConnBroken) {
				c.dropConn(cn)
				lastErr = fmt.Errorf("connection to %s lost", cn.addr)
				continue
			}
			if ctx.Err() != nil {
				return giveUp(err)
			}
			return ctxError(err)
		}
	frames:
		for {
			select {
			case <-ctx.Done():
				cn.cancel(id)
				return giveUp(ctx.Err())
			case <-cn.done:
				c.dropConn(cn)
				lastErr = fmt.Errorf("connection to %s lost", cn.addr)
				break frames
			case r, ok := <-ch:
				if !ok { // dropped by the connection's reader
					lastErr = fmt.Errorf("the wait on %s was cut off", cn.addr)
					break frames
				}
				if r.Err != nil {
					switch {
					case r.Err.Code == wire.CodeUnavailable || r.Err.Code == wire.CodeMemberRemoved:
						// The member stops, has no quorum or was removed:
						// go on elsewhere.
						if r.Err.Code == wire.CodeMemberRemoved {
							c.forgetEndpoint(cn.addr)
						}
						c.dropConn(cn)
						lastErr = fromWire(r.Err)
						break frames
					case r.Err.Code == wire.CodeTimeout && ctx.Err() == nil:
						// The server's cap on one call, or a write that
						// timed out inside the cluster: resume, or retry.
						lastErr = fromWire(r.Err)
						pause = false
						break frames
					}
					if ctx.Err() != nil {
						return giveUp(ctx.Err())
					}
					return fromWire(r.Err)
				}
				if r.More || (wrote && attempt > 0) {
					// The write is applied: finish its sequence number and
					// wait (or, for a final answer to a retried write,
					// check it) as a resumable read.
					if key, err = w.Key(r.Body); err != nil {
						return fmt.Errorf("%w: bad response to %s: %v", ErrUnknown, w.Method, err)
					}
					queued = true
					finish()
					if r.More {
						continue
					}
					pause = false
					break frames
				}
				if resp != nil {
					if err := wire.Unmarshal(r.Body, resp); err != nil {
						return fmt.Errorf("%w: bad response to %s: %v", ErrUnknown, w.Method, err)
					}
				}
				return nil
			}
		}
	}
}

// withdrawLater sends a withdrawal write, retrying for up to
// withdrawTimeout; its outcome only matters to the waiters behind.
func (c *Client) withdrawLater(method string, req any) {
	ctx, cancel := context.WithTimeout(context.Background(), withdrawTimeout)
	defer cancel()
	_ = c.call(ctx, method, req, nil)
}
