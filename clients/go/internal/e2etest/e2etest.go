// Package e2etest is what the Go client's end-to-end tests share: the environment naming a
// running informerd and the API server behind it, a namespace per test, and informerd
// processes a test may kill and restart.
//
// Environment (set by tests/e2e/clients_e2e_test.sh):
//
//	INFORMERD_TEST_ADDR        a running informerd caching configmaps (tests skip without it)
//	INFORMERD_TEST_KUBECONFIG  the API server it caches (tests skip without it)
//	INFORMERD_TEST_BIN         the informerd binary, for tests that restart a server of their own
package e2etest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"informerd.dev/clients/go/informer"
)

// Env is the test environment.
type Env struct {
	Addr       string
	Kubeconfig string
	Bin        string
}

// Require returns the environment, or skips the test saying what is missing.
func Require(t *testing.T) Env {
	t.Helper()
	e := Env{Addr: os.Getenv("INFORMERD_TEST_ADDR"), Kubeconfig: os.Getenv("INFORMERD_TEST_KUBECONFIG"), Bin: os.Getenv("INFORMERD_TEST_BIN")}
	if e.Addr == "" || e.Kubeconfig == "" {
		t.Skip("end-to-end test: set INFORMERD_TEST_ADDR (a running informerd) and INFORMERD_TEST_KUBECONFIG (its API server); tests/e2e/clients_e2e_test.sh does")
	}
	return e
}

// Kube is a client-go clientset of the API server.
func (e Env) Kube(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Client dials Addr; closed when the test ends.
func (e Env) Client(t *testing.T) *informer.Client {
	t.Helper()
	c, err := informer.Dial(e.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Namespace creates a namespace of its own for the test, deleted when it ends.
func Namespace(t *testing.T, kube kubernetes.Interface) string {
	t.Helper()
	name := fmt.Sprintf("go-e2e-%x", rand.Uint32())
	ctx := context.Background()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return name
}

// Server is an informerd process of the test's own, on a unix socket, caching configmaps.
type Server struct {
	t      *testing.T
	env    Env
	socket string
	log    string
	cmd    *exec.Cmd
}

// StartServer starts an informerd of the test's own (skips without INFORMERD_TEST_BIN) and
// waits until it serves configmaps; stopped when the test ends.
func (e Env) StartServer(t *testing.T) *Server {
	t.Helper()
	if e.Bin == "" {
		t.Skip("set INFORMERD_TEST_BIN to the informerd binary to run the restart tests")
	}
	dir := t.TempDir()
	s := &Server{t: t, env: e, socket: filepath.Join(dir, "informerd.sock"), log: filepath.Join(dir, "informerd.log")}
	s.Start()
	t.Cleanup(func() {
		if s.cmd != nil {
			s.cmd.Process.Signal(syscall.SIGTERM)
			s.cmd.Wait()
		}
	})
	return s
}

// Target is the address clients dial.
func (s *Server) Target() string { return "unix:" + s.socket }

// Start starts the process (again) on the same socket and waits until configmaps are synced.
func (s *Server) Start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(s.env.Bin, "--kubeconfig="+s.env.Kubeconfig, "--listen=unix:"+s.socket,
		"--metrics_listen=", "--resources=configmaps", "--bookmark_interval=1s", "--log_format=text")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	c, err := informer.Dial(s.Target())
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		res, err := c.ListResources(ctx)
		cancel()
		if err == nil && len(res) > 0 && res[0].GetSynced() {
			return
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(s.log)
			s.t.Fatalf("informerd not synced after 60 s (last error %v); log:\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the process with SIGKILL (no goodbye to its subscribers) and waits for it.
func (s *Server) Kill() {
	s.t.Helper()
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Eventually polls cond every 10 ms until it holds or timeout passes, then fails with msg().
func Eventually(t *testing.T, timeout time.Duration, cond func() bool, msg func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, msg())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Pause stops the process with SIGSTOP: its connections stay open and it answers nothing (a
// hung server, or one behind a blackholed network). Continue undoes it; the test's end does too.
func (s *Server) Pause() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(s.Continue)
}

// Continue resumes a paused process.
func (s *Server) Continue() {
	if s.cmd != nil {
		s.cmd.Process.Signal(syscall.SIGCONT)
	}
}
