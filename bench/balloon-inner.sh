#!/usr/bin/env bash
# balloon-inner.sh BUILD_DIR SECONDS ROUNDS LIMIT: runs inside the test
# host (see balloon.sh).  Each round boots one guest per system, in
# rotated order; the guest runs the same three phases and prints a marker
# at each step, and this script watches the VMM process's resident memory
# (VmRSS) from outside:
#   (a) the guest fills FILL_MIB of a tmpfs and frees it: how far the RSS
#       falls by free-page reporting alone, and how long until it has
#       fallen (90 % of the fall, from the moment the guest freed it);
#   (b) the guest turns its reporting off, touches nearly all its free
#       memory and frees it (so that it is resident and only the balloon
#       can give it back); then `vireo mem-set` / QMP `balloon` to
#       BALLOON_MIB less: the RSS fall and its time, from the command;
#       then back up;
#   (c) a loop writing 64 MiB into a tmpfs and deleting it (it frees what
#       it uses, so reporting's discards and the faults after them fall on
#       it), its MiB/s for SECONDS with the guest's reporting on and off
#       (on, off, off, on);
#   (d) a memory-bound loop that frees nothing (dd from /dev/zero to
#       /dev/null through a 16 MiB buffer) beside a 32 MiB fill-and-free
#       every second that keeps reporting busy, its MiB/s likewise.
# Prints each round, then medians and the median of the per-round ratios.
# Times are emulated: only the ratios mean anything.
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 BUILD_DIR SECONDS ROUNDS LIMIT" >&2; exit 2; }
build=$1 secs=$2 rounds=$3 limit=$4
mem_mib=512 fill_mib=256 balloon_mib=128
[ -e /dev/kvm ] || { echo "balloon: no /dev/kvm (run me through balloon.sh)" >&2; exit 1; }
vireo=$build/vireo

scratch=$(mktemp -d "${TESTHOST_SCRATCH:-/tmp}/balloon.XXXXXX")
export VIREO_RUN_DIR=$scratch/run VIREO_LOG_DIR=$scratch/log
vmm=
cleanup() {
    [ -z "$vmm" ] || kill -KILL "$vmm" 2>/dev/null || true
    "$vireo" destroy bal >/dev/null 2>&1 || true
    rm -rf "$scratch"
}
trap cleanup EXIT
# A FIFO nobody writes: `read -t` on it is a sleep without a fork, so the
# RSS samples come every 0.1 s even under the test host's emulation.
mkfifo "$scratch/tick"
exec {tick}<>"$scratch/tick"
nap() { read -r -t "$1" -u "$tick" _ || true; }

# Boot files in the scratch tmpfs (the shared root is 9p, slow and
# variable to read).
kernel=$scratch/vmlinuz
initrd=$scratch/initramfs.cpio.gz
cp "$build/guest/vmlinuz-cloud" "$kernel"
cp "$build/guest/initramfs.cpio.gz" "$initrd"

# The guest's steps (busybox sh).  Centiseconds from /proc/uptime time
# the loop; MemTotal falling and rising again tells it the host inflated
# and then deflated its balloon (no DEFLATE_ON_OOM on either side, so
# MemTotal follows the balloon).  A reporting order above the largest
# buddy order (10) turns the guest's reporting off.
script=$scratch/guest.sh
cat >"$script" <<EOF
p=/sys/module/page_reporting/parameters/page_reporting_order
o=\$(cat \$p)
mkdir -p /mnt/f && mount -t tmpfs -o size=90% f /mnt/f
cs() { read u r </proc/uptime; echo "\${u%.*}\${u#*.}"; }
mt() { sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo; }
mf() { sed -n 's/^MemFree: *\([0-9]*\) kB/\1/p' /proc/meminfo; }
sleep 3
dd if=/dev/zero of=/mnt/f/x bs=1048576 count=$fill_mib 2>/dev/null
echo "bal: a-filled"
sleep 2
rm /mnt/f/x
echo "bal: a-freed"
sleep 20
echo 11 >\$p
dd if=/dev/zero of=/mnt/f/x bs=1048576 count=\$((\$(mf) / 1024 - 32)) 2>/dev/null
rm /mnt/f/x
t=\$(mt)
echo "bal: b-ready \$t"
i=0; while [ \$(mt) -gt \$((t - $balloon_mib * 512)) ] && [ \$i -lt 600 ]; do sleep 0.2; i=\$((i + 1)); done
echo "bal: b-inflated \$(mt)"
i=0; while [ \$(mt) -lt \$((t - 8192)) ] && [ \$i -lt 600 ]; do sleep 0.2; i=\$((i + 1)); done
echo "bal: b-deflated \$(mt)"
loop() {
    echo \$1 >\$p; n=0; t0=\$(cs)
    while [ \$((\$(cs) - t0)) -lt ${secs}00 ]; do
        if [ \$3 = c ]; then dd if=/dev/zero of=/mnt/f/x bs=1048576 count=64 2>/dev/null; rm /mnt/f/x; n=\$((n + 64))
        else dd if=/dev/zero of=/dev/null bs=16777216 count=8 2>/dev/null; n=\$((n + 128)); fi
    done
    echo "bal: \$3 \$2 \$n \$((\$(cs) - t0))"
}
churn() { while [ ! -e /tmp/stop ]; do dd if=/dev/zero of=/mnt/f/y bs=1048576 count=32 2>/dev/null; rm /mnt/f/y; sleep 1; done; }
for k in c d; do
    [ \$k = d ] && churn &
    loop \$o on \$k; loop 11 off \$k; loop 11 off \$k; loop \$o on \$k
done
touch /tmp/stop; wait
echo "bal: done"
EOF
cmdline="console=ttyS0 no_timer_check tsc=reliable lpj=5000000 quiet vireo.action=script vireo.script=$(gzip -9c <"$script" | base64 -w0)"
# The kernel's limit is 2048 bytes; past it the script would be cut.
[ ${#cmdline} -le 1900 ] || { echo "balloon: kernel command line too long (${#cmdline} bytes)" >&2; exit 1; }

# rss PID: RSS= the process's VmRSS in KiB, read without a fork; 1 once
# it is gone.
rss() {
    RSS=
    local k v r
    { while read -r k v r; do [ "$k" = VmRSS: ] && { RSS=$v; return 0; }; done <"/proc/$1/status"; } 2>/dev/null
    return 1
}
# mark FILE TEXT SECONDS: until FILE (the guest's console) holds TEXT.
mark() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        [ -n "$vmm" ] && ! kill -0 "$vmm" 2>/dev/null && return 1
        nap 0.1
    done
    return 1
}
# watch PID T0 RSS0 SECONDS [FILE TEXT]: samples the RSS every 0.1 s for
# SECONDS (or until 3 s after FILE shows TEXT); FALL= RSS0 less the least
# seen (MiB), T90= ms from T0 (EPOCHREALTIME in us) to the first sample
# 90 % of the way down, "-" when it fell less than 8 MiB.
watch() {
    local pid=$1 t0=$2 r0=$3 end=$(($2 + $4 * 1000000)) now lo=$3 i=0 seen=
    local -a ts=() rs=()
    while now=${EPOCHREALTIME/./}; [ "$now" -lt "$end" ]; do
        rss "$pid" || break
        ts+=($((now - t0))) rs+=("$RSS")
        [ "$RSS" -lt "$lo" ] && lo=$RSS
        if [ $# -ge 6 ] && [ -z "$seen" ] && [ $((i++ % 10)) = 0 ] && grep -qF -- "$6" "$5"; then
            seen=1 end=$((now + 3000000))
        fi
        nap 0.1
    done
    FALL=$(((r0 - lo) / 1024)) T90=-
    [ "$FALL" -ge 8 ] || return 0
    for i in "${!rs[@]}"; do
        [ $((r0 - rs[i])) -ge $(((r0 - lo) * 9 / 10)) ] && { T90=$((ts[i] / 1000)); break; }
    done
}

# balloon_to SYSTEM MIB: the explicit balloon request, in the background
# (the clock runs from the moment it is issued; socat waits 2 s for the
# answers after sending).
bg=()
balloon_to() {
    case $1 in
    vireo) "$vireo" mem-set bal "$2" >/dev/null & ;;
    qemu) printf '{"execute":"qmp_capabilities"}\n{"execute":"balloon","arguments":{"value":%d}}\n' \
              $(($2 * 1048576)) | socat -t 2 - "UNIX-CONNECT:$scratch/qmp.sock" >/dev/null 2>&1 & ;;
    esac
    bg+=($!)
}

# measure SYSTEM: one guest; prints "A_FALL A_T90 B_FALL B_T90 C_ON C_OFF
# D_ON D_OFF" (MiB, ms, MiB, ms, then MiB/s) or "fail WHY".
measure() {
    local sys=$1 con=$scratch/$1.console
    rm -f "$con" "$scratch/qmp.sock"
    : >"$con"
    case $sys in
    vireo)
        printf '%s\n' 'name = "bal"' "kernel = \"$kernel\"" "ramdisk = \"$initrd\"" "cmdline = \"$cmdline\"" \
            "memory = $mem_mib" "maxmem = $mem_mib" "serial = \"file:$con\"" >"$scratch/bal.cfg"
        "$vireo" create "$scratch/bal.cfg" >/dev/null 2>"$scratch/create.err" ||
            { echo "fail create: $(head -c 200 "$scratch/create.err")"; return; }
        vmm=$("$vireo" list -l bal | sed -n 's/^ *"pid": \([0-9]*\),\{0,1\}$/\1/p') ;;
    qemu)
        qemu-system-x86_64 -accel kvm -cpu host -m "$mem_mib" -smp 1 -display none -monitor none -no-reboot \
            -nic none -bios /usr/share/qemu/qboot.rom -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
            -serial "file:$con" -qmp "unix:$scratch/qmp.sock,server=on,wait=off" \
            -device virtio-balloon-pci,free-page-reporting=on </dev/null >"$scratch/qemu.err" 2>&1 &
        vmm=$! ;;
    esac
    local t0 r0 a_fall a_t b_fall b_t
    mark "$con" "bal: a-freed" 150 || { echo "fail no a-freed"; stop; return; }
    t0=${EPOCHREALTIME/./}
    rss "$vmm" || { echo "fail the VMM is gone"; stop; return; }
    r0=$RSS
    watch "$vmm" "$t0" "$r0" 15
    a_fall=$FALL a_t=$T90
    mark "$con" "bal: b-ready" 120 || { echo "fail no b-ready"; stop; return; }
    nap 1
    rss "$vmm" || { echo "fail the VMM is gone"; stop; return; }
    r0=$RSS
    t0=${EPOCHREALTIME/./}
    balloon_to "$sys" $((mem_mib - balloon_mib))
    watch "$vmm" "$t0" "$r0" 40 "$con" "bal: b-inflated"
    b_fall=$FALL b_t=$T90
    balloon_to "$sys" "$mem_mib"
    mark "$con" "bal: done" "$limit" || { echo "fail no done"; stop; return; }
    [ ${#bg[@]} = 0 ] || wait "${bg[@]}" 2>/dev/null || true
    # (c), (d): MiB per second, the two on and the two off runs summed.
    sed -n 's/.*\(bal: [cd] .*\)/\1/p' "$con" | tr -d '\r' | awk -v f="$a_fall" -v at="$a_t" -v b="$b_fall" -v bt="$b_t" '
        { mib[$2, $3] += $4; cs[$2, $3] += $5 }
        END { if (cs["c", "on"] > 0 && cs["c", "off"] > 0 && cs["d", "on"] > 0 && cs["d", "off"] > 0)
                  printf "%s %s %s %s %.1f %.1f %.1f %.1f\n", f, at, b, bt, mib["c", "on"] * 100 / cs["c", "on"],
                         mib["c", "off"] * 100 / cs["c", "off"], mib["d", "on"] * 100 / cs["d", "on"],
                         mib["d", "off"] * 100 / cs["d", "off"]
              else print "fail no loop figures" }'
    stop
}
# stop: the guest powers itself off after "done"; whatever is left is
# killed.
stop() {
    local i
    for ((i = 0; i < 100; i++)); do kill -0 "$vmm" 2>/dev/null || break; nap 0.1; done
    kill -KILL "$vmm" 2>/dev/null || true
    "$vireo" destroy bal >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    vmm=
}

systems=(vireo qemu)
declare -A res=()
for ((r = 0; r < rounds; r++)); do
    order=("${systems[@]:r % 2}" "${systems[@]:0:r % 2}")
    line="round $((r + 1)):"
    for s in "${order[@]}"; do
        out=$(measure "$s")
        res[$s,$r]=$out
        line+=" $s=[$out]"
    done
    echo "$line"
done

# Medians per system, then the medians of the per-round ratios
# vireo/QEMU (pairs from the same round).
for ((r = 0; r < rounds; r++)); do echo "${res[vireo,$r]} | ${res[qemu,$r]}"; done | awk '
function median(s,   a, n, i, j, t, m, b) {
    n = split(s, a, " "); m = 0
    for (i = 1; i <= n; i++) if (a[i] != "-" && a[i] != "") b[++m] = a[i] + 0
    for (i = 2; i <= m; i++) for (j = i; j > 1 && b[j-1] > b[j]; j--) { t = b[j]; b[j] = b[j-1]; b[j-1] = t }
    if (m == 0) return "n/a"
    return (m % 2) ? b[(m+1)/2] : (b[m/2] + b[m/2+1]) / 2
}
function fmt(m, f) { return m == "n/a" ? m : sprintf(f, m) }
{
    split($0, h, "\\|"); nv = split(h[1], v, " "); nq = split(h[2], q, " ")
    if (v[1] == "fail" || q[1] == "fail" || nv < 8 || nq < 8) { bad++; next }
    for (k = 1; k <= 4; k++) { sv[k] = sv[k] " " v[k]; sq[k] = sq[k] " " q[k] }
    on_v = on_v " " v[5] / v[6]; on_q = on_q " " q[5] / q[6]
    dv = dv " " v[7] / v[8]; dq = dq " " q[7] / q[8]; rd = rd " " (v[7] / v[8]) / (q[7] / q[8])
    for (k = 1; k <= 4; k++) if (v[k] != "-" && q[k] != "-" && q[k] > 0) rat[k] = rat[k] " " v[k] / q[k]
    rc = rc " " (v[5] / v[6]) / (q[5] / q[6])
}
END {
    print "balloon medians (emulated times: compare only as ratios):"
    split("(a) reporting: RSS fall MiB|(a) reporting: ms to fall|(b) balloon: RSS fall MiB|(b) balloon: ms to fall", name, "|")
    for (k = 1; k <= 4; k++)
        printf "  %-30s vireo %8s  qemu %8s  vireo/qemu %s\n", name[k], fmt(median(sv[k]), "%.0f"),
               fmt(median(sq[k]), "%.0f"), fmt(median(rat[k]), "%.2f")
    printf "  %-30s vireo %8s  qemu %8s  vireo/qemu %s\n", "(c) loop speed on/off", fmt(median(on_v), "%.3f"),
           fmt(median(on_q), "%.3f"), fmt(median(rc), "%.3f")
    printf "  %-30s vireo %8s  qemu %8s  vireo/qemu %s\n", "(d) loop speed on/off", fmt(median(dv), "%.3f"),
           fmt(median(dq), "%.3f"), fmt(median(rd), "%.3f")
    if (bad) printf "  %d round(s) left out: a system failed in them\n", bad
}'
