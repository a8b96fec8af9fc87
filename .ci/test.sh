#!/usr/bin/env bash
# .ci/test.sh (`npm test`) — every check: setup, rustfmt, native clippy,
# cargo test, the Worker build, clippy for wasm32, then the end-to-end suite
# against the built Worker under workerd.
# Stops at the first failure and exits non-zero; prints each section's time.
set -euo pipefail

TOTAL_STARTED=$SECONDS
SECTION=""
SECTION_STARTED=$SECONDS
TIMINGS=()
# Test runner output is kept here to count passed/failed tests at the end.
RESULTS=$(mktemp "${TMPDIR:-/tmp}/mcp-gate-test.XXXXXX")

section() {
  end_section
  SECTION=$1
  SECTION_STARTED=$SECONDS
  printf '\n==== %s ====\n' "$SECTION"
}

end_section() {
  if [[ -n $SECTION ]]; then
    TIMINGS+=("$(printf '%5d s  %s' $((SECONDS - SECTION_STARTED)) "$SECTION")")
  fi
  SECTION=""
}

summary() {
  local status=$?
  if [[ -n $SECTION ]]; then
    TIMINGS+=("$(printf '%5d s  %s  <- FAILED' $((SECONDS - SECTION_STARTED)) "$SECTION")")
  fi
  printf '\n==== summary ====\n'
  printf '%s\n' "${TIMINGS[@]}"
  printf '%5d s  total\n' $((SECONDS - TOTAL_STARTED))
  if [[ $status -eq 0 ]]; then
    echo "all checks passed"
  else
    echo "FAILED in: ${SECTION:-?} (exit $status)"
  fi
  count_tests # last line: "tests: N passed, M failed"
  rm -f "$RESULTS"
  exit "$status"
}
trap summary EXIT

# Sums cargo test's "test result: ok. N passed; M failed" lines and node's
# "# pass N" / "# fail N" (TAP) or "ℹ pass N" / "ℹ fail N" (spec) lines.
count_tests() {
  awk '
    /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1) } }
    /^(# |ℹ )pass [0-9]+$/ { p += $NF }
    /^(# |ℹ )fail [0-9]+$/ { f += $NF }
    END { if (p + f > 0) printf "tests: %d passed, %d failed\n", p, f }
  ' "$RESULTS"
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# --locked whenever Cargo.lock exists: CI must build what was committed.
LOCKED=()
[[ -f Cargo.lock ]] && LOCKED=(--locked)

section "setup"
# shellcheck source=.ci/setup.sh
source .ci/setup.sh
# The MCP Python SDK 2.x client of tests/e2e/python-sdk.test.mjs, in its own venv (PyPI).
bash .ci/python-venv.sh

section "cargo fmt --check"
cargo fmt --all -- --check

section "cargo clippy (native, all targets)"
cargo clippy --all-targets "${LOCKED[@]}" -- -D warnings

section "cargo test"
cargo test "${LOCKED[@]}" 2>&1 | tee -a "$RESULTS"

section "fuzz (short run: every target a few seconds)"
# Coverage-guided fuzzing of the core (fuzz/, cargo-fuzz on the stable toolchain); long runs:
# `bash .ci/fuzz.sh --seconds 300` (see CONTRIBUTING.md).
bash .ci/fuzz.sh --seconds "${MCP_GATE_FUZZ_SECONDS:-5}"

section "build the Worker (.ci/build-worker.sh)"
bash .ci/build-worker.sh

section "cargo clippy (wasm32, lib)"
# The Worker adapter (src/edge) compiles only for wasm32: lint it there too.
# After the build and with --release on purpose: clippy then reuses the
# build's std (rebuilt from source on the Debian path) and proc macros, and
# takes seconds instead of rebuilding them all in the dev profile.
wasm_cargo_clippy --release --lib --target wasm32-unknown-unknown "${LOCKED[@]}" -- -D warnings

section "entry module (node --test, a stand-in for the wasm)"
timeout 300 node --test tests/entry/*.test.mjs </dev/null 2>&1 | tee -a "$RESULTS"
end_section

section "end-to-end tests (node --test, workerd)"
shopt -s nullglob globstar
E2E_FILES=(tests/e2e/**/*.test.mjs tests/e2e/**/*.test.js)
shopt -u nullglob globstar
if ((${#E2E_FILES[@]} == 0)); then
  echo "no end-to-end tests found under tests/e2e/" >&2
  exit 1
fi
# One file at a time: each starts its own wrangler dev + workerd, and the
# machine has two cores. Node 22 from node_modules (setup put it first).
timeout 2400 node --test --test-concurrency=1 "${E2E_FILES[@]}" </dev/null 2>&1 | tee -a "$RESULTS"

end_section
