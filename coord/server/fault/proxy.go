package fault

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// LinkMode is what the network does to the traffic of one directed link.
type LinkMode int

// Link modes.
const (
	// LinkOK forwards traffic (after the link's delay, if any).
	LinkOK LinkMode = iota
	// LinkDrop closes the link's connections and refuses new ones: the
	// sender sees errors at once.
	LinkDrop
	// LinkBlackhole accepts and silently discards the link's traffic: the
	// sender sees nothing until its own timeouts fire.
	LinkBlackhole
)

func (m LinkMode) String() string {
	switch m {
	case LinkDrop:
		return "drop"
	case LinkBlackhole:
		return "blackhole"
	}
	return "ok"
}

type link struct{ from, to string }

type linkRule struct {
	mode  LinkMode
	delay time.Duration
}

// Net is the harness's network: one TCP proxy in front of each member's
// Raft listener, and client proxies (AddClientProxy) in front of members'
// client ports. Peers dial the proxy (the member's advertised peer
// address); the proxy learns which member a connection comes from by
// reading its first Dragonboat frame (the message batch names its source
// address, a snapshot chunk its source node ID) and then applies that
// directed link's rule to every byte it forwards. Dragonboat uses one
// connection per direction, so links are cut one direction at a time.
//
// Goroutines: per proxy one accept loop; per connection two copy loops.
// All rules live in rules under mu.
type Net struct {
	mu      sync.Mutex
	rules   map[link]linkRule
	byAddr  map[string]string // advertised peer address → member name
	byNode  map[uint64]string // Raft node ID → member name
	proxies []*proxy
	conns   map[*proxyConn]bool
}

// NewNet returns a network with every link healthy.
func NewNet() *Net {
	return &Net{rules: map[link]linkRule{}, byAddr: map[string]string{}, byNode: map[uint64]string{}, conns: map[*proxyConn]bool{}}
}

// Set sets the rule of the directed link from → to and applies it to the
// link's open connections at once.
func (n *Net) Set(from, to string, mode LinkMode, delay time.Duration) {
	n.mu.Lock()
	r := linkRule{mode: mode, delay: delay}
	if mode == LinkOK && delay == 0 {
		delete(n.rules, link{from, to})
	} else {
		n.rules[link{from, to}] = r
	}
	var kill []*proxyConn
	for c := range n.conns {
		if c.from == from && c.to == to && (mode == LinkDrop || (mode == LinkOK && c.tainted)) {
			kill = append(kill, c)
		}
	}
	n.mu.Unlock()
	for _, c := range kill {
		c.close()
	}
}

// Heal makes every link healthy; connections that were blackholed are
// closed so that their streams restart cleanly.
func (n *Net) Heal() {
	n.mu.Lock()
	n.rules = map[link]linkRule{}
	var kill []*proxyConn
	for c := range n.conns {
		if c.tainted {
			kill = append(kill, c)
		}
	}
	n.mu.Unlock()
	for _, c := range kill {
		c.close()
	}
}

func (n *Net) rule(from, to string) linkRule {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rules[link{from, to}]
}

// AddClientProxy puts a proxy on a free loopback port in front of
// target (a member's client address) and returns its address. Every
// connection through it is the link from → to (from names the client, to
// the member), and the link's rule applies to both directions: a
// blackholed client proxy neither forwards the client's requests nor
// returns the member's answers, and closes nothing — the client sees a
// silent connection, as behind a dead router or a firewall that drops
// packets. Cut a client off with Set(from, to, LinkBlackhole).
func (n *Net) AddClientProxy(from, to, target string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	p := &proxy{n: n, name: to, ln: ln, target: target, client: from}
	n.mu.Lock()
	n.proxies = append(n.proxies, p)
	n.mu.Unlock()
	go p.serve()
	return ln.Addr().String(), nil
}

// Close stops every proxy and closes every connection.
func (n *Net) Close() {
	n.mu.Lock()
	ps := n.proxies
	n.proxies = nil
	var cs []*proxyConn
	for c := range n.conns {
		cs = append(cs, c)
	}
	n.mu.Unlock()
	for _, p := range ps {
		_ = p.ln.Close()
	}
	for _, c := range cs {
		c.close()
	}
}

// addProxy listens on advertised and forwards to target, for member name
// with Raft node ID nodeID.
func (n *Net) addProxy(name string, nodeID uint64, advertised, target string) error {
	ln, err := net.Listen("tcp", advertised)
	if err != nil {
		return err
	}
	p := &proxy{n: n, name: name, ln: ln, target: target}
	n.mu.Lock()
	n.byAddr[advertised] = name
	n.byNode[nodeID] = name
	n.proxies = append(n.proxies, p)
	n.mu.Unlock()
	go p.serve()
	return nil
}

type proxy struct {
	n      *Net
	name   string // the member behind the proxy
	ln     net.Listener
	target string
	// client, when set, makes this a client proxy (AddClientProxy): every
	// connection comes from the client of that name, and the rule of
	// link client → name applies to both directions.
	client string
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

type proxyConn struct {
	from, to string
	in, out  net.Conn
	once     sync.Once
	tainted  bool // under Net.mu: some traffic was discarded
}

func (c *proxyConn) close() {
	c.once.Do(func() {
		_ = c.in.Close()
		if c.out != nil {
			_ = c.out.Close()
		}
	})
}

func (p *proxy) handle(in net.Conn) {
	var first []byte
	from := p.client
	if from == "" {
		_ = in.SetReadDeadline(time.Now().Add(10 * time.Second))
		var err error
		first, from, err = p.readFirst(in)
		if err != nil {
			_ = in.Close()
			return
		}
		_ = in.SetReadDeadline(time.Time{})
	}
	c := &proxyConn{from: from, to: p.name, in: in}
	p.n.mu.Lock()
	p.n.conns[c] = true
	p.n.mu.Unlock()
	defer func() {
		c.close()
		p.n.mu.Lock()
		delete(p.n.conns, c)
		p.n.mu.Unlock()
	}()
	if p.n.rule(from, p.name).mode == LinkDrop {
		return
	}
	out, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		return
	}
	c.out = out
	if len(first) > 0 && !p.forward(c, out, first) {
		return
	}
	go func() {
		defer c.close()
		if p.client == "" {
			// The receiver only ever answers a poison message; pass it on.
			_, _ = io.Copy(in, out)
			return
		}
		p.copy(c, out, in) // a client's answers obey the link's rule too
	}()
	p.copy(c, in, out)
}

// copy forwards what arrives on src to dst under the link's rule until
// either side fails or the rule ends the connection.
func (p *proxy) copy(c *proxyConn, src, dst net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 && !p.forward(c, dst, buf[:k]) {
			return
		}
		if err != nil {
			return
		}
	}
}

// forward sends b to dst (one side of c) under the link's current rule;
// false means the connection must end.
func (p *proxy) forward(c *proxyConn, dst net.Conn, b []byte) bool {
	r := p.n.rule(c.from, c.to)
	switch r.mode {
	case LinkDrop:
		return false
	case LinkBlackhole:
		p.n.mu.Lock()
		c.tainted = true
		p.n.mu.Unlock()
		return true
	}
	p.n.mu.Lock()
	tainted := c.tainted
	p.n.mu.Unlock()
	if tainted {
		return false // the stream lost bytes: make the sender reconnect
	}
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	_, err := dst.Write(b)
	return err == nil
}

// Dragonboat's TCP transport frames: a 2-byte magic number, an 18-byte
// header (method uint16, size uint64, two CRCs), then size bytes of
// protobuf: a MessageBatch for method 100, a snapshot Chunk for 200.
const (
	dbHeaderSize    = 2 + 18
	dbRaftMethod    = 100
	dbSnapshotMethd = 200
	maxFirstFrame   = 64 << 20
)

var errUnknownSource = errors.New("fault: cannot tell the source of a raft connection")

// readFirst reads the first frame of a Raft connection and returns its
// bytes and the name of the sending member ("" when it cannot be told).
func (p *proxy) readFirst(in net.Conn) ([]byte, string, error) {
	hdr := make([]byte, dbHeaderSize)
	if _, err := io.ReadFull(in, hdr); err != nil {
		return nil, "", err
	}
	method := binary.BigEndian.Uint16(hdr[2:])
	size := binary.BigEndian.Uint64(hdr[4:])
	if size > maxFirstFrame {
		return nil, "", errUnknownSource
	}
	frame := make([]byte, dbHeaderSize+int(size))
	copy(frame, hdr)
	if _, err := io.ReadFull(in, frame[dbHeaderSize:]); err != nil {
		return nil, "", err
	}
	body := frame[dbHeaderSize:]
	p.n.mu.Lock()
	defer p.n.mu.Unlock()
	switch method {
	case dbRaftMethod:
		if v, ok := protoField(body, 3); ok {
			return frame, p.n.byAddr[string(v.bytes)], nil
		}
	case dbSnapshotMethd:
		if v, ok := protoField(body, 3); ok {
			return frame, p.n.byNode[v.varint], nil
		}
	}
	return frame, "", nil
}

type protoValue struct {
	varint uint64
	bytes  []byte
}

// protoField returns the first top-level field num of a protobuf message.
func protoField(b []byte, num uint64) (protoValue, bool) {
	for len(b) > 0 {
		key, k := binary.Uvarint(b)
		if k <= 0 {
			return protoValue{}, false
		}
		b = b[k:]
		field, wt := key>>3, key&7
		var v protoValue
		switch wt {
		case 0:
			x, k := binary.Uvarint(b)
			if k <= 0 {
				return protoValue{}, false
			}
			v.varint, b = x, b[k:]
		case 1:
			if len(b) < 8 {
				return protoValue{}, false
			}
			b = b[8:]
		case 2:
			l, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < l {
				return protoValue{}, false
			}
			v.bytes, b = b[k:k+int(l)], b[k+int(l):]
		case 5:
			if len(b) < 4 {
				return protoValue{}, false
			}
			b = b[4:]
		default:
			return protoValue{}, false
		}
		if field == num {
			return v, true
		}
	}
	return protoValue{}, false
}
