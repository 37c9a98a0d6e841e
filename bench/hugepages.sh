#!/usr/bin/env bash
# hugepages.sh BUILD_DIR [ROUNDS]: a memory-bound guest workload on RAM from
# 2 MiB huge pages (--memory SIZE,hugepages=on) vs ordinary memory (THP
# advised, as by default), side by side in ONE test host boot, rotated;
# prints each round, medians and the medians of per-round ratios.
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 BUILD_DIR [ROUNDS]" >&2; exit 2; }
build=$(cd "$1" && pwd)
rounds=${2:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
VIREO_BUILD=$build exec "$repo/tests/testhost/run" --timeout $((2 * rounds * 180 + 120)) -- \
    "$repo/bench/hugepages-inner.sh" "$build" "$rounds"
