package fault

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coord-io/coord/coord"
)

// Binary builds the coord binary once into dir and returns its path.
// The module root is found from the working directory. COORD_FAULT_BIN,
// when set, names a binary to use instead (say, one built from another
// commit).
func Binary(dir string) (string, error) {
	if b := os.Getenv("COORD_FAULT_BIN"); b != "" {
		return filepath.Abs(b)
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "coord")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/coord")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/coord: %v\n%s", err, out)
	}
	return bin, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("fault: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Member is one `coord serve` process of a Cluster. Its addresses and data
// directory stay the same across restarts.
type Member struct {
	Name    string
	NodeID  uint64
	Client  string // --listen-client
	Peer    string // --listen-peer: the proxy peers dial
	Bind    string // --bind-peer: the member's real Raft listener
	HTTP    string // --listen-http
	Etcd    string // --listen-etcd: the member's etcd door
	DataDir string
	LogFile string

	// Initial and Join, for a member added to the running cluster
	// (AddMember): its --initial-cluster and the flags it joins with.
	Initial string
	Join    []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error // what the last process's Wait returned
	stopped bool  // SIGSTOPped
}

// Running reports whether the member's process is alive.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd != nil
}

// Cluster is a set of real `coord serve` processes on loopback, each with
// its Raft listener behind a proxy of Net.
type Cluster struct {
	t       testing.TB
	bin     string
	shards  int
	Members []*Member
	Net     *Net
	// Faults counts the faults injected so far.
	Faults  int
	initial string

	mu      sync.Mutex
	clients []*ClientLink // AddClient
}

// ClusterOptions configures NewCluster.
type ClusterOptions struct {
	Members int // default 3
	Shards  int // default 1
	// Prepare, when set, is called for each member before its first
	// start, with the cluster's --initial-cluster (say, to restore a
	// backup into its data directory).
	Prepare func(m *Member, initialCluster string) error
}

// freeAddrs returns n distinct loopback addresses whose ports were free a
// moment ago (all held open together, so no two are the same port).
func freeAddrs(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	addrs := make([]string, 0, n)
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// pickAddrs picks a cluster's addresses; a test replaces it to hand out a
// port that is already taken.
var pickAddrs = freeAddrs

// clusterAttempts bounds how often NewCluster starts over on fresh ports
// when a port it picked was taken by another process before a member bound it.
const clusterAttempts = 3

// NewCluster starts a cluster of bin and waits until every shard has a
// leader. Every process is SIGKILLed when the test ends.
func NewCluster(t testing.TB, bin string, o ClusterOptions) *Cluster {
	t.Helper()
	if o.Members == 0 {
		o.Members = 3
	}
	if o.Shards == 0 {
		o.Shards = 1
	}
	for attempt := 1; ; attempt++ {
		c, err := startCluster(t, bin, o)
		if err == nil {
			return c
		}
		if !errors.Is(err, errPortTaken) || attempt == clusterAttempts {
			t.Fatal(err)
		}
		t.Logf("fault: %v; starting over on fresh ports (attempt %d of %d)", err, attempt+1, clusterAttempts)
	}
}

// errPortTaken reports that a member could not bind a port the harness had
// picked for it: another process took it in between.
var errPortTaken = errors.New("a picked port was taken before the member bound it")

// startCluster is one attempt of NewCluster. On errPortTaken the processes
// are gone and the caller may try again.
func startCluster(t testing.TB, bin string, o ClusterOptions) (*Cluster, error) {
	dir := t.TempDir()
	c := &Cluster{t: t, bin: bin, shards: o.Shards, Net: NewNet()}
	t.Cleanup(c.cleanup) // also when this attempt is abandoned: kill and Close are idempotent
	addrs, err := pickAddrs(5 * o.Members)
	if err != nil {
		return nil, err
	}
	var parts []string
	for i := 0; i < o.Members; i++ {
		m := &Member{Name: fmt.Sprintf("n%d", i+1), NodeID: uint64(i + 1)}
		m.Client, m.Peer, m.Bind, m.HTTP, m.Etcd = addrs[5*i], addrs[5*i+1], addrs[5*i+2], addrs[5*i+3], addrs[5*i+4]
		m.DataDir = filepath.Join(dir, m.Name)
		m.LogFile = filepath.Join(dir, m.Name+".log")
		if err := c.Net.addProxy(m.Name, m.NodeID, m.Peer, m.Bind); err != nil {
			c.Net.Close()
			if isAddrInUse(err) {
				return nil, fmt.Errorf("%w: proxy of %s: %v", errPortTaken, m.Name, err)
			}
			return nil, err
		}
		parts = append(parts, m.Name+"="+m.Peer)
		c.Members = append(c.Members, m)
	}
	c.initial = strings.Join(parts, ",")
	for _, m := range c.Members {
		if o.Prepare != nil {
			if err := o.Prepare(m, c.initial); err != nil {
				c.Net.Close()
				return nil, fmt.Errorf("fault: preparing %s: %w", m.Name, err)
			}
		}
		c.Start(m)
	}
	const timeout = 60 * time.Second
	var taken string
	err = c.waitFor(timeout, func() bool {
		if taken = c.bindFailure(); taken != "" {
			return true
		}
		for _, m := range c.Members {
			if !ready(m) {
				return false
			}
		}
		return true
	})
	switch {
	case taken != "":
		for _, m := range c.Members {
			c.kill(m)
		}
		c.Net.Close()
		return nil, fmt.Errorf("%w: %s", errPortTaken, taken)
	case err != nil:
		return nil, fmt.Errorf("fault: cluster not ready after %v", timeout)
	}
	return c, nil
}

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

// bindFailure returns the name of a member that exited because a port it
// was given was in use, with the log line saying so; "" if none did.
func (c *Cluster) bindFailure() string {
	for _, m := range c.Members {
		m.mu.Lock()
		exited := m.exited
		m.mu.Unlock()
		select {
		case <-exited:
		default:
			continue
		}
		b, _ := os.ReadFile(m.LogFile)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "address already in use") {
				return m.Name + ": " + strings.TrimSpace(line)
			}
		}
	}
	return ""
}

func (c *Cluster) cleanup() {
	for _, m := range c.Members {
		c.kill(m)
	}
	c.Net.Close()
	if c.t.Failed() {
		for _, m := range c.Members {
			c.t.Logf("log of %s: %s (last lines below)\n%s", m.Name, m.LogFile, tail(m.LogFile, 15))
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Endpoints returns every member's client address.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.Client)
	}
	return eps
}

// EtcdEndpoints returns every member's etcd door address.
func (c *Cluster) EtcdEndpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.Etcd)
	}
	return eps
}

// Client returns a client of every member, closed when the test ends.
func (c *Cluster) Client() *coord.Client {
	c.t.Helper()
	cl, err := coord.New(coord.Config{Endpoints: c.Endpoints(), DialTimeout: 500 * time.Millisecond})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// Start starts m's process (it must not be running).
func (c *Cluster) Start(m *Member) {
	c.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		c.t.Fatalf("fault: %s is already running", m.Name)
	}
	logf, err := os.OpenFile(m.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== harness: starting %s at %s\n", m.Name, time.Now().Format(time.RFC3339Nano))
	initial := c.initial
	if m.Initial != "" {
		initial = m.Initial
	}
	cmd := exec.Command(c.bin, append([]string{"serve",
		"--name", m.Name, "--data-dir", m.DataDir,
		"--listen-client", m.Client, "--listen-peer", m.Peer, "--bind-peer", m.Bind,
		"--listen-http", m.HTTP, "--initial-cluster", initial,
		"--listen-etcd", m.Etcd, // "" (no door) for a member added by AddMember
		"--shards", fmt.Sprint(c.shards), "--log-level", "warn", "--bcrypt-cost", "4"}, m.Join...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		c.t.Fatalf("fault: starting %s: %v", m.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		logf.Close()
		m.mu.Lock()
		m.exitErr = err
		m.mu.Unlock()
		close(exited)
	}()
	m.cmd, m.exited, m.stopped = cmd, exited, false
}

// kill SIGKILLs m (if running) and waits for it to exit.
func (c *Cluster) kill(m *Member) {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.cmd, m.stopped = nil, false
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Kill SIGKILLs m and waits for it to exit.
func (c *Cluster) Kill(m *Member) {
	c.Faults++
	c.kill(m)
}

// Restart SIGKILLs m and starts it again with the same flags and data.
func (c *Cluster) Restart(m *Member) {
	c.t.Helper()
	c.Kill(m)
	c.Start(m)
}

// KillAll SIGKILLs every member at once.
func (c *Cluster) KillAll() {
	c.Faults++
	var wg sync.WaitGroup
	for _, m := range c.Members {
		m.mu.Lock()
		if m.cmd != nil {
			_ = m.cmd.Process.Signal(syscall.SIGKILL)
		}
		m.mu.Unlock()
	}
	for _, m := range c.Members {
		wg.Add(1)
		go func(m *Member) { defer wg.Done(); c.kill(m) }(m)
	}
	wg.Wait()
}

// StartAll starts every member that is not running.
func (c *Cluster) StartAll() {
	c.t.Helper()
	for _, m := range c.Members {
		if !m.Running() {
			c.Start(m)
		}
	}
}

// Pause SIGSTOPs m; Resume SIGCONTs it.
func (c *Cluster) Pause(m *Member) {
	c.Faults++
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil && !m.stopped {
		_ = m.cmd.Process.Signal(syscall.SIGSTOP)
		m.stopped = true
	}
}

// Resume SIGCONTs a paused member.
func (c *Cluster) Resume(m *Member) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil && m.stopped {
		_ = m.cmd.Process.Signal(syscall.SIGCONT)
		m.stopped = false
	}
}

// ResumeAll SIGCONTs every paused member.
func (c *Cluster) ResumeAll() {
	for _, m := range c.Members {
		c.Resume(m)
	}
}

// Isolate cuts every link to and from m with mode.
func (c *Cluster) Isolate(m *Member, mode LinkMode) {
	c.Faults++
	for _, o := range c.Members {
		if o != m {
			c.Net.Set(m.Name, o.Name, mode, 0)
			c.Net.Set(o.Name, m.Name, mode, 0)
		}
	}
}

// CutLink cuts the directed link from → to with mode.
func (c *Cluster) CutLink(from, to *Member, mode LinkMode) {
	c.Faults++
	c.Net.Set(from.Name, to.Name, mode, 0)
}

// Slow delays every link out of m by d.
func (c *Cluster) Slow(m *Member, d time.Duration) {
	c.Faults++
	for _, o := range c.Members {
		if o != m {
			c.Net.Set(m.Name, o.Name, LinkOK, d)
		}
	}
}

// ClientLink is one client's own way into the cluster: a client proxy
// (Net.AddClientProxy) in front of each member's client port, so that a
// nemesis can cut that client — not a member — off the cluster.
type ClientLink struct {
	Name string
	// Endpoints are the proxies, in member order: give them to the client.
	Endpoints []string
	holding   atomic.Bool
}

// SetHolding tells the cut-client nemesis whether the client holds
// something now (a lock): it prefers to cut such a client.
func (l *ClientLink) SetHolding(h bool) { l.holding.Store(h) }

// AddClient puts a client proxy named name in front of every member.
func (c *Cluster) AddClient(name string) *ClientLink {
	c.t.Helper()
	l := &ClientLink{Name: name}
	for _, m := range c.Members {
		addr, err := c.Net.AddClientProxy(name, m.Name, m.Client)
		if err != nil {
			c.t.Fatal(err)
		}
		l.Endpoints = append(l.Endpoints, addr)
	}
	c.mu.Lock()
	c.clients = append(c.clients, l)
	c.mu.Unlock()
	return l
}

// CutClient cuts every link between client l and the members with mode
// (LinkBlackhole: its connections go silent in both directions).
func (c *Cluster) CutClient(l *ClientLink, mode LinkMode) {
	c.Faults++
	for _, m := range c.Members {
		c.Net.Set(l.Name, m.Name, mode, 0)
	}
}

// holdingClient returns a client link that holds something, waiting up
// to wait for one, else a random one; nil when no client was added.
func (c *Cluster) holdingClient(rng *rand.Rand, wait time.Duration) *ClientLink {
	c.mu.Lock()
	ls := append([]*ClientLink(nil), c.clients...)
	c.mu.Unlock()
	if len(ls) == 0 {
		return nil
	}
	end := time.Now().Add(wait)
	for {
		for _, i := range rng.Perm(len(ls)) {
			if ls[i].holding.Load() {
				return ls[i]
			}
		}
		if time.Now().After(end) {
			return ls[rng.Intn(len(ls))]
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Heal restores every link and resumes every paused member.
func (c *Cluster) Heal() {
	c.Net.Heal()
	c.ResumeAll()
}

// ready reports whether m answers /readyz with 200 (every shard has a leader).
func ready(m *Member) bool {
	cl := http.Client{Timeout: 500 * time.Millisecond}
	resp, err := cl.Get("http://" + m.HTTP + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// WaitReady waits until every running member reports every shard led.
func (c *Cluster) WaitReady(timeout time.Duration) {
	c.t.Helper()
	if err := c.waitFor(timeout, func() bool {
		for _, m := range c.Members {
			if m.Running() && !ready(m) {
				return false
			}
		}
		return true
	}); err != nil {
		c.t.Fatalf("fault: cluster not ready after %v", timeout)
	}
}

func (c *Cluster) waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Leader returns the member leading shard, as the running members see it,
// waiting up to timeout for one to be known; nil if none.
func (c *Cluster) Leader(shard uint32, timeout time.Duration) *Member {
	var found *Member
	_ = c.waitFor(timeout, func() bool {
		for _, m := range c.Members {
			if !m.Running() {
				continue
			}
			st, err := status(m)
			if err != nil || int(shard) >= len(st.Shards) {
				continue
			}
			if s := st.Shards[shard]; s.IsLeader {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// KillLeader SIGKILLs the member leading shard and returns it (nil if no
// leader was found).
func (c *Cluster) KillLeader(shard uint32) *Member {
	m := c.Leader(shard, 10*time.Second)
	if m != nil {
		c.Kill(m)
	}
	return m
}

func status(m *Member) (*coord.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	cl, err := coord.New(coord.Config{Endpoints: []string{m.Client}, DialTimeout: 500 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return cl.Status(ctx, m.Client)
}
