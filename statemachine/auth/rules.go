package auth

import (
	"bytes"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/corruption"
	"github.com/coord-io/coord/statemachine/primitive"
)

// The rules of the auth store's operations. Every operation checks all
// that can fail as a user error before its first write, and every change
// bumps the auth revision (RevKey) in the same command; an operation that
// changes nothing (enabling auth twice, granting a role already granted)
// writes nothing and leaves the revision alone. The operations run only in
// shard wire.AuthShard.

// ErrCorrupt marks a record of the auth store that cannot be read (also
// matches corruption.ErrCorruption).
var ErrCorrupt = corruption.New("auth: corrupt auth store record")

// MaxNameLen is the longest user or role name, in bytes.
const MaxNameLen = 256

// bcryptLen is the length of every bcrypt hash ("$2a$10$" + 53 bytes).
const bcryptLen = 60

// checkName checks the name of a user or role (what: "user" or "role"):
// 1 to MaxNameLen bytes of UTF-8, printable, without spaces or ':' (the
// command line's --user NAME:PASSWORD splits at the first ':').
func checkName(what, name string) *wire.Error {
	switch {
	case name == "":
		return wire.Errorf(wire.CodeInvalid, "a %s needs a name", what)
	case len(name) > MaxNameLen:
		return wire.Errorf(wire.CodeInvalid, "%s name of %d bytes is longer than %d", what, len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return wire.Errorf(wire.CodeInvalid, "%s name %q is not UTF-8", what, name)
	}
	for _, r := range name {
		if r == ':' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return wire.Errorf(wire.CodeInvalid, "%s name %q has %q: use printable characters without spaces or ':'", what, name, r)
		}
	}
	return nil
}

// checkShard refuses an auth operation outside shard wire.AuthShard,
// where nobody would read what it wrote.
func checkShard(st primitive.Store) *wire.Error {
	if st.Shard() != wire.AuthShard {
		return wire.Errorf(wire.CodeWrongShard, "the auth store lives in shard %d, not in shard %d", wire.AuthShard, st.Shard())
	}
	return nil
}

// checkHash checks a password hash as the member sends it: a bcrypt hash,
// never a password.
func checkHash(h []byte) *wire.Error {
	if len(h) != bcryptLen || !(bytes.HasPrefix(h, []byte("$2a$")) || bytes.HasPrefix(h, []byte("$2b$")) || bytes.HasPrefix(h, []byte("$2y$"))) {
		return wire.Errorf(wire.CodeInvalid, "the password hash is not a bcrypt hash")
	}
	return nil
}

// checkNoPlaintext refuses a command that carries a password: the member
// hashes it before it proposes, so that no password enters the log.
func checkNoPlaintext(req *wire.UserRequest) *wire.Error {
	if req.Password != "" {
		return wire.Errorf(wire.CodeInvalid, "a password must be hashed by the member before it is proposed")
	}
	return nil
}

// readRev reads the auth revision.
func readRev(r primitive.Reader) (int64, error) {
	kv, err := r.Get(RevKey)
	if err != nil || kv == nil {
		return 0, err
	}
	rev, err := strconv.ParseInt(string(kv.Value), 10, 64)
	if err != nil || rev < 0 {
		return 0, corruption.Errorf("auth: revision record %q: %w", kv.Value, ErrCorrupt)
	}
	return rev, nil
}

// readEnabled reports whether auth is enabled.
func readEnabled(r primitive.Reader) (bool, error) {
	kv, err := r.Get(EnabledKey)
	return kv != nil, err
}

// readUser reads user name; nil if there is none.
func readUser(r primitive.Reader, name string) (*UserRecord, error) {
	kv, err := r.Get(UserKey(name))
	if err != nil || kv == nil {
		return nil, err
	}
	var u UserRecord
	if err := wire.Unmarshal(kv.Value, &u); err != nil {
		return nil, corruption.Errorf("auth: user record %q: %w (%w)", kv.Key, ErrCorrupt, err)
	}
	return &u, nil
}

// readRole reads role name; nil if there is none.
func readRole(r primitive.Reader, name string) (*RoleRecord, error) {
	kv, err := r.Get(RoleKey(name))
	if err != nil || kv == nil {
		return nil, err
	}
	var ro RoleRecord
	if err := wire.Unmarshal(kv.Value, &ro); err != nil {
		return nil, corruption.Errorf("auth: role record %q: %w (%w)", kv.Key, ErrCorrupt, err)
	}
	return &ro, nil
}

// names lists the names under prefix (UserPrefix or RolePrefix), in
// order.
func names(r primitive.Reader, prefix []byte) ([]string, error) {
	kvs, err := r.Range(prefix, wire.PrefixEnd(prefix), 0)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, string(kv.Key[len(prefix):]))
	}
	return out, nil
}

// bump writes the next auth revision and returns it; the last write of
// every change.
func bump(st primitive.Store) (int64, error) {
	rev, err := readRev(st)
	if err != nil {
		return 0, err
	}
	rev++
	return rev, st.Put(RevKey, []byte(strconv.FormatInt(rev, 10)), 0)
}

func putUser(st primitive.Store, name string, u *UserRecord) error {
	b, err := wire.Marshal(u)
	if err != nil {
		return err
	}
	return st.Put(UserKey(name), b, 0)
}

func putRole(st primitive.Store, name string, ro *RoleRecord) error {
	b, err := wire.Marshal(ro)
	if err != nil {
		return err
	}
	return st.Put(RoleKey(name), b, 0)
}

// existingUser reads user name: a user error if there is none.
func existingUser(r primitive.Reader, name string) (*UserRecord, *wire.Error, error) {
	u, err := readUser(r, name)
	if err != nil || u != nil {
		return u, nil, err
	}
	return nil, wire.Errorf(wire.CodeNotFound, "user %q not found", name), nil
}

// existingRole reads role name: a user error if there is none.
func existingRole(r primitive.Reader, name string) (*RoleRecord, *wire.Error, error) {
	ro, err := readRole(r, name)
	if err != nil || ro != nil {
		return ro, nil, err
	}
	return nil, wire.Errorf(wire.CodeNotFound, "role %q not found", name), nil
}

// saveUser and saveRole write a changed record and bump the auth revision.
func saveUser(st primitive.Store, name string, u *UserRecord) error {
	if err := putUser(st, name, u); err != nil {
		return err
	}
	_, err := bump(st)
	return err
}

func saveRole(st primitive.Store, name string, ro *RoleRecord) error {
	if err := putRole(st, name, ro); err != nil {
		return err
	}
	_, err := bump(st)
	return err
}

// ApplyAuthEnable enables auth; user root must exist and hold role root.
func ApplyAuthEnable(st primitive.Store, _ *wire.AuthRequest) (*wire.AuthStatusResponse, *wire.Error, error) {
	if werr := checkShard(st); werr != nil {
		return nil, werr, nil
	}
	on, err := readEnabled(st)
	if err != nil {
		return nil, nil, err
	}
	rev, err := readRev(st)
	if err != nil {
		return nil, nil, err
	}
	if on {
		return &wire.AuthStatusResponse{Enabled: true, Revision: rev}, nil, nil
	}
	root, err := readUser(st, wire.RootUser)
	if err != nil {
		return nil, nil, err
	}
	role, err := readRole(st, wire.RootRole)
	if err != nil {
		return nil, nil, err
	}
	if root == nil || role == nil || !slices.Contains(root.Roles, wire.RootRole) {
		return nil, wire.Errorf(wire.CodeInvalid, "auth enable needs user %s with role %s: add them (user add %s, role add %s, user grant-role %s %s) first",
			wire.RootUser, wire.RootRole, wire.RootUser, wire.RootRole, wire.RootUser, wire.RootRole), nil
	}
	if err := st.Put(EnabledKey, []byte("1"), 0); err != nil {
		return nil, nil, err
	}
	if rev, err = bump(st); err != nil {
		return nil, nil, err
	}
	return &wire.AuthStatusResponse{Enabled: true, Revision: rev}, nil, nil
}

// ApplyAuthDisable disables auth (a no-op when it is off).
func ApplyAuthDisable(st primitive.Store, _ *wire.AuthRequest) (*wire.AuthStatusResponse, *wire.Error, error) {
	if werr := checkShard(st); werr != nil {
		return nil, werr, nil
	}
	on, err := readEnabled(st)
	if err != nil {
		return nil, nil, err
	}
	rev, err := readRev(st)
	if err != nil {
		return nil, nil, err
	}
	if !on {
		return &wire.AuthStatusResponse{Revision: rev}, nil, nil
	}
	if _, err := st.Delete(EnabledKey); err != nil {
		return nil, nil, err
	}
	if rev, err = bump(st); err != nil {
		return nil, nil, err
	}
	return &wire.AuthStatusResponse{Revision: rev}, nil, nil
}

// ApplyUserAdd adds user req.Name with req.PasswordHash, or without a
// password (req.NoPassword).
func ApplyUserAdd(st primitive.Store, req *wire.UserRequest) (*wire.UserResponse, *wire.Error, error) {
	if werr := checkShard(st); werr != nil {
		return nil, werr, nil
	}
	if werr := checkName("user", req.Name); werr != nil {
		return nil, werr, nil
	}
	if werr := checkNoPlaintext(req); werr != nil {
		return nil, werr, nil
	}
	switch {
	case req.NoPassword && len(req.PasswordHash) > 0:
		return nil, wire.Errorf(wire.CodeInvalid, "user %q: give a password or no password, not both", req.Name), nil
	case !req.NoPassword && len(req.PasswordHash) == 0:
		return nil, wire.Errorf(wire.CodeInvalid, "user %q needs a password (or no password, to authenticate by certificate only)", req.Name), nil
	case !req.NoPassword:
		if werr := checkHash(req.PasswordHash); werr != nil {
			return nil, werr, nil
		}
	}
	u, err := readUser(st, req.Name)
	if err != nil {
		return nil, nil, err
	}
	if u != nil {
		return nil, wire.Errorf(wire.CodeAlreadyExists, "user %q already exists", req.Name), nil
	}
	if err := saveUser(st, req.Name, &UserRecord{Hash: req.PasswordHash, NoPassword: req.NoPassword}); err != nil {
		return nil, nil, err
	}
	return &wire.UserResponse{}, nil, nil
}

// ApplyUserDelete deletes user req.Name; not root while auth is enabled.
func ApplyUserDelete(st primitive.Store, req *wire.UserRequest) (*wire.UserResponse, *wire.Error, error) {
	if werr := checkShard(st); werr != nil {
		return nil, werr, nil
	}
	if _, werr, err := existingUser(st, req.Name); werr != nil || err != nil {
		return nil, werr, err
	}
	if req.Name == wire.RootUser {
		on, err := readEnabled(st)
		if err != nil {
			return nil, nil, err
		}
		if on {
			return nil, wire.Errorf(wire.CodeInvalid, "user %s cannot be deleted while auth is enabled: disable auth first", wire.RootUser), nil
		}
	}
	if _, err := st.Delete(UserKey(req.Name)); err != nil {
		return nil, nil, err
	}
	if _, err := bump(st); err != nil {
		return nil, nil, err
	}
	return &wire.UserResponse{}, nil, nil
}

// ApplyUserPasswd sets the password hash of user req.Name (a user without
// a password gets one).
func ApplyUserPasswd(st primitive.Store, req *wire.UserRequest) (*wire.UserResponse, *wire.Error, error) {
	if werr := checkShard(st); werr != nil {
		return nil, werr, nil
	}
	if werr := checkNoPlaintext(req); werr != nil {
		return nil, werr, nil
	}
	if req.NoPassword {
		return nil, wire.Errorf(wire.CodeInvalid, "user passwd sets a password; it cannot remove one"), nil
	}
	if len(req.PasswordHash) == 0 {
		return nil, wire.Errorf(wire.CodeInvalid, "user passwd needs a new password"), nil
	}
	if werr := checkHash(req.PasswordHash); werr != nil {
		return nil, werr, nil
	}
	u, werr, err := existingUser(st, req.Name)
	if werr != nil || err != nil {
		return nil, werr, err
	}
	u.Hash, u.NoPassword = req.PasswordHash, false
	if err := saveUser(st, req.Name, u); err != nil {
		return nil, nil, err
	}
	return &wire.UserResponse{}, nil, nil
}

// ApplyUserGrantRole grants role req.Role to user req.Name (a no-op if it
// holds it).
func ApplyUserGrantRole(st primitive.Store, req *wire.UserRequest) (*wire.UserResponse, *wire.Error, error) {
	if werr := checkShard(st); werr != nil {
		return nil, werr, nil
	}
	u, werr, err := existingUser(st, req.Name)
	if werr != nil || err != nil {
		return nil, werr, err
	}
	if _, werr, err := existingRole(st, req.Role); werr != nil || err != nil {
		return nil, werr, err
	}
	i, found := slices.BinarySearch(u.Roles, req.Role)
	if found {
		return &wire.UserResponse{}, nil, nil
	}
	u.Roles = slices.Insert(u.Roles, i, req.Role)
	if err := saveUser(st, req.Name, u); err != nil {
		return nil, nil, err
	}
	return &wire.UserResponse{}, nil, nil
}

// ApplyUserRevokeRole revokes role req.Role from user req.Name; not role
// root from user root while auth is enabled.
func ApplyUserRevokeRole(st primitive.Store, req *wire.UserRequest) (*wire.UserResponse, *wire.Error, error) {
	if werr := checkShard(st); werr != nil {
		return nil, werr, nil
	}
	u, werr, err := existingUser(st, req.Name)
	if werr != nil || err != nil {
		return nil, werr, err
	}
	i, found := slices.BinarySearch(u.Roles, req.Role)
	if !found {
		return nil, wire.Errorf(wire.CodeNotFound, "user %q does not have role %q", req.Name, req.Role), nil
	}
	if req.Name == wire.RootUser && req.Role == wire.RootRole {
		on, err := readEnabled(st)
		if err != nil {
			return nil, nil, err
		}
		if on {
			return nil, wire.Errorf(wire.CodeInvalid, "role %s cannot be revoked from user %s while auth is enabled: disable auth first", wire.RootRole, wire.RootUser), nil
		}
	}
	u.Roles = slices.Delete(u.Roles, i, i+1)
	if err := saveUser(st, req.Name, u); err != nil {
		return nil, nil, err
	}
	return &wire.UserResponse{}, nil, nil
}

// ApplyRoleAdd adds role req.Name, without permissions.
func ApplyRoleAdd(st primitive.Store, req *wire.RoleRequest) (*wire.RoleResponse, *wire.Error, error) {
	if werr := checkShard(st); werr != nil {
		return nil, werr, nil
	}
	if werr := checkName("role", req.Name); werr != nil {
		return nil, werr, nil
	}
	ro, err := readRole(st, req.Name)
	if err != nil {
		return nil, nil, err
	}
	if ro != nil {
		return nil, wire.Errorf(wire.CodeAlreadyExists, "role %q already exists", req.Name), nil
	}
	if err := saveRole(st, req.Name, &RoleRecord{}); err != nil {
		return nil, nil, err
	}
	return &wire.RoleResponse{}, nil, nil
}

// ApplyRoleDelete deletes role req.Name and revokes it from every user
// that holds it (in name order); not root while auth is enabled.
func ApplyRoleDelete(st primitive.Store, req *wire.RoleRequest) (*wire.RoleResponse, *wire.Error, error) {
	if werr := checkShard(st); werr != nil {
		return nil, werr, nil
	}
	if _, werr, err := existingRole(st, req.Name); werr != nil || err != nil {
		return nil, werr, err
	}
	if req.Name == wire.RootRole {
		on, err := readEnabled(st)
		if err != nil {
			return nil, nil, err
		}
		if on {
			return nil, wire.Errorf(wire.CodeInvalid, "role %s cannot be deleted while auth is enabled: disable auth first", wire.RootRole), nil
		}
	}
	users, err := st.Range(UserPrefix, wire.PrefixEnd(UserPrefix), 0)
	if err != nil {
		return nil, nil, err
	}
	type change struct {
		name string
		u    *UserRecord
	}
	var holders []change
	for _, kv := range users {
		var u UserRecord
		if err := wire.Unmarshal(kv.Value, &u); err != nil {
			return nil, nil, corruption.Errorf("auth: user record %q: %w (%w)", kv.Key, ErrCorrupt, err)
		}
		if i, found := slices.BinarySearch(u.Roles, req.Name); found {
			u.Roles = slices.Delete(u.Roles, i, i+1)
			holders = append(holders, change{string(kv.Key[len(UserPrefix):]), &u})
		}
	}
	for _, h := range holders {
		if err := putUser(st, h.name, h.u); err != nil {
			return nil, nil, err
		}
	}
	if _, err := st.Delete(RoleKey(req.Name)); err != nil {
		return nil, nil, err
	}
	if _, err := bump(st); err != nil {
		return nil, nil, err
	}
	return &wire.RoleResponse{}, nil, nil
}

// normPerm checks a permission of a grant (withType) or revoke and
// returns it normalised: kind kv as "", a copy of its keys.
func normPerm(p *wire.Permission, withType bool) (wire.Permission, *wire.Error) {
	if p == nil {
		return wire.Permission{}, wire.Errorf(wire.CodeInvalid, "a permission is needed")
	}
	n := wire.Permission{Type: p.Type, Kind: p.Kind, Key: bytes.Clone(p.Key), RangeEnd: bytes.Clone(p.RangeEnd)}
	if !withType {
		n.Type = 0
	} else if n.Type < wire.PermRead || n.Type > wire.PermReadWrite {
		return n, wire.Errorf(wire.CodeInvalid, "permission type %d: use read (1), write (2) or readwrite (3)", p.Type)
	}
	if n.Kind == wire.KindKV {
		n.Kind = ""
	}
	if n.Kind != "" && !slices.Contains(wire.Kinds, n.Kind) {
		return n, wire.Errorf(wire.CodeInvalid, "permission kind %q: use one of %v", p.Kind, wire.Kinds)
	}
	openEnd := len(n.RangeEnd) == 1 && n.RangeEnd[0] == 0
	switch {
	case len(n.Key) == 0 && !openEnd:
		return n, wire.Errorf(wire.CodeInvalid, "a permission needs a key (or range end \"\\x00\" with no key, for every key)")
	case len(n.RangeEnd) > 0 && !openEnd && bytes.Compare(n.RangeEnd, n.Key) <= 0:
		return n, wire.Errorf(wire.CodeInvalid, "permission range end %q is not after key %q", n.RangeEnd, n.Key)
	}
	if len(n.Key) == 0 {
		n.Key = nil
	}
	if len(n.RangeEnd) == 0 {
		n.RangeEnd = nil
	}
	return n, nil
}

// comparePerm orders permissions by kind, key and range end.
func comparePerm(a, b wire.Permission) int {
	if c := bytes.Compare([]byte(a.Kind), []byte(b.Kind)); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	return bytes.Compare(a.RangeEnd, b.RangeEnd)
}

// ApplyRoleGrantPermission grants req.Perm to role req.Name; a permission
// of the same kind, key and range end gets the new type.
func ApplyRoleGrantPermission(st primitive.Store, req *wire.RoleRequest) (*wire.RoleResponse, *wire.Error, error) {
	if werr := checkShard(st); werr != nil {
		return nil, werr, nil
	}
	p, werr := normPerm(req.Perm, true)
	if werr != nil {
		return nil, werr, nil
	}
	ro, werr, err := existingRole(st, req.Name)
	if werr != nil || err != nil {
		return nil, werr, err
	}
	i, found := slices.BinarySearchFunc(ro.Perms, p, comparePerm)
	switch {
	case found && ro.Perms[i].Type == p.Type:
		return &wire.RoleResponse{}, nil, nil
	case found:
		ro.Perms[i].Type = p.Type
	default:
		ro.Perms = slices.Insert(ro.Perms, i, p)
	}
	if err := saveRole(st, req.Name, ro); err != nil {
		return nil, nil, err
	}
	return &wire.RoleResponse{}, nil, nil
}

// ApplyRoleRevokePermission removes the permission of role req.Name with
// req.Perm's kind, key and range end (its type is ignored).
func ApplyRoleRevokePermission(st primitive.Store, req *wire.RoleRequest) (*wire.RoleResponse, *wire.Error, error) {
	if werr := checkShard(st); werr != nil {
		return nil, werr, nil
	}
	p, werr := normPerm(req.Perm, false)
	if werr != nil {
		return nil, werr, nil
	}
	ro, werr, err := existingRole(st, req.Name)
	if werr != nil || err != nil {
		return nil, werr, err
	}
	i, found := slices.BinarySearchFunc(ro.Perms, p, comparePerm)
	if !found {
		return nil, wire.Errorf(wire.CodeNotFound, "role %q has no permission on %s", req.Name, describe(p)), nil
	}
	ro.Perms = slices.Delete(ro.Perms, i, i+1)
	if err := saveRole(st, req.Name, ro); err != nil {
		return nil, nil, err
	}
	return &wire.RoleResponse{}, nil, nil
}

// describe names what a permission covers, for messages.
func describe(p wire.Permission) string {
	kind := p.Kind
	if kind == "" {
		kind = wire.KindKV
	}
	switch {
	case len(p.RangeEnd) == 0:
		return strconv.Quote(string(p.Key)) + " (" + kind + ")"
	case len(p.RangeEnd) == 1 && p.RangeEnd[0] == 0:
		return "[" + strconv.Quote(string(p.Key)) + ", end) (" + kind + ")"
	}
	return "[" + strconv.Quote(string(p.Key)) + ", " + strconv.Quote(string(p.RangeEnd)) + ") (" + kind + ")"
}

// ReadAuthStatus tells whether auth is enabled and the auth revision.
func ReadAuthStatus(r primitive.Reader, _ *wire.AuthRequest) (*wire.AuthStatusResponse, *wire.Error, error) {
	on, err := readEnabled(r)
	if err != nil {
		return nil, nil, err
	}
	rev, err := readRev(r)
	if err != nil {
		return nil, nil, err
	}
	return &wire.AuthStatusResponse{Enabled: on, Revision: rev}, nil, nil
}

// ReadUserGet returns the roles of user req.Name.
func ReadUserGet(r primitive.Reader, req *wire.UserRequest) (*wire.UserResponse, *wire.Error, error) {
	u, werr, err := existingUser(r, req.Name)
	if werr != nil || err != nil {
		return nil, werr, err
	}
	return &wire.UserResponse{Roles: u.Roles}, nil, nil
}

// ReadUserList lists the users, sorted.
func ReadUserList(r primitive.Reader, _ *wire.UserRequest) (*wire.UserResponse, *wire.Error, error) {
	users, err := names(r, UserPrefix)
	if err != nil {
		return nil, nil, err
	}
	return &wire.UserResponse{Users: users}, nil, nil
}

// ReadRoleGet returns the permissions of role req.Name.
func ReadRoleGet(r primitive.Reader, req *wire.RoleRequest) (*wire.RoleResponse, *wire.Error, error) {
	ro, werr, err := existingRole(r, req.Name)
	if werr != nil || err != nil {
		return nil, werr, err
	}
	return &wire.RoleResponse{Perms: ro.Perms}, nil, nil
}

// ReadRoleList lists the roles, sorted.
func ReadRoleList(r primitive.Reader, _ *wire.RoleRequest) (*wire.RoleResponse, *wire.Error, error) {
	roles, err := names(r, RolePrefix)
	if err != nil {
		return nil, nil, err
	}
	return &wire.RoleResponse{Roles: roles}, nil, nil
}
