#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: system packages, a PostgreSQL on loopback,
# formatting, lints, the dependency-direction check, the monitoring files in deploy/, then every
# test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "system packages"
scripts/install-deps.sh

step "PostgreSQL on loopback"
CALLBRIDGE_TEST_POSTGRES_URL="$(scripts/start-postgres.sh)"
export CALLBRIDGE_TEST_POSTGRES_URL
echo "$CALLBRIDGE_TEST_POSTGRES_URL"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "dependency direction"
scripts/check-deps.sh

step "deploy files: alert rules and dashboard"
scripts/check-deploy.sh

step "cargo test"
test_log="$(mktemp)"
trap 'rm -f "$test_log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$test_log"

# The fuzz targets are their own workspace (cargo-fuzz layout). On stable they build without
# coverage instrumentation; a short run of each still feeds random input through the parsers.
# Continuous fuzzing: `cargo +nightly fuzz run <target>` in tests/fuzz.
step "fuzz targets: build and smoke-run"
CARGO_TARGET_DIR=target cargo build --locked --manifest-path tests/fuzz/Cargo.toml
for target in rtp rtcp sdp srtp_unprotect engine_calls; do
    target/debug/"$target" -runs=20000 -seed=1 2>&1 | tail -n 1
done

# One closing line with the totals of every test binary above.
awk '/^test result:/ { for (i = 1; i <= NF; i++) {
        if ($(i + 1) ~ /^passed/) p += $i; if ($(i + 1) ~ /^failed/) f += $i; if ($(i + 1) ~ /^ignored/) g += $i } }
     END { printf "\nsummary: %d passed, %d failed, %d skipped\n", p, f, g }' "$test_log"
