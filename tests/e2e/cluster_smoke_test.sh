#!/usr/bin/env bash
# Smoke test of the loopback test cluster (docs/cluster.md).
#
# Uses the cluster named by INFORMERD_TEST_KUBECONFIG_ADMIN and
# INFORMERD_TEST_KUBECONFIG_RESTRICTED (state dir: INFORMERD_CLUSTER_DIR, else
# the admin kubeconfig's folder). If they are unset, it starts a cluster of its
# own with scripts/cluster-up and stops it at the end.
# Prints "N passed, N failed"; exits non-zero if anything failed.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/lib.sh"

pass=0 fail=0
own_dir=""
cleanup() {
  if [[ -n $own_dir ]]; then
    "$ROOT/scripts/cluster-down" --dir "$own_dir" >&2 || true
  fi
}
trap cleanup EXIT
ok() { pass=$((pass + 1)); printf 'PASS %s\n' "$1"; }
ko() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [[ -n ${2:-} ]] && printf '%s\n' "$2" | sed 's/^/     /' | head -n 20; }
finish() {
  cleanup; own_dir=""   # stop our own cluster first: the summary is the last line
  printf '%d passed, %d failed\n' "$pass" "$fail"
  [[ $fail == 0 ]]
}

# (in a subshell first: cluster_build dies on failure, and we want the summary)
( cluster_build ) >&2 || { ko "build testcluster and kubectl"; finish; exit 1; }
cluster_build
KUBECTL="$CLUSTER_BIN/kubectl"
TESTCLUSTER="$CLUSTER_BIN/testcluster"

if [[ -z ${INFORMERD_TEST_KUBECONFIG_ADMIN:-} ]]; then
  own_dir="$(mktemp -d "${TMPDIR:-/tmp}/informerd-smoke.XXXXXX")"
  if ! "$ROOT/scripts/cluster-up" --dir "$own_dir" >"$own_dir.out"; then
    ko "cluster-up" "$(tail -n 5 "$own_dir.out")"; rm -f "$own_dir.out"; finish; exit 1
  fi
  last="$(tail -n 1 "$own_dir.out")"; rm -f "$own_dir.out"
  [[ $last == "KUBECONFIG=$own_dir/admin.kubeconfig" ]] && ok "cluster-up prints KUBECONFIG last" || ko "cluster-up prints KUBECONFIG last" "$last"
  # shellcheck disable=SC1091
  source "$own_dir/cluster.env"
fi
ADMIN="${INFORMERD_TEST_KUBECONFIG_ADMIN:?}"
RESTRICTED="${INFORMERD_TEST_KUBECONFIG_RESTRICTED:?INFORMERD_TEST_KUBECONFIG_RESTRICTED must be set with ..._ADMIN}"
STATE="${INFORMERD_CLUSTER_DIR:-$(dirname "$ADMIN")}"

ka() { "$KUBECTL" --kubeconfig "$ADMIN" "$@"; }
kr() { "$KUBECTL" --kubeconfig "$RESTRICTED" "$@"; }
SERVER="$(ka config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')"
CA="$(mktemp)"; ka config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$CA"
ATOKEN="$(ka config view --raw --minify -o jsonpath='{.users[0].user.token}')"
RTOKEN="$(kr config view --raw --minify -o jsonpath='{.users[0].user.token}')"
trap 'rm -f "$CA"; cleanup' EXIT
trap 'exit 130' INT TERM
# curl_api TOKEN PATH -> body in $body, status in $code
curl_api() {
  local out; out="$(curl -sS --max-time 20 --cacert "$CA" -H "Authorization: Bearer $1" -w '\n%{http_code}' "$SERVER$2" 2>&1)"
  code="${out##*$'\n'}"; body="${out%$'\n'*}"
}

# 1. /readyz and version
curl_api "$ATOKEN" /readyz
[[ $code == 200 ]] && ok "/readyz is 200" || ko "/readyz is 200" "$code $body"
out="$(ka version -o json 2>&1)"
grep -q "\"gitVersion\": \"$INFORMERD_K8S_VERSION\"" <<<"$out" && ok "server and kubectl are $INFORMERD_K8S_VERSION" || ko "server and kubectl are $INFORMERD_K8S_VERSION" "$out"

# 2. admin lists namespaces
out="$(ka get namespaces -o name 2>&1)"
grep -qx 'namespace/default' <<<"$out" && grep -qx 'namespace/kube-system' <<<"$out" \
  && ok "admin lists namespaces" || ko "admin lists namespaces" "$out"

# 3. admin creates a ConfigMap (in default: without a controller-manager a
#    deleted namespace would stay Terminating forever)
ns=default
cm="smoke-$(date +%s)-$RANDOM"
out="$(ka -n "$ns" create configmap "$cm" --from-literal=k=v1 2>&1)" && ok "admin creates configmap $cm" || ko "admin creates configmap $cm" "$out"
out="$(ka -n "$ns" get configmap "$cm" -o jsonpath='{.data.k}' 2>&1)"
[[ $out == v1 ]] && ok "configmap reads back" || ko "configmap reads back" "$out"
ka -n "$ns" label configmap "$cm" informerd-smoke=1 >/dev/null 2>&1

# 4. restricted: configmaps and namespaces yes, secrets and writes no
out="$(kr -n "$ns" get configmaps -o name 2>&1)"
grep -qx "configmap/$cm" <<<"$out" && ok "restricted lists configmaps" || ko "restricted lists configmaps" "$out"
out="$(kr get namespaces -o name 2>&1)"
grep -qx 'namespace/default' <<<"$out" && ok "restricted lists namespaces" || ko "restricted lists namespaces" "$out"
out="$(kr -n "$ns" get secrets 2>&1)"; rc=$?
[[ $rc != 0 ]] && grep -qi 'forbidden' <<<"$out" && ok "restricted is Forbidden to get secrets" || ko "restricted is Forbidden to get secrets" "rc=$rc $out"
out="$(kr -n "$ns" create configmap "$cm-r" --from-literal=k=v 2>&1)"; rc=$?
[[ $rc != 0 ]] && grep -qi 'forbidden' <<<"$out" && ok "restricted is Forbidden to create configmaps" || ko "restricted is Forbidden to create configmaps" "rc=$rc $out"
curl_api "$RTOKEN" "/api/v1/namespaces/$ns/configmaps?watch=1&timeoutSeconds=1&labelSelector=informerd-smoke%3D1"
[[ $code == 200 ]] && grep -q "\"name\":\"$cm\"" <<<"$body" && ok "restricted watches configmaps" || ko "restricted watches configmaps" "$code ${body:0:300}"
curl_api "$RTOKEN" "/api/v1/namespaces/$ns/secrets"
[[ $code == 403 ]] && ok "restricted gets 403 on secrets over HTTP" || ko "restricted gets 403 on secrets over HTTP" "$code ${body:0:300}"

# 5. 410 Gone after compaction
old_rv="$(ka -n "$ns" get configmap "$cm" -o jsonpath='{.metadata.resourceVersion}')"
for i in 2 3; do ka -n "$ns" patch configmap "$cm" -p "{\"data\":{\"k\":\"v$i\"}}" >/dev/null; done
curl_api "$ATOKEN" "/api/v1/namespaces/$ns/configmaps?watch=1&resourceVersion=$old_rv&timeoutSeconds=1&labelSelector=informerd-smoke%3D1"
[[ $code == 200 ]] && ! grep -Eq '"code": *410' <<<"$body" && grep -Eq '"type": *"MODIFIED"' <<<"$body" \
  && ok "watch from rv $old_rv before compaction replays events" || ko "watch from rv $old_rv before compaction replays events" "$code ${body:0:300}"
errf="$(mktemp)"
if rev="$("$TESTCLUSTER" compact --dir "$STATE" 2>"$errf")"; then
  ok "testcluster compact (to revision $rev)"
else
  ko "testcluster compact" "$rev $(cat "$errf")"
fi
rm -f "$errf"
if [[ ${INFORMERD_CLUSTER_CONFIGMAP_WATCH_CACHE:-false} == true ]]; then
  printf 'SKIP watch 410 checks: cluster runs with --configmap-watch-cache\n'
else
  curl_api "$ATOKEN" "/api/v1/namespaces/$ns/configmaps?watch=1&resourceVersion=$old_rv&timeoutSeconds=5"
  if grep -Eq '"type": *"ERROR"' <<<"$body" && grep -Eq '"code": *410' <<<"$body"; then
    ok "watch from old rv after compaction gets 410 Gone"
  else
    ko "watch from old rv after compaction gets 410 Gone" "$code ${body:0:400}"
  fi
  curl_api "$RTOKEN" "/api/v1/configmaps?watch=1&resourceVersion=$old_rv&timeoutSeconds=5"
  grep -Eq '"code": *410' <<<"$body" && ok "restricted watch from old rv gets 410 Gone too" || ko "restricted watch from old rv gets 410 Gone too" "$code ${body:0:400}"
  curl_api "$ATOKEN" "/api/v1/namespaces/$ns/configmaps?resourceVersion=$old_rv&resourceVersionMatch=Exact"
  [[ $code == 410 ]] && grep -Eq '"reason": *"Expired"' <<<"$body" && ok "exact list at old rv gets HTTP 410 Expired" || ko "exact list at old rv gets HTTP 410 Expired" "$code ${body:0:400}"
fi
new_rv="$(ka -n "$ns" get configmaps -o jsonpath='{.metadata.resourceVersion}')"
curl_api "$ATOKEN" "/api/v1/namespaces/$ns/configmaps?watch=1&resourceVersion=$new_rv&timeoutSeconds=1"
[[ $code == 200 ]] && ! grep -Eq '"code": *410' <<<"$body" && ok "watch from a fresh list rv works after compaction" || ko "watch from a fresh list rv works after compaction" "$code ${body:0:400}"

# cleanup of our object (the cluster itself goes with the trap if it is ours)
ka -n "$ns" delete configmap "$cm" >/dev/null 2>&1 || true

finish
