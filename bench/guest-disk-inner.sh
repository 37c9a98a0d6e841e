#!/usr/bin/env bash
# guest-disk-inner.sh BUILD_DIR SECONDS ROUNDS LIMIT: runs inside the test
# host (see guest-disk.sh).  Each round boots one guest per system, in
# rotated order; the guest runs fio four times on /dev/vda and prints one
# line per run.  Prints each round, then medians and the median of the
# per-round ratios.  Times are emulated: only the ratios mean anything.
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 BUILD_DIR SECONDS ROUNDS LIMIT" >&2; exit 2; }
build=$1 secs=$2 rounds=$3 limit=$4
mem=512M vcpus=2
img_mib=256
[ -e /dev/kvm ] || { echo "guest-disk: no /dev/kvm (run me through guest-disk.sh)" >&2; exit 1; }

scratch=$(mktemp -d "${TESTHOST_SCRATCH:-/tmp}/guest-disk.XXXXXX")
loopdev=
cleanup() {
    [ -z "$loopdev" ] || losetup -d "$loopdev" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT

# Boot files in the scratch tmpfs: the shared root is 9p, read uncached on
# every boot, which would add a slow and variable step to each start.
kernel=$scratch/vmlinuz
initrd=$scratch/initramfs-bench.cpio.gz
cp "$build/guest/vmlinuz-cloud" "$kernel"
cp "$build/guest/initramfs-bench.cpio.gz" "$initrd"

# Written out in full, so that reads hit allocated pages for every system
# rather than holes for whoever runs first.
img=$scratch/disk.img
dd if=/dev/zero of="$img" bs=1M count="$img_mib" status=none
direct_ok() { dd if=/dev/zero of="$1" bs=4096 count=1 oflag=direct conv=notrunc status=none 2>/dev/null; }
# tmpfs has no O_DIRECT (kernel 6.1); a loop device over the same file
# does, and stands in for the block device a real host would use.
disk=$img cache=none backing="file on tmpfs"
if ! direct_ok "$img"; then
    if loopdev=$(losetup -f --show "$img" 2>/dev/null) && direct_ok "$loopdev"; then
        disk=$loopdev backing="loop device over a tmpfs file"
    else
        [ -z "$loopdev" ] || losetup -d "$loopdev" 2>/dev/null || true
        loopdev=
        cache=writeback
    fi
fi

# The guest's steps.  terse v3: field 8 is read IOPS, 18-19 the read clat
# percentiles asked for ("50.000000%=usec"), 40 the mean total latency
# (usec); the write side is 41 fields on.  The mean total latency is there
# because clat leaves out submission, which with a VM exit per kick can be
# most of an I/O's time.
# The scheduler is set so that neither VMM's queue count changes it.
script=$scratch/guest.sh
cat >"$script" <<EOF
echo none 2>/dev/null >/sys/block/vda/queue/scheduler
echo "vireo-bench: q \$(ls /sys/block/vda/mq | wc -l)"
for w in randread randwrite; do for d in 1 32; do
if fio --name=b --filename=/dev/vda --direct=1 --ioengine=io_uring --rw=\$w --bs=4k --iodepth=\$d --runtime=$secs --time_based --output-format=terse --terse-version=3 --percentile_list=50:99 >/tmp/o 2>&1; then
awk -F';' -v w=\$w -v d=\$d '\$1==3{o=(w=="randread")?0:41;split(\$(18+o),a,"=");split(\$(19+o),b,"=");print "vireo-bench: r",w,d,\$(8+o),a[2],b[2],\$(40+o)}' /tmp/o
else echo "vireo-bench: e \$w \$d \$(tr '\n' ' ' </tmp/o | head -c 300)"; fi
done; done
EOF
cmdline="console=ttyS0 no_timer_check tsc=reliable lpj=5000000 quiet vireo.action=script vireo.script=$(gzip -9c <"$script" | base64 -w0)"
# The kernel's limit is 2048 bytes; past it the script would be cut.
[ ${#cmdline} -le 1900 ] || { echo "guest-disk: kernel command line too long (${#cmdline} bytes)" >&2; exit 1; }

systems=(vireo-io vireo-main qemu)
command_for() {
    case $1 in
    vireo-io|vireo-main)
        local iot=1
        [ "$1" = vireo-main ] && iot=0
        cmd=("$build/vireo" run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline"
             --memory "$mem" --vcpus "$vcpus" --disk "$disk,iothread=$iot,cache=$cache") ;;
    qemu)
        cmd=(qemu-system-x86_64 -enable-kvm -cpu host -m "$mem" -smp "$vcpus" -nographic -no-reboot
             -nic none -bios /usr/share/qemu/qboot.rom -kernel "$kernel" -initrd "$initrd" -append "$cmdline"
             -object iothread,id=io0
             -drive "file=$disk,if=none,id=d0,format=raw,cache=$cache,aio=io_uring"
             -device virtio-blk-pci,drive=d0,iothread=io0) ;;
    esac
}

workloads=("randread 1" "randread 32" "randwrite 1" "randwrite 32")
echo "guest-disk: fio 4 KiB random I/O on the guest's /dev/vda (io_uring, direct=1), ${secs} s per run,"
echo "  ${rounds} round(s); each guest: ${vcpus} vCPUs, ${mem} RAM; disk: ${img_mib} MiB raw image,"
echo "  ${backing}, cache=${cache}; vireo-io = iothread=1, vireo-main = iothread=0,"
echo "  qemu = virtio-blk-pci on an iothread, aio=io_uring"
results=$scratch/results   # lines: ROUND SYSTEM RW DEPTH IOPS P50 P99 LAT_MEAN
: >"$results"
for ((r = 1; r <= rounds; r++)); do
    # Rotate the order each round so no system always goes first.
    k=$(( (r - 1) % ${#systems[@]} ))
    order=("${systems[@]:k}" "${systems[@]:0:k}")
    for s in "${order[@]}"; do
        command_for "$s"
        log=$scratch/$s-$r.log
        rc=0
        timeout -k 5 "$limit" "${cmd[@]}" </dev/null >"$log" 2>&1 || rc=$?
        tr -d '\r' <"$log" | awk -v r="$r" -v s="$s" '$1 == "vireo-bench:" && $2 == "r" { print r, s, $3, $4, $5, $6, $7, $8 }' >>"$results"
        line="round $r $s:"
        for w in "${workloads[@]}"; do
            read -r rw depth <<<"$w"
            v=$(awk -v r="$r" -v s="$s" -v w="$rw" -v d="$depth" '$1 == r && $2 == s && $3 == w && $4 == d { printf "%.0f", $5 }' "$results")
            line+=" $rw-qd$depth=${v:-fail}"
        done
        echo "$line"
        q=$(tr -d '\r' <"$log" | sed -n 's/^vireo-bench: q \([0-9]*\).*/\1/p' | head -n1)
        [ "$r" = 1 ] && [ -n "$q" ] && echo "  ($s: the guest sees $q virtqueue(s))"
        if [ "$rc" != 0 ] || [ "$(grep -c '^vireo-bench: r' "$log" || true)" != 4 ]; then
            echo "  $s failed (exit status $rc$([ "$rc" = 124 ] && echo ", timed out after ${limit}s")); its output ends with:"
            tr -d '\r' <"$log" | tail -n 15 | sed 's/^/  | /'
        fi
    done
done

# Medians over the rounds; ratios are per round (same round, same test host
# state) and then their median.
awk -v systems="${systems[*]}" '
function median(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    if (n == 0) return ""
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return (n % 2) ? a[(n+1)/2] + 0 : (a[n/2] + a[n/2+1]) / 2
}
function ratio(x, y, w,   r, s) {
    s = ""
    for (r = 1; r <= maxr; r++) if ((r, x, w) in iops && (r, y, w) in iops && iops[r, y, w] > 0)
        s = s " " iops[r, x, w] / iops[r, y, w]
    s = median(s)
    return (s == "") ? "n/a" : sprintf("%.2f", s)
}
{
    w = $3 " " $4; iops[$1, $2, w] = $5
    all[$2, w] = all[$2, w] " " $5; p50[$2, w] = p50[$2, w] " " $6; p99[$2, w] = p99[$2, w] " " $7; lat[$2, w] = lat[$2, w] " " $8
    if ($1 > maxr) maxr = $1
}
END {
    ns = split(systems, sy, " ")
    nw = split("randread 1,randread 32,randwrite 1,randwrite 32", wl, ",")
    print ""
    print "median IOPS (clat p50/p99, mean total latency; in us).  Emulated under TCG in the"
    print "test host: the absolute figures mean nothing, compare only as ratios."
    printf "  %-16s", "workload"
    for (i = 1; i <= ns; i++) printf (i < ns ? "  %-30s" : "  %s"), sy[i]
    printf "\n"
    for (k = 1; k <= nw; k++) {
        w = wl[k]; split(w, p, " ")
        printf "  %-16s", p[1] " qd" p[2]
        for (i = 1; i <= ns; i++) {
            m = median(all[sy[i], w])
            cell = (m == "") ? "fail" : sprintf("%.0f (%.0f/%.0f, %.0f)", m, median(p50[sy[i], w]), median(p99[sy[i], w]), median(lat[sy[i], w]))
            printf (i < ns ? "  %-30s" : "  %s"), cell
        }
        printf "\n"
    }
    print ""
    print "IOPS ratios (median of per-round ratios; > 1 means vireo-io is faster):"
    printf "  %-16s  %-16s  %s\n", "workload", "vireo-io/qemu", "vireo-io/vireo-main"
    for (k = 1; k <= nw; k++) {
        w = wl[k]; split(w, p, " ")
        printf "  %-16s  %-16s  %s\n", p[1] " qd" p[2], ratio("vireo-io", "qemu", w), ratio("vireo-io", "vireo-main", w)
    }
}' "$results"
