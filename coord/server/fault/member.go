package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Membership changes on the running cluster, made as an operator makes
// them: with the coord command line (coord member add, list, remove).

// cli runs the coord command line against the running members and
// returns its standard output.
func (c *Cluster) cli(args ...string) (string, error) {
	var eps []string
	for _, m := range c.Members {
		if m.Running() {
			eps = append(eps, m.Client)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append(args, "--endpoints", strings.Join(eps, ","), "--dial-timeout", "500ms")...)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), fmt.Errorf("coord %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
		}
		return string(out), fmt.Errorf("coord %s: %v", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// MemberRow is one member as `coord member list -w json` prints it.
type MemberRow struct {
	Name      string   `json:"name"`
	ID        uint64   `json:"id"`
	Status    string   `json:"status"`
	IsLearner bool     `json:"is_learner"`
	LeaderOf  []uint32 `json:"leader_of_shards"`
}

// MemberList runs `coord member list -w json`.
func (c *Cluster) MemberList() ([]MemberRow, error) {
	out, err := c.cli("member", "list", "-w", "json")
	if err != nil {
		return nil, err
	}
	var l struct {
		Members []MemberRow `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		return nil, fmt.Errorf("member list -w json: %v in %q", err, out)
	}
	return l.Members, nil
}

// AddMember adds member name with `coord member add`, starts it with the
// flags add printed, and waits until it votes in every shard (it
// promotes itself once caught up). It is then one of c.Members.
func (c *Cluster) AddMember(name string) *Member {
	c.t.Helper()
	c.Faults++
	addrs, err := pickAddrs(4)
	if err != nil {
		c.t.Fatal(err)
	}
	dir := filepath.Dir(c.Members[0].DataDir)
	m := &Member{Name: name, Client: addrs[0], Peer: addrs[1], Bind: addrs[2], HTTP: addrs[3],
		DataDir: filepath.Join(dir, name), LogFile: filepath.Join(dir, name+".log")}
	out, err := c.cli("member", "add", name, m.Peer, "-w", "json")
	if err != nil {
		c.t.Fatalf("fault: %v", err)
	}
	var added struct {
		Env map[string]string `json:"env"`
	}
	if err := json.Unmarshal([]byte(out), &added); err != nil {
		c.t.Fatalf("fault: member add -w json: %v in %q", err, out)
	}
	id, err := strconv.ParseUint(added.Env["COORD_NODE_ID"], 10, 64)
	if err != nil || added.Env["COORD_INITIAL_CLUSTER_STATE"] != "existing" || added.Env["COORD_LISTEN_PEER"] != m.Peer {
		c.t.Fatalf("fault: member add printed %q", out)
	}
	m.NodeID, m.Initial = id, added.Env["COORD_INITIAL_CLUSTER"]
	m.Join = []string{"--initial-cluster-state", "existing", "--node-id", strconv.FormatUint(id, 10)}
	if err := c.Net.addProxy(m.Name, m.NodeID, m.Peer, m.Bind); err != nil {
		c.t.Fatalf("fault: proxy of %s: %v", name, err)
	}
	c.Members = append(c.Members, m)
	c.Start(m)
	if err := c.waitFor(60*time.Second, func() bool {
		rows, err := c.MemberList()
		if err != nil {
			return false
		}
		for _, r := range rows {
			if r.Name == name {
				return r.Status == "started" && !r.IsLearner
			}
		}
		return false
	}); err != nil {
		c.t.Fatalf("fault: %s did not become a voter within 60s\n%s", name, tail(m.LogFile, 20))
	}
	return m
}

// RemoveMember removes m with `coord member remove` and waits until its
// process, told by the cluster that it was removed, exits with an error
// that says so. m is then no longer one of c.Members.
func (c *Cluster) RemoveMember(m *Member) {
	c.t.Helper()
	c.Faults++
	if _, err := c.cli("member", "remove", m.Name); err != nil {
		c.t.Fatalf("fault: %v", err)
	}
	for i, o := range c.Members {
		if o == m {
			c.Members = append(c.Members[:i:i], c.Members[i+1:]...)
			break
		}
	}
	m.mu.Lock()
	exited := m.exited
	m.mu.Unlock()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("fault: removed member %s still runs after 30s\n%s", m.Name, tail(m.LogFile, 20))
	}
	m.mu.Lock()
	err := m.exitErr
	m.cmd = nil
	m.mu.Unlock()
	log, _ := os.ReadFile(m.LogFile)
	if err == nil || !strings.Contains(string(log), "was removed from the cluster") {
		c.t.Fatalf("fault: removed member %s exited with %v; its log does not say it was removed:\n%s", m.Name, err, tail(m.LogFile, 20))
	}
}
