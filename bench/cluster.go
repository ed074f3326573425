package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coord-io/coord/coord/server"
)

// LocalCluster is a Coord cluster running inside this process, on free
// loopback ports, with its data in a temporary directory.
type LocalCluster struct {
	Endpoints []string
	// HTTP lists the members' HTTP addresses (metrics, pprof when enabled).
	HTTP    []string
	Dir     string
	servers []*server.Server
	ownDir  bool
}

// LocalClusterConfig configures StartLocalCluster.
type LocalClusterConfig struct {
	// Members is the number of members (default 3).
	Members int
	// Shards is the number of shards (0: the server's default).
	Shards int
	// Dir holds the members' data; "" makes a temporary directory that
	// Stop removes.
	Dir string
	// EnablePprof serves /debug/pprof on the members' HTTP ports.
	EnablePprof bool
	// Log receives the members' warnings and errors (nil: discarded).
	Log io.Writer
}

// StartLocalCluster starts the members and waits until every shard has a
// leader. Data is fsynced as in any Coord member.
func StartLocalCluster(ctx context.Context, lc LocalClusterConfig) (*LocalCluster, error) {
	if lc.Members <= 0 {
		lc.Members = 3
	}
	cl := &LocalCluster{Dir: lc.Dir}
	if cl.Dir == "" {
		d, err := os.MkdirTemp("", "coord-bench-")
		if err != nil {
			return nil, err
		}
		cl.Dir, cl.ownDir = d, true
	}
	logTo := lc.Log
	if logTo == nil {
		logTo = io.Discard
	}
	log := slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelWarn}))
	addrs, err := freeAddrs(lc.Members * 3)
	if err != nil {
		cl.removeDir()
		return nil, err
	}
	cfgs := make([]server.Config, lc.Members)
	var initial []string
	for i := range cfgs {
		cfg := server.DefaultConfig()
		cfg.Name = fmt.Sprintf("n%d", i+1)
		cfg.DataDir = filepath.Join(cl.Dir, cfg.Name)
		cfg.ListenClient, cfg.ListenPeer, cfg.ListenHTTP = addrs[3*i], addrs[3*i+1], addrs[3*i+2]
		if lc.Shards > 0 {
			cfg.Shards = lc.Shards
		}
		cfg.EnablePprof = lc.EnablePprof
		cfg.Logger = log.With("member", cfg.Name)
		cfgs[i] = cfg
		initial = append(initial, cfg.Name+"="+cfg.ListenPeer)
	}
	for i := range cfgs {
		cfgs[i].InitialCluster = strings.Join(initial, ",")
	}
	for _, cfg := range cfgs {
		s, err := server.Start(cfg)
		if err != nil {
			cl.Stop()
			return nil, fmt.Errorf("starting member %s: %w", cfg.Name, err)
		}
		cl.servers = append(cl.servers, s)
		cl.Endpoints = append(cl.Endpoints, s.ClientAddr())
		cl.HTTP = append(cl.HTTP, s.HTTPAddr())
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, s := range cl.servers {
		if err := s.WaitReady(rctx); err != nil {
			cl.Stop()
			return nil, err
		}
	}
	return cl, nil
}

// Stop stops the members and removes the data directory if it made it.
func (cl *LocalCluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	errs := make([]error, len(cl.servers))
	var wg sync.WaitGroup
	for i, s := range cl.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Stop(ctx)
		}()
	}
	wg.Wait()
	cl.servers = nil
	cl.removeDir()
	return errors.Join(errs...)
}

func (cl *LocalCluster) removeDir() {
	if cl.ownDir {
		os.RemoveAll(cl.Dir)
	}
}

// freeAddrs returns n distinct loopback addresses whose ports were free a
// moment ago (all held open together, so they differ).
func freeAddrs(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var addrs []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}
