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
#      here shows up in List;
#   5. the Helm chart deploy/helm/informerd: `helm lint --strict`, its default `helm template`
#      equals `kustomize build deploy/` object by object (and the ServiceMonitor toggle equals
#      servicemonitor.yaml), a render with every value changed shows each value's effect, and
#      the rendered chart passes a server-side dry run and applies over deploy/'s objects;
#   6. every metric deploy/grafana-dashboard.json queries is one the running informerd exports
#      (scraped with a metrics-reader token), and the check rejects a doctored dashboard.
# Prints `N passed, N failed`; exits non-zero when a check failed. Objects it creates in an
# existing cluster are kept (deploy/ is applied idempotently) except its test ConfigMap and its
# metrics scraper (a ServiceAccount and its binding).
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
scraper_made=""
cleanup() {
  [ -n "$informerd_pid" ] && kill "$informerd_pid" 2>/dev/null
  [ -n "$test_cm" ] && "$kubectl" delete configmap -n default "$test_cm" --ignore-not-found \
    >/dev/null 2>&1
  if [ -n "$scraper_made" ]; then
    "$kubectl" delete clusterrolebinding informerd-deploy-test-scraper --ignore-not-found >/dev/null 2>&1
    "$kubectl" delete serviceaccount -n informerd informerd-deploy-test-scraper --ignore-not-found \
      >/dev/null 2>&1
  fi
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

echo "== Helm chart (deploy/helm/informerd) renders what deploy/ does"
helm="$INFORMERD_TOOLS/bin/helm"
chart=deploy/helm/informerd
chart_ok=""
if [ ! -x "$helm" ]; then
  fail "helm is installed ($helm: run scripts/setup)"
else
  check "helm lint --strict $chart" "$helm" lint --strict "$chart"
  # Every value the chart offers, changed at once: its own namespace handling, resources of
  # three API groups (RBAC derived from them), TLS, auth and the NetworkPolicy off, ports,
  # image, limits, the ServiceMonitor on, extra config keys.
  cat >"$tmp/variant-values.yaml" <<'YAML'
namespace: {name: "", create: false}
name: informerd-variant
image: {repository: registry.example/informerd, tag: "1.2.3"}
informer:
  resources:
    - pods
    - deployments.apps
    - {name: widgets.v1.example.com, namespace: team-a}
    - {name: secrets, projection: metadata}
  indexes: ["label:app"]
listen: {grpcPort: 7000, metricsPort: 7001}
tls: {enabled: false}
auth: {enabled: false}
extraConfig: {history_size: 5000}
resources: {requests: {cpu: 200m, memory: 256Mi}, limits: {memory: 1Gi}}
networkPolicy: {enabled: false}
serviceMonitor: {enabled: true, labels: {release: prometheus}}
YAML
  check "helm lint --strict $chart with every value changed" \
    "$helm" lint --strict "$chart" -f "$tmp/variant-values.yaml"
  if "$helm" template informerd "$chart" >"$tmp/chart.yaml" 2>"$tmp/err" &&
    "$helm" template informerd "$chart" --set serviceMonitor.enabled=true \
      --show-only templates/servicemonitor.yaml >"$tmp/chart-sm.yaml" 2>>"$tmp/err" &&
    "$helm" template informerd "$chart" -n informerd -f "$tmp/variant-values.yaml" \
      >"$tmp/chart-variant.yaml" 2>>"$tmp/err"; then
    pass "helm template renders the chart (defaults, ServiceMonitor on, every value changed)"
    chart_ok=1
  else
    fail "helm template renders the chart"; sed 's/^/    /' "$tmp/err"
  fi
fi
if [ -n "$chart_ok" ]; then
  "$yaml_py" - "$tmp/rendered.yaml" "$tmp/chart.yaml" deploy/servicemonitor.yaml "$tmp/chart-sm.yaml" \
    "$tmp/chart-variant.yaml" >"$tmp/chart-static" 2>&1 <<'PY'
import sys, yaml
kust_path, chart_path, sm_path, chart_sm_path, variant_path = sys.argv[1:]
def out(ok, name, detail=""):
    print(("PASS " if ok else "FAIL ") + name + (f" ({detail})" if detail and not ok else ""))
def load(path):
    return [o for o in yaml.safe_load_all(open(path)) if o]
def norm(o):
    # The one normalisation: a ConfigMap's *.yaml data is compared as YAML (comments and key
    # order are not what informerd reads).
    if o["kind"] == "ConfigMap":
        o["data"] = {k: yaml.safe_load(v) if k.endswith(".yaml") else v for k, v in o["data"].items()}
    return o
def key(o):
    return (o["apiVersion"], o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
def diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a: yield f"{path}.{k}: only in the chart ({b[k]!r})"
            elif k not in b: yield f"{path}.{k}: missing in the chart (kustomize {a[k]!r})"
            else: yield from diff(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)): yield from diff(x, y, f"{path}[{i}]")
    elif a != b:
        yield f"{path}: kustomize {a!r}, chart {b!r}"
def compare(kust_objs, chart_objs, what):
    kust = {key(o): norm(o) for o in kust_objs}
    chart = {key(o): norm(o) for o in chart_objs}
    out(set(kust) == set(chart), f"{what}: the same objects",
        f"only kustomize {sorted(set(kust) - set(chart))}, only chart {sorted(set(chart) - set(kust))}")
    for k in sorted(set(kust) & set(chart)):
        d = list(diff(kust[k], chart[k]))
        out(not d, f"{what}: {k[1]} {k[3]} is equal", "; ".join(d[:5]))
compare(load(kust_path), load(chart_path), "default values = kustomize build deploy/")
compare(load(sm_path), load(chart_sm_path), "serviceMonitor.enabled = deploy/servicemonitor.yaml")

# The variant: every value took effect.
objs = load(variant_path)
by = {(o["kind"], o["metadata"]["name"]): o for o in objs}
kinds = sorted(k for k, _ in by)
out(all(o["metadata"].get("namespace") == "informerd" for o in objs
        if o["kind"] not in ("ClusterRole", "ClusterRoleBinding")) and "Namespace" not in kinds,
    "variant: namespace.name \"\" puts the objects in the release's namespace, create false renders none",
    str(kinds))
out("NetworkPolicy" not in kinds and ("ClusterRoleBinding", "informerd-variant:auth-delegator") not in by
    and ("ClusterRole", "informerd-variant:metrics-reader") not in by,
    "variant: no NetworkPolicy, no auth-delegator binding, no metrics-reader without auth", str(sorted(by)))
role = by.get(("ClusterRole", "informerd-variant"), {})
rules = {tuple(r["apiGroups"]): sorted(r["resources"]) for r in role.get("rules", [])}
want = {("",): ["pods", "secrets"], ("apps",): ["deployments"], ("example.com",): ["widgets"]}
out(rules == want and all(r["verbs"] == ["get", "list", "watch"] for r in role["rules"]),
    "variant: the ClusterRole grants get/list/watch on exactly the resources, per API group",
    f"{rules} != {want}")
config = yaml.safe_load(by[("ConfigMap", "informerd-variant-config")]["data"]["config.yaml"])
out(config.get("resources") == [
        "pods", "deployments.apps", {"name": "widgets.v1.example.com", "namespace": "team-a"},
        {"name": "secrets", "projection": "metadata"}]
    and config.get("indexes") == ["label:app"] and config.get("history_size") == 5000,
    "variant: the config holds the resources, indexes and extraConfig", str(config))
out(config.get("auth") is False and "tls_cert_file" not in config and "tls_key_file" not in config
    and config.get("listen") == ["0.0.0.0:7000"] and config.get("metrics_listen") == "0.0.0.0:7001",
    "variant: auth off, no TLS files, listen addresses from listen.*", str(config))
dep = by[("Deployment", "informerd-variant")]
c = dep["spec"]["template"]["spec"]["containers"][0]
vols = dep["spec"]["template"]["spec"]["volumes"]
out(c["image"] == "registry.example/informerd:1.2.3", "variant: the image", c["image"])
out({p["name"]: p["containerPort"] for p in c["ports"]} == {"grpc": 7000, "metrics": 7001}
    and all(p["targetPort"] in ("grpc", "metrics") for p in by[("Service", "informerd-variant")]["spec"]["ports"])
    and sorted(p["port"] for p in by[("Service", "informerd-variant")]["spec"]["ports"]) == [7000, 7001],
    "variant: container and Service ports from listen.*")
out(c["resources"] == {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    "variant: container resources", str(c["resources"]))
out(not any("secret" in v for v in vols) and not any(m["name"] == "tls" for m in c["volumeMounts"]),
    "variant: no TLS Secret volume with tls.enabled false", str(vols))
out(dep["spec"]["template"]["spec"]["serviceAccountName"] == "informerd-variant"
    and by[("ClusterRoleBinding", "informerd-variant")]["subjects"][0]["namespace"] == "informerd",
    "variant: the binding names the ServiceAccount in the release namespace")
sm = by.get(("ServiceMonitor", "informerd-variant"), {})
out(sm.get("metadata", {}).get("labels", {}).get("release") == "prometheus"
    and sm["spec"]["namespaceSelector"]["matchNames"] == ["informerd"],
    "variant: ServiceMonitor with its labels, selecting the release namespace", str(sm))
# What the cluster gets: all but the ServiceMonitor (its CRD is not installed there).
with open(variant_path + ".apply", "w") as f:
    yaml.safe_dump_all([o for o in objs if o["kind"] != "ServiceMonitor"], f)
PY
  while read -r verdict rest; do
    case "$verdict" in
      PASS) pass "$rest" ;;
      FAIL) fail "$rest" ;;
      *) fail "chart check crashed: $verdict $rest" ;;
    esac
  done <"$tmp/chart-static"
fi

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
generation="$("$kubectl" get -n informerd deployment/informerd -o jsonpath='{.metadata.generation}')"

echo "== apply the rendered chart"
if [ -n "$chart_ok" ]; then
  # Over what deploy/ created: the same objects, so the apply changes no spec; the dry run
  # before it must pass without a Pod Security warning, as deploy/'s does.
  if "$kubectl" apply --dry-run=server -f "$tmp/chart.yaml" >"$tmp/chart-dry.out" 2>"$tmp/chart-dry.err" &&
    grep -q 'deployment.apps/informerd' "$tmp/chart-dry.out" && ! grep -qi warning "$tmp/chart-dry.err"; then
    pass "kubectl apply --dry-run=server of the chart (default values): no warning"
  else
    fail "kubectl apply --dry-run=server of the chart (default values): no warning"
    sed 's/^/    /' "$tmp/chart-dry.err"
  fi
  check "kubectl apply of the chart (default values)" "$kubectl" apply -f "$tmp/chart.yaml"
  check "the chart's apply left the Deployment's spec as deploy/ made it (generation $generation)" \
    test "$("$kubectl" get -n informerd deployment/informerd -o jsonpath='{.metadata.generation}')" \
    = "$generation"
  if "$kubectl" apply --dry-run=server -f "$tmp/chart-variant.yaml.apply" >"$tmp/variant-dry.out" \
    2>"$tmp/variant-dry.err" && grep -q 'deployment.apps/informerd-variant' "$tmp/variant-dry.out" &&
    ! grep -qi warning "$tmp/variant-dry.err"; then
    pass "kubectl apply --dry-run=server of the chart with every value changed: no warning"
  else
    fail "kubectl apply --dry-run=server of the chart with every value changed: no warning"
    sed 's/^/    /' "$tmp/variant-dry.err"
  fi
else
  skip "applying the chart (it did not render)"
fi

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

echo "== the Grafana dashboard queries only metrics informerd exports"
# A scraper as the README sets up Prometheus: a ServiceAccount bound to the metrics-reader
# ClusterRole, with a token of audience informerd.
scraper=informerd-deploy-test-scraper
scraper_made=1
if { "$kubectl" create serviceaccount -n informerd "$scraper" --dry-run=client -o yaml &&
  echo --- && "$kubectl" create clusterrolebinding "$scraper" --dry-run=client -o yaml \
    --clusterrole=informerd:metrics-reader --serviceaccount="informerd:$scraper"; } |
  "$kubectl" apply -f - >/dev/null 2>"$tmp/err"; then
  pass "a ServiceAccount bound to informerd:metrics-reader"
else
  fail "a ServiceAccount bound to informerd:metrics-reader"; sed 's/^/    /' "$tmp/err"
fi
scrape_token="$("$kubectl" create token -n informerd "$scraper" --audience informerd --duration=10m 2>/dev/null)"
# A List first, so the call-latency histogram has a series (its # TYPE line is there anyway).
grpcurl "${grpcurl_tls[@]}" -max-time 5 -d '{"resource":"namespaces"}' 127.0.0.1:"$grpc_port" \
  informer.v1.InformerService/List >/dev/null 2>&1
if [ -n "$metrics_port" ] && curl -fsS -H "Authorization: Bearer $scrape_token" \
  "http://127.0.0.1:$metrics_port/metrics" >"$tmp/metrics.txt" 2>"$tmp/err"; then
  pass "/metrics with a metrics-reader token answers ($(grep -c '^# TYPE' "$tmp/metrics.txt") metric families)"
else
  fail "/metrics with a metrics-reader token answers"; sed 's/^/    /' "$tmp/err"
fi
cat >"$tmp/dashboard_check.py" <<'PY'
"""Prints PASS/FAIL lines: every metric the dashboard's PromQL names is one informerd exports."""
import json, re, sys

dashboard_path, metrics_path = sys.argv[1:]
# Exported families with their types (# TYPE), and sample names (a family without samples
# still has its # TYPE line).
types, samples = {}, set()
for line in open(metrics_path):
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split()[:4]
        types[name] = kind
    elif line.strip() and not line.startswith("#"):
        samples.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))

def known(name):
    if name in types or name in samples:
        return True
    # A histogram's series are NAME_bucket, NAME_sum, NAME_count; a summary's NAME_sum and
    # NAME_count. Only those: informerd_subscriber_lag_sum is a gauge of its own, and
    # informerd_subscriber_lag is no metric.
    for suffix, kinds in (("_bucket", {"histogram"}), ("_sum", {"histogram", "summary"}),
                          ("_count", {"histogram", "summary"})):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) in kinds:
            return True
    return False

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
            "and", "or", "unless", "inf", "nan"}

def metric_names(expr):
    names = set(re.findall(r'__name__\s*=\s*"([^"]+)"', expr))
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    e = re.sub(r"\{[^}]*\}", " ", e)       # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)      # range and subquery durations
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?[A-Za-z0-9_]+\}?", " ", e)  # Grafana variables
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        before = e[m.start() - 1] if m.start() else " "
        if before.isdigit() or before == ".":  # 1e3, 0.5
            continue
        if e[m.end():].lstrip().startswith("("):  # a function
            continue
        if m.group(0).lower() not in KEYWORDS:
            names.add(m.group(0))
    return names

def queries(dashboard):
    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))
    for p in panels(dashboard.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                yield f"panel {p.get('title')!r}", t["expr"]
    for v in dashboard.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else q or ""
        m = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*", q)
        yield f"variable ${v.get('name')}", m.group(1) if m else q

dashboard = json.load(open(dashboard_path))
used = {}
for where, expr in queries(dashboard):
    for name in metric_names(expr):
        used.setdefault(name, []).append(where)
unknown = {n: w for n, w in used.items() if not known(n)}
print(("PASS " if used else "FAIL ") + f"the dashboard's queries name {len(used)} metrics")
for name in sorted(unknown):
    print(f"FAIL unknown metric {name} (in {', '.join(sorted(set(unknown[name])))})")
if not unknown:
    print(f"PASS every metric the dashboard queries is one informerd exports ({len(types)} families)")
# What the dashboard is for (issue 19): each of these is on it.
wanted = ["informerd_cache_objects", "informerd_cache_bytes", "informerd_events_in_total",
          "informerd_events_out_total", "informerd_subscribers", "informerd_subscriber_lag_max",
          "informerd_coalesced_subscribers_total", "informerd_terminated_subscribers_total",
          "informerd_relists_total", "informerd_watch_restarts_total",
          "informerd_grpc_request_duration_seconds_bucket"]
missing = [n for n in wanted if n not in used]
print(("PASS " if not missing else "FAIL ") + "the dashboard shows objects, bytes, events in/out, "
      "subscribers, lag, coalesced and ended streams, relists, watch restarts, call latency"
      + (f" (missing {missing})" if missing else ""))
PY
if [ -s "$tmp/metrics.txt" ]; then
  "$yaml_py" "$tmp/dashboard_check.py" deploy/grafana-dashboard.json "$tmp/metrics.txt" \
    >"$tmp/dashboard-check" 2>&1
  while read -r verdict rest; do
    case "$verdict" in
      PASS) pass "$rest" ;;
      FAIL) fail "$rest" ;;
      *) fail "dashboard check crashed: $verdict $rest" ;;
    esac
  done <"$tmp/dashboard-check"
  # The check can fail: a dashboard with a misspelt metric, a gauge's _sum taken for a
  # histogram's (informerd_subscriber_lag) and a counter given a histogram suffix.
  "$yaml_py" - deploy/grafana-dashboard.json "$tmp/bad-dashboard.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["panels"].append({"type": "timeseries", "title": "bad", "targets": [
    {"refId": "A", "expr": 'sum by (resource) (rate(informerd_bogus_events_total{resource="x"}[5m]))'},
    {"refId": "B", "expr": "max(informerd_subscriber_lag) + on (le) informerd_events_in_total_count"}]})
json.dump(d, open(sys.argv[2], "w"))
PY
  "$yaml_py" "$tmp/dashboard_check.py" "$tmp/bad-dashboard.json" "$tmp/metrics.txt" >"$tmp/bad-check" 2>&1
  check "the dashboard check names every unknown metric of a bad dashboard, and only those" \
    test "$(grep -o '^FAIL unknown metric [a-z_]*' "$tmp/bad-check" | sort | tr '\n' ' ')" = \
    "FAIL unknown metric informerd_bogus_events_total FAIL unknown metric informerd_events_in_total_count FAIL unknown metric informerd_subscriber_lag "
else
  fail "the dashboard check has metrics to compare with"
fi

echo "== informerd serves the cache"
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
