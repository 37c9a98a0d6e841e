#!/usr/bin/env bash
# bench/setup-cost.sh BUILD_DIR [RUNS]: on this machine itself, what setting
# up a VM costs the VMM before the guest's first instruction: CPU time from
# process start to just before the first KVM_RUN, and the VMM's own resident
# memory (guest RAM pages excluded).  256 MiB guest, Debian cloud bzImage +
# the demo initramfs.  Peers, side by side in the same run:
#  - QEMU, started with -S (vCPUs created, never run) on the same kernel,
#    initrd and memory; measured from outside once its QMP socket answers.
#  - Firecracker's published figures (8 CPU-ms to ready, 5 MiB overhead):
#    not measured here (not in Debian), printed as fixed targets.
# A second Vireo row boots Debian's generic bzImage (xz) the default way:
# through PVH, its vmlinux from the kernel cache (filled by a first,
# unmeasured start).
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [RUNS]}
runs=${2:-15}
kernel=$build/guest/vmlinuz-cloud
generic=$build/guest/vmlinuz-generic
initrd=$build/guest/initramfs.cpio.gz
cmdline="console=ttyS0 quiet"
for f in "$build/vireo" "$kernel" "$initrd"; do
    [ -e "$f" ] || { echo "setup-cost: missing $f (run make guest)" >&2; exit 1; }
done
tmp=$(mktemp -d)
qpid=
cleanup() { [ -n "$qpid" ] && kill -KILL "$qpid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# One QEMU sample: CPU ns of all its threads (schedstat) and RSS minus the
# guest RAM mapping's resident pages, once it is ready and paused.
qemu_sample() {
    local sock=$tmp/qmp.sock
    rm -f "$sock"
    qemu-system-x86_64 -enable-kvm -M microvm -m 256 -S -nodefaults -no-user-config \
        -display none -serial none -monitor none -nic none \
        -qmp "unix:$sock,server=on,wait=off" \
        -kernel "$kernel" -initrd "$initrd" -append "$cmdline" >/dev/null 2>"$tmp/qemu.err" &
    qpid=$!
    local i
    for i in $(seq 1 500); do
        [ -S "$sock" ] && break
        kill -0 "$qpid" 2>/dev/null || { cat "$tmp/qemu.err" >&2; return 1; }
        sleep 0.01
    done
    # The monitor answering means start-up has finished.
    printf '{"execute":"qmp_capabilities"}\n' | timeout 5 socat - "UNIX-CONNECT:$sock" >/dev/null 2>&1
    local ns=0 t
    for t in /proc/$qpid/task/*/schedstat; do
        read -r run _ <"$t" && ns=$((ns + run))
    done
    local rss anon
    rss=$(awk '/^VmRSS:/ {print $2}' /proc/$qpid/status)
    anon=$(awk '/^RssAnon:/ {print $2}' /proc/$qpid/status)
    # Guest RAM: the 256 MiB anonymous mapping.
    local guest=0 in_guest=0 key val
    while read -r key val _; do
        if [[ $key =~ ^([0-9a-f]+)-([0-9a-f]+)$ ]]; then
            in_guest=$(( (16#${BASH_REMATCH[2]} - 16#${BASH_REMATCH[1]}) == 268435456 ))
        elif [ "$key" = Rss: ] && [ "$in_guest" = 1 ]; then
            guest=$val
            break
        fi
    done </proc/$qpid/smaps
    kill -KILL "$qpid" 2>/dev/null
    wait "$qpid" 2>/dev/null || true
    qpid=
    echo "$(awk -v n="$ns" 'BEGIN {printf "%.3f", n / 1e6}') $((rss - guest)) $((anon - guest))"
}

have_qemu=1
command -v socat >/dev/null || { echo "setup-cost: needs socat (make bench installs it)" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || have_qemu=0

vireo_sample() {
    local line
    line=$("$build/vireo" run --kernel "$1" --initrd "$initrd" --cmdline "$cmdline" --setup-only)
    # setup cpu_ms=X rss_kib=Y guest_rss_kib=Z vmm_rss_kib=W vmm_anon_kib=V
    echo "$line" | sed -E 's/.*cpu_ms=([0-9.]+).*vmm_rss_kib=([0-9]+).*vmm_anon_kib=([0-9]+).*/\1 \2 \3/'
}

have_generic=0
[ -e "$generic" ] && vireo_sample "$generic" >/dev/null && have_generic=1
: >"$tmp/vireo"
: >"$tmp/generic"
: >"$tmp/qemu"
for i in $(seq 1 "$runs"); do
    vireo_sample "$kernel" >>"$tmp/vireo"
    [ "$have_generic" = 1 ] && vireo_sample "$generic" >>"$tmp/generic"
    if [ "$have_qemu" = 1 ]; then
        qemu_sample >>"$tmp/qemu" || have_qemu=0
    fi
done

v_cpu=$(cut -d' ' -f1 "$tmp/vireo" | median)
v_rss=$(cut -d' ' -f2 "$tmp/vireo" | median)
echo "setup-cost: $runs runs each, 256 MiB guest, $(basename "$(readlink -f "$kernel")")"
# vmm_rss: resident memory but guest RAM (the target's figure); of_it_anon:
# the part that is the process's own (heap, stacks, data), the rest being
# pages of the binary and shared libraries, which every process mapping
# them shares and which the kernel's fault-around maps 64 KiB at a time.
mib() { cut -d' ' -f"$2" "$1" | median | awk '{printf "%.2f", $1 / 1024}'; }
printf '%-28s %10s %14s %12s\n' system "cpu_ms" "vmm_rss_MiB" "of_it_anon"
printf '%-28s %10.2f %14.2f %12.2f\n' "vireo (to first KVM_RUN)" "$v_cpu" "$(ratio "$v_rss" 1024)" "$(mib "$tmp/vireo" 3)"
if [ -s "$tmp/generic" ]; then
    printf '%-28s %10.2f %14.2f %12.2f\n' "vireo, generic xz via PVH" "$(cut -d' ' -f1 "$tmp/generic" | median)" \
        "$(mib "$tmp/generic" 2)" "$(mib "$tmp/generic" 3)"
fi
if [ "$have_qemu" = 1 ] && [ -s "$tmp/qemu" ]; then
    q_cpu=$(cut -d' ' -f1 "$tmp/qemu" | median)
    q_rss=$(cut -d' ' -f2 "$tmp/qemu" | median)
    printf '%-28s %10.2f %14.2f %12.2f\n' "qemu microvm -S (ready)" "$q_cpu" "$(ratio "$q_rss" 1024)" "$(mib "$tmp/qemu" 3)"
fi
printf '%-28s %10.2f %14.2f %12s\n' "firecracker (published)" 8 5 -
echo "ratio vireo/firecracker-published: cpu $(ratio "$v_cpu" 8)  memory $(ratio "$v_rss" $((5 * 1024)))"
if [ "$have_qemu" = 1 ] && [ -s "$tmp/qemu" ]; then
    echo "ratio vireo/qemu-microvm: cpu $(ratio "$v_cpu" "$q_cpu")  memory $(ratio "$v_rss" "$q_rss")"
fi
