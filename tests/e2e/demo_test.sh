#!/usr/bin/env bash
# Runs the README's first command (scripts/demo) twice:
#   1. for a bounded time (--duration): the subscriber it starts printed live events for the
#      demo workload (ADDED, MODIFIED and DELETED ConfigMaps) and it exits 0;
#   2. until Ctrl-C: SIGINT to its process group (what a terminal's Ctrl-C sends) once events
#      flow ends it with a short message, no Python traceback, exit status 130, and nothing it
#      started left running (its processes, the kube-apiserver, its state directory).
# INFORMERD_BIN, when set, is the informerd binary the demo runs (no build).
# Prints "N passed, N failed"; exits non-zero when a check failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
demo_pid=""
cleanup() {
  [ -n "$demo_pid" ] && kill -TERM -- "-$demo_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=tests/e2e/checks.sh
source "$root/tests/e2e/checks.sh"

out="$work/duration.out"
"$root/scripts/demo" --duration "${DEMO_SECONDS:-25}" >"$out" 2>&1
rc=$?
check "scripts/demo exits 0" test "$rc" -eq 0
check "subscriber printed ADDED events" grep -q 'EVENT_TYPE_ADDED .*demo-' "$out"
check "subscriber printed MODIFIED events" grep -q 'EVENT_TYPE_MODIFIED .*demo-' "$out"
check "subscriber printed DELETED events" grep -q 'EVENT_TYPE_DELETED .*demo-' "$out"
check "events show the object's resourceVersion" grep -Eq 'EVENT_TYPE_MODIFIED .*demo-.* rv=[0-9]+ ' "$out"
if ((failed)); then echo "--- scripts/demo --duration output ---"; tail -n 60 "$out"; fi

# Ctrl-C. Job control gives the demo its own process group with SIGINT not ignored (a
# non-interactive shell's background jobs ignore it), as a terminal's foreground job has.
out="$work/interrupt.out"
failed_before=$failed
state_root="$work/tmp"
mkdir -p "$state_root"
set -m
TMPDIR="$state_root" "$root/scripts/demo" >"$out" 2>&1 &
demo_pid=$!
set +m
for _ in $(seq 1 600); do
  grep -q 'EVENT_TYPE_ADDED .*demo-' "$out" && break
  kill -0 "$demo_pid" 2>/dev/null || break
  sleep 0.2
done
check "the demo streams events before Ctrl-C" grep -q 'EVENT_TYPE_ADDED .*demo-' "$out"
cluster_pid="$(cat "$state_root"/informerd-demo.*/cluster/testcluster.pid 2>/dev/null)"
kill -INT -- "-$demo_pid"
for _ in $(seq 1 300); do
  kill -0 "$demo_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$demo_pid" 2>/dev/null; then
  fail "scripts/demo ends within 30 s of Ctrl-C"
  rc=""
else
  wait "$demo_pid"
  rc=$?
fi
check "scripts/demo exits 130 on Ctrl-C (got ${rc:-none})" test "$rc" = 130
check "no Python traceback on Ctrl-C" bash -c '! grep -E "Traceback|KeyboardInterrupt" "$1"' _ "$out"
check "a short message says it was interrupted" grep -q 'interrupted: stopping' "$out"
check "no gRPC error from the subscriber on Ctrl-C" bash -c '! grep -A2 "^ERROR:" "$1"' _ "$out"
check "no process of the demo's group outlives it" bash -c '! pgrep -g "$1" -a' _ "$demo_pid"
demo_pid=""
check "the demo's kube-apiserver is stopped (pid ${cluster_pid:-unknown})" \
  bash -c '[ -n "$1" ] && ! kill -0 "$1" 2>/dev/null' _ "$cluster_pid"
check "the demo's state directory is removed" bash -c '! ls -d "$1"/informerd-demo.* 2>/dev/null' \
  _ "$state_root"
if ((failed > failed_before)); then
  echo "--- scripts/demo (Ctrl-C) output ---"; tail -n 40 "$out"
fi
summarize
