# Shared helpers for scripts/*. Source it; do not run it.
INFORMERD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Caches live outside the build tree so clean clones on the same machine reuse them.
INFORMERD_CACHE="${INFORMERD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/informerd}"
INFORMERD_TOOLS="$INFORMERD_CACHE/tools"
INFORMERD_VENV="$INFORMERD_CACHE/venv"
INFORMERD_BUILD="${INFORMERD_BUILD:-$INFORMERD_ROOT/build}"
export PATH="$INFORMERD_TOOLS/bin:$PATH"

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
