#!/usr/bin/env bash
# Checks the monitoring files in deploy/: the alert rules load and pass their unit tests, the
# dashboard is valid JSON whose queries parse, and every callbridge metric either of them queries
# is emitted somewhere in the Rust sources, so a renamed metric cannot leave a silent alert or an
# empty panel behind. Needs promtool (Debian package prometheus, see install-deps.sh) and python3.
# Prints one line per problem and fails if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."

rules=deploy/prometheus/callbridge-alerts.yml
rule_tests=deploy/prometheus/callbridge-alerts.test.yml
dashboard=deploy/grafana/callbridge-dashboard.json

promtool check rules "$rules"
promtool test rules "$rule_tests"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Prints "<file>\t<expression>" for every PromQL expression of the rules and the dashboard, and
# writes the dashboard's queries, one a line, and as recording rules (Grafana's variables
# replaced) so that promtool parses them. Exits non-zero, with the reason, if the JSON does not
# parse.
python3 - "$rules" "$dashboard" "$work" >"$work/expressions" <<'EOF'
import json, re, sys

rules_path, dashboard_path, work = sys.argv[1:4]

# The rule file's `expr:` values, inline or as an indented block scalar (`|`, `>-`).
lines = open(rules_path, encoding="utf-8").read().splitlines()
i = 0
while i < len(lines):
    m = re.match(r"^(\s*)(?:- )?expr:\s*(.*)$", lines[i])
    i += 1
    if not m:
        continue
    indent, value = len(m.group(1)), m.group(2)
    if value[:1] in ("|", ">"):
        block = []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            block.append(lines[i].strip())
            i += 1
        value = " ".join(block)
    print(f"{rules_path}\t{value.strip()}")

try:
    with open(dashboard_path, encoding="utf-8") as f:
        dashboard = json.load(f)
except (OSError, ValueError) as error:
    sys.exit(f"check-deploy: {dashboard_path}: not valid JSON: {error}")

exprs = []
def walk(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str) and value:
                exprs.append(value)
            else:
                walk(value)
    elif isinstance(node, list):
        for item in node:
            walk(item)
walk(dashboard)

substitutions = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
                 "$instance": ".*", "$job": "callbridge"}
with open(f"{work}/dashboard-rules.yml", "w", encoding="utf-8") as out, \
        open(f"{work}/dashboard-queries", "w", encoding="utf-8") as queries:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for n, expr in enumerate(exprs):
        print(f"{dashboard_path}\t{expr}")
        queries.write(" ".join(expr.split()) + "\n")
        # label_values() is Grafana's, not PromQL: check its metric selector alone.
        m = re.fullmatch(r"label_values\((.*),\s*\w+\)", expr.strip())
        query = m.group(1) if m else expr
        for variable, value in substitutions.items():
            query = query.replace(variable, value)
        out.write(f"      - record: dashboard_query_{n}\n        expr: {json.dumps(query)}\n")
EOF

problems=0
problem() { echo "check-deploy: $*"; problems=$((problems + 1)); }

if ! promtool check rules "$work/dashboard-rules.yml" >"$work/promtool.log" 2>&1; then
    while IFS= read -r line; do
        if [[ "$line" =~ \"dashboard_query_([0-9]+)\":\ could\ not\ parse\ expression:\ (.*)$ ]]; then
            query="$(sed -n "$((BASH_REMATCH[1] + 1))p" "$work/dashboard-queries")"
            problem "$dashboard: query does not parse (${BASH_REMATCH[2]}): $query"
        else
            problem "$dashboard: promtool: $line"
        fi
    done < <(grep -v '^Checking\|^  FAILED:$\|^ *$' "$work/promtool.log")
fi

# Every callbridge metric queried must be emitted: its name as a string literal in the sources.
# Histogram and summary series (_bucket, _sum, _count) come from the base name. The HTTP
# metrics carry no callbridge_ prefix, so they are checked by name as well.
while IFS=$'\t' read -r file name; do
    found=""
    for candidate in "$name" "$(sed -E 's/_(bucket|sum|count)$//' <<<"$name")"; do
        if grep -rqF --include='*.rs' "\"$candidate\"" crates adapters; then
            found=yes
            break
        fi
    done
    [ -n "$found" ] || problem "$file: metric $name is not emitted anywhere in crates/ or adapters/"
done < <(
    while IFS=$'\t' read -r file expr; do
        grep -oE '\b(callbridge|http)_[a-zA-Z0-9_]+' <<<"$expr" | sed "s|^|$file\t|" || true
    done <"$work/expressions" | sort -u
)

if [ "$problems" -gt 0 ]; then
    echo "check-deploy: $problems problem(s)" >&2
    exit 1
fi
echo "check-deploy: rules, rule tests and dashboard OK; every metric queried is emitted"
