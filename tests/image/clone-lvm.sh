#!/usr/bin/env bash
# clone-lvm.sh VIREO: `vireo image clone`, `vireo clone` and `vireo backup`
# of LVM logical volumes, in a volume group on a loop device: a classic
# copy-on-write snapshot of a plain volume, a thin snapshot of a thin one,
# and what is refused.  Needs root, loop devices, lvm2 and the kernel's
# device mapper with dm-snapshot and dm-thin (the build machines have no
# device mapper: this runs in the test host); exits 77 (skipped) without.
set -uo pipefail
vireo=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/lvm-env.sh"
skip() { echo "clone-lvm: $*: skipped"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root"
PATH=$PATH:/usr/sbin:/sbin
command -v lvcreate >/dev/null || skip "lvm2 is not installed"
modprobe -q dm_snapshot 2>/dev/null; modprobe -q dm_thin_pool 2>/dev/null
dmsetup version >/dev/null 2>&1 || skip "no device mapper in this kernel"
# No <(...): the test host's /dev has no /dev/fd.
targets=$(dmsetup targets)
grep -qw snapshot <<<"$targets" || skip "no dm-snapshot in this kernel"
grep -qw thin-pool <<<"$targets" || skip "no dm-thin in this kernel"
work=$(mktemp -d "${TMPDIR:-/tmp}/vireo-clone-lvm.XXXXXX")
vg=vireotest$$ dev=
cleanup() {
    cd /
    [ -n "${LVM_SYSTEM_DIR:-}" ] && vgremove -qq -f "$vg" >/dev/null 2>&1
    [ -n "$dev" ] && losetup -d "$dev"
    rm -rf "$work"
}
trap cleanup EXIT
truncate -s 2G "$work/pv.img"
dev=$(losetup --find --show "$work/pv.img") || { dev=; skip "no loop device"; }
lvm_env_setup "$work/lvm" "$dev"
export VIREO_RUN_DIR=$work/run VIREO_LOG_DIR=$work/log
cd "$work"
pvcreate -qq "$dev" && vgcreate -qq "$vg" "$dev" || { bad "setting up a volume group"; finish; exit 1; }
lvcreate -qq -L 64M -n app "$vg" >/dev/null && lvcreate -qq -L 512M -T "$vg/pool" >/dev/null &&
    lvcreate -qq -V 128M -T "$vg/pool" -n db >/dev/null || { bad "making volumes"; finish; exit 1; }
dd if=/dev/urandom of="/dev/$vg/app" bs=1M count=8 seek=16 conv=fsync status=none
dd if=/dev/urandom of="/dev/$vg/db" bs=1M count=8 seek=40 conv=fsync status=none

# --- image clone: classic and thin snapshots ---------------------------------
expect "image clone of a plain LV: a classic snapshot" 0 "LVM snapshot (raw)" -- \
    "$vireo" image clone "/dev/$vg/app" snapapp
echo "# $out"
cmp -s "/dev/$vg/app" "/dev/$vg/snapapp" && ok "classic snapshot: same content" || bad "classic snapshot: content"
origin=$(lvs --noheadings -o origin "$vg/snapapp" | tr -d ' ')
[ "$origin" = app ] && ok "classic snapshot: its origin is app" || bad "classic snapshot: origin '$origin'"
cow=$(lvs --noheadings --units b --nosuffix -o lv_size "$vg/snapapp" | tr -d ' ')
[ "$cow" -ge $((64 << 20)) ] && ok "classic snapshot: room for the whole origin ($cow bytes)" ||
    bad "classic snapshot: COW size $cow"
before=$(sum "/dev/$vg/snapapp")
dd if=/dev/urandom of="/dev/$vg/app" bs=1M count=64 conv=fsync status=none   # every block of the origin
[ "$(sum "/dev/$vg/snapapp")" = "$before" ] && ok "classic snapshot: rewriting all of the origin leaves it intact" ||
    bad "classic snapshot: changed by the origin's writes"
attr=$(lvs --noheadings -o lv_attr "$vg/snapapp" | tr -d ' ')
[ "${attr:4:1}" != I ] && ok "classic snapshot: still valid ($attr)" || bad "classic snapshot: invalid" "$(lvs "$vg")"
expect "image clone of a thin LV: a thin snapshot" 0 "LVM thin snapshot (raw)" -- \
    "$vireo" image clone "/dev/$vg/db" "$vg/db2"
cmp -s "/dev/$vg/db" "/dev/$vg/db2" && ok "thin snapshot: same content" || bad "thin snapshot: content"
[ "$(lvs --noheadings -o pool_lv "$vg/db2" | tr -d ' ')" = pool ] && ok "thin snapshot: in the pool" ||
    bad "thin snapshot: pool"
before=$(sum "/dev/$vg/db")
dd if=/dev/zero of="/dev/$vg/db2" bs=1M count=8 seek=40 conv=fsync status=none
[ "$(sum "/dev/$vg/db")" = "$before" ] && ok "thin snapshot: its writes leave the origin alone" ||
    bad "thin snapshot: origin changed"
expect "image clone of an LV with --snapshot-size" 0 "LVM snapshot" -- \
    "$vireo" image clone --snapshot-size 16M "/dev/$vg/app" "/dev/$vg/small"
cow=$(lvs --noheadings --units m --nosuffix -o lv_size "$vg/small" | tr -d ' ')
[ "${cow%.*}" = 16 ] && ok "--snapshot-size: a 16 MiB COW" || bad "--snapshot-size: $cow MiB"

# --- refusals ------------------------------------------------------------------
expect "LV: DST exists" 1 "$vg/snapapp exists; nothing was changed" -- \
    "$vireo" image clone "/dev/$vg/app" "$vg/snapapp"
expect "LV: another volume group" 1 "stays in volume group $vg" -- "$vireo" image clone "/dev/$vg/app" other/x
expect "LV: a name lvm2 refuses" 1 "is not a name lvm2 accepts" -- "$vireo" image clone "/dev/$vg/app" "snapshot0"
expect "LV: a snapshot of a classic snapshot" 1 "lvm2 cannot snapshot a snapshot" -- \
    "$vireo" image clone "/dev/$vg/snapapp" again
expect "LV: a COW that does not fit" 1 "does not fit: volume group $vg has" -- \
    "$vireo" image clone --snapshot-size 1T "/dev/$vg/app" huge
lvcreate -qq -l 100%FREE -n filler "$vg" >/dev/null
expect "LV: no room for a full-size snapshot" 1 "give --snapshot-size SIZE for a smaller one" -- \
    "$vireo" image clone "/dev/$vg/app" nofit
lvremove -qq -f "$vg/filler" >/dev/null
expect "a block device that is no LV" 1 "not an active LVM logical volume" -- "$vireo" image clone "$dev" x
[ -z "$(lvs --noheadings -o lv_name "$vg" | tr -d ' ' | grep -xE 'x|nofit|huge|again')" ] &&
    ok "LV: refusals made no volume" || bad "LV: a refusal left a volume" "$(lvs "$vg")"

# --- vireo clone and backup of a VM on LVM (off) -------------------------------
cat >app.cfg <<END
name = "app"
kernel = "/boot/vmlinuz"
disk = [ 'phy:$vg/app,xvda,w' ]
END
expect "clone of a VM on an LV: a snapshot" 0 "/dev/$vg/app2 (LVM snapshot, raw)" -- "$vireo" clone app.cfg app2
grep -qF "target=/dev/$vg/app2\"" app2.cfg && ok "clone: the config names the snapshot" || bad "clone: cfg" "$(cat app2.cfg)"
cmp -s "/dev/$vg/app" "/dev/$vg/app2" && ok "clone: same content" || bad "clone: content"
expect "backup of a VM on an LV" 0 "backup of 'app'" -- "$vireo" backup app.cfg app.tar
[ "$(stat -c %s app.tar)" -lt $((80 << 20)) ] && ok "backup of an LV: zero blocks left out" ||
    bad "backup of an LV: $(stat -c %s app.tar) bytes"
mkdir r
expect "import of an LV's backup" 0 "restored" -- "$vireo" image import -o r app.tar
cmp -s "/dev/$vg/app" r/app-xvda.raw && ok "import: the LV's content" || bad "import: content differs"
finish
