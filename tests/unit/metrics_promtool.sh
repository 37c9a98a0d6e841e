#!/bin/sh
# metrics_promtool.sh TEST_VM_STATS: `vireo metrics`' text for VMs with
# hostile names, checked by Prometheus' own promtool (Debian's prometheus
# package): it must parse, and pass promtool's lint.
set -eu
command -v promtool >/dev/null || { echo "metrics_promtool: needs promtool (make deps-test: prometheus)" >&2; exit 1; }
f=$(mktemp)
trap 'rm -f "$f"' EXIT
"$1" --write-metrics "$f"
promtool check metrics <"$f"
grep -c '^vireo_' "$f"
