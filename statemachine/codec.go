package statemachine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// The log format of commands.
//
// Version 1: the byte 1, then a msgpack map of the non-zero fields of the
// Command:
//
//	"cid" ClientID (uint)   "seq" Seq (uint)   "ack" AckBelow (uint)
//	"t"   Time (int)        "snt" Sent (int)   "op"  Op (str)
//	"b"   Body (bin: the msgpack of the op's request)
//
// Commands of the legacy format (a msgpack map of one field per
// operation, whose first byte is never 1) are still decoded, see
// legacy.go. A new format gets a new version byte; the decoders of the
// older ones stay.

// commandVersion is the first byte of an encoded command of the current
// log format.
const commandVersion = 1

// errBadCommand is wrapped by the errors of DecodeCommand for a command
// of the current format that does not decode.
var errBadCommand = errors.New("statemachine: malformed command")

// encodeBufs are EncodeCommand's scratch buffers.
var encodeBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// EncodeCommand encodes a command for proposal (log format version 1):
// its body is c.Body, or else the encoding of the request given to
// NewCommand or Set, written in place.
func EncodeCommand(c *Command) ([]byte, error) {
	buf := encodeBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 64<<10 {
			encodeBufs.Put(buf)
		}
	}()
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(buf)

	hasBody := c.Body != nil || c.req != nil
	n := 0
	for _, set := range [...]bool{c.ClientID != 0, c.Seq != 0, c.AckBelow != 0, c.Time != 0, c.Sent != 0, c.Op != "", hasBody} {
		if set {
			n++
		}
	}
	buf.WriteByte(commandVersion)
	_ = enc.EncodeMapLen(n) // writes to a bytes.Buffer do not fail
	uintField := func(key string, v uint64) {
		if v != 0 {
			_ = enc.EncodeString(key)
			_ = enc.EncodeUint(v)
		}
	}
	intField := func(key string, v int64) {
		if v != 0 {
			_ = enc.EncodeString(key)
			_ = enc.EncodeInt(v)
		}
	}
	uintField("cid", c.ClientID)
	uintField("seq", c.Seq)
	uintField("ack", c.AckBelow)
	intField("t", c.Time)
	intField("snt", c.Sent)
	if c.Op != "" {
		_ = enc.EncodeString("op")
		_ = enc.EncodeString(c.Op)
	}
	if hasBody {
		_ = enc.EncodeString("b")
		if c.Body != nil {
			_ = enc.EncodeBytes(c.Body)
		} else {
			// The request goes straight into the command: a bin32 header
			// whose length is set once the request is written.
			at := buf.Len()
			buf.Write([]byte{0xc6, 0, 0, 0, 0})
			if err := enc.Encode(c.req); err != nil {
				return nil, fmt.Errorf("statemachine: encode the request of op %s: %w", c.Op, err)
			}
			size := buf.Len() - at - 5
			if size > math.MaxUint32 {
				return nil, fmt.Errorf("statemachine: the request of op %s is too large (%d bytes)", c.Op, size)
			}
			binary.BigEndian.PutUint32(buf.Bytes()[at+1:], uint32(size))
		}
	}
	return bytes.Clone(buf.Bytes()), nil
}

// DecodeCommand decodes a proposed command, of the current format or the
// legacy one, and its request if its op is known (Request). Its Body
// aliases b; the request does not. An unknown op is not an error here
// (applying it is a user error).
func DecodeCommand(b []byte) (*Command, error) {
	if len(b) == 0 || b[0] != commandVersion {
		return decodeLegacy(b)
	}
	c, err := decodeV1(b[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadCommand, err)
	}
	if op, ok := ops[c.Op]; ok {
		c.Op = op.name // no copy of the name per command
		req, err := op.decode(c.Body)
		if err != nil {
			return nil, fmt.Errorf("%w: the body of op %s: %v", errBadCommand, c.Op, err)
		}
		c.req = req
	}
	return c, nil
}

// decodeV1 decodes the envelope of a command of format version 1 (after
// the version byte).
func decodeV1(b []byte) (*Command, error) {
	p := mpReader{b: b}
	n, err := p.mapLen()
	if err != nil {
		return nil, err
	}
	c := &Command{}
	for i := 0; i < n; i++ {
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		switch string(key) {
		case "cid":
			c.ClientID, err = p.uint()
		case "seq":
			c.Seq, err = p.uint()
		case "ack":
			c.AckBelow, err = p.uint()
		case "t":
			c.Time, err = p.int()
		case "snt":
			c.Sent, err = p.int()
		case "op":
			var op []byte
			if op, err = p.str(); err == nil {
				if e, ok := ops[string(op)]; ok {
					c.Op = e.name
				} else {
					c.Op = string(op)
				}
			}
		case "b":
			c.Body, err = p.bin()
		default:
			err = fmt.Errorf("unknown field %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(p.b) != 0 {
		return nil, fmt.Errorf("%d bytes after the command", len(p.b))
	}
	return c, nil
}

// mpReader reads the msgpack values of a command's envelope from b.
type mpReader struct{ b []byte }

var errShort = errors.New("truncated")

func (r *mpReader) next(n int) ([]byte, error) {
	if n < 0 || n > len(r.b) {
		return nil, errShort
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v, nil
}

func (r *mpReader) byte() (byte, error) {
	v, err := r.next(1)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// length reads a big-endian length of size 1, 2 or 4 bytes.
func (r *mpReader) length(size int) (int, error) {
	v, err := r.next(size)
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return int(v[0]), nil
	case 2:
		return int(binary.BigEndian.Uint16(v)), nil
	default:
		n := binary.BigEndian.Uint32(v)
		if uint64(n) > uint64(len(r.b)) {
			return 0, errShort
		}
		return int(n), nil
	}
}

func (r *mpReader) mapLen() (int, error) {
	c, err := r.byte()
	switch {
	case err != nil:
		return 0, err
	case c >= 0x80 && c <= 0x8f:
		return int(c & 0x0f), nil
	case c == 0xde:
		return r.length(2)
	case c == 0xdf:
		return r.length(4)
	}
	return 0, fmt.Errorf("not a map (0x%02x)", c)
}

func (r *mpReader) str() ([]byte, error) {
	c, err := r.byte()
	if err != nil {
		return nil, err
	}
	var n int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n = int(c & 0x1f)
	case c == 0xd9:
		n, err = r.length(1)
	case c == 0xda:
		n, err = r.length(2)
	case c == 0xdb:
		n, err = r.length(4)
	default:
		return nil, fmt.Errorf("not a string (0x%02x)", c)
	}
	if err != nil {
		return nil, err
	}
	return r.next(n)
}

func (r *mpReader) bin() ([]byte, error) {
	c, err := r.byte()
	if err != nil {
		return nil, err
	}
	var n int
	switch c {
	case 0xc4:
		n, err = r.length(1)
	case 0xc5:
		n, err = r.length(2)
	case 0xc6:
		n, err = r.length(4)
	default:
		return nil, fmt.Errorf("not bytes (0x%02x)", c)
	}
	if err != nil {
		return nil, err
	}
	return r.next(n)
}

// number reads any msgpack integer: its value as uint64 bits and whether
// it is negative.
func (r *mpReader) number() (uint64, bool, error) {
	c, err := r.byte()
	if err != nil {
		return 0, false, err
	}
	switch {
	case c <= 0x7f:
		return uint64(c), false, nil
	case c >= 0xe0:
		return uint64(int64(int8(c))), true, nil
	}
	var size int
	switch c {
	case 0xcc, 0xd0:
		size = 1
	case 0xcd, 0xd1:
		size = 2
	case 0xce, 0xd2:
		size = 4
	case 0xcf, 0xd3:
		size = 8
	default:
		return 0, false, fmt.Errorf("not an integer (0x%02x)", c)
	}
	v, err := r.next(size)
	if err != nil {
		return 0, false, err
	}
	var u uint64
	for _, x := range v {
		u = u<<8 | uint64(x)
	}
	if c >= 0xd0 { // signed: extend
		shift := 64 - 8*uint(size)
		s := int64(u<<shift) >> shift
		return uint64(s), s < 0, nil
	}
	return u, false, nil
}

func (r *mpReader) uint() (uint64, error) {
	v, neg, err := r.number()
	if err == nil && neg {
		err = fmt.Errorf("negative %d where an unsigned integer belongs", int64(v))
	}
	return v, err
}

func (r *mpReader) int() (int64, error) {
	v, neg, err := r.number()
	if err == nil && !neg && v > math.MaxInt64 {
		err = fmt.Errorf("%d is out of range", v)
	}
	return int64(v), err
}

// bodyDecoders are the decoders of requests, each with its reader.
var bodyDecoders = sync.Pool{New: func() any {
	r := bytes.NewReader(nil)
	return &bodyDecoder{dec: msgpack.NewDecoder(r), r: r}
}}

type bodyDecoder struct {
	dec *msgpack.Decoder
	r   *bytes.Reader
}

// unmarshalBody decodes a request's body into v, as msgpack.Unmarshal
// would, with a pooled decoder.
func unmarshalBody(body []byte, v any) error {
	d := bodyDecoders.Get().(*bodyDecoder)
	d.r.Reset(body)
	d.dec.Reset(d.r)
	d.dec.UsePreallocateValues(true)
	err := d.dec.Decode(v)
	d.r.Reset(nil)
	bodyDecoders.Put(d)
	return err
}
