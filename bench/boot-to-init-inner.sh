#!/usr/bin/env bash
# boot-to-init-inner.sh BUILD_DIR RUNS: runs inside the test host (see
# boot-to-init.sh).  Times VMM process start -> guest's "init started" line
# for vireo, vireo with --seccomp=off (what confinement costs at boot), QEMU
# microvm and QEMU q35, alternating, and prints medians and median paired
# ratios.  Times are emulated: only the ratios mean anything.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR RUNS" >&2; exit 2; }
build=$1 runs=$2
kernel=$build/guest/vmlinuz-cloud
initrd=$build/guest/initramfs.cpio.gz
cmdline="console=ttyS0 no_timer_check tsc=reliable lpj=5000000 quiet"
marker="vireo-guest: init started"
limit=120   # seconds before a run counts as failed
scratch=$(mktemp -d "${TESTHOST_SCRATCH:-/tmp}/bench.XXXXXX")

qemu=(qemu-system-x86_64 -enable-kvm -cpu host -m 256 -nographic -no-reboot -nic none
      -kernel "$kernel" -initrd "$initrd" -append "$cmdline")
systems=(microvm q35)
if [ -x "$build/vireo" ]; then
    systems=(vireo vireo-nosec microvm q35)
else
    echo "note: $build/vireo not built; measuring QEMU only"
fi


# measure SYSTEM: prints the milliseconds to the marker, or "fail".
measure() {
    local cmd t0 line left found=
    case $1 in
    vireo) cmd=("$build/vireo" run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" --memory 256M) ;;
    vireo-nosec) cmd=("$build/vireo" run --seccomp=off --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline"
                      --memory 256M) ;;
    microvm) cmd=("${qemu[@]}" -M microvm) ;;
    q35) cmd=("${qemu[@]}" -M q35) ;;
    esac
    # A FIFO, not a coproc: bash closes a coproc's pipe as soon as the
    # process exits, losing output it has not read yet.
    local fifo=$scratch/console pid fd
    rm -f "$fifo"; mkfifo "$fifo"
    t0=${EPOCHREALTIME/./}
    "${cmd[@]}" </dev/null >"$fifo" 2>&1 &
    pid=$!
    exec {fd}<"$fifo"
    # Console output is read as it arrives; bash's read on a pipe takes
    # single bytes, so the line is seen the moment its newline is written.
    while :; do
        left=$(( limit * 1000000 - (${EPOCHREALTIME/./} - t0) ))
        [ $left -gt 0 ] || break
        printf -v left '%d.%06d' $((left / 1000000)) $((left % 1000000))
        IFS= read -r -t "$left" line <&"$fd" || break
        if [[ $line == *"$marker"* ]]; then
            found=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
            break
        fi
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    exec {fd}<&-
    echo "${found:-fail}"
}

declare -A times=()
for ((r = 0; r < runs; r++)); do
    # Rotate the order each run so no system always goes first.
    order=("${systems[@]:r % ${#systems[@]}}" "${systems[@]:0:r % ${#systems[@]}}")
    line="run $((r + 1)):"
    for s in "${order[@]}"; do
        ms=$(measure "$s")
        times[$s]+="$ms "
        line+=" $s=$ms"; [ "$ms" = fail ] || line+=ms
    done
    echo "$line"
done

# Medians per system, then per-run ratios' medians (pairs from the same run).
awk -v systems="${systems[*]}" -v vireo="${times[vireo]:-}" -v nosec="${times[vireo-nosec]:-}" -v microvm="${times[microvm]}" -v q35="${times[q35]}" '
function median(s,   a, n, i, j, t, m) {
    delete b; n = split(s, a, " "); m = 0
    for (i = 1; i <= n; i++) if (a[i] != "fail" && a[i] != "") b[++m] = a[i] + 0
    for (i = 2; i <= m; i++) for (j = i; j > 1 && b[j-1] > b[j]; j--) { t = b[j]; b[j] = b[j-1]; b[j-1] = t }
    if (m == 0) return "n/a"
    return (m % 2) ? b[(m+1)/2] : (b[m/2] + b[m/2+1]) / 2
}
function ratios(x, y,   a, c, n, i, s) {
    n = split(x, a, " "); split(y, c, " "); s = ""
    for (i = 1; i <= n; i++) if (a[i] != "fail" && c[i] != "fail" && c[i] > 0) s = s " " a[i] / c[i]
    return s
}
BEGIN {
    t["vireo"] = vireo; t["vireo-nosec"] = nosec; t["microvm"] = microvm; t["q35"] = q35
    print "boot-to-init median (emulated ms, compare only as ratios):"
    n = split(systems, sy, " ")
    for (i = 1; i <= n; i++) {
        m = median(t[sy[i]]); printf "  %-12s %s\n", sy[i], (m == "n/a") ? m : sprintf("%.0f ms", m)
    }
    if (vireo != "") {
        r = median(ratios(vireo, microvm)); printf "  ratio vireo/microvm: %s\n", (r == "n/a") ? r : sprintf("%.2f", r)
        r = median(ratios(vireo, q35));     printf "  ratio vireo/q35:     %s\n", (r == "n/a") ? r : sprintf("%.2f", r)
        r = median(ratios(vireo, nosec));   printf "  ratio vireo/vireo --seccomp=off: %s\n", (r == "n/a") ? r : sprintf("%.2f", r)
    }
}'
