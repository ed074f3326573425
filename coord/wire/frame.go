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
	// AgeMillis, on a write, is how long before sending this frame the
	// client first sent the write (0 on the first attempt): a duration on
	// the client's clock, which the server turns into a time on its own
	// (statemachine.Command.Sent) to refuse retries too old for the
	// exactly-once records.
	AgeMillis int64
}

// Hello is the body of the first frame a client sends.
type Hello struct {
	Magic    string `msgpack:"magic"`
	Version  int    `msgpack:"v"`
	ClientID uint64 `msgpack:"cid"`
	// User names the client's user, authenticated by Password or by
	// Token (from MethodAuthenticate on the same member); "" for none
	// (with client-certificate auth on, the certificate's common name is
	// the user). When a user is named the member binds the exactly-once
	// client ID to it: two users never share one.
	User     string `msgpack:"u,omitempty"`
	Password string `msgpack:"pw,omitempty"`
	Token    string `msgpack:"tok,omitempty"`
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
	// User is the user the connection is bound to ("" for none).
	User string `msgpack:"u,omitempty"`
}

// Protocol constants.
const (
	Magic           = "coord"
	ProtocolVersion = 1
	// DefaultMaxFrameSize bounds a frame read by either side unless
	// configured otherwise.
	DefaultMaxFrameSize = 4 << 20
	// MaxResponseFrameSize is the largest frame a client reads: a server
	// never sends a larger one (it answers CodeTooLarge instead), and
	// pages responses well below it.
	MaxResponseFrameSize = 2 * DefaultMaxFrameSize
)

// ErrFrameTooLarge is returned by a FrameReader for a frame over its limit;
// the connection must then be closed.
var ErrFrameTooLarge = errors.New("wire: frame too large")

// FrameReader reads frames from a stream. It never allocates more than
// has arrived (plus one chunk): a frame's buffer grows as its bytes come
// in, so a peer that declares a large frame and sends little costs little.
type FrameReader struct {
	r    *bufio.Reader
	max  int
	hdr  [4]byte
	skip bool // see SkipOversized
}

// frameChunk is the most a FrameReader allocates ahead of the bytes that
// arrived; a frame up to this size is read into one buffer of its size.
const frameChunk = 64 << 10

// NewFrameReader returns a reader that refuses frames larger than max bytes.
func NewFrameReader(r io.Reader, max int) *FrameReader {
	if max <= 0 {
		max = DefaultMaxFrameSize
	}
	return &FrameReader{r: bufio.NewReaderSize(r, frameChunk), max: max}
}

// Wait blocks until the first byte of the next frame has arrived, without
// consuming it. It lets a server tell an idle peer (no byte within its idle
// timeout) from a slow one (a frame begun and not finished in time). After
// an error, such as a read deadline passing, Wait may be called again.
func (fr *FrameReader) Wait() error {
	_, err := fr.r.Peek(1)
	return err
}

// Buffered reports whether the whole next frame has arrived already, so
// that Read will not read from the stream (an oversized frame, which Read
// refuses at once, counts as arrived).
func (fr *FrameReader) Buffered() bool {
	n := fr.r.Buffered()
	if n < 4 {
		return false
	}
	hdr, _ := fr.r.Peek(4)
	size := int64(binary.BigEndian.Uint32(hdr))
	return size > int64(fr.max) || int64(n) >= 4+size
}

// Read reads the next frame. Any error leaves the stream unusable.
func (fr *FrameReader) Read(f *Frame) error {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(fr.hdr[:])
	if int64(n) > int64(fr.max) {
		if fr.skip {
			return fr.skipFrame(n)
		}
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, fr.max)
	}
	buf, err := fr.readPayload(int(n))
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return DecodeFrame(buf, f)
}

// readPayload reads n bytes, growing its buffer (by doubling, from one
// chunk) only as they arrive.
func (fr *FrameReader) readPayload(n int) ([]byte, error) {
	buf := make([]byte, min(n, frameChunk))
	got := 0
	for {
		m, err := io.ReadFull(fr.r, buf[got:])
		got += m
		if err != nil {
			return nil, err
		}
		if got == n {
			return buf, nil
		}
		grown := make([]byte, min(n, 2*len(buf)))
		copy(grown, buf[:got])
		buf = grown
	}
}

// SkipOversized makes Read pass over a frame larger than its limit instead
// of failing the stream: it reads the frame's head to learn its type and
// call ID, discards the rest without keeping it, and returns a
// *OversizedFrameError; the stream stays usable. A client uses it so that
// a response it cannot take fails only its own call.
func (fr *FrameReader) SkipOversized() { fr.skip = true }

// OversizedFrameError is what Read returns, with SkipOversized, for a frame
// over the limit that it passed over. It wraps ErrFrameTooLarge.
type OversizedFrameError struct {
	Type  FrameType
	ID    uint64 // the frame's call ID (0 if its head could not be read)
	Size  int    // the frame's declared size
	Limit int    // the reader's limit
}

func (e *OversizedFrameError) Error() string {
	return fmt.Sprintf("wire: frame of %d bytes for call %d is over the limit of %d bytes", e.Size, e.ID, e.Limit)
}

func (e *OversizedFrameError) Unwrap() error { return ErrFrameTooLarge }

// frameHead is how much of an oversized frame skipFrame decodes: the array
// header, the type and the ID fit in it.
const frameHead = 16

func (fr *FrameReader) skipFrame(n uint32) error {
	head := make([]byte, min(int(n), frameHead))
	if _, err := io.ReadFull(fr.r, head); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	var f Frame
	_ = decodeFrame(head, &f) // a truncated frame: its first fields are enough
	if _, err := io.CopyN(io.Discard, fr.r, int64(n)-int64(len(head))); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return &OversizedFrameError{Type: f.Type, ID: f.ID, Size: int(n), Limit: fr.max}
}

// DecodeFrame decodes the payload of one frame (without its length prefix).
func DecodeFrame(b []byte, f *Frame) error {
	*f = Frame{}
	if err := CheckEncoding(b); err != nil {
		return err
	}
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
const frameFields = 10

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
	if err := enc.EncodeBytes(f.Body); err != nil {
		return err
	}
	return enc.EncodeInt(f.AgeMillis)
}

// decodeFrame reads what encodeFrame writes, as msgpack's decoding of the
// struct from an array would: missing trailing fields stay zero and extra
// ones are skipped.
func decodeFrame(b []byte, f *Frame) (err error) {
	dec := msgpack.GetDecoder()
	dec.Reset(bytes.NewReader(b))
	defer func() {
		// A decoder that failed may have grown its buffer toward a length
		// the input claimed but did not hold (skipFrame decodes a frame's
		// head unchecked): it is not pooled again.
		if err == nil {
			msgpack.PutDecoder(dec)
		}
	}()
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
		case 9:
			f.AgeMillis, err = dec.DecodeInt64()
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

// Unmarshal decodes a message body. It refuses (ErrMalformed) a body
// whose encoding claims more than it holds before msgpack sees it
// (CheckEncoding).
func Unmarshal(b []byte, v any) error {
	if err := CheckEncoding(b); err != nil {
		return err
	}
	return msgpack.Unmarshal(b, v)
}
