#!/usr/bin/env bash
# End-to-end tests of the Python, Go, C++ and Java clients (clients/) against a running informerd
# over a real kube-apiserver.
#
# 1. checks the committed Go/Python stubs match proto/ (scripts/gen-clients --check);
# 2. uses the cluster named by INFORMERD_TEST_KUBECONFIG (a kubeconfig allowed to write
#    ConfigMaps and Namespaces), or starts one with scripts/cluster-up and stops it at the end;
# 3. builds informerd and the C++ client tests into $INFORMERD_BUILD (default ./build);
# 4. starts informerd on a free port caching configmaps;
# 5. runs each language's tests with INFORMERD_TEST_ADDR, INFORMERD_TEST_KUBECONFIG and
#    INFORMERD_TEST_BIN set: sync, live events, List/Get/ByIndex, a server restart mid-stream
#    (the tests kill and restart an informerd of their own while ConfigMaps change) and the
#    example controller writing its annotation.
# Every test case counts; a skipped one counts as failed here, since the environment is whole.
# Prints "N passed, N failed"; exits non-zero if anything failed.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/lib.sh"
export GOTOOLCHAIN=local

pass=0 fail=0
ok() { pass=$((pass + ${2:-1})); printf 'PASS %s\n' "$1"; }
ko() {
  fail=$((fail + ${3:-1})); printf 'FAIL %s\n' "$1"
  [[ -n ${2:-} ]] && printf '%s\n' "$2" | sed 's/^/     /' | tail -n 40
  return 0
}
finish() {
  printf '%d passed, %d failed\n' "$pass" "$fail"
  [[ $fail == 0 ]]
}

work="$(mktemp -d "${TMPDIR:-/tmp}/informerd-clients-e2e.XXXXXX")"
own_cluster="" informerd_pid="" auth_pid=""
cleanup() {
  [[ -n $informerd_pid ]] && kill "$informerd_pid" 2>/dev/null && wait "$informerd_pid" 2>/dev/null
  [[ -n $auth_pid ]] && kill "$auth_pid" 2>/dev/null && wait "$auth_pid" 2>/dev/null
  [[ -n $own_cluster ]] && "$ROOT/scripts/cluster-down" --dir "$own_cluster" >&2
  rm -rf "$work"
}
trap cleanup EXIT

# counts FILE KIND: "passed failed" of a JUnit XML (pytest, GoogleTest) or a `go test -json`
# stream. Skipped tests count as failed.
counts() {
  "$INFORMERD_VENV/bin/python" - "$1" "$2" <<'PY'
import json, sys, xml.etree.ElementTree as ET
path, kind = sys.argv[1], sys.argv[2]
p = f = 0
names = []
if kind == "go":
    for line in open(path):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if not e.get("Test") or e.get("Action") not in ("pass", "fail", "skip"):
            continue
        if e["Action"] == "pass":
            p += 1
        else:
            f += 1
            names.append(f"{e['Action']}: {e['Package']}.{e['Test']}")
else:
    for case in ET.parse(path).getroot().iter("testcase"):
        bad = [c for c in case if c.tag in ("failure", "error", "skipped")]
        skipped = case.get("result") == "skipped" or case.get("status") == "notrun"
        if bad or skipped:
            f += 1
            tag = bad[0].tag if bad else "skipped"
            names.append(f"{tag}: {case.get('classname')}.{case.get('name')}")
            # The assertion itself (file:line, expected/actual), so a CI log says what failed.
            for c in bad:
                text = (c.get("message") or c.text or "").strip()
                names.extend("    " + l for l in text.splitlines()[:12])
        else:
            p += 1
print(p, f)
for n in names:
    print(n)
PY
}

# record NAME FILE KIND LOG: adds a suite's test counts, showing what failed.
record() {
  local name="$1" file="$2" kind="$3" log="$4" out p f
  if [[ ! -s $file ]]; then ko "$name: no results" "$(tail -n 40 "$log")"; return; fi
  out="$(counts "$file" "$kind")" || { ko "$name: unreadable results" "$(tail -n 40 "$log")"; return; }
  read -r p f <<<"$(head -n1 <<<"$out")"
  if ((f == 0 && p > 0)); then ok "$name ($p tests)" "$p"
  else ko "$name ($p passed, $f failed)" "$(tail -n +2 <<<"$out")
--- last lines of $log ---
$(tail -n 30 "$log")" "$((f > 0 ? f : 1))"; pass=$((pass + p)); fi
}

# 1. Generated code in sync with proto/.
if out="$("$ROOT/scripts/gen-clients" --check 2>&1)"; then ok "generated Go/Python stubs match proto/"
else ko "generated Go/Python stubs match proto/" "$out"; fi

# 2. A cluster.
if [[ -n ${INFORMERD_TEST_KUBECONFIG:-} ]]; then
  KUBECONFIG_E2E="$INFORMERD_TEST_KUBECONFIG"
else
  own_cluster="$work/cluster"
  if ! "$ROOT/scripts/cluster-up" --dir "$own_cluster" >"$work/cluster-up.out" 2>&1; then
    ko "cluster-up" "$(tail -n 20 "$work/cluster-up.out")"; own_cluster=""; finish; exit 1
  fi
  last="$(tail -n 1 "$work/cluster-up.out")"
  KUBECONFIG_E2E="${last#KUBECONFIG=}"
  eval "KUBECONFIG_E2E=$KUBECONFIG_E2E"  # cluster-up prints it %q-quoted
fi
[[ -f $KUBECONFIG_E2E ]] || { ko "kubeconfig $KUBECONFIG_E2E exists"; finish; exit 1; }

# 3. Build informerd and the C++ client tests.
step "building informerd and the C++ client tests into $INFORMERD_BUILD"
if [[ ! -f $INFORMERD_BUILD/build.ninja ]]; then
  cmake -S "$ROOT" -B "$INFORMERD_BUILD" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
    >"$work/configure.log" 2>&1 || { ko "configure" "$(tail -n 20 "$work/configure.log")"; finish; exit 1; }
fi
if ! cmake --build "$INFORMERD_BUILD" -j "${INFORMERD_JOBS:-2}" --target informerd informerd_client_test \
    informerd_client_e2e_test configmap_summary >"$work/build.log" 2>&1; then
  ko "build" "$(grep -E 'error|FAILED' "$work/build.log" | head -n 20)"; finish; exit 1
fi
BIN="$INFORMERD_BUILD/server/informerd"
CPP_TESTS="$INFORMERD_BUILD/clients/cpp"

# 4. informerd on a free port.
port="$("$INFORMERD_VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
ADDR="127.0.0.1:$port"
# start_informerd: starts it and waits until configmaps are synced; false when it does not.
start_informerd() {
  "$BIN" --kubeconfig="$KUBECONFIG_E2E" --listen="$ADDR" --metrics_listen= --resources=configmaps \
    --bookmark_interval=1s --log_format=text >>"$work/informerd.log" 2>&1 &
  informerd_pid=$!
  local deadline=$((SECONDS + 60))
  until grpcurl -plaintext -max-time 2 "$ADDR" informer.v1.InformerService/ListResources 2>/dev/null \
      | grep -q '"synced": true'; do
    if ! kill -0 "$informerd_pid" 2>/dev/null || ((SECONDS > deadline)); then return 1; fi
    sleep 0.2
  done
}
# survived SUITE: informerd must outlive each suite; if it died, say so and start another so
# the next suite is judged on its own.
survived() {
  if kill -0 "$informerd_pid" 2>/dev/null; then ok "informerd survived the $1 tests"; return; fi
  wait "$informerd_pid" 2>/dev/null; local rc=$?
  ko "informerd survived the $1 tests (exit status $rc)" "$(tail -n 20 "$work/informerd.log")"
  start_informerd || { ko "informerd restarts" "$(tail -n 20 "$work/informerd.log")"; finish; exit 1; }
}
if start_informerd; then ok "informerd serves configmaps at $ADDR"
else ko "informerd serves configmaps at $ADDR" "$(tail -n 20 "$work/informerd.log")"; finish; exit 1; fi

export INFORMERD_TEST_ADDR="$ADDR" INFORMERD_TEST_KUBECONFIG="$KUBECONFIG_E2E" INFORMERD_TEST_BIN="$BIN"

# 5a. Python: the package installed (editable) into the venv with its [test] extra (pytest-asyncio
# for informerd.aio), then pytest.
py="$INFORMERD_VENV/bin/python"
if ! "$py" -c 'import informerd, pytest_asyncio, sys; sys.exit(0 if informerd.__file__.startswith(sys.argv[1]) else 1)' \
    "$ROOT/clients/python/src" 2>/dev/null; then
  step "installing clients/python into $INFORMERD_VENV"
  "$py" -m pip install -q -e "$ROOT/clients/python[test]" >"$work/pip.log" 2>&1 \
    || ko "pip install clients/python" "$(tail -n 20 "$work/pip.log")"
fi
step "Python client tests"
(cd "$ROOT/clients/python" && "$py" -m pytest -q -p no:cacheprovider --junitxml="$work/python.xml") \
  >"$work/python.log" 2>&1
record "Python client" "$work/python.xml" xml "$work/python.log"
survived Python

# 5b. Go.
step "Go client tests"
(cd "$ROOT/clients/go" && go test -count=1 -json ./...) >"$work/go.json" 2>"$work/go.log"
grep -h '"Output"' "$work/go.json" | "$py" -c 'import json,sys; [sys.stdout.write(json.loads(l)["Output"]) for l in sys.stdin]' >>"$work/go.log"
record "Go client" "$work/go.json" go "$work/go.log"
survived Go

# 5c. C++.
step "C++ client tests"
"$CPP_TESTS/informerd_client_test" --gtest_output="xml:$work/cpp-unit.xml" >"$work/cpp-unit.log" 2>&1
record "C++ client (unit)" "$work/cpp-unit.xml" xml "$work/cpp-unit.log"
"$CPP_TESTS/informerd_client_e2e_test" --gtest_output="xml:$work/cpp-e2e.xml" >"$work/cpp-e2e.log" 2>&1
record "C++ client (end to end)" "$work/cpp-e2e.xml" xml "$work/cpp-e2e.log"
survived C++

# 5d. Java: Maven offline (scripts/setup fetched the dependencies into ~/.m2), unit and
# end-to-end tests of clients/java and its example; their Surefire reports merged into one file.
step "Java client tests"
java_dir="$ROOT/clients/java"
if command -v mvn >/dev/null && command -v javac >/dev/null; then
  rm -rf "$java_dir"/*/target/surefire-reports
  (cd "$java_dir" && nice -n 10 mvn -o -B -q test) >"$work/java.log" 2>&1
  {
    echo '<testsuites>'
    for f in "$java_dir"/*/target/surefire-reports/TEST-*.xml; do
      [[ -f $f ]] && sed '1{/^<?xml/d}' "$f"
    done
    echo '</testsuites>'
  } >"$work/java.xml"
  grep -q '<testcase' "$work/java.xml" || : >"$work/java.xml"
  record "Java client" "$work/java.xml" xml "$work/java.log"
else
  ko "Java client: mvn and javac on PATH (scripts/setup installs them)"
fi
survived Java

# 6. Access control: an informerd with TLS and --auth (short caches, so a revoked token is
# noticed in seconds); the Python client's token file is rotated and the token its stream was
# opened with revoked (tests/e2e/clients_auth_check.py).
step "a client against informerd with TLS and --auth"
tls="$work/tls"
if "$ROOT/scripts/make-tls-secret" --no-apply --dir "$tls" >"$work/tls.log" 2>&1; then
  auth_port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  "$BIN" --kubeconfig="$KUBECONFIG_E2E" --listen="127.0.0.1:$auth_port" --metrics_listen= \
    --resources=configmaps --auth --auth_token_ttl=2s --auth_allow_ttl=3s --auth_deny_ttl=1s \
    --tls_cert_file="$tls/tls.crt" --tls_key_file="$tls/tls.key" --bookmark_interval=1s \
    --log_format=text >"$work/informerd-auth.log" 2>&1 &
  auth_pid=$!
  deadline=$((SECONDS + 60))
  until grep -q 'every resource synced' "$work/informerd-auth.log"; do
    if ! kill -0 "$auth_pid" 2>/dev/null || ((SECONDS > deadline)); then break; fi
    sleep 0.2
  done
  KUBECONFIG="$KUBECONFIG_E2E" ADDR="127.0.0.1:$auth_port" CA="$tls/ca.crt" \
    KUBECTL="$ROOT/scripts/kubectl" NS="auth-clients-$RANDOM$RANDOM" WORK="$work" \
    "$py" "$ROOT/tests/e2e/clients_auth_check.py" >"$work/auth.log" 2>&1
  auth_rc=$?
  while read -r verdict rest; do
    case "$verdict" in
      PASS) ok "auth: $rest" ;;
      FAIL) ko "auth: $rest" "$(tail -n 20 "$work/informerd-auth.log")" ;;
    esac
  done <"$work/auth.log"
  ((auth_rc == 0)) || ko "auth: clients_auth_check.py exits 0" "$(tail -n 30 "$work/auth.log")"
else
  ko "scripts/make-tls-secret --no-apply" "$(cat "$work/tls.log")"
fi
finish
