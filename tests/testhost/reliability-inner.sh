#!/usr/bin/env bash
# reliability-inner.sh BUILD_DIR launches N | systemd IMAGE N: runs inside the
# test host (tests/testhost/reliability.sh starts it).  `launches`: N nested
# VM launches (busybox guest, 2 vCPUs, powers itself off).  `systemd`: N
# boots of a Debian image made by `vireo image bootstrap` (pygrub path, a copy
# on the scratch tmpfs) up to its multi-user marker, then SIGTERM.
# One line per launch or boot: `launch I ok|fail SECONDS`, `boot I ok|fail
# SECONDS`.  A frozen test host prints nothing more; the harness sees that.
set -uo pipefail
build=$1 what=$2
vireo=$build/vireo
cmdline="console=ttyS0 no_timer_check tsc=reliable lpj=5000000 quiet"
case $what in
launches)
    n=$3
    for ((i = 1; i <= n; i++)); do
        t0=$SECONDS
        out=$(timeout 120 "$vireo" run --kernel "$build/guest/vmlinuz-cloud" --initrd "$build/guest/initramfs.cpio.gz" \
              --cmdline "$cmdline" --memory 256M --vcpus 2 2>&1 </dev/null)
        rc=$?
        if [ $rc = 0 ] && grep -q "vireo-guest: init started" <<<"$out"; then r=ok; else r="fail(rc=$rc)"; fi
        echo "launch $i $r $((SECONDS - t0))"
    done ;;
systemd)
    img=$3 n=$4
    dir=$(mktemp -d "${TESTHOST_SCRATCH:-/tmp}/rel.XXXXXX")
    cp --sparse=always "$img" "$dir/disk.img"
    for ((i = 1; i <= n; i++)); do
        t0=$SECONDS
        rm -f "$dir/fifo"; mkfifo "$dir/fifo"
        "$vireo" run --boot disk --disk "$dir/disk.img" --memory 512M --vcpus 2 --cmdline "$cmdline" \
            </dev/null >"$dir/fifo" 2>&1 &
        pid=$!
        r="fail(no marker in 400s)"
        while IFS= read -r -t 400 line; do
            case $line in *"reached multi-user.target"*) r=ok; break ;; esac
        done <"$dir/fifo" >"$dir/con.$i" && [ "$r" = ok ] || true
        # Guest output nobody reads is dropped by vireo; SIGTERM ends it.
        kill -TERM "$pid" 2>/dev/null
        wait "$pid"; rc=$?
        echo "boot $i $r $((SECONDS - t0)) (vireo exit $rc)"
    done
    rm -rf "$dir" ;;
*) echo "usage: $0 BUILD_DIR launches N | systemd IMAGE N" >&2; exit 2 ;;
esac
