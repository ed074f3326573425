package server

import (
	"context"
	"log/slog"
	"sync"
)

// Version is the server's version, reported by status.
var Version = "0.1.0-dev"

// Server is one running member: its core (Core: NodeHost, shards,
// propose and read, watch hub, lessor, handlers) and the doors that
// serve it, the msgpack client listener (rpcDoor), the HTTP listener
// (httpDoor) and the etcd-compatible listener (etcdDoor). It is wiring only: Start builds the core, then the doors,
// and starts them; Stop stops the doors, then the core.
type Server struct {
	*Core
	*rpcDoor
	http *httpDoor // nil when Config.ListenHTTP is empty
	etcd *etcdDoor // nil when Config.ListenEtcd is empty

	stopOnce sync.Once
	stopErr  error
}

// Start opens the member's data, joins its shards and starts serving. It
// returns once the listeners are open; WaitReady tells when every shard has
// a leader.
func Start(cfg Config) (*Server, error) {
	if err := checkCgo(builtWithCgo); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	core, err := newCore(cfg, log)
	if err != nil {
		return nil, err
	}
	s := &Server{Core: core}
	ok := false
	defer func() {
		if !ok {
			if s.rpcDoor != nil {
				s.rpcDoor.closeListener()
			}
			if s.http != nil {
				s.http.close()
			}
			if s.etcd != nil {
				s.etcd.closeListener()
			}
			_ = core.close()
		}
	}()
	if s.rpcDoor, err = newRPCDoor(core); err != nil {
		return nil, err
	}
	core.clientAddr = s.rpcDoor.addr()
	if cfg.ListenHTTP != "" {
		if s.http, err = newHTTPDoor(core); err != nil {
			return nil, err
		}
		go s.http.serve()
	}
	if cfg.ListenEtcd != "" {
		if s.etcd, err = newEtcdDoor(core); err != nil {
			return nil, err
		}
		go s.etcd.serve()
	}
	go s.rpcDoor.acceptLoop()
	var etcdURL string
	if s.etcd != nil {
		etcdURL = s.etcd.url()
	}
	core.goBackground(core.runMemberPublish(core.ownMemberRecord(etcdURL, s.HTTPAddr())))
	ok = true
	members, _ := cfg.members()
	log.Info("coord member started", "name", cfg.Name, "client", s.ClientAddr(), "peer", cfg.ListenPeer,
		"http", s.HTTPAddr(), "etcd", s.EtcdAddr(), "shards", cfg.Shards, "members", len(members), "data-dir", cfg.DataDir,
		"client-tls", s.rpcDoor.tls, "client-cert-auth", cfg.ClientCertAuth)
	return s, nil
}

// ClientAddr is the address clients connect to.
func (s *Server) ClientAddr() string {
	if s.rpcDoor == nil {
		return s.cfg.ListenClient
	}
	return s.rpcDoor.addr()
}

// HTTPAddr is the address of the HTTP endpoints, "" if disabled.
func (s *Server) HTTPAddr() string {
	if s.http == nil {
		return ""
	}
	return s.http.addr()
}

// EtcdAddr is the address of the etcd door, "" if disabled.
func (s *Server) EtcdAddr() string {
	if s.etcd == nil {
		return ""
	}
	return s.etcd.addr()
}

// Name is the member's name.
func (s *Server) Name() string { return s.Core.Name() }

// Stop stops accepting connections, fails the calls still in flight once
// ctx ends, and closes the Raft node and the store. It is safe to call
// more than once.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		// The core first refuses new calls and ends its waits and
		// streams, so that the doors' calls drain; then the doors stop,
		// then the core.
		s.Core.beginStop()
		s.rpcDoor.closeListener()
		if s.http != nil {
			s.http.shutdown(ctx)
		}
		if s.etcd != nil {
			s.etcd.stop(ctx)
		}
		s.rpcDoor.drain(ctx)
		s.stopErr = s.Core.close()
		if s.http != nil {
			s.http.close()
		}
		s.log.Info("coord member stopped", "name", s.cfg.Name)
	})
	return s.stopErr
}
