package coord

import (
	"context"

	"github.com/coord-io/coord/coord/wire"
)

// Alarm is one raised alarm: its type (wire.AlarmNoSpace) and the member
// that raised it.
type Alarm = wire.Alarm

// DefragResponse is what a member's defrag did: its store's size on disk
// before and after, and how long it took.
type DefragResponse = wire.DefragResponse

// Alarms lists the alarms raised in the cluster. While a NOSPACE alarm is
// raised, writes that grow the store fail with ErrNoSpace.
func (c *Client) Alarms(ctx context.Context) ([]Alarm, error) {
	var resp wire.AlarmResponse
	if err := c.call(ctx, wire.MethodAlarm, &wire.AlarmRequest{Action: wire.AlarmGet}, &resp); err != nil {
		return nil, err
	}
	return resp.Alarms, nil
}

// AlarmDisarm disarms the alarms of member of type typ ("" and
// wire.AlarmNone: every one) in every shard, and returns those it
// disarmed. A member still over its space quota raises its alarm again
// within its check interval (a second by default): free space first
// (delete, compact, Defragment).
func (c *Client) AlarmDisarm(ctx context.Context, member string, typ wire.AlarmType) ([]Alarm, error) {
	var resp wire.AlarmResponse
	if err := c.call(ctx, wire.MethodAlarm, &wire.AlarmRequest{Action: wire.AlarmDeactivate, Member: member, Type: typ}, &resp); err != nil {
		return nil, err
	}
	return resp.Alarms, nil
}

// Defragment asks the member at endpoint (which need not be one of the
// client's endpoints) to compact its store's files, giving back the space
// of deleted and compacted data, and reports the sizes before and after.
func (c *Client) Defragment(ctx context.Context, endpoint string) (*DefragResponse, error) {
	var resp DefragResponse
	if err := c.callEndpoint(ctx, endpoint, wire.MethodDefrag, &wire.DefragRequest{}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}
