#!/usr/bin/env bash
# .ci/build-worker.sh — builds the Worker with `worker-build --release` into
# build/worker/shim.mjs (plus build/index.js and build/index_bg.wasm).
#
#   bash .ci/build-worker.sh             build (cargo makes it incremental)
#   bash .ci/build-worker.sh --if-stale  do nothing when build/worker/shim.mjs
#                                        is newer than every build input
#
# wrangler.toml's [build] command calls it with --if-stale, so that
# `wrangler deploy` builds, and `wrangler dev` starts in seconds when the
# build is current yet still rebuilds when a file under src/ changes.
#
# On a machine with rustup this needs only `rustup target add
# wasm32-unknown-unknown`; setup.sh installs worker-build and wasm-bindgen-cli
# at the versions Cargo.lock asks for (worker, wasm-bindgen).
set -euo pipefail

# Called from wrangler, whose own files live in node_modules: never let setup
# replace node_modules under a running wrangler, only fill it when missing.
export MCP_GATE_NPM_INSTALL=${MCP_GATE_NPM_INSTALL:-if-missing}
# shellcheck source=.ci/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$MCP_GATE_ROOT"

SHIM=build/worker/shim.mjs

# Inputs of the wasm build; a newer file in any of them makes the build stale.
build_is_current() {
  [[ -f $SHIM ]] || return 1
  local inputs=(src Cargo.toml Cargo.lock)
  [[ -e .cargo ]] && inputs+=(.cargo)
  [[ -e build.rs ]] && inputs+=(build.rs)
  [[ -z $(find "${inputs[@]}" -newer "$SHIM" -print -quit 2>/dev/null) ]]
}

# worker-build always keeps the wasm "name" section (function names for stack traces): a
# third of the module. The Worker aborts on panic and logs no wasm stack, so drop it: a smaller
# module uploads and compiles faster on a fresh isolate. No second optimisation pass: `-Oz`
# after worker-build's `-O` takes 6 KB off the module but makes a fresh isolate's first
# request compile 13 KB more (measured 2026-11-22). Same feature flags as worker-build.
strip_names() {
  local wasm=build/index_bg.wasm
  "$WASM_OPT_BIN" "$wasm" -o "$wasm.stripped" --strip-debug --strip-producers \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling
  mv "$wasm.stripped" "$wasm"
}

main() {
  if [[ ${1:-} == --if-stale ]] && build_is_current; then
    echo "[build-worker] $SHIM is up to date"
    return
  fi
  local started=$SECONDS
  # RUST_BACKTRACE from the caller's environment would turn every
  # worker-build error message into a stack dump.
  wasm_env env RUST_BACKTRACE=0 worker-build --release
  [[ -f $SHIM ]] || {
    echo "[build-worker] worker-build finished without $SHIM" >&2
    exit 1
  }
  strip_names
  # worker-build may leave the shim's mtime alone when nothing changed;
  # touch it so --if-stale sees the build as current.
  touch "$SHIM"
  echo "[build-worker] built $SHIM in $((SECONDS - started)) s ($(wc -c <build/index_bg.wasm 2>/dev/null || echo '?') bytes of wasm)"
}

main "$@"
