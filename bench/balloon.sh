#!/usr/bin/env bash
# balloon.sh BUILD_DIR [SECONDS] [ROUNDS]: what the virtio-balloon gives
# the host back, and what it costs the guest, for vireo (`vireo create`
# with maxmem, `vireo mem-set`) and QEMU (virtio-balloon-pci with
# free-page-reporting=on, QMP `balloon`), same kernel, initramfs, memory
# and guest workload, all in ONE test host boot so that the emulated
# figures are comparable with each other: (a) free-page reporting, (b) an
# explicit balloon, (c) a fill-and-free loop's and (d) a memory-bound
# loop's speed in the guest with reporting on against off.  SECONDS per
# loop run (default 5), ROUNDS guest boots per system (default 3).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_args 5 3 "$@"
repo=$(cd "$(dirname "$0")/.." && pwd)

command -v socat >/dev/null ||
    { echo "balloon: needs Debian's socat on this machine for QEMU's QMP (scripts/install-deps.sh test)" >&2; exit 1; }
[ -e "$build/guest/vmlinuz-cloud" ] && [ -e "$build/guest/initramfs.cpio.gz" ] ||
    { echo "balloon: no guest kernel or initramfs in $build/guest (make guest)" >&2; exit 1; }

# Bound per guest: the boot, the phases' waits (about 80 s) and eight
# loop runs.  The whole: every guest at its bound, plus the test host.
limit=$((200 + 8 * secs))
VIREO_BUILD=$build exec "$repo/tests/testhost/run" --timeout $((2 * rounds * limit + 120)) -- \
    "$repo/bench/balloon-inner.sh" "$build" "$secs" "$rounds" "$limit"
