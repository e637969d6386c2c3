// Command configmap-summary is the example controller of informerd's Go client: it follows the
// ConfigMaps labelled app=demo through informerd and writes a summary of each one's data keys
// into its annotation informerd.dev/summary, through the API server with client-go.
//
//	configmap-summary --informerd 127.0.0.1:50051 --kubeconfig ~/.kube/config [--namespace NS]
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	addr := flag.String("informerd", "127.0.0.1:50051", "informerd's address (host:port or unix:///path)")
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server to write to")
	namespace := flag.String("namespace", "", "only this namespace (default: all)")
	selector := flag.String("selector", "app=demo", "label selector of the ConfigMaps to summarise")
	caFile := flag.String("ca_file", os.Getenv("INFORMERD_CA_FILE"), "CA of informerd's TLS certificate (empty = plaintext)")
	tokenFile := flag.String("token_file", os.Getenv("INFORMERD_TOKEN_FILE"), "ServiceAccount token of audience informerd, re-read as it rotates")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, Config{Informerd: *addr, Kubeconfig: *kubeconfig, Namespace: *namespace, Selector: *selector, CAFile: *caFile, TokenFile: *tokenFile}); err != nil {
		log.Fatal(err)
	}
}
