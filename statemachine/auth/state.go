package auth

import (
	"bytes"
	"sort"
	"strconv"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/corruption"
	"github.com/coord-io/coord/statemachine/primitive"
)

// Root is the reserved prefix the auth store lives under, in shard
// wire.AuthShard. Its layout:
//
//	Root + "enabled"      "1" while auth is enabled (absent otherwise)
//	Root + "rev"          the auth revision, decimal: changes made so far
//	Root + "user/" + NAME a UserRecord (msgpack)
//	Root + "role/" + NAME a RoleRecord (msgpack)
const Root = "\x00coord/auth/"

// Keys of the layout.
var (
	EnabledKey = []byte(Root + "enabled")
	RevKey     = []byte(Root + "rev")
	UserPrefix = []byte(Root + "user/")
	RolePrefix = []byte(Root + "role/")
)

// UserKey and RoleKey are the keys of user and role name.
func UserKey(name string) []byte { return append(append([]byte(nil), UserPrefix...), name...) }
func RoleKey(name string) []byte { return append(append([]byte(nil), RolePrefix...), name...) }

// UserRecord is a user as stored: its bcrypt password hash (none for a
// user that authenticates only by certificate) and its roles, sorted.
type UserRecord struct {
	Hash       []byte   `msgpack:"h,omitempty"`
	NoPassword bool     `msgpack:"np,omitempty"`
	Roles      []string `msgpack:"r,omitempty"`
}

// RoleRecord is a role as stored: its permissions, sorted by kind, key
// and range end, no two with the same kind, key and end.
type RoleRecord struct {
	Perms []wire.Permission `msgpack:"p,omitempty"`
}

// State is the whole auth store of one replica at one revision, in
// memory, with each user's permissions merged for fast checks. A State is
// never changed after Load: a member swaps in a new one.
type State struct {
	Enabled  bool
	Revision int64
	Users    map[string]*UserRecord
	Roles    map[string]*RoleRecord

	// grants[user][kind][type] are the merged intervals user may access
	// with type (wire.PermRead or wire.PermWrite) in kind.
	grants map[string]map[string]map[wire.PermType][]interval
}

// Load reads the auth store from r (shard wire.AuthShard's keyspace).
func Load(r primitive.Reader) (*State, error) {
	s := &State{Users: map[string]*UserRecord{}, Roles: map[string]*RoleRecord{}}
	kv, err := r.Get(EnabledKey)
	if err != nil {
		return nil, err
	}
	s.Enabled = kv != nil
	if kv, err = r.Get(RevKey); err != nil {
		return nil, err
	}
	if kv != nil {
		if s.Revision, err = strconv.ParseInt(string(kv.Value), 10, 64); err != nil {
			return nil, corruption.Errorf("auth: revision record %q: %w (%w)", kv.Value, ErrCorrupt, err)
		}
	}
	users, err := r.Range(UserPrefix, wire.PrefixEnd(UserPrefix), 0)
	if err != nil {
		return nil, err
	}
	for _, kv := range users {
		var u UserRecord
		if err := wire.Unmarshal(kv.Value, &u); err != nil {
			return nil, corruption.Errorf("auth: user record %q: %w (%w)", kv.Key, ErrCorrupt, err)
		}
		s.Users[string(kv.Key[len(UserPrefix):])] = &u
	}
	roles, err := r.Range(RolePrefix, wire.PrefixEnd(RolePrefix), 0)
	if err != nil {
		return nil, err
	}
	for _, kv := range roles {
		var ro RoleRecord
		if err := wire.Unmarshal(kv.Value, &ro); err != nil {
			return nil, corruption.Errorf("auth: role record %q: %w (%w)", kv.Key, ErrCorrupt, err)
		}
		s.Roles[string(kv.Key[len(RolePrefix):])] = &ro
	}
	s.merge()
	return s, nil
}

// IsRoot reports whether user holds the root role (root may do
// everything).
func (s *State) IsRoot(user string) bool {
	u := s.Users[user]
	if u == nil {
		return false
	}
	for _, r := range u.Roles {
		if r == wire.RootRole {
			return true
		}
	}
	return false
}

// Allowed reports whether user may access [key, end) of kind (end as in
// wire.RangeRequest: empty for key alone, "\x00" for every key from key
// on) with typ: wire.PermRead, wire.PermWrite, or wire.PermReadWrite for
// both. The union of the user's roles' permissions must cover the whole
// range (an empty range touches nothing: allowed to a known user). Root
// is allowed everything; an unknown user nothing.
func (s *State) Allowed(user, kind string, typ wire.PermType, key, end []byte) bool {
	if s.IsRoot(user) {
		return true
	}
	if s.Users[user] == nil {
		return false // not even an empty range
	}
	if kind == "" {
		kind = wire.KindKV
	}
	want := toInterval(key, end)
	for _, t := range []wire.PermType{wire.PermRead, wire.PermWrite} {
		if typ&t == 0 {
			continue
		}
		if !covered(s.grants[user][kind][t], want) {
			return false
		}
	}
	return typ != 0
}

// interval is [lo, hi); hi nil means no upper bound.
type interval struct{ lo, hi []byte }

// toInterval turns a key and a range end (wire.RangeRequest's rules)
// into an interval.
func toInterval(key, end []byte) interval {
	switch {
	case len(end) == 0:
		return interval{key, append(append([]byte(nil), key...), 0)}
	case len(end) == 1 && end[0] == 0:
		return interval{key, nil}
	}
	return interval{key, end}
}

// less reports whether upper bound a is below b (nil is +∞).
func hiLess(a, b []byte) bool {
	if a == nil {
		return false
	}
	return b == nil || bytes.Compare(a, b) < 0
}

// covered reports whether want lies inside one of the merged,
// disjoint, sorted intervals in.
func covered(in []interval, want interval) bool {
	if want.hi != nil && bytes.Compare(want.lo, want.hi) >= 0 {
		return true // an empty range touches nothing
	}
	i := sort.Search(len(in), func(i int) bool { return hiLess(want.lo, in[i].hi) })
	return i < len(in) && bytes.Compare(in[i].lo, want.lo) <= 0 && !hiLess(in[i].hi, want.hi)
}

// merge builds s.grants from the users' roles.
func (s *State) merge() {
	s.grants = map[string]map[string]map[wire.PermType][]interval{}
	for name, u := range s.Users {
		g := map[string]map[wire.PermType][]interval{}
		for _, rn := range u.Roles {
			ro := s.Roles[rn]
			if ro == nil {
				continue
			}
			for _, p := range ro.Perms {
				kind := p.Kind
				if kind == "" {
					kind = wire.KindKV
				}
				if g[kind] == nil {
					g[kind] = map[wire.PermType][]interval{}
				}
				for _, t := range []wire.PermType{wire.PermRead, wire.PermWrite} {
					if p.Type&t != 0 {
						g[kind][t] = append(g[kind][t], toInterval(p.Key, p.RangeEnd))
					}
				}
			}
		}
		for _, byType := range g {
			for t, ivs := range byType {
				byType[t] = mergeIntervals(ivs)
			}
		}
		s.grants[name] = g
	}
}

// mergeIntervals sorts ivs and joins those that overlap or touch.
func mergeIntervals(ivs []interval) []interval {
	sort.Slice(ivs, func(i, j int) bool { return bytes.Compare(ivs[i].lo, ivs[j].lo) < 0 })
	var out []interval
	for _, iv := range ivs {
		if iv.hi != nil && bytes.Compare(iv.lo, iv.hi) >= 0 {
			continue
		}
		if n := len(out); n > 0 && !hiLess(out[n-1].hi, iv.lo) {
			if hiLess(out[n-1].hi, iv.hi) {
				out[n-1].hi = iv.hi
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}
