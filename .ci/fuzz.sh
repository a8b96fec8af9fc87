#!/usr/bin/env bash
# .ci/fuzz.sh — coverage-guided fuzzing of the platform-free core (fuzz/, cargo-fuzz).
#
#   bash .ci/fuzz.sh                      every target, 10 s each
#   bash .ci/fuzz.sh --seconds 300        the long run
#   bash .ci/fuzz.sh rpc_differential     only the targets named
#   bash .ci/fuzz.sh --build-only         install cargo-fuzz and build, run nothing
#
# Needs only rustup's stable toolchain (~/.cargo/bin): cargo-fuzz 0.13.2 is built once into
# ${MCP_GATE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-gate/tools} (about 2 minutes), and
# RUSTC_BOOTSTRAP=1 lets stable take cargo-fuzz's -Zsanitizer=address (stable's rust-std ships
# the ASan runtime). The first ASan build of the targets takes a few minutes.
#
# Each target runs on a fresh temporary corpus directory first and the committed seeds
# (fuzz/seeds/TARGET) second, so libFuzzer writes its new inputs outside the repository and
# never into the seeds; fuzz/dict/TARGET.dict, when present, is its dictionary. A crashing
# input is saved under fuzz/artifacts/TARGET/ (ignored by git) and the script exits non-zero.
# Prints one line per target:
#   fuzz: TARGET  ok  N execs in S s
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_FUZZ_VERSION=0.13.2
TOOLS=${MCP_GATE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-gate/tools}

log() { printf '[fuzz] %s\n' "$*" >&2; }
die() {
  printf '[fuzz] ERROR: %s\n' "$*" >&2
  exit 2
}

usage() {
  sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

seconds=10
build_only=0
targets=()
while (($#)); do
  case $1 in
    --seconds)
      [[ ${2:-} =~ ^[0-9]+$ && $2 -gt 0 ]] || die "--seconds needs a positive whole number"
      seconds=$2
      shift 2
      ;;
    --seconds=*)
      seconds=${1#--seconds=}
      [[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || die "--seconds needs a positive whole number"
      shift
      ;;
    --build-only)
      build_only=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
      targets+=("$1")
      shift
      ;;
  esac
done

# ------------------------------------------------------------------ toolchain
# rustup's stable toolchain, whatever else the caller's environment points at (.ci/setup.sh's
# wasm32 environment, Debian's rustc, a shared target directory built with other flags).
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
command -v rustup >/dev/null 2>&1 || die "rustup not found (expected in ~/.cargo/bin)"
export RUSTUP_TOOLCHAIN=stable
unset RUSTC RUSTDOC RUSTC_WRAPPER RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET \
  CARGO_BUILD_RUSTFLAGS CARGO_UNSTABLE_BUILD_STD CARGO_TARGET_DIR CARGO
export RUSTC_BOOTSTRAP=1
# libfuzzer-sys compiles libFuzzer's C++ sources.
command -v c++ >/dev/null 2>&1 || die "libFuzzer needs a C++ compiler (apt-get install g++)"

# ------------------------------------------------------------------ cargo-fuzz
CARGO_FUZZ="$TOOLS/bin/cargo-fuzz"
if [[ "$("$CARGO_FUZZ" --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
  log "cargo install cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS (about 2 minutes, once)"
  mkdir -p "$TOOLS"
  cargo install --quiet --locked --force --root "$TOOLS" cargo-fuzz --version "=$CARGO_FUZZ_VERSION" >&2
  [[ "$("$CARGO_FUZZ" --version 2>/dev/null)" == "cargo-fuzz $CARGO_FUZZ_VERSION" ]] ||
    die "cargo-fuzz $CARGO_FUZZ_VERSION did not install into $TOOLS"
fi
# Invoked the way cargo invokes a subcommand (`cargo-fuzz fuzz ...`): this exact binary, not
# whichever cargo-fuzz cargo would find first on its own search path.
fuzz() { "$CARGO_FUZZ" fuzz "$@"; }

# ------------------------------------------------------------------ targets
mapfile -t all_targets < <(fuzz list)
((${#all_targets[@]})) || die "cargo fuzz list found no targets in fuzz/"
if ((${#targets[@]} == 0)); then
  targets=("${all_targets[@]}")
fi
for target in "${targets[@]}"; do
  printf '%s\n' "${all_targets[@]}" | grep -qxF -- "$target" ||
    die "unknown target $target (known: ${all_targets[*]})"
done

log "cargo fuzz build (cargo-fuzz defaults: release profile with debug assertions, ASan)"
fuzz build >&2

if ((build_only)); then
  log "built: ${targets[*]}"
  exit 0
fi

# ------------------------------------------------------------------ runs
work=$(mktemp -d "${TMPDIR:-/tmp}/mcp-gate-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

summary=()
failed=()
for target in "${targets[@]}"; do
  corpus="$work/corpus/$target"
  seeds="fuzz/seeds/$target"
  mkdir -p "$corpus"
  corpora=("$corpus")
  [[ -d $seeds ]] && corpora+=("$seeds")
  options=(-max_total_time="$seconds" -print_final_stats=1)
  [[ -f fuzz/dict/$target.dict ]] && options+=(-dict="fuzz/dict/$target.dict")
  out="$work/$target.log"
  log "run $target for ${seconds} s"
  started=$SECONDS
  status=0
  fuzz run "$target" "${corpora[@]}" -- "${options[@]}" >"$out" 2>&1 || status=$?
  elapsed=$((SECONDS - started))
  # libFuzzer's count: the final-stats line, else the last "#N ... DONE" / "#N ..." status line.
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$out" | tail -n 1)
  if [[ -z $execs ]]; then
    execs=$(sed -n 's/^#\([0-9][0-9]*\)[[:space:]].*/\1/p' "$out" | tail -n 1)
  fi
  if ((status == 0)); then
    summary+=("$(printf 'fuzz: %-18s ok     %12s execs in %d s' "$target" "${execs:-?}" "$elapsed")")
  else
    failed+=("$target")
    summary+=("$(printf 'fuzz: %-18s FAILED %12s execs in %d s (exit %d)' "$target" "${execs:-?}" "$elapsed" "$status")")
    log "$target failed (exit $status):"
    # The panic message (or sanitizer report), then where libFuzzer saved the input.
    {
      grep -m1 -A3 -E "panicked at|ERROR: (AddressSanitizer|libFuzzer)" "$out" || tail -n 30 "$out"
      grep -E "^SUMMARY|Test unit written to|^Base64:" "$out" || true
    } >&2
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$out" | tail -n 1)
    if [[ -n $artifact ]]; then
      log "reproduce: RUSTUP_TOOLCHAIN=stable RUSTC_BOOTSTRAP=1 $CARGO_FUZZ fuzz run $target $artifact"
    fi
  fi
done

printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: crashes in ${failed[*]} (inputs under fuzz/artifacts/)"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, no crash"
