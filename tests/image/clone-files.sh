#!/usr/bin/env bash
# clone-files.sh VIREO: `vireo image clone`, `vireo clone`, `vireo backup`
# and `vireo image import` on this machine's file system (a folder under
# TMPDIR, ext4 on the build machines: no reflinks, so raw disks are
# copied), with qemu-img as the reference for qcow2, and every error the
# commands promise.  VMs that are off only; running VMs are in the test
# host (tests/integration/cases-toolstack.sh).
set -uo pipefail
vireo=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
command -v qemu-img >/dev/null || { echo "clone-files: qemu-img (qemu-utils) is missing: skipped"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/vireo-clone-files.XXXXXX")
holder=
trap '[ -n "$holder" ] && kill $holder 2>/dev/null; rm -rf "$work"' EXIT
export VIREO_RUN_DIR=$work/run VIREO_LOG_DIR=$work/log
cd "$work"
echo "# file system: $(stat -f -c %T .)"

# --- vireo image clone: qcow2 ------------------------------------------
qemu-img create -q -f qcow2 base.qcow2 64M
qemu-io -c 'write -P 0x41 1M 64k' -c 'write -P 0x42 40M 4k' base.qcow2 >/dev/null
expect "image clone qcow2: an overlay" 0 "qcow2 overlay (qcow2)" -- "$vireo" image clone -f qcow2 base.qcow2 o1.qcow2
info=$(qemu-img info --output=json o1.qcow2)
grep -q '"backing-filename": "base.qcow2"' <<<"$info" && grep -q '"backing-filename-format": "qcow2"' <<<"$info" &&
    ok "image clone qcow2: backing file and its format recorded" || bad "image clone qcow2: backing recorded" "$info"
check "image clone qcow2: qemu-img check is clean" qemu-img check -q o1.qcow2
check "image clone qcow2: same content (qemu-img compare)" qemu-img compare -q base.qcow2 o1.qcow2
mkdir sub
"$vireo" image clone -f qcow2 base.qcow2 sub/o2.qcow2 >/dev/null
qemu-img info --output=json sub/o2.qcow2 | grep -q "\"backing-filename\": \"$work/base.qcow2\"" &&
    ok "image clone qcow2: another folder gets the absolute path" || bad "image clone qcow2: absolute path" \
    "$(qemu-img info sub/o2.qcow2)"
qemu-io -c 'write -P 0x43 1M 4k' o1.qcow2 >/dev/null
qemu-io -c 'read -P 0x41 1M 4k' base.qcow2 | grep -q 'read 4096' &&
    qemu-io -c 'read -P 0x43 1M 4k' o1.qcow2 | grep -q 'read 4096' &&
    ok "image clone qcow2: the overlay's writes stay in the overlay" || bad "image clone qcow2: writes"

# --- vireo image clone: raw without reflinks: a sparse copy ------------------
truncate -s 256M web.img
dd if=/dev/urandom of=web.img bs=1M count=8 seek=16 conv=notrunc status=none
printf 'tail' | dd of=web.img bs=1 seek=$((200 << 20)) conv=notrunc status=none
if "$vireo" image clone web.img copy.img >out 2>&1; then
    method=$(sed -n 's/.*: \(reflink\|sparse copy\) (raw).*/\1/p' out)
    echo "# raw clone here: $method ($(cat out))"
    [ -n "$method" ] && ok "image clone raw: reflink or sparse copy" || bad "image clone raw: method" "$(cat out)"
    cmp -s web.img copy.img && ok "image clone raw: same content" || bad "image clone raw: content differs"
    [ "$(allocated_kib copy.img)" -le $(( $(allocated_kib web.img) + 1024 )) ] &&
        ok "image clone raw: holes stay holes" || bad "image clone raw: holes" "$(du -k web.img copy.img)"
else
    bad "image clone raw" "$(cat out)"
fi

# --- vireo image clone: errors -------------------------------------------
before=$(sum copy.img)
expect "image clone: DST exists is refused" 1 "copy.img exists; nothing was changed" -- \
    "$vireo" image clone web.img copy.img
[ "$(sum copy.img)" = "$before" ] && ok "image clone: the existing DST is unchanged" || bad "DST changed"
expect "image clone: DST exists (qcow2)" 1 "o1.qcow2 exists; nothing was changed" -- \
    "$vireo" image clone -f qcow2 base.qcow2 o1.qcow2
expect "image clone: missing SRC" 1 "nothere.img: No such file or directory" -- \
    "$vireo" image clone nothere.img x.img
expect "image clone: a qcow2 SRC without -f" 1 "base.qcow2 looks like a qcow2 image; say -f qcow2" -- \
    "$vireo" image clone base.qcow2 x.qcow2
expect "image clone: unknown format" 2 "format 'vmdk' is not raw or qcow2" -- "$vireo" image clone -f vmdk web.img x.img
expect "image clone: DST missing" 2 "SRC and DST are needed" -- "$vireo" image clone web.img
expect "image clone: bad --snapshot-size" 2 "--snapshot-size 'lots' is not a size" -- \
    "$vireo" image clone --snapshot-size lots web.img x.img
qemu-img create -q -f qcow2 -u -b gone.raw -F raw orphan.qcow2 16M
expect "image clone: a missing backing file names the chain" 1 \
    "orphan.qcow2: backing file 'gone.raw': gone.raw: No such file or directory" -- \
    "$vireo" image clone -f qcow2 orphan.qcow2 x.qcow2
[ ! -e x.qcow2 ] && [ ! -e x.img ] && ok "image clone: failures leave no DST" || bad "a failed clone left a DST"
hold_write_lock web.img
expect "image clone: a SRC a VM writes is refused" 1 "in use by another VM or process" -- \
    "$vireo" image clone web.img x.img
kill $holder; wait $holder 2>/dev/null; holder=; rm -f web.img.locked
hold_write_lock base.qcow2
expect "image clone: a qcow2 SRC a VM writes is refused" 1 "in use by another VM or process" -- \
    "$vireo" image clone -f qcow2 base.qcow2 x.qcow2
kill $holder; wait $holder 2>/dev/null; holder=; rm -f base.qcow2.locked

# --- vireo clone of a VM that is off ---------------------------------------
truncate -s 32M shared.iso
cat >web.cfg <<END
name = "web"
kernel = "/boot/vmlinuz"
memory = 128
disk = [ 'web.img,raw,xvda,rw', 'file:$work/shared.iso,xvdc,r' ]
vif = [ 'bridge=br0, mac=02:11:22:33:44:55, vifname=webtap' ]
END
expect "clone: a VM that is off" 0 "wrote $work/web2.cfg" -- "$vireo" clone web.cfg web2
grep -q '^name = "web2"$' web2.cfg && ok "clone: the new name" || bad "clone: name" "$(cat web2.cfg)"
grep -qF "\"vdev=xvda, access=rw, format=raw, target=$work/web2.img\"" web2.cfg &&
    ok "clone: the writable disk is a new image" || bad "clone: disk line" "$(cat web2.cfg)"
grep -qF "\"vdev=xvdc, access=ro, format=raw, target=$work/shared.iso\"" web2.cfg &&
    ok "clone: the read-only disk is shared" || bad "clone: shared disk" "$(cat web2.cfg)"
grep -qF '"bridge=br0"' web2.cfg && ! grep -qE 'mac=|vifname=' web2.cfg &&
    ok "clone: the vif lost mac= and vifname=" || bad "clone: vif" "$(cat web2.cfg)"
grep -qF 'mac ' <<<"$out" && ok "clone: the derived MAC is shown" || bad "clone: MAC line" "$out"
cmp -s web.img web2.img && ok "clone: same disk content" || bad "clone: content"
"$vireo" create -n web2.cfg >dry 2>&1 && grep -q '"name": "web2"' dry && ok "clone: the new config parses" ||
    bad "clone: new config" "$(cat dry)"
mkdir elsewhere
expect "clone -o DIR" 0 "wrote elsewhere/web3.cfg" -- "$vireo" clone -o elsewhere web.cfg web3
expect "clone: the same name" 1 "the clone needs a name of its own" -- "$vireo" clone web.cfg web
expect "clone: an invalid name" 2 "is not a VM name" -- "$vireo" clone web.cfg "../evil"
expect "clone: NEWNAME.cfg exists" 1 "web2.cfg exists; nothing was changed" -- "$vireo" clone web.cfg web2
expect "clone: a disk's copy exists" 1 "web4.img exists; nothing was changed" -- \
    sh -c "touch web4.img; '$vireo' clone web.cfg web4"
[ ! -e web4.cfg ] && ok "clone: nothing written after a refusal" || bad "clone: web4.cfg left"
sed 's/web.img/missing.img/' web.cfg >m.cfg
expect "clone: a missing disk" 1 "missing.img: No such file or directory" -- "$vireo" clone m.cfg m2
[ ! -e m2.cfg ] && ok "clone: no config for a failed clone" || bad "clone: m2.cfg left"
hold_write_lock web.img
expect "clone: a disk written by another VM" 1 "is written by a running VM" -- "$vireo" clone web.cfg web5
kill $holder; wait $holder 2>/dev/null; holder=; rm -f web.img.locked
[ ! -e web5.img ] && [ ! -e web5.cfg ] && ok "clone: nothing made for a disk in use" || bad "clone: web5 left"
expect "clone: a name that does not run" 1 "to copy a VM that is off, give its config file" -- "$vireo" clone nosuchvm x
expect "clone: usage" 2 "expected NAME-or-CFG and NEWNAME" -- "$vireo" clone web.cfg

# --- vireo backup and vireo image import -------------------------------------
expect "backup: a VM that is off, to a file" 0 "backup of 'web': 2 disks" -- "$vireo" backup web.cfg web.tar
tar -tf web.tar >list 2>&1 && [ "$(tr '\n' ' ' <list)" = "vireo-backup.json web.cfg web-xvda.raw web-xvdc.raw vireo-backup.end.json " ] &&
    ok "backup: a tar with manifest, config, disks, trailer" || bad "backup: entries" "$(cat list)"
[ "$(stat -c %s web.tar)" -lt $((16 << 20)) ] && ok "backup: only data travels" || bad "backup: size $(stat -c %s web.tar)"
mkdir r
expect "import: restores" 0 "restored $work/r/web.cfg" -- "$vireo" image import -o r web.tar
cmp -s web.img r/web-xvda.raw && cmp -s shared.iso r/web-xvdc.raw && ok "import: same disk content" ||
    bad "import: content"
grep -qF "target=$work/r/web-xvda.raw" r/web.cfg && grep -q 'mac=02:11:22:33:44:55' r/web.cfg &&
    ok "import: the config names the restored disks, keeps its MAC" || bad "import: config" "$(cat r/web.cfg)"
"$vireo" create -n r/web.cfg >/dev/null 2>&1 && ok "import: the restored config parses" || bad "import: config parse"
expect "import: nothing is overwritten" 1 "web.cfg exists; nothing was changed" -- "$vireo" image import -o r web.tar
"$vireo" backup web.cfg - 2>/dev/null | gzip -1 | "$vireo" image import -o r -n piped - >out 2>&1 &&
    cmp -s web.img r/piped-xvda.raw && ! grep -q 'mac=' r/piped.cfg && grep -q '^name = "piped"' r/piped.cfg &&
    ok "backup to stdout | gzip | import -n from stdin" || bad "backup | import" "$(cat out)"
expect "backup: DEST exists" 1 "web.tar: File exists; nothing was changed" -- "$vireo" backup web.cfg web.tar
expect "backup: a missing disk" 1 "missing.img: No such file or directory" -- "$vireo" backup m.cfg m.tar
[ ! -e m.tar ] && ok "backup: no partial DEST after a failure" || bad "backup: m.tar left"
head -c $(( $(stat -c %s web.tar) / 2 )) web.tar >cut.tar
expect "import: a stream cut short" 1 "nothing was restored" -- "$vireo" image import -o r -n cut cut.tar
[ -z "$(ls -A r | grep -E '^\.|^cut')" ] && ok "import: a failed import leaves nothing" || bad "import: left" "$(ls -A r)"
expect "import: not a backup (zero blocks: a tar end)" 1 "the stream ends before vireo-backup.json" -- \
    "$vireo" image import -o r -n junk web.img
head -c 4096 /dev/urandom >noise.bin
expect "import: not a backup (noise)" 1 "opening the stream: Unrecognized archive format" -- \
    "$vireo" image import -o r -n junk noise.bin
expect "import: a missing file" 1 "nope.tar: No such file or directory" -- "$vireo" image import -o r nope.tar
expect "import: a bad -n" 2 "is not a VM name" -- "$vireo" image import -n ../x web.tar
expect "import: -o not a folder" 1 "not a folder" -- "$vireo" image import -o web.img web.tar
finish
