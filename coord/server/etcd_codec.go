package server

import (
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// etcdCodec is the etcd door's gRPC codec: etcd's generated types
// (gogoproto) marshal and unmarshal themselves, so the codec calls their
// methods directly instead of going through the protobuf runtime's
// reflection wrapper for legacy messages (which, per call, cost more than
// the rest of the door's translation). Any other message goes to gRPC's
// own proto codec. The wire format is the same protobuf either way.
type etcdCodec struct{ proto encoding.CodecV2 }

// gogoMessage is what etcd's generated messages implement.
type gogoMessage interface {
	Reset()
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
	Unmarshal([]byte) error
}

func newEtcdCodec() etcdCodec { return etcdCodec{proto: encoding.GetCodecV2(protoenc.Name)} }

func (c etcdCodec) Name() string { return protoenc.Name }

func (c etcdCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(gogoMessage)
	if !ok {
		return c.proto.Marshal(v)
	}
	size := m.Size()
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf := make([]byte, size)
		n, err := m.MarshalToSizedBuffer(buf)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(buf[size-n:])}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	n, err := m.MarshalToSizedBuffer((*buf)[:size])
	if err != nil {
		pool.Put(buf)
		return nil, err
	}
	if n != size { // never with gogoproto's sizer; keep the bytes right anyway
		b := append([]byte(nil), (*buf)[size-n:size]...)
		pool.Put(buf)
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// Unmarshal decodes data into v. gogoproto's Unmarshal copies bytes and
// strings out of its input, so the buffer goes back to the pool.
func (c etcdCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(gogoMessage)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	m.Reset()
	return m.Unmarshal(buf.ReadOnlyData())
}
