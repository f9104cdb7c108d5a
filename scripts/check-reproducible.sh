#!/usr/bin/env bash
# Builds the program twice from clean target directories and fails unless both ELFs are
# byte-identical, then installs the result as target/deploy/ml_agent.so.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
hashes=()
gates=()
for i in 1 2; do
  RUSTC_BOOTSTRAP=1 RUSTC="$ML_AGENT_RUSTC" CARGO_TARGET_DIR="$tmp/t" \
    "$ML_AGENT_CARGO" build -q --release --locked -p ml_agent --lib \
    -Z build-std=core,alloc --target bpfel-unknown-none
  cp "$tmp/t/bpfel-unknown-none/release/libml_agent.so" "$tmp/build$i.so"
  # The CPI example (docs/cpi.md) must be reproducible too; its own invocation, as in
  # build-program.sh, so that it cannot change ml_agent's features.
  RUSTC_BOOTSTRAP=1 RUSTC="$ML_AGENT_RUSTC" CARGO_TARGET_DIR="$tmp/t" \
    "$ML_AGENT_CARGO" build -q --release --locked -p risk_gate --lib \
    -Z build-std=core,alloc --target bpfel-unknown-none
  cp "$tmp/t/bpfel-unknown-none/release/librisk_gate.so" "$tmp/gate$i.so"
  gates+=("$(sha256sum "$tmp/gate$i.so" | cut -d' ' -f1)")
  hashes+=("$(sha256sum "$tmp/build$i.so" | cut -d' ' -f1)")
  rm -rf "$tmp/t"
  echo "check-reproducible: clean build $i sha256 ${hashes[-1]}" >&2
done
if [ "${gates[0]}" != "${gates[1]}" ]; then
  echo "check-reproducible: FAILED: two clean builds of risk_gate differ" >&2
  exit 1
fi
if [ "${hashes[0]}" != "${hashes[1]}" ]; then
  echo "check-reproducible: FAILED: two clean builds differ" >&2
  exit 1
fi
mkdir -p target/deploy
cp "$tmp/build1.so" target/deploy/ml_agent.so
cp "$tmp/gate1.so" target/deploy/risk_gate.so
echo "check-reproducible: OK, both builds ${hashes[0]}; risk_gate ${gates[0]}" >&2
