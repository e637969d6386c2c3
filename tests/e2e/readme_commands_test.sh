#!/usr/bin/env bash
# Every command in README.md is run by a test or by .ci/run. The grpcurl walkthrough (between
# `<!-- walkthrough: begin -->` and `<!-- walkthrough: end -->`) is run line by line by
# tests/e2e/grpcurl_walkthrough_test.sh; this test takes every other command line of the
# README's ```sh and ```bash blocks and either
#   - runs it here (informerd pointed at "a real cluster": the test cluster, until its gRPC
#     health says SERVING; compose-kubeconfig; the kustomize image edit on a copy of deploy/), or
#   - finds it in COVERED below, with the test that runs it, and checks that test's file holds the
#     command's essential part.
# A README command that is neither fails, saying what to do. It also checks that every informerd
# flag the README names (informerd command lines, `--flag` in the text) is in `informerd --help`.
#
# README_COMMANDS_TEST_README=FILE checks FILE instead of README.md (to see this test fail).
# Needs scripts/setup, scripts/build (informerd in $INFORMERD_BUILD) and the test cluster:
# INFORMERD_TEST_KUBECONFIG (scripts/cluster-up; scripts/test sets it). A few seconds.
# Prints `N passed, N failed`; exits non-zero when a check failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$root/scripts/lib.sh"
cd "$root" || exit 1

# README command (as written, continuation lines joined, comments dropped) | the file that runs
# it | fixed strings that file must contain (the command's essential part), separated by " ;; ".
# Add a line here when the README gains a command this test cannot run itself.
COVERED="
scripts/demo | tests/e2e/demo_test.sh | scripts/demo\" --duration
scripts/test | .ci/run | exec scripts/test
scripts/setup && scripts/build | scripts/test | \"\$here/setup\" ;; \"\$here/build\"
docker compose up --build -d | tests/e2e/dockerfile_check.sh | -f docker-compose.yml config -q ;; == Dockerfile: build command
docker build -t REGISTRY/informerd:0.1.0 . && docker push REGISTRY/informerd:0.1.0 | tests/e2e/dockerfile_check.sh | dockerfile instr build RUN ;; hadolint\" Dockerfile
kubectl apply -k deploy/ | tests/e2e/deploy_test.sh | \"\$kubectl\" apply -k deploy/
scripts/make-tls-secret | tests/e2e/deploy_test.sh | scripts/make-tls-secret --no-apply
kubectl -n informerd rollout status deploy/informerd | tests/e2e/deploy_test.sh | readinessProbe ;; status: SERVING
"
# (The loopback cluster has no nodes, so no pod ever starts: deploy_test runs the pod's command
# with its service account and checks what its readiness probe checks, gRPC health SERVING.)

# shellcheck source=tests/e2e/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/informerd-readme.XXXXXX")"
informerd_pid=""
cleanup() {
  [ -n "$informerd_pid" ] && kill "$informerd_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

informerd="$INFORMERD_BUILD/server/informerd"
readme_file="${README_COMMANDS_TEST_README:-$root/README.md}"
probe="$INFORMERD_TOOLS/bin/grpc-health-probe"
# short CMD: CMD, cut to 60 characters for check names.
short() { if ((${#1} > 60)); then printf '%s...' "${1:0:57}"; else printf '%s' "$1"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# readme MODE: MODE=commands prints the command lines outside the walkthrough, one per line;
# MODE=flags prints the --flags the README gives informerd (all blocks, and `--flag` in the text).
readme() {
  python3 - "$readme_file" "$1" <<'PY'
import re, sys
text, mode = open(sys.argv[1]).read(), sys.argv[2]
begin, end = "<!-- walkthrough: begin -->", "<!-- walkthrough: end -->"
if begin not in text or end not in text:
    sys.exit(f"README.md lost its walkthrough markers {begin} / {end}")
outside = text[:text.index(begin)] + text[text.index(end) + len(end):]

def strip_comment(line):
    """The line without a trailing `# comment` (a # at the start or after a blank, unquoted)."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line

def commands(md):
    out = []
    for block in re.findall(r"^```(?:sh|bash)\n(.*?)^```", md, re.S | re.M):
        cur = ""
        for line in block.splitlines():
            line = strip_comment(line).rstrip()
            if line.endswith("\\"):
                cur += line[:-1] + " "
                continue
            cur = " ".join((cur + line).split())
            if cur:
                out.append(cur)
            cur = ""
    return out

if mode == "commands":
    print("\n".join(commands(outside)))
elif mode == "flags":
    flags = set()
    for cmd in commands(text):
        words = cmd.split()
        if words and words[0].split("/")[-1] == "informerd":
            flags.update(re.findall(r"(?:^| )(--[a-z][a-z0-9_-]*)", cmd))
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    flags.update(re.findall(r"`(--[a-z][a-z0-9_-]*)[ =`]", prose))
    print("\n".join(sorted(flags)))
PY
}

echo "== README commands outside the walkthrough"
mapfile -t commands < <(readme commands)
declare -A in_readme=()
for cmd in "${commands[@]}"; do in_readme["$cmd"]=1; done
check "README.md has commands outside the walkthrough (${#commands[@]})" test ${#commands[@]} -gt 0
declare -A ran=()
# run_informerd CMD: the README's "Pointing it at a real cluster" command against the test
# cluster (its kubeconfig and context, free ports), until gRPC health says SERVING; then SIGTERM.
run_informerd() {
  local cmd="$1" kubeconfig="${INFORMERD_TEST_KUBECONFIG:-}" label
  label="$(short "$cmd")"
  if [ -z "$kubeconfig" ]; then
    fail "$label: INFORMERD_TEST_KUBECONFIG is set (start scripts/cluster-up; scripts/test does)"
    return
  fi
  local context grpc_addr metrics_addr
  context="$("$root/scripts/kubectl" --kubeconfig "$kubeconfig" config current-context)"
  grpc_addr="127.0.0.1:$(free_port)"
  metrics_addr="127.0.0.1:$(free_port)"
  # The substitutions, each of which must apply: a changed README command needs a look here.
  local here_cmd
  if ! here_cmd="$(python3 - "$cmd" "$informerd" "$kubeconfig" "$context" "$grpc_addr" \
      "$metrics_addr" <<'PY'
import sys
cmd, binary, kubeconfig, context, grpc, metrics = sys.argv[1:]
for old, new in (("build/server/informerd ", binary + " "), ("--kubeconfig ~/.kube/config ", f"--kubeconfig {kubeconfig} "),
                 ("--context my-cluster ", f"--context {context} "), ("--listen=127.0.0.1:50051", f"--listen={grpc}"),
                 ("--metrics_listen=127.0.0.1:9090", f"--metrics_listen={metrics}")):
    if old not in cmd:
        sys.exit(f"the command no longer has {old!r}: update run_informerd in this test")
    cmd = cmd.replace(old, new)
print(cmd)
PY
  )"; then
    fail "$label: $here_cmd"
    return
  fi
  echo "    running: $here_cmd"
  bash -c "exec $here_cmd" >"$tmp/informerd.log" 2>&1 &
  informerd_pid=$!
  local health=""
  for _ in $(seq 1 120); do
    health="$("$probe" -addr="$grpc_addr" -connect-timeout=1s -rpc-timeout=1s 2>&1)"
    [ "$health" = "status: SERVING" ] && break
    kill -0 "$informerd_pid" 2>/dev/null || break
    sleep 0.25
  done
  if [ "$health" = "status: SERVING" ]; then
    pass "$label: gRPC health SERVING against the test cluster (context $context)"
  else
    fail "$label: gRPC health SERVING against the test cluster (last: $health)"
    tail -20 "$tmp/informerd.log" | sed 's/^/    /'
  fi
  check "$label: Prometheus metrics on --metrics_listen" \
    bash -c "curl -fsS 'http://$metrics_addr/metrics' | grep -q '^informerd_'"
  kill -TERM "$informerd_pid" 2>/dev/null
  local rc=0
  wait "$informerd_pid" || rc=$?
  informerd_pid=""
  check "$label: exits 0 on SIGTERM" test "$rc" -eq 0
}
for cmd in "${commands[@]}"; do
  case "$cmd" in
    "build/server/informerd "*)
      run_informerd "$cmd"; ran["$cmd"]=1 ;;
    "scripts/compose-kubeconfig")
      # Into a scratch directory instead of build/compose (the script's documented override).
      check "$(short "$cmd"): generates the compose directory" \
        env INFORMERD_COMPOSE_DIR="$tmp/compose" bash -c "$cmd"
      ran["$cmd"]=1 ;;
    "export KUBECONFIG=\$PWD/build/compose/"*)
      # The kubeconfig for the host, from the compose directory the previous command generated.
      file="$tmp/compose/${cmd#export KUBECONFIG=\$PWD/build/compose/}"
      check "$(short "$cmd"): names a kubeconfig compose-kubeconfig generates, for the published port" \
        bash -c "'$root/scripts/kubectl' --kubeconfig '$file' config view --minify \
          -o jsonpath='{.clusters[0].cluster.server}' | grep -qx 'https://127.0.0.1:6443'"
      ran["$cmd"]=1 ;;
    "(cd deploy && kustomize edit set image "*)
      # On a copy of deploy/: the rendered Deployment must run the image the command names.
      image="${cmd##*set image informerd=}"
      image="${image%)}"
      mkdir -p "$tmp/repo" && cp -r deploy "$tmp/repo/deploy"
      check "$(short "$cmd"): runs (kustomize from scripts/setup)" bash -c "cd '$tmp/repo' && $cmd"
      check "$(short "$cmd"): kubectl apply -k would deploy $image" bash -c "'$root/scripts/kubectl' kustomize \
        '$tmp/repo/deploy' | grep -qx ' *image: $image'"
      ran["$cmd"]=1 ;;
  esac
done

echo "== README commands run by other tests (COVERED)"
declare -A covered=()
while IFS='|' read -r cmd file essentials; do
  cmd="$(sed 's/^ *//; s/ *$//' <<<"$cmd")"
  [ -n "$cmd" ] || continue
  covered["$cmd"]=1
  file="${file// /}"
  if [[ -z ${in_readme[$cmd]:-} ]]; then
    fail "COVERED lists \`$cmd\`, which README.md no longer has: remove it from this test's table"
    continue
  fi
  missing=()
  while read -r essential; do
    [ -n "$essential" ] && ! grep -qF -- "$essential" "$file" 2>/dev/null && missing+=("$essential")
  done < <(sed 's/ ;; /\n/g; s/^ *//; s/ *$//' <<<"$essentials")
  if [ -f "$file" ] && ((${#missing[@]} == 0)); then
    pass "\`$cmd\` is run by $file"
  else
    fail "\`$cmd\` is run by $file (missing from it: ${missing[*]:-the file})"
  fi
done <<<"$COVERED"

for cmd in "${commands[@]}"; do
  if [[ -z ${covered[$cmd]:-} && -z ${ran[$cmd]:-} ]]; then
    fail "README command \`$cmd\` is neither run by this test nor listed in its COVERED table:" \
      "run it in tests/e2e/readme_commands_test.sh, or add it to COVERED with the test that runs" \
      "it and the part of that test's file that does"
  fi
done

echo "== informerd flags named in README.md are in informerd --help"
help="$("$informerd" --help 2>&1)"
if grep -q -- '--listen' <<<"$help"; then
  mapfile -t flags < <(readme flags)
  unknown=()
  for f in "${flags[@]}"; do grep -q -- "^ *$f (" <<<"$help" || unknown+=("$f"); done
  check "every flag the README gives informerd is in informerd --help (${flags[*]})" \
    test ${#unknown[@]} -eq 0 -a ${#flags[@]} -gt 0
  ((${#unknown[@]})) && echo "    unknown: ${unknown[*]}"
else
  fail "informerd --help runs ($informerd: run scripts/build)"
fi

summarize
