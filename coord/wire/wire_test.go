package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

func TestFrameRoundTrip(t *testing.T) {
	body, err := Marshal(&PutRequest{Key: []byte("k"), Value: []byte("v"), PrevKV: true})
	require.NoError(t, err)
	in := []Frame{
		{Type: FrameHello, Body: []byte{1, 2}},
		{Type: FrameRequest, ID: 7, Method: MethodPut, TimeoutMillis: 1500, Seq: 3, AckBelow: 2, Body: body, AgeMillis: 1200},
		{Type: FrameResponse, ID: 7, More: true, Err: &Error{Code: CodeCompacted, Message: "gone", CompactRevision: 9}},
		{Type: FrameCancel, ID: 7},
	}
	var buf []byte
	for i := range in {
		buf, err = AppendFrame(buf, &in[i])
		require.NoError(t, err)
	}
	fr := NewFrameReader(bytes.NewReader(buf), 0)
	for i := range in {
		var f Frame
		require.NoError(t, fr.Read(&f))
		require.Equal(t, in[i], f)
	}
	var f Frame
	require.ErrorIs(t, fr.Read(&f), io.EOF)

	var got PutRequest
	require.NoError(t, Unmarshal(in[1].Body, &got))
	require.Equal(t, "k", string(got.Key))
	require.True(t, got.PrevKV)
}

// TestFrameCodecMatchesReflection checks the hand-written frame codec
// against msgpack's own encoding of the Frame struct as an array, both
// ways, so either side may use either.
func TestFrameCodecMatchesReflection(t *testing.T) {
	for _, f := range []Frame{
		{Type: FrameHello, Body: []byte{1, 2}},
		{Type: FrameRequest, ID: 1 << 40, Method: MethodPut, TimeoutMillis: 1 << 33, Seq: 1<<64 - 1, AckBelow: 200, Body: make([]byte, 70000), AgeMillis: 61000},
		{Type: FrameResponse, ID: 300, More: true, Err: &Error{Code: CodeCompacted, Message: "gone", CompactRevision: 9}},
		{Type: FrameCancel, ID: 7, TimeoutMillis: -5},
		{Type: FrameSend, Body: []byte{}},
	} {
		refl, err := msgpack.Marshal(&f)
		require.NoError(t, err)
		var got Frame
		require.NoError(t, DecodeFrame(refl, &got))
		require.Equal(t, f, got)

		hand, err := AppendFrame(nil, &f)
		require.NoError(t, err)
		require.Equal(t, len(hand)-4, int(binary.BigEndian.Uint32(hand)))
		var back Frame
		require.NoError(t, msgpack.Unmarshal(hand[4:], &back))
		require.Equal(t, f, back)
	}
	// Fewer fields than a Frame has leave the rest zero; more are skipped.
	short, err := msgpack.Marshal([]any{uint8(FrameCancel), uint64(9)})
	require.NoError(t, err)
	var f Frame
	require.NoError(t, DecodeFrame(short, &f))
	require.Equal(t, Frame{Type: FrameCancel, ID: 9}, f)
	long, err := msgpack.Marshal([]any{uint8(FrameCancel), uint64(9), "", 0, 0, 0, false, nil, nil, 0, "extra", 1})
	require.NoError(t, err)
	require.NoError(t, DecodeFrame(long, &f))
	require.Equal(t, Frame{Type: FrameCancel, ID: 9}, f)
	// A frame is an array.
	notArray, err := msgpack.Marshal(map[string]int{"a": 1})
	require.NoError(t, err)
	require.Error(t, DecodeFrame(notArray, &f))
}

func TestFrameReaderRejects(t *testing.T) {
	big := binary.BigEndian.AppendUint32(nil, 1000)
	fr := NewFrameReader(bytes.NewReader(append(big, make([]byte, 1000)...)), 100)
	var f Frame
	require.ErrorIs(t, fr.Read(&f), ErrFrameTooLarge)

	trunc := binary.BigEndian.AppendUint32(nil, 10)
	fr = NewFrameReader(bytes.NewReader(append(trunc, 1, 2, 3)), 100)
	require.ErrorIs(t, fr.Read(&f), io.ErrUnexpectedEOF)

	garbage := append(binary.BigEndian.AppendUint32(nil, 3), 0xc1, 0xc1, 0xc1)
	fr = NewFrameReader(bytes.NewReader(garbage), 100)
	err := fr.Read(&f)
	require.Error(t, err)
	require.False(t, errors.Is(err, io.EOF))

	// A well-formed msgpack array with an unknown frame type.
	b, _ := Marshal(&Frame{Type: 99})
	fr = NewFrameReader(bytes.NewReader(append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)), 100)
	require.ErrorContains(t, fr.Read(&f), "bad frame type")
}

func FuzzDecodeFrame(f *testing.F) {
	b, _ := AppendFrame(nil, &Frame{Type: FrameRequest, ID: 1, Method: MethodPut, Body: []byte{0x80}})
	f.Add(b[4:])
	f.Add([]byte{})
	f.Add([]byte{0x9a})
	f.Fuzz(func(t *testing.T, data []byte) {
		var fr Frame
		if err := DecodeFrame(data, &fr); err != nil {
			return
		}
		// Whatever decodes must encode again and decode to the same frame.
		out, err := AppendFrame(nil, &fr)
		require.NoError(t, err)
		var again Frame
		require.NoError(t, DecodeFrame(out[4:], &again))
		require.Equal(t, fr, again)
	})
}

func TestHashTagAndRouting(t *testing.T) {
	cases := []struct{ key, tag string }{
		{"plain", "plain"},
		{"{svc}/api/n1", "svc"},
		{"x{svc}y", "svc"},
		{"{}x", "{}x"},
		{"{open", "{open"},
		{"a{b}{c}", "b"},
		{"}{a}", "a"},
	}
	for _, c := range cases {
		require.Equal(t, c.tag, string(HashTag([]byte(c.key))), c.key)
	}
	for shards := 1; shards <= 16; shards *= 2 {
		require.Equal(t, ShardOf([]byte("{user1}/a"), shards), ShardOf([]byte("{user1}/b"), shards))
		require.Equal(t, ShardOf([]byte("user1"), shards), ShardOf([]byte("{user1}/zz"), shards))
		require.Less(t, ShardOf([]byte("anything"), shards), uint32(shards))
	}
	// Keys spread over every shard.
	seen := map[uint32]bool{}
	for i := 0; i < 200; i++ {
		seen[ShardOf([]byte{byte(i), 'k'}, 8)] = true
	}
	require.Len(t, seen, 8)

	sh, one := RangeShard([]byte("{svc}/"), PrefixEnd([]byte("{svc}/")), 8)
	require.True(t, one)
	require.Equal(t, ShardOf([]byte("{svc}/x"), 8), sh)
	_, one = RangeShard([]byte("/cfg/"), PrefixEnd([]byte("/cfg/")), 8)
	require.False(t, one)
	_, one = RangeShard([]byte("{svc}/a"), []byte("{svc}/z"), 8) // not a prefix range
	require.False(t, one)
	_, one = RangeShard([]byte("a"), []byte("z"), 1)
	require.True(t, one)
}

func TestPrefixEnd(t *testing.T) {
	require.Equal(t, []byte("b"), PrefixEnd([]byte("a")))
	require.Equal(t, []byte("b"), PrefixEnd([]byte("a\xff")))
	require.Equal(t, []byte{0}, PrefixEnd([]byte("\xff\xff")))
	require.Equal(t, []byte{0}, PrefixEnd(nil))
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteQueued(t *testing.T) {
	queue := make(chan []byte, 8)
	done := make(chan struct{})
	var buf bytes.Buffer
	for _, s := range []string{"a", "b", "c"} {
		queue <- []byte(s)
	}
	ended := make(chan error, 1)
	go func() { ended <- WriteQueued(&buf, queue, done) }()
	require.Eventually(t, func() bool { return len(queue) == 0 }, 5*time.Second, time.Millisecond)
	close(done)
	require.NoError(t, <-ended)
	require.Equal(t, "abc", buf.String(), "every queued frame written, in order, and flushed")

	queue <- []byte("x")
	require.EqualError(t, WriteQueued(failWriter{}, queue, make(chan struct{})), "broken pipe")
}

// stallReader hands out its bytes, then reports a read timeout for ever,
// as a connection whose peer stopped sending would under a deadline.
type stallReader struct{ b []byte }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func (r *stallReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, timeoutErr{}
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// TestFrameReaderDeclaredHugeDoesNotAllocate: a peer that declares a
// frame of 256 MiB (under the reader's limit) and sends a few bytes of it
// costs the reader what it sent, not what it declared.
func TestFrameReaderDeclaredHugeDoesNotAllocate(t *testing.T) {
	hdr := binary.BigEndian.AppendUint32(nil, 256<<20)
	r := &stallReader{b: append(hdr, make([]byte, 1000)...)}
	fr := NewFrameReader(r, 1<<30)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var f Frame
	err := fr.Read(&f)
	runtime.ReadMemStats(&after)
	var ne interface{ Timeout() bool }
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "want the stalled read's timeout, got %v", err)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d bytes reading a frame that declared 256 MiB and sent 1000 bytes", allocated)
	require.Less(t, allocated, uint64(1<<20), "allocated %d bytes for a frame of which 1000 bytes arrived", allocated)
}

// TestFrameReaderIncremental reads large frames that arrive a few bytes at
// a time, and a zero-length one, intact.
func TestFrameReaderIncremental(t *testing.T) {
	var buf []byte
	var in []Frame
	for _, size := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 3<<20 + 17} {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(i * 7)
		}
		f := Frame{Type: FrameRequest, ID: uint64(size), Method: MethodPut, Body: body}
		in = append(in, f)
		var err error
		buf, err = AppendFrame(buf, &f)
		require.NoError(t, err)
	}
	buf = append(buf, 0, 0, 0, 0) // an empty payload: not a frame
	fr := NewFrameReader(iotest.HalfReader(bytes.NewReader(buf)), 4<<20)
	for i := range in {
		var f Frame
		require.NoError(t, fr.Read(&f))
		if len(in[i].Body) == 0 {
			in[i].Body = nil
			f.Body = nil
		}
		require.Equal(t, in[i], f)
	}
	var f Frame
	require.Error(t, fr.Read(&f))
}
