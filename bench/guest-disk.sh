#!/usr/bin/env bash
# guest-disk.sh BUILD_DIR [SECONDS] [ROUNDS]: guest fio IOPS on a virtio-blk
# disk (4 KiB randread/randwrite, iodepth 1 and 32, direct I/O on /dev/vda)
# for vireo with a dedicated I/O thread, vireo on its main loop and QEMU
# with an iothread, all in ONE test host boot so that the emulated figures
# are comparable with each other.  SECONDS per fio run (default 10), ROUNDS
# guest boots per system (default 3).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_args 10 3 "$@"
repo=$(cd "$(dirname "$0")/.." && pwd)

fio=$(command -v fio) ||
    { echo "guest-disk: needs Debian's fio on this machine (scripts/install-deps.sh test)" >&2; exit 1; }
[ -e "$build/guest/vmlinuz-cloud" ] && [ -d "$build/guest/modules-cloud" ] ||
    "$repo/scripts/fetch-kernels.sh" "$build" >&2
# The guest runs fio, which needs its libraries (~85 MB): a separate image,
# so the tests' initramfs stays small.  Rebuilt only when an input changed,
# since compressing it takes a while.
initrd=$build/guest/initramfs-bench.cpio.gz
if [ ! -e "$initrd" ] || [ "$repo/guest/init" -nt "$initrd" ] ||
   [ "$repo/guest/mkinitramfs.sh" -nt "$initrd" ] || [ "$fio" -nt "$initrd" ] ||
   [ "$build/guest/modules-cloud" -nt "$initrd" ]; then
    "$repo/guest/mkinitramfs.sh" --add-binary "$fio" "$initrd" "$build/guest/modules-cloud" >&2
fi

# Bound per guest: the boot (slow under TCG, and the image is large) plus
# the 4 fio runs with their start-up.  The whole: every guest at its bound,
# plus the test host's boot and the image set-up.
limit=$((120 + 4 * (secs + 20)))
VIREO_BUILD=$build exec "$repo/tests/testhost/run" --timeout $((3 * rounds * limit + 180)) -- \
    "$repo/bench/guest-disk-inner.sh" "$build" "$secs" "$rounds" "$limit"
