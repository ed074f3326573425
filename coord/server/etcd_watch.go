package server

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"

	"github.com/coord-io/coord/coord/wire"
)

// etcd's Watch service: one bidirectional stream carries many watches,
// each a call of the core's streaming watch (wire.MethodWatch) whose
// messages a Sender turns into etcd WatchResponses with the watch's ID.
//
// Order on the stream: a create is answered (created, or created and
// canceled with the reason) before the next request of the stream is
// read, so that clients matching created responses to their creates in
// order (clientv3) get the right IDs. Every message goes through one
// send lock, and a watch's messages are sent by its own call's goroutine
// in the order the core produces them.
//
// Progress: a progress request is answered with the revision R the
// member last published on the watches' shard once every watch of the
// stream has been sent every event up to R (etcd defers a progress
// response while watchers are unsynced, too): the door checks the
// member's recent events (the hub's) after each watch's last sent
// revision for events the watch still has to get. A watch that replays
// history older than the recent events the member keeps defers it until
// it reaches them. progress_notify sends such a response to an idle
// watch every etcdProgressInterval.
//
// Goroutines: the stream's handler (reads requests, serves creates,
// cancels and progress), one reader of the gRPC stream, and one per
// watch (its core call), all ended and waited for when the stream ends.

var etcdWatchService = etcdService{name: "Watch", register: func(d *etcdDoor, gs *grpc.Server, mux *runtime.ServeMux) error {
	s := &etcdWatchServer{d: d}
	pb.RegisterWatchServer(gs, s)
	// /v3/watch: a stream, served through a client of s (etcd_gateway.go).
	return registerGatewayWatch(mux, s)
}}

// etcdProgressInterval is how often a watch created with progress_notify
// that had no events gets a progress notification (etcd's default).
var etcdProgressInterval = 10 * time.Minute

type etcdWatchServer struct {
	pb.UnimplementedWatchServer
	d *etcdDoor
}

// etcdWatchStream is one Watch stream.
type etcdWatchStream struct {
	d   *etcdDoor
	cl  *Caller
	srv pb.Watch_WatchServer
	ctx context.Context

	sendMu sync.Mutex // serialises srv.Send

	mu              sync.Mutex
	watches         map[int64]*etcdWatch
	nextID          int64 // the next automatic watch ID to try
	progressPending bool

	wg    sync.WaitGroup
	fatal chan error // an error that ends the stream (the member stops)
}

// etcdWatch is one watch of a stream.
type etcdWatch struct {
	id       int64
	key, end []byte
	shard    int   // the watch's one shard, -1 when it spans shards
	start    int64 // the first revision it reports
	noPut    bool
	noDelete bool
	fragment bool // the client takes fragmented responses
	progress bool // progress_notify
	cancel   context.CancelFunc

	created   chan struct{} // closed once the created response is sent
	byClient  atomic.Bool   // cancelled by a cancel request
	sent      atomic.Int64  // every event up to this revision has been sent
	active    atomic.Bool   // events were sent since the last progress tick
	buf       []*mvccpb.Event
	createdOK bool // touched by the watch's call only
}

func (s *etcdWatchServer) Watch(srv pb.Watch_WatchServer) error {
	cl, err := s.d.caller(srv.Context())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(srv.Context())
	ws := &etcdWatchStream{d: s.d, cl: cl, srv: srv, ctx: ctx, watches: map[int64]*etcdWatch{}, fatal: make(chan error, 1)}
	defer func() {
		cancel()
		ws.wg.Wait()
	}()

	reqs := make(chan *pb.WatchRequest)
	recvErr := make(chan error, 1)
	go func() {
		for {
			r, err := srv.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case reqs <- r:
			case <-ctx.Done():
				return
			}
		}
	}()

	var tick <-chan time.Time
	for {
		select {
		case r := <-reqs:
			switch u := r.RequestUnion.(type) {
			case *pb.WatchRequest_CreateRequest:
				if u.CreateRequest == nil {
					continue
				}
				if err := ws.create(u.CreateRequest); err != nil {
					return err
				}
				if u.CreateRequest.ProgressNotify && tick == nil {
					t := time.NewTicker(etcdProgressInterval)
					defer t.Stop()
					tick = t.C
				}
			case *pb.WatchRequest_CancelRequest:
				if u.CancelRequest != nil {
					ws.cancelWatch(u.CancelRequest.WatchId)
				}
			case *pb.WatchRequest_ProgressRequest:
				ws.mu.Lock()
				ws.progressPending = true
				ws.mu.Unlock()
				if err := ws.flushProgress(); err != nil {
					return err
				}
			}
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				// The client half-closed: its watches go on
				// until it goes (as etcd's; the gateway
				// half-closes when the request body ends).
				recvErr = nil
				continue
			}
			return err
		case err := <-ws.fatal:
			return err
		case <-tick:
			if err := ws.progressTick(); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// send sends one response on the stream.
func (ws *etcdWatchStream) send(r *pb.WatchResponse) error {
	ws.sendMu.Lock()
	defer ws.sendMu.Unlock()
	return ws.srv.Send(r)
}

// curHeader is the etcd header with shard's current revision.
func (ws *etcdWatchStream) curHeader(shard int) *pb.ResponseHeader {
	if shard < 0 {
		shard = 0
	}
	rev, _ := ws.d.core.shards[shard].Revision()
	return ws.d.shardHeader(uint32(shard), rev)
}

// refuse answers a create that could not start: created and canceled,
// with the reason, under etcd's invalid watch ID.
func (ws *etcdWatchStream) refuse(shard int, reason string) error {
	return ws.send(&pb.WatchResponse{Header: ws.curHeader(shard), WatchId: -1, Created: true, Canceled: true, CancelReason: reason})
}

// create starts a watch and returns once it is answered.
func (ws *etcdWatchStream) create(c *pb.WatchCreateRequest) error {
	key, end := c.Key, c.RangeEnd
	if len(key) == 0 {
		key = []byte{0}
	}
	shard := -1
	if sh, one := wire.RangeShard(key, end, ws.d.core.Shards()); one {
		shard = int(sh)
	}
	if c.StartRevision > 0 {
		if werr := ws.d.oneShard("a watch from a revision", key, end); werr != nil {
			return ws.refuse(shard, werr.Message)
		}
	}
	w := &etcdWatch{key: key, end: end, shard: shard, start: c.StartRevision, fragment: c.Fragment,
		progress: c.ProgressNotify, created: make(chan struct{})}
	for _, f := range c.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			w.noPut = true
		case pb.WatchCreateRequest_NODELETE:
			w.noDelete = true
		}
	}
	ws.mu.Lock()
	switch {
	case c.WatchId < 0:
		ws.mu.Unlock()
		return ws.refuse(shard, "watch ID must not be negative")
	case c.WatchId > 0:
		if ws.watches[c.WatchId] != nil {
			ws.mu.Unlock()
			return ws.refuse(shard, "mvcc: duplicate watch ID provided on the WatchStream")
		}
		w.id = c.WatchId
	default:
		for ws.watches[ws.nextID] != nil {
			ws.nextID++
		}
		w.id = ws.nextID
		ws.nextID++
	}
	ws.watches[w.id] = w
	ws.mu.Unlock()

	req := &wire.WatchRequest{Key: key, RangeEnd: end, StartRevision: c.StartRevision, PrevKV: c.PrevKv,
		NoPut: w.noPut, NoDelete: w.noDelete}
	wctx, cancel := context.WithCancel(ws.ctx)
	w.cancel = cancel
	done := make(chan struct{})
	ws.wg.Add(1)
	go func() {
		defer ws.wg.Done()
		defer close(done)
		defer cancel()
		ws.run(wctx, w, req)
	}()
	select {
	case <-w.created:
	case <-done:
	case <-ws.ctx.Done():
	}
	return nil
}

// cancelWatch ends watch id at the client's request; its call answers
// canceled when it ends. An unknown ID is ignored, as etcd does.
func (ws *etcdWatchStream) cancelWatch(id int64) {
	ws.mu.Lock()
	w := ws.watches[id]
	ws.mu.Unlock()
	if w == nil {
		return
	}
	w.byClient.Store(true)
	w.cancel()
}

// run runs watch w's core call until it ends, then answers its end.
func (ws *etcdWatchStream) run(ctx context.Context, w *etcdWatch, req *wire.WatchRequest) {
	cl := *ws.cl
	cl.Received = time.Now()
	body, werr := ws.d.core.Call(ctx, &cl, wire.MethodWatch, func(dst any) *wire.Error {
		p, ok := dst.(*wire.WatchRequest)
		if !ok {
			return wire.Errorf(wire.CodeUnknown, "etcd door: watch takes a %T", dst)
		}
		*p = *req
		return nil
	}, etcdWatchSender{ws: ws, w: w})
	ws.mu.Lock()
	if ws.watches[w.id] == w {
		delete(ws.watches, w.id)
	}
	ws.mu.Unlock()
	// The ended watch no longer holds a progress response back.
	defer func() { _ = ws.flushProgress() }()
	if ws.ctx.Err() != nil {
		return // the stream is gone
	}
	if werr != nil {
		if werr.Code == wire.CodeUnavailable {
			// The member stops: end the stream, the client resumes
			// its watches on another member.
			select {
			case ws.fatal <- ws.d.etcdError(&cl, werr):
			default:
			}
			return
		}
		// etcd's message where clientv3 maps it to its error value
		// (ErrPermissionDenied, …), else Coord's.
		reason := werr.Message
		switch werr.Code {
		case wire.CodePermissionDenied, wire.CodeAuthFailed, wire.CodeCompacted, wire.CodeFutureRevision:
			reason = rpctypes.ErrorDesc(ws.d.etcdError(&cl, werr))
		}
		if !w.createdOK {
			_ = ws.refuse(w.shard, reason)
			return
		}
		_ = ws.send(&pb.WatchResponse{Header: ws.curHeader(w.shard), WatchId: w.id, Canceled: true, CancelReason: reason})
		return
	}
	if !w.createdOK {
		return
	}
	r, _ := body.(*wire.WatchResponse)
	switch {
	case w.byClient.Load():
		_ = ws.send(&pb.WatchResponse{Header: ws.curHeader(w.shard), WatchId: w.id, Canceled: true})
	case r != nil && r.CompactRevision != 0:
		// clientv3 returns ErrCompacted.
		_ = ws.send(&pb.WatchResponse{Header: ws.curHeader(w.shard), WatchId: w.id, Canceled: true, CompactRevision: r.CompactRevision})
	case r != nil && r.Canceled:
		_ = ws.send(&pb.WatchResponse{Header: ws.curHeader(w.shard), WatchId: w.id, Canceled: true, CancelReason: r.Reason})
	}
}

// etcdWatchSender turns the core's watch messages into etcd's.
type etcdWatchSender struct {
	ws *etcdWatchStream
	w  *etcdWatch
}

func (s etcdWatchSender) Send(msg any) error {
	r, ok := msg.(*wire.WatchResponse)
	if !ok {
		return errors.New("etcd door: a watch sends WatchResponses")
	}
	ws, w := s.ws, s.w
	if r.Created {
		// etcd's created header carries the store's revision.
		h := ws.curHeader(w.shard)
		if w.start <= 0 {
			// Events come after the revision the core started from.
			started := r.Header.Revision
			if r.Header.Shard == wire.AllShards {
				for _, rev := range r.Header.Revisions {
					started = max(started, rev)
				}
			}
			h.Revision = max(h.Revision, started)
			w.sent.Store(started)
		} else {
			w.sent.Store(w.start - 1)
		}
		err := ws.send(&pb.WatchResponse{Header: h, WatchId: w.id, Created: true})
		w.createdOK = true
		close(w.created)
		return err
	}
	evs := make([]*mvccpb.Event, 0, len(r.Events))
	for i := range r.Events {
		evs = append(evs, etcdEvent(&r.Events[i]))
	}
	if len(evs) == 0 {
		return nil
	}
	last := evs[len(evs)-1].Kv.ModRevision
	if !w.fragment {
		// The client takes whole revisions only: keep a fragment's
		// events until its revision is complete.
		w.buf = append(w.buf, evs...)
		if r.Fragment {
			return nil
		}
		evs, w.buf = w.buf, nil
	}
	if r.Fragment {
		last--
	}
	// The send and what it tells of the watch's progress are one step
	// under the send lock, which progress responses take too.
	ws.sendMu.Lock()
	err := ws.srv.Send(&pb.WatchResponse{Header: ws.d.header(&r.Header), WatchId: w.id, Events: evs, Fragment: w.fragment && r.Fragment})
	if err == nil && w.shard >= 0 && last > w.sent.Load() {
		w.sent.Store(last)
	}
	ws.sendMu.Unlock()
	if err != nil {
		return err
	}
	w.active.Store(true)
	ws.mu.Lock()
	pending := ws.progressPending
	ws.mu.Unlock()
	if pending {
		return ws.flushProgress()
	}
	return nil
}

// etcdEvent is an event of the core as etcd's.
func etcdEvent(e *wire.Event) *mvccpb.Event {
	out := &mvccpb.Event{Kv: etcdKV(e.Kv), PrevKv: etcdKV(e.PrevKv)}
	if e.Type == wire.EventDelete {
		out.Type = mvccpb.DELETE
	}
	if out.Kv == nil {
		out.Kv = &mvccpb.KeyValue{}
	}
	return out
}

// synced reports the revision up to which watch w has been sent every
// event, as far as the member's recent events on its shard tell, and
// whether that is the shard's last published revision.
func (ws *etcdWatchStream) synced(w *etcdWatch) (int64, bool) {
	if w.shard < 0 {
		return 0, false
	}
	select {
	case <-w.created:
	default:
		return 0, false
	}
	sent := w.sent.Load()
	rec := ws.d.core.hub.recent[w.shard]
	evs, last, ok := rec.since(sent+1, w.key, w.end)
	if !ok {
		// Nothing published since the member started (or the shard
		// was restored): the watch is synced if it started at the
		// current revision and nothing was applied since.
		rec.mu.Lock()
		first := rec.first
		rec.mu.Unlock()
		cur, _ := ws.d.core.shards[w.shard].Revision()
		return cur, first == 0 && sent >= cur
	}
	for i := range evs {
		e := &evs[i]
		if e.Kv.ModRevision < w.start || (e.Type == wire.EventPut && w.noPut) || (e.Type == wire.EventDelete && w.noDelete) {
			continue
		}
		return e.Kv.ModRevision - 1, false
	}
	return max(sent, last), true
}

// flushProgress answers a pending progress request once every watch of
// the stream is synced to one revision. A stream without watches gets
// the current revision.
func (ws *etcdWatchStream) flushProgress() error {
	ws.mu.Lock()
	if !ws.progressPending {
		ws.mu.Unlock()
		return nil
	}
	watches := make([]*etcdWatch, 0, len(ws.watches))
	for _, w := range ws.watches {
		watches = append(watches, w)
	}
	ws.mu.Unlock()
	ws.sendMu.Lock()
	defer ws.sendMu.Unlock()
	shard, rev := 0, int64(0)
	for i, w := range watches {
		r, ok := ws.synced(w)
		if !ok || (i > 0 && w.shard != shard) {
			return nil
		}
		shard, rev = w.shard, max(rev, r)
	}
	ws.mu.Lock()
	if !ws.progressPending {
		ws.mu.Unlock()
		return nil
	}
	ws.progressPending = false
	ws.mu.Unlock()
	h := ws.curHeader(shard)
	if len(watches) > 0 {
		h.Revision = rev
	}
	return ws.srv.Send(&pb.WatchResponse{Header: h, WatchId: -1})
}

// progressTick sends a progress notification to each idle, synced watch
// created with progress_notify.
func (ws *etcdWatchStream) progressTick() error {
	ws.mu.Lock()
	watches := make([]*etcdWatch, 0, len(ws.watches))
	for _, w := range ws.watches {
		if w.progress {
			watches = append(watches, w)
		}
	}
	ws.mu.Unlock()
	for _, w := range watches {
		if w.active.Swap(false) {
			continue
		}
		ws.sendMu.Lock()
		rev, ok := ws.synced(w)
		var err error
		if ok {
			h := ws.curHeader(w.shard)
			h.Revision = rev
			err = ws.srv.Send(&pb.WatchResponse{Header: h, WatchId: w.id})
		}
		ws.sendMu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}
