package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// Output of user, role and auth commands, as etcdctl prints them.

type jsonAuthStatus struct {
	Enabled      bool  `json:"enabled"`
	AuthRevision int64 `json:"auth_revision,omitempty"`
}

type jsonUserDone struct {
	User            string `json:"user"`
	Created         bool   `json:"created,omitempty"`
	Deleted         bool   `json:"deleted,omitempty"`
	PasswordUpdated bool   `json:"password_updated,omitempty"`
	Granted         string `json:"granted_role,omitempty"`
	Revoked         string `json:"revoked_role,omitempty"`
}

type jsonRoleDone struct {
	Role    string    `json:"role"`
	Created bool      `json:"created,omitempty"`
	Deleted bool      `json:"deleted,omitempty"`
	Granted *jsonPerm `json:"granted,omitempty"`
	Revoked *jsonPerm `json:"revoked,omitempty"`
}

type jsonUser struct {
	User  string   `json:"user"`
	Roles []string `json:"roles"`
}

type jsonRole struct {
	Role  string     `json:"role"`
	Perms []jsonPerm `json:"perms"`
}

type jsonPerm struct {
	Kind     string `json:"kind"`
	Type     string `json:"type"`
	Key      string `json:"key"`
	RangeEnd string `json:"range_end,omitempty"`
	Prefix   bool   `json:"prefix,omitempty"`
	FromKey  bool   `json:"from_key,omitempty"`
}

func permKind(p coord.Permission) string {
	if p.Kind == "" {
		return wire.KindKV
	}
	return p.Kind
}

func openEnded(p coord.Permission) bool { return len(p.RangeEnd) == 1 && p.RangeEnd[0] == 0 }

func jsonPermOf(p coord.Permission) jsonPerm {
	j := jsonPerm{Kind: permKind(p), Type: p.Type.String(), Key: string(p.Key), Prefix: coord.IsPrefixPermission(p)}
	if openEnded(p) {
		j.FromKey = true
	} else {
		j.RangeEnd = string(p.RangeEnd)
	}
	return j
}

// printAuthStatus prints auth status as etcdctl does.
func printAuthStatus(w io.Writer, format string, on bool, rev int64) error {
	switch format {
	case formatJSON:
		return writeJSON(w, jsonAuthStatus{Enabled: on, AuthRevision: rev})
	case formatTable:
		writeBorderedTable(w, []string{"ENABLED", "AUTH REVISION"}, [][]string{{strconv.FormatBool(on), strconv.FormatInt(rev, 10)}}, []bool{false, true})
	default:
		fmt.Fprintf(w, "Authentication Status: %t\nAuthRevision: %d\n", on, rev)
	}
	return nil
}

// printUser prints user get: "User: NAME" and "Roles: A B".
func printUser(w io.Writer, format, name string, roles []string) error {
	switch format {
	case formatJSON:
		if roles == nil {
			roles = []string{}
		}
		return writeJSON(w, jsonUser{User: name, Roles: roles})
	case formatTable:
		writeBorderedTable(w, []string{"USER", "ROLES"}, [][]string{{name, strings.Join(roles, ", ")}}, nil)
	default:
		fmt.Fprintf(w, "User: %s\nRoles:", name)
		for _, r := range roles {
			fmt.Fprintf(w, " %s", r)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// printNames prints user list or role list: one name a line; in JSON
// {"users": [...]} (field) or {"roles": [...]}.
func printNames(w io.Writer, format, field, column string, names []string) error {
	switch format {
	case formatJSON:
		if names == nil {
			names = []string{}
		}
		return writeJSON(w, map[string][]string{field: names})
	case formatTable:
		rows := make([][]string, len(names))
		for i, n := range names {
			rows[i] = []string{n}
		}
		writeBorderedTable(w, []string{column}, rows, nil)
	default:
		for _, n := range names {
			fmt.Fprintln(w, n)
		}
	}
	return nil
}

// kindTitles are the titles of the kinds in role get ("KV Read:").
var kindTitles = map[string]string{
	wire.KindKV:        "KV",
	wire.KindLock:      "Lock",
	wire.KindElection:  "Election",
	wire.KindQueue:     "Queue",
	wire.KindBarrier:   "Barrier",
	wire.KindSemaphore: "Semaphore",
}

// formatPermRange is how role get shows what a permission covers, as
// etcdctl does: a key alone, [KEY, END), [KEY, <open ended>, with
// " (prefix KEY)" for a prefix.
func formatPermRange(p coord.Permission) string {
	key := displayString(p.Key)
	var s string
	switch {
	case len(p.RangeEnd) == 0:
		return key
	case openEnded(p):
		s = "[" + key + ", <open ended>"
	default:
		s = "[" + key + ", " + displayString(p.RangeEnd) + ")"
	}
	if coord.IsPrefixPermission(p) && len(p.Key) > 0 {
		s += " (prefix " + key + ")"
	}
	return s
}

// printRole prints role get: the role, then per kind the keys or names
// it may read and those it may write. KV is always shown (as etcdctl
// does), the other kinds when the role has permissions of them.
func printRole(w io.Writer, format, name string, perms []coord.Permission) error {
	switch format {
	case formatJSON:
		j := jsonRole{Role: name, Perms: []jsonPerm{}}
		for _, p := range perms {
			j.Perms = append(j.Perms, jsonPermOf(p))
		}
		return writeJSON(w, j)
	case formatTable:
		rows := make([][]string, 0, len(perms))
		for _, p := range perms {
			rows = append(rows, []string{permKind(p), p.Type.String(), formatPermRange(p)})
		}
		writeBorderedTable(w, []string{"KIND", "TYPE", "KEY"}, rows, nil)
		return nil
	}
	fmt.Fprintf(w, "Role %s\n", name)
	for _, kind := range wire.Kinds {
		var of []coord.Permission
		for _, p := range perms {
			if permKind(p) == kind {
				of = append(of, p)
			}
		}
		if len(of) == 0 && kind != wire.KindKV {
			continue
		}
		for _, t := range []struct {
			typ   wire.PermType
			title string
		}{{wire.PermRead, "Read"}, {wire.PermWrite, "Write"}} {
			fmt.Fprintf(w, "%s %s:\n", kindTitles[kind], t.title)
			for _, p := range of {
				if p.Type.Allows(t.typ) {
					fmt.Fprintf(w, "\t%s\n", formatPermRange(p))
				}
			}
		}
	}
	return nil
}
