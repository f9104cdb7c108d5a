#!/usr/bin/env bash
# Builds the program (both SBPF versions, scripts/build-program.sh) twice from clean target
# directories and fails unless each ELF is byte-identical across the two builds, then installs
# the results in target/deploy/.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in 1 2; do
  ML_AGENT_TARGET_DIR="$tmp/t" ML_AGENT_DEPLOY_DIR="$tmp/build$i" \
    bash scripts/build-program.sh -q >"$tmp/sums$i"
  rm -rf "$tmp/t"
  sed "s|$tmp/build$i/||" "$tmp/sums$i" | sed 's/^/check-reproducible: clean build '"$i"' sha256 /' >&2
done
status=0
for so in ml_agent.so ml_agent-sbpf-v0.so risk_gate.so risk_gate-sbpf-v0.so; do
  if ! cmp -s "$tmp/build1/$so" "$tmp/build2/$so"; then
    echo "check-reproducible: FAILED: two clean builds of $so differ" >&2
    status=1
  fi
done
[ "$status" = 0 ] || exit 1
mkdir -p target/deploy
cp "$tmp/build1/"*.so target/deploy/
echo "check-reproducible: OK, both builds identical:" >&2
sed "s|$tmp/build1/|target/deploy/|" "$tmp/sums1" >&2
