#!/usr/bin/env bash
# Builds callbridge and runs `callbridge demo` on the embedded defaults (no accounts needed).
# Extra arguments go to `callbridge demo` (for example --port 9090).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --build-only
exec cargo run --release --locked -p callbridge -- demo "$@"
