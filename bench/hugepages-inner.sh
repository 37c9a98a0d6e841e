#!/usr/bin/env bash
# hugepages-inner.sh BUILD_DIR ROUNDS: runs inside the test host (see
# hugepages.sh).  Each round boots the guest twice, rotated: hugepages=on
# and off.  The guest times, with /proc/uptime's centiseconds:
#   touch: writing 384 MiB into a tmpfs (every page touched for the first
#          time: the host's faults, 4 KiB or 2 MiB at a time);
#   copy:  dd from /dev/zero to /dev/null through a 32 MiB buffer, 2 GiB
#          (the same memory again and again: TLB and nested paging);
#   walk:  reading the 384 MiB file back four times (sweeps across it).
# Times are emulated: only the ratios mean anything.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR ROUNDS" >&2; exit 2; }
build=$1 rounds=$2
[ -e /dev/kvm ] || { echo "hugepages: no /dev/kvm (run me through hugepages.sh)" >&2; exit 1; }
scratch=$(mktemp -d "${TESTHOST_SCRATCH:-/tmp}/huge.XXXXXX")
kernel=$scratch/vmlinuz
initrd=$scratch/initramfs.cpio.gz
cp "$build/guest/vmlinuz-cloud" "$kernel"
cp "$build/guest/initramfs.cpio.gz" "$initrd"
export XDG_CACHE_HOME=$scratch/cache
mem=768M
echo 400 >/proc/sys/vm/nr_hugepages
echo "huge pages reserved: $(cat /proc/sys/vm/nr_hugepages)"
script=$(cat <<'G' | gzip | base64 -w0
t() { cut -d' ' -f1 /proc/uptime | tr -d .; }
mkdir -p /mnt/h
mount -t tmpfs -o size=400m tmpfs /mnt/h || echo "vireo-guest: mount failed"
a=$(t); dd if=/dev/zero of=/mnt/h/f bs=1M count=384 || echo "vireo-guest: dd failed"; b=$(t)
dd if=/dev/zero of=/dev/null bs=32M count=64; c=$(t)
for i in 1 2 3 4; do dd if=/mnt/h/f of=/dev/null bs=1M; done; d=$(t)
echo "vireo-guest: file=$(wc -c </mnt/h/f)"
echo "vireo-guest: result touch=$((b - a)) copy=$((c - b)) walk=$((d - c))"
G
)
cmdline="console=ttyS0 no_timer_check tsc=reliable lpj=5000000 quiet vireo.action=script vireo.script=$script"
declare -A res=()
for ((r = 0; r < rounds; r++)); do
    order=(on off)
    [ $((r % 2)) -eq 1 ] && order=(off on)
    line="round $((r + 1)):"
    for h in "${order[@]}"; do
        out=$(timeout 180 "$build/vireo" run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" \
              --memory "$mem,hugepages=$h" 2>&1 | tr -d '\r' | tee -a "$scratch/guest.log" |
              sed -n 's/^vireo-guest: result //p')
        [ -n "$out" ] || out="touch=fail copy=fail walk=fail"
        res[$h]+="$out;"
        line+=" [$h] $out"
    done
    echo "$line"
done
echo 0 >/proc/sys/vm/nr_hugepages
grep -m1 -E "vireo-guest: (file|mount failed|dd failed)" "$scratch/guest.log" || true
awk -v on="${res[on]}" -v off="${res[off]}" '
function val(rec, k,   a, n, i, kv) { n = split(rec, a, " "); for (i = 1; i <= n; i++) { split(a[i], kv, "="); if (kv[1] == k) return kv[2] } return "fail" }
function median(s,   a, n, i, j, t, m) {
    delete b; n = split(s, a, " "); m = 0
    for (i = 1; i <= n; i++) if (a[i] != "fail" && a[i] != "") b[++m] = a[i] + 0
    for (i = 2; i <= m; i++) for (j = i; j > 1 && b[j-1] > b[j]; j--) { t = b[j]; b[j] = b[j-1]; b[j-1] = t }
    if (m == 0) return "n/a"
    return (m % 2) ? b[(m+1)/2] : (b[m/2] + b[m/2+1]) / 2
}
BEGIN {
    n = split(on, ron, ";"); split(off, roff, ";")
    split("touch copy walk", keys, " ")
    print "guest time (emulated centiseconds; medians) and the median of per-round ratios on/off:"
    for (k = 1; k <= 3; k++) {
        s_on = ""; s_off = ""; s_r = ""
        for (i = 1; i <= n; i++) {
            if (ron[i] == "") continue
            x = val(ron[i], keys[k]); y = val(roff[i], keys[k])
            s_on = s_on " " x; s_off = s_off " " y
            if (x != "fail" && y != "fail" && y > 0) s_r = s_r " " x / y
        }
        r = median(s_r)
        printf "  %-5s hugepages=on %s  off %s  ratio on/off %s\n", keys[k], median(s_on), median(s_off), (r == "n/a") ? r : sprintf("%.2f", r)
    }
}'
