#!/usr/bin/env bash
# .ci/python-venv.sh — the Python virtual environment of the end-to-end suite's Python MCP client
# (tests/python/client.py, used by tests/e2e/python-sdk.test.mjs).
#
# Creates ${MCP_GATE_VENV:-<repo>/.venv-mcp} with the machine's python3 and installs
# tests/python/requirements.txt into it. Idempotent: when the venv exists and a stamp records that
# exactly these requirements were installed with this python3, it does nothing (milliseconds).
# On Debian without python3-venv (`python3 -m venv` fails for want of ensurepip) it installs
# python3-venv with apt-get when run as root.
#
# The last line printed on stdout is the venv's python path. Exits non-zero when the venv cannot
# be made (e.g. no route to PyPI): the tests that need it then fail, they do not skip.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MCP_GATE_VENV:-$REPO/.venv-mcp}
REQUIREMENTS=$REPO/tests/python/requirements.txt
PY=$VENV/bin/python
STAMP=$VENV/.mcp-gate-requirements

log() { printf 'python-venv: %s\n' "$*" >&2; }

command -v python3 >/dev/null || { log "python3 not found on PATH"; exit 1; }
HOST_PY=$(command -v python3)
HOST_VERSION=$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
# What the stamp must say: the host interpreter's version and the requirements' content.
WANT="python $HOST_VERSION
$(cat "$REQUIREMENTS")"

# (importlib.metadata, not `import mcp`: the import alone takes seconds)
if [[ -x $PY && -f $STAMP ]] && [[ "$(cat "$STAMP")" == "$WANT" ]] \
  && "$PY" -c 'import importlib.metadata as m; m.version("mcp")' 2>/dev/null; then
  echo "$PY"
  exit 0
fi

VENV_LOG=$(mktemp "${TMPDIR:-/tmp}/mcp-gate-venv.XXXXXX")
trap 'rm -f "$VENV_LOG"' EXIT
make_venv() { python3 -m venv --clear "$VENV" >"$VENV_LOG" 2>&1; }

log "creating $VENV with $HOST_PY ($HOST_VERSION)"
if ! make_venv; then
  cat "$VENV_LOG" >&2
  # Debian's python3 without python3-venv: "ensurepip is not available ... apt install python3.X-venv".
  if grep -qi 'ensurepip\|python3.*-venv' "$VENV_LOG" && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "python3 -m venv failed for want of ensurepip; installing python3-venv with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    VENV_PKG=python3-venv
    # The message names the exact package (e.g. python3.11-venv) when python3-venv alone is not enough.
    if pkg=$(grep -o 'python3\.[0-9]*-venv' "$VENV_LOG" | head -n 1) && [[ -n $pkg ]]; then VENV_PKG="python3-venv $pkg"; fi
    # shellcheck disable=SC2086
    apt-get install -y $VENV_PKG >&2 || { apt-get update >&2 && apt-get install -y $VENV_PKG >&2; }
    make_venv || { cat "$VENV_LOG" >&2; exit 1; }
  else
    log "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    exit 1
  fi
fi

log "installing $(tr '\n' ' ' <"$REQUIREMENTS")"
"$PY" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
"$PY" -c 'import mcp' >&2
printf '%s\n' "$WANT" >"$STAMP"
echo "$PY"
