#!/usr/bin/env bash
# fetch-qemu.sh BUILD_DIR: the test host's QEMU, Debian's qemu-system-x86 from
# the bookworm-backports suite (10.0), unpacked with dpkg-deb -x into
# BUILD_DIR/qemu-backports/root and never installed.  The machine's APT
# configuration is left alone: the suite is added to a private APT set-up
# (its own sources list, lists and cache under BUILD_DIR/qemu-backports) on
# the same mirror the machine's sources name.  Prints the QEMU binary's path.
# Does nothing when the unpacked tree is already there.
# Why a newer QEMU: Debian 12's 7.2 froze the test host (README, "The test host").
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
mkdir -p "$1"
dir=$(cd "$1" && pwd)/qemu-backports
bin=$dir/root/usr/bin/qemu-system-x86_64
suite=${QEMU_SUITE:-bookworm-backports}
pkgs=(qemu-system-x86 qemu-system-common qemu-system-data)
# Two test hosts starting at once (a fresh build folder) fetch it once.
exec 8>"$1/.fetch-qemu.lock"
flock 8
if [ -x "$bin" ] && [ -e "$dir/root/.complete" ]; then
    echo "$bin"
    exit 0
fi
# The mirror: the first deb URI of the machine's sources (deb822 or one-line).
mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
         grep -v security | head -n1 || true)
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\).*/\2/p' \
         /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v security | head -n1 || true)
[ -n "$mirror" ] || { echo "fetch-qemu: no Debian mirror found in the machine's APT sources" >&2; exit 1; }
echo "fetch-qemu: ${pkgs[*]} from $suite ($mirror) into $dir" >&2
rm -rf "$dir"
mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/debs" "$dir/root.tmp"
trap 'rm -rf "$dir/root.tmp"' EXIT
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >"$dir/sources.list"
apt_opts=(-o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" -o APT::Get::List-Cleanup=0
          -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" -qq update >&2
(cd "$dir/debs" && apt-get "${apt_opts[@]}" -qq download "${pkgs[@]/%//$suite}" >&2)
for d in "$dir"/debs/*.deb; do dpkg-deb -x "$d" "$dir/root.tmp"; done
touch "$dir/root.tmp/.complete"
mv "$dir/root.tmp" "$dir/root"
rm -rf "$dir/lists" "$dir/cache"
trap - EXIT
"$bin" --version | head -n1 >&2
echo "$bin"
