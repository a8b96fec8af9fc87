#!/usr/bin/env bash
# .ci/build-worker.sh — builds the Worker into build/worker/shim.mjs (plus
# build/index.js and build/index_bg.wasm): cargo, wasm-bindgen, wasm-opt, esbuild.
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
# wasm32-unknown-unknown`; setup.sh installs wasm-bindgen-cli at the version
# Cargo.lock asks for, wasm-opt (npm binaryen) and esbuild (wrangler's).
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
  local inputs=(src Cargo.toml Cargo.lock .ci/build-worker.sh)
  [[ -e .cargo ]] && inputs+=(.cargo)
  [[ -e build.rs ]] && inputs+=(build.rs)
  [[ -z $(find "${inputs[@]}" -newer "$SHIM" -print -quit 2>/dev/null) ]]
}

# The steps `worker-build --release` takes, with our own entry module (src/edge/entry.js)
# instead of its generated shim: the entry does the I/O in JavaScript and calls the Rust core
# synchronously (see the comment at its top). wasm-bindgen's `module` target with the same
# flags worker-build uses (a wasm trap re-instantiates the module on the next request), then
# wasm-opt, then esbuild bundles the entry with the generated bindings into build/index.js.
# A staging directory of this run's own: two builds at once (wrangler dev rebuilding while
# the tests build) never write into each other's; each result is moved into build/ whole.
STAGE=

build_wasm() {
  # RUST_BACKTRACE from the caller's environment would turn every build error into a stack dump.
  wasm_env env RUST_BACKTRACE=0 cargo build --lib --release --target wasm32-unknown-unknown
}

bind() {
  mkdir -p build
  STAGE=$(mktemp -d build/.stage.XXXXXX)
  trap 'rm -rf "$STAGE"' EXIT
  "$WASM_BINDGEN_BIN" "$MCP_GATE_WASM_TARGET_DIR/wasm32-unknown-unknown/release/mcp_gate.wasm" \
    --out-dir "$STAGE" --out-name index --target module --no-typescript \
    --experimental-reset-state-function --force-enable-abort-handler
  # workerd imports a wasm module as a compiled module: the plain import form.
  sed -i 's/^import source /import /' "$STAGE/index.js"
  # wasm-bindgen lists glue.js twice in the wasm's import object (the same module, so the
  # same value): keep the first, or every `wrangler deploy` warns of a duplicate key.
  awk '/^ *"\.\/snippets\/[^"]*": import[0-9]+,$/ { if (seen[$1]++) next } { print }' \
    "$STAGE/index.js" >"$STAGE/index.dedup.js"
  mv "$STAGE/index.dedup.js" "$STAGE/index.js"
}

# `-O` as worker-build runs it, and the wasm "name" section dropped (worker-build keeps it:
# a third of the module): the Worker logs no wasm stack, and a smaller module uploads and
# compiles faster on a fresh isolate. No `-Oz`: it takes 6 KB off the module but makes a fresh
# isolate's first request compile 13 KB more (measured 2026-11-22). The feature flags are
# worker-build's: nothing newer than workerd reads.
optimise() {
  local wasm=$STAGE/index_bg.wasm
  "$WASM_OPT_BIN" "$wasm" -o "$wasm.opt" -O --strip-debug --strip-producers \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling
  mv "$wasm.opt" "$wasm"
}

bundle() {
  cp src/edge/entry.js "$STAGE/entry.js"
  # The entry imports glue.js as the same module the wasm imports (one copy in the bundle).
  local glue
  glue=$(cd "$STAGE" && find snippets -path '*/src/edge/glue.js' -print -quit)
  [[ -n $glue ]] || { echo "[build-worker] wasm-bindgen wrote no glue.js snippet" >&2; exit 1; }
  printf "export * from './%s';\n" "$glue" >"$STAGE/glue.js"
  "$ESBUILD_BIN" "$STAGE/entry.js" --bundle --format=esm --minify --log-level=warning \
    --external:./index_bg.wasm '--external:cloudflare:*' --outfile="$STAGE/bundle.js"
  mkdir -p build/worker
  mv "$STAGE/index_bg.wasm" build/index_bg.wasm
  mv "$STAGE/bundle.js" build/index.js
  # The path wrangler.toml, the tests and the benchmark load (as worker-build named it).
  printf '%s\n' "export * from '../index.js';" "export { default } from '../index.js';" >"$SHIM"
  rm -rf "$STAGE"
}

main() {
  if [[ ${1:-} == --if-stale ]] && build_is_current; then
    echo "[build-worker] $SHIM is up to date"
    return
  fi
  local started=$SECONDS
  build_wasm
  bind
  optimise
  bundle
  echo "[build-worker] built $SHIM in $((SECONDS - started)) s ($(wc -c <build/index_bg.wasm) bytes of wasm)"
}

main "$@"
