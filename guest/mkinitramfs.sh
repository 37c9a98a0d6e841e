#!/usr/bin/env bash
# mkinitramfs.sh OUT.cpio.gz: the guest's busybox initramfs, /init = guest/init.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUT.cpio.gz" >&2; exit 2; }
out=$1
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
chmod 755 "$root/init"

mkdir -p "$(dirname "$out")"
# No /dev/console node needed: the kernel's built-in initramfs has one.
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet) |
    gzip -9n >"$out.tmp"
mv "$out.tmp" "$out"
echo "mkinitramfs: wrote $out ($(stat -c %s "$out") bytes)"
