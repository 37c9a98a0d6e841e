#!/usr/bin/env bash
# boot-to-init.sh BUILD_DIR [RUNS]: time from VMM start to the guest's init,
# vireo (PVH by default, --boot-protocol linux, --seccomp=off, and given the
# vmlinux) vs QEMU microvm and q35 (given the bzImage and the vmlinux), all in
# ONE test host boot so that the emulated timings are comparable with each
# other.  BOOT_BENCH_KERNEL=cloud|generic picks the kernel (default cloud).
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 BUILD_DIR [RUNS]" >&2; exit 2; }
build=$(cd "$1" && pwd)
runs=${2:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
# Bound: 8 systems x RUNS x the inner 120 s limit, plus the test host boot.
VIREO_BUILD=$build exec "$repo/tests/testhost/run" --timeout $((8 * runs * 120 + 120)) -- \
    env BOOT_BENCH_KERNEL="${BOOT_BENCH_KERNEL:-cloud}" "$repo/bench/boot-to-init-inner.sh" "$build" "$runs"
