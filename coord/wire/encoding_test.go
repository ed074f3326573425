package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// allocated returns the bytes f allocates (runtime.MemStats.TotalAlloc).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

type claimOp struct {
	Key, Value []byte
	Lease      int64
}

type claimRequest struct {
	Ops  []claimOp `msgpack:"o"`
	Name string    `msgpack:"n"`
}

// A body or frame of a few bytes can claim a string, byte string, array or
// map of billions; msgpack (v5.4.1) allocates toward the claim before it
// finds the input short — a slice of structs in full, a string a megabyte
// at a time into a pooled decoder that keeps it. A member decodes such
// bytes from any client: it must refuse them without allocating what
// they claim.
func TestDecodeRefusesClaimsPastTheInput(t *testing.T) {
	const limit = 64 << 20
	bodies := map[string][]byte{
		"array32 of 16M structs":  {0x81, 0xa1, 'o', 0xdd, 0x00, 0xff, 0xff, 0xff, 0x93},
		"array16 past the input":  {0x81, 0xa1, 'o', 0xdc, 0xff, 0xff, 0x93},
		"str32 of 1.9 GB":         {0x81, 0xa1, 'n', 0xdb, 0x72, 0xa1, 0x69, 0xaa},
		"bin32 in an op":          {0x81, 0xa1, 'o', 0x91, 0x93, 0xc6, 0x7f, 0xff, 0xff, 0xff},
		"map32 of 4G entries":     {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'n'},
		"unknown field's ext32":   {0x81, 0xa1, 'x', 0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01},
		"str32 of 2 GiB":          {0x81, 0xa1, 'n', 0xdb, 0x80, 0x00, 0x00, 0x00, 0xc0}, // negative as a 32-bit int
		"ext32 of 4 GiB":          {0x81, 0xa1, 'x', 0xc9, 0xff, 0xff, 0xff, 0xff},
		"nested past depth limit": append(repeat(0x91, maxNesting+1), 0xc0),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			var err error
			n := allocated(func() {
				for i := 0; i < 50; i++ {
					var r claimRequest
					err = Unmarshal(body, &r)
				}
			})
			require.Less(t, n, uint64(limit), "50 decodes of %d bytes allocated %d bytes", len(body), n)
			require.True(t, errors.Is(err, ErrMalformed), "%v", err)
		})
	}

	// The frame the fuzzer found (its method a str32 claiming 1.9 GB):
	// repeated, it grew a pooled decoder's buffer by a quarter each time.
	frame := []byte("\x9a0)\xdbr\xa1i\xaa")
	var err error
	n := allocated(func() {
		for i := 0; i < 50; i++ {
			var f Frame
			err = DecodeFrame(frame, &f)
		}
	})
	require.Less(t, n, uint64(limit), "50 frame decodes allocated %d bytes", n)
	require.ErrorIs(t, err, ErrMalformed)
}

func repeat(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// A request's body can declare no more elements than it has bytes, but a
// byte per element still costs msgpack a whole element of the target type
// (a 112-byte struct, twice over): a member's requests take at most
// MaxRequestItems per array or map (UnmarshalRequest).
func TestUnmarshalRequestBoundsElements(t *testing.T) {
	const n = 1 << 20 // a 1-MiB body of a million empty maps
	body := append([]byte{0x81, 0xa1, 'o', 0xdd, 0, 0x10, 0, 0}, bytes.Repeat([]byte{0x80}, n)...)
	var err error
	allocatedReq := allocated(func() {
		var r claimRequest
		err = UnmarshalRequest(body, &r)
	})
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, "over the limit of 65536")
	require.Less(t, allocatedReq, uint64(1<<20), "a refused request allocated %d bytes", allocatedReq)

	// At the limit a request still decodes; Unmarshal (a client reading
	// a response) takes any count that fits in the bytes.
	ints := func(k int) []byte {
		b := append([]byte{0xdd}, binary.BigEndian.AppendUint32(nil, uint32(k))...)
		return append(b, bytes.Repeat([]byte{0x01}, k)...)
	}
	var v []int
	require.NoError(t, UnmarshalRequest(ints(MaxRequestItems), &v))
	require.Len(t, v, MaxRequestItems)
	require.ErrorIs(t, UnmarshalRequest(ints(MaxRequestItems+1), &v), ErrMalformed)
	v = nil
	require.NoError(t, Unmarshal(ints(MaxRequestItems+1), &v))
	require.Len(t, v, MaxRequestItems+1)
	// A map counts its pairs.
	m := append([]byte{0xdf}, binary.BigEndian.AppendUint32(nil, MaxRequestItems+1)...)
	require.ErrorContains(t, UnmarshalRequest(append(m, bytes.Repeat([]byte{0x01}, 2*(MaxRequestItems+1))...), &v), "over the limit")
}

// Well-formed bodies still decode, whatever their shape.
func TestDecodeTakesWellFormed(t *testing.T) {
	in := claimRequest{Name: "x", Ops: []claimOp{{Key: []byte("k"), Value: make([]byte, 70000), Lease: -1}, {Key: []byte{}, Lease: 1 << 40}}}
	b, err := Marshal(in)
	require.NoError(t, err)
	var out claimRequest
	require.NoError(t, Unmarshal(b, &out))
	require.Equal(t, in, out)

	for _, v := range []any{nil, true, 1.5, float32(2), int64(-1 << 40), uint64(1 << 63), "s", []byte("b"),
		map[string]any{"a": []any{1, "2", map[string]any{}}}, repeatNested(maxNesting - 1)} {
		b, err := Marshal(v)
		require.NoError(t, err)
		require.NoError(t, CheckEncoding(b), "%#v", v)
		var anything any
		require.NoError(t, Unmarshal(b, &anything))
	}
}

func repeatNested(depth int) any {
	var v any = 1
	for i := 0; i < depth; i++ {
		v = []any{v}
	}
	return v
}

// CheckEncoding walks exactly one value: it accepts every encoding msgpack
// writes, each of them with trailing bytes, and refuses each cut short.
func TestCheckEncodingWalksExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var gen func(depth int) any
	// size picks one of sizes; the largest only at the top level.
	size := func(depth int, sizes ...int) int {
		if depth > 0 {
			sizes = sizes[:len(sizes)-1]
		}
		return sizes[rng.IntN(len(sizes))]
	}
	gen = func(depth int) any {
		switch k := rng.IntN(14); {
		case k == 0:
			return nil
		case k == 1:
			return rng.IntN(2) == 0
		case k == 2:
			return rng.Int64() >> rng.IntN(64)
		case k == 3:
			return -(rng.Int64() >> rng.IntN(64))
		case k == 4:
			return rng.Uint64() >> rng.IntN(64)
		case k == 5:
			return rng.Float64()
		case k == 6:
			return float32(rng.Float64())
		case k == 7:
			return strings.Repeat("s", size(depth, 0, 5, 31, 32, 255, 256, 70000))
		case k == 8:
			return make([]byte, size(depth, 0, 1, 255, 256, 65535, 65536))
		case k == 9:
			return time.Unix(rng.Int64N(1<<40), rng.Int64N(1e9)*int64(rng.IntN(2)))
		case k <= 11 && depth < 6:
			a := make([]any, size(depth, 0, 1, 15, 16, 70000))
			for i := range a {
				if len(a) > 16 {
					a[i] = i // a long array of small values
				} else {
					a[i] = gen(depth + 1)
				}
			}
			return a
		case depth < 6:
			m := map[string]any{}
			for i := 0; i < size(depth, 0, 1, 15, 16, 70000); i++ {
				m[fmt.Sprint(i)] = gen(depth + 1)
			}
			return m
		default:
			return int8(-3)
		}
	}
	for i := 0; i < 300; i++ {
		b, err := Marshal(gen(0))
		require.NoError(t, err)
		require.NoError(t, CheckEncoding(b))
		require.NoError(t, CheckEncoding(append(b, 0xc1, 0xdd)), "trailing bytes are not the value's")
		for _, cut := range []int{1, rng.IntN(len(b)) + 1} {
			require.ErrorIs(t, CheckEncoding(b[:len(b)-cut]), ErrMalformed, "%x cut by %d", b, cut)
		}
	}
}

// The check's cost on a put's frame and body (compare with decoding them).
func BenchmarkCheckEncoding(b *testing.B) {
	body, _ := Marshal(&claimRequest{Name: "n", Ops: []claimOp{{Key: []byte("/bench/key-000001"), Value: make([]byte, 256), Lease: 7}}})
	frame, _ := AppendFrame(nil, &Frame{Type: FrameRequest, ID: 12345, Method: MethodPut, TimeoutMillis: 5000, Seq: 99, Body: body})
	b.Run("frame", func(b *testing.B) {
		for b.Loop() {
			_ = CheckEncoding(frame[4:])
		}
	})
	b.Run("body", func(b *testing.B) {
		for b.Loop() {
			_ = CheckEncoding(body)
		}
	})
	b.Run("decode-frame", func(b *testing.B) {
		var f Frame
		for b.Loop() {
			_ = DecodeFrame(frame[4:], &f)
		}
	})
	b.Run("unmarshal-body", func(b *testing.B) {
		for b.Loop() {
			var r claimRequest
			_ = Unmarshal(body, &r)
		}
	})
}
