#!/usr/bin/env bash
# demo.sh BUILD_DIR: the body of `make demo`: boot the Debian cloud kernel
# with the busybox initramfs under Vireo.  Here /dev/kvm may be KVM in PVM
# mode, which cannot run ordinary guests; then the demo runs inside the
# nested test host instead (tests/testhost/run).  Exits with vireo's status.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
cmdline="console=ttyS0 quiet"
vireo_args=(--kernel "$build/guest/vmlinuz-cloud" --initrd "$build/guest/initramfs.cpio.gz")

# Ordinary guests need VMX/SVM-backed KVM: kvm_intel or kvm_amd loaded, and a
# /dev/kvm we may open.
if { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; } &&
   [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    echo "demo: $build/vireo run ${vireo_args[*]} --cmdline '$cmdline'"
    exec "$build/vireo" run "${vireo_args[@]}" --cmdline "$cmdline"
fi
if [ -d /sys/module/kvm_pvm ]; then
    why="/dev/kvm here is PVM-mode KVM, which cannot run ordinary guests"
elif [ -e /dev/kvm ]; then
    why="/dev/kvm here is not usable for ordinary guests (no kvm_intel/kvm_amd, or no permission)"
else
    why="this host has no /dev/kvm"
fi
echo "demo: $why, so the demo runs inside the test host (QEMU TCG + nested SVM; slower; Ctrl-A x quits)"
# Under double emulation these skip calibrations that take ~25 s otherwise.
cmdline="$cmdline no_timer_check tsc=reliable lpj=5000000"
echo "demo: tests/testhost/run -- $build/vireo run ${vireo_args[*]} --cmdline '$cmdline'"
VIREO_BUILD=$build TESTHOST_QUIET=1 exec "$repo/tests/testhost/run" -- \
    "$build/vireo" run "${vireo_args[@]}" --cmdline "$cmdline"
