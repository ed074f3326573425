package server

import (
	"testing"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestEtcdCodec: etcd's messages, small and above gRPC's pooling
// threshold, encode as the protobuf runtime encodes them and decode back
// whole, into a message that had other content (replaced, not merged),
// with no byte shared with the (recycled) input; other messages go
// through gRPC's proto codec.
func TestEtcdCodec(t *testing.T) {
	c := newEtcdCodec()
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i)
	}
	for _, msg := range []*pb.RangeResponse{
		{Header: &pb.ResponseHeader{Revision: 7}, Kvs: []*mvccpb.KeyValue{{Key: []byte("k"), Value: []byte("v"), ModRevision: 3}}, Count: 1},
		{Kvs: []*mvccpb.KeyValue{{Key: []byte("big"), Value: big}}, More: true},
	} {
		data, err := c.Marshal(msg)
		require.NoError(t, err)
		want, err := msg.Marshal()
		require.NoError(t, err)
		require.Equal(t, want, data.Materialize())

		got := &pb.RangeResponse{Kvs: []*mvccpb.KeyValue{{Key: []byte("old")}}, Count: 99}
		in := data.Materialize()
		require.NoError(t, c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(in)}, got))
		clear(in) // the decoded message shares no byte with its input
		back, err := got.Marshal()
		require.NoError(t, err)
		require.Equal(t, want, back)
		data.Free()
	}

	w := wrapperspb.String("x")
	data, err := c.Marshal(w)
	require.NoError(t, err)
	var back wrapperspb.StringValue
	require.NoError(t, c.Unmarshal(data, &back))
	require.Equal(t, "x", back.GetValue())
}
