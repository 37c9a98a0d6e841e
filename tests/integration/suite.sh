#!/usr/bin/env bash
# suite.sh BUILD_DIR ASAN_BUILD_DIR [SUITE...]: Vireo's integration tests
# (SUITEs: boot disk vhost toolstack net confine, the default; and systemd,
# whose image run-all.sh or `make systemd-test` make first).  Runs inside the test host
# (tests/integration/run-all.sh starts it), where /dev/kvm can boot the
# Debian kernels.  Prints `ok N - name` / `not ok N - name` per case and,
# last, `P passed, F failed`.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BUILD_DIR ASAN_BUILD_DIR [SUITE...]" >&2; exit 2; }
vireo=$1/vireo
vireo_asan=$2/vireo
cloud=$1/guest/vmlinuz-cloud
generic=$1/guest/vmlinuz-generic
initrd=$1/guest/initramfs.cpio.gz
cmdline="console=ttyS0 no_timer_check tsc=reliable lpj=5000000 quiet"
logs=${TESTHOST_SCRATCH:-$(mktemp -d)}/integration
mkdir -p "$logs"
# The kernel cache (bzImages decompressed for PVH, vm/kernel_cache.h) on the
# test host's tmpfs: / is the machine's, read-only.
export XDG_CACHE_HOME=$logs/cache
# Sanitizer reports must fail the run, with a usable trace.
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
shift 2
[ $# -gt 0 ] || set -- boot disk vhost toolstack net confine
for s in "$@"; do
    [ -e "$here/cases-$s.sh" ] || { echo "suite.sh: no suite '$s'" >&2; exit 2; }
    . "$here/cases-$s.sh"
done

echo "$passed passed ($retried of them only when run a second time), $failed failed"
[ "$failed" -eq 0 ]
