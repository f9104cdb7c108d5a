#!/usr/bin/env bash
# Builds the program twice from clean target directories and fails unless both ELFs are
# byte-identical, then installs the result as target/deploy/ml_agent.so.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
hashes=()
for i in 1 2; do
  RUSTC_BOOTSTRAP=1 RUSTC="$ML_AGENT_RUSTC" CARGO_TARGET_DIR="$tmp/t" \
    "$ML_AGENT_CARGO" build -q --release --locked -p ml_agent --lib \
    -Z build-std=core,alloc --target bpfel-unknown-none
  cp "$tmp/t/bpfel-unknown-none/release/libml_agent.so" "$tmp/build$i.so"
  hashes+=("$(sha256sum "$tmp/build$i.so" | cut -d' ' -f1)")
  rm -rf "$tmp/t"
  echo "check-reproducible: clean build $i sha256 ${hashes[-1]}" >&2
done
if [ "${hashes[0]}" != "${hashes[1]}" ]; then
  echo "check-reproducible: FAILED: two clean builds differ" >&2
  exit 1
fi
mkdir -p target/deploy
cp "$tmp/build1.so" target/deploy/ml_agent.so
echo "check-reproducible: OK, both builds ${hashes[0]}" >&2
