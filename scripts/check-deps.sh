#!/usr/bin/env bash
# Checks the dependency direction of the workspace (docs/ARCHITECTURE.md, "Dependency rules")
# with `cargo tree`, and that `anyhow` appears only in binaries' main.rs and in tests.
# Fails with one line per violation.
set -euo pipefail
cd "$(dirname "$0")/.."

violations=0

# deps CRATE [PRUNE...]: the normal (non-dev, non-build) dependency closure of CRATE, one name
# per line, leaving out the subtrees of the PRUNE packages.
deps() {
    local crate="$1"; shift
    local prune=()
    for p in "$@"; do prune+=(--prune "$p"); done
    cargo tree -q -e normal -p "$crate" "${prune[@]}" --prefix none -f '{p}' \
        | awk '{print $1}' | sort -u | { grep -vx "$crate" || true; }
}

# forbid CRATE DEP...: CRATE must not depend, directly or not, on any DEP. A known exception is
# named by setting PRUNE (space-separated packages whose subtrees are left out) for one call.
forbid() {
    local crate="$1"; shift
    local closure
    # shellcheck disable=SC2086
    closure="$(deps "$crate" ${PRUNE:-})"
    for dep in "$@"; do
        if grep -qx "$dep" <<<"$closure"; then
            echo "dependency violation: $crate depends on $dep"
            violations=$((violations + 1))
        fi
    done
}

ours=(callbridge callbridge-model callbridge-engine callbridge-media callbridge-sip
      callbridge-adapter callbridge-store callbridge-sandbox callbridge-loadgen
      callbridge-slack callbridge-teams callbridge-testkit)
io=(tokio hyper axum reqwest sqlx async-std smol)
without() { local skip=" $* "; for c in "${ours[@]}"; do [[ "$skip" == *" $c "* ]] || echo "$c"; done; }

# model <- everything: it depends on nothing of ours and on no I/O.
forbid callbridge-model $(without callbridge-model) "${io[@]}"
# Sans-IO cores: the model only, no runtime, HTTP, database or adapter.
forbid callbridge-engine $(without callbridge-engine callbridge-model) "${io[@]}" str0m
# Known exception: ezk-g722 (the maintained G.722 codec) drags its framework's tokio "rt" in
# through `ezk`; the media core never calls it. Its subtree is left out of the check.
PRUNE="ezk-g722" forbid callbridge-media $(without callbridge-media callbridge-model) "${io[@]}"
forbid ezk-g722 "${ours[@]}" hyper axum reqwest sqlx
# The adapter API: the model only.
forbid callbridge-adapter $(without callbridge-adapter callbridge-model)
# Adapters: adapter + model (+ sip for Teams), never the gateway, store, engine or each other.
forbid callbridge-slack $(without callbridge-slack callbridge-adapter callbridge-model)
forbid callbridge-teams $(without callbridge-teams callbridge-adapter callbridge-model callbridge-sip)
forbid callbridge-sip $(without callbridge-sip callbridge-model)
# The store: the model only.
forbid callbridge-store $(without callbridge-store callbridge-model)
# Sandboxes stand in for the outside world: they know nothing of callbridge's insides.
forbid callbridge-sandbox $(without callbridge-sandbox callbridge-model)
# The test kit is dev-only: no product crate may depend on it (outside dev-dependencies).
for crate in callbridge callbridge-slack callbridge-teams callbridge-sip callbridge-adapter \
             callbridge-store callbridge-engine callbridge-media callbridge-model; do
    forbid "$crate" callbridge-testkit
done
# The load generator drives the media core and, in its gateway mode, the whole gateway between
# the sandboxes as their users would: it is a tool, not product code, so it may use the gateway,
# the sandboxes and the dev-only test kit; no product crate may depend on it.
for crate in callbridge callbridge-slack callbridge-teams callbridge-sip callbridge-adapter \
             callbridge-store callbridge-engine callbridge-media callbridge-model \
             callbridge-sandbox callbridge-testkit; do
    forbid "$crate" callbridge-loadgen
done

# anyhow: only in main.rs files and tests.
while IFS= read -r hit; do
    echo "anyhow outside main.rs and tests: $hit"
    violations=$((violations + 1))
done < <(grep -rln --include='*.rs' 'anyhow' crates/*/src adapters/*/src 2>/dev/null | grep -v '/main\.rs$' || true)

# The sandboxes play the other side: product code never imports them. Only the demo and the
# CLI's `sandbox` command (the gateway binary's main.rs and the demo module) may; tests, the
# dev-only test kit and the load generator's gateway mode (a tool that plays the users) may.
while IFS= read -r hit; do
    echo "product code imports the sandbox: $hit"
    violations=$((violations + 1))
done < <(grep -rlnw --include='*.rs' 'callbridge_sandbox' crates/*/src adapters/*/src 2>/dev/null \
    | grep -v -e '^crates/sandbox/' -e '^crates/testkit/' -e '^crates/loadgen/src/gateway/' -e '^crates/gateway/src/main\.rs$' -e '^crates/gateway/src/demo/' || true)

if [ "$violations" -gt 0 ]; then
    echo "check-deps: $violations violation(s)"
    exit 1
fi
echo "check-deps: dependency direction holds"
