#!/usr/bin/env bash
# Build programs/ml_agent twice from one source and print both SHA-256s:
#   target/deploy/ml_agent.so          SBPF v3: what gets deployed (Surfpool, solana-test-validator,
#                                      devnet, mainnet). Agave 4.x validators with the feature
#                                      disable_sbpf_v0_v1_v2_deployment (SIMD-0500) accept only v3.
#   target/deploy/ml_agent-sbpf-v0.so  SBPF v0: only for the embedded LiteSVM (solders 0.26 cannot
#                                      load v3; docs/toolchain.md says why it cannot move yet).
# Both are the same LLVM output assembled for two SBPF versions by one linker (sbpf-linker 0.2.6);
# tests/program/test_sbpf_versions.py checks they agree instruction by instruction.
# Then the example CPI consumer programs/risk_gate (docs/cpi.md) the same two ways, in its own
# cargo invocation so that its dependencies' features never unify into ml_agent's build:
#   target/deploy/risk_gate.so, target/deploy/risk_gate-sbpf-v0.so
#
# Route (platform-tools cannot be installed here): Debian's rustc-web 1.96 + rust-web-src compile
# core/alloc and the program for bpfel-unknown-none with -Z build-std; sbpf-linker relinks the
# upstream BPF bitcode into SBPF. See docs/toolchain.md.
#
# ML_AGENT_SBPF=v3 or v0 builds only that one; ML_AGENT_TARGET_DIR (default target) and
# ML_AGENT_DEPLOY_DIR (default target/deploy) move the output. Extra args go to cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

need() { command -v "$1" >/dev/null 2>&1 || { echo "build-program: $1 not found ($2). Run: bash scripts/setup.sh" >&2; exit 1; }; }
need "$ML_AGENT_RUSTC" "Debian package rustc-web"
need "$ML_AGENT_CARGO" "Debian package cargo-web"
need sbpf-linker "sbpf-linker $ML_AGENT_SBPF_LINKER_VERSION from crates.io"
[ -d /usr/lib/rustlib/src/rust/library ] || { echo "build-program: std source missing (Debian package rust-web-src). Run: bash scripts/setup.sh" >&2; exit 1; }
linker_version=$({ sbpf-linker --version 2>&1 || true; } | head -n1)
case "$linker_version" in
  "sbpf-linker $ML_AGENT_SBPF_LINKER_VERSION") ;;
  *) echo "build-program: need sbpf-linker $ML_AGENT_SBPF_LINKER_VERSION, found '$linker_version' ($(command -v sbpf-linker)). Run: bash scripts/setup.sh" >&2; exit 1 ;;
esac

# build_one PACKAGE ARCH TARGET_DIR OUT: one program, one SBPF version. Each version has its own
# target directory
# because the arch is a rustflag, and cargo rebuilds everything (core included) when those change.
build_one() {
  local pkg=$1 arch=$2 target_dir=$3 out=$4
  echo "build-program: $pkg, SBPF $arch: compiling for bpfel-unknown-none (rustc $("$ML_AGENT_RUSTC" --version | cut -d' ' -f2))" >&2
  RUSTC_BOOTSTRAP=1 RUSTC="$ML_AGENT_RUSTC" CARGO_TARGET_DIR="$target_dir" \
    "$ML_AGENT_CARGO" build --release --locked -p "$pkg" --lib \
    --config "target.bpfel-unknown-none.rustflags=[\"-C\", \"link-arg=--arch=$arch\"]" \
    -Z build-std=core,alloc --target bpfel-unknown-none "${EXTRA_CARGO_ARGS[@]}"
  mkdir -p "$(dirname "$out")"
  cp "$target_dir/bpfel-unknown-none/release/lib$pkg.so" "$out"
  echo "build-program: $out $(stat -c %s "$out") bytes (SBPF $arch)" >&2
  echo "$(sha256sum "$out" | cut -d' ' -f1)  $out"
}

EXTRA_CARGO_ARGS=("$@")
target_dir="${ML_AGENT_TARGET_DIR:-$PWD/target}"
deploy_dir="${ML_AGENT_DEPLOY_DIR:-target/deploy}"
case "${ML_AGENT_SBPF:-both}" in
  v3|v0|both) ;;
  *) echo "build-program: ML_AGENT_SBPF must be v3, v0 or unset (both)" >&2; exit 1 ;;
esac
for pkg in ml_agent risk_gate; do
  case "${ML_AGENT_SBPF:-both}" in
    v3) build_one "$pkg" v3 "$target_dir" "$deploy_dir/$pkg.so" ;;
    v0) build_one "$pkg" v0 "$target_dir/sbpf-v0" "$deploy_dir/$pkg-sbpf-v0.so" ;;
    both)
      build_one "$pkg" v3 "$target_dir" "$deploy_dir/$pkg.so"
      build_one "$pkg" v0 "$target_dir/sbpf-v0" "$deploy_dir/$pkg-sbpf-v0.so" ;;
  esac
done
