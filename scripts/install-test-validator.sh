#!/usr/bin/env bash
# Optional: build solana-test-validator (agave) from crates.io for the RPC tests that also run
# on it (tests/chain/test_rpc.py, backend "test_validator"). Surfpool runs the same tests
# without it, so CI need not run this.
#
# WARNING: this compiles agave from source. On a 2-core machine it takes well over an hour
# and needs roughly 15 GB (an estimate) of free disk for the build directory (removed
# afterwards unless ML_AGENT_KEEP_VALIDATOR_BUILD=1). The build directory lives in the cache, so a run that was
# interrupted resumes where it stopped.
#
# Idempotent: does nothing when the pinned version is already installed.
# Result: ${ML_AGENT_CACHE:-$HOME/.cache/ml_agent}/test-validator/bin/solana-test-validator
# Use it with: export SOLANA_TEST_VALIDATOR=<that path>   (the tests use that variable, else PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

# agave-validator ships both the validator and solana-test-validator bins; we build only the
# latter. 4.1.2 is the runtime Surfpool 1.5.0 reports, so both backends run the same SVM.
CRATE=agave-validator
VERSION=4.1.2
BIN=solana-test-validator

dest="$ML_AGENT_CACHE/test-validator"
build_dir="$dest/build"
binary="$dest/bin/$BIN"

say() { echo "install-test-validator: $*" >&2; }
die() { echo "install-test-validator: FAILED: $*" >&2; exit 1; }

if [ -x "$binary" ] && "$binary" --version 2>/dev/null | grep -q " $VERSION "; then
  say "$BIN $VERSION already installed at $binary"
  echo "export SOLANA_TEST_VALIDATOR=$binary"
  exit 0
fi

# --- build dependencies (Debian) ---------------------------------------------------------------
# clang/libclang: rocksdb and other bindgen users; protobuf-compiler: agave's protobuf crates;
# libudev-dev: hidapi via the remote-wallet crates; libssl-dev + pkg-config:
# openssl-sys; cmake: bundled C libraries.
apt_pkgs=(clang libclang-dev protobuf-compiler libudev-dev libssl-dev pkg-config cmake)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "apt-get not found; install ${missing[*]} with your package manager"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  say "installing build dependencies: ${missing[*]}"
  $SUDO apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
else
  say "build dependencies present: ${apt_pkgs[*]}"
fi

# --- Rust toolchain ------------------------------------------------------------------------------
cargo_bin="$ML_AGENT_CARGO"; rustc_bin="$ML_AGENT_RUSTC"
if [ ! -x "$cargo_bin" ] || [ ! -x "$rustc_bin" ]; then
  cargo_bin="$(command -v cargo || true)"; rustc_bin="$(command -v rustc || true)"
fi
[ -n "$cargo_bin" ] && [ -n "$rustc_bin" ] \
  || die "no Rust toolchain: run scripts/setup.sh first (or install cargo and rustc)"
say "using $("$rustc_bin" --version)"

# --- build ---------------------------------------------------------------------------------------
avail_kb=$(df -Pk "$ML_AGENT_CACHE" 2>/dev/null | awk 'NR==2 {print $4}' || echo 0)
if [ "${avail_kb:-0}" -lt $((15 * 1024 * 1024)) ]; then
  say "warning: only $((avail_kb / 1024 / 1024)) GB free under $ML_AGENT_CACHE; the build needs ~15 GB"
fi
mkdir -p "$dest" "$build_dir"
say "building $CRATE $VERSION ($BIN) from crates.io on $(nproc) cores;"
say "this takes over an hour on 2 cores. Progress is kept in $build_dir if interrupted."
start=$(date +%s)
RUSTC="$rustc_bin" "$cargo_bin" install "$CRATE" --version "=$VERSION" --locked \
  --bin "$BIN" --root "$dest" --target-dir "$build_dir" \
  || die "cargo install $CRATE $VERSION failed (see the compiler output above)"

"$binary" --version >/dev/null || die "$binary was built but does not run"
if [ "${ML_AGENT_KEEP_VALIDATOR_BUILD:-0}" != 1 ]; then
  rm -rf "$build_dir"
fi
say "built $("$binary" --version) in $(( ($(date +%s) - start) / 60 )) min"
echo "export SOLANA_TEST_VALIDATOR=$binary"
