package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// campaignRE matches what elect campaign prints once it leads.
func campaignRE(name, value string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `\n` + regexp.QuoteMeta(value) + `\nterm ([1-9][0-9]*)\n$`)
}

// waitLeading waits for a background campaign to lead and returns its term.
func waitLeading(t *testing.T, b *bg, name, value string) string {
	t.Helper()
	re := campaignRE(name, value)
	var term string
	waitFor(t, 30*time.Second, value+" to lead", func() bool {
		b.running(t)
		m := re.FindStringSubmatch(b.stdout.String())
		if m != nil {
			term = m[1]
		}
		return m != nil
	})
	return term
}

// leaderLease returns the lease of election name's leader, in hex, as
// elect resign --lease wants it.
func leaderLease(t *testing.T, c cliAt, name string) string {
	t.Helper()
	var lj jsonLeader
	if err := json.Unmarshal([]byte(c.ok("*", "elect", "leader", name, "-w", "json")), &lj); err != nil || lj.Lease == 0 {
		t.Fatalf("elect leader -w json: %v %+v", err, lj)
	}
	return leaseHex(lj.Lease)
}

func TestCLIElect(t *testing.T) {
	ep := startMemberShards(t, 4)
	c := cliAt{t, ep}
	c.fails("election E has no leader", "elect", "leader", "E")
	c.fails("election E has no leader", "elect", "resign", "E", "--lease", "1")

	obs := startBG(t, ep, "elect", "observe", "E")
	obsJSON := startBG(t, ep, "elect", "observe", "E", "-w", "json")

	a := startBG(t, ep, "elect", "campaign", "E", "alpha", "--ttl", "30s")
	termA := waitLeading(t, a, "E", "alpha")
	c.ok("alpha\nterm "+termA+"\n", "elect", "leader", "E")
	var lj jsonLeader
	if err := json.Unmarshal([]byte(c.ok("*", "elect", "leader", "E", "-w", "json")), &lj); err != nil ||
		lj.Name != "E" || lj.Value == nil || *lj.Value != "alpha" || strconv.FormatInt(lj.Term, 10) != termA || lj.Lease == 0 || lj.Header == nil {
		t.Fatalf("elect leader -w json: %v %+v", err, lj)
	}

	// A second candidate waits behind the leader.
	b := startBG(t, ep, "elect", "campaign", "E", "beta")
	time.Sleep(300 * time.Millisecond)
	b.running(t)
	if b.stdout.String() != "" {
		t.Fatalf("second candidate leads too: %q", b.stdout.String())
	}

	// Only the leader's owner may resign it: another lease is refused and
	// changes nothing, and no lease at all is a usage error.
	c.fails("not owner", "elect", "resign", "E", "--lease", "1")
	if code, _, stderr := c.run("", "elect", "resign", "E"); code != exitUsage || !strings.Contains(stderr, "missing --lease") {
		t.Fatalf("resign without --lease: exit %d stderr %q", code, stderr)
	}
	c.ok("alpha\nterm "+termA+"\n", "elect", "leader", "E")

	// Resigning the leader from outside: alpha exits 1, beta leads.
	c.ok("OK\n", "elect", "resign", "E", "--lease", leaderLease(t, c, "E"))
	if code := a.wait(t, 30*time.Second); code != exitError || !strings.HasPrefix(a.stderr.String(), "Error: leadership of E lost (") {
		t.Fatalf("resigned leader: exit %d stderr %q", code, a.stderr.String())
	}
	termB := waitLeading(t, b, "E", "beta")
	if tb, _ := strconv.ParseInt(termB, 10, 64); strconv.FormatInt(tb, 10) != termB || termB == termA {
		t.Fatalf("terms %s then %s", termA, termB)
	}
	ta, _ := strconv.ParseInt(termA, 10, 64)
	if tb, _ := strconv.ParseInt(termB, 10, 64); tb <= ta {
		t.Fatalf("term %d after %d: not increasing", tb, ta)
	}

	// Ctrl-C resigns: nobody leads.
	if code := b.stop(t); code != 0 || b.stderr.String() != "" {
		t.Fatalf("beta exit %d stderr %q", code, b.stderr.String())
	}
	waitFor(t, 10*time.Second, "no leader", func() bool {
		code, _, _ := c.run("", "elect", "leader", "E")
		return code == exitError
	})

	// The observers saw alpha, then beta.
	want := "alpha\nterm " + termA + "\nbeta\nterm " + termB + "\n"
	waitFor(t, 10*time.Second, "the observer to see both", func() bool {
		obs.running(t)
		return obs.stdout.String() == want
	})
	waitFor(t, 10*time.Second, "the json observer to see both", func() bool {
		obsJSON.running(t)
		return strings.Count(obsJSON.stdout.String(), "\n") == 2
	})
	for i, line := range strings.Split(strings.TrimSpace(obsJSON.stdout.String()), "\n") {
		var j jsonLeader
		if err := json.Unmarshal([]byte(line), &j); err != nil || j.Value == nil || *j.Value != []string{"alpha", "beta"}[i] {
			t.Fatalf("observe -w json line %d %q: %v", i, line, err)
		}
	}
	for _, o := range []*bg{obs, obsJSON} {
		if code := o.stop(t); code != 0 || o.stderr.String() != "" {
			t.Fatalf("observe exit %d stderr %q", code, o.stderr.String())
		}
	}
}

func TestCLIElectCampaignCommand(t *testing.T) {
	ep := startMemberShards(t, 4)
	c := cliAt{t, ep}
	out := c.ok("*", "elect", "campaign", "E", "v1", "--", "sh", "-c", `echo "$COORD_ELECTION_NAME $COORD_ELECTION_VALUE $COORD_ELECTION_TERM"`)
	if !regexp.MustCompile(`^E v1 [1-9][0-9]*\n$`).MatchString(out) {
		t.Fatalf("campaign -- sh: %q", out)
	}
	// Its status is ours, and it resigned after.
	if code, _, _ := c.run("", "elect", "campaign", "E", "v1", "--", "sh", "-c", "exit 4"); code != 4 {
		t.Fatalf("exit %d, want 4", code)
	}
	c.fails("election E has no leader", "elect", "leader", "E")

	// Made to resign while the command runs: it is terminated.
	r := startBG(t, ep, "elect", "campaign", "E", "v2", "--kill-grace", "300ms", "--", "sh", "-c", `trap '' TERM; echo started; sleep 60`)
	waitFor(t, 30*time.Second, "the command to start", func() bool {
		r.running(t)
		return r.stdout.String() == "started\n"
	})
	if out := c.ok("*", "elect", "leader", "E"); !strings.HasPrefix(out, "v2\nterm ") {
		t.Fatalf("elect leader: %q", out)
	}
	c.ok("OK\n", "elect", "resign", "E", "--lease", leaderLease(t, c, "E"))
	if code := r.wait(t, 30*time.Second); code != exitError {
		t.Fatalf("exit %d stderr %q", code, r.stderr.String())
	}
	if got := r.stderr.String(); !strings.HasPrefix(got, "Error: leadership of E lost (") || !strings.HasSuffix(got, "; command terminated\n") {
		t.Fatalf("stderr %q", got)
	}
}
