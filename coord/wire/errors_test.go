package wire

import (
	"go/ast"
	"go/parser"
	"go/token"
	"sort"
	"testing"
)

// pinnedCodes is every wire.Code with its number and name. Exactly-once
// records persist error codes in the replicated state, so a code's number
// is forever: append new codes here and at the end of the const block,
// never renumber or reorder.
var pinnedCodes = []struct {
	ident string
	code  Code
	num   uint16
	name  string
}{
	{"OK", OK, 0, "ok"},
	{"CodeUnknown", CodeUnknown, 1, "unknown"},
	{"CodeInvalid", CodeInvalid, 2, "invalid argument"},
	{"CodeNotFound", CodeNotFound, 3, "not found"},
	{"CodeCompacted", CodeCompacted, 4, "revision compacted"},
	{"CodeFutureRevision", CodeFutureRevision, 5, "future revision"},
	{"CodeLeaseNotFound", CodeLeaseNotFound, 6, "lease not found"},
	{"CodeWrongShard", CodeWrongShard, 7, "wrong shard"},
	{"CodeCrossShardTxn", CodeCrossShardTxn, 8, "cross-shard transaction"},
	{"CodeTooLarge", CodeTooLarge, 9, "too large"},
	{"CodeTimeout", CodeTimeout, 10, "timeout"},
	{"CodeUnavailable", CodeUnavailable, 11, "unavailable"},
	{"CodePermissionDenied", CodePermissionDenied, 12, "permission denied"},
	{"CodeCanceled", CodeCanceled, 13, "canceled"},
	{"CodeUnimplemented", CodeUnimplemented, 14, "unimplemented"},
	{"CodeDuplicate", CodeDuplicate, 15, "duplicate request"},
	{"CodeLocked", CodeLocked, 16, "locked"},
	{"CodeNotLeader", CodeNotLeader, 17, "not leader"},
	{"CodeNotHolder", CodeNotHolder, 18, "not holder"},
	{"CodeEmpty", CodeEmpty, 19, "empty"},
	{"CodeNotOwner", CodeNotOwner, 20, "not owner"},
	{"CodeOutcomeUnknown", CodeOutcomeUnknown, 21, "outcome unknown"},
	{"CodeClusterMismatch", CodeClusterMismatch, 22, "cluster mismatch"},
	{"CodeAlreadyExists", CodeAlreadyExists, 23, "already exists"},
	{"CodeAuthFailed", CodeAuthFailed, 24, "authentication failed"},
	{"CodeNoSpace", CodeNoSpace, 25, "database space exceeded"},
	{"CodeMemberRemoved", CodeMemberRemoved, 26, "member removed"},
	{"CodeNotLearner", CodeNotLearner, 27, "not a learner"},
}

// reservedCodes are numbers assigned to codes on other branches, not yet
// declared here: the pinned numbers skip exactly these (none now).
var reservedCodes = map[uint16]bool{}

// TestCodesPinned fails when a code is renumbered, renamed, inserted
// before others, or added without being pinned here.
func TestCodesPinned(t *testing.T) {
	seen := map[Code]string{}
	for i, p := range pinnedCodes {
		if uint16(p.code) != p.num {
			t.Errorf("%s is %d, pinned at %d: codes are persisted in exactly-once records and must never be renumbered", p.ident, uint16(p.code), p.num)
		}
		want := uint16(i)
		for n := uint16(0); n <= want; n++ {
			if reservedCodes[n] {
				want++
			}
		}
		if p.num != want {
			t.Errorf("%s: pinned numbers must run 0, 1, 2, … in order; entry %d has %d", p.ident, i, p.num)
		}
		if got := p.code.String(); got != p.name {
			t.Errorf("%s.String() = %q, want %q", p.ident, got, p.name)
		}
		if other, dup := seen[p.code]; dup {
			t.Errorf("%s and %s share number %d", p.ident, other, p.num)
		}
		seen[p.code] = p.ident
	}
	if len(codeNames) != len(pinnedCodes) {
		t.Errorf("codeNames has %d codes, %d are pinned: pin every new code (appended, next number)", len(codeNames), len(pinnedCodes))
	}

	// Every constant of type Code declared in the package, in order, is
	// the pinned list in order: a code inserted in the middle fails here
	// even if it took a fresh number.
	var declared []string
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	files := pkgs["wire"].Files
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, d := range files[name].Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
					continue
				}
				for _, n := range vs.Names {
					declared = append(declared, n.Name)
				}
			}
		}
	}
	if len(declared) != len(pinnedCodes) {
		t.Fatalf("declared Code constants %v, pinned %d: append a new code to the end of both", declared, len(pinnedCodes))
	}
	for i, name := range declared {
		if name != pinnedCodes[i].ident {
			t.Errorf("Code constant %d is %s, pinned %s: codes are append-only", i, name, pinnedCodes[i].ident)
		}
	}
}
