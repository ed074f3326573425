package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/coord-io/coord/coord/wire"
)

func TestParseTxn(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *txnSpec
	}{
		{
			name: "etcdctl example",
			in: `mod("key1") > "0"

put key1 "overwrote-key1"

put key1 "created-key1"
put key2 "some extra key"
`,
			want: &txnSpec{
				compares: []wire.Compare{{Target: wire.CompareMod, Result: wire.CompareGreater, Key: []byte("key1")}},
				success:  []txnOp{{kind: opPut, key: "key1", value: "overwrote-key1"}},
				failure: []txnOp{
					{kind: opPut, key: "key1", value: "created-key1"},
					{kind: opPut, key: "key2", value: "some extra key"},
				},
			},
		},
		{
			name: "every compare target and relation",
			in: `value("k") = "v"
val("k") != "x y"
version("k") > "2"
ver("k") < 3
create("k") = "0"
c("k") == "0"
mod("k") < "9"
m("k") > "1"
lease("k") = "694d71ddacfda227"
value ( "k\n" )="a\"b"
`,
			want: &txnSpec{compares: []wire.Compare{
				{Target: wire.CompareValue, Result: wire.CompareEqual, Key: []byte("k"), Value: []byte("v")},
				{Target: wire.CompareValue, Result: wire.CompareNotEqual, Key: []byte("k"), Value: []byte("x y")},
				{Target: wire.CompareVersion, Result: wire.CompareGreater, Key: []byte("k"), Version: 2},
				{Target: wire.CompareVersion, Result: wire.CompareLess, Key: []byte("k"), Version: 3},
				{Target: wire.CompareCreate, Result: wire.CompareEqual, Key: []byte("k")},
				{Target: wire.CompareCreate, Result: wire.CompareEqual, Key: []byte("k")},
				{Target: wire.CompareMod, Result: wire.CompareLess, Key: []byte("k"), ModRevision: 9},
				{Target: wire.CompareMod, Result: wire.CompareGreater, Key: []byte("k"), ModRevision: 1},
				{Target: wire.CompareLease, Result: wire.CompareEqual, Key: []byte("k"), Lease: 0x694d71ddacfda227},
				{Target: wire.CompareValue, Result: wire.CompareEqual, Key: []byte("k\n"), Value: []byte(`a"b`)},
			}},
		},
		{
			name: "no compares, ops with flags anywhere",
			in: `
put "k with space" "v\tx" --prev-kv
get --prefix k
get k --from-key
get a c --limit 2 --rev=7 --keys-only
get k --count-only
del k
del k end --prev-kv
delete --prefix k
get "" --prefix
put "--x" "-v"
put k v --lease 694d71ddacfda227
put k v --lease=0x1000000000001 --prev-kv
`,
			want: &txnSpec{success: []txnOp{
				{kind: opPut, key: "k with space", value: "v\tx", prevKV: true},
				{kind: opGet, key: "k", prefix: true},
				{kind: opGet, key: "k", fromKey: true},
				{kind: opGet, key: "a", end: "c", limit: 2, rev: 7, keysOnly: true},
				{kind: opGet, key: "k", countOnly: true},
				{kind: opDel, key: "k"},
				{kind: opDel, key: "k", end: "end", prevKV: true},
				{kind: opDel, key: "k", prefix: true},
				{kind: opGet, key: "", prefix: true},
				{kind: opPut, key: "--x", value: "-v"},
				{kind: opPut, key: "k", value: "v", lease: 0x694d71ddacfda227},
				{kind: opPut, key: "k", value: "v", lease: 0x1000000000001, prevKV: true},
			}},
		},
		{name: "empty input", in: "", want: &txnSpec{}},
		{name: "only blank lines", in: "\n\n\n\n", want: &txnSpec{}},
		{
			name: "CRLF and no final newline",
			in:   "value(\"a\") = \"1\"\r\n\r\nput a 2\r\n\r\nget a",
			want: &txnSpec{
				compares: []wire.Compare{{Target: wire.CompareValue, Result: wire.CompareEqual, Key: []byte("a"), Value: []byte("1")}},
				success:  []txnOp{{kind: opPut, key: "a", value: "2"}},
				failure:  []txnOp{{kind: opGet, key: "a"}},
			},
		},
		{
			name: "trailing blank lines after failure",
			in:   "\n\nget a\n\n\n",
			want: &txnSpec{failure: []txnOp{{kind: opGet, key: "a"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTxn(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("parseTxn: %v", err)
			}
			if !reflect.DeepEqual(normalizeSpec(got), normalizeSpec(tt.want)) {
				t.Fatalf("parseTxn:\n got  %#v\n want %#v", got, tt.want)
			}
		})
	}
}

func TestParseTxnErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{`value(k) = "v"`, `line 1: compare: the key must be a quoted string`},
		{`value("k" = "v"`, `line 1: compare: missing ')'`},
		{`value("k) = "v"`, `line 1: compare: missing ')'`},
		{`value("k") ~ "v"`, `line 1: compare: missing relation`},
		{`value("k") =`, `line 1: compare: missing value`},
		{`value("k") = "v" extra`, `line 1: compare: unexpected "extra"`},
		{`value("k") = a b`, `line 1: compare: value "a b" has spaces`},
		{`size("k") = "1"`, `line 1: compare: unknown target "size"`},
		{`version("k") = "x"`, `line 1: compare: version needs an integer`},
		{`lease("k") = "xyz"`, `line 1: compare: bad lease ID "xyz"`},
		{`put k v`, `line 1: malformed compare`},
		{"\nput k", `line 2: put needs KEY and VALUE, got 1 argument(s)`},
		{"\nput k v w", `line 2: put needs KEY and VALUE, got 3 argument(s)`},
		{"\nget", `line 2: get needs KEY [RANGE_END], got 0 argument(s)`},
		{"\nget a b c", `line 2: get needs KEY [RANGE_END], got 3 argument(s)`},
		{"\nget a --prefix --from-key", `line 2: get: --prefix and --from-key cannot be used together`},
		{"\ndel a b --prefix", `line 2: del: --prefix and RANGE_END cannot be used together`},
		{"\nget a --limit", `line 2: get: flag --limit needs a value`},
		{"\nget a --limit x", `line 2: get: --limit needs a non-negative integer, got "x"`},
		{"\nput a b --prefix", `line 2: put: unknown flag --prefix`},
		{"\nget a --prev-kv", `line 2: get: unknown flag --prev-kv`},
		{"\nget a --lease 1", `line 2: get: unknown flag --lease`},
		{"\nput a b --lease", `line 2: put: flag --lease needs a value`},
		{"\nput a b --lease zz", `line 2: put: --lease: bad lease ID "zz"`},
		{"\nrange a", `line 2: unknown operation "range"`},
		{"\n\"put\" a b", `line 2: unknown operation "put"`},
		{"\nput \"a b", `line 2: unterminated or malformed quoted string`},
		{"\nput \"a\"b c", `line 2: missing space after the quoted string "a"`},
		{"\n\nget a\n\nget b", `line 5: unexpected text after the failure operations`},
	}
	for _, tt := range tests {
		_, err := parseTxn(strings.NewReader(tt.in))
		if err == nil {
			t.Errorf("parseTxn(%q): no error, want %q", tt.in, tt.wantErr)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.wantErr) {
			t.Errorf("parseTxn(%q):\n got  %v\n want %s...", tt.in, err, tt.wantErr)
		}
	}
}

func TestParseTxnInteractive(t *testing.T) {
	var prompts []string
	// The reader never reaches EOF: interactive parsing must stop at the
	// blank line that ends the failure section.
	in := strings.NewReader("value(\"a\") = \"1\"\n\nput a 2\n\nget a\n\nNOT READ\n")
	spec, err := parseTxnInteractive(in, func(p string) { prompts = append(prompts, p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.compares) != 1 || len(spec.success) != 1 || len(spec.failure) != 1 {
		t.Fatalf("spec = %+v", spec)
	}
	if strings.Join(prompts, "|") != strings.Join(txnPrompts[:], "|") {
		t.Fatalf("prompts = %q", prompts)
	}
}

// TestTxnSpecString checks that formatting a parsed transaction gives text
// that parses to the same transaction.
func TestTxnSpecString(t *testing.T) {
	in := "value(\"a b\") != \"x\\ny\"\nlease(\"k\") = \"ff\"\nversion(\"k\") > -1\n\nput \"a b\" v --prev-kv\nget a z --limit 3 --rev 9 --keys-only\n\ndel k --from-key\nget k --count-only --prefix\n"
	spec, err := parseTxn(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	again, err := parseTxn(strings.NewReader(spec.String()))
	if err != nil {
		t.Fatalf("reparsing %q: %v", spec.String(), err)
	}
	if !reflect.DeepEqual(normalizeSpec(spec), normalizeSpec(again)) {
		t.Fatalf("round trip:\n%s\ngave %#v\nwant %#v", spec.String(), again, spec)
	}
}

func FuzzParseTxn(f *testing.F) {
	for _, s := range []string{
		"value(\"a\") = \"1\"\n\nput a 2\n\nget a\n",
		"mod(\"k\") > \"0\"\n\nput k \"v v\" --prev-kv\n\ndel --prefix k\n",
		"\nget a c --limit 2 --rev=7 --keys-only\n",
		"lease(\"k\") = \"694d71ddacfda227\"\n",
		"\nput k v --lease 694d71ddacfda227 --prev-kv\n",
		"value(`k`) != `a\\b`\n\nput \"\\x00k\" \"\\u00e9\"\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		spec, err := parseTxn(strings.NewReader(in))
		if err != nil {
			if spec != nil {
				t.Fatalf("error %v with a non-nil spec", err)
			}
			if strings.ContainsAny(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		// A parsed transaction formats to text that parses back to it.
		text := spec.String()
		again, err := parseTxn(strings.NewReader(text))
		if err != nil {
			t.Fatalf("reparsing %q (from %q): %v", text, in, err)
		}
		if !reflect.DeepEqual(normalizeSpec(spec), normalizeSpec(again)) {
			t.Fatalf("round trip of %q:\n%q\ngave %#v\nwant %#v", in, text, again, spec)
		}
	})
}

// normalizeSpec maps empty slices to nil so DeepEqual compares contents.
func normalizeSpec(s *txnSpec) *txnSpec {
	if s == nil {
		return nil
	}
	out := &txnSpec{}
	for _, c := range s.compares {
		if len(c.Key) == 0 {
			c.Key = nil
		}
		if len(c.Value) == 0 {
			c.Value = nil
		}
		out.compares = append(out.compares, c)
	}
	out.success = append(out.success, s.success...)
	out.failure = append(out.failure, s.failure...)
	return out
}
