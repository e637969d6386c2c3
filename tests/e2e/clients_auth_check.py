"""A client informer against informerd with TLS and --auth (run by clients_e2e_test.sh):
its token file is rotated on disk and the token its stream was opened with is revoked; the
stream ends UNAUTHENTICATED, the informer resumes by resourceVersion with the re-read token, and
its store ends equal to the API server's, with nothing lost.

Environment: ADDR (informerd, --auth, --auth_token_ttl and --auth_allow_ttl of a few seconds),
CA (its CA file), KUBECTL (a kubectl as admin), NS (a namespace of our own), WORK (a directory).
Prints PASS/FAIL lines; exits 1 when a check failed.
"""

import json
import os
import subprocess
import sys
import time

import informerd

ADDR, CA, KUBECTL, NS, WORK = (os.environ[k] for k in ("ADDR", "CA", "KUBECTL", "NS", "WORK"))
failed = 0


def check(ok: bool, name: str) -> None:
    global failed
    print(("PASS " if ok else "FAIL ") + name, flush=True)
    failed += 0 if ok else 1


def kubectl(*args: str) -> str:
    return subprocess.run([KUBECTL, *args], check=True, capture_output=True, text=True).stdout


def token(*extra: str) -> str:
    return kubectl("create", "token", "reader", "-n", NS, "--audience", "informerd",
                   "--duration", "600s", *extra).strip()


def write_token(path: str, value: str) -> None:
    with open(path + ".new", "w") as f:  # as the kubelet: replace the file atomically
        f.write(value)
    os.replace(path + ".new", path)


def server_view() -> dict:
    items = json.loads(kubectl("get", "configmaps", "-n", NS, "-o", "json"))["items"]
    return {f"{NS}/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in items}


def wait(cond, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


kubectl("create", "namespace", NS)
kubectl("create", "serviceaccount", "reader", "-n", NS)
kubectl("create", "role", "reader", "-n", NS, "--verb=get,list,watch", "--resource=configmaps")
kubectl("create", "rolebinding", "reader", "-n", NS, "--role=reader", f"--serviceaccount={NS}:reader")
kubectl("create", "secret", "generic", "binding", "-n", NS)
for i in range(3):
    kubectl("create", "configmap", f"before-{i}", "-n", NS, f"--from-literal=i={i}")

token_file = os.path.join(WORK, "token")
# The first token is bound to a Secret: deleting the Secret revokes it.
write_token(token_file, token("--bound-object-kind", "Secret", "--bound-object-name", "binding"))
channel = informerd.secure_channel(ADDR, ca_file=CA, token_file=token_file, token_reread=0.5)
client = informerd.Client(channel=channel)
errors = []
inf = informerd.Informer(client, "configmaps", namespace=NS, initial_backoff=0.2, max_backoff=1.0,
                         on_error=errors.append)
inf.start()
check(inf.wait_for_sync(30), "the informer syncs over TLS with a projected-style token file")
check(set(inf.store.list_keys()) == set(server_view()), "its store holds the namespace's objects")

# The kubelet rotates the file; then the old token is revoked while the stream is open.
write_token(token_file, token())
kubectl("delete", "secret", "binding", "-n", NS)
for i in range(5):
    kubectl("create", "configmap", f"during-{i}", "-n", NS, f"--from-literal=i={i}")
    time.sleep(1)
check(wait(lambda: any(e.code.name == "UNAUTHENTICATED" for e in errors), 30),
      "the stream opened with the revoked token ended UNAUTHENTICATED")
for i in range(3):
    kubectl("create", "configmap", f"after-{i}", "-n", NS, f"--from-literal=i={i}")
truth = server_view()
check(wait(lambda: inf.store.resource_versions() == truth, 30),
      f"the store equals the API server's ({len(truth)} objects): nothing lost")
stats = inf.stats()
check(stats.resource_version_starts >= 1,
      f"it resumed by resourceVersion from the trailer ({stats})")
check(client.get("configmaps", NS, "after-0") is not None, "direct reads use the rotated token")
inf.stop(5)
client.close()
channel.close()

# The example controller with auth on: TLS and the token file, as in a Pod (environment).
kubectl("create", "configmap", "demo", "-n", NS, "--from-literal=a=1", "--from-literal=b=2")
kubectl("label", "configmap", "demo", "-n", NS, "app=demo")
example = os.path.join(os.path.dirname(__file__), "../../clients/python/examples/configmap_summary.py")
env = dict(os.environ, INFORMERD_CA_FILE=CA, INFORMERD_TOKEN_FILE=token_file)
controller = subprocess.Popen(
    [sys.executable, example, "--informerd", ADDR, "--namespace", NS],
    env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(WORK, "example.log"), "w"),
)
try:
    annotated = wait(lambda: json.loads(kubectl("get", "configmap", "demo", "-n", NS, "-o", "json"))
                     ["metadata"].get("annotations", {}).get("informerd.dev/summary") == "2 keys: a,b",
                     60)
    check(annotated, "the example controller runs with auth on (TLS + token file) and writes its summary")
finally:
    controller.terminate()
    controller.wait(10)
sys.exit(1 if failed else 0)
