#!/usr/bin/env bash
# Installs, from Debian's packages, what `make demo` (build) or `make check`
# (test) needs.  Does nothing when everything is already there.
set -euo pipefail
what=${1:-build}
pkgs=(build-essential meson ninja-build pkg-config libcmocka-dev liburing-dev qemu-system-x86 busybox-static cpio
      clang bpftool libbpf-dev libjson-c-dev libmnl-dev libext2fs-dev libseccomp-dev libcap-ng-dev zlib1g-dev
      libzstd-dev libarchive-dev libmicrohttpd-dev libncurses-dev)
if [ "$what" = test ]; then
    # python3, libxml2-utils, time: the microscope's report checks (JSON, SVG, memory);
    # bpftrace: the peers in bench/microscope.sh; lvm2, thin-provisioning-tools,
    # xfsprogs, btrfs-progs: the clone tests (LVM snapshots, reflinks); tmux,
    # prometheus, curl: vireo top and vireo metrics (a real Prometheus scrapes it)
    pkgs+=(acpica-tools libclang-rt-14-dev socat fio iperf3 e2fsprogs mount sysstat iotop systemd fdisk gdisk qemu-utils
           python3 libxml2-utils time bpftrace lvm2 thin-provisioning-tools xfsprogs btrfs-progs tmux prometheus curl
           debootstrap zstd)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# VM processes run as the system user 'vireo' when vireo runs as root (the
# tests run as root); meson install creates it too.
if ! getent passwd vireo >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin vireo
        echo "install-deps: created the system user 'vireo'"
    else
        echo "install-deps: no user 'vireo' (VMs started as root run as it); run as root to create it" >&2
    fi
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A mirror that stalls for a moment must not fail a CI run: apt retries each
# download, and the whole install is tried three times.
apt_opts=(-o Acquire::Retries=5 -o Acquire::http::Timeout=60)
for attempt in 1 2 3; do
    if apt-get "${apt_opts[@]}" update -qq &&
       apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        exit 0
    fi
    [ "$attempt" = 3 ] || { echo "install-deps: apt failed (attempt $attempt of 3); trying again in 20 s" >&2; sleep 20; }
done
echo "install-deps: could not install: ${missing[*]}" >&2
exit 1
