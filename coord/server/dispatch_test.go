package server

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// TestDispatchTableCoversMethods: every method of the wire protocol has
// one handler, registered with the method table's own entry and request
// type (newHandler refuses other types when the package starts).
func TestDispatchTableCoversMethods(t *testing.T) {
	require.Len(t, handlers, len(wire.Methods()))
	for _, m := range wire.Methods() {
		h := handlers[m.Name]
		require.NotNil(t, h, "no handler for %s", m.Name)
		want, _ := wire.LookupMethod(m.Name)
		require.Same(t, want, h.m, m.Name)
		require.Equal(t, reflect.TypeOf(m.NewRequest()).Elem().NumField() == 0, h.noFields, m.Name)
	}
}

// BenchmarkCallServe measures one serializable read through the client
// and the msgpack door (its allocations per call compare the dispatch's
// cost across changes).
func BenchmarkCallServe(b *testing.B) {
	tc := newTestCluster(b, 1, 1)
	c := tc.client()
	ctx := ctxT(b, time.Minute)
	_, err := c.Get(ctx, "bench", coord.WithSerializable())
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Get(ctx, "bench", coord.WithSerializable()); err != nil {
			b.Fatal(err)
		}
	}
}
