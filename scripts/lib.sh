# Shared helpers for scripts/*. Source it; do not run it.
INFORMERD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Caches live outside the build tree so clean clones on the same machine reuse them.
INFORMERD_CACHE="${INFORMERD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/informerd}"
INFORMERD_TOOLS="$INFORMERD_CACHE/tools"
INFORMERD_VENV="$INFORMERD_CACHE/venv"
INFORMERD_BUILD="${INFORMERD_BUILD:-$INFORMERD_ROOT/build}"
export PATH="$INFORMERD_TOOLS/bin:$PATH"

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- test cluster (scripts/cluster-up, docs/cluster.md) ---
INFORMERD_K8S_VERSION="v1.36.3"
cluster_default_dir() { printf '%s\n' "${INFORMERD_CLUSTER_DIR:-${TMPDIR:-/tmp}/informerd-cluster-${USER:-$(id -un)}}"; }
# cluster_build: build (or reuse) testcluster and kubectl; sets CLUSTER_BIN.
cluster_build() {
  local src="$INFORMERD_ROOT/tests/cluster" gobin
  gobin="$(command -v go || true)"; [[ -n $gobin ]] || gobin=/usr/local/go/bin/go
  [[ -x $gobin ]] || die "go not found (need Go >= 1.26 on PATH or in /usr/local/go/bin)"
  export GOTOOLCHAIN=local
  local hash; hash="$( { "$gobin" version; cd "$src" && cat go.mod go.sum $(ls ./*.go | LC_ALL=C sort); } | sha256sum | cut -c1-16)"
  CLUSTER_BIN="$INFORMERD_CACHE/cluster/$INFORMERD_K8S_VERSION/bin"
  [[ -f $CLUSTER_BIN/.stamp && $(cat "$CLUSTER_BIN/.stamp") == "$hash" && -x $CLUSTER_BIN/testcluster && -x $CLUSTER_BIN/kubectl ]] && return 0
  mkdir -p "$INFORMERD_CACHE/cluster/$INFORMERD_K8S_VERSION"
  exec 9>"$INFORMERD_CACHE/cluster/$INFORMERD_K8S_VERSION/.lock"
  flock 9   # another build of the same tree may be running: wait for it
  if [[ -f $CLUSTER_BIN/.stamp && $(cat "$CLUSTER_BIN/.stamp") == "$hash" ]]; then exec 9>&-; return 0; fi
  local tmp="$INFORMERD_CACHE/cluster/$INFORMERD_K8S_VERSION/bin.tmp.$$" log
  rm -rf "$tmp"; mkdir -p "$tmp"; log="$tmp/build.log"
  local v="k8s.io/component-base/version" maj="${INFORMERD_K8S_VERSION#v}"; maj="${maj%%.*}"
  local min="${INFORMERD_K8S_VERSION#v*.}"; min="${min%%.*}"
  local ld="-s -w -X $v.gitVersion=$INFORMERD_K8S_VERSION -X $v.gitMajor=$maj -X $v.gitMinor=$min -X $v.gitTreeState=clean"
  step "building testcluster + kubectl (Kubernetes $INFORMERD_K8S_VERSION) into $CLUSTER_BIN"
  step "a cold first build (about 400 MB of Go modules, ~1900 packages) takes ~20 minutes on 2 cores; later starts reuse it"
  local t0=$SECONDS rc=0
  ( cd "$src" && "$gobin" build -v -trimpath -ldflags="$ld" -o "$tmp/testcluster" . \
      && "$gobin" build -v -trimpath -ldflags="$ld" -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl ) >"$log" 2>&1 &
  local bpid=$!
  local next=$(( SECONDS + 60 ))
  while kill -0 "$bpid" 2>/dev/null; do
    sleep 2
    if (( SECONDS >= next )); then
      next=$(( next + 60 ))
      printf '    ... %d min, %d packages built so far\n' $(( (SECONDS - t0) / 60 )) "$(grep -vc '^go: ' "$log" || true)" >&2
    fi
  done
  wait "$bpid" || rc=$?
  if (( rc != 0 )); then tail -n 40 "$log" >&2; exec 9>&-; die "cluster build failed (log: $log)"; fi
  echo "$hash" >"$tmp/.stamp"
  rm -rf "$CLUSTER_BIN"; mv "$tmp" "$CLUSTER_BIN"
  exec 9>&-
  step "built in $(( SECONDS - t0 ))s: $(du -h "$CLUSTER_BIN/testcluster" | cut -f1) testcluster, $(du -h "$CLUSTER_BIN/kubectl" | cut -f1) kubectl"
}
