package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/coord-io/coord/coord/wire"
)

var testHeader = wire.ResponseHeader{Shard: 2, Revision: 9, RaftTerm: 3, Member: "n1", ClusterID: 14841639068965178418}

// testEtcdHeader is testHeader in etcdctl's JSON shape, Coord's fields after
// etcd's.
var testEtcdHeader = fmt.Sprintf(`{"cluster_id":14841639068965178418,"member_id":%d,"revision":9,"raft_term":3,"shard":2,"member":"n1"}`, wire.EtcdMemberID("n1"))

func testKVs() []*wire.KeyValue {
	return []*wire.KeyValue{
		{Key: []byte("a"), Value: []byte("1"), CreateRevision: 2, ModRevision: 5, Version: 3},
		{Key: []byte("bb"), Value: []byte("hello world"), CreateRevision: 7, ModRevision: 7, Version: 1, Lease: 0x694d71ddacfda227},
	}
}

func render(t *testing.T, f func(w *bytes.Buffer) error) string {
	t.Helper()
	var buf bytes.Buffer
	if err := f(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestPrintGet(t *testing.T) {
	resp := &wire.RangeResponse{Header: testHeader, Kvs: testKVs(), Count: 2}
	tests := []struct {
		name, format string
		view         getView
		want         string
	}{
		{"simple", formatSimple, getView{}, "a\n1\nbb\nhello world\n"},
		{"keys only", formatSimple, getView{keysOnly: true}, "a\nbb\n"},
		{"value only", formatSimple, getView{printValueOnly: true}, "1\nhello world\n"},
		{"count only", formatSimple, getView{countOnly: true}, "2\n"},
		{"json", formatJSON, getView{},
			`{"header":` + testEtcdHeader + `,"kvs":[` +
				`{"key":"YQ==","create_revision":2,"mod_revision":5,"version":3,"value":"MQ=="},` +
				`{"key":"YmI=","create_revision":7,"mod_revision":7,"version":1,"value":"aGVsbG8gd29ybGQ=","lease":7587846144093168167}],"count":2}` + "\n"},
		{"table", formatTable, getView{}, `+-----+-------------+--------+-----+---------+------------------+
| KEY | VALUE       | CREATE | MOD | VERSION | LEASE            |
+-----+-------------+--------+-----+---------+------------------+
| a   | 1           |      2 |   5 |       3 | 0                |
| bb  | hello world |      7 |   7 |       1 | 694d71ddacfda227 |
+-----+-------------+--------+-----+---------+------------------+
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, func(w *bytes.Buffer) error { return printGet(w, tt.format, resp, tt.view) })
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestPrintGetJSONEdgeCases(t *testing.T) {
	resp := &wire.RangeResponse{
		Header: wire.ResponseHeader{Shard: wire.AllShards, Revisions: map[uint32]int64{0: 4, 1: 6}, Member: "n2"},
		Kvs:    []*wire.KeyValue{{Key: []byte{0xff, 'k'}, Value: []byte("<&>"), CreateRevision: 1, ModRevision: 1, Version: 1}},
		Count:  3, More: true,
	}
	got := render(t, func(w *bytes.Buffer) error { return printGet(w, formatJSON, resp, getView{}) })
	want := fmt.Sprintf(`{"header":{"member_id":%d,"shard":4294967295,"revisions":{"0":4,"1":6},"member":"n2"},"kvs":[`, wire.EtcdMemberID("n2")) +
		`{"key":"/2s=","create_revision":1,"mod_revision":1,"version":1,"value":"PCY+"}],"more":true,"count":3}` + "\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	empty := render(t, func(w *bytes.Buffer) error {
		return printGet(w, formatJSON, &wire.RangeResponse{Header: testHeader}, getView{})
	})
	if want := `{"header":` + testEtcdHeader + `}` + "\n"; empty != want {
		t.Errorf("empty: got %s want %s", empty, want)
	}
}

func TestPrintPutDelete(t *testing.T) {
	prev := &wire.KeyValue{Key: []byte("a"), Value: []byte("old"), CreateRevision: 2, ModRevision: 4, Version: 2}
	tests := []struct {
		name string
		f    func(w *bytes.Buffer) error
		want string
	}{
		{"put", func(w *bytes.Buffer) error { return printPut(w, formatSimple, &wire.PutResponse{Header: testHeader}) }, "OK\n"},
		{"put prev", func(w *bytes.Buffer) error {
			return printPut(w, formatSimple, &wire.PutResponse{Header: testHeader, PrevKV: prev})
		}, "OK\na\nold\n"},
		{"put table falls back to simple", func(w *bytes.Buffer) error {
			return printPut(w, formatTable, &wire.PutResponse{Header: testHeader})
		}, "OK\n"},
		{"put json", func(w *bytes.Buffer) error {
			return printPut(w, formatJSON, &wire.PutResponse{Header: testHeader, PrevKV: prev})
		}, `{"header":` + testEtcdHeader + `,"prev_kv":{"key":"YQ==","create_revision":2,"mod_revision":4,"version":2,"value":"b2xk"}}` + "\n"},
		{"del", func(w *bytes.Buffer) error {
			return printDelete(w, formatSimple, &wire.DeleteRangeResponse{Header: testHeader, Deleted: 2})
		}, "2\n"},
		{"del prev", func(w *bytes.Buffer) error {
			return printDelete(w, formatSimple, &wire.DeleteRangeResponse{Header: testHeader, Deleted: 2, PrevKvs: testKVs()})
		}, "2\na\n1\nbb\nhello world\n"},
		{"del json", func(w *bytes.Buffer) error {
			return printDelete(w, formatJSON, &wire.DeleteRangeResponse{Header: testHeader, Deleted: 0})
		}, `{"header":` + testEtcdHeader + `}` + "\n"},
		{"compact", func(w *bytes.Buffer) error {
			return printCompact(w, formatSimple, 42, &wire.CompactResponse{Header: testHeader})
		}, "compacted revision 42\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(t, tt.f); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestPrintTxn(t *testing.T) {
	resp := &wire.TxnResponse{
		Header:    testHeader,
		Succeeded: true,
		Responses: []wire.ResponseOp{
			{Put: &wire.PutResponse{Header: testHeader}},
			{Range: &wire.RangeResponse{Header: testHeader, Kvs: testKVs()[:1], Count: 1}},
			{DeleteRange: &wire.DeleteRangeResponse{Header: testHeader, Deleted: 1}},
			{Range: &wire.RangeResponse{Header: testHeader, Kvs: testKVs(), Count: 2}},
		},
	}
	views := []getView{{}, {}, {}, {keysOnly: true}}
	got := render(t, func(w *bytes.Buffer) error { return printTxn(w, formatSimple, resp, views) })
	want := "SUCCESS\n\nOK\n\na\n1\n\n1\n\na\nbb\n"
	if got != want {
		t.Errorf("got %q want %q", got, want)
	}
	resp.Succeeded, resp.Responses = false, nil
	if got := render(t, func(w *bytes.Buffer) error { return printTxn(w, formatSimple, resp, nil) }); got != "FAILURE\n" {
		t.Errorf("got %q", got)
	}
	resp.Responses = []wire.ResponseOp{{Put: &wire.PutResponse{Header: testHeader}}}
	got = render(t, func(w *bytes.Buffer) error { return printTxn(w, formatJSON, resp, nil) })
	want = `{"header":` + testEtcdHeader + `,"responses":[{"Response":{"response_put":{"header":` + testEtcdHeader + `}}}]}` + "\n"
	if got != want {
		t.Errorf("got %s want %s", got, want)
	}
}

func TestPrintStatus(t *testing.T) {
	results := []statusResult{
		{endpoint: "127.0.0.1:7379", resp: &wire.StatusResponse{
			Member: "n1", DBSize: 2_500_000,
			Shards: []wire.ShardStatus{
				{Shard: 0, Leader: "n1", IsLeader: true, Term: 2, AppliedIndex: 120, Revision: 40, CompactRevision: 0},
				{Shard: 1, Leader: "n2", Term: 3, AppliedIndex: 7, Revision: 5, CompactRevision: 2},
			},
		}},
		{endpoint: "127.0.0.1:7389", err: errTest("unreachable")},
	}
	got := render(t, func(w *bytes.Buffer) error { return printStatus(w, formatSimple, results) })
	want := `ENDPOINT        MEMBER  SHARD  LEADER  IS LEADER  TERM  APPLIED INDEX  REVISION  COMPACT REV  DB SIZE
127.0.0.1:7379  n1      0      n1      true       2     120            40        0            2.5 MB
127.0.0.1:7379  n1      1      n2      false      3     7              5         2            2.5 MB
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	js := render(t, func(w *bytes.Buffer) error { return printStatus(w, formatJSON, results) })
	var parsed []map[string]any
	if err := json.Unmarshal([]byte(js), &parsed); err != nil {
		t.Fatalf("%v: %s", err, js)
	}
	if len(parsed) != 2 || parsed[0]["member"] != "n1" || parsed[1]["error"] != "unreachable" {
		t.Fatalf("json status: %s", js)
	}
	shards := parsed[0]["shards"].([]any)
	if s1 := shards[1].(map[string]any); s1["leader"] != "n2" || s1["compact_revision"] != 2.0 {
		t.Fatalf("json shard: %v", s1)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 25_000: "25 kB", 1_500_000: "1.5 MB", 3_000_000_000: "3.0 GB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDisplayString(t *testing.T) {
	for in, want := range map[string]string{"a b": "a b", "": "", "é": "é", "a\nb": `a\nb`, "\xff": `\xff`} {
		if got := displayString([]byte(in)); got != want {
			t.Errorf("displayString(%q) = %q, want %q", in, got, want)
		}
	}
}
