#!/usr/bin/env bash
# net.sh BUILD_DIR [SECONDS] [ROUNDS]: virtio-net throughput and latency of
# a guest on a bridge, for vireo with vhost=on (the in-kernel vhost-net)
# and vhost=off (its own user-space virtio-net) and QEMU with the same two,
# side by side in ONE test host boot (a round that a hung test
# host cut short is run again in a fresh one) with the same guest kernel,
# bridge and host-side servers, so that the emulated figures are comparable
# with each other.  Per guest: iperf3 TCP guest->host and host->guest for
# SECONDS each (default 10), and 1-byte TCP round trips (bench/net/tcprr).
# ROUNDS guest boots per system (default 3).  Prints a table, and the
# ratios vireo/QEMU with the same data plane for each figure.
# NET_BENCH_SYSTEMS="vireo-vhost-on qemu-vhost-on" (say) runs only those:
# more rounds of one pair in the same time.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_args 10 3 "$@"
repo=$(cd "$(dirname "$0")/.." && pwd)

[ -x "$build/vireo" ] || { echo "net: no $build/vireo (build it first)" >&2; exit 1; }
iperf3=$(command -v iperf3) ||
    { echo "net: needs Debian's iperf3 on this machine (scripts/install-deps.sh test)" >&2; exit 1; }
[ -e "$build/guest/vmlinuz-cloud" ] && [ -d "$build/guest/modules-cloud" ] ||
    "$repo/scripts/fetch-kernels.sh" "$build" >&2
ninja -C "$build" bench/net/tcprr >/dev/null
tcprr=$build/bench/net/tcprr
# The guest runs iperf3 and tcprr, which need their libraries: an image of
# its own, so the tests' initramfs stays small.  Rebuilt only when an input
# changed.
initrd=$build/guest/initramfs-net.cpio.gz
if [ ! -e "$initrd" ] || [ "$repo/guest/init" -nt "$initrd" ] || [ "$repo/guest/mkinitramfs.sh" -nt "$initrd" ] ||
   [ "$iperf3" -nt "$initrd" ] || [ "$tcprr" -nt "$initrd" ] || [ "$build/guest/modules-cloud" -nt "$initrd" ]; then
    "$repo/guest/mkinitramfs.sh" --add-binary "$iperf3" --add-binary "$tcprr" "$initrd" \
        "$build/guest/modules-cloud" >&2
fi

# Bound per guest: the boot (slow under TCG), two iperf3 runs with their
# start-up, the round trips.
limit=$((150 + 2 * (secs + 30)))

# The test host has been seen to hang during a QEMU vhost=on guest (about
# one in four, within seconds of the guest's first packets: the test host's
# own timer interrupts stop arriving; never with vireo or vhost=off).  So a
# round is the unit: the rounds a hung test host did not complete are run
# again in a fresh one, at most twice, and the summary is of completed
# rounds only (each round's guests ran in one test host, side by side).
out=$(mktemp)
trap 'rm -f "$out"' EXIT
first=1 boots=0
while [ "$first" -le "$rounds" ] && [ "$boots" -lt 3 ]; do
    boots=$((boots + 1))
    rc=0
    echo "# boot $boots" >>"$out"
    VIREO_BUILD=$build "$repo/tests/testhost/run" --timeout $((4 * (rounds - first + 1) * limit + 180)) -- \
        env NET_BENCH_SYSTEMS="${NET_BENCH_SYSTEMS:-}" \
        "$repo/bench/net/inner.sh" "$build" "$secs" "$first" "$rounds" "$limit" | tee -a "$out" || rc=${PIPESTATUS[0]}
    done_to=$(sed -n 's/^round \([0-9]*\) complete$/\1/p' "$out" | tail -n1)
    [ "${done_to:-0}" -ge "$first" ] && first=$((done_to + 1))
    [ "$rc" = 0 ] && break
    [ "$rc" = 125 ] || { echo "net: the test host run failed (exit status $rc)" >&2; exit "$rc"; }
    [ "$first" -le "$rounds" ] && [ "$boots" -lt 3 ] &&
        echo "# net: the test host hung (see above); rounds $first-$rounds again in a fresh one"
done
[ "$first" -gt "$rounds" ] || echo "# net: rounds $first-$rounds not completed; the summary has rounds 1-$((first - 1))"

# Medians over the completed rounds; ratios are per round (same round, same
# test host state) and then their median.
# Only rounds that completed count, each with the figures of the boot that
# completed it (a hung boot's partial round is dropped).
sed -E 's/^round ([0-9]+) ([a-z-]+): g2h=([0-9.]+) h2g=([0-9.]+) Mbit\/s, rr mean=([0-9.]+) p50=([0-9.]+) p99=([0-9.]+) us$/R \1 \2 \3 \4 \5 \6 \7/' "$out" |
    awk '/^# boot / { for (r in buf) delete buf[r]; next }
         $1 == "R" { buf[$2] = buf[$2] substr($0, 3) "\n"; next }
         /^round [0-9]+ complete$/ { printf "%s", buf[$2]; delete buf[$2] }' | awk '
function median(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    if (n == 0) return ""
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return (n % 2) ? a[(n+1)/2] + 0 : (a[n/2] + a[n/2+1]) / 2
}
function ratio(x, y, f,   r, s) {
    s = ""
    for (r in rounds) if ((r, x, f) in v && (r, y, f) in v && v[r, y, f] > 0)
        s = s " " v[r, x, f] / v[r, y, f]
    s = median(s)
    return (s == "") ? "n/a" : sprintf("%.2f", s)
}
{
    for (f = 3; f <= 7; f++) { v[$1, $2, f] = $f; all[$2, f] = all[$2, f] " " $f }
    rounds[$1] = 1
    if (!($2 in seen)) { seen[$2] = 1; sy[++ns] = $2 }
}
END {
    # Per data plane, vireo beside QEMU, whatever order the rounds ran in.
    n = 0
    split("vireo-vhost-on qemu-vhost-on vireo-vhost-off qemu-vhost-off", want, " ")
    for (i = 1; i <= 4; i++) if (want[i] in seen) o[++n] = want[i]
    nf = split("3 4 5 6 7", fi, " ")
    split("g2h Mbit/s,h2g Mbit/s,rr mean us,rr p50 us,rr p99 us", name, ",")
    print ""
    print "medians over " length(rounds) " completed round(s).  Emulated (nested KVM in a TCG test host):"
    print "the absolute figures mean nothing, compare only as ratios."
    printf "  %-12s", "figure"
    for (i = 1; i <= n; i++) printf "  %16s", o[i]
    printf "\n"
    for (k = 1; k <= nf; k++) {
        printf "  %-12s", name[k]
        for (i = 1; i <= n; i++) { m = median(all[o[i], fi[k]]); printf "  %16s", (m == "") ? "fail" : sprintf("%.1f", m) }
        printf "\n"
    }
    print ""
    print "ratios vireo/QEMU with the same data plane (median of per-round ratios): for throughput > 1,"
    print "for latency < 1 means vireo is better."
    np = 0
    split("vireo-vhost-on/qemu-vhost-on vireo-vhost-off/qemu-vhost-off", cand, " ")
    for (j = 1; j <= 2; j++) { split(cand[j], xy, "/"); if ((xy[1] in seen) && (xy[2] in seen)) pr[++np] = cand[j] }
    printf "  %-12s", "figure"
    for (j = 1; j <= np; j++) printf "  %31s", pr[j]
    printf "\n"
    for (k = 1; k <= nf; k++) {
        printf "  %-12s", name[k]
        for (j = 1; j <= np; j++) { split(pr[j], xy, "/"); printf "  %31s", ratio(xy[1], xy[2], fi[k]) }
        printf "\n"
    }
}'
[ "$first" -gt "$rounds" ]
