#!/usr/bin/env bash
# Regenerate idl/ml_agent.json from the program crate's interface specs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q -p ml_agent --bin gen-idl > idl/ml_agent.json.tmp
mv idl/ml_agent.json.tmp idl/ml_agent.json
echo "gen-idl: wrote idl/ml_agent.json" >&2
