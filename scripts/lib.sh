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
# Each binary carries a stamp: kubectl depends on go.mod/go.sum only,
# testcluster also on tests/cluster/*.go, so editing testcluster relinks only it.
cluster_build() {
  local src="$INFORMERD_ROOT/tests/cluster" gobin
  gobin="$(command -v go || true)"; [[ -n $gobin ]] || gobin=/usr/local/go/bin/go
  [[ -x $gobin ]] || die "go not found (need Go >= 1.26 on PATH or in /usr/local/go/bin)"
  export GOTOOLCHAIN=local
  local v="k8s.io/component-base/version" maj="${INFORMERD_K8S_VERSION#v}"; maj="${maj%%.*}"
  local min="${INFORMERD_K8S_VERSION#v*.}"; min="${min%%.*}"
  local ld="-s -w -X $v.gitVersion=$INFORMERD_K8S_VERSION -X $v.gitMajor=$maj -X $v.gitMinor=$min -X $v.gitTreeState=clean -X $v.gitCommit="
  local hmod hsrc
  hmod="$( { "$gobin" version; echo "$ld"; cat "$src/go.mod" "$src/go.sum"; } | sha256sum | cut -c1-16)"
  hsrc="$( { echo "$hmod"; cd "$src" && cat $(ls ./*.go | LC_ALL=C sort); } | sha256sum | cut -c1-16)"
  local top="$INFORMERD_CACHE/cluster/$INFORMERD_K8S_VERSION"
  CLUSTER_BIN="$top/bin"
  _cluster_fresh() { [[ -x $CLUSTER_BIN/$1 && -f $CLUSTER_BIN/.stamp-$1 && $(cat "$CLUSTER_BIN/.stamp-$1") == "$2" ]]; }
  _cluster_fresh testcluster "$hsrc" && _cluster_fresh kubectl "$hmod" && return 0
  mkdir -p "$CLUSTER_BIN"
  exec 9>"$top/.lock"
  flock 9   # another build may be running: wait for it, then look again
  local todo=()
  _cluster_fresh testcluster "$hsrc" || todo+=(testcluster)
  _cluster_fresh kubectl "$hmod" || todo+=(kubectl)
  if [[ ${#todo[@]} == 0 ]]; then exec 9>&-; return 0; fi
  local tmp="$top/tmp.$$" log="$top/build.log"
  rm -rf "$tmp"; mkdir -p "$tmp"
  step "building ${todo[*]} (Kubernetes $INFORMERD_K8S_VERSION) into $CLUSTER_BIN (log: $log)"
  if [[ ! -x $CLUSTER_BIN/kubectl && ! -x $CLUSTER_BIN/testcluster ]]; then
    step "first build: ~590 MB of Go modules (~1 min) and ~2300 packages (~13 CPU-minutes): ~8 min on 2 idle cores, ~35 min on a busy machine; reused afterwards"
  else
    step "rebuilding: about a minute with a warm Go build cache"
  fi
  local t0=$SECONDS rc=0 b
  (
    cd "$src"
    for b in "${todo[@]}"; do
      if [[ $b == testcluster ]]; then pkg=.; else pkg=k8s.io/kubernetes/cmd/kubectl; fi
      "$gobin" build -v -trimpath -ldflags="$ld" -o "$tmp/$b" "$pkg" || exit 1
    done
  ) >"$log" 2>&1 &
  local bpid=$! next=$(( SECONDS + 60 ))
  while kill -0 "$bpid" 2>/dev/null; do
    sleep 2
    if (( SECONDS >= next )); then
      next=$(( next + 60 ))
      printf '    ... %d min, %d packages built so far\n' $(( (SECONDS - t0) / 60 )) "$(grep -vc '^go: ' "$log" || true)" >&2
    fi
  done
  wait "$bpid" || rc=$?
  if (( rc != 0 )); then tail -n 40 "$log" >&2; rm -rf "$tmp"; exec 9>&-; die "cluster build failed (log: $log)"; fi
  for b in "${todo[@]}"; do
    mv -f "$tmp/$b" "$CLUSTER_BIN/$b"   # rename: running clusters keep their old binary
    if [[ $b == testcluster ]]; then echo "$hsrc"; else echo "$hmod"; fi >"$CLUSTER_BIN/.stamp-$b"
  done
  rm -rf "$tmp"; rm -f "$CLUSTER_BIN/.stamp" "$CLUSTER_BIN/build.log"
  exec 9>&-
  step "built in $(( SECONDS - t0 ))s: $(du -h "$CLUSTER_BIN/testcluster" | cut -f1) testcluster, $(du -h "$CLUSTER_BIN/kubectl" | cut -f1) kubectl"
}
