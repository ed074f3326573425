package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// FrameType says what a frame carries.
type FrameType uint8

// Frame types. A call starts with a Request from the client; the server
// answers with one Response (More false) for a unary call, or several
// Responses with More true followed by a final one for a stream. Cancel
// from the client ends the call with that ID. Send carries a further
// client message on an open call (client streams).
const (
	FrameHello FrameType = iota + 1
	FrameRequest
	FrameResponse
	FrameCancel
	FrameSend
)

// Frame is the unit of the wire protocol. On the wire a frame is a 4-byte
// big-endian length followed by that many bytes: the msgpack encoding of
// the frame as an array.
type Frame struct {
	_msgpack struct{} `msgpack:",as_array"`

	Type   FrameType
	ID     uint64 // call ID, chosen by the client, unique per connection
	Method string // on Request
	// TimeoutMillis is the time the caller is still willing to wait,
	// measured when the frame was sent (deadlines travel relative to avoid
	// clock skew). 0 means no deadline.
	TimeoutMillis int64
	// Seq and AckBelow tag writes for exactly-once retries (see
	// statemachine.Command); 0 on reads.
	Seq      uint64
	AckBelow uint64
	More     bool   // on Response: more responses follow
	Err      *Error // on Response: the call failed
	Body     []byte // msgpack encoding of the method's request or response
}

// Hello is the body of the first frame a client sends.
type Hello struct {
	Magic    string `msgpack:"magic"`
	Version  int    `msgpack:"v"`
	ClientID uint64 `msgpack:"cid"`
}

// HelloResponse is the body of the server's answer to Hello.
type HelloResponse struct {
	Version        int    `msgpack:"v"`
	Member         string `msgpack:"m"`
	MaxRequestSize int    `msgpack:"mrs"`
	Shards         int    `msgpack:"sh"` // number of shards, for client-side routing
	// ClusterID identifies the member's cluster: drawn once when the
	// cluster is created and the same on every member, so a fresh
	// cluster on the same addresses has another. 0 while the member has
	// not learned it yet (it then refuses calls but status).
	ClusterID uint64 `msgpack:"cid,omitempty"`
}

// Protocol constants.
const (
	Magic           = "coord"
	ProtocolVersion = 1
	// DefaultMaxFrameSize bounds a frame read by either side unless
	// configured otherwise.
	DefaultMaxFrameSize = 4 << 20
)

// ErrFrameTooLarge is returned by a FrameReader for a frame over its limit;
// the connection must then be closed.
var ErrFrameTooLarge = errors.New("wire: frame too large")

// FrameReader reads frames from a stream.
type FrameReader struct {
	r   *bufio.Reader
	max int
	hdr [4]byte
}

// NewFrameReader returns a reader that refuses frames larger than max bytes.
func NewFrameReader(r io.Reader, max int) *FrameReader {
	if max <= 0 {
		max = DefaultMaxFrameSize
	}
	return &FrameReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Read reads the next frame. Any error leaves the stream unusable.
func (fr *FrameReader) Read(f *Frame) error {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(fr.hdr[:])
	if int64(n) > int64(fr.max) {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, fr.max)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(fr.r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return DecodeFrame(buf, f)
}

// DecodeFrame decodes the payload of one frame (without its length prefix).
func DecodeFrame(b []byte, f *Frame) error {
	*f = Frame{}
	if err := decodeFrame(b, f); err != nil {
		return fmt.Errorf("wire: bad frame: %w", err)
	}
	if f.Type < FrameHello || f.Type > FrameSend {
		return fmt.Errorf("wire: bad frame type %d", f.Type)
	}
	return nil
}

// AppendFrame appends the wire form of f (length prefix included) to dst.
func AppendFrame(dst []byte, f *Frame) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	buf := bytes.NewBuffer(dst)
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(buf)
	if err := encodeFrame(enc, f); err != nil {
		return dst[:start], err
	}
	dst = buf.Bytes()
	n := len(dst) - start - 4
	if n > int(^uint32(0)) {
		return dst[:start], ErrFrameTooLarge
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	return dst, nil
}

// frameFields is the number of fields of a Frame on the wire.
const frameFields = 9

// encodeFrame writes f as msgpack's encoding of the struct as an array
// (field by field, without reflection: every call encodes two frames).
func encodeFrame(enc *msgpack.Encoder, f *Frame) error {
	_ = enc.EncodeArrayLen(frameFields)
	_ = enc.EncodeUint(uint64(f.Type))
	_ = enc.EncodeUint(f.ID)
	_ = enc.EncodeString(f.Method)
	_ = enc.EncodeInt(f.TimeoutMillis)
	_ = enc.EncodeUint(f.Seq)
	_ = enc.EncodeUint(f.AckBelow)
	_ = enc.EncodeBool(f.More)
	if f.Err == nil {
		_ = enc.EncodeNil()
	} else if err := enc.Encode(f.Err); err != nil {
		return err
	}
	return enc.EncodeBytes(f.Body)
}

// decodeFrame reads what encodeFrame writes, as msgpack's decoding of the
// struct from an array would: missing trailing fields stay zero and extra
// ones are skipped.
func decodeFrame(b []byte, f *Frame) error {
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(bytes.NewReader(b))
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n < 0 {
		return errors.New("nil frame")
	}
	for i := 0; i < n && err == nil; i++ {
		switch i {
		case 0:
			var t uint8
			t, err = dec.DecodeUint8()
			f.Type = FrameType(t)
		case 1:
			f.ID, err = dec.DecodeUint64()
		case 2:
			f.Method, err = dec.DecodeString()
		case 3:
			f.TimeoutMillis, err = dec.DecodeInt64()
		case 4:
			f.Seq, err = dec.DecodeUint64()
		case 5:
			f.AckBelow, err = dec.DecodeUint64()
		case 6:
			f.More, err = dec.DecodeBool()
		case 7:
			var c byte
			if c, err = dec.PeekCode(); err == nil && c == msgpcode.Nil {
				err = dec.DecodeNil()
			} else if err == nil {
				f.Err = new(Error)
				err = dec.Decode(f.Err)
			}
		case 8:
			f.Body, err = dec.DecodeBytes()
		default:
			err = dec.Skip()
		}
	}
	return err
}

// WriteQueued writes the encoded frames sent on queue to w until done is
// closed (it then returns nil) or a write fails (it returns the error).
// Frames queued together share one write: after the first it takes
// whatever else is queued, yields once so that senders about to queue can
// join, and only then flushes.
func WriteQueued(w io.Writer, queue <-chan []byte, done <-chan struct{}) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	for {
		select {
		case b := <-queue:
			if _, err := bw.Write(b); err != nil {
				return err
			}
			for yielded := false; ; {
				select {
				case b := <-queue:
					if _, err := bw.Write(b); err != nil {
						return err
					}
					continue
				default:
				}
				if yielded {
					break
				}
				yielded = true
				runtime.Gosched()
			}
			if err := bw.Flush(); err != nil {
				return err
			}
		case <-done:
			return nil
		}
	}
}

// Marshal encodes a message body.
func Marshal(v any) ([]byte, error) { return msgpack.Marshal(v) }

// Unmarshal decodes a message body.
func Unmarshal(b []byte, v any) error { return msgpack.Unmarshal(b, v) }
