#!/usr/bin/env bash
# End-to-end test of deploy/ against a real kube-apiserver (scripts/cluster-up's, or the one
# $INFORMERD_TEST_KUBECONFIG points at, which must allow cluster-admin):
#   1. the manifests agree with each other (RBAC = configured resources, ports, probes);
#   2. `kubectl apply --dry-run=server -k deploy/` passes with no warning (so the pod spec meets
#      the namespace's `restricted` Pod Security level), a real apply creates every object;
#   3. RBAC is minimal: the ServiceAccount may get/list/watch what it caches and nothing else;
#   4. informerd runs as that pod would: the ServiceAccount's token and the CA mounted at
#      /var/run/secrets/kubernetes.io/serviceaccount (a private mount namespace), the
#      KUBERNETES_SERVICE_HOST/PORT variables, the Deployment's args and the ConfigMap's config
#      read back from the API server; its gRPC health turns SERVING and a ConfigMap created
#      here shows up in List.
# Prints `N passed, N failed`; exits non-zero when a check failed. Objects it creates in an
# existing cluster are kept (deploy/ is applied idempotently) except its test ConfigMap.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$root/scripts/lib.sh"
cd "$root" || exit 1

# shellcheck source=tests/e2e/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
finish() {
  summarize
  exit
}

tmp="$(mktemp -d)"
chmod 0755 "$tmp"  # informerd reads its config and service account here as uid 65532
cluster_dir=""
informerd_pid=""
test_cm=""
cleanup() {
  [ -n "$informerd_pid" ] && kill "$informerd_pid" 2>/dev/null
  [ -n "$test_cm" ] && "$kubectl" delete configmap -n default "$test_cm" --ignore-not-found \
    >/dev/null 2>&1
  [ -n "$cluster_dir" ] && scripts/cluster-down --dir "$cluster_dir" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

kubectl="$root/scripts/kubectl"
informerd="${INFORMERD_BIN:-$INFORMERD_BUILD/server/informerd}"
yaml_py="$INFORMERD_VENV/bin/python"
[ -x "$yaml_py" ] && "$yaml_py" -c 'import yaml' 2>/dev/null || yaml_py=python3

echo "== manifests agree with each other"
if "$kubectl" kustomize deploy/ >"$tmp/rendered.yaml" 2>"$tmp/err"; then
  pass "kustomize renders deploy/"
else
  fail "kustomize renders deploy/"; sed 's/^/    /' "$tmp/err"; finish
fi
# Every consistency fact at once, from the rendered objects; one line per check.
"$yaml_py" - "$tmp/rendered.yaml" deploy/servicemonitor.yaml >"$tmp/static" 2>&1 <<'PY'
import sys, yaml
objs = [o for o in yaml.safe_load_all(open(sys.argv[1])) if o]
by = {(o["kind"], o["metadata"]["name"]): o for o in objs}
def out(ok, name, detail=""):
    print(("PASS " if ok else "FAIL ") + name + (f" ({detail})" if detail else ""))

cm = by[("ConfigMap", "informerd-config")]
config = yaml.safe_load(cm["data"]["config.yaml"])
resources = sorted(r if isinstance(r, str) else r["name"] for r in config["resources"])
rules = by[("ClusterRole", "informerd")]["rules"]
granted = sorted(r for rule in rules for r in rule["resources"])
verbs = sorted({v for rule in rules for v in rule["verbs"]})
out(granted == resources, "ClusterRole grants exactly the configured resources",
    f"config {resources}, role {granted}")
out(verbs == ["get", "list", "watch"], "ClusterRole verbs are get/list/watch only", str(verbs))
out(all(rule.get("apiGroups") == [""] for rule in rules), "ClusterRole rules name their API group")
crb = by[("ClusterRoleBinding", "informerd")]
sa = by[("ServiceAccount", "informerd")]
out(crb["roleRef"]["name"] == "informerd" and crb["subjects"] == [
    {"kind": "ServiceAccount", "name": sa["metadata"]["name"],
     "namespace": sa["metadata"]["namespace"]}], "ClusterRoleBinding binds the role to the SA")

dep = by[("Deployment", "informerd")]
pod = dep["spec"]["template"]["spec"]
c = pod["containers"][0]
out(pod["serviceAccountName"] == sa["metadata"]["name"], "Deployment runs as the ServiceAccount")
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
listen = config["listen"] if isinstance(config["listen"], list) else [config["listen"]]
out([f"0.0.0.0:{ports.get('grpc')}"] == listen, "container port grpc = config listen",
    f"{ports.get('grpc')} vs {listen}")
out(f"0.0.0.0:{ports.get('metrics')}" == config["metrics_listen"],
    "container port metrics = config metrics_listen")
for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"),
                    ("startupProbe", "/healthz")):
    p = c.get(probe, {}).get("httpGet", {})
    out(p.get("port") in ("metrics", ports.get("metrics")) and p.get("path") == path,
        f"{probe} is an HTTP {path} probe on the metrics port (open without credentials)")
vols = {v["name"]: v for v in pod["volumes"]}
mount = next((m for m in c["volumeMounts"] if vols[m["name"]].get("configMap", {}).get("name")
              == cm["metadata"]["name"]), None)
out(mount is not None and f"--config={mount['mountPath']}/config.yaml" in c["args"],
    "--config points at the mounted ConfigMap")
# Access control on by default, TLS from the Secret.
out(config.get("auth") is True, "config turns auth on (TokenReview + SubjectAccessReview)")
tls_mount = next((m for m in c["volumeMounts"]
                  if vols[m["name"]].get("secret", {}).get("secretName") == "informerd-tls"), None)
out(tls_mount is not None and config.get("tls_cert_file") == f"{tls_mount['mountPath']}/tls.crt"
    and config.get("tls_key_file") == f"{tls_mount['mountPath']}/tls.key",
    "TLS files come from the mounted Secret informerd-tls")
# Secrets (docs/security.md): listed or not, informerd never holds their data here.
secret_entries = [r for r in config["resources"]
                  if (r if isinstance(r, str) else r["name"]).split(".")[0].lower()
                  in ("secrets", "secret")]
out(all(isinstance(r, str) or r.get("projection", "metadata") == "metadata" for r in secret_entries)
    and not config.get("allow_secret_data"),
    "Secrets, if listed, are cached as metadata only (no projection: full, no allow_secret_data)",
    f"secrets entries {secret_entries}, allow_secret_data {config.get('allow_secret_data')}")
deleg = by.get(("ClusterRoleBinding", "informerd:auth-delegator"))
out(deleg is not None and deleg["roleRef"]["name"] == "system:auth-delegator" and deleg["subjects"] == [
    {"kind": "ServiceAccount", "name": sa["metadata"]["name"],
     "namespace": sa["metadata"]["namespace"]}], "the ServiceAccount is bound to system:auth-delegator")
np = by.get(("NetworkPolicy", "informerd"))
out(np is not None and np["spec"]["podSelector"]["matchLabels"].items()
    <= dep["spec"]["template"]["metadata"]["labels"].items()
    and set(np["spec"]["policyTypes"]) == {"Ingress", "Egress"},
    "a NetworkPolicy selects the pods and denies by default (Ingress and Egress)")
out(np is not None and {p["port"] for rule in np["spec"]["ingress"] for p in rule["ports"]}
    == {"grpc", "metrics"}, "the NetworkPolicy lets in only the grpc and metrics ports")
sc, psc = c["securityContext"], pod["securityContext"]
out(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 65532, "pod runs as non-root 65532")
out(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
    and sc.get("capabilities", {}).get("drop") == ["ALL"], "container: read-only root, no privileges")
out("requests" in c.get("resources", {}) and "memory" in c["resources"].get("limits", {}),
    "container has resource requests and a memory limit")

svc = by[("Service", "informerd")]
out(svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items(),
    "Service selects the Deployment's pods")
out(all(p["targetPort"] in ports for p in svc["spec"]["ports"]),
    "Service targetPorts are container port names")
sm = yaml.safe_load(open(sys.argv[2]))
out(sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    and sm["spec"]["namespaceSelector"]["matchNames"] == [svc["metadata"]["namespace"]],
    "ServiceMonitor selects the Service")
out({e["port"] for e in sm["spec"]["endpoints"]} <= {p["name"] for p in svc["spec"]["ports"]},
    "ServiceMonitor scrapes a Service port by name")
out(("ServiceMonitor", "informerd") not in by, "ServiceMonitor is not in the default kustomization")
PY
while read -r verdict rest; do
  case "$verdict" in
    PASS) pass "$rest" ;;
    FAIL) fail "$rest" ;;
    *) fail "manifest check crashed: $verdict $rest" ;;
  esac
done <"$tmp/static"

echo "== cluster"
if [ -n "${INFORMERD_TEST_KUBECONFIG:-}" ]; then
  export KUBECONFIG="$INFORMERD_TEST_KUBECONFIG"
  echo "    using $KUBECONFIG"
else
  cluster_dir="$tmp/cluster"
  if line="$(scripts/cluster-up --dir "$cluster_dir" 2>"$tmp/cluster-up.err" | tail -n1)" &&
    [[ $line == KUBECONFIG=* ]]; then
    export KUBECONFIG="${line#KUBECONFIG=}"
    pass "scripts/cluster-up started a kube-apiserver"
  else
    fail "scripts/cluster-up started a kube-apiserver"; tail -20 "$tmp/cluster-up.err" | sed 's/^/    /'
    finish
  fi
fi
check "the API server answers /readyz" "$kubectl" get --raw /readyz

echo "== apply deploy/"
# A server-side dry run of namespaced objects needs their namespace to exist (a dry-run Namespace
# is not stored): dry-run the Namespace, create it, then dry-run everything.
"$yaml_py" -c '
import sys, yaml
print(yaml.safe_dump_all([o for o in yaml.safe_load_all(open(sys.argv[1])) if o and o["kind"] == "Namespace"]))
' "$tmp/rendered.yaml" >"$tmp/namespace.yaml"
check "kubectl apply --dry-run=server the Namespace" \
  "$kubectl" apply --dry-run=server -f "$tmp/namespace.yaml"
check "kubectl apply the Namespace" "$kubectl" apply -f "$tmp/namespace.yaml"
if "$kubectl" apply --dry-run=server -k deploy/ >"$tmp/dry.out" 2>"$tmp/dry.err"; then
  pass "kubectl apply --dry-run=server -k deploy/"
else
  fail "kubectl apply --dry-run=server -k deploy/"; sed 's/^/    /' "$tmp/dry.err"
fi
# Pod Security admission warns (not refuses) for a Deployment whose pods would break the
# namespace's level; a warning here means the pods would be refused.
check "the server has no warning for deploy/ (restricted Pod Security level met)" \
  bash -c "grep -q 'deployment.apps/informerd' '$tmp/dry.out' && ! grep -i warning '$tmp/dry.err'"
if "$kubectl" apply -k deploy/ >"$tmp/apply.out" 2>"$tmp/apply.err"; then
  pass "kubectl apply -k deploy/"
else
  fail "kubectl apply -k deploy/"; sed 's/^/    /' "$tmp/apply.err"
fi
while read -r kind name namespace; do
  ns_args=()
  [ "$namespace" != "-" ] && ns_args=(-n "$namespace")
  check "$kind $name is present" "$kubectl" get "${ns_args[@]}" "$kind/$name" -o name
done < <("$yaml_py" -c '
import sys, yaml
for o in yaml.safe_load_all(open(sys.argv[1])):
    if o: print(o["kind"].lower(), o["metadata"]["name"], o["metadata"].get("namespace", "-"))
' "$tmp/rendered.yaml")
check "the Deployment kept its HTTP probes server-side" test "$("$kubectl" get -n informerd \
  deployment/informerd -o jsonpath='{.spec.template.spec.containers[0].readinessProbe.httpGet.path}')" = /readyz

echo "== RBAC is minimal"
sa_user=system:serviceaccount:informerd:informerd
can() { "$kubectl" auth can-i "$@" --as="$sa_user" 2>/dev/null; }
for verb in get list watch; do
  for res in configmaps namespaces; do
    check "the ServiceAccount may $verb $res" test "$(can "$verb" "$res" -A)" = yes
  done
done
for review in tokenreviews.authentication.k8s.io subjectaccessreviews.authorization.k8s.io; do
  check "the ServiceAccount may create ${review%%.*} (system:auth-delegator)" \
    test "$(can create "$review")" = yes
done
for denied in "list secrets -A" "get secrets -n informerd" "list pods -A" "create configmaps -n default" \
  "delete namespaces" "watch deployments.apps -A"; do
  # shellcheck disable=SC2086
  check "the ServiceAccount may not $denied" test "$(can $denied)" = no
done

echo "== docker-compose's RBAC step (the rbac service's apply, here)"
# compose runs `kubectl apply` of these two files as admin; its informerd is the token user
# `informerd`, which must end up with exactly the ServiceAccount's rights.
if scripts/compose-kubeconfig "$tmp/compose" >/dev/null 2>&1; then
  check "compose's RBAC files apply" "$kubectl" apply -f deploy/clusterrole.yaml \
    -f "$tmp/compose/rbac.yaml"
  check "compose's informerd user may list configmaps" \
    test "$("$kubectl" auth can-i list configmaps -A --as=informerd 2>/dev/null)" = yes
  check "compose's informerd user may watch namespaces" \
    test "$("$kubectl" auth can-i watch namespaces --as=informerd 2>/dev/null)" = yes
  check "compose's informerd user may create tokenreviews (--auth)" \
    test "$("$kubectl" auth can-i create tokenreviews.authentication.k8s.io --as=informerd 2>/dev/null)" = yes
  check "compose's informerd user may not list secrets" \
    test "$("$kubectl" auth can-i list secrets -A --as=informerd 2>/dev/null)" = no
else
  fail "scripts/compose-kubeconfig generates the compose directory"
fi

echo "== informerd in-cluster"
if [ ! -x "$informerd" ]; then
  fail "informerd is built ($informerd)"
  finish
fi
server="$("$kubectl" config view --minify --raw -o jsonpath='{.clusters[0].cluster.server}')"
hostport="${server#https://}"
hostport="${hostport%%/*}"
api_host="${hostport%:*}"
api_port="${hostport##*:}"
sa_dir="$tmp/serviceaccount"
mkdir -p "$sa_dir"
if "$kubectl" create token informerd -n informerd --duration=1h >"$sa_dir/token" 2>"$tmp/err"; then
  pass "kubectl create token informerd -n informerd"
else
  fail "kubectl create token informerd -n informerd"; sed 's/^/    /' "$tmp/err"; finish
fi
ca_data="$("$kubectl" config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
ca_file="$("$kubectl" config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority}')"
if [ -n "$ca_data" ]; then base64 -d <<<"$ca_data" >"$sa_dir/ca.crt"; else cp "$ca_file" "$sa_dir/ca.crt"; fi
printf informerd >"$sa_dir/namespace"
chmod 0755 "$sa_dir" && chmod 0644 "$sa_dir"/*
check "the token authenticates as $sa_user" bash -c "'$kubectl' auth whoami --token=\"\$(cat '$sa_dir/token')\" \
  --server='$server' --certificate-authority='$sa_dir/ca.crt' --kubeconfig=/dev/null -o jsonpath='{.status.userInfo.username}' | grep -qx '$sa_user'"
check "the token cannot list secrets" bash -c "! '$kubectl' get secrets -A --token=\"\$(cat '$sa_dir/token')\" \
  --server='$server' --certificate-authority='$sa_dir/ca.crt' --kubeconfig=/dev/null"

# What the pod would run: the Deployment's args and the ConfigMap's config, from the API server.
"$kubectl" get configmap -n informerd informerd-config -o jsonpath='{.data.config\.yaml}' \
  >"$tmp/config.yaml"
mapfile -t args < <("$kubectl" get deployment -n informerd informerd \
  -o jsonpath='{range .spec.template.spec.containers[0].args[*]}{@}{"\n"}{end}')
config_mount="$("$kubectl" get deployment -n informerd informerd \
  -o jsonpath='{.spec.template.spec.containers[0].volumeMounts[?(@.name=="config")].mountPath}')"
args=("${args[@]//$config_mount\/config.yaml/$tmp/config.yaml}")
# Loopback and free ports instead of the pod's 0.0.0.0:50051 (flags win over the config); the
# Secret informerd-tls's files from scripts/make-tls-secret where the pod mounts them.
args+=(--listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0)
tls_dir="$tmp/tls"
if scripts/make-tls-secret --no-apply --dir "$tls_dir" >/dev/null 2>"$tmp/err"; then
  pass "scripts/make-tls-secret makes a CA and serving certificate"
else
  fail "scripts/make-tls-secret makes a CA and serving certificate"; sed 's/^/    /' "$tmp/err"
fi
chmod 0755 "$tls_dir" && chmod 0644 "$tls_dir/tls.key"  # the pod's Secret volume is readable to it
args+=(--tls_cert_file="$tls_dir/tls.crt" --tls_key_file="$tls_dir/tls.key")
echo "    informerd ${args[*]}"
echo "    KUBERNETES_SERVICE_HOST=$api_host KUBERNETES_SERVICE_PORT=$api_port"

sa_mount=/var/run/secrets/kubernetes.io/serviceaccount
run_dir="$(readlink -f /var/run)"
as_user=()
command -v setpriv >/dev/null && as_user=(setpriv --reuid=65532 --regid=65532 --clear-groups)
# A private mount namespace: a tmpfs over /run (nothing on this machine changes) holding the
# service account directory where a pod has it.
if unshare --mount --propagation private true 2>/dev/null; then
  KUBERNETES_SERVICE_HOST="$api_host" KUBERNETES_SERVICE_PORT="$api_port" \
    unshare --mount --propagation private bash -c '
      set -e
      mount -t tmpfs -o mode=0755 tmpfs "$1"
      mkdir -p "$2"
      mount --bind "$3" "$2"
      shift 3
      exec "$@"' _ "$run_dir" "$sa_mount" "$sa_dir" "${as_user[@]}" "$informerd" "${args[@]}" \
    >"$tmp/informerd.log" 2>&1 &
  informerd_pid=$!
else
  skip "informerd in-cluster (unshare --mount is not permitted here: run as root)"
  finish
fi
grpc_port=""
for _ in $(seq 1 100); do
  grpc_port="$(grep -o '"grpc_port":"[0-9]*"' "$tmp/informerd.log" | grep -o '[0-9]\+' | head -1)"
  [ -n "$grpc_port" ] && break
  kill -0 "$informerd_pid" 2>/dev/null || break
  sleep 0.1
done
metrics_port="$(grep -o '"metrics_port":"[0-9]*"' "$tmp/informerd.log" | grep -o '[0-9]\+' | head -1)"
if [ -n "$grpc_port" ]; then
  pass "informerd started (gRPC 127.0.0.1:$grpc_port, metrics 127.0.0.1:${metrics_port:-?})"
else
  fail "informerd started"; tail -20 "$tmp/informerd.log" | sed 's/^/    /'; finish
fi
check "informerd took the in-cluster config" grep -q 'in-cluster' "$tmp/informerd.log"
if ((${#as_user[@]})); then
  check "informerd runs as uid 65532, as in the pod" grep -Eq '^Uid:\s+65532\s' "/proc/$informerd_pid/status"
else
  skip "informerd runs as uid 65532 (no setpriv here)"
fi

# The probe the image's HEALTHCHECK runs, at the Dockerfile's version (gRPC's C++ health service
# is not in the reflection data grpcurl needs); scripts/setup installs it.
probe_module="$(grep -o 'github.com/grpc-ecosystem/grpc-health-probe@v[0-9.]*' Dockerfile)"
probe="$INFORMERD_TOOLS/bin/grpc-health-probe"
check "scripts/setup installs the Dockerfile's probe (${probe_module:-none in the Dockerfile})" \
  grep -qF "install_go_tool grpc-health-probe ${probe_module:-?}" scripts/setup
check "grpc-health-probe is installed ($probe: run scripts/setup)" test -x "$probe"
health=""
for _ in $(seq 1 120); do
  health="$("$probe" -addr=127.0.0.1:"$grpc_port" -tls -tls-ca-cert="$tls_dir/ca.crt" \
    -connect-timeout=2s -rpc-timeout=2s 2>&1)"
  grep -qx 'status: SERVING' <<<"$health" && break
  kill -0 "$informerd_pid" 2>/dev/null || break
  sleep 0.5
done
if grep -qx 'status: SERVING' <<<"$health"; then
  pass "gRPC health reports SERVING (every configured resource synced)"
else
  fail "gRPC health reports SERVING"; echo "    $health"; tail -20 "$tmp/informerd.log" | sed 's/^/    /'
fi
if [ -n "$metrics_port" ]; then
  check "/healthz on the metrics port says ok" curl -fsS "http://127.0.0.1:$metrics_port/healthz"
  check "/readyz on the metrics port says ok without a token" \
    curl -fsS "http://127.0.0.1:$metrics_port/readyz"
  check "/metrics without a token is 401" test "$(curl -s -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$metrics_port/metrics")" = 401
fi

# A controller's credentials: a token of audience informerd. The informerd ServiceAccount's own
# may read what it caches (a real controller has its own ServiceAccount and RBAC).
client_token="$("$kubectl" create token informerd -n informerd --audience informerd --duration=1h)"
grpcurl_tls=(-cacert "$tls_dir/ca.crt" -H "authorization: Bearer $client_token")
unauthenticated="$(grpcurl -cacert "$tls_dir/ca.crt" -max-time 5 \
  -d '{"resource":"configmaps","namespace":"default"}' 127.0.0.1:"$grpc_port" \
  informer.v1.InformerService/List 2>&1)"
check "a call without a token is Unauthenticated" grep -q 'Code: Unauthenticated' <<<"$unauthenticated"
plaintext="$(grpcurl -plaintext -max-time 5 -d '{"resource":"configmaps"}' 127.0.0.1:"$grpc_port" \
  informer.v1.InformerService/List 2>&1)"
check "plaintext is refused on the TLS port" bash -c '! grep -q "\"objects\"" <<<"$1"' _ "$plaintext"

test_cm="informerd-deploy-test-$$-$RANDOM"
check "create ConfigMap default/$test_cm" "$kubectl" create configmap -n default "$test_cm" \
  --from-literal=made-by=deploy_test
found=""
for _ in $(seq 1 60); do
  listed="$(grpcurl "${grpcurl_tls[@]}" -max-time 5 -d '{"resource":"configmaps","namespace":"default"}' \
    127.0.0.1:"$grpc_port" informer.v1.InformerService/List 2>&1)"
  grep -q "\"name\": \"$test_cm\"" <<<"$listed" && { found=1; break; }
  sleep 0.5
done
if [ -n "$found" ]; then
  pass "the new ConfigMap appears in informerd's List"
else
  fail "the new ConfigMap appears in informerd's List"; head -20 <<<"$listed" | sed 's/^/    /'
fi
namespaces="$(grpcurl "${grpcurl_tls[@]}" -max-time 5 -d '{"resource":"namespaces"}' 127.0.0.1:"$grpc_port" \
  informer.v1.InformerService/List 2>&1)"
check "namespaces are cached too (informerd is listed)" grep -q '"name": "informerd"' <<<"$namespaces"
secrets="$(grpcurl "${grpcurl_tls[@]}" -max-time 5 -d '{"resource":"secrets"}' 127.0.0.1:"$grpc_port" \
  informer.v1.InformerService/List 2>&1)"
if grep -q '"objects"' <<<"$secrets"; then
  fail "secrets are not served (not configured, not permitted)"; head -5 <<<"$secrets" | sed 's/^/    /'
else
  pass "secrets are not served (not configured, not permitted): $(grep -m1 -o 'Code: [A-Za-z]*' <<<"$secrets")"
fi

kill -TERM "$informerd_pid" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$informerd_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$informerd_pid" 2>/dev/null; then
  fail "informerd exits within 10s of SIGTERM"
else
  wait "$informerd_pid"
  check "informerd exits 0 on SIGTERM" test $? -eq 0
  informerd_pid=""
fi

finish
