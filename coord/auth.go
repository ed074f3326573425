package coord

import (
	"context"
	"fmt"
	"time"

	"github.com/coord-io/coord/coord/wire"
)

// Permission allows reading, writing or both (Type) on the keys (Kind
// kv, or "") or the names of one kind of primitive (Kind lock, election,
// queue, barrier, semaphore) in [Key, RangeEnd): RangeEnd empty means Key
// alone, "\x00" every key from Key on. Build one with KeyPermission,
// RangePermission or PrefixPermission.
type Permission = wire.Permission

// PermType is what a permission allows.
type PermType = wire.PermType

// Permission types.
const (
	PermRead      = wire.PermRead
	PermWrite     = wire.PermWrite
	PermReadWrite = wire.PermReadWrite
)

// Kinds of what a permission covers (Permission.Kind).
const (
	KindKV        = wire.KindKV
	KindLock      = wire.KindLock // mutexes and read-write locks
	KindElection  = wire.KindElection
	KindQueue     = wire.KindQueue
	KindBarrier   = wire.KindBarrier
	KindSemaphore = wire.KindSemaphore
)

// KeyPermission allows typ on one key (kind kv) or one name (another kind).
func KeyPermission(kind string, typ PermType, key string) Permission {
	return Permission{Type: typ, Kind: kind, Key: []byte(key)}
}

// RangePermission allows typ on the keys or names of kind in [key, end);
// end "\x00" means every key from key on.
func RangePermission(kind string, typ PermType, key, end string) Permission {
	return Permission{Type: typ, Kind: kind, Key: []byte(key), RangeEnd: []byte(end)}
}

// PrefixPermission allows typ on the keys or names of kind that start
// with prefix (every one for an empty prefix).
func PrefixPermission(kind string, typ PermType, prefix string) Permission {
	return Permission{Type: typ, Kind: kind, Key: []byte(prefix), RangeEnd: wire.PrefixEnd([]byte(prefix))}
}

// IsPrefixPermission reports whether p covers exactly the keys or names
// that start with its Key (as PrefixPermission makes it).
func IsPrefixPermission(p Permission) bool {
	return len(p.RangeEnd) > 0 && string(wire.PrefixEnd(p.Key)) == string(p.RangeEnd)
}

// Authenticate checks name's password and returns a token that a
// connection to the member that issued it may present instead of the
// password (Config.Token), valid for ttl. A wrong name or password fails
// with ErrAuthFailed.
func (c *Client) Authenticate(ctx context.Context, name, password string) (token string, ttl time.Duration, err error) {
	var resp wire.AuthenticateResponse
	if err := c.call(ctx, wire.MethodAuthenticate, &wire.AuthenticateRequest{Name: name, Password: password}, &resp); err != nil {
		return "", 0, err
	}
	return resp.Token, time.Duration(resp.TTL) * time.Second, nil
}

// AuthEnable turns authentication on: from then on every call is checked
// against its user's roles. User root must exist and hold role root
// (the call fails otherwise and nothing changes). Root only.
func (c *Client) AuthEnable(ctx context.Context) error {
	return c.call(ctx, wire.MethodAuthEnable, &wire.AuthRequest{}, &wire.AuthStatusResponse{})
}

// AuthDisable turns authentication off: every call is allowed again.
// Users and roles are kept. Root only (while auth is on).
func (c *Client) AuthDisable(ctx context.Context) error {
	return c.call(ctx, wire.MethodAuthDisable, &wire.AuthRequest{}, &wire.AuthStatusResponse{})
}

// AuthStatus tells whether authentication is on, and the auth revision:
// the number of changes made to users, roles and the switch so far.
func (c *Client) AuthStatus(ctx context.Context) (enabled bool, rev int64, err error) {
	var resp wire.AuthStatusResponse
	if err := c.call(ctx, wire.MethodAuthStatus, &wire.AuthRequest{}, &resp); err != nil {
		return false, 0, err
	}
	return resp.Enabled, resp.Revision, nil
}

func (c *Client) userCall(ctx context.Context, method string, req *wire.UserRequest) (*wire.UserResponse, error) {
	var resp wire.UserResponse
	if err := c.call(ctx, method, req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

func (c *Client) roleCall(ctx context.Context, method string, req *wire.RoleRequest) (*wire.RoleResponse, error) {
	var resp wire.RoleResponse
	if err := c.call(ctx, method, req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// UserAdd adds user name with password (ErrAlreadyExists if there is
// one). The member hashes the password; only the hash is replicated.
func (c *Client) UserAdd(ctx context.Context, name, password string) error {
	if password == "" {
		return fmt.Errorf("%w: user %s: empty password (use UserAddNoPassword for a user without one)", ErrInvalid, name)
	}
	_, err := c.userCall(ctx, wire.MethodUserAdd, &wire.UserRequest{Name: name, Password: password})
	return err
}

// UserAddNoPassword adds user name without a password: it can only
// authenticate with a client certificate whose common name is name.
func (c *Client) UserAddNoPassword(ctx context.Context, name string) error {
	_, err := c.userCall(ctx, wire.MethodUserAdd, &wire.UserRequest{Name: name, NoPassword: true})
	return err
}

// UserDelete deletes user name (ErrNotFound if there is none).
func (c *Client) UserDelete(ctx context.Context, name string) error {
	_, err := c.userCall(ctx, wire.MethodUserDelete, &wire.UserRequest{Name: name})
	return err
}

// UserChangePassword sets the password of user name.
func (c *Client) UserChangePassword(ctx context.Context, name, password string) error {
	if password == "" {
		return fmt.Errorf("%w: user %s: empty password", ErrInvalid, name)
	}
	_, err := c.userCall(ctx, wire.MethodUserPasswd, &wire.UserRequest{Name: name, Password: password})
	return err
}

// UserGrantRole gives role to user (both must exist: ErrNotFound).
func (c *Client) UserGrantRole(ctx context.Context, user, role string) error {
	_, err := c.userCall(ctx, wire.MethodUserGrantRole, &wire.UserRequest{Name: user, Role: role})
	return err
}

// UserRevokeRole takes role from user.
func (c *Client) UserRevokeRole(ctx context.Context, user, role string) error {
	_, err := c.userCall(ctx, wire.MethodUserRevokeRole, &wire.UserRequest{Name: user, Role: role})
	return err
}

// UserGet returns the roles of user name, sorted (ErrNotFound if there
// is no such user).
func (c *Client) UserGet(ctx context.Context, name string) (roles []string, err error) {
	resp, err := c.userCall(ctx, wire.MethodUserGet, &wire.UserRequest{Name: name})
	if err != nil {
		return nil, err
	}
	return resp.Roles, nil
}

// UserList returns the names of every user, sorted.
func (c *Client) UserList(ctx context.Context) ([]string, error) {
	resp, err := c.userCall(ctx, wire.MethodUserList, &wire.UserRequest{})
	if err != nil {
		return nil, err
	}
	return resp.Users, nil
}

// RoleAdd adds role name, without permissions (ErrAlreadyExists if
// there is one).
func (c *Client) RoleAdd(ctx context.Context, name string) error {
	_, err := c.roleCall(ctx, wire.MethodRoleAdd, &wire.RoleRequest{Name: name})
	return err
}

// RoleDelete deletes role name and takes it from every user that has it.
func (c *Client) RoleDelete(ctx context.Context, name string) error {
	_, err := c.roleCall(ctx, wire.MethodRoleDelete, &wire.RoleRequest{Name: name})
	return err
}

// RoleGet returns the permissions of role name, sorted by kind, key and
// range end (ErrNotFound if there is no such role).
func (c *Client) RoleGet(ctx context.Context, name string) ([]Permission, error) {
	resp, err := c.roleCall(ctx, wire.MethodRoleGet, &wire.RoleRequest{Name: name})
	if err != nil {
		return nil, err
	}
	return resp.Perms, nil
}

// RoleList returns the names of every role, sorted.
func (c *Client) RoleList(ctx context.Context) ([]string, error) {
	resp, err := c.roleCall(ctx, wire.MethodRoleList, &wire.RoleRequest{})
	if err != nil {
		return nil, err
	}
	return resp.Roles, nil
}

// RoleGrantPermission adds perm to role; a permission of the role with
// the same kind, key and range end is replaced (its type becomes perm's).
func (c *Client) RoleGrantPermission(ctx context.Context, role string, perm Permission) error {
	_, err := c.roleCall(ctx, wire.MethodRoleGrantPermission, &wire.RoleRequest{Name: role, Perm: &perm})
	return err
}

// RoleRevokePermission removes the permission of role with perm's kind,
// key and range end (its type does not matter); ErrNotFound if the role
// has none.
func (c *Client) RoleRevokePermission(ctx context.Context, role string, perm Permission) error {
	_, err := c.roleCall(ctx, wire.MethodRoleRevokePermission, &wire.RoleRequest{Name: role, Perm: &perm})
	return err
}
