#!/usr/bin/env bash
# The fault end-to-end tests of issue 17 (tests/contract/faults.py), as scripts/test runs them
# after the other end-to-end scripts, alone (the restart scenario stops the shared API server
# for a few seconds): the API server restarted keeping etcd's data, a CRD deleted and
# re-created, informerd's RBAC revoked and restored, SIGTERM during discovery and the initial
# LIST, a replica killed under its subscribers. Needs INFORMERD_TEST_KUBECONFIG and
# INFORMERD_TEST_CLUSTER_RESTART (scripts/test exports both); $INFORMERD_FAULT_SCENARIOS picks
# scenarios (default all). About 80 s (restart 20-26 s, crd 19-24 s, rbac 10-15 s, sigterm
# 2-4 s, replicas 16 s). One line per check, then "N passed, N failed".
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/lib.sh"
source "$ROOT/tests/e2e/checks.sh"

if [[ -z ${INFORMERD_TEST_KUBECONFIG:-} || -z ${INFORMERD_TEST_CLUSTER_RESTART:-} ]]; then
  echo "INFORMERD_TEST_KUBECONFIG and INFORMERD_TEST_CLUSTER_RESTART must be set (scripts/test" \
    "sets them)" >&2
  exit 2
fi
py="$INFORMERD_VENV/bin/python"
work="$(mktemp -d "${TMPDIR:-/tmp}/informerd-faults-test.XXXXXX")"
export INFORMERD_BIN="${INFORMERD_BIN:-$INFORMERD_BUILD/server/informerd}"

out="$("$py" "$ROOT/tests/contract/faults.py" --work-dir "$work" \
  --scenarios "${INFORMERD_FAULT_SCENARIOS:-restart,crd,rbac,sigterm,replicas}" 2>"$work/run.log")"
rc=$?
while IFS= read -r line; do
  case "$line" in
    "PASS "*) pass "${line#PASS }" ;;
    "FAIL "*) fail "${line#FAIL }" ;;
    *) printf '%s\n' "$line" ;;
  esac
done <<<"$out"
if ((rc != 0)) && ! grep -q '^FAIL ' <<<"$out"; then
  fail "the run itself failed (exit $rc)"
  tail -n 30 "$work/run.log" | sed 's/^/    /'
fi
echo "(run log and informerd logs: $work)"
summarize
