package coord

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/coord-io/coord/coord/wire"
)

// SnapshotInfo describes a backup Client.Snapshot received.
type SnapshotInfo struct {
	// Endpoint is the address of the member that sent it, Member its name.
	Endpoint, Member string
	// Size is the number of bytes written.
	Size int64
}

// Snapshot streams a backup of every shard (one file: see `coord snapshot
// save`) from one member to w. The member is the one at endpoint, or with
// endpoint "" the first of the client's endpoints that answers. The
// backup comes on a connection of its own, read as fast as w takes it (a
// slow w slows the member down, it never loses the stream). A stream that
// breaks is not resumed: the call fails, and what w received is no
// backup. With auth on, only root may take one.
func (c *Client) Snapshot(ctx context.Context, endpoint string, w io.Writer) (*SnapshotInfo, error) {
	eps := c.cfg.Endpoints
	if endpoint != "" {
		eps = []string{endpoint}
	}
	var lastErr error
	for _, ep := range eps {
		info, err := c.snapshotFrom(ctx, ep, w)
		if err == nil {
			return info, nil
		}
		if info != nil && info.Size > 0 || !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			return nil, err // bytes went to w already, or no other member would do better
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%w: no endpoint", ErrUnavailable)
	}
	return nil, lastErr
}

// snapshotFrom streams a backup from the member at addr; info, when not
// nil, tells how much reached w.
func (c *Client) snapshotFrom(ctx context.Context, addr string, w io.Writer) (*SnapshotInfo, error) {
	nc, fr, hr, err := handshake(ctx, addr, &c.cfg, c.id)
	if err != nil {
		var refused *Error
		if errors.As(err, &refused) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, addr, err)
	}
	defer nc.Close()
	if hr.ClusterID == 0 {
		return nil, fmt.Errorf("%w: member %s has not learned its cluster's identity yet", ErrUnavailable, hr.Member)
	}
	if err := c.sameCluster(addr, hr.ClusterID); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	f := &wire.Frame{Type: wire.FrameRequest, ID: 1, Method: wire.MethodSnapshot}
	f.Body, _ = wire.Marshal(&wire.SnapshotRequest{})
	b, err := wire.AppendFrame(nil, f)
	if err != nil {
		return nil, err
	}
	info := &SnapshotInfo{Endpoint: addr, Member: hr.Member}
	broken := func(err error) (*SnapshotInfo, error) {
		if ctx.Err() != nil {
			return info, ctxError(ctx.Err())
		}
		return info, fmt.Errorf("%w: backup stream from %s broke after %d bytes: %v", ErrUnavailable, addr, info.Size, err)
	}
	if _, err := nc.Write(b); err != nil {
		return broken(err)
	}
	for {
		var r wire.Frame
		if err := fr.Read(&r); err != nil {
			return broken(err)
		}
		if r.ID != 1 || r.Type != wire.FrameResponse {
			continue
		}
		if r.Err != nil {
			return info, fromWire(r.Err)
		}
		var msg wire.SnapshotResponse
		if err := wire.Unmarshal(r.Body, &msg); err != nil {
			return info, fmt.Errorf("%w: bad backup message: %v", ErrUnknown, err)
		}
		if len(msg.Blob) > 0 {
			n, err := w.Write(msg.Blob)
			info.Size += int64(n)
			if err != nil {
				return info, err
			}
		}
		if !r.More {
			if msg.Size != info.Size {
				return info, fmt.Errorf("%w: backup stream from %s ended at %d bytes, the member sent %d", ErrUnavailable, addr, info.Size, msg.Size)
			}
			return info, nil
		}
	}
}
