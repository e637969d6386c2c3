#!/usr/bin/env bash
# The short seeded run of the stream-contract differential test (tests/contract/), as
# scripts/test runs it after the other end-to-end scripts: the tests of the test's own parts,
# then one seed ($INFORMERD_CONTRACT_SEED, default 1) of a 50 s workload against two informerd
# replicas ($INFORMERD_BIN, default build/server/informerd) behind the fault proxy, on the
# cluster named by INFORMERD_TEST_KUBECONFIG / INFORMERD_TEST_CLUSTER_COMPACT (scripts/test
# exports both); then the dead-connection test (dead_connection_test.py, R18), the wall-clock
# step test (clock_jump_test.py, under libfaketime) and the silent-client test
# (silent_client_test.py). About 4 minutes. One line per check, then "N passed, N failed".
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/lib.sh"
source "$ROOT/tests/e2e/checks.sh"

if [[ -z ${INFORMERD_TEST_KUBECONFIG:-} || -z ${INFORMERD_TEST_CLUSTER_COMPACT:-} ]]; then
  echo "INFORMERD_TEST_KUBECONFIG and INFORMERD_TEST_CLUSTER_COMPACT must be set (scripts/test" \
    "sets them; scripts/stream-contract starts its own cluster)" >&2
  exit 2
fi
py="$INFORMERD_VENV/bin/python"
work="$(mktemp -d "${TMPDIR:-/tmp}/informerd-contract-test.XXXXXX")"
seed="${INFORMERD_CONTRACT_SEED:-1}"
export INFORMERD_BIN="${INFORMERD_BIN:-$INFORMERD_BUILD/server/informerd}"

check "contract test parts (tracker rules, fault proxy)" \
  "$py" -m pytest -q -p no:cacheprovider "$ROOT/tests/contract/contract_unit_test.py"

out="$("$py" "$ROOT/tests/contract/stream_contract.py" --seed "$seed" --duration 50 \
  --replicas 2 --work-dir "$work" 2>"$work/run.log")"
rc=$?
while IFS= read -r line; do
  case "$line" in
    "PASS "*) pass "seed $seed: ${line#PASS }" ;;
    "FAIL "*) fail "seed $seed: ${line#FAIL }" ;;
    *) printf '%s\n' "$line" ;;
  esac
done <<<"$out"
if ((rc != 0)) && ! grep -q '^FAIL ' <<<"$out"; then
  fail "seed $seed: the run itself failed (exit $rc)"
  tail -n 30 "$work/run.log" | sed 's/^/    /'
fi
echo "(run log and report: $work)"

# One of the single-scenario fault tests beside this script: runs it with a work dir of its
# own and turns its "PASS name" / "FAIL name: why" lines into checks labelled LABEL.
run_scenario() {  # LABEL SCRIPT
  local label="$1" script="$2" out rc dir="$work/${2%.py}"
  mkdir -p "$dir"
  out="$("$py" "$ROOT/tests/contract/$script" --work-dir "$dir" 2>"$dir/run.log")"
  rc=$?
  while IFS= read -r line; do
    case "$line" in
      "PASS "*) pass "$label: ${line#PASS }" ;;
      "FAIL "*) fail "$label: ${line#FAIL }" ;;
    esac
  done <<<"$out"
  if ((rc != 0)) && ! grep -q '^FAIL ' <<<"$out"; then
    fail "$label: the run itself failed (exit $rc)"
    tail -n 30 "$dir/run.log" | sed 's/^/    /'
  fi
}
# Dead API-server connections (R18): informerd's defaults (30 s read-idle, 15 s probe), so
# about a minute.
run_scenario "dead connection" dead_connection_test.py
# The wall clock stepped an hour forward and back under informerd (libfaketime): about 30 s.
run_scenario "clock step" clock_jump_test.py
# A client that vanished without closing its connection is reaped by keepalive: about 20 s.
run_scenario "silent client" silent_client_test.py
summarize
