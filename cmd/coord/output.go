package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// Simple output follows etcdctl: put prints OK, get prints a key line then
// a value line per key, del prints the number deleted, txn prints SUCCESS or
// FAILURE and then each op's result after a blank line.
//
// JSON output is one object per response on one line. Keys and values are
// plain strings when they are valid UTF-8 (etcd uses base64 always); a key
// or value that is not is given as "key_base64"/"value_base64" instead.

// getView selects what a get prints in simple and table output.
type getView struct {
	keysOnly       bool
	countOnly      bool
	printValueOnly bool
}

// printOK prints "OK", or j as JSON with -w json: the answer of a command
// whose success is all there is to say.
func printOK(w io.Writer, format string, j any) error {
	if format == formatJSON {
		return writeJSON(w, j)
	}
	fmt.Fprintln(w, "OK")
	return nil
}

// printPut prints a put response.
func printPut(w io.Writer, format string, r *wire.PutResponse) error {
	if format == formatJSON {
		return writeJSON(w, jsonPut(r))
	}
	fmt.Fprintln(w, "OK")
	if r.PrevKV != nil {
		printKV(w, r.PrevKV, getView{})
	}
	return nil
}

// printGet prints a get (range) response.
func printGet(w io.Writer, format string, r *wire.RangeResponse, v getView) error {
	switch {
	case format == formatJSON:
		return writeJSON(w, jsonRange(r))
	case v.countOnly:
		fmt.Fprintln(w, r.Count)
	case format == formatTable:
		rows := make([][]string, 0, len(r.Kvs))
		for _, kv := range r.Kvs {
			rows = append(rows, []string{
				displayString(kv.Key), displayString(kv.Value),
				strconv.FormatInt(kv.CreateRevision, 10), strconv.FormatInt(kv.ModRevision, 10),
				strconv.FormatInt(kv.Version, 10), formatLease(kv.Lease),
			})
		}
		writeBorderedTable(w, []string{"KEY", "VALUE", "CREATE", "MOD", "VERSION", "LEASE"}, rows, []bool{false, false, true, true, true, false})
	default:
		for _, kv := range r.Kvs {
			printKV(w, kv, v)
		}
	}
	return nil
}

// printDelete prints a delete response.
func printDelete(w io.Writer, format string, r *wire.DeleteRangeResponse) error {
	if format == formatJSON {
		return writeJSON(w, jsonDelete(r))
	}
	fmt.Fprintln(w, r.Deleted)
	for _, kv := range r.PrevKvs {
		printKV(w, kv, getView{})
	}
	return nil
}

// printTxn prints a txn response; views give how each get op prints (by
// position in the branch that ran; missing entries print in full).
func printTxn(w io.Writer, format string, r *wire.TxnResponse, views []getView) error {
	if format == formatJSON {
		return writeJSON(w, jsonTxn(r))
	}
	if r.Succeeded {
		fmt.Fprintln(w, "SUCCESS")
	} else {
		fmt.Fprintln(w, "FAILURE")
	}
	for i, op := range r.Responses {
		fmt.Fprintln(w)
		switch {
		case op.Put != nil:
			_ = printPut(w, formatSimple, op.Put)
		case op.DeleteRange != nil:
			_ = printDelete(w, formatSimple, op.DeleteRange)
		case op.Range != nil:
			var v getView
			if i < len(views) {
				v = views[i]
			}
			_ = printGet(w, formatSimple, op.Range, v)
		default:
			fmt.Fprintln(w, "(empty response)")
		}
	}
	return nil
}

// printCompact prints a compact response: etcdctl's line for one shard,
// else one line per shard saying what was compacted and why a shard was
// left alone.
func printCompact(w io.Writer, format string, rev int64, r *wire.CompactResponse) error {
	if format == formatJSON {
		type jsonShard struct {
			Shard           uint32 `json:"shard"`
			Compacted       bool   `json:"compacted"`
			CompactRevision int64  `json:"compact_revision"`
			Revision        int64  `json:"revision"`
			Error           string `json:"error,omitempty"`
		}
		shards := make([]jsonShard, 0, len(r.Shards))
		for _, s := range r.Shards {
			j := jsonShard{Shard: s.Shard, Compacted: s.Compacted, CompactRevision: s.CompactRevision, Revision: s.Revision}
			if s.Error != nil {
				j.Error = s.Error.Message
			}
			shards = append(shards, j)
		}
		return writeJSON(w, struct {
			Header   jsonHeader  `json:"header"`
			Revision int64       `json:"revision"`
			Shards   []jsonShard `json:"shards"`
		}{jsonHeaderOf(r.Header), rev, shards})
	}
	if len(r.Shards) <= 1 {
		fmt.Fprintf(w, "compacted revision %d\n", rev)
		return nil
	}
	for _, s := range r.Shards {
		switch {
		case s.Compacted:
			fmt.Fprintf(w, "shard %d: compacted revision %d\n", s.Shard, rev)
		case s.Error != nil && s.Error.Code == wire.CodeFutureRevision:
			fmt.Fprintf(w, "shard %d: not compacted: required revision is a future revision (shard at revision %d)\n", s.Shard, s.Revision)
		case s.Error != nil && s.Error.Code == wire.CodeCompacted:
			fmt.Fprintf(w, "shard %d: not compacted: required revision has been compacted (compacted revision %d)\n", s.Shard, s.CompactRevision)
		case s.Error != nil:
			fmt.Fprintf(w, "shard %d: not compacted: %s\n", s.Shard, s.Error.Message)
		default:
			fmt.Fprintf(w, "shard %d: not compacted\n", s.Shard)
		}
	}
	return nil
}

// printKV prints one key/value the etcdctl way.
func printKV(w io.Writer, kv *wire.KeyValue, v getView) {
	switch {
	case v.printValueOnly:
		writeLine(w, kv.Value)
	case v.keysOnly:
		writeLine(w, kv.Key)
	default:
		writeLine(w, kv.Key)
		writeLine(w, kv.Value)
	}
}

func writeLine(w io.Writer, b []byte) {
	_, _ = w.Write(b)
	_, _ = io.WriteString(w, "\n")
}

// formatLease prints a lease ID in hex as the lease commands print it
// (leaseHex); 0, no lease, is "0".
func formatLease(id int64) string {
	if id == 0 {
		return "0"
	}
	return leaseHex(id)
}

// displayString shows b in a table cell: as is when it is printable UTF-8,
// else Go-quoted without the surrounding quotes.
func displayString(b []byte) string {
	s := string(b)
	if utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) < 0 {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// ---- JSON ----

type jsonHeader struct {
	Shard     uint32           `json:"shard"`
	Revision  int64            `json:"revision"`
	Revisions map[uint32]int64 `json:"revisions,omitempty"`
	RaftTerm  uint64           `json:"raft_term"`
	Member    string           `json:"member"`
}

func jsonHeaderOf(h wire.ResponseHeader) jsonHeader {
	return jsonHeader{Shard: h.Shard, Revision: h.Revision, Revisions: h.Revisions, RaftTerm: h.RaftTerm, Member: h.Member}
}

// jsonBytes gives b as a string when it is valid UTF-8, else as base64.
func jsonBytes(b []byte) (*string, string) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

// ---- etcdctl-shaped JSON (get, put, del, txn, watch) ----
//
// etcdctl prints etcd's protobuf structs through encoding/json: zero fields
// left out, keys and values base64 ([]byte), the header's cluster_id and
// member_id as numbers. Coord's own header fields (shard, revisions, member)
// follow etcd's.

type jsonEtcdHeader struct {
	ClusterID uint64           `json:"cluster_id,omitempty"`
	MemberID  uint64           `json:"member_id,omitempty"`
	Revision  int64            `json:"revision,omitempty"`
	RaftTerm  uint64           `json:"raft_term,omitempty"`
	Shard     uint32           `json:"shard"`
	Revisions map[uint32]int64 `json:"revisions,omitempty"`
	Member    string           `json:"member,omitempty"`
}

// withClusterID sets h's cluster ID, when the response left it out (one
// from several shards), to the one the member named in its handshake.
func withClusterID(h *wire.ResponseHeader, cl *coord.Client) {
	if h.ClusterID == 0 {
		h.ClusterID = cl.ClusterID()
	}
}

// etcdHeaderOf is h as etcdctl prints a header; the member ID is the one
// the etcd door reports for the member (wire.EtcdMemberID).
func etcdHeaderOf(h wire.ResponseHeader) jsonEtcdHeader {
	j := jsonEtcdHeader{ClusterID: h.ClusterID, Revision: h.Revision, RaftTerm: h.RaftTerm,
		Shard: h.Shard, Revisions: h.Revisions, Member: h.Member}
	if h.Member != "" {
		j.MemberID = wire.EtcdMemberID(h.Member)
	}
	return j
}

// jsonEtcdKV is mvccpb.KeyValue as etcdctl prints it.
type jsonEtcdKV struct {
	Key            []byte `json:"key,omitempty"`
	CreateRevision int64  `json:"create_revision,omitempty"`
	ModRevision    int64  `json:"mod_revision,omitempty"`
	Version        int64  `json:"version,omitempty"`
	Value          []byte `json:"value,omitempty"`
	Lease          int64  `json:"lease,omitempty"`
}

func etcdKVOf(kv *wire.KeyValue) *jsonEtcdKV {
	if kv == nil {
		return nil
	}
	return &jsonEtcdKV{Key: kv.Key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision,
		Version: kv.Version, Value: kv.Value, Lease: kv.Lease}
}

func etcdKVs(kvs []*wire.KeyValue) []*jsonEtcdKV {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]*jsonEtcdKV, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, etcdKVOf(kv))
	}
	return out
}

type jsonPutResp struct {
	Header jsonEtcdHeader `json:"header"`
	PrevKV *jsonEtcdKV    `json:"prev_kv,omitempty"`
}

func jsonPut(r *wire.PutResponse) jsonPutResp {
	return jsonPutResp{Header: etcdHeaderOf(r.Header), PrevKV: etcdKVOf(r.PrevKV)}
}

type jsonRangeResp struct {
	Header jsonEtcdHeader `json:"header"`
	Kvs    []*jsonEtcdKV  `json:"kvs,omitempty"`
	More   bool           `json:"more,omitempty"`
	Count  int64          `json:"count,omitempty"`
}

func jsonRange(r *wire.RangeResponse) jsonRangeResp {
	return jsonRangeResp{Header: etcdHeaderOf(r.Header), Kvs: etcdKVs(r.Kvs), Count: r.Count, More: r.More}
}

type jsonDeleteResp struct {
	Header  jsonEtcdHeader `json:"header"`
	Deleted int64          `json:"deleted,omitempty"`
	PrevKvs []*jsonEtcdKV  `json:"prev_kvs,omitempty"`
}

func jsonDelete(r *wire.DeleteRangeResponse) jsonDeleteResp {
	return jsonDeleteResp{Header: etcdHeaderOf(r.Header), Deleted: r.Deleted, PrevKvs: etcdKVs(r.PrevKvs)}
}

// jsonResponseOp is etcd's ResponseOp: its oneof prints as "Response".
type jsonResponseOp struct {
	Response jsonResponseOneof `json:"Response"`
}

type jsonResponseOneof struct {
	Range       *jsonRangeResp  `json:"response_range,omitempty"`
	Put         *jsonPutResp    `json:"response_put,omitempty"`
	DeleteRange *jsonDeleteResp `json:"response_delete_range,omitempty"`
}

type jsonTxnResp struct {
	Header    jsonEtcdHeader   `json:"header"`
	Succeeded bool             `json:"succeeded,omitempty"`
	Responses []jsonResponseOp `json:"responses,omitempty"`
}

func jsonTxn(r *wire.TxnResponse) jsonTxnResp {
	j := jsonTxnResp{Header: etcdHeaderOf(r.Header), Succeeded: r.Succeeded}
	for _, op := range r.Responses {
		var jo jsonResponseOp
		switch {
		case op.Range != nil:
			v := jsonRange(op.Range)
			jo.Response.Range = &v
		case op.Put != nil:
			v := jsonPut(op.Put)
			jo.Response.Put = &v
		case op.DeleteRange != nil:
			v := jsonDelete(op.DeleteRange)
			jo.Response.DeleteRange = &v
		}
		j.Responses = append(j.Responses, jo)
	}
	return j
}

// writeJSON writes v as one line of JSON, without HTML escaping.
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// ---- tables ----

// writeBorderedTable writes an etcdctl-style table with borders. right
// marks the columns aligned to the right (numbers).
func writeBorderedTable(w io.Writer, header []string, rows [][]string, right []bool) {
	widths := columnWidths(header, rows)
	sep := func() {
		var b strings.Builder
		b.WriteByte('+')
		for _, wd := range widths {
			b.WriteString(strings.Repeat("-", wd+2))
			b.WriteByte('+')
		}
		fmt.Fprintln(w, b.String())
	}
	line := func(cells []string, align []bool) {
		var b strings.Builder
		b.WriteByte('|')
		for i, wd := range widths {
			b.WriteByte(' ')
			b.WriteString(pad(cellAt(cells, i), wd, i < len(align) && align[i]))
			b.WriteString(" |")
		}
		fmt.Fprintln(w, b.String())
	}
	sep()
	line(header, nil)
	sep()
	for _, r := range rows {
		line(r, right)
	}
	sep()
}

// writePlainTable writes aligned columns separated by two spaces, without
// borders (trailing spaces trimmed).
func writePlainTable(w io.Writer, header []string, rows [][]string) {
	widths := columnWidths(header, rows)
	line := func(cells []string) {
		var b strings.Builder
		for i, wd := range widths {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(pad(cellAt(cells, i), wd, false))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
}

func columnWidths(header []string, rows [][]string) []int {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i := range widths {
			if n := utf8.RuneCountInString(cellAt(r, i)); n > widths[i] {
				widths[i] = n
			}
		}
	}
	return widths
}

func cellAt(cells []string, i int) string {
	if i < len(cells) {
		return cells[i]
	}
	return ""
}

func pad(s string, width int, right bool) string {
	n := width - utf8.RuneCountInString(s)
	if n <= 0 {
		return s
	}
	if right {
		return strings.Repeat(" ", n) + s
	}
	return s + strings.Repeat(" ", n)
}

// humanBytes formats a size like "1.5 MB" (powers of 1000, as etcdctl).
func humanBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"kB", "MB", "GB", "TB", "PB", "EB"}
	f := float64(n)
	i := -1
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if f < 10 {
		return fmt.Sprintf("%.1f %s", f, units[i])
	}
	return fmt.Sprintf("%.0f %s", f, units[i])
}
