#!/usr/bin/env bash
# Runs the README's grpcurl walkthrough exactly as written: every ```sh block between the
# `<!-- walkthrough: begin -->` and `<!-- walkthrough: end -->` markers, in order, in one bash
# shell, against the test cluster, then checks that each block's output holds the
# `<!-- expect: ... -->` notes that follow it. A newcomer pastes the same commands.
#
#   tests/e2e/grpcurl_walkthrough_test.sh PATH/TO/informerd
#
# Needs INFORMERD_TEST_KUBECONFIG (scripts/cluster-up); exits 77 (skipped) without it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$root/scripts/lib.sh"
informerd="${1:-$INFORMERD_BUILD/server/informerd}"
doc="$root/README.md"

if [[ -z ${INFORMERD_TEST_KUBECONFIG:-} ]]; then
  echo "grpcurl_walkthrough_test: SKIPPED: INFORMERD_TEST_KUBECONFIG is not set (start a cluster" \
    "with scripts/cluster-up and set it to the KUBECONFIG path it prints)" >&2
  exit 77
fi
[[ -x $informerd ]] || die "no informerd at $informerd: build it first (scripts/build)"
informerd="$(cd "$(dirname "$informerd")" && pwd)/$(basename "$informerd")"
command -v grpcurl >/dev/null || die "grpcurl is not installed: run scripts/setup"

work="$(mktemp -d "${TMPDIR:-/tmp}/informerd-walkthrough.XXXXXX")"
cleanup() {
  # The walkthrough stops its informerd; if a block failed first, stop it here.
  if [[ -f $work/informerd.pid ]]; then kill "$(cat "$work/informerd.pid")" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The doc runs from the repository root (scripts/kubectl); its files go to a scratch dir.
mkdir "$work/scripts"
printf '#!/bin/sh\nexec "%s/scripts/kubectl" "$@"\n' "$root" >"$work/scripts/kubectl"
chmod +x "$work/scripts/kubectl"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export KUBECONFIG="$INFORMERD_TEST_KUBECONFIG"
export PATH="$(dirname "$informerd"):$PATH"
export ADDR="127.0.0.1:$(free_port)" METRICS="127.0.0.1:$(free_port)"
export NS="walkthrough-$(date +%s)-$$"

# The blocks, each preceded by a marker line so the output can be split per block.
python3 - "$doc" "$work" <<'PY'
import json, re, sys
doc, work = sys.argv[1], sys.argv[2]
text = open(doc).read()
begin, end = "<!-- walkthrough: begin -->", "<!-- walkthrough: end -->"
if begin not in text or end not in text:
    sys.exit(f"{doc} has no walkthrough between {begin} and {end}")
text = text[text.index(begin):text.index(end)]
blocks = []
for match in re.finditer(r"```sh\n(.*?)```\n((?:<!-- expect: .*? -->\n)*)", text, re.S):
    expects = re.findall(r"<!-- expect: (.*?) -->", match.group(2))
    blocks.append({"code": match.group(1), "expects": expects})
if not blocks:
    sys.exit("no ```sh blocks found in " + doc)
with open(f"{work}/walkthrough.sh", "w") as out:
    out.write("set -euo pipefail\n")
    out.write('trap \'echo "@@FAILED@@ exit status $?" >&2\' ERR\n')
    for i, block in enumerate(blocks):
        code = block["code"]
        # Note informerd's pid as soon as it starts, so cleanup can stop it if a later line fails.
        code = code.replace("INFORMERD_PID=$!\n", f'INFORMERD_PID=$!\necho "$INFORMERD_PID" > {work}/informerd.pid\n')
        out.write(f"echo '@@BLOCK {i}@@'\n{code}\n")
    out.write("echo '@@END@@'\n")
json.dump(blocks, open(f"{work}/blocks.json", "w"))
PY

step "running the $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/blocks.json") blocks of the README's walkthrough"
rc=0
(cd "$work" && timeout 240 bash walkthrough.sh >"$work/output.txt" 2>&1) || rc=$?

python3 - "$work" "$rc" <<'PY'
import json, sys
work, rc = sys.argv[1], int(sys.argv[2])
blocks = json.load(open(f"{work}/blocks.json"))
output = open(f"{work}/output.txt").read()
parts = {}
current = None
for line in output.splitlines(keepends=True):
    if line.startswith("@@BLOCK ") and line.rstrip().endswith("@@"):
        current = int(line.split()[1].rstrip("@"))
        parts[current] = ""
    elif current is not None:
        parts[current] += line
failures = []
for i, block in enumerate(blocks):
    got = parts.get(i)
    first = block["code"].strip().splitlines()[0]
    if got is None:
        failures.append(f"block {i} ({first}) did not run")
        continue
    for expect in block["expects"]:
        if expect not in got:
            failures.append(f"block {i} ({first}): output lacks {expect!r}")
if rc != 0 or "@@END@@" not in output:
    failures.insert(0, f"the walkthrough stopped early (exit status {rc})")
for i, block in enumerate(blocks):
    status = "FAIL" if any(f.startswith(f"block {i} ") for f in failures) else "ok"
    print(f"{status:4} block {i}: {block['code'].strip().splitlines()[0]}")
if failures:
    print("\n".join(["", "FAILED:"] + failures + ["", "---- output ----", output]))
    sys.exit(1)
print("walkthrough: every command ran and printed what the README says")
PY
