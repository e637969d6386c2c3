package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/grpclog"
)

// compactRevKey is the key kube-apiserver's own compactor keeps the last
// compacted revision in (k8s.io/apiserver/pkg/storage/etcd3/compact.go). It is
// updated too, so the apiserver learns of the compaction (its cache snapshots
// for LIST are then trimmed to it) just as after one of its own compactions.
const compactRevKey = "compact_rev_key"

func runCompact(args []string) error {
	fs := flag.NewFlagSet("testcluster compact", flag.ContinueOnError)
	dir := fs.String("dir", "", "state directory of a running testcluster (reads INFORMERD_CLUSTER_ETCD_URL from its cluster.env)")
	endpoint := fs.String("etcd", "", "etcd client URL (instead of --dir)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: testcluster compact --dir STATE | --etcd URL\n"+
			"Compacts etcd to its current revision and prints that revision: afterwards any\n"+
			"resourceVersion lower than it is too old (410 Gone).\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ep := *endpoint
	if ep == "" {
		if *dir == "" {
			return fmt.Errorf("--dir or --etcd is required")
		}
		env, err := readClusterEnv(*dir)
		if err != nil {
			return fmt.Errorf("reading cluster.env (is the cluster running?): %w", err)
		}
		ep = env["INFORMERD_CLUSTER_ETCD_URL"]
		if ep == "" {
			return fmt.Errorf("no INFORMERD_CLUSTER_ETCD_URL in %s/cluster.env", *dir)
		}
	}
	// Keep stdout/stderr clean: the only output is the revision.
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{ep},
		DialTimeout: 10 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The current revision, i.e. the resourceVersion of the latest write.
	resp, err := cli.Get(ctx, compactRevKey)
	if err != nil {
		return err
	}
	rev := resp.Header.Revision
	if _, err := cli.Put(ctx, compactRevKey, strconv.FormatInt(rev, 10)); err != nil {
		return err
	}
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		return fmt.Errorf("compacting to revision %d: %w", rev, err)
	}
	fmt.Println(rev)
	return nil
}
