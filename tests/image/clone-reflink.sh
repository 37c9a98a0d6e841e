#!/usr/bin/env bash
# clone-reflink.sh VIREO xfs|btrfs: `vireo image clone` and `vireo clone`
# on a file system that shares blocks (made on a loop device): raw disks
# are reflinked (FICLONE), in milliseconds and without using space; qcow2
# disks still get overlays.  Needs root, loop devices, mkfs.xfs
# (xfsprogs) or mkfs.btrfs (btrfs-progs), and the file system in the
# kernel; exits 77 (skipped) without them.
set -uo pipefail
vireo=$(readlink -f "$1")
fs=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
skip() { echo "clone-reflink $fs: $*: skipped"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root for a loop device"
command -v "mkfs.$fs" >/dev/null || skip "mkfs.$fs is not installed"
work=$(mktemp -d "${TMPDIR:-/tmp}/vireo-clone-$fs.XXXXXX")
dev= holder=
cleanup() {
    [ -n "$holder" ] && kill "$holder" 2>/dev/null
    cd /
    umount "$work/mnt" 2>/dev/null
    [ -n "$dev" ] && losetup -d "$dev"
    rm -rf "$work"
}
trap cleanup EXIT
truncate -s 1G "$work/fs.img"
dev=$(losetup --find --show "$work/fs.img") || { dev=; skip "no loop device"; }
"mkfs.$fs" -q "$dev" >/dev/null 2>&1 || "mkfs.$fs" -f "$dev" >/dev/null 2>&1 || skip "mkfs.$fs failed"
mkdir "$work/mnt"
mount -t "$fs" "$dev" "$work/mnt" 2>/dev/null || skip "this kernel cannot mount $fs"
cd "$work/mnt"
export VIREO_RUN_DIR=$work/run VIREO_LOG_DIR=$work/log

truncate -s 2G web.img
dd if=/dev/urandom of=web.img bs=1M count=64 seek=100 conv=notrunc,fsync status=none
used0=$(df -k --output=used . | tail -1)
expect "image clone raw on $fs: a reflink" 0 "reflink (raw)" -- "$vireo" image clone web.img copy.img
echo "# $out"
used1=$(df -k --output=used . | tail -1)
cmp -s web.img copy.img && ok "reflink: same content" || bad "reflink: content differs"
[ $((used1 - used0)) -lt 16384 ] && ok "reflink: no data copied (used $((used1 - used0)) KiB more)" ||
    bad "reflink: space" "$used0 -> $used1 KiB"
filefrag -v copy.img 2>/dev/null | grep -q shared && ok "reflink: extents shared (filefrag)" ||
    bad "reflink: filefrag shows no shared extent" "$(filefrag -v copy.img 2>&1 | head -5)"
dd if=/dev/zero of=copy.img bs=4k count=1 seek=$((100 * 256)) conv=notrunc,fsync status=none
[ "$(dd if=web.img bs=4k count=1 skip=$((100 * 256)) status=none | md5sum)" != \
  "$(dd if=copy.img bs=4k count=1 skip=$((100 * 256)) status=none | md5sum)" ] &&
    ok "reflink: a write to the clone leaves the source alone" || bad "reflink: copy-on-write"
expect "image clone on $fs: DST exists" 1 "copy.img exists; nothing was changed" -- \
    "$vireo" image clone web.img copy.img
qemu-img create -q -f qcow2 base.qcow2 1G
expect "image clone qcow2 on $fs: still an overlay" 0 "qcow2 overlay" -- \
    "$vireo" image clone -f qcow2 base.qcow2 o.qcow2
cat >web.cfg <<END
name = "web"
kernel = "/boot/vmlinuz"
disk = [ 'format=raw, vdev=xvda, access=rw, target=$PWD/web.img' ]
END
expect "clone on $fs: a VM that is off, reflinked" 0 "(reflink, raw)" -- "$vireo" clone web.cfg web2
cmp -s web.img web2.img && ok "clone on $fs: same content" || bad "clone on $fs: content"
finish
