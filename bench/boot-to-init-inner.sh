#!/usr/bin/env bash
# boot-to-init-inner.sh BUILD_DIR RUNS: runs inside the test host (see
# boot-to-init.sh).  Times VMM process start -> guest's "init started" line
# for vireo given the bzImage (its default: PVH from the payload decompressed
# on the host and cached), vireo --boot-protocol linux (the guest
# decompresses itself), vireo with --seccomp=off (what confinement costs at
# boot), vireo given the decompressed vmlinux, QEMU microvm and q35 given
# the bzImage and given the vmlinux (QEMU enters an ELF vmlinux at its PVH
# entry too), rotated, and prints medians and median paired ratios.  Times
# are emulated: only the ratios mean anything.  BOOT_BENCH_KERNEL=cloud
# (default; lz4) or generic (xz) picks Debian's kernel.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR RUNS" >&2; exit 2; }
build=$1 runs=$2
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"
flavour=${BOOT_BENCH_KERNEL:-cloud}
kernel=$build/guest/vmlinuz-$flavour
initrd=$build/guest/initramfs.cpio.gz
cmdline="console=ttyS0 no_timer_check tsc=reliable lpj=5000000 quiet"
marker="vireo-guest: init started"
limit=120   # seconds before a run counts as failed
scratch=$(mktemp -d "${TESTHOST_SCRATCH:-/tmp}/bench.XXXXXX")

# The bzImage's payload, decompressed by xz(1) or lz4(1) (not by Vireo):
# the vmlinux both VMMs are given.
vmlinux=$scratch/vmlinux
setup=$(( ($(od -An -tu1 -j497 -N1 "$kernel") + 1) * 512 ))
poff=$(od -An -tu4 -j584 -N4 "$kernel")
plen=$(od -An -tu4 -j588 -N4 "$kernel")
dd if="$kernel" of="$scratch/payload" iflag=skip_bytes,count_bytes skip=$((setup + poff)) count=$((plen - 4)) \
    bs=1M status=none
case $(od -An -tx1 -N4 "$scratch/payload" | tr -d ' ') in
fd377a58) xz -dc <"$scratch/payload" >"$vmlinux" ;;
02214c18) lz4 -dc <"$scratch/payload" >"$vmlinux" ;;
1f8b*) gzip -dc <"$scratch/payload" >"$vmlinux" ;;
28b52ffd) zstd -dc <"$scratch/payload" >"$vmlinux" ;;
*) echo "unknown payload format in $kernel" >&2; exit 1 ;;
esac
echo "kernel: $kernel ($(stat -L -c %s "$kernel") bytes; vmlinux $(stat -c %s "$vmlinux") bytes)"

qemu=(qemu-system-x86_64 -enable-kvm -cpu host -m 256 -nographic -no-reboot -nic none
      -initrd "$initrd" -append "$cmdline")
systems=(microvm q35 microvm-vmlinux q35-vmlinux)
if [ -x "$build/vireo" ]; then
    systems=(vireo vireo-linux vireo-nosec vireo-vmlinux microvm q35 microvm-vmlinux q35-vmlinux)
    # The kernel cache on the test host's tmpfs (/ is read-only there),
    # filled once: the rows time a warm cache, as every boot after the first.
    export XDG_CACHE_HOME=$scratch/cache
    "$build/vireo" run --kernel "$kernel" --initrd "$initrd" --setup-only >/dev/null 2>&1 || true
else
    echo "note: $build/vireo not built; measuring QEMU only"
fi


# measure SYSTEM: prints the milliseconds to the marker, or "fail".
measure() {
    local cmd
    case $1 in
    vireo) cmd=("$build/vireo" run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" --memory 256M) ;;
    vireo-linux) cmd=("$build/vireo" run --boot-protocol linux --kernel "$kernel" --initrd "$initrd"
                      --cmdline "$cmdline" --memory 256M) ;;
    vireo-nosec) cmd=("$build/vireo" run --seccomp=off --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline"
                      --memory 256M) ;;
    vireo-vmlinux) cmd=("$build/vireo" run --kernel "$vmlinux" --initrd "$initrd" --cmdline "$cmdline"
                        --memory 256M) ;;
    microvm) cmd=("${qemu[@]}" -kernel "$kernel" -M microvm) ;;
    q35) cmd=("${qemu[@]}" -kernel "$kernel" -M q35) ;;
    microvm-vmlinux) cmd=("${qemu[@]}" -kernel "$vmlinux" -M microvm) ;;
    q35-vmlinux) cmd=("${qemu[@]}" -kernel "$vmlinux" -M q35) ;;
    esac
    bench_time_to_marker "$marker" "$limit" "$scratch" "${cmd[@]}"
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
args=()
for s in "${systems[@]}"; do args+=(-v "t_${s//-/_}=${times[$s]:-}"); done
awk -v systems="${systems[*]}" "${args[@]}" '
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
function ratio(x, y,   r) {
    if (t[x] == "" || t[y] == "") return
    r = median(ratios(t[x], t[y])); printf "  ratio %s/%s: %s\n", x, y, (r == "n/a") ? r : sprintf("%.2f", r)
}
BEGIN {
    t["vireo"] = t_vireo; t["vireo-linux"] = t_vireo_linux; t["vireo-nosec"] = t_vireo_nosec
    t["vireo-vmlinux"] = t_vireo_vmlinux; t["microvm"] = t_microvm; t["q35"] = t_q35
    t["microvm-vmlinux"] = t_microvm_vmlinux; t["q35-vmlinux"] = t_q35_vmlinux
    print "boot-to-init median (emulated ms, compare only as ratios):"
    n = split(systems, sy, " ")
    for (i = 1; i <= n; i++) {
        m = median(t[sy[i]]); printf "  %-16s %s\n", sy[i], (m == "n/a") ? m : sprintf("%.0f ms", m)
    }
    print "same bzImage:"
    ratio("vireo", "q35"); ratio("vireo", "microvm"); ratio("vireo-linux", "q35"); ratio("vireo-linux", "microvm")
    print "the guest decompressing itself (what PVH from the host-decompressed payload saves):"
    ratio("vireo", "vireo-linux")
    print "same vmlinux (PVH on both sides):"
    ratio("vireo-vmlinux", "q35-vmlinux"); ratio("vireo-vmlinux", "microvm-vmlinux")
    print "bzImage through the cache vs the vmlinux itself:"
    ratio("vireo", "vireo-vmlinux")
    print "confinement:"
    ratio("vireo", "vireo-nosec")
}'
