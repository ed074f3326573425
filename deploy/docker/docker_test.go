// Package docker holds the test of the Docker deployment: build.sh and
// compose.yaml beside it.
package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coord-io/coord/coord"
)

// composeCmd is how this machine runs Compose: "docker compose" (v2) or
// "docker-compose" (v1); nil when it has neither.
func composeCmd() []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if exec.Command("docker-compose", "version").Run() == nil {
		return []string{"docker-compose"}
	}
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// cluster is one compose project of compose.yaml.
type cluster struct {
	t       *testing.T
	compose []string
	env     []string
	client  string // coord1's client port on the host
}

func (c *cluster) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := append(append([]string(nil), c.compose...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (c *cluster) must(timeout time.Duration, args ...string) string {
	c.t.Helper()
	out, err := c.run(timeout, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// containerID is the ID of a service's container.
func (c *cluster) containerID(service string) string {
	c.t.Helper()
	id := strings.TrimSpace(c.must(time.Minute, "ps", "-q", service))
	if id == "" {
		c.t.Fatalf("no container for %s", service)
	}
	return id
}

// exec runs coord ARGS in a service's container (the binary is on the
// image's PATH, as the README's `docker compose exec coord1 coord ...`).
func (c *cluster) exec(service string, args ...string) (string, error) {
	return c.run(30*time.Second, append([]string{"exec", "-T", service, "coord"}, args...)...)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestComposeCluster builds the image, runs compose.yaml's three members,
// kills coord2 while a client writes through coord1, checks that writes go
// on, then restarts coord2 and checks that it catches up.
func TestComposeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("long-running (builds the image and runs three containers, about a minute): run without -short")
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("no Docker engine here (docker info: %v: %s)", err, strings.TrimSpace(string(out)))
	}
	compose := composeCmd()
	if compose == nil {
		t.Skip("neither `docker compose` nor `docker-compose` is installed")
	}
	file, err := filepath.Abs("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if out, err := exec.Command("./build.sh").CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v: %s", err, out)
	}
	t.Logf("build.sh took %v", time.Since(start).Round(time.Millisecond))

	pid := os.Getpid()
	project := fmt.Sprintf("coordtest%d", pid)
	clientPort := freePort(t)
	c := &cluster{
		t:       t,
		compose: append(compose, "-p", project, "-f", file),
		client:  net.JoinHostPort("127.0.0.1", strconv.Itoa(clientPort)),
		env: append(os.Environ(),
			"COORD_IMAGE=coord:latest",
			// A subnet of its own, so that runs side by side do not clash.
			fmt.Sprintf("COORD_SUBNET_PREFIX=172.30.%d", 100+pid%150),
			fmt.Sprintf("COORD_CLIENT_PORT=%d", clientPort),
			fmt.Sprintf("COORD_ETCD_PORT=%d", freePort(t)),
			fmt.Sprintf("COORD_HTTP_PORT=%d", freePort(t)),
		),
	}
	t.Cleanup(func() {
		if t.Failed() {
			if logs, err := c.run(time.Minute, "logs", "--tail", "40"); err == nil {
				t.Logf("compose logs:\n%s", logs)
			}
		}
		if _, err := c.run(2*time.Minute, "down", "-v", "--remove-orphans"); err != nil {
			t.Errorf("compose down: %v", err)
		}
	})
	c.must(3*time.Minute, "up", "-d")

	// Every member healthy by its own healthcheck (coord endpoint health).
	ids := map[string]string{}
	for _, s := range []string{"coord1", "coord2", "coord3"} {
		ids[s] = c.containerID(s)
	}
	healthy := func(service string) bool {
		out, err := exec.Command("docker", "inspect", "--format", "{{.State.Health.Status}}", ids[service]).Output()
		return err == nil && strings.TrimSpace(string(out)) == "healthy"
	}
	waitFor(t, 90*time.Second, "the three members' healthchecks", func() bool {
		return healthy("coord1") && healthy("coord2") && healthy("coord3")
	})
	t.Logf("cluster healthy %v after start", time.Since(start).Round(time.Millisecond))

	// The README's `docker compose ... exec coord1 coord member list`: the
	// binary is on the image's PATH, and the list has the three members,
	// all started voters.
	out, err := c.exec("coord1", "member", "list", "-w", "json")
	if err != nil {
		t.Fatalf("exec coord1 coord member list: %v: %s", err, out)
	}
	var ml struct {
		Members []struct {
			Name      string `json:"name"`
			Status    string `json:"status"`
			IsLearner bool   `json:"is_learner"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &ml); err != nil {
		t.Fatalf("member list -w json: %v: %s", err, out)
	}
	var names []string
	for _, m := range ml.Members {
		if m.Status != "started" || m.IsLearner {
			t.Errorf("member list: %s is %s, learner %v: %s", m.Name, m.Status, m.IsLearner, out)
		}
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != "coord1,coord2,coord3" {
		t.Fatalf("member list names %v: %s", names, out)
	}

	cl, err := coord.New(coord.Config{Endpoints: []string{c.client}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	// A client writes through coord1's published port until stopped.
	var mu sync.Mutex
	var acked []string // keys whose put was acknowledged, in order
	failures := 0
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprintf("load/%06d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := cl.Put(ctx, key, strconv.Itoa(i))
			cancel()
			mu.Lock()
			if err == nil {
				acked = append(acked, key)
			} else {
				failures++
			}
			mu.Unlock()
		}
	}()
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	defer func() {
		select {
		case <-done:
		default:
			close(stop)
			<-done
		}
	}()

	waitFor(t, 30*time.Second, "50 writes", func() bool { return ackedCount() >= 50 })
	if out, err := exec.Command("docker", "kill", ids["coord2"]).CombinedOutput(); err != nil {
		t.Fatalf("docker kill coord2: %v: %s", err, out)
	}
	before := ackedCount()
	waitFor(t, 30*time.Second, "200 more writes with coord2 killed", func() bool { return ackedCount() >= before+200 })
	if healthy("coord2") {
		// Docker only notices at its next check; but the container is gone.
		out, _ := exec.Command("docker", "inspect", "--format", "{{.State.Running}}", ids["coord2"]).Output()
		if strings.TrimSpace(string(out)) != "false" {
			t.Fatalf("coord2 still running after docker kill")
		}
	}
	// The cluster without coord2 reports it down by name.
	if out, err := c.exec("coord1", "endpoint", "health", "--cluster", "--timeout", "2s",
		"--endpoints", "127.0.0.1:7379,coord3:7379"); err == nil || !strings.Contains(out, "member coord2") {
		t.Fatalf("endpoint health --cluster with coord2 down: %v: %s", err, out)
	}

	// coord2 comes back and catches up while the writes go on.
	c.must(time.Minute, "start", "coord2")
	killedAt := ackedCount()
	waitFor(t, 30*time.Second, "100 more writes after restarting coord2", func() bool { return ackedCount() >= killedAt+100 })
	close(stop)
	<-done
	mu.Lock()
	last, total, failed := acked[len(acked)-1], len(acked), failures
	mu.Unlock()
	t.Logf("%d writes acknowledged, %d failed or timed out (around the kill)", total, failed)

	// A serializable read through coord2 alone sees the last acknowledged write.
	waitFor(t, 60*time.Second, "coord2 to serve the last write", func() bool {
		out, err := c.exec("coord2", "get", "--serializable", last)
		return err == nil && strings.Contains(out, last)
	})
	// ... and reaches coord1's revision.
	revision := func(service string) int64 {
		out, err := c.exec(service, "endpoint", "status", "-w", "json")
		if err != nil {
			return -1
		}
		var st []struct {
			Member string `json:"member"`
			Shards []struct {
				Revision int64 `json:"revision"`
			} `json:"shards"`
		}
		if json.Unmarshal([]byte(out), &st) != nil || len(st) != 1 || len(st[0].Shards) == 0 || st[0].Member != service {
			return -1
		}
		return st[0].Shards[0].Revision
	}
	var r1, r2 int64
	waitFor(t, 30*time.Second, "coord2's revision to equal coord1's", func() bool {
		r1, r2 = revision("coord1"), revision("coord2")
		return r1 > 0 && r1 == r2
	})
	t.Logf("coord1 and coord2 at revision %d", r1)

	// Every acknowledged write is there, through coord2 alone.
	out, err = c.exec("coord2", "get", "load/", "--prefix", "--count-only", "--serializable", "-w", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Count int `json:"count"`
	}
	if json.Unmarshal([]byte(out), &got) != nil || got.Count < total {
		t.Fatalf("coord2 holds %d load/ keys (%s), want at least the %d acknowledged", got.Count, out, total)
	}
	waitFor(t, 60*time.Second, "coord2's healthcheck after the restart", func() bool { return healthy("coord2") })
}
