#!/usr/bin/env bash
# boot-to-init.sh BUILD_DIR [RUNS]: time from VMM start to the guest's init,
# vireo (confined and --seccomp=off) vs QEMU microvm vs QEMU q35, all in ONE test host boot so that the
# emulated timings are comparable with each other.
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 BUILD_DIR [RUNS]" >&2; exit 2; }
build=$(cd "$1" && pwd)
runs=${2:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
# Bound: 4 systems x RUNS x the inner 120 s limit, plus the test host boot.
VIREO_BUILD=$build exec "$repo/tests/testhost/run" --timeout $((4 * runs * 120 + 60)) -- \
    "$repo/bench/boot-to-init-inner.sh" "$build" "$runs"
