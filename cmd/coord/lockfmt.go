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
	// Set only for a lock with a shared owner (holding or waiting).
	Readers int64           `json:"readers,omitempty"`
	Holders []jsonLockOwner `json:"holders,omitempty"`
	Queue   []jsonLockOwner `json:"queue,omitempty"`
}

type jsonLockOwner struct {
	Key         *string `json:"key,omitempty"`
	KeyBase64   string  `json:"key_base64,omitempty"`
	Owner       *string `json:"owner,omitempty"`
	OwnerBase64 string  `json:"owner_base64,omitempty"`
	Mode        string  `json:"mode"`
	Token       int64   `json:"token"`
	Lease       int64   `json:"lease"`
	LeaseTTL    int64   `json:"lease_ttl"`
}

// lockMode names the mode of a lock owner.
func lockMode(shared bool) string {
	if shared {
		return "shared"
	}
	return "exclusive"
}

func jsonLockOwners(os []wire.LockOwner) []jsonLockOwner {
	var out []jsonLockOwner
	for _, o := range os {
		j := jsonLockOwner{Mode: lockMode(o.Shared), Token: o.Token, Lease: o.Lease, LeaseTTL: o.LeaseTTL}
		j.Key, j.KeyBase64 = jsonBytes(o.Key)
		if len(o.Owner) > 0 {
			j.Owner, j.OwnerBase64 = jsonBytes(o.Owner)
		}
		out = append(out, j)
	}
	return out
}

// rwLock reports whether status r is of a lock with a shared owner: then
// it lists its holders and queue with their modes.
func rwLock(r *wire.LockStatusResponse) bool { return len(r.Holders) > 0 || len(r.Queue) > 0 }

// lockOwnerLine is one owner in the holders: or queue: list of `lock
// status`: "  MODE [token T ]lease L ttl Ns[: OWNER]".
func lockOwnerLine(o wire.LockOwner) string {
	line := "  " + lockMode(o.Shared)
	if o.Token != 0 {
		line += fmt.Sprintf(" token %d", o.Token)
	}
	line += fmt.Sprintf(" lease %s ttl %ds", formatLease(o.Lease), o.LeaseTTL)
	if len(o.Owner) > 0 {
		line += ": " + displayString(o.Owner)
	}
	return line
}

// printLockStatus prints `lock status`: "holder:", "token:", "lease:",
// "ttl:" and "waiters:" lines, or "free" and "waiters:" when nobody holds
// the lock. A lock with a shared owner (holding or waiting) says
// "readers: N" instead of the holder lines while held shared, and lists
// its holders and queue with their modes ("holders:", "queue:"); in a
// table, one row per owner.
func printLockStatus(w io.Writer, format, name string, r *wire.LockStatusResponse) error {
	if format == formatTable && rwLock(r) {
		printRWLockTable(w, name, r)
		return nil
	}
	switch format {
	case formatJSON:
		j := jsonLockStatus{Header: jsonHeaderOf(r.Header), Name: name, Held: r.Held, Waiters: r.Waiters,
			Readers: r.Readers, Holders: jsonLockOwners(r.Holders), Queue: jsonLockOwners(r.Queue)}
		if r.Held && r.Readers == 0 {
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
		switch {
		case !r.Held:
			fmt.Fprintln(w, "free")
		case r.Readers > 0:
			fmt.Fprintf(w, "readers: %d\n", r.Readers)
		default:
			fmt.Fprintf(w, "holder: %s\n", displayString(r.Owner))
			fmt.Fprintf(w, "token: %d\n", r.Token)
			fmt.Fprintf(w, "lease: %s\n", formatLease(r.Lease))
			fmt.Fprintf(w, "ttl: %ds\n", r.LeaseTTL)
		}
		fmt.Fprintf(w, "waiters: %d\n", r.Waiters)
		if len(r.Holders) > 0 {
			fmt.Fprintln(w, "holders:")
			for _, o := range r.Holders {
				fmt.Fprintln(w, lockOwnerLine(o))
			}
		}
		if len(r.Queue) > 0 {
			fmt.Fprintln(w, "queue:")
			for _, o := range r.Queue {
				fmt.Fprintln(w, lockOwnerLine(o))
			}
		}
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

// printRWLockTable is the table of `lock status` for a lock with a shared
// owner: one row per holder, then per waiter in queue order.
func printRWLockTable(w io.Writer, name string, r *wire.LockStatusResponse) {
	var rows [][]string
	for i, o := range append(append([]wire.LockOwner{}, r.Holders...), r.Queue...) {
		state, token := "holds", strconv.FormatInt(o.Token, 10)
		if i >= len(r.Holders) {
			state, token = fmt.Sprintf("waits %d", i-len(r.Holders)+1), ""
		}
		rows = append(rows, []string{name, state, lockMode(o.Shared), displayString(o.Owner), token,
			formatLease(o.Lease), fmt.Sprintf("%ds", o.LeaseTTL)})
	}
	writeBorderedTable(w, []string{"NAME", "STATE", "MODE", "OWNER", "TOKEN", "LEASE", "TTL"}, rows,
		[]bool{false, false, false, false, true, false, true})
}
