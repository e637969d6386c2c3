// Command configmap-summary-cr is configmap-summary written as a controller-runtime reconciler:
// it follows the ConfigMaps labelled app=demo and writes a summary of each one's data keys into
// its annotation informerd.dev/summary, through the API server. The manager's cache reads from
// informerd: the one line that differs from a plain controller-runtime controller is the
// cache.Options.NewInformer in run.
//
//	configmap-summary-cr --informerd 127.0.0.1:50051 --kubeconfig ~/.kube/config [--namespace NS]
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
)

func main() {
	addr := flag.String("informerd", "127.0.0.1:50051", "informerd's address (host:port or unix:///path); several: comma-separated")
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server to write to")
	namespace := flag.String("namespace", "", "only this namespace (default: all)")
	selector := flag.String("selector", "app=demo", "label selector of the ConfigMaps to summarise")
	flag.Parse()
	ctrl.SetLogger(klog.NewKlogr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, Config{Informerd: *addr, Kubeconfig: *kubeconfig, Namespace: *namespace, Selector: *selector}); err != nil {
		log.Fatal(err)
	}
}
