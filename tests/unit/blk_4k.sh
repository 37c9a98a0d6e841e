#!/bin/sh
# blk_4k.sh TEST: runs TEST with VIREO_4K_DIR set to an ext2 file system on
# a loop device with 4 KiB logical sectors: storage where O_DIRECT refuses
# 512-byte I/O and fallocate has no ZERO_RANGE.  Needs root and loop
# devices; exits 77 (skipped, as meson counts it) without them.
set -eu
if [ "$(id -u)" != 0 ]; then
    echo "blk_4k: needs root for a loop device: skipped"
    exit 77
fi
work=$(mktemp -d)
dev=
cleanup() {
    umount "$work/mnt" 2>/dev/null || true
    [ -n "$dev" ] && losetup -d "$dev"
    rm -rf "$work"
}
trap cleanup EXIT
truncate -s 64M "$work/fs.img"
if ! dev=$(losetup --sector-size 4096 --find --show "$work/fs.img"); then
    dev=
    echo "blk_4k: no loop device: skipped"
    exit 77
fi
mkfs.ext2 -q "$dev"
mkdir "$work/mnt"
mount "$dev" "$work/mnt"
VIREO_4K_DIR=$work/mnt "$1"
