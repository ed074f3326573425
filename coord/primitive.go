package coord

import (
	"context"
	"errors"
	"fmt"

	"github.com/coord-io/coord/coord/wire"
)

// Call runs one unary method of the wire protocol. It is how the primitive
// packages (locks, election, queue, barrier) talk to the cluster; an
// application uses their handles instead. A write (wire.Method.IsWrite)
// carries the client's exactly-once tag, so it may be retried safely.
func (c *Client) Call(ctx context.Context, method string, req, resp any) error {
	return c.call(ctx, method, req, resp)
}

// errStreamBroken means a stream ended without its final message (the
// connection broke, the member stopped, or the reader fell behind); the
// caller may open it again.
var errStreamBroken = errors.New("coord: stream broken")

// IsStreamBroken reports whether a Stream error means the stream may be
// opened again.
func IsStreamBroken(err error) bool { return errors.Is(err, errStreamBroken) }

// Stream opens one streaming call and hands each message body to onMsg
// until the stream ends, onMsg returns false, or ctx ends. It returns nil
// when the server ended the stream or onMsg stopped it, an error wrapping
// a sentinel when the server failed it, and an error for which
// IsStreamBroken is true when it broke and may be opened again.
func (c *Client) Stream(ctx context.Context, method string, req any, onMsg func(body []byte) (bool, error)) error {
	cn, err := c.getConn(ctx)
	if err != nil {
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return ctxError(err)
		}
		return fmt.Errorf("%w: %v", errStreamBroken, err)
	}
	body, err := wire.Marshal(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	id, ch, err := cn.start(ctx, &wire.Frame{Method: method, Body: body}, 256)
	if err != nil {
		if errors.Is(err, errConnBroken) {
			c.dropConn(cn)
			return errStreamBroken
		}
		return ctxError(err)
	}
	for {
		select {
		case <-ctx.Done():
			cn.cancel(id)
			return ctxError(ctx.Err())
		case <-cn.done:
			c.dropConn(cn)
			return errStreamBroken
		case f, ok := <-ch:
			if !ok {
				return errStreamBroken
			}
			if f.Err != nil {
				if f.Err.Code == wire.CodeUnavailable {
					c.dropConn(cn)
					return fmt.Errorf("%w: %v", errStreamBroken, fromWire(f.Err))
				}
				return fromWire(f.Err)
			}
			if len(f.Body) > 0 {
				more, err := onMsg(f.Body)
				if err != nil || !more {
					if f.More {
						cn.cancel(id)
					}
					return err
				}
			}
			if !f.More {
				return nil
			}
		}
	}
}
