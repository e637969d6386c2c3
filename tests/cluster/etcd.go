package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// freePort asks the kernel for an unused loopback port and releases it.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type etcdServer struct {
	e          *embed.Etcd
	ClientURL  string
	ClientPort int
	PeerPort   int
}

// startEtcd starts a single-member etcd on 127.0.0.1 with its data in dataDir
// (wiped first, so every cluster starts empty, unless keep: then it continues from the data
// and revisions a previous start left there). Ports are taken from the kernel
// unless given; when a port chosen that way is grabbed by someone else before
// etcd binds it, it retries with new ones.
func startEtcd(ctx context.Context, dataDir string, clientPort, peerPort int, logLevel string, keep bool) (*etcdServer, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		cp, pp := clientPort, peerPort
		var err error
		if cp == 0 {
			if cp, err = freePort(); err != nil {
				return nil, err
			}
		}
		if pp == 0 {
			if pp, err = freePort(); err != nil {
				return nil, err
			}
		}
		s, err := startEtcdOnce(ctx, dataDir, cp, pp, logLevel, keep)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") || (clientPort != 0 && peerPort != 0) {
			break
		}
	}
	return nil, lastErr
}

func startEtcdOnce(ctx context.Context, dataDir string, clientPort, peerPort int, logLevel string, keep bool) (*etcdServer, error) {
	if !keep {
		if err := os.RemoveAll(dataDir); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(dataDir), 0o700); err != nil {
		return nil, err
	}
	cu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)}
	pu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}

	cfg := embed.NewConfig()
	cfg.Name = "informerd-testcluster"
	cfg.Dir = dataDir
	cfg.ListenClientUrls = []url.URL{cu}
	cfg.AdvertiseClientUrls = []url.URL{cu}
	cfg.ListenPeerUrls = []url.URL{pu}
	cfg.AdvertisePeerUrls = []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = logLevel
	cfg.LogOutputs = []string{"stderr"}
	// A throw-away test store: no fsync (much faster, and kinder to a
	// machine that is compiling at the same time), and room for benchmarks.
	cfg.UnsafeNoFsync = true
	cfg.QuotaBackendBytes = 8 << 30
	// No automatic compaction: only "testcluster compact" (or the
	// apiserver's --etcd-compaction-interval, off by default here) compacts.
	cfg.AutoCompactionRetention = "0"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd: %v", err)
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("etcd did not become ready within 60s")
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &etcdServer{e: e, ClientURL: cu.String(), ClientPort: clientPort, PeerPort: peerPort}, nil
}

func (s *etcdServer) Close() { s.e.Close() }
