# shellcheck shell=bash
# Shared by the tests/e2e/*.sh checks: counters, one line per check, and the summary line
# "N passed, N failed[, N skipped]" that scripts/test and people read. Source it, then call
# check/pass/fail/skip and end with `summarize` (its status is the script's).
passed=0
failed=0
skipped=0
pass() { passed=$((passed + 1)); printf 'PASS %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
skip() { skipped=$((skipped + 1)); printf 'SKIP %s\n' "$*"; }
check() {  # check "name" command...: pass when the command succeeds, else show its output
  local name="$1"; shift
  local out
  if out="$("$@" 2>&1)"; then pass "$name"; else fail "$name"; printf '%s\n' "$out" | sed 's/^/    /'; fi
}
summarize() {  # prints the summary; succeeds when nothing failed
  echo
  if ((skipped)); then
    echo "$passed passed, $failed failed, $skipped skipped"
  else
    echo "$passed passed, $failed failed"
  fi
  ((failed == 0))
}
