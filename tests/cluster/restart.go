package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startArgsFile keeps the flags of the last "testcluster start" in the state dir, so that
// "testcluster restart-apiserver" starts the same cluster again.
const startArgsFile = "start.args"

// runRestartAPIServer stops the running cluster of a state dir (SIGTERM, as cluster-down, then
// SIGKILL after --stop-timeout) and starts it again on the same ports with the same
// certificates, tokens and etcd data: the kube-apiserver comes back with an empty watch cache
// over the same store, so resourceVersions continue and every client (kubeconfig, token, CA)
// keeps working. etcd restarts too (it runs in the same process) but from the data it wrote.
// Returns once the new cluster is ready.
func runRestartAPIServer(args []string) error {
	fs := flag.NewFlagSet("testcluster restart-apiserver", flag.ContinueOnError)
	dirFlag := fs.String("dir", "", "state directory of a running cluster. Required.")
	down := fs.Duration("down", 0, "stay down this long before starting again (clients see connection refused meanwhile)")
	stopTimeout := fs.Duration("stop-timeout", 5*time.Second,
		"SIGKILL the cluster if SIGTERM has not stopped it in this time (kube-apiserver's graceful "+
			"stop waits up to a minute for open watches; killed, they see their connection reset)")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up if the cluster is not ready again in this time")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *dirFlag == "" {
		return fmt.Errorf("--dir is required")
	}
	dir, err := filepath.Abs(*dirFlag)
	if err != nil {
		return err
	}
	env, err := readClusterEnv(dir)
	if err != nil {
		return fmt.Errorf("no ready cluster in %s: %w", dir, err)
	}
	pid, err := strconv.Atoi(env["INFORMERD_CLUSTER_PID"])
	if err != nil || pid <= 0 {
		return fmt.Errorf("%s/cluster.env names no pid", dir)
	}
	data, err := os.ReadFile(filepath.Join(dir, startArgsFile))
	if err != nil {
		return fmt.Errorf("the cluster in %s was started by an older testcluster (no %s): %w", dir, startArgsFile, err)
	}
	var startArgs []string
	for _, a := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		startArgs = append(startArgs, a)
	}
	began := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping pid %d: %w", pid, err)
	}
	how := "SIGTERM"
	killAt := time.Now().Add(*stopTimeout)
	for alive(pid) {
		if how == "SIGTERM" && time.Now().After(killAt) {
			how = "SIGKILL after " + stopTimeout.String()
			// etcd's data survives: it runs without fsync, but what it wrote is in the page cache.
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopped := time.Now()
	deadline := stopped.Add(*timeout)
	time.Sleep(*down)

	// The same flags, on the ports the cluster had, keeping its data.
	cmdArgs := []string{"start", "--keep-data",
		"--apiserver-port=" + env["INFORMERD_CLUSTER_APISERVER_PORT"],
		"--etcd-port=" + env["INFORMERD_CLUSTER_ETCD_PORT"],
		"--etcd-peer-port=" + env["INFORMERD_CLUSTER_ETCD_PEER_PORT"]}
	cmdArgs = append(cmdArgs, startArgs...)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "testcluster.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n==== testcluster restart-apiserver: starting again: %s\n", strings.Join(cmdArgs, " "))
	cmd := exec.Command(self, cmdArgs...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session, as scripts/cluster-up starts it, so cluster-down ends exactly it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	newPID := cmd.Process.Pid
	if err := os.WriteFile(filepath.Join(dir, "testcluster.pid"), []byte(strconv.Itoa(newPID)+"\n"), 0o644); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	envPath := filepath.Join(dir, "cluster.env")
	for {
		if e, err := readClusterEnv(dir); err == nil && e["INFORMERD_CLUSTER_PID"] == strconv.Itoa(newPID) {
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the restarted testcluster exited before it was ready (%v); see %s/testcluster.log", err, dir)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not reappear within %v; see %s/testcluster.log", envPath, *timeout, dir)
		}
	}
	fmt.Printf("restarted: stopped by %s in %v, ready %v later (pid %d)\n", how,
		stopped.Sub(began).Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond), newPID)
	return nil
}

// alive reports whether pid runs (a zombie does not count).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
