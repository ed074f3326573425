package coord

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// TestEventTypeString: event types print as etcd's do.
func TestEventTypeString(t *testing.T) {
	require.Equal(t, "PUT", EventPut.String())
	require.Equal(t, "DELETE", EventDelete.String())
	require.Equal(t, "PUT", fmt.Sprint(Event{Type: EventPut}.Type))
	require.Equal(t, "EventType(7)", EventType(7).String())
}

// TestKeepAliveResponseTTL: a keep-alive response carries the lease's ID
// and TTL as etcd's does, from the member or (an older member that sends
// only IDs and TTLs) filled in by the client.
func TestKeepAliveResponseTTL(t *testing.T) {
	for _, fromMember := range []bool{true, false} {
		m := newScriptedMember(t, func(f wire.Frame) (any, *wire.Error) {
			r := &wire.LeaseKeepAliveResponse{IDs: []int64{0x42}, TTLs: []int64{9}}
			if fromMember {
				r.ID, r.TTL = 0x42, 9
			}
			return r, nil
		})
		c, err := New(Config{Endpoints: []string{m.addr}})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := c.KeepAliveOnce(ctx, 0x42)
		require.NoError(t, err)
		require.EqualValues(t, 0x42, resp.ID)
		require.EqualValues(t, 9, resp.TTL)
		ch, err := c.KeepAlive(ctx, 0x42)
		require.NoError(t, err)
		first := <-ch
		require.EqualValues(t, 9, first.TTL)
		cancel()
		c.Close()
	}
}
