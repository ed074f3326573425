package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/coord-io/coord/coord/wire"
)

// Printers of the lock and elect commands. Owners and election values are
// free-form bytes: simple output writes values as they are (like get) and
// shows owners with displayString; JSON gives them as strings when valid
// UTF-8, else under a *_base64 key, as for keys and values in get.

// printLockHeld prints what `lock acquire` prints once the lock is held:
// "NAME TOKEN".
func printLockHeld(w io.Writer, format, name string, key []byte, token int64) error {
	if format == formatJSON {
		j := struct {
			Name      string  `json:"name"`
			Key       *string `json:"key,omitempty"`
			KeyBase64 string  `json:"key_base64,omitempty"`
			Token     int64   `json:"token"`
		}{Name: name, Token: token}
		j.Key, j.KeyBase64 = jsonBytes(key)
		return writeJSON(w, j)
	}
	fmt.Fprintf(w, "%s %d\n", name, token)
	return nil
}

type jsonLockStatus struct {
	Header      jsonHeader `json:"header"`
	Name        string     `json:"name"`
	Held        bool       `json:"held"`
	Key         *string    `json:"key,omitempty"`
	KeyBase64   string     `json:"key_base64,omitempty"`
	Owner       *string    `json:"owner,omitempty"`
	OwnerBase64 string     `json:"owner_base64,omitempty"`
	Token       int64      `json:"token"`
	Lease       int64      `json:"lease"`
	LeaseTTL    int64      `json:"lease_ttl"`
	Waiters     int64      `json:"waiters"`
}

// printLockStatus prints `lock status`: "holder:", "token:", "lease:",
// "ttl:" and "waiters:" lines, or "free" and "waiters:" when nobody holds
// the lock.
func printLockStatus(w io.Writer, format, name string, r *wire.LockStatusResponse) error {
	switch format {
	case formatJSON:
		j := jsonLockStatus{Header: jsonHeaderOf(r.Header), Name: name, Held: r.Held, Waiters: r.Waiters}
		if r.Held {
			j.Key, j.KeyBase64 = jsonBytes(r.Key)
			j.Owner, j.OwnerBase64 = jsonBytes(r.Owner)
			j.Token, j.Lease, j.LeaseTTL = r.Token, r.Lease, r.LeaseTTL
		}
		return writeJSON(w, j)
	case formatTable:
		row := []string{name, "(free)", "", "", "", strconv.FormatInt(r.Waiters, 10)}
		if r.Held {
			row = []string{name, displayString(r.Owner), strconv.FormatInt(r.Token, 10), formatLease(r.Lease),
				fmt.Sprintf("%ds", r.LeaseTTL), strconv.FormatInt(r.Waiters, 10)}
		}
		writeBorderedTable(w, []string{"NAME", "HOLDER", "TOKEN", "LEASE", "TTL", "WAITERS"}, [][]string{row},
			[]bool{false, false, true, false, true, true})
	default:
		if !r.Held {
			fmt.Fprintln(w, "free")
		} else {
			fmt.Fprintf(w, "holder: %s\n", displayString(r.Owner))
			fmt.Fprintf(w, "token: %d\n", r.Token)
			fmt.Fprintf(w, "lease: %s\n", formatLease(r.Lease))
			fmt.Fprintf(w, "ttl: %ds\n", r.LeaseTTL)
		}
		fmt.Fprintf(w, "waiters: %d\n", r.Waiters)
	}
	return nil
}

type jsonLeader struct {
	Header      *jsonHeader `json:"header,omitempty"`
	Name        string      `json:"name"`
	Key         *string     `json:"key,omitempty"`
	KeyBase64   string      `json:"key_base64,omitempty"`
	Value       *string     `json:"value,omitempty"`
	ValueBase64 string      `json:"value_base64,omitempty"`
	Term        int64       `json:"term"`
	Lease       int64       `json:"lease"`
}

func jsonLeaderOf(name string, r *wire.LeaderResponse, withHeader bool) jsonLeader {
	j := jsonLeader{Name: name, Term: r.Term, Lease: r.Lease}
	if withHeader {
		h := jsonHeaderOf(r.Header)
		j.Header = &h
	}
	j.Key, j.KeyBase64 = jsonBytes(r.Key)
	j.Value, j.ValueBase64 = jsonBytes(r.Value)
	return j
}

// printCampaignLeader prints what `elect campaign` prints once it leads:
// the name line, the value line, then "term T".
func printCampaignLeader(w io.Writer, format, name string, r *wire.LeaderResponse) error {
	if format == formatJSON {
		return writeJSON(w, jsonLeaderOf(name, r, false))
	}
	writeLine(w, []byte(name))
	writeLine(w, r.Value)
	fmt.Fprintf(w, "term %d\n", r.Term)
	return nil
}

// printLeader prints a leader as `elect leader` and `elect observe` do: the
// value line, then "term T".
func printLeader(w io.Writer, format, name string, r *wire.LeaderResponse) error {
	switch format {
	case formatJSON:
		return writeJSON(w, jsonLeaderOf(name, r, true))
	case formatTable:
		writeBorderedTable(w, []string{"NAME", "VALUE", "TERM", "LEASE"},
			[][]string{{name, displayString(r.Value), strconv.FormatInt(r.Term, 10), formatLease(r.Lease)}},
			[]bool{false, false, true, false})
	default:
		writeLine(w, r.Value)
		fmt.Fprintf(w, "term %d\n", r.Term)
	}
	return nil
}
