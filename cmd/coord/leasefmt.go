package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coord-io/coord/coord/wire"
)

// Lease IDs are printed and taken in hex, as etcdctl does: 16 lower-case
// digits, no 0x ("%016x"). Parsing also accepts fewer digits and a 0x.

// leaseHex formats a lease ID as etcdctl prints it.
func leaseHex(id int64) string {
	return fmt.Sprintf("%016x", uint64(id))
}

// parseLeaseArg parses the lease ID argument of a command: hex, non-zero.
func parseLeaseArg(s string) (int64, error) {
	id, err := parseLeaseID(s)
	switch {
	case err != nil || s == "" || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-"):
		return 0, fmt.Errorf("bad lease ID %q: want the hex ID `coord lease grant` printed", s)
	case id <= 0:
		return 0, fmt.Errorf("bad lease ID %q: lease IDs are positive and non-zero", s)
	}
	return id, nil
}

// parseTTL parses a lease TTL: whole seconds ("5") or a Go duration ("5s",
// "1m30s", "1.5s"), rounded up to whole seconds. It must be positive.
func parseTTL(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("TTL must be positive, got %q", s)
		}
		return checkTTL(n, s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad TTL %q: want seconds (5) or a duration (5s, 1m)", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("TTL must be positive, got %q", s)
	}
	secs := int64(d / time.Second)
	if d%time.Second != 0 {
		secs++
	}
	return checkTTL(secs, s)
}

// maxTTL bounds lease TTLs (about 68 years).
const maxTTL = math.MaxInt32

func checkTTL(secs int64, s string) (int64, error) {
	if secs > maxTTL {
		return 0, fmt.Errorf("TTL %q is too large (at most %d seconds)", s, int64(maxTTL))
	}
	return secs, nil
}

// errLeaseLost is the error of a keep-alive whose lease is gone.
func errLeaseLost(id int64) error {
	return fmt.Errorf("lease %s expired or revoked", leaseHex(id))
}

// ---- printers ----

type jsonLeaseResp struct {
	Header jsonHeader `json:"header"`
	ID     int64      `json:"id"`
	TTL    *int64     `json:"ttl,omitempty"`
}

func printLeaseGrant(w io.Writer, format string, r *wire.LeaseGrantResponse) error {
	if format == formatJSON {
		return writeJSON(w, jsonLeaseResp{Header: jsonHeaderOf(r.Header), ID: r.ID, TTL: &r.TTL})
	}
	fmt.Fprintf(w, "lease %s granted with TTL(%ds)\n", leaseHex(r.ID), r.TTL)
	return nil
}

func printLeaseRevoke(w io.Writer, format string, id int64, r *wire.LeaseRevokeResponse) error {
	if format == formatJSON {
		return writeJSON(w, jsonLeaseResp{Header: jsonHeaderOf(r.Header), ID: id})
	}
	fmt.Fprintf(w, "lease %s revoked\n", leaseHex(id))
	return nil
}

// keepAliveTTL returns the TTL a keep-alive response gives lease id, and
// false when the response does not mention it.
func keepAliveTTL(r *wire.LeaseKeepAliveResponse, id int64) (int64, bool) {
	for i, x := range r.IDs {
		if x == id && i < len(r.TTLs) {
			return r.TTLs[i], true
		}
	}
	return 0, false
}

func printLeaseKeepAlive(w io.Writer, format string, id, ttl int64, r *wire.LeaseKeepAliveResponse) error {
	if format == formatJSON {
		return writeJSON(w, jsonLeaseResp{Header: jsonHeaderOf(r.Header), ID: id, TTL: &ttl})
	}
	fmt.Fprintf(w, "lease %s keepalived with TTL(%d)\n", leaseHex(id), ttl)
	return nil
}

type jsonLeaseTTLResp struct {
	Header     jsonHeader `json:"header"`
	ID         int64      `json:"id"`
	TTL        int64      `json:"ttl"`
	GrantedTTL int64      `json:"granted_ttl"`
	Keys       []string   `json:"keys,omitempty"`
	KeysBase64 []string   `json:"keys_base64,omitempty"`
}

// printLeaseTTL prints a time-to-live response; id is the lease asked
// about (the response may not echo it for a missing lease).
func printLeaseTTL(w io.Writer, format string, id int64, r *wire.LeaseTimeToLiveResponse, withKeys bool) error {
	if format == formatJSON {
		j := jsonLeaseTTLResp{Header: jsonHeaderOf(r.Header), ID: id, TTL: r.TTL, GrantedTTL: r.GrantedTTL}
		if withKeys {
			j.Keys, j.KeysBase64 = jsonKeyList(r.Keys)
		}
		return writeJSON(w, j)
	}
	if r.TTL == -1 {
		fmt.Fprintf(w, "lease %s already expired\n", leaseHex(id))
		return nil
	}
	line := fmt.Sprintf("lease %s granted with TTL(%ds), remaining(%ds)", leaseHex(id), r.GrantedTTL, r.TTL)
	if withKeys {
		ks := make([]string, len(r.Keys))
		for i, k := range r.Keys {
			ks[i] = string(k)
		}
		line += fmt.Sprintf(", attached keys(%v)", ks)
	}
	fmt.Fprintln(w, line)
	return nil
}

// jsonKeyList gives keys as strings when all are valid UTF-8, else all in
// base64 (the second result). An empty list is [] under "keys".
func jsonKeyList(keys [][]byte) ([]string, []string) {
	out := make([]string, len(keys))
	for _, k := range keys {
		if !utf8.Valid(k) {
			for i, k := range keys {
				out[i] = base64.StdEncoding.EncodeToString(k)
			}
			return nil, out
		}
	}
	for i, k := range keys {
		out[i] = string(k)
	}
	return out, nil
}

type jsonLeaseStatus struct {
	ID  int64 `json:"id"`
	TTL int64 `json:"ttl"`
}

func printLeases(w io.Writer, format string, r *wire.LeaseLeasesResponse) error {
	switch format {
	case formatJSON:
		ls := make([]jsonLeaseStatus, 0, len(r.Leases))
		for _, l := range r.Leases {
			ls = append(ls, jsonLeaseStatus{ID: l.ID, TTL: l.TTL})
		}
		return writeJSON(w, struct {
			Header jsonHeader        `json:"header"`
			Leases []jsonLeaseStatus `json:"leases"`
		}{jsonHeaderOf(r.Header), ls})
	case formatTable:
		rows := make([][]string, 0, len(r.Leases))
		for _, l := range r.Leases {
			shard := ""
			if s, ok := wire.LeaseShard(l.ID); ok {
				shard = strconv.FormatUint(uint64(s), 10)
			}
			rows = append(rows, []string{leaseHex(l.ID), shard, strconv.FormatInt(l.TTL, 10)})
		}
		writeBorderedTable(w, []string{"ID", "SHARD", "TTL"}, rows, []bool{false, true, true})
	default:
		fmt.Fprintf(w, "found %d leases\n", len(r.Leases))
		for _, l := range r.Leases {
			fmt.Fprintln(w, leaseHex(l.ID))
		}
	}
	return nil
}
