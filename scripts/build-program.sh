#!/usr/bin/env bash
# Build programs/ml_agent into target/deploy/ml_agent.so (SBPF v0) and print its SHA-256; then
# the example CPI consumer programs/risk_gate into target/deploy/risk_gate.so (docs/cpi.md).
#
# Route (platform-tools cannot be installed here): Debian's rustc-web 1.96 + rust-web-src compile
# core/alloc and the program for bpfel-unknown-none with -Z build-std; sbpf-linker relinks the
# upstream BPF bitcode into an SBPF v0 ELF. See README "Toolchain".
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

need() { command -v "$1" >/dev/null 2>&1 || { echo "build-program: $1 not found ($2). Run: bash scripts/setup.sh" >&2; exit 1; }; }
need "$ML_AGENT_RUSTC" "Debian package rustc-web"
need "$ML_AGENT_CARGO" "Debian package cargo-web"
need sbpf-linker "cargo install sbpf-linker --version 0.1.9"
[ -d /usr/lib/rustlib/src/rust/library ] || { echo "build-program: std source missing (Debian package rust-web-src). Run: bash scripts/setup.sh" >&2; exit 1; }

echo "build-program: compiling for bpfel-unknown-none (rustc $("$ML_AGENT_RUSTC" --version | cut -d' ' -f2))" >&2
RUSTC_BOOTSTRAP=1 RUSTC="$ML_AGENT_RUSTC" CARGO_TARGET_DIR="$PWD/target" \
  "$ML_AGENT_CARGO" build --release --locked -p ml_agent --lib \
  -Z build-std=core,alloc --target bpfel-unknown-none "$@"

mkdir -p target/deploy
cp target/bpfel-unknown-none/release/libml_agent.so target/deploy/ml_agent.so
size=$(stat -c %s target/deploy/ml_agent.so)
hash=$(sha256sum target/deploy/ml_agent.so | cut -d' ' -f1)
echo "build-program: target/deploy/ml_agent.so ${size} bytes" >&2
echo "$hash  target/deploy/ml_agent.so"

# The example consumer (docs/cpi.md), in its own cargo invocation so that its dependencies'
# features never unify into ml_agent's build (ml_agent.so stays byte-identical).
RUSTC_BOOTSTRAP=1 RUSTC="$ML_AGENT_RUSTC" CARGO_TARGET_DIR="$PWD/target" \
  "$ML_AGENT_CARGO" build --release --locked -p risk_gate --lib \
  -Z build-std=core,alloc --target bpfel-unknown-none "$@"
cp target/bpfel-unknown-none/release/librisk_gate.so target/deploy/risk_gate.so
echo "build-program: target/deploy/risk_gate.so $(stat -c %s target/deploy/risk_gate.so) bytes," \
  "sha256 $(sha256sum target/deploy/risk_gate.so | cut -d' ' -f1)" >&2
