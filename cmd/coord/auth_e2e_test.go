package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/server"
)

// asUser runs command lines against one endpoint with global flags
// (credentials) added before any "--".
type asUser struct {
	cliAt
	flags []string
}

func (c cliAt) as(flags ...string) asUser { return asUser{c, flags} }

func (a asUser) args(args []string) []string {
	out := make([]string, 0, len(args)+len(a.flags))
	for i, x := range args {
		if x == "--" {
			out = append(out, a.flags...)
			return append(out, args[i:]...)
		}
		out = append(out, x)
	}
	return append(out, a.flags...)
}

func (a asUser) run(stdin string, args ...string) (int, string, string) {
	a.t.Helper()
	return a.cliAt.run(stdin, a.args(args)...)
}

func (a asUser) ok(want string, args ...string) string {
	a.t.Helper()
	return a.cliAt.ok(want, a.args(args)...)
}

func (a asUser) fails(want string, args ...string) string {
	a.t.Helper()
	return a.cliAt.fails(want, a.args(args)...)
}

// TestCLIUsersAndRoles: with auth off, anyone manages users and roles:
// add, get, list, grant, revoke, delete, with etcdctl's messages, JSON,
// and ErrAlreadyExists / ErrNotFound as one-line errors.
func TestCLIUsersAndRoles(t *testing.T) {
	c := cliAt{t, startMemberWith(t, cheapBcrypt)}

	c.ok("Authentication Status: false\nAuthRevision: 0\n", "auth", "status")
	c.ok("User alice created\n", "user", "add", "alice", "--new-user-password", "pw1")
	c.fails("already exists", "user", "add", "alice", "--new-user-password", "pw1")
	if code, out, errOut := c.run("pw2\n", "user", "add", "bob"); code != 0 || out != "User bob created\n" {
		t.Fatalf("user add with the password on stdin: exit %d %q %q", code, out, errOut)
	}
	c.ok("User svc created\n", "user", "add", "svc", "--no-password")
	c.ok("User: alice\nRoles:\n", "user", "get", "alice")
	c.ok("alice\nbob\nsvc\n", "user", "list")
	c.fails("not found", "user", "get", "nobody")

	c.ok("Role app created\n", "role", "add", "app")
	c.fails("already exists", "role", "add", "app")
	c.ok("Role app updated\n", "role", "grant-permission", "app", "readwrite", "/app/", "--prefix")
	c.ok("Role app updated\n", "role", "grant-permission", "app", "read", "/cfg/a", "/cfg/m")
	c.ok("Role app updated\n", "role", "grant-permission", "app", "readwrite", "jobs-", "--prefix", "--kind", "lock")
	c.ok("Role app\nKV Read:\n\t[/app/, /app0) (prefix /app/)\n\t[/cfg/a, /cfg/m)\nKV Write:\n\t[/app/, /app0) (prefix /app/)\n"+
		"Lock Read:\n\t[jobs-, jobs.) (prefix jobs-)\nLock Write:\n\t[jobs-, jobs.) (prefix jobs-)\n", "role", "get", "app")
	c.ok("Role ops created\n", "role", "add", "ops")
	c.ok("app\nops\n", "role", "list")

	c.ok("Role app is granted to user alice\n", "user", "grant-role", "alice", "app")
	c.ok("Role ops is granted to user alice\n", "user", "grant-role", "alice", "ops")
	c.fails("not found", "user", "grant-role", "alice", "nosuchrole")
	c.fails("not found", "user", "grant-role", "nobody", "app")
	c.ok("User: alice\nRoles: app ops\n", "user", "get", "alice")
	var u jsonUser
	if err := json.Unmarshal([]byte(c.ok("*", "user", "get", "alice", "-w", "json")), &u); err != nil || u.User != "alice" || strings.Join(u.Roles, ",") != "app,ops" {
		t.Fatalf("user get -w json: %v %+v", err, u)
	}
	var names map[string][]string
	if err := json.Unmarshal([]byte(c.ok("*", "role", "list", "-w", "json")), &names); err != nil || strings.Join(names["roles"], ",") != "app,ops" {
		t.Fatalf("role list -w json: %v %v", err, names)
	}
	var r jsonRole
	if err := json.Unmarshal([]byte(c.ok("*", "role", "get", "app", "-w", "json")), &r); err != nil || len(r.Perms) != 3 {
		t.Fatalf("role get -w json: %v %+v", err, r)
	}

	c.ok("Role app updated\n", "role", "revoke-permission", "app", "jobs-", "--prefix", "--kind", "lock")
	c.fails("has no permission", "role", "revoke-permission", "app", "jobs-", "--prefix", "--kind", "lock")
	c.ok("Role app updated\n", "role", "revoke-permission", "app", "/cfg/a", "/cfg/m")
	c.ok("Role app\nKV Read:\n\t[/app/, /app0) (prefix /app/)\nKV Write:\n\t[/app/, /app0) (prefix /app/)\n", "role", "get", "app")

	c.ok("Role ops is revoked from user alice\n", "user", "revoke-role", "alice", "ops")
	c.ok("User: alice\nRoles: app\n", "user", "get", "alice")
	c.ok("Password updated\n", "user", "passwd", "alice", "--new-user-password", "pw3")
	c.ok("Role ops deleted\n", "role", "delete", "ops")
	c.fails("not found", "role", "get", "ops")
	c.ok("User bob deleted\n", "user", "delete", "bob")
	c.fails("not found", "user", "delete", "bob")
	c.ok("alice\nsvc\n", "user", "list")

	var st jsonAuthStatus
	if err := json.Unmarshal([]byte(c.ok("*", "auth", "status", "-w", "json")), &st); err != nil || st.Enabled || st.AuthRevision < 10 {
		t.Fatalf("auth status -w json after the changes: %v %+v", err, st)
	}
}

// TestClientAuthAPI: the Go client's user and role calls against a
// member, auth off; then with auth on, a user's calls are checked.
func TestClientAuthAPI(t *testing.T) {
	ep := startMemberWith(t, cheapBcrypt)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := coord.New(coord.Config{Endpoints: []string{ep}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cl.UserAdd(ctx, "alice", "pw"))
	if err := cl.UserAdd(ctx, "alice", "pw"); !errors.Is(err, coord.ErrAlreadyExists) {
		t.Fatalf("second UserAdd: %v, want ErrAlreadyExists", err)
	}
	if _, err := cl.UserGet(ctx, "nobody"); !errors.Is(err, coord.ErrNotFound) {
		t.Fatalf("UserGet nobody: %v, want ErrNotFound", err)
	}
	must(cl.RoleAdd(ctx, "app"))
	if err := cl.RoleAdd(ctx, "app"); !errors.Is(err, coord.ErrAlreadyExists) {
		t.Fatalf("second RoleAdd: %v, want ErrAlreadyExists", err)
	}
	appPerm := coord.PrefixPermission(coord.KindKV, coord.PermReadWrite, "/app/")
	lockPerm := coord.PrefixPermission(coord.KindLock, coord.PermReadWrite, "jobs-")
	must(cl.RoleGrantPermission(ctx, "app", appPerm))
	must(cl.RoleGrantPermission(ctx, "app", lockPerm))
	perms, err := cl.RoleGet(ctx, "app")
	must(err)
	if len(perms) != 2 || perms[0].Type != coord.PermReadWrite || string(perms[0].Key) != "/app/" || perms[1].Kind != coord.KindLock {
		t.Fatalf("RoleGet app: %+v", perms)
	}
	must(cl.UserGrantRole(ctx, "alice", "app"))
	roles, err := cl.UserGet(ctx, "alice")
	must(err)
	if strings.Join(roles, ",") != "app" {
		t.Fatalf("UserGet alice: %v", roles)
	}
	users, err := cl.UserList(ctx)
	must(err)
	if strings.Join(users, ",") != "alice" {
		t.Fatalf("UserList: %v", users)
	}
	must(cl.RoleRevokePermission(ctx, "app", lockPerm))
	if err := cl.RoleRevokePermission(ctx, "app", lockPerm); !errors.Is(err, coord.ErrNotFound) {
		t.Fatalf("revoking a permission the role lacks: %v, want ErrNotFound", err)
	}

	// Auth on: root needs role root (given here as the CLI would).
	must(cl.UserAdd(ctx, "root", "rootpw"))
	must(cl.RoleAdd(ctx, "root"))
	must(cl.UserGrantRole(ctx, "root", "root"))
	must(cl.AuthEnable(ctx))
	root, err := coord.New(coord.Config{Endpoints: []string{ep}, Username: "root", Password: "rootpw"})
	must(err)
	defer root.Close()
	t.Cleanup(func() { _ = root.AuthDisable(context.Background()) })
	on, _, err := root.AuthStatus(ctx)
	must(err)
	if !on {
		t.Fatal("AuthStatus: off after AuthEnable")
	}

	alice, err := coord.New(coord.Config{Endpoints: []string{ep}, Username: "alice", Password: "pw"})
	must(err)
	defer alice.Close()
	_, err = alice.Put(ctx, "/app/x", "1")
	must(err)
	if _, err := alice.Put(ctx, "/other/x", "1"); !errors.Is(err, coord.ErrPermissionDenied) {
		t.Fatalf("alice Put /other/x: %v, want ErrPermissionDenied", err)
	}
	if _, err := alice.UserList(ctx); !errors.Is(err, coord.ErrPermissionDenied) {
		t.Fatalf("alice UserList: %v, want ErrPermissionDenied", err)
	}
	tok, ttl, err := alice.Authenticate(ctx, "alice", "pw")
	must(err)
	if tok == "" || ttl <= 0 {
		t.Fatalf("Authenticate: token %q ttl %v", tok, ttl)
	}
	if _, _, err := alice.Authenticate(ctx, "alice", "wrong"); !errors.Is(err, coord.ErrAuthFailed) {
		t.Fatalf("Authenticate with a wrong password: %v, want ErrAuthFailed", err)
	}
	wrong, err := coord.New(coord.Config{Endpoints: []string{ep}, Username: "alice", Password: "wrong"})
	must(err)
	defer wrong.Close()
	if _, err := wrong.Get(ctx, "/app/x"); !errors.Is(err, coord.ErrAuthFailed) {
		t.Fatalf("Get with a wrong password: %v, want ErrAuthFailed", err)
	}
	must(root.AuthDisable(ctx))
	if _, err := alice.Put(ctx, "/other/x", "1"); err != nil {
		t.Fatalf("alice Put /other/x with auth off: %v", err)
	}
}

// TestCLIAuthScenario is the issue's: as root, role app with readwrite
// on /app/ and on lock names jobs/, user alice with it, auth enable; as
// alice /app/x is writable, /other/x is not (and stays absent), lock
// jobs/a is allowed, lock deploy denied; no or wrong credentials are
// refused; auth disable opens it again.
func TestCLIAuthScenario(t *testing.T) {
	c := cliAt{t, startMemberWith(t, cheapBcrypt)}
	root := c.as("--user", "root:rootpw")
	alice := c.as("--user", "alice", "--password", "alicepw")

	// No user root yet: auth enable says what to do.
	c.fails("user root", "auth", "enable")

	c.ok("User root created\n", "user", "add", "root", "--new-user-password", "rootpw")
	c.ok("Role app created\n", "role", "add", "app")
	c.ok("Role app updated\n", "role", "grant-permission", "app", "readwrite", "/app/", "--prefix")
	c.ok("Role app updated\n", "role", "grant-permission", "app", "readwrite", "jobs/", "--prefix", "--kind", "lock")
	c.ok("User alice created\n", "user", "add", "alice", "--new-user-password", "alicepw")
	c.ok("Role app is granted to user alice\n", "user", "grant-role", "alice", "app")
	// Root lacks role root: auth enable creates it and grants it, as
	// etcdctl does.
	c.ok("Authentication Enabled\n", "auth", "enable")
	t.Cleanup(func() { root.run("", "auth", "disable") })
	root.ok("User: root\nRoles: root\n", "user", "get", "root")
	st := root.ok("*", "auth", "status")
	if !regexp.MustCompile(`^Authentication Status: true\nAuthRevision: [1-9][0-9]*\n$`).MatchString(st) {
		t.Fatalf("auth status: %q", st)
	}

	alice.ok("OK\n", "put", "/app/x", "1")
	alice.ok("/app/x\n1\n", "get", "/app/x")
	alice.fails("coord: permission denied", "put", "/other/x", "1")
	root.ok("", "get", "/other/x")
	alice.ok("*", "lock", "acquire", "jobs/a", "--", "true")
	alice.ok("*", "lock", "acquire", "jobs/a/b", "--", "true")
	alice.fails("permission denied", "lock", "acquire", "deploy", "--", "true")
	alice.fails("permission denied", "lock", "acquire", "jobs", "--", "true")
	alice.fails("permission denied", "user", "list")
	alice.fails("permission denied", "auth", "disable")

	// Without credentials, or with a wrong password, every call is refused.
	if code, out, errOut := c.run("", "get", "/app/x"); code != exitError || out != "" ||
		!(strings.Contains(errOut, "permission denied") || strings.Contains(errOut, "authentication failed")) {
		t.Fatalf("get without credentials: exit %d %q %q", code, out, errOut)
	}
	c.as("--user", "alice:wrong").fails("authentication failed", "get", "/app/x")
	c.as("--user", "nobody:x").fails("authentication failed", "get", "/app/x")
	// COORD_USER / COORD_PASSWORD work as the flags do.
	t.Setenv("COORD_USER", "alice")
	t.Setenv("COORD_PASSWORD", "alicepw")
	c.ok("/app/x\n1\n", "get", "/app/x")
	os.Unsetenv("COORD_USER")
	os.Unsetenv("COORD_PASSWORD")

	root.ok("Authentication Disabled\n", "auth", "disable")
	c.ok("OK\n", "put", "/other/x", "2")
	if st := c.ok("*", "auth", "status"); !strings.HasPrefix(st, "Authentication Status: false\n") {
		t.Fatalf("auth status after disable: %q", st)
	}
}

// cheapBcrypt gives a test member bcrypt's lowest cost: at the default
// (10) every CLI invocation's handshake pays a password check that, under
// the race detector on a loaded machine, can outlast the dial timeout.
func cheapBcrypt(c *server.Config) { c.BcryptCost = 4 }
