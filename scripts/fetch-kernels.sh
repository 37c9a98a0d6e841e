#!/usr/bin/env bash
# fetch-kernels.sh BUILD_DIR: Debian 12's generic and cloud kernels, unpacked
# (not installed) under BUILD_DIR/guest, with stable names for the rest of the
# tree: vmlinuz-{generic,cloud} and modules-{generic,cloud}/.
# Cached: a flavour whose .deb is already there is not downloaded again.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
guest=$1/guest
mkdir -p "$guest"
cd "$guest"

# The meta package names the current ABI (6.1.0-NN); ask the local apt lists
# first, and refresh them only if they don't know the package yet.
resolve() {
    apt-cache depends "$1" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-.*\)$/\1/p' | head -n1
}

for flavour in generic cloud; do
    meta=linux-image-amd64
    [ "$flavour" = cloud ] && meta=linux-image-cloud-amd64
    pkg=$(resolve "$meta")
    if [ -z "$pkg" ]; then
        apt-get update -qq
        pkg=$(resolve "$meta")
    fi
    [ -n "$pkg" ] || { echo "fetch-kernels: cannot resolve $meta" >&2; exit 1; }
    ver=${pkg#linux-image-}
    if ! ls "${pkg}"_*.deb >/dev/null 2>&1; then
        echo "fetch-kernels: downloading $pkg"
        # apt-get download writes into the current directory; a stale package
        # list gives a 404, so refresh once and retry.
        # As root, apt's _apt sandbox user can't write here; skip it quietly.
        opts=(-q)
        [ "$(id -u)" = 0 ] && opts+=(-o APT::Sandbox::User=root)
        apt-get download "${opts[@]}" "$pkg" >/dev/null ||
            { apt-get update -qq && apt-get download "${opts[@]}" "$pkg" >/dev/null; }
    fi
    deb=$(ls "${pkg}"_*.deb | tail -n1)
    # Unpack into a per-version dir, once (the marker makes an interrupted
    # unpack redo itself).
    if [ ! -e "$pkg/.unpacked" ]; then
        rm -rf "$pkg"
        dpkg-deb -x "$deb" "$pkg"
        touch "$pkg/.unpacked"
    fi
    ln -sfn "$pkg/boot/vmlinuz-$ver" "vmlinuz-$flavour"
    ln -sfn "$pkg/lib/modules/$ver" "modules-$flavour"
    echo "fetch-kernels: $flavour = $ver"
done
