#!/usr/bin/env bash
# Installs, from Debian's packages, what `make demo` (build) or `make check`
# (test) needs.  Does nothing when everything is already there.
set -euo pipefail
what=${1:-build}
pkgs=(build-essential meson ninja-build pkg-config libcmocka-dev liburing-dev qemu-system-x86 busybox-static cpio
      clang bpftool libbpf-dev libjson-c-dev libmnl-dev)
if [ "$what" = test ]; then
    pkgs+=(acpica-tools libclang-rt-14-dev socat fio iperf3 e2fsprogs sysstat iotop systemd)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
