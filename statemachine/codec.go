package statemachine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/coord-io/coord/coord/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// The log format of commands.
//
// Version 2 (current): the byte 2, a flags byte, then the fields the
// flags mark, in this order:
//
//	0x01 ClientID  8 bytes, little-endian (client IDs are random)
//	0x02 Seq       uvarint
//	0x04 AckBelow  uvarint of Seq − AckBelow (mod 2⁶⁴; small: the
//	               client's writes in flight)
//	0x08 Time      varint (zigzag)
//	0x10 Sent      varint of Time − Sent (mod 2⁶⁴; small: the age of
//	               the write when it was proposed)
//	0x20 Op        uvarint: its number (opnumbers.go)
//	0x40 Op        uvarint length, then the name (an op without number)
//	0x80 Body      the rest of the command (the msgpack of the request)
//
// A field that is zero is left out (and its flag clear); 0x20 and 0x40
// exclude each other. Every value decodes back exactly: the deltas are
// taken modulo 2⁶⁴.
//
// Version 1: the byte 1, then a msgpack map of the non-zero fields of the
// Command:
//
//	"cid" ClientID (uint)   "seq" Seq (uint)   "ack" AckBelow (uint)
//	"t"   Time (int)        "snt" Sent (int)   "op"  Op (str)
//	"b"   Body (bin: the msgpack of the op's request)
//
// Commands of the legacy format (a msgpack map of one field per
// operation, whose first byte is never 1 or 2) are still decoded, see
// legacy.go. A new format gets a new version byte; the decoders of the
// older ones stay (logs and snapshots' exactly-once records of earlier
// builds hold them), so members of this build apply any log. Members of
// an earlier build cannot apply commands of a later format (they answer
// them CodeInvalid while the others apply them): upgrade every member
// of a cluster together, not one at a time.

// commandVersion is the first byte of an encoded command of the current
// log format; commandV1 that of format version 1.
const (
	commandVersion = 2
	commandV1      = 1
)

// The flags of a command of format version 2: which fields follow.
const (
	flagClient = 1 << iota
	flagSeq
	flagAck
	flagTime
	flagSent
	flagOpNumber
	flagOpName
	flagBody
)

// errBadCommand is wrapped by the errors of DecodeCommand for a command
// of the current format that does not decode.
var errBadCommand = errors.New("statemachine: malformed command")

// encodeBufs are EncodeCommand's scratch buffers.
var encodeBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// EncodeCommand encodes a command for proposal (log format version 2):
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
	var scratch [binary.MaxVarintLen64]byte
	uvarint := func(v uint64) { buf.Write(binary.AppendUvarint(scratch[:0], v)) }
	varint := func(v int64) { buf.Write(binary.AppendVarint(scratch[:0], v)) }

	var flags byte
	buf.WriteByte(commandVersion)
	buf.WriteByte(0) // the flags, set below
	if c.ClientID != 0 {
		flags |= flagClient
		buf.Write(binary.LittleEndian.AppendUint64(scratch[:0], c.ClientID))
	}
	if c.Seq != 0 {
		flags |= flagSeq
		uvarint(c.Seq)
	}
	if c.AckBelow != 0 {
		flags |= flagAck
		uvarint(c.Seq - c.AckBelow)
	}
	if c.Time != 0 {
		flags |= flagTime
		varint(c.Time)
	}
	if c.Sent != 0 {
		flags |= flagSent
		varint(c.Time - c.Sent)
	}
	if c.Op != "" {
		if n, ok := opNumber[c.Op]; ok {
			flags |= flagOpNumber
			uvarint(n)
		} else {
			flags |= flagOpName
			uvarint(uint64(len(c.Op)))
			buf.WriteString(c.Op)
		}
	}
	switch {
	case c.Body != nil:
		flags |= flagBody
		buf.Write(c.Body)
	case c.req != nil:
		// The request goes straight into the command, its last field.
		flags |= flagBody
		enc := msgpack.GetEncoder()
		enc.Reset(buf)
		err := enc.Encode(c.req)
		msgpack.PutEncoder(enc)
		if err != nil {
			return nil, fmt.Errorf("statemachine: encode the request of op %s: %w", c.Op, err)
		}
	}
	buf.Bytes()[1] = flags
	return bytes.Clone(buf.Bytes()), nil
}

// DecodeCommand decodes a proposed command, of the current format or an
// earlier one, and its request if its op is known (Request). Its Body
// aliases b; the request does not. An unknown op is not an error here
// (applying it is a user error).
func DecodeCommand(b []byte) (*Command, error) {
	var c *Command
	var err error
	switch {
	case len(b) > 0 && b[0] == commandVersion:
		c, err = decodeV2(b[1:])
	case len(b) > 0 && b[0] == commandV1:
		c, err = decodeV1(b[1:])
	default:
		return decodeLegacy(b)
	}
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

// decodeV2 decodes the envelope of a command of format version 2 (after
// the version byte).
func decodeV2(b []byte) (*Command, error) {
	if len(b) == 0 {
		return nil, errShort
	}
	flags := b[0]
	b = b[1:]
	if flags&flagOpNumber != 0 && flags&flagOpName != 0 {
		return nil, errors.New("both an op number and an op name")
	}
	var err error
	uvarint := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			err = errShort
			return 0
		}
		b = b[n:]
		return v
	}
	varint := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			err = errShort
			return 0
		}
		b = b[n:]
		return v
	}
	c := &Command{}
	if flags&flagClient != 0 {
		if len(b) < 8 {
			return nil, errShort
		}
		c.ClientID = binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	if flags&flagSeq != 0 {
		c.Seq = uvarint()
	}
	if flags&flagAck != 0 && err == nil {
		c.AckBelow = c.Seq - uvarint()
	}
	if flags&flagTime != 0 && err == nil {
		c.Time = varint()
	}
	if flags&flagSent != 0 && err == nil {
		c.Sent = c.Time - varint()
	}
	if flags&flagOpNumber != 0 && err == nil {
		if n := uvarint(); err == nil {
			c.Op = opNameOf(n)
		}
	}
	if flags&flagOpName != 0 && err == nil {
		n := uvarint()
		if err == nil && n > uint64(len(b)) {
			err = errShort
		}
		if err == nil {
			if e, ok := ops[string(b[:n])]; ok {
				c.Op = e.name
			} else {
				c.Op = string(b[:n])
			}
			b = b[n:]
		}
	}
	if err != nil {
		return nil, err
	}
	if flags&flagBody != 0 {
		c.Body, b = b[:len(b):len(b)], nil
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d bytes after the command", len(b))
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

// unmarshalBody decodes a request's body into v, as wire.Unmarshal
// would (refusing what wire.CheckEncoding refuses), with a pooled decoder.
func unmarshalBody(body []byte, v any) error {
	if err := wire.CheckEncoding(body); err != nil {
		return err
	}
	d := bodyDecoders.Get().(*bodyDecoder)
	d.r.Reset(body)
	d.dec.Reset(d.r)
	d.dec.UsePreallocateValues(true)
	err := d.dec.Decode(v)
	d.r.Reset(nil)
	bodyDecoders.Put(d)
	return err
}
