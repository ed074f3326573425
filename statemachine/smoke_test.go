package statemachine

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

func TestSmoke(t *testing.T) {
	h := newHarness(t)
	r := h.put("a", "1")
	require.EqualValues(t, 1, r.Header.Revision)
	r = h.put("a", "2")
	require.EqualValues(t, 2, r.Header.Revision)
	require.Equal(t, "1", string(r.PrevKV.Value))
	kv := h.get("a", 0)
	require.Equal(t, &wire.KeyValue{Key: []byte("a"), Value: []byte("2"), CreateRevision: 1, ModRevision: 2, Version: 2}, kv)
	kv = h.get("a", 1)
	require.Equal(t, "1", string(kv.Value))
	d := h.del("a", "")
	require.EqualValues(t, 1, d.Deleted)
	require.Nil(t, h.get("a", 0))
	h.put("a", "3")
	kv = h.get("a", 0)
	require.EqualValues(t, 4, kv.CreateRevision)
	require.EqualValues(t, 1, kv.Version)
	require.Equal(t, wire.OK, h.compact(3).Code)
	_, err := h.sh.Range(&wire.RangeRequest{Key: []byte("a"), Revision: 2})
	require.Equal(t, wire.CodeCompacted, wireCode(err))
}
