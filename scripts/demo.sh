#!/usr/bin/env bash
# Set up (if needed), then run the end-to-end demo on the embedded in-process SVM.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec python3 -m client demo "$@"
