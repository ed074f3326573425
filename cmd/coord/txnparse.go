package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// The txn text format is etcdctl's: compares one per line, a blank line,
// the success operations one per line, a blank line, the failure
// operations one per line (then a blank line or the end of input).
//
//	value("k") = "v"
//	mod("k") < "9"
//
//	put k "new value"
//
//	get k
//
// Compare lines are TARGET("KEY") REL "VALUE" with TARGET one of value
// (val), version (ver), create (c), mod (m) or lease (a hex ID), REL one of
// =, !=, > and <. The key is a Go-quoted string; the value may be quoted
// or bare. Operation lines are put KEY VALUE [--prev-kv], get KEY
// [RANGE_END] [--prefix|--from-key] [--limit N] [--rev R] [--keys-only]
// [--count-only] and del KEY [RANGE_END] [--prefix|--from-key] [--prev-kv],
// words separated by spaces, quoted with Go escapes when needed.

type opKind uint8

const (
	opGet opKind = iota + 1
	opPut
	opDel
)

// txnOp is one parsed operation line.
type txnOp struct {
	kind      opKind
	key       string
	value     string // put
	end       string // explicit RANGE_END (get, del)
	prefix    bool
	fromKey   bool
	prevKV    bool  // put, del
	lease     int64 // put
	limit     int64 // get
	rev       int64 // get
	keysOnly  bool  // get
	countOnly bool  // get
}

// txnSpec is a parsed transaction.
type txnSpec struct {
	compares []wire.Compare
	success  []txnOp
	failure  []txnOp
}

// Section prompts for interactive mode, as etcdctl prints them.
var txnPrompts = [3]string{
	"compares:",
	"success requests (get, put, del):",
	"failure requests (get, put, del):",
}

// parseTxn reads a whole transaction in the txn text format from r.
// Errors name the line they are on.
func parseTxn(r io.Reader) (*txnSpec, error) {
	return parseTxnInteractive(r, nil)
}

// parseTxnInteractive is parseTxn that calls prompt at the start of each
// section when prompt is non-nil; it then stops reading at the blank line
// that ends the failure section instead of at the end of input.
func parseTxnInteractive(r io.Reader, prompt func(string)) (*txnSpec, error) {
	br := bufio.NewReader(r)
	spec := &txnSpec{}
	section := 0
	if prompt != nil {
		prompt(txnPrompts[0])
	}
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("reading transaction: %w", err)
		}
		if line == "" && err != nil {
			return spec, nil
		}
		text := strings.TrimSpace(line)
		switch {
		case text == "":
			section++
			if section == 3 && prompt != nil {
				return spec, nil
			}
			if section < 3 && prompt != nil {
				prompt(txnPrompts[section])
			}
		case section == 0:
			c, perr := parseCompare(text)
			if perr != nil {
				return nil, fmt.Errorf("line %d: %v", lineNo, perr)
			}
			spec.compares = append(spec.compares, c)
		case section == 1 || section == 2:
			op, perr := parseTxnOp(text)
			if perr != nil {
				return nil, fmt.Errorf("line %d: %v", lineNo, perr)
			}
			if section == 1 {
				spec.success = append(spec.success, op)
			} else {
				spec.failure = append(spec.failure, op)
			}
		default:
			return nil, fmt.Errorf("line %d: unexpected text after the failure operations (a transaction is compares, blank line, success ops, blank line, failure ops)", lineNo)
		}
		if err != nil { // EOF after a last line without newline
			return spec, nil
		}
	}
}

// parseCompare parses `target("key") rel value`.
func parseCompare(s string) (wire.Compare, error) {
	var zero wire.Compare
	open := strings.IndexByte(s, '(')
	if open < 0 {
		return zero, fmt.Errorf("malformed compare %q: want TARGET(\"KEY\") REL VALUE, as in value(\"k\") = \"v\"", s)
	}
	target := strings.ToLower(strings.TrimSpace(s[:open]))
	rest := strings.TrimLeft(s[open+1:], " \t")
	key, rest, err := quotedPrefix(rest)
	if err != nil {
		return zero, fmt.Errorf("compare: the key must be a quoted string, as in %s(\"k\"): %v", target, err)
	}
	rest = strings.TrimLeft(rest, " \t")
	if !strings.HasPrefix(rest, ")") {
		return zero, fmt.Errorf("compare: missing ')' after the key %q", key)
	}
	rest = strings.TrimLeft(rest[1:], " \t")
	var rel string
	for _, r := range []string{"!=", "==", "=", ">", "<"} {
		if strings.HasPrefix(rest, r) {
			rel = r
			break
		}
	}
	if rel == "" {
		return zero, fmt.Errorf("compare: missing relation after %s(%q): want =, !=, > or <", target, key)
	}
	rest = strings.TrimLeft(rest[len(rel):], " \t")
	var val string
	if strings.HasPrefix(rest, "\"") || strings.HasPrefix(rest, "`") {
		val, rest, err = quotedPrefix(rest)
		if err != nil {
			return zero, fmt.Errorf("compare: bad value: %v", err)
		}
		if strings.TrimSpace(rest) != "" {
			return zero, fmt.Errorf("compare: unexpected %q after the value", strings.TrimSpace(rest))
		}
	} else {
		val = strings.TrimSpace(rest)
		if val == "" {
			return zero, fmt.Errorf("compare: missing value after %q", rel)
		}
		if strings.ContainsAny(val, " \t") {
			return zero, fmt.Errorf("compare: value %q has spaces: quote it", val)
		}
	}

	var cmp coord.Cmp
	switch target {
	case "value", "val":
		return coord.Compare(coord.Value(key), rel, val), nil
	case "version", "ver":
		cmp = coord.Version(key)
	case "create", "c":
		cmp = coord.CreateRevision(key)
	case "mod", "m":
		cmp = coord.ModRevision(key)
	case "lease":
		id, err := parseLeaseID(val)
		if err != nil {
			return zero, fmt.Errorf("compare: bad lease ID %q: want a hex lease ID", val)
		}
		return coord.Compare(coord.LeaseValue(key), rel, id), nil
	default:
		return zero, fmt.Errorf("compare: unknown target %q (want value, version, create, mod or lease)", target)
	}
	n, err := strconv.ParseInt(val, 10, 64)
	if err != nil {
		return zero, fmt.Errorf("compare: %s needs an integer, got %q", target, val)
	}
	return coord.Compare(cmp, rel, n), nil
}

// parseLeaseID parses a lease ID in hex, as the CLI prints them.
func parseLeaseID(s string) (int64, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	u, err := strconv.ParseUint(s, 16, 64)
	return int64(u), err
}

// quotedPrefix reads a Go-quoted string ("..." or `...`) at the start of s
// and returns it unquoted and the rest of s.
func quotedPrefix(s string) (string, string, error) {
	if s == "" || (s[0] != '"' && s[0] != '`') {
		return "", s, errors.New("expected a quoted string")
	}
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", s, errors.New("unterminated or malformed quoted string")
	}
	u, err := strconv.Unquote(q)
	if err != nil {
		return "", s, errors.New("malformed quoted string")
	}
	return u, s[len(q):], nil
}

type word struct {
	text   string
	quoted bool
}

// splitWords splits an operation line into words: runs of non-space, or
// Go-quoted strings.
func splitWords(s string) ([]word, error) {
	var words []word
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return words, nil
		}
		if s[0] == '"' || s[0] == '`' {
			u, rest, err := quotedPrefix(s)
			if err != nil {
				return nil, err
			}
			if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
				return nil, fmt.Errorf("missing space after the quoted string %q", u)
			}
			words = append(words, word{u, true})
			s = rest
			continue
		}
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			i = len(s)
		}
		words = append(words, word{s[:i], false})
		s = s[i:]
	}
}

// parseTxnOp parses one operation line.
func parseTxnOp(s string) (txnOp, error) {
	var op txnOp
	words, err := splitWords(s)
	if err != nil {
		return op, err
	}
	if len(words) == 0 {
		return op, errors.New("empty operation")
	}
	name := words[0].text
	switch {
	case words[0].quoted:
		return op, fmt.Errorf("unknown operation %q (want put, get or del)", name)
	case name == "put":
		op.kind = opPut
	case name == "get":
		op.kind = opGet
	case name == "del" || name == "delete":
		op.kind = opDel
	default:
		return op, fmt.Errorf("unknown operation %q (want put, get or del)", name)
	}

	var args []string
	for i := 1; i < len(words); i++ {
		w := words[i]
		if w.quoted || !isFlagArg(w.text) {
			args = append(args, w.text)
			continue
		}
		flag, val, hasVal := strings.Cut(strings.TrimLeft(w.text, "-"), "=")
		needInt := func() (int64, error) {
			if !hasVal {
				if i+1 >= len(words) {
					return 0, fmt.Errorf("%s: flag --%s needs a value", name, flag)
				}
				i++
				val = words[i].text
			}
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("%s: --%s needs a non-negative integer, got %q", name, flag, val)
			}
			return n, nil
		}
		boolFlag := func(dst *bool) error {
			if hasVal {
				b, err := strconv.ParseBool(val)
				if err != nil {
					return fmt.Errorf("%s: --%s=%s: want true or false", name, flag, val)
				}
				*dst = b
				return nil
			}
			*dst = true
			return nil
		}
		var ferr error
		switch {
		case flag == "prefix" && op.kind != opPut:
			ferr = boolFlag(&op.prefix)
		case flag == "from-key" && op.kind != opPut:
			ferr = boolFlag(&op.fromKey)
		case flag == "prev-kv" && op.kind != opGet:
			ferr = boolFlag(&op.prevKV)
		case flag == "keys-only" && op.kind == opGet:
			ferr = boolFlag(&op.keysOnly)
		case flag == "count-only" && op.kind == opGet:
			ferr = boolFlag(&op.countOnly)
		case flag == "lease" && op.kind == opPut:
			if !hasVal {
				if i+1 >= len(words) {
					return op, fmt.Errorf("%s: flag --%s needs a value", name, flag)
				}
				i++
				val = words[i].text
			}
			if op.lease, ferr = parseLeaseArg(val); ferr != nil {
				ferr = fmt.Errorf("%s: --lease: %v", name, ferr)
			}
		case flag == "limit" && op.kind == opGet:
			op.limit, ferr = needInt()
		case flag == "rev" && op.kind == opGet:
			op.rev, ferr = needInt()
		default:
			ferr = fmt.Errorf("%s: unknown flag %s", name, w.text)
		}
		if ferr != nil {
			return op, ferr
		}
	}

	switch op.kind {
	case opPut:
		if len(args) != 2 {
			return op, fmt.Errorf("put needs KEY and VALUE, got %d argument(s)", len(args))
		}
		op.key, op.value = args[0], args[1]
	default:
		if len(args) < 1 || len(args) > 2 {
			return op, fmt.Errorf("%s needs KEY [RANGE_END], got %d argument(s)", name, len(args))
		}
		op.key = args[0]
		if len(args) == 2 {
			op.end = args[1]
		}
		if err := checkRangeFlags(op.prefix, op.fromKey, len(args) == 2); err != nil {
			return op, fmt.Errorf("%s: %v", name, err)
		}
	}
	return op, nil
}

// checkRangeFlags rejects combining --prefix, --from-key and RANGE_END.
func checkRangeFlags(prefix, fromKey, hasEnd bool) error {
	switch {
	case prefix && fromKey:
		return errors.New("--prefix and --from-key cannot be used together")
	case prefix && hasEnd:
		return errors.New("--prefix and RANGE_END cannot be used together")
	case fromKey && hasEnd:
		return errors.New("--from-key and RANGE_END cannot be used together")
	}
	return nil
}

// options converts a parsed op into client options.
func (o txnOp) options() []coord.OpOption {
	var opts []coord.OpOption
	switch {
	case o.prefix:
		opts = append(opts, coord.WithPrefix())
	case o.fromKey:
		opts = append(opts, coord.WithFromKey())
	case o.end != "":
		opts = append(opts, coord.WithRange(o.end))
	}
	if o.prevKV {
		opts = append(opts, coord.WithPrevKV())
	}
	if o.lease != 0 {
		opts = append(opts, coord.WithLease(o.lease))
	}
	if o.limit > 0 {
		opts = append(opts, coord.WithLimit(o.limit))
	}
	if o.rev > 0 {
		opts = append(opts, coord.WithRev(o.rev))
	}
	if o.keysOnly {
		opts = append(opts, coord.WithKeysOnly())
	}
	if o.countOnly {
		opts = append(opts, coord.WithCountOnly())
	}
	return opts
}

// clientOp converts a parsed op into a client Op.
func (o txnOp) clientOp() coord.Op {
	switch o.kind {
	case opPut:
		return coord.OpPut(o.key, o.value, o.options()...)
	case opDel:
		return coord.OpDelete(o.key, o.options()...)
	default:
		return coord.OpGet(o.key, o.options()...)
	}
}

// view is how the op's result prints.
func (o txnOp) view() getView {
	return getView{keysOnly: o.keysOnly, countOnly: o.countOnly}
}

// String formats the op back into the txn text format.
func (o txnOp) String() string {
	var b strings.Builder
	switch o.kind {
	case opPut:
		b.WriteString("put")
	case opDel:
		b.WriteString("del")
	default:
		b.WriteString("get")
	}
	b.WriteString(" " + strconv.Quote(o.key))
	if o.kind == opPut {
		b.WriteString(" " + strconv.Quote(o.value))
	} else if o.end != "" {
		b.WriteString(" " + strconv.Quote(o.end))
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{o.prefix, "--prefix"}, {o.fromKey, "--from-key"}, {o.prevKV, "--prev-kv"}, {o.keysOnly, "--keys-only"}, {o.countOnly, "--count-only"}} {
		if f.on {
			b.WriteString(" " + f.name)
		}
	}
	if o.lease != 0 {
		b.WriteString(" --lease " + leaseHex(o.lease))
	}
	if o.limit > 0 {
		fmt.Fprintf(&b, " --limit %d", o.limit)
	}
	if o.rev > 0 {
		fmt.Fprintf(&b, " --rev %d", o.rev)
	}
	return b.String()
}

// formatCompare formats a compare back into the txn text format.
func formatCompare(c wire.Compare) string {
	rel := map[wire.CompareResult]string{wire.CompareEqual: "=", wire.CompareNotEqual: "!=", wire.CompareGreater: ">", wire.CompareLess: "<"}[c.Result]
	key := strconv.Quote(string(c.Key))
	switch c.Target {
	case wire.CompareValue:
		return fmt.Sprintf("value(%s) %s %s", key, rel, strconv.Quote(string(c.Value)))
	case wire.CompareVersion:
		return fmt.Sprintf("version(%s) %s \"%d\"", key, rel, c.Version)
	case wire.CompareCreate:
		return fmt.Sprintf("create(%s) %s \"%d\"", key, rel, c.CreateRevision)
	case wire.CompareMod:
		return fmt.Sprintf("mod(%s) %s \"%d\"", key, rel, c.ModRevision)
	default:
		return fmt.Sprintf("lease(%s) %s \"%s\"", key, rel, formatLease(c.Lease))
	}
}

// String formats the transaction in the txn text format; parseTxn reads
// it back to the same transaction.
func (t *txnSpec) String() string {
	var b strings.Builder
	for _, c := range t.compares {
		b.WriteString(formatCompare(c) + "\n")
	}
	b.WriteString("\n")
	for _, o := range t.success {
		b.WriteString(o.String() + "\n")
	}
	b.WriteString("\n")
	for _, o := range t.failure {
		b.WriteString(o.String() + "\n")
	}
	return b.String()
}
