package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// probe runs args (a command line whose command is "probe") in an app
// that has, besides every command, a "probe" command taking the
// new-password flags and any arguments; its action calls f. prompts, if
// not nil, are what a fake terminal answers, in order.
func probe(t *testing.T, stdin string, prompts []string, f func(c *cli.Context, env *cliEnv) error, args ...string) (code int, stderr string, asked []string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &cliEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut}
	if prompts != nil {
		env.readPassword = func(prompt string) (string, error) {
			asked = append(asked, prompt)
			if len(prompts) == 0 {
				return "", errors.New("no more answers")
			}
			p := prompts[0]
			prompts = prompts[1:]
			return p, nil
		}
	}
	app := newApp(env)
	cmd := &cli.Command{
		Name: "probe",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "new-user-password"},
		},
		Action: func(c *cli.Context) error { return f(c, env) },
	}
	prepareCommand(cmd)
	app.Commands = append(app.Commands, cmd)
	err := app.RunContext(context.Background(), reorderArgs(app, append([]string{"coord"}, args...)))
	return reportError(err, &errOut), errOut.String(), asked
}

// probeConfig returns the client configuration the global flags of args
// make.
func probeConfig(t *testing.T, prompts []string, args ...string) (coord.Config, int, string, []string) {
	t.Helper()
	var cfg coord.Config
	code, stderr, asked := probe(t, "", prompts, func(c *cli.Context, _ *cliEnv) error {
		var err error
		cfg, err = clientConfig(c)
		if err != nil {
			return err
		}
		// A second client of the same command asks no second time.
		again, err := clientConfig(c)
		if err == nil && (again.Username != cfg.Username || again.Password != cfg.Password) {
			return fmt.Errorf("second config %q/%q differs", again.Username, again.Password)
		}
		return err
	}, args...)
	return cfg, code, stderr, asked
}

func TestCLICredentialFlags(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		prompts  []string
		args     []string
		user, pw string
		asked    int
	}{
		{name: "none", args: []string{"probe"}},
		{name: "user:password splits", args: []string{"probe", "--user", "alice:s3:cret"}, user: "alice", pw: "s3:cret"},
		{name: "global flag before the command", args: []string{"--user", "alice:x", "probe"}, user: "alice", pw: "x"},
		{name: "--password makes --user the whole name", args: []string{"probe", "--user", "a:b", "--password", "pw"}, user: "a:b", pw: "pw"},
		{name: "empty password after the colon", args: []string{"probe", "--user", "alice:"}, user: "alice", pw: ""},
		{name: "env", env: map[string]string{"COORD_USER": "bob", "COORD_PASSWORD": "pw"}, args: []string{"probe"}, user: "bob", pw: "pw"},
		{name: "env user:password", env: map[string]string{"COORD_USER": "bob:pw2"}, args: []string{"probe"}, user: "bob", pw: "pw2"},
		{name: "flag beats env", env: map[string]string{"COORD_USER": "bob", "COORD_PASSWORD": "pw"}, args: []string{"probe", "--user", "carol", "--password", "c"}, user: "carol", pw: "c"},
		{name: "terminal prompt", prompts: []string{"typed"}, args: []string{"probe", "--user", "alice"}, user: "alice", pw: "typed", asked: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, code, stderr, asked := probeConfig(t, tt.prompts, tt.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if cfg.Username != tt.user || cfg.Password != tt.pw {
				t.Fatalf("user %q password %q, want %q %q", cfg.Username, cfg.Password, tt.user, tt.pw)
			}
			if len(asked) != tt.asked || (tt.asked > 0 && asked[0] != "Password: ") {
				t.Fatalf("asked %q, want %d prompts \"Password: \"", asked, tt.asked)
			}
		})
	}
}

func TestCLICredentialUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"user without password, no terminal", nil, []string{"probe", "--user", "alice"}, "--password"},
		{"env user without password, no terminal", map[string]string{"COORD_USER": "alice"}, []string{"probe"}, "--password"},
		{"password without user", nil, []string{"probe", "--password", "x"}, "--user"},
		{"empty name", nil, []string{"probe", "--user", ":x"}, "user name is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, code, stderr, _ := probeConfig(t, nil, tt.args...)
			if code != exitUsage || !strings.HasPrefix(stderr, "Error: ") || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d stderr %q; want exit 2 naming %q", code, stderr, tt.want)
			}
		})
	}
	// A real command stops there too, before dialing anything.
	code, _, errOut := runCLI(t, "", "user", "list", "--user", "alice", "--endpoints", "127.0.0.1:1")
	if code != exitUsage || !strings.Contains(errOut, "--password") {
		t.Fatalf("user list --user alice: exit %d stderr %q", code, errOut)
	}
}

func TestCLINewPassword(t *testing.T) {
	get := func(stdin string, prompts []string, args ...string) (string, int, string, []string) {
		t.Helper()
		var pw string
		code, stderr, asked := probe(t, stdin, prompts, func(c *cli.Context, env *cliEnv) error {
			var err error
			pw, err = newPassword(c, env, "alice")
			return err
		}, append([]string{"probe"}, args...)...)
		return pw, code, stderr, asked
	}
	if pw, code, stderr, _ := get("ignored\n", []string{"ignored"}, "--new-user-password", "flag"); code != 0 || pw != "flag" {
		t.Fatalf("flag: %q exit %d %s", pw, code, stderr)
	}
	if pw, code, stderr, _ := get("from stdin\r\nsecond line\n", nil); code != 0 || pw != "from stdin" {
		t.Fatalf("stdin: %q exit %d %s", pw, code, stderr)
	}
	if pw, code, stderr, _ := get("no newline", nil); code != 0 || pw != "no newline" {
		t.Fatalf("stdin without newline: %q exit %d %s", pw, code, stderr)
	}
	pw, code, stderr, asked := get("", []string{"tty", "tty"})
	if code != 0 || pw != "tty" || len(asked) != 2 || asked[0] != "Password of alice: " || !strings.Contains(asked[1], "again") {
		t.Fatalf("terminal: %q exit %d %s asked %q", pw, code, stderr, asked)
	}
	for _, tt := range []struct {
		stdin   string
		prompts []string
		args    []string
		want    string
	}{
		{"", nil, nil, "no password for alice"},
		{"\n", nil, nil, "no password for alice"},
		{"", []string{"one", "two"}, nil, "do not match"},
		{"", []string{""}, nil, "empty"},
		{"", nil, []string{"--new-user-password", ""}, "empty"},
	} {
		_, code, stderr, _ := get(tt.stdin, tt.prompts, tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("stdin %q prompts %q args %q: exit %d stderr %q, want usage error with %q", tt.stdin, tt.prompts, tt.args, code, stderr, tt.want)
		}
	}
}

// TestCLIAuthUsageErrors: mistakes in user, role and auth command lines
// are usage errors (exit 2), found before anything is sent.
func TestCLIAuthUsageErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		hint    string
	}{
		{[]string{"user", "add"}, "Error: missing argument: NAME", "coord user add --help"},
		{[]string{"user", "add", "a", "b"}, `Error: too many arguments: unexpected "b"`, "coord user add --help"},
		{[]string{"user", "add", "a", "--no-password", "--new-user-password", "x"}, "Error: --no-password and --new-user-password cannot be used together", "coord user add --help"},
		{[]string{"user", "grant-role", "alice"}, "Error: missing argument: NAME ROLE", "coord user grant-role --help"},
		{[]string{"user", "frob"}, `Error: unknown user command "frob"`, "coord user --help"},
		{[]string{"user", "list", "x"}, `Error: unexpected argument "x"`, "coord user list --help"},
		{[]string{"role", "grant-permission", "app", "read"}, "Error: missing argument: ROLE read|write|readwrite KEY [RANGE_END]", "coord role grant-permission --help"},
		{[]string{"role", "grant-permission", "app", "rw", "/a/"}, `Error: unknown permission type "rw" (want read, write or readwrite)`, "coord role grant-permission --help"},
		{[]string{"role", "grant-permission", "app", "read", "a", "b", "--prefix"}, "Error: --prefix and RANGE_END cannot be used together", "coord role grant-permission --help"},
		{[]string{"role", "grant-permission", "app", "read", "b", "a"}, `Error: RANGE_END "a" must be after KEY "b"`, "coord role grant-permission --help"},
		{[]string{"role", "grant-permission", "app", "read", "a", "--kind", "mutex"}, `Error: unknown --kind "mutex" (want kv, lock, election, queue, barrier, semaphore)`, "coord role grant-permission --help"},
		{[]string{"role", "revoke-permission", "app"}, "Error: missing argument: ROLE KEY [RANGE_END]", "coord role revoke-permission --help"},
		{[]string{"role", "get", "app", "-w", "yaml"}, `Error: unknown output format "yaml"`, "coord role get --help"},
		{[]string{"auth", "enable", "now"}, `Error: unexpected argument "now"`, "coord auth enable --help"},
		{[]string{"auth", "frob"}, `Error: unknown auth command "frob" (want enable, disable or status)`, "coord auth --help"},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, "", append(tt.args, "--endpoints", "127.0.0.1:1")...)
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		if code != exitUsage || out != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], tt.wantErr) || !strings.Contains(lines[1], tt.hint) {
			t.Errorf("%q: exit %d stdout %q stderr %q; want exit 2, %q, a hint naming %q", tt.args, code, out, errOut, tt.wantErr, tt.hint)
		}
	}
}

// TestCLIParsePermission: grant-permission's arguments and flags become
// the permission sent.
func TestCLIParsePermission(t *testing.T) {
	tests := []struct {
		args  []string
		grant bool
		want  coord.Permission
	}{
		{[]string{"app", "readwrite", "/app/", "--prefix"}, true, coord.PrefixPermission(coord.KindKV, coord.PermReadWrite, "/app/")},
		{[]string{"app", "read", "/cfg/a", "/cfg/m"}, true, coord.RangePermission(coord.KindKV, coord.PermRead, "/cfg/a", "/cfg/m")},
		{[]string{"app", "write", "jobs/", "--prefix", "--kind", "lock"}, true, coord.PrefixPermission(coord.KindLock, coord.PermWrite, "jobs/")},
		{[]string{"app", "write", "q1", "--kind", "Queue"}, true, coord.KeyPermission(coord.KindQueue, coord.PermWrite, "q1")},
		{[]string{"app", "", "--prefix"}, false, coord.PrefixPermission(coord.KindKV, 0, "")},
		{[]string{"app", "deploy", "--kind", "semaphore"}, false, coord.KeyPermission(coord.KindSemaphore, 0, "deploy")},
	}
	// The permission flags are parsePermission's own: run it under a
	// command that has them.
	for _, tt := range tests {
		var role string
		var got coord.Permission
		var out, errOut bytes.Buffer
		env := &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}
		app := newApp(env)
		cmd := &cli.Command{
			Name:  "probe",
			Flags: permissionFlags(),
			Action: func(c *cli.Context) error {
				var err error
				role, got, _, err = parsePermission(c, tt.grant)
				return err
			},
		}
		prepareCommand(cmd)
		app.Commands = append(app.Commands, cmd)
		err := app.RunContext(context.Background(), reorderArgs(app, append([]string{"coord", "probe"}, tt.args...)))
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if role != "app" || got.Type != tt.want.Type || got.Kind != tt.want.Kind || string(got.Key) != string(tt.want.Key) || string(got.RangeEnd) != string(tt.want.RangeEnd) {
			t.Errorf("%q: role %q %+v, want %+v", tt.args, role, got, tt.want)
		}
	}
}

func TestCLIAuthOutput(t *testing.T) {
	var b bytes.Buffer
	_ = printAuthStatus(&b, formatSimple, true, 12)
	if b.String() != "Authentication Status: true\nAuthRevision: 12\n" {
		t.Fatalf("auth status: %q", b.String())
	}
	b.Reset()
	_ = printAuthStatus(&b, formatJSON, false, 3)
	if b.String() != `{"enabled":false,"auth_revision":3}`+"\n" {
		t.Fatalf("auth status json: %q", b.String())
	}

	b.Reset()
	_ = printUser(&b, formatSimple, "alice", []string{"app", "ops"})
	if b.String() != "User: alice\nRoles: app ops\n" {
		t.Fatalf("user get: %q", b.String())
	}
	b.Reset()
	_ = printUser(&b, formatSimple, "bob", nil)
	if b.String() != "User: bob\nRoles:\n" {
		t.Fatalf("user get without roles: %q", b.String())
	}
	b.Reset()
	_ = printUser(&b, formatJSON, "bob", nil)
	if b.String() != `{"user":"bob","roles":[]}`+"\n" {
		t.Fatalf("user get json: %q", b.String())
	}

	b.Reset()
	_ = printNames(&b, formatSimple, "users", "USER", []string{"alice", "root"})
	if b.String() != "alice\nroot\n" {
		t.Fatalf("user list: %q", b.String())
	}
	b.Reset()
	_ = printNames(&b, formatJSON, "roles", "ROLE", nil)
	if b.String() != `{"roles":[]}`+"\n" {
		t.Fatalf("role list json: %q", b.String())
	}

	perms := []coord.Permission{
		coord.PrefixPermission(coord.KindKV, coord.PermReadWrite, "/app/"),
		coord.KeyPermission(coord.KindKV, coord.PermRead, "/cfg"),
		coord.RangePermission(coord.KindKV, coord.PermWrite, "/logs/a", "/logs/m"),
		{Type: coord.PermRead, Key: []byte("/z"), RangeEnd: []byte{0}}, // kind "" is kv
		coord.PrefixPermission(coord.KindLock, coord.PermWrite, "jobs/"),
		coord.KeyPermission(coord.KindQueue, coord.PermRead, "q"),
	}
	b.Reset()
	_ = printRole(&b, formatSimple, "app", perms)
	want := "Role app\n" +
		"KV Read:\n\t[/app/, /app0) (prefix /app/)\n\t/cfg\n\t[/z, <open ended>\n" +
		"KV Write:\n\t[/app/, /app0) (prefix /app/)\n\t[/logs/a, /logs/m)\n" +
		"Lock Read:\nLock Write:\n\t[jobs/, jobs0) (prefix jobs/)\n" +
		"Queue Read:\n\tq\nQueue Write:\n"
	if b.String() != want {
		t.Fatalf("role get:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	_ = printRole(&b, formatSimple, "empty", nil)
	if b.String() != "Role empty\nKV Read:\nKV Write:\n" {
		t.Fatalf("role get of a role without permissions: %q", b.String())
	}
	b.Reset()
	_ = printRole(&b, formatJSON, "app", perms[:1])
	var j jsonRole
	if err := json.Unmarshal(b.Bytes(), &j); err != nil || j.Role != "app" || len(j.Perms) != 1 ||
		j.Perms[0] != (jsonPerm{Kind: "kv", Type: "readwrite", Key: "/app/", RangeEnd: "/app0", Prefix: true}) {
		t.Fatalf("role get json: %v %s", err, b.String())
	}
}

func TestDescribeAuthErrors(t *testing.T) {
	// The server's message, as *coord.Error prints it, with or without
	// its own "permission denied" in front.
	for msg, want := range map[string]string{
		"permission denied: user alice may not write key /other/x": "coord: permission denied: user alice may not write key /other/x",
		"user alice may not write key /other/x":                    "coord: permission denied: user alice may not write key /other/x",
		"permission denied":                                        "coord: permission denied",
	} {
		if got := deniedMessage(msg); got != want {
			t.Errorf("deniedMessage(%q) = %q, want %q", msg, got, want)
		}
	}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: user alice may not write key /other/x", coord.ErrPermissionDenied), "Error: coord: permission denied: user alice may not write key /other/x\n"},
		{coord.ErrPermissionDenied, "Error: coord: permission denied\n"},
		// The member's reason, not the command's wrapping of it.
		{fmt.Errorf("lock deploy: %w (%w)", &coord.Error{Wire: wire.Errorf(wire.CodePermissionDenied, "permission denied: user alice may not write lock deploy")}, coord.ErrPermissionDenied),
			"Error: coord: permission denied: user alice may not write lock deploy\n"},
		{fmt.Errorf("%w: 127.0.0.1:1: %w (%w)", coord.ErrNoEndpoints, &coord.Error{Wire: wire.Errorf(wire.CodeAuthFailed, "authentication failed: wrong user name or password")}, coord.ErrAuthFailed),
			"Error: authentication failed: wrong user name or password (check --user and --password, or COORD_USER and COORD_PASSWORD)\n"},
		{fmt.Errorf("%w: wrong user name or password", coord.ErrAuthFailed), "Error: coord: authentication failed: wrong user name or password (check --user and --password, or COORD_USER and COORD_PASSWORD)\n"},
	} {
		var errOut bytes.Buffer
		if code := reportError(tt.err, &errOut); code != exitError || errOut.String() != tt.want {
			t.Errorf("%v: exit %d %q, want exit 1 and %q", tt.err, code, errOut.String(), tt.want)
		}
	}
}
