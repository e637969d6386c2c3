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
passed=0 failed=0
check() {  # name, then a command that must succeed
  local name="$1"; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"
  else failed=$((failed + 1)); echo "FAIL $name"; fi
}
check "scripts/demo exits 0" test "$rc" -eq 0
check "subscriber printed ADDED events" grep -q 'EVENT_TYPE_ADDED .*demo-' "$out"
check "subscriber printed MODIFIED events" grep -q 'EVENT_TYPE_MODIFIED .*demo-' "$out"
check "subscriber printed DELETED events" grep -q 'EVENT_TYPE_DELETED .*demo-' "$out"
check "events show the object's resourceVersion" grep -Eq 'EVENT_TYPE_MODIFIED .*demo-.* rv=[0-9]+ ' "$out"
if ((failed)); then echo "--- scripts/demo output ---"; tail -n 60 "$out"; fi
echo "$passed passed, $failed failed"
((failed == 0))
