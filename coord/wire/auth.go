package wire

// Authentication and authorization: users, roles, permissions (as etcd
// has them, extended to primitive names by kind), and the calls that
// manage them. The auth store lives in shard 0 (AuthShard); every auth
// method is routed there.
//
// A client names its user in the handshake (Hello.User with Password or
// Token); the member checks the credentials once, binds the connection
// to the user, and checks every later call against the user's roles.

// Methods of authentication and of the auth store.
const (
	MethodAuthenticate = "auth.authenticate" // AuthenticateRequest → AuthenticateResponse
	MethodAuthEnable   = "auth.enable"       // AuthRequest → AuthStatusResponse (write; root)
	MethodAuthDisable  = "auth.disable"      // AuthRequest → AuthStatusResponse (write; root)
	MethodAuthStatus   = "auth.status"       // AuthRequest → AuthStatusResponse

	MethodUserAdd        = "user.add"         // UserRequest → UserResponse (write; root)
	MethodUserDelete     = "user.delete"      // UserRequest → UserResponse (write; root)
	MethodUserGet        = "user.get"         // UserRequest → UserResponse (root)
	MethodUserList       = "user.list"        // UserRequest → UserResponse (root)
	MethodUserPasswd     = "user.passwd"      // UserRequest → UserResponse (write; root)
	MethodUserGrantRole  = "user.grant-role"  // UserRequest → UserResponse (write; root)
	MethodUserRevokeRole = "user.revoke-role" // UserRequest → UserResponse (write; root)

	MethodRoleAdd              = "role.add"               // RoleRequest → RoleResponse (write; root)
	MethodRoleDelete           = "role.delete"            // RoleRequest → RoleResponse (write; root)
	MethodRoleGet              = "role.get"               // RoleRequest → RoleResponse (root)
	MethodRoleList             = "role.list"              // RoleRequest → RoleResponse (root)
	MethodRoleGrantPermission  = "role.grant-permission"  // RoleRequest → RoleResponse (write; root)
	MethodRoleRevokePermission = "role.revoke-permission" // RoleRequest → RoleResponse (write; root)
)

// AuthShard is the shard that holds the auth store (and the cluster
// identity): cluster-wide state lives in shard 0.
const AuthShard = 0

// RootUser and RootRole are etcd's: the root role may do everything, the
// root user must exist and hold the root role before auth is enabled.
const (
	RootUser = "root"
	RootRole = "root"
)

// PermType is what a permission allows: reading, writing or both.
type PermType uint8

// Permission types (etcd's numbering is READ=0, WRITE=1, READWRITE=2;
// Coord's starts at 1 so that 0 is never a valid permission).
const (
	PermRead      PermType = 1
	PermWrite     PermType = 2
	PermReadWrite PermType = 3
)

// Allows reports whether p allows what need asks (PermRead or PermWrite;
// PermReadWrite needs both).
func (p PermType) Allows(need PermType) bool { return need != 0 && p&need == need }

func (p PermType) String() string {
	switch p {
	case PermRead:
		return "read"
	case PermWrite:
		return "write"
	case PermReadWrite:
		return "readwrite"
	}
	return "invalid"
}

// Kinds of what a permission covers: keys of the keyspace, or names of
// one kind of primitive.
const (
	KindKV        = "kv"
	KindLock      = "lock" // mutexes and read-write locks
	KindElection  = "election"
	KindQueue     = "queue"
	KindBarrier   = "barrier"
	KindSemaphore = "semaphore"
)

// Kinds lists every kind, in the order the CLI shows them.
var Kinds = []string{KindKV, KindLock, KindElection, KindQueue, KindBarrier, KindSemaphore}

// Permission allows Type on the keys (Kind kv) or names (the other
// kinds) of [Key, RangeEnd): RangeEnd empty means Key alone; "\x00" means
// every key from Key on (as a range's end). A prefix P is Key P,
// RangeEnd PrefixEnd(P).
type Permission struct {
	Type     PermType `msgpack:"t"`
	Kind     string   `msgpack:"k,omitempty"` // "" is kv
	Key      []byte   `msgpack:"key"`
	RangeEnd []byte   `msgpack:"end,omitempty"`
}

// AuthenticateRequest asks for a token for user Name with Password.
type AuthenticateRequest struct {
	Name     string `msgpack:"n"`
	Password string `msgpack:"p"`
}

// AuthenticateResponse carries a token valid for TTL seconds on the
// member that issued it (Header.Member), which a handshake may present
// instead of a password (Hello.Token).
type AuthenticateResponse struct {
	Header ResponseHeader `msgpack:"h"`
	Token  string         `msgpack:"tok"`
	TTL    int64          `msgpack:"ttl"`
}

// AuthRequest is the (empty) request of auth enable, disable and status.
type AuthRequest struct{}

// AuthStatusResponse tells whether auth is enabled and the auth store's
// revision: the number of changes made to it so far.
type AuthStatusResponse struct {
	Header   ResponseHeader `msgpack:"h"`
	Enabled  bool           `msgpack:"on"`
	Revision int64          `msgpack:"arev"`
}

// UserRequest is the request of every user.* method: Name is the user;
// Password the new password of add and passwd (the member hashes it and
// sends only the hash, PasswordHash, through Raft: a client never sets
// PasswordHash); NoPassword adds a user that can only authenticate by
// its TLS certificate; Role the role of grant-role and revoke-role.
type UserRequest struct {
	Name         string `msgpack:"n,omitempty"`
	Password     string `msgpack:"p,omitempty"`
	PasswordHash []byte `msgpack:"ph,omitempty"`
	NoPassword   bool   `msgpack:"np,omitempty"`
	Role         string `msgpack:"r,omitempty"`
}

// UserResponse answers a user.* method: Roles of user get (sorted),
// Users of user list (sorted).
type UserResponse struct {
	Header ResponseHeader `msgpack:"h"`
	Roles  []string       `msgpack:"roles,omitempty"`
	Users  []string       `msgpack:"users,omitempty"`
}

// RoleRequest is the request of every role.* method: Name is the role;
// Perm the permission of grant-permission, or the one revoke-permission
// removes (matched by Kind, Key and RangeEnd; its Type is ignored).
type RoleRequest struct {
	Name string      `msgpack:"n,omitempty"`
	Perm *Permission `msgpack:"perm,omitempty"`
}

// RoleResponse answers a role.* method: Perms of role get (sorted by
// kind, key, end), Roles of role list (sorted).
type RoleResponse struct {
	Header ResponseHeader `msgpack:"h"`
	Perms  []Permission   `msgpack:"perms,omitempty"`
	Roles  []string       `msgpack:"roles,omitempty"`
}
