// Command testcluster runs a real, single-process Kubernetes control plane on
// loopback for informerd's tests, demo and benchmarks: an embedded etcd and an
// in-process kube-apiserver (k8s.io/kubernetes v1.36.3), with generated TLS,
// static-token users "admin" and "restricted", and RBAC for the latter.
//
// Subcommands:
//
//	testcluster start   --dir STATE [flags] [-- extra kube-apiserver flags]
//	testcluster compact --dir STATE
//	testcluster restart-apiserver --dir STATE [--down D]
//	testcluster version
//
// See docs/cluster.md in the repository for the state directory layout.
package main

import (
	"fmt"
	"os"
)

// kubeVersion is the Kubernetes release this binary is built from. The build
// (scripts/cluster-up) also stamps it into k8s.io/component-base/version.
const kubeVersion = "v1.36.3"

func usage() {
	fmt.Fprintf(os.Stderr, `usage:
  testcluster start   --dir STATE [flags] [-- extra kube-apiserver flags]
  testcluster compact --dir STATE [--etcd URL]
  testcluster restart-apiserver --dir STATE [--down DURATION]
      stop the running cluster and start it again on the same ports with
      the same etcd data, certificates and tokens (a fresh watch cache)
  testcluster version

Run "testcluster start -h" or "testcluster compact -h" for the flags.
`)
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "start":
		err = runStart(os.Args[2:])
	case "compact":
		err = runCompact(os.Args[2:])
	case "restart-apiserver":
		err = runRestartAPIServer(os.Args[2:])
	case "version", "--version":
		fmt.Println(kubeVersion)
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "testcluster: unknown subcommand %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
		os.Exit(1)
	}
}
