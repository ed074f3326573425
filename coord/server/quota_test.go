package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// testQuota is a quota a few puts of quotaValue exceed, and that a
// defragmented store of a few keys is well under.
const testQuota = 2 << 20

var quotaValue = strings.Repeat("x", 256<<10)

// fillUntilNoSpace puts quotaValue under new keys until a put fails, and
// returns that error and the keys written.
func fillUntilNoSpace(t *testing.T, ctx context.Context, put func(key string) error) (error, []string) {
	t.Helper()
	var keys []string
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		k := fmt.Sprintf("fill/%d", i)
		if err := put(k); err != nil {
			return err, keys
		}
		keys = append(keys, k)
	}
	t.Fatalf("no put was refused in 30s (%d written)", len(keys))
	return nil, nil
}

// TestQuotaNoSpaceAlarm: a member whose store grows past its quota
// raises a NOSPACE alarm that every member and every shard applies: a
// put, a lease grant and a lock through any member fail with ErrNoSpace
// naming the member, while reads, deletes and compaction work; after
// defrag brings the store under the quota and the alarm is disarmed,
// writes work again.
func TestQuotaNoSpaceAlarm(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a 3-member cluster past its quota (~10s); runs without -short")
	}
	tc := newTestCluster(t, 3, 2, func(c *Config) {
		c.QuotaBackendBytes = -1 // only n2 has a quota: its alarm stops everyone
		if c.Name == "n2" {
			c.QuotaBackendBytes = testQuota
		}
		c.QuotaCheckInterval = 50 * time.Millisecond
	})
	ctx := ctxT(t, 2*time.Minute)
	c := tc.client()
	err, keys := fillUntilNoSpace(t, ctx, func(k string) error { _, err := c.Put(ctx, k, quotaValue); return err })
	require.ErrorIs(t, err, coord.ErrNoSpace)
	require.Contains(t, err.Error(), "database space exceeded (alarm NOSPACE raised on member n2)")
	require.NotEmpty(t, keys)

	want := []wire.Alarm{{Member: "n2", Type: wire.AlarmNoSpace}}
	for i, ep := range tc.Endpoints() {
		one := tc.client(ep)
		require.Eventually(t, func() bool {
			st, err := c.Status(ctx, ep)
			return err == nil && len(st.Alarms) == 1 && st.Alarms[0] == want[0]
		}, 10*time.Second, 20*time.Millisecond, "member %d does not know the alarm", i)
		for s := 0; s < 2; s++ { // a key of each shard
			_, err := one.Put(ctx, fmt.Sprintf("{s}%d-%d", i, s), "v")
			if s == 1 {
				_, err = one.Put(ctx, fmt.Sprintf("other-%d", i), "v")
			}
			require.ErrorIs(t, err, coord.ErrNoSpace, "member %d", i)
		}
		_, err := one.Grant(ctx, 60)
		require.ErrorIs(t, err, coord.ErrNoSpace)
		got, err := one.Alarms(ctx)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	require.ErrorIs(t, c.Call(ctx, wire.MethodEnqueue, &wire.EnqueueRequest{Name: "q", Values: [][]byte{[]byte("v")}}, &wire.EnqueueResponse{}), coord.ErrNoSpace)

	// Reads, deletes and compaction still work.
	g, err := c.Get(ctx, keys[0])
	require.NoError(t, err)
	require.Len(t, g.Kvs, 1)
	d, err := c.Delete(ctx, "fill/", coord.WithPrefix())
	require.NoError(t, err)
	require.Equal(t, int64(len(keys)), d.Deleted)
	require.Len(t, d.Header.Revisions, 2, "a delete of every shard: %+v", d.Header)
	for shard, rev := range d.Header.Revisions {
		_, err := c.Compact(ctx, rev, coord.WithCompactShard(shard))
		require.NoError(t, err)
	}

	// Defrag on n2 gives the space back.
	var n2 string
	for i := 0; i < tc.Len(); i++ {
		if tc.Member(i).Name() == "n2" {
			n2 = tc.Endpoints()[i]
		}
	}
	df, err := c.Defragment(ctx, n2)
	require.NoError(t, err)
	require.Equal(t, "n2", df.Member)
	require.Less(t, df.SizeAfter, df.SizeBefore)
	require.Less(t, df.SizeAfter, int64(testQuota))
	t.Logf("%d puts of %d KiB before NOSPACE; defrag of n2: %d → %d bytes in %dµs", len(keys), len(quotaValue)>>10, df.SizeBefore, df.SizeAfter, df.TookMicros)

	gone, err := c.AlarmDisarm(ctx, "", wire.AlarmNone)
	require.NoError(t, err)
	require.Equal(t, want, gone)
	_, err = c.Put(ctx, "after", "v")
	require.NoError(t, err)
	_, err = c.Grant(ctx, 60)
	require.NoError(t, err)
	got, err := c.Alarms(ctx)
	require.NoError(t, err)
	require.Empty(t, got)
}

// TestEtcdQuotaNoSpace: through the etcd door, clientv3's Put past the
// quota fails with rpctypes.ErrNoSpace; AlarmList names the member by
// its etcd ID, Status lists the alarm in Errors and keeps the store's
// size; after delete, compact, Defragment and AlarmDisarm, Put works.
func TestEtcdQuotaNoSpace(t *testing.T) {
	tc := newEtcdCluster(t, 1, 1, func(c *Config) {
		c.QuotaBackendBytes = testQuota
		c.QuotaCheckInterval = 20 * time.Millisecond
	})
	ctx := ctxT(t, time.Minute)
	c := tc.etcdClient(clientv3.Config{})
	err, _ := fillUntilNoSpace(t, ctx, func(k string) error { _, err := c.Put(ctx, k, quotaValue); return err })
	require.True(t, errors.Is(err, rpctypes.ErrNoSpace), "%v", err)

	al, err := c.AlarmList(ctx)
	require.NoError(t, err)
	require.Len(t, al.Alarms, 1)
	require.Equal(t, etcdMemberID("n1"), al.Alarms[0].MemberID)
	require.Equal(t, pb.AlarmType_NOSPACE, al.Alarms[0].Alarm)
	ep := tc.Member(0).EtcdAddr()
	st, err := c.Status(ctx, ep)
	require.NoError(t, err)
	require.Contains(t, st.Errors, fmt.Sprintf("memberID:%d alarm:NOSPACE", etcdMemberID("n1")))
	require.Greater(t, st.DbSize, int64(testQuota))

	_, err = c.Delete(ctx, "fill/", clientv3.WithPrefix())
	require.NoError(t, err)
	g, err := c.Get(ctx, "x")
	require.NoError(t, err)
	_, err = c.Compact(ctx, g.Header.Revision)
	require.NoError(t, err)
	_, err = c.Defragment(ctx, ep)
	require.NoError(t, err)
	st, err = c.Status(ctx, ep)
	require.NoError(t, err)
	require.Less(t, st.DbSize, int64(testQuota))
	dis, err := c.AlarmDisarm(ctx, &clientv3.AlarmMember{})
	require.NoError(t, err)
	require.Len(t, dis.Alarms, 1)
	_, err = c.Put(ctx, "after", "v")
	require.NoError(t, err)
	al, err = c.AlarmList(ctx)
	require.NoError(t, err)
	require.Empty(t, al.Alarms)

	// Raising one by hand works too (etcdctl alarm has no such command,
	// but the API has), for this member or a named one.
	ar, err := c.Maintenance.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: 12345, Alarm: pb.AlarmType_NOSPACE})
	require.Error(t, err, "no member has that ID")
	require.Nil(t, ar)
}
