#!/usr/bin/env bash
# Runs the README's first command (scripts/demo) for a bounded time and checks that the
# subscriber it starts printed live events for the demo workload: ADDED, MODIFIED and DELETED
# ConfigMaps. Prints "N passed, N failed"; exits non-zero when a check failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
"$root/scripts/demo" --duration "${DEMO_SECONDS:-25}" >"$out" 2>&1
rc=$?
# shellcheck source=tests/e2e/checks.sh
source "$root/tests/e2e/checks.sh"
check "scripts/demo exits 0" test "$rc" -eq 0
check "subscriber printed ADDED events" grep -q 'EVENT_TYPE_ADDED .*demo-' "$out"
check "subscriber printed MODIFIED events" grep -q 'EVENT_TYPE_MODIFIED .*demo-' "$out"
check "subscriber printed DELETED events" grep -q 'EVENT_TYPE_DELETED .*demo-' "$out"
check "events show the object's resourceVersion" grep -Eq 'EVENT_TYPE_MODIFIED .*demo-.* rv=[0-9]+ ' "$out"
if ((failed)); then echo "--- scripts/demo output ---"; tail -n 60 "$out"; fi
summarize
