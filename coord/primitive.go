package coord

import (
	"context"
	"errors"
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
// IsStreamBroken is true when it broke and may be opened again (a
// reconnecting stream is Client.resume's).
func (c *Client) Stream(ctx context.Context, method string, req any, onMsg func(body []byte) (bool, error)) error {
	_, err := c.openStream(ctx, method, req, func(_ string, body []byte) (bool, error) { return onMsg(body) })
	return err
}

// ResumeStream runs a streaming call that is opened again, on whichever
// member answers, whenever it breaks (the client's one reconnecting
// stream, which Watch runs too): request gives the request of each open,
// which says where to resume from; onMsg gets each message body and
// returns false to stop. With reopenOnEnd a stream its member ended
// without an error is opened again as well. It returns nil when onMsg
// stopped the stream or the member ended it, onMsg's error, an error
// wrapping a sentinel when the member failed it, ErrClosed or
// ErrClusterMismatch when the client cannot go on, and an error wrapping
// ErrCanceled or ErrTimeout when ctx ended.
func (c *Client) ResumeStream(ctx context.Context, method string, request func() any, reopenOnEnd bool, onMsg func(body []byte) (bool, error)) error {
	return c.resume(ctx, resumable{method: method, request: request, reopenOnEnd: reopenOnEnd,
		onMsg: func(_ string, body []byte) (bool, error) { return onMsg(body) }})
}
