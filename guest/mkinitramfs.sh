#!/usr/bin/env bash
# mkinitramfs.sh OUT.cpio.gz [MODDIR...]: the guest's busybox initramfs,
# /init = guest/init.  Each MODDIR (a kernel's lib/modules/VERSION) adds the
# virtio modules for that kernel under /lib/modules/VERSION, with the order
# init loads them in; one image then serves all the kernels.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 OUT.cpio.gz [MODDIR...]" >&2; exit 2; }
out=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
bb=/bin/busybox
# Only the static build works with no libraries in the image.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' ||
    { echo "mkinitramfs: needs Debian's busybox-static" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc}
cp "$bb" "$root/bin/busybox"
# Symlinks for every applet, so the init script can call them by name.
for applet in $("$bb" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
cp "$here/init" "$root/init"
for moddir in "$@"; do
    moddir=$(readlink -f "$moddir")
    kdir=$root/lib/modules/$(basename "$moddir")
    mkdir -p "$kdir"
    for f in $("$here/../scripts/module-closure.sh" "$moddir" virtio_pci virtio_blk); do
        cp "$moddir/$f" "$kdir/"
        basename "$f"
    done >"$kdir/load"
done
chmod 755 "$root/init"

mkdir -p "$(dirname "$out")"
# No /dev/console node needed: the kernel's built-in initramfs has one.
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet) |
    gzip -9n >"$out.tmp"
mv "$out.tmp" "$out"
echo "mkinitramfs: wrote $out ($(stat -c %s "$out") bytes)"
