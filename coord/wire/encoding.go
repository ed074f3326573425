package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrMalformed is what Unmarshal and DecodeFrame return for bytes that are
// not one well-formed msgpack value: truncated, a reserved code, a string,
// array or map claiming more than the input holds, or nesting deeper than
// maxNesting.
var ErrMalformed = errors.New("wire: malformed encoding")

// maxNesting bounds how deep arrays and maps may nest in a message. The
// deepest message Coord writes (a transaction nesting others) is far
// shallower; msgpack decodes nesting by recursion.
const maxNesting = 100

// CheckEncoding reports (ErrMalformed) whether b does not begin with one
// well-formed msgpack value whose every length fits in b. It allocates
// nothing and reads each byte at most once.
//
// msgpack (v5.4.1) allocates toward a length before it finds the input
// short of it: a slice of structs in full, a string or byte string a
// megabyte at a time into a pooled decoder that keeps the buffer. So ten
// bytes from a client could claim gigabytes. Every message a member or
// client decodes from the network is checked first.
func CheckEncoding(b []byte) error { return checkEncoding(b, math.MaxInt) }

// MaxRequestItems bounds the elements of any one array or map in a
// request a member decodes (UnmarshalRequest). Within a body's bytes an
// array of that many empty elements still costs msgpack one element of
// the target type per byte, over a hundred times the body; the largest
// array in a valid request is a keep-alive's lease IDs (10,000 by
// default) or an enqueue's values (10,000), and a member's configuration
// may not allow more than this.
const MaxRequestItems = 1 << 16

// UnmarshalRequest decodes a request body as Unmarshal does, also refusing
// (ErrMalformed) an array or map of more than MaxRequestItems elements.
func UnmarshalRequest(b []byte, v any) error {
	if err := checkEncoding(b, MaxRequestItems); err != nil {
		return err
	}
	return msgpack.Unmarshal(b, v)
}

// checkEncoding is CheckEncoding with arrays and maps of at most maxItems
// elements (fixarray and fixmap, at most 15, are not checked).
func checkEncoding(b []byte, maxItems int) error {
	// open[d] counts the values still to read in the container at depth d;
	// depth 0 is the top level, which holds one value.
	var open [maxNesting + 1]int
	depth := 0
	open[0] = 1
	p := 0
	for {
		for open[depth] == 0 {
			if depth == 0 {
				return nil
			}
			depth--
		}
		open[depth]--
		if p >= len(b) {
			return fmt.Errorf("%w: %d bytes end inside a value", ErrMalformed, len(b))
		}
		c := b[p]
		p++
		size, items, lenBytes := 0, 0, 0 // payload bytes, contained values, length-field bytes
		switch {
		case c <= 0x7f, c >= 0xe0: // positive and negative fixint
		case c <= 0x8f: // fixmap
			items = 2 * int(c&0x0f)
		case c <= 0x9f: // fixarray
			items = int(c & 0x0f)
		case c <= 0xbf: // fixstr
			size = int(c & 0x1f)
		default:
			switch c {
			case 0xc0, 0xc2, 0xc3: // nil, false, true
			case 0xc4, 0xd9: // bin8, str8
				lenBytes = 1
			case 0xc5, 0xda: // bin16, str16
				lenBytes = 2
			case 0xc6, 0xdb: // bin32, str32
				lenBytes = 4
			case 0xc7, 0xc8, 0xc9: // ext8, ext16, ext32: the length, then a type byte
				lenBytes = 1 << (c - 0xc7)
				size = 1
			case 0xca, 0xce, 0xd2: // float32, uint32, int32
				size = 4
			case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
				size = 8
			case 0xcc, 0xd0: // uint8, int8
				size = 1
			case 0xcd, 0xd1: // uint16, int16
				size = 2
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16, after a type byte
				size = 1 + 1<<(c-0xd4)
			case 0xdc, 0xde: // array16, map16
				lenBytes = 2
			case 0xdd, 0xdf: // array32, map32
				lenBytes = 4
			default: // 0xc1 is never used
				return fmt.Errorf("%w: reserved code 0x%x at byte %d", ErrMalformed, c, p-1)
			}
		}
		if lenBytes > 0 {
			if len(b)-p < lenBytes {
				return fmt.Errorf("%w: %d bytes end inside a length", ErrMalformed, len(b))
			}
			var n uint64
			switch lenBytes {
			case 1:
				n = uint64(b[p])
			case 2:
				n = uint64(binary.BigEndian.Uint16(b[p:]))
			default:
				n = uint64(binary.BigEndian.Uint32(b[p:]))
			}
			p += lenBytes
			// Bounded as uint64 first, so that int(n) is exact on 32-bit
			// too; the checks below then compare it with what is left.
			if n > uint64(len(b)-p) {
				return fmt.Errorf("%w: a length of %d at byte %d of %d", ErrMalformed, n, p, len(b))
			}
			switch c {
			case 0xdc, 0xdd, 0xde, 0xdf:
				if int(n) > maxItems {
					return fmt.Errorf("%w: %d elements at byte %d, over the limit of %d", ErrMalformed, n, p, maxItems)
				}
				items = int(n)
				if c >= 0xde {
					items *= 2 // a key and a value each
				}
			default:
				size += int(n)
			}
		}
		if size > len(b)-p {
			return fmt.Errorf("%w: a value of %d bytes at byte %d of %d", ErrMalformed, size, p, len(b))
		}
		p += size
		if items > 0 {
			// Every value takes at least one byte.
			if items > len(b)-p {
				return fmt.Errorf("%w: %d values claimed at byte %d of %d", ErrMalformed, items, p, len(b))
			}
			if depth == maxNesting {
				return fmt.Errorf("%w: nested deeper than %d", ErrMalformed, maxNesting)
			}
			depth++
			open[depth] = items
		}
	}
}
