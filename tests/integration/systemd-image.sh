#!/usr/bin/env bash
# systemd-image.sh BUILD_DIR: the Debian guest image of the systemd suite
# (cases-systemd.sh) and of bench/systemd-boot.sh, made by `vireo image
# bootstrap` on this machine (it needs root and the Debian mirror, which the
# test host has neither of) and cached:
#   BUILD_DIR/systemd-guest/sg.img, sg.cfg   the guest (raw, 2 GiB, sparse)
#   BUILD_DIR/systemd-guest/key              what it was made from
#   BUILD_DIR/bootstrap-cache/               vireo image bootstrap's bases
# The key hashes the inputs: the bootstrap's steps (image_bootstrap.sh),
# this script, the test's SSH key, and the version of Debian's cloud kernel
# that the machine's APT lists name.  A new kernel version also remakes the
# base (--refresh); otherwise the base is reused and the guest is made in
# seconds.  The first run takes minutes (debootstrap), later runs nothing.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$build/systemd-guest
kernel=$(apt-cache show --no-all-versions linux-image-cloud-amd64 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
[ -n "$kernel" ] || kernel=unknown
key=$({ cat "$repo/src/toolstack/image_bootstrap.sh" "$0" "$repo/tests/integration/systemd-guest.pub"
        echo "kernel $kernel"; } | sha256sum | cut -c1-16)
if [ -s "$out/sg.img" ] && [ "$(cat "$out/key" 2>/dev/null)" = "$key" ]; then
    echo "systemd-image: cached $out/sg.img (key $key)"
    exit 0
fi
refresh=()
[ -e "$out/kernel" ] && [ "$(cat "$out/kernel")" != "$kernel" ] && refresh=(--refresh)
echo "systemd-image: making $out/sg.img (key $key, cloud kernel $kernel${refresh:+, new kernel: base remade})"
rm -rf "$out.new"
mkdir -p "$out.new"
trap 'rm -rf "$out.new"' EXIT
t0=$SECONDS
VIREO_BOOTSTRAP_CACHE=$build/bootstrap-cache "$build/vireo" image bootstrap sg --size 2G \
    --ip 169.254.77.2/24 --bridge xenbr0 --ssh-key "$repo/tests/integration/systemd-guest.pub" \
    --memory 512 --vcpus 2 -o "$out.new" ${refresh[@]+"${refresh[@]}"}
echo "$kernel" >"$out.new/kernel"
echo "$key" >"$out.new/key"
rm -rf "$out"
mv "$out.new" "$out"
trap - EXIT
echo "systemd-image: made in $((SECONDS - t0)) s"
