#!/usr/bin/env bash
# mkinitramfs.sh [--add-binary PATH]... OUT.cpio.gz [MODDIR...]: the guest's
# busybox initramfs, /init = guest/init.  Each MODDIR (a kernel's
# lib/modules/VERSION) adds the virtio and power button modules for that
# kernel under /lib/modules/VERSION, with the order init loads them in; one
# image then serves all the kernels.  Each --add-binary copies a host
# program (e.g. /usr/bin/fio for the disk benchmark) to the same path in the
# image, with the shared libraries and dynamic loader it needs: busybox
# alone is static, so nothing else in the image provides them.
set -euo pipefail
usage() { echo "usage: $0 [--add-binary PATH]... OUT.cpio.gz [MODDIR...]" >&2; exit 2; }
binaries=()
while [ $# -gt 0 ]; do
    case $1 in
    --add-binary) [ $# -ge 2 ] || usage; binaries+=("$2"); shift 2 ;;
    --add-binary=*) binaries+=("${1#--add-binary=}"); shift ;;
    --) shift; break ;;
    -*) usage ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || usage
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
# button turns the ACPI power button (what `vireo shutdown` and QEMU's
# system_powerdown press) into an input device, and evdev gives it the
# /dev/input/event node that busybox acpid reads (vireo.action=wait).
# virtio_console gives hvc0 for a console=hvc0 command line.
modules=(virtio_pci virtio_blk virtio_net virtio_balloon virtio_console button evdev)
for moddir in "$@"; do
    moddir=$(readlink -f "$moddir")
    kdir=$root/lib/modules/$(basename "$moddir")
    mkdir -p "$kdir"
    # module-closure.sh takes a missing .ko for a built-in one; a kernel
    # with neither would give a guest whose power button silently does
    # nothing, so catch that here.
    for m in "${modules[@]}"; do
        [ -n "$(find "$moddir/kernel" -name "$m.ko" -print -quit)" ] ||
            grep -q "/$m\.ko\$" "$moddir/modules.builtin" ||
            { echo "mkinitramfs: $moddir has no $m module, built in or not" >&2; exit 1; }
    done
    # An assignment, not a for list, so a module-closure.sh failure stops us.
    files=$("$here/../scripts/module-closure.sh" "$moddir" "${modules[@]}")
    for f in $files; do
        cp "$moddir/$f" "$kdir/"
        basename "$f"
    done >"$kdir/load"
done
chmod 755 "$root/init"

# add_binary PATH: PATH and, at the paths ldd resolves them to, every library
# it loads (the closure: ldd lists indirect ones too) and its loader.  Same
# paths as on the host, so RUNPATHs and the loader's default directories
# find them with no ld.so.cache in the image.
add_binary() {
    local bin=$1 deps f
    [ -f "$bin" ] && [ -x "$bin" ] || { echo "mkinitramfs: --add-binary $bin: not an executable file" >&2; exit 1; }
    bin=$(readlink -f "$bin")
    # cp would follow a busybox applet symlink of that name and overwrite
    # busybox itself.
    rm -f "$root$bin"
    mkdir -p "$root$(dirname "$bin")"
    cp "$bin" "$root$bin"
    # ldd fails on a static binary, which needs nothing more.
    deps=$(ldd "$bin" 2>/dev/null) || return 0
    if grep -q 'not found' <<<"$deps"; then
        echo "mkinitramfs: --add-binary $bin: missing libraries:" >&2
        grep 'not found' <<<"$deps" >&2
        exit 1
    fi
    for f in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$deps"); do
        [ -e "$root$f" ] && continue
        mkdir -p "$root$(dirname "$f")"
        cp -L "$f" "$root$f"
    done
}
for b in ${binaries[@]+"${binaries[@]}"}; do
    add_binary "$b"
done

mkdir -p "$(dirname "$out")"
# No /dev/console node needed: the kernel's built-in initramfs has one.
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet) |
    gzip -9n >"$out.tmp"
mv "$out.tmp" "$out"
echo "mkinitramfs: wrote $out ($(stat -c %s "$out") bytes)"
