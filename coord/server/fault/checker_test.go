package fault

import (
	"testing"

	"github.com/anishathalye/porcupine"
)

// TestFaultKVCheckerCatchesBadHistory feeds the KV model histories a
// broken build could produce — a stale read after an acknowledged write, a
// lost acknowledged CAS — and a correct one with an unknown write.
func TestFaultKVCheckerCatchesBadHistory(t *testing.T) {
	put := func(c int, v string, call, ret int64) KVOp {
		return KVOp{Client: c, Input: KVInput{Op: "put", Key: "k", Value: v}, Call: call, Return: ret}
	}
	get := func(c int, v string, call, ret int64) KVOp {
		return KVOp{Client: c, Input: KVInput{Op: "get", Key: "k"}, Output: KVOutput{Value: v}, Call: call, Return: ret}
	}
	cas := func(c int, from, to string, ok bool, call, ret int64) KVOp {
		return KVOp{Client: c, Input: KVInput{Op: "cas", Key: "k", Expect: from, Value: to}, Output: KVOutput{OK: ok}, Call: call, Return: ret}
	}
	unknownPut := func(c int, v string, call int64) KVOp {
		return KVOp{Client: c, Input: KVInput{Op: "put", Key: "k", Value: v}, Output: KVOutput{Unknown: true}, Call: call, Return: Infinity}
	}
	cases := []struct {
		name string
		ops  []KVOp
		want porcupine.CheckResult
	}{
		{"stale read", []KVOp{put(0, "a", 0, 10), get(1, InitialValue, 20, 30)}, porcupine.Illegal},
		{"lost CAS", []KVOp{cas(0, InitialValue, "b", true, 0, 10), get(1, InitialValue, 20, 30)}, porcupine.Illegal},
		{"CAS failed on the right value", []KVOp{cas(0, InitialValue, "b", false, 0, 10)}, porcupine.Illegal},
		{"concurrent write seen or not", []KVOp{put(0, "a", 0, 100), get(1, InitialValue, 10, 20), get(2, "a", 30, 40)}, porcupine.Ok},
		{"unknown write applied late", []KVOp{unknownPut(0, "x", 0), get(1, InitialValue, 10, 20), get(1, "x", 50, 60)}, porcupine.Ok},
		{"unknown write never applied", []KVOp{unknownPut(0, "x", 0), get(1, InitialValue, 10, 20)}, porcupine.Ok},
		{"unknown write cannot undo itself", []KVOp{unknownPut(0, "x", 0), get(1, "x", 10, 20), get(1, InitialValue, 30, 40)}, porcupine.Illegal},
	}
	for _, tc := range cases {
		if got, _ := CheckKV(tc.ops); got != tc.want {
			t.Errorf("%s: checker says %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestFaultProxyParsesSource checks the proxy's protobuf scan on a
// hand-made message batch (field 3: the source address).
func TestFaultProxyParsesSource(t *testing.T) {
	// field 1 varint 5, field 2 varint 300, field 3 bytes "127.0.0.1:9"
	msg := []byte{0x08, 0x05, 0x10, 0xac, 0x02, 0x1a, 11}
	msg = append(msg, "127.0.0.1:9"...)
	v, ok := protoField(msg, 3)
	if !ok || string(v.bytes) != "127.0.0.1:9" {
		t.Fatalf("got %q, %v", v.bytes, ok)
	}
	if v, ok := protoField(msg, 2); !ok || v.varint != 300 {
		t.Fatalf("field 2: got %d, %v", v.varint, ok)
	}
	if _, ok := protoField([]byte{0x1a, 50, 'x'}, 3); ok {
		t.Fatal("a truncated field was accepted")
	}
}
