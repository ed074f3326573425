package etcdcompat

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/coord-io/coord/coord/server"
)

// etcdVersion is the etcd the etcd target builds (bench/etcd/build.sh).
const etcdVersion = "v3.6.5"

// runDir is this test run's temporary directory: the etcd binary is built
// into it once per run (TestMain removes it).
var runDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "coord-etcdcompat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	runDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// target is one cluster the suite runs against.
type target struct {
	name      string
	coord     bool // Coord's etcd doors (false: real etcd)
	endpoints []string
}

// client is a clientv3 client of the target's members, closed with the
// test.
func (tg *target) client(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: tg.endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// memberClient is a clientv3 client of member i%3 only. STM workers use
// one each: an STM's serializable reads at its first read's revision
// fail with ErrFutureRev when a client spread over several members asks
// a member that has not applied that revision yet (etcd as Coord).
func (tg *target) memberClient(t testing.TB, i int) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{tg.endpoints[i%len(tg.endpoints)]}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// startCoord starts three Coord members with etcd doors on free ports.
func startCoord(t *testing.T) *target {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	lc, err := server.StartLocalCluster(ctx, server.LocalClusterConfig{Members: 3, Dir: t.TempDir(), EtcdPorts: []int{0, 0, 0}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lc.Close() })
	return &target{name: "coord", coord: true, endpoints: lc.EtcdEndpoints()}
}

var (
	etcdOnce    sync.Once
	etcdBin     string
	etcdBuildOK bool
	etcdSkip    string
	etcdErr     string
	etcdBuildT  time.Duration
)

// etcdBinary builds etcd into the run's directory (once per run) or takes
// COORD_ETCD_BINARY.
func etcdBinary(t *testing.T) string {
	t.Helper()
	etcdOnce.Do(func() {
		if p := os.Getenv("COORD_ETCD_BINARY"); p != "" {
			etcdBin, etcdBuildOK = p, true
			return
		}
		out := filepath.Join(runDir, "etcd")
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		start := time.Now()
		b, err := exec.CommandContext(ctx, filepath.Join("..", "..", "..", "bench", "etcd", "build.sh"), out, etcdVersion).CombinedOutput()
		etcdBuildT = time.Since(start)
		if err != nil {
			s := string(b)
			for _, unreachable := range []string{"dial tcp", "no such host", "connection refused", "i/o timeout", "proxyconnect", "network is unreachable"} {
				if strings.Contains(s, unreachable) {
					etcdSkip = fmt.Sprintf("the module proxy is unreachable, so etcd %s cannot be built (set COORD_ETCD_BINARY to an etcd binary): %v\n%s", etcdVersion, err, s)
					return
				}
			}
			etcdErr = fmt.Sprintf("building etcd %s with bench/etcd/build.sh: %v\n%s", etcdVersion, err, s)
			return
		}
		etcdBin, etcdBuildOK = out, true
	})
	if etcdSkip != "" {
		t.Skip(etcdSkip)
	}
	if !etcdBuildOK {
		t.Fatal(etcdErr)
	}
	if etcdBuildT > 0 {
		t.Logf("built etcd %s in %v", etcdVersion, etcdBuildT.Round(100*time.Millisecond))
	}
	return etcdBin
}

// freePorts reserves n loopback ports (closed again before use: another
// process may take one meanwhile, which fails the start loudly).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// startEtcd starts a real three-member etcd cluster on loopback ports,
// each member a process with its data in the test's temporary directory.
func startEtcd(t *testing.T) *target {
	t.Helper()
	bin := etcdBinary(t)
	const n = 3
	ports := freePorts(t, 2*n)
	var ic []string
	for i := range n {
		ic = append(ic, fmt.Sprintf("e%d=http://127.0.0.1:%d", i+1, ports[2*i+1]))
	}
	dir := t.TempDir()
	var eps []string
	for i := range n {
		name := fmt.Sprintf("e%d", i+1)
		client := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--name", name, "--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(ic, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "coord-etcdcompat", "--log-level", "error")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			logf.Close()
			if t.Failed() {
				if b, err := os.ReadFile(logf.Name()); err == nil && len(b) > 0 {
					t.Logf("%s's log:\n%s", name, b)
				}
			}
		})
		eps = append(eps, strings.TrimPrefix(client, "http://"))
	}
	tg := &target{name: "etcd", endpoints: eps}
	// Ready: a linearizable read answers through every member.
	deadline := time.Now().Add(60 * time.Second)
	for _, ep := range eps {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := c.Get(ctx, "ready")
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				t.Fatalf("etcd member %s not ready after 60 s: %v", ep, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.Close()
	}
	return tg
}
