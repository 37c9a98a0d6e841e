#!/usr/bin/env bash
# systemd-boot.sh BUILD_DIR [ROUNDS] [--bootstrap]: time from VMM start to
# multi-user.target of the Debian guest that `vireo image bootstrap` makes
# (tests/integration/systemd-image.sh, cached), in ONE test host boot:
#   vireo-disk  vireo run --boot disk: kernel, initrd and command line read
#               from the disk's grub.cfg (pygrub's way)
#   vireo-hand  vireo run --kernel/--initrd with the same files and line
#   q35         QEMU q35 -kernel/-initrd with the same files and line
# Same disk (a fresh qcow2 overlay on the image for every boot), 512 MiB,
# 2 vCPUs, no NIC.  Rounds are rotated; prints medians and the medians of
# the per-round ratios (emulated times: only the ratios mean anything).
# --bootstrap also times `vireo image bootstrap` on this machine, the
# first guest (an empty base cache: debootstrap from the mirror) and the
# second (from the base the first left).
set -euo pipefail
usage() { echo "usage: $0 BUILD_DIR [ROUNDS] [--bootstrap]" >&2; exit 2; }
[ $# -ge 1 ] || usage
build=$(cd "$1" && pwd); shift
rounds=3 bootstrap=
for a in "$@"; do
    case $a in
    --bootstrap) bootstrap=1 ;;
    *) [[ $a =~ ^[1-9][0-9]*$ ]] || usage; rounds=$a ;;
    esac
done
repo=$(cd "$(dirname "$0")/.." && pwd)

if [ -n "$bootstrap" ]; then
    tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/systemd-boot.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    for guest in first second; do
        t0=${EPOCHREALTIME/./}
        VIREO_BOOTSTRAP_CACHE=$tmp/cache "$build/vireo" image bootstrap "b$guest" --size 2G --dhcp \
            -o "$tmp/$guest" >"$tmp/$guest.log" 2>&1 ||
            { echo "systemd-boot: vireo image bootstrap ($guest guest) failed:" >&2; tail -n 20 "$tmp/$guest.log" >&2; exit 1; }
        ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
        printf 'vireo image bootstrap, %-6s guest: %d.%01d s\n' "$guest" $((ms / 1000)) $((ms % 1000 / 100))
        rm -f "$tmp/$guest"/*.img
    done
fi

"$repo/tests/integration/systemd-image.sh" "$build"
img=$build/systemd-guest/sg.img
# The files by hand: what the disk's grub.cfg names, read with debugfs
# (e2fsprogs) from the root partition, cached beside the image by its key.
files=$build/bench/systemd-boot
if [ "$(cat "$files/key" 2>/dev/null)" != "$(cat "$build/systemd-guest/key")" ]; then
    rm -rf "$files"; mkdir -p "$files"
    start=$(sgdisk -i 1 "$img" | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
    fs="$img?offset=$((start * 512))"
    debugfs -R "cat /boot/grub/grub.cfg" "$fs" 2>/dev/null >"$files/grub.cfg"
    # The default entry is the first menuentry (set default="0").
    kpath=$(awk '$1 == "linux" { print $2; exit }' "$files/grub.cfg")
    ipath=$(awk '$1 == "initrd" { print $2; exit }' "$files/grub.cfg")
    awk '$1 == "linux" { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' "$files/grub.cfg" >"$files/cmdline"
    [ -n "$kpath" ] && [ -n "$ipath" ] && [ -s "$files/cmdline" ] ||
        { echo "systemd-boot: no linux/initrd line in the image's grub.cfg" >&2; exit 1; }
    debugfs -R "dump $kpath $files/vmlinuz" "$fs" 2>/dev/null
    debugfs -R "dump $ipath $files/initrd.img" "$fs" 2>/dev/null
    [ -s "$files/vmlinuz" ] && [ -s "$files/initrd.img" ] || { echo "systemd-boot: could not read $kpath, $ipath" >&2; exit 1; }
    cp "$build/systemd-guest/key" "$files/key"
fi
echo "entry: $(cat "$files/cmdline")"
# Bound: 3 systems x ROUNDS x the inner 300 s limit, the image's copy and
# the test host's boot.
VIREO_BUILD=$build "$repo/tests/testhost/run" --memory 3072 --timeout $((3 * rounds * 300 + 300)) -- \
    "$repo/bench/systemd-boot-inner.sh" "$build" "$rounds"
