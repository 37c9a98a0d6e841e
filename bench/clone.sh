#!/usr/bin/env bash
# clone.sh BUILD_DIR [ROUNDS]: wall time to duplicate a VM's disk (default:
# 20 GiB virtual, 2 GiB of data; CLONE_BENCH_DISK_GIB, CLONE_BENCH_DATA_MIB)
# on this machine, vireo beside the tool it replaces, each command timed
# from its start to its exit (process start-up included on both sides):
#   overlay  `vireo image clone -f qcow2`
#                                      vs `qemu-img create -f qcow2 -b -F`
#            (`vireo clone` of a VM on a qcow2 disk waits for the qcow2
#            disk driver: until then the toolstack takes raw disks only)
#   reflink  `vireo image clone` and `vireo clone` of a VM on a raw disk on
#            XFS                       vs `cp --reflink=always`
#   lvm      `vireo image clone` of a thin LV and of a plain LV (classic
#            snapshot, sized as vireo sizes it: the whole origin)
#                                      vs `lvcreate -s` of the same
#   copy     `cp --reflink=never --sparse=always` of the raw disk: what a
#            clone costs without any of these (a reference, no ratio;
#            coreutils 9 reflinks by default where it can, hence never)
# The images live on an XFS file system made on a loop device (root,
# xfsprogs); without one, overlays are measured in TMPDIR and reflinks are
# skipped.  LVM needs the kernel's device mapper with dm-snapshot and
# dm-thin (not on the build machines; in the test host) and is skipped
# without.  What is skipped is printed as skipped.  Every round runs the
# systems in a rotated order; per system, the median of the rounds' times
# and the median of the per-round ratios vireo/peer (below 1: vireo is
# faster).  Target (issue 12): each of overlay, reflink and LVM <= 50 ms.
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 BUILD_DIR [ROUNDS]" >&2; exit 2; }
build=$(cd "$1" && pwd)
# The script cds into the images' folder: its own folder must be absolute.
here=$(cd "$(dirname "$0")" && pwd)
rounds=${2:-7}
disk_gib=${CLONE_BENCH_DISK_GIB:-20}
data_mib=${CLONE_BENCH_DATA_MIB:-2048}
for v in "$rounds" "$disk_gib" "$data_mib"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "clone: ROUNDS and the sizes must be positive integers" >&2; exit 2; }
done
[ $((data_mib / 1024)) -lt "$disk_gib" ] || { echo "clone: the data must fit in the disk" >&2; exit 2; }
vireo=$build/vireo
[ -x "$vireo" ] || { echo "clone: missing $vireo (make)" >&2; exit 1; }
command -v qemu-img >/dev/null || { echo "clone: needs qemu-img (make deps-test)" >&2; exit 1; }
PATH=$PATH:/usr/sbin:/sbin

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vireo-bench-clone.XXXXXX")
loop= mnt= vg= pvloop=
cleanup() {
    cd /
    [ -n "$vg" ] && vgremove -qq -f "$vg" >/dev/null 2>&1
    [ -n "$pvloop" ] && losetup -d "$pvloop"
    [ -n "$mnt" ] && umount "$mnt"
    [ -n "$loop" ] && losetup -d "$loop"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 130" INT TERM
export VIREO_RUN_DIR=$tmp/run VIREO_LOG_DIR=$tmp/log

# --- where the images live -----------------------------------------------
dir=$tmp/files
mkdir -p "$dir"
reflink_why=
if [ "$(id -u)" != 0 ]; then
    reflink_why="not root (no loop device for XFS)"
elif ! command -v mkfs.xfs >/dev/null; then
    reflink_why="mkfs.xfs (xfsprogs) is not installed"
else
    # Room for the raw disk's data, the qcow2 copy of it and one full copy.
    truncate -s $((disk_gib + 4 * data_mib / 1024 + 4))G "$tmp/xfs.img"
    if ! loop=$(losetup --find --show "$tmp/xfs.img"); then
        loop= reflink_why="no loop device"
    elif ! mkfs.xfs -q -m reflink=1 "$loop" >/dev/null 2>&1; then
        reflink_why="mkfs.xfs failed"
    else
        mkdir "$tmp/mnt"
        if mount -t xfs "$loop" "$tmp/mnt" 2>/dev/null; then
            mnt=$tmp/mnt dir=$tmp/mnt
        else
            reflink_why="this kernel cannot mount XFS"
        fi
    fi
fi
cd "$dir"
echo "clone: a ${disk_gib} GiB disk holding ${data_mib} MiB of data, on $(stat -f -c %T .); $rounds rounds" >&2

# Data spread over the disk in 32 MiB runs, as a used file system has it.
chunks=$(( (data_mib + 31) / 32 ))
stride=$(( disk_gib * 1024 / 32 / chunks ))
truncate -s "${disk_gib}G" vm.raw
for i in $(seq 0 $((chunks - 1))); do
    dd if=/dev/urandom of=vm.raw bs=1M count=32 seek=$((i * stride * 32)) conv=notrunc status=none
done
sync -f vm.raw
qemu-img convert -O qcow2 vm.raw base.qcow2
cat >vm.cfg <<END
name = "vm"
kernel = "/boot/vmlinuz"
disk = [ 'format=raw, vdev=xvda, access=rw, target=$dir/vm.raw' ]
END

# --- LVM, where there is a device mapper -----------------------------------
lvm_why=
lv_mib=$(( data_mib * 2 < 1024 ? 1024 : data_mib * 2 ))
if [ "$(id -u)" != 0 ]; then
    lvm_why="not root"
elif ! command -v lvcreate >/dev/null; then
    lvm_why="lvm2 is not installed"
else
    modprobe -q dm_snapshot 2>/dev/null || true
    modprobe -q dm_thin_pool 2>/dev/null || true
    if ! dmsetup version >/dev/null 2>&1; then
        lvm_why="no device mapper in this kernel"
    elif ! grep -qw snapshot <<<"$(dmsetup targets)" || ! grep -qw thin-pool <<<"$(dmsetup targets)"; then
        lvm_why="no dm-snapshot or dm-thin in this kernel"
    fi
fi
if [ -z "$lvm_why" ]; then
    . "$here/../tests/image/lvm-env.sh"
    # A plain LV, room for a full-size snapshot of it, and a thin pool.
    truncate -s $((lv_mib * 5 + 256))M "$tmp/pv.img"
    if pvloop=$(losetup --find --show "$tmp/pv.img"); then
        lvm_env_setup "$tmp/lvm" "$pvloop"
        vg=vireobench$$
        pvcreate -qq "$pvloop" >/dev/null && vgcreate -qq "$vg" "$pvloop" >/dev/null &&
            lvcreate -qq -L "${lv_mib}M" -n plain "$vg" >/dev/null &&
            lvcreate -qq -L "$((lv_mib * 2))M" -T "$vg/pool" >/dev/null &&
            lvcreate -qq -V "${lv_mib}M" -T "$vg/pool" -n thin >/dev/null ||
            { echo "clone: setting up the volume group failed" >&2; exit 1; }
        for lv in plain thin; do
            dd if=vm.raw of="/dev/$vg/$lv" bs=1M count=$((lv_mib / 2)) conv=fsync status=none
        done
    else
        pvloop= lvm_why="no loop device"
    fi
fi

# --- the systems ---------------------------------------------------------------
# Each prints nothing; the clone it makes is removed by undo_SYSTEM, untimed.
systems=(vireo-img-overlay qemu-img)
[ -z "$reflink_why" ] && systems+=(vireo-img-reflink vireo-clone-reflink cp-reflink)
[ -z "$lvm_why" ] && systems+=(vireo-img-lvthin lvcreate-thin vireo-img-lvcow lvcreate-cow)
systems+=(cp-sparse)
run_sys() {
    case $1 in
    vireo-img-overlay) "$vireo" image clone -f qcow2 base.qcow2 dst.qcow2 ;;
    qemu-img) qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 dst.qcow2 ;;
    vireo-img-reflink) "$vireo" image clone vm.raw dst.raw ;;
    vireo-clone-reflink) "$vireo" clone vm.cfg vm2 ;;
    cp-reflink) cp --reflink=always vm.raw dst.raw ;;
    vireo-img-lvthin) "$vireo" image clone "/dev/$vg/thin" "$vg/snap" ;;
    lvcreate-thin) lvcreate -qq -s -n snap "$vg/thin" ;;
    vireo-img-lvcow) "$vireo" image clone "/dev/$vg/plain" "$vg/snap" ;;
    lvcreate-cow) lvcreate -qq -s -L "${lv_mib}M" -n snap "$vg/plain" ;;
    cp-sparse) cp --reflink=never --sparse=always vm.raw dst.raw ;;
    esac >/dev/null
}
undo_sys() {
    case $1 in
    *lvthin|*lvcow|lvcreate-*) lvremove -qq -f "$vg/snap" >/dev/null ;;
    vireo-clone-reflink) rm -f vm2.cfg vm2.raw ;;
    *) rm -f dst.qcow2 dst.raw ;;
    esac
}
peer_of() {
    case $1 in
    vireo-*overlay) echo qemu-img ;;
    vireo-*reflink) echo cp-reflink ;;
    vireo-img-lvthin) echo lvcreate-thin ;;
    vireo-img-lvcow) echo lvcreate-cow ;;
    esac
}
# The clones' output files must not exist beforehand (both sides refuse
# or overwrite differently): check once that each system works.
for s in "${systems[@]}"; do
    run_sys "$s" || { echo "clone: $s failed" >&2; exit 1; }
    undo_sys "$s"
done

ms_now() { date +%s%N; }
declare -A times=()
n=${#systems[@]}
for r in $(seq 0 $((rounds - 1))); do
    for k in $(seq 0 $((n - 1))); do
        s=${systems[$(( (k + r) % n ))]}
        sync
        t0=$(ms_now)
        run_sys "$s"
        t1=$(ms_now)
        undo_sys "$s"
        times[$s]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", (b - a) / 1e6}') "
    done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
printf '%-22s %10s %10s  %s\n' system median_ms ratio "(vireo/peer, median of per-round ratios)"
for s in "${systems[@]}"; do
    med=$(median <<<"${times[$s]}")
    p=$(peer_of "$s")
    ratio=-
    if [ -n "$p" ]; then
        read -ra a <<<"${times[$s]}"
        read -ra b <<<"${times[$p]}"
        ratio=$(for i in "${!a[@]}"; do awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN {printf "%.3f ", x / y}'; done | median)
        ratio="$ratio vs $p"
    fi
    printf '%-22s %10.2f %10s\n' "$s" "$med" "$ratio"
done
[ -n "$reflink_why" ] && echo "reflink: skipped ($reflink_why)"
[ -n "$lvm_why" ] && echo "lvm: skipped ($lvm_why)"
for s in vireo-img-overlay vireo-clone-reflink vireo-img-lvthin vireo-img-lvcow; do
    [ -n "${times[$s]:-}" ] || continue
    med=$(median <<<"${times[$s]}")
    awk -v m="$med" 'BEGIN {exit !(m <= 50)}' && v=met || v="NOT met"
    echo "target <= 50 ms: $s $med ms: $v"
done
