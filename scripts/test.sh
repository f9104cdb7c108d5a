#!/usr/bin/env bash
# Everything CI checks, in one command: setup (if needed), program build (SBPF v3, and the v0
# copy for LiteSVM) + reproducibility, Rust fmt/clippy/tests (incl. the IDL staleness test),
# ruff, mypy, and the whole pytest suite
# (LiteSVM, Surfpool; solana-test-validator when installed). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

step() { echo; echo "=== $*" >&2; }

step "program build (twice, from clean) must be reproducible"
bash scripts/check-reproducible.sh

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy -q --workspace --all-targets -- -D warnings
step "cargo test"
cargo test -q --workspace

step "ruff"
ruff check client tests scripts
ruff format --check client tests scripts
step "mypy"
mypy

step "pytest"
python3 -m pytest -q "$@"
