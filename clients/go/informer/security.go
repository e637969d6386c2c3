package informer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// TokenFile is a grpc.PerRPCCredentials sending `authorization: Bearer <token>` with the token
// re-read from Path at most every Reread (default 30 s), so a projected ServiceAccount token the
// kubelet rotates keeps working. Safe for concurrent use.
type TokenFile struct {
	Path   string
	Reread time.Duration

	mu       sync.Mutex
	token    string
	nextRead time.Time
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (t *TokenFile) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if t.token == "" || !now.Before(t.nextRead) {
		if data, err := os.ReadFile(t.Path); err == nil {
			t.token = strings.TrimSpace(string(data))
		}
		reread := t.Reread
		if reread <= 0 {
			reread = 30 * time.Second
		}
		t.nextRead = now.Add(reread)
	}
	if t.token == "" {
		return nil, fmt.Errorf("no token in %s", t.Path)
	}
	return map[string]string{"authorization": "Bearer " + t.token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials: tokens go over TLS only.
func (t *TokenFile) RequireTransportSecurity() bool { return true }

// SecureOptions returns the DialOptions for an informerd running with TLS and --auth: caFile
// signs its certificate, tokenFile (optional) holds a ServiceAccount token of audience
// informerd, certFile and keyFile (optional) are a client certificate for mTLS. Pass them to
// Dial.
func SecureOptions(caFile, tokenFile, certFile, keyFile string) ([]grpc.DialOption, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	config := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(config))}
	if tokenFile != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(&TokenFile{Path: tokenFile}))
	}
	return opts, nil
}
