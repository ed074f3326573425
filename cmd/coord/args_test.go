package main

import (
	"io"
	"strings"
	"testing"
)

func TestReorderArgs(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"coord", "coord"},
		{"coord version", "coord version"},
		{"coord put a 1", "coord put -- a 1"},
		// Command flags after positionals move before them.
		{"coord get a --prefix", "coord get --prefix -- a"},
		{"coord get a --limit 5 b", "coord get --limit 5 -- a b"},
		{"coord get a --limit=5", "coord get --limit=5 -- a"},
		// Global flags after the command move before it.
		{"coord get a -w json", "coord -w json get -- a"},
		{"coord get -w=json a", "coord -w=json get -- a"},
		{"coord put --endpoints x:1,y:2 k v --prev-kv", "coord --endpoints x:1,y:2 put --prev-kv -- k v"},
		{"coord --timeout 1s get a --rev 3", "coord --timeout 1s get --rev 3 -- a"},
		// A flag value that looks like a flag or a command is a value.
		{"coord --endpoints get put a b", "coord --endpoints get put -- a b"},
		{"coord get --rev -1 a", "coord get --rev -1 -- a"},
		// Everything after "--" is positional.
		{"coord put -- -k --prefix", "coord put -- -k --prefix"},
		{"coord put k --prev-kv -- -v", "coord put --prev-kv -- k -v"},
		// A command name after the first positional is data.
		{"coord get put", "coord get -- put"},
		{"coord put get del", "coord put -- get del"},
		// An empty argument is positional ("--prefix ''" means every key).
		{"coord get --prefix ''", "coord get --prefix -- ''"},
		// "-" alone is positional.
		{"coord put k -", "coord put -- k -"},
		// Unknown flags stay with the command, which reports them.
		{"coord get a --bogus", "coord get --bogus -- a"},
		{"coord --bogus", "coord --bogus"},
		// Help.
		{"coord get a --help", "coord get --help"},
		{"coord --bogus get a", "coord get --bogus -- a"},
		{"coord help get", "coord help -- get"},
		{"coord get -h", "coord get -h"},
		// Unknown command: left for the root to report.
		{"coord nosuch x", "coord -- nosuch x"},
		// Serve flags.
		{"coord serve --name n2 --shards 4", "coord serve --name n2 --shards 4"},
		// etcdctl's shapes: lock NAME is lock acquire NAME, elect NAME VALUE
		// is elect campaign NAME VALUE; a subcommand name wins.
		{"coord lock L", "coord lock acquire -- L"},
		{"coord lock L --ttl 5s", "coord lock acquire --ttl 5s -- L"},
		{"coord lock --ttl 5s L", "coord lock acquire --ttl 5s -- L"},
		{"coord lock L -- sh -c x", "coord lock acquire -- L -- sh -c x"},
		{"coord lock -w json L", "coord -w json lock acquire -- L"},
		{"coord lock status L", "coord lock status -- L"},
		{"coord lock acquire status", "coord lock acquire -- status"},
		{"coord lock", "coord lock"},
		{"coord lock --help", "coord lock --help"},
		{"coord lock help", "coord lock --help"},
		{"coord elect E v", "coord elect campaign -- E v"},
		{"coord elect E v --ttl 3 -- true", "coord elect campaign --ttl 3 -- E v -- true"},
		{"coord elect leader E", "coord elect leader -- E"},
		{"coord elect campaign leader v", "coord elect campaign -- leader v"},
		// Completion is left alone.
		{"coord get a --generate-bash-completion", "coord get a --generate-bash-completion"},
	}
	app := newApp(&cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
	for _, tt := range tests {
		got := joinTestArgs(reorderArgs(app, splitTestArgs(tt.in)))
		if got != tt.want {
			t.Errorf("reorderArgs(%q)\n got  %q\n want %q", tt.in, got, tt.want)
		}
	}
}

func TestReorderArgsPassthrough(t *testing.T) {
	passthroughCommands["put"] = true
	defer delete(passthroughCommands, "put")
	app := newApp(&cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
	got := reorderArgs(app, []string{"coord", "put", "k", "--prev-kv", "--", "sh", "-c", "echo --x"})
	want := []string{"coord", "put", "--prev-kv", "--", "k", "--", "sh", "-c", "echo --x"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
	own, cmd := splitPassthrough([]string{"k", "--", "sh", "-c", "echo --x"})
	if len(own) != 1 || own[0] != "k" || len(cmd) != 3 || cmd[2] != "echo --x" {
		t.Fatalf("splitPassthrough: %q %q", own, cmd)
	}
}

// splitTestArgs splits on spaces; ” stands for an empty argument.
func splitTestArgs(s string) []string {
	f := strings.Fields(s)
	for i, a := range f {
		if a == "''" {
			f[i] = ""
		}
	}
	return f
}

func joinTestArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" {
			a = "''"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
