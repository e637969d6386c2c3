package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/rest"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/featuregate"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

const (
	adminUser      = "admin"
	restrictedUser = "restricted"
	serviceCIDR    = "10.0.0.0/24"
	serviceIP      = "10.0.0.1"
	saIssuer       = "https://kubernetes.default.svc.cluster.local"
)

type startFlags struct {
	dir                 string
	apiserverPort       int
	etcdPort            int
	etcdPeerPort        int
	configMapWatchCache bool
	compactionInterval  time.Duration
	verbosity           int
	etcdLogLevel        string
	readyTimeout        time.Duration
	keepData            bool
}

func runStart(args []string) error {
	var f startFlags
	fs := flag.NewFlagSet("testcluster start", flag.ContinueOnError)
	fs.StringVar(&f.dir, "dir", "", "state directory (created; etcd data, certs, kubeconfigs, cluster.env). Required.")
	fs.IntVar(&f.apiserverPort, "apiserver-port", 0, "kube-apiserver secure port on 127.0.0.1 (0 = a free port chosen by the kernel)")
	fs.IntVar(&f.etcdPort, "etcd-port", 0, "etcd client port on 127.0.0.1 (0 = free port)")
	fs.IntVar(&f.etcdPeerPort, "etcd-peer-port", 0, "etcd peer port on 127.0.0.1 (0 = free port)")
	fs.BoolVar(&f.configMapWatchCache, "configmap-watch-cache", false,
		"keep the apiserver watch cache on for configmaps too. By default it is off for configmaps only "+
			"(--watch-cache-sizes=configmaps#0), so that after \"testcluster compact\" a watch of configmaps "+
			"from an old resourceVersion gets 410 Gone straight from etcd")
	fs.DurationVar(&f.compactionInterval, "etcd-compaction-interval", 0,
		"kube-apiserver --etcd-compaction-interval (0 = never compact on its own; use \"testcluster compact\")")
	fs.IntVar(&f.verbosity, "v", 0, "kube-apiserver log verbosity")
	fs.StringVar(&f.etcdLogLevel, "etcd-log-level", "warn", "embedded etcd log level (debug, info, warn, error)")
	fs.DurationVar(&f.readyTimeout, "ready-timeout", 3*time.Minute, "give up if the cluster is not ready in this time")
	fs.BoolVar(&f.keepData, "keep-data", false,
		"start from the state dir's etcd data, certificates and tokens instead of fresh ones "+
			"(\"testcluster restart-apiserver\" uses it)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: testcluster start --dir STATE [flags] [-- extra kube-apiserver flags]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	extra := fs.Args()
	if f.dir == "" {
		return fmt.Errorf("--dir is required")
	}
	dir, err := filepath.Abs(f.dir)
	if err != nil {
		return err
	}
	f.dir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// A cluster.env left behind by a killed run is not a ready marker.
	_ = os.Remove(filepath.Join(dir, "cluster.env"))
	// Remembered for "testcluster restart-apiserver", which starts the same cluster again.
	if err := os.WriteFile(filepath.Join(dir, startArgsFile), []byte(strings.Join(args, "\n")+"\n"), 0o644); err != nil {
		return err
	}

	logs.InitLogs()
	defer logs.FlushLogs()

	// First SIGTERM/SIGINT cancels ctx (graceful stop), a second one exits.
	ctx := genericapiserver.SetupSignalContext()

	started := time.Now()
	var p *pki
	if f.keepData {
		p, err = loadPKI(dir)
	} else {
		p, err = generatePKI(dir, net.ParseIP(serviceIP))
	}
	if err != nil {
		return fmt.Errorf("generating certificates: %w", err)
	}

	etcd, err := startEtcd(ctx, filepath.Join(dir, "etcd"), f.etcdPort, f.etcdPeerPort, f.etcdLogLevel, f.keepData)
	if err != nil {
		return fmt.Errorf("starting etcd: %w", err)
	}
	defer func() {
		klog.Info("testcluster: stopping etcd")
		etcd.Close()
	}()
	klog.Infof("testcluster: etcd ready at %s after %v", etcd.ClientURL, time.Since(started).Round(time.Millisecond))

	// Hold the apiserver's port from now on: the listener is handed to the
	// apiserver, so nobody can take the port between choosing and serving.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(f.apiserverPort)))
	if err != nil {
		return fmt.Errorf("listening for kube-apiserver: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	serverURL := fmt.Sprintf("https://127.0.0.1:%d", port)

	apiArgs := []string{
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--advertise-address=127.0.0.1",
		"--etcd-servers=" + etcd.ClientURL,
		"--etcd-compaction-interval=" + f.compactionInterval.String(),
		"--tls-cert-file=" + p.ServingCert,
		"--tls-private-key-file=" + p.ServingKey,
		"--client-ca-file=" + p.CAFile,
		"--token-auth-file=" + p.TokenFile,
		"--authorization-mode=RBAC",
		"--service-account-key-file=" + p.SAPublicKey,
		"--service-account-signing-key-file=" + p.SASigningKey,
		"--service-account-issuer=" + saIssuer,
		"--service-cluster-ip-range=" + serviceCIDR,
		// No controller-manager runs, so nothing creates ServiceAccounts or
		// quota status: drop the admission plugins that would need them.
		// Pods can still be created (they stay Pending: there are no nodes).
		"--disable-admission-plugins=ServiceAccount,ResourceQuota,LimitRanger",
		// The kubernetes Service's endpoints would be 127.0.0.1, which the
		// Endpoints validation refuses; no in-cluster clients exist anyway.
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--v=" + strconv.Itoa(f.verbosity),
	}
	if !f.configMapWatchCache {
		apiArgs = append(apiArgs, "--watch-cache-sizes=configmaps#0")
	}
	apiArgs = append(apiArgs, extra...)
	if err := os.WriteFile(filepath.Join(dir, "apiserver.args"), []byte(strings.Join(apiArgs, "\n")+"\n"), 0o644); err != nil {
		return err
	}

	// Write the kubeconfigs now (they only need the port), cluster.env only
	// once everything is ready: its presence is the readiness marker.
	adminKC := filepath.Join(dir, "admin.kubeconfig")
	restrictedKC := filepath.Join(dir, "restricted.kubeconfig")
	if err := writeKubeconfig(adminKC, serverURL, p.CACert, adminUser, p.AdminToken); err != nil {
		return err
	}
	if err := writeKubeconfig(restrictedKC, serverURL, p.CACert, restrictedUser, p.RestrictToken); err != nil {
		return err
	}

	errCh := make(chan error, 1)
	go func() { errCh <- runAPIServer(ctx, apiArgs, ln) }()

	adminCfg := &rest.Config{
		Host:            serverURL,
		BearerToken:     p.AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: p.CACert},
		QPS:             100,
		Burst:           200,
	}
	setupCtx, cancelSetup := context.WithTimeout(ctx, f.readyTimeout)
	setupDone := make(chan error, 1)
	go func() { setupDone <- setupCluster(setupCtx, adminCfg) }()

	select {
	case err := <-errCh:
		cancelSetup()
		if err == nil {
			err = errors.New("kube-apiserver exited before it was ready")
		}
		return fmt.Errorf("kube-apiserver: %w", err)
	case err := <-setupDone:
		cancelSetup()
		if err != nil {
			if ctx.Err() != nil {
				// Interrupted during start: wait for the apiserver to stop.
				<-errCh
				return nil
			}
			return fmt.Errorf("cluster did not get ready: %w", err)
		}
	}

	env := clusterEnv{
		Dir:            dir,
		AdminKC:        adminKC,
		RestrictedKC:   restrictedKC,
		ServerURL:      serverURL,
		APIServerPort:  port,
		CAFile:         p.CAFile,
		AdminToken:     filepath.Join(dir, "admin.token"),
		RestrictToken:  filepath.Join(dir, "restricted.token"),
		EtcdURL:        etcd.ClientURL,
		EtcdPort:       etcd.ClientPort,
		EtcdPeerPort:   etcd.PeerPort,
		PID:            os.Getpid(),
		ConfigMapCache: f.configMapWatchCache,
	}
	if err := env.write(filepath.Join(dir, "cluster.env")); err != nil {
		return err
	}
	klog.Infof("testcluster: ready at %s after %v (KUBECONFIG=%s)", serverURL, time.Since(started).Round(time.Millisecond), adminKC)
	fmt.Fprintf(os.Stderr, "testcluster: ready: %s KUBECONFIG=%s\n", serverURL, adminKC)

	err = <-errCh
	_ = os.Remove(filepath.Join(dir, "cluster.env"))
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	klog.Info("testcluster: kube-apiserver stopped")
	return nil
}

// runAPIServer does what kube-apiserver's cobra command does
// (app.NewAPIServerCommand), but parses a given argument list and serves on
// an already-bound listener. It returns when ctx is cancelled and the server
// has shut down.
func runAPIServer(ctx context.Context, args []string, ln net.Listener) error {
	s := options.NewServerRunOptions()
	featureGate := s.GenericServerRunOptions.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)

	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, nfs := range s.Flags().FlagSets {
		fs.AddFlagSet(nfs)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(fs.Args()) > 0 {
		return fmt.Errorf("kube-apiserver takes no positional arguments, got %q", fs.Args())
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	if err := logsapi.ValidateAndApply(s.Logs, featureGate); err != nil {
		return err
	}
	s.SecureServing.Listener = ln

	completed, err := s.Complete(ctx)
	if err != nil {
		return err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return utilerrors.NewAggregate(errs)
	}
	featureGate.(featuregate.MutableFeatureGate).AddMetrics()
	s.GenericServerRunOptions.ComponentGlobalsRegistry.AddMetrics()
	return app.Run(ctx, completed)
}
