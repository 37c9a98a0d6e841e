#!/usr/bin/env bash
# inner.sh BUILD_DIR SECONDS FIRST_ROUND LAST_ROUND LIMIT: runs inside the
# test host (see bench/net.sh, which computes the summary from what this
# prints).  Each round boots one guest per system, in rotated order, on the
# same bridge and against the same host-side servers; the guest runs the
# iperf3 clients and tcprr's and prints one line per figure.  Prints one
# line per guest and "round R complete" after each round.  Times are
# emulated: only the ratios mean anything.
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: $0 BUILD_DIR SECONDS FIRST_ROUND LAST_ROUND LIMIT" >&2; exit 2; }
[ -e /dev/kvm ] || { echo "net: no /dev/kvm (run me through bench/net.sh)" >&2; exit 1; }
# A network, mount and PID namespace of our own: the bridge, the TAPs and
# the addresses exist only here, and whatever is left running when we end
# (a hung guest, the servers) dies with the namespace.
if [ -z "${NET_BENCH_NS:-}" ]; then
    NET_BENCH_NS=1 exec unshare --net --mount --pid --fork --mount-proc --kill-child "$0" "$@"
fi
build=$1 secs=$2 first=$3 last=$4 limit=$5
mem=512M vcpus=1 rr_count=3000
mount -t sysfs sysfs /sys   # so that /sys/class/net shows this namespace
ip link set lo up

scratch=$(mktemp -d "${TESTHOST_SCRATCH:-/tmp}/net-bench.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# Boot files in the scratch tmpfs: the shared root is 9p, read uncached on
# every boot, which would add a slow and variable step to each start.
kernel=$scratch/vmlinuz
initrd=$scratch/initramfs-net.cpio.gz
cp "$build/guest/vmlinuz-cloud" "$kernel"
cp "$build/guest/initramfs-net.cpio.gz" "$initrd"
tcprr=$build/bench/net/tcprr

# Link-local addresses: they mean "this link only" wherever they appear.
br=vbr0 hip=169.254.80.1 gip=169.254.80.2
ip link add "$br" type bridge
ip addr add "$hip/24" dev "$br"
ip link set "$br" up
# QEMU's TAP is made and enslaved here, as an administrator would (QEMU's
# own ifup scripts assume a distribution's set-up); vireo makes its own.
qtap=qtap0
ip tuntap add dev "$qtap" mode tap
ip link set "$qtap" master "$br" up
"$tcprr" server 5300 &

# The guest's steps (tcprr is in the image at its path here: mkinitramfs.sh
# --add-binary keeps paths).  iperf3 -f m: the receiver line's figure before
# "Mbits/sec" is the throughput that arrived.
script=$scratch/guest.sh
cat >"$script" <<EOF
ip link set eth0 up
ip addr add $gip/24 dev eth0
i=0
until ping -c 1 -W 1 $hip >/dev/null 2>&1 || [ \$i -ge 60 ]; do i=\$((i + 1)); sleep 1; done
for d in g2h h2g; do
r=; [ \$d = h2g ] && r=-R
if iperf3 -c $hip -t $secs -f m \$r >/tmp/o 2>&1; then
awk -v d=\$d '/receiver/ { for (i = 2; i <= NF; i++) if (\$i == "Mbits/sec") v = \$(i-1) } END { print "vireo-bench: tput", d, v }' /tmp/o
else echo "vireo-bench: e \$d \$(tr '\n' ' ' </tmp/o | tail -c 300)"; fi
done
if $tcprr client $hip 5300 $rr_count >/tmp/o 2>&1; then
sed -n 's/^tcprr: .*mean_us=\([0-9.]*\) p50_us=\([0-9.]*\) p99_us=\([0-9.]*\).*/vireo-bench: rr \1 \2 \3/p' /tmp/o
else echo "vireo-bench: e rr \$(tr '\n' ' ' </tmp/o | tail -c 300)"; fi
EOF
cmdline="console=ttyS0 no_timer_check tsc=reliable lpj=5000000 quiet vireo.action=script vireo.script=$(gzip -9c <"$script" | base64 -w0)"
[ ${#cmdline} -le 1900 ] || { echo "net: kernel command line too long (${#cmdline} bytes)" >&2; exit 1; }

systems=(vireo-vhost-on qemu-vhost-on vireo-vhost-off qemu-vhost-off)
# NET_BENCH_SYSTEMS="S ...": only these (chasing one system's failure).
[ -z "${NET_BENCH_SYSTEMS:-}" ] || read -r -a systems <<<"$NET_BENCH_SYSTEMS"
for s in "${systems[@]}"; do
    case $s in
    vireo-vhost-on | vireo-vhost-off | qemu-vhost-on | qemu-vhost-off) ;;
    *) echo "net: NET_BENCH_SYSTEMS: unknown system '$s' (vireo-vhost-on|off, qemu-vhost-on|off)" >&2; exit 2 ;;
    esac
done
vhost_why=
if [ ! -c /dev/vhost-net ]; then
    vhost_why="no /dev/vhost-net in the test host (vhost_net not loaded)"
    systems=(vireo-vhost-off qemu-vhost-off)
fi
command_for() {
    case $1 in
    vireo-vhost-*)
        cmd=("$build/vireo" run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline"
             --memory "$mem" --vcpus "$vcpus" --net "bridge=$br,vhost=${1#vireo-vhost-}") ;;
    qemu-vhost-*)
        cmd=(qemu-system-x86_64 -enable-kvm -cpu host -m "$mem" -smp "$vcpus" -nographic -no-reboot
             -nic none -bios /usr/share/qemu/qboot.rom -kernel "$kernel" -initrd "$initrd" -append "$cmdline"
             -netdev "tap,id=n0,ifname=$qtap,script=no,downscript=no,vhost=${1#qemu-vhost-}"
             -device virtio-net-pci,netdev=n0,mac=52:54:00:80:00:02) ;;
    esac
}

if [ "$first" = 1 ]; then
    echo "net: one guest at a time on bridge $br; each guest: ${vcpus} vCPU, ${mem} RAM, the cloud kernel;"
    echo "  iperf3 TCP ${secs} s guest->host (g2h) and host->guest (h2g, -R), servers in the test host;"
    echo "  tcprr: ${rr_count} 1-byte TCP round trips, guest client, host server (TCP_NODELAY)."
    echo "  vireo-vhost-on = --net bridge=,vhost=on (the kernel's vhost-net); vireo-vhost-off = vhost=off"
    echo "  (vireo's user-space virtio-net, 1 I/O thread); qemu-vhost-off = virtio-net-pci, QEMU's user-space"
    echo "  back-end; qemu-vhost-on = virtio-net-pci with the kernel's vhost-net."
fi
[ -z "$vhost_why" ] || echo "  vireo-vhost-on, qemu-vhost-on: not run: $vhost_why"
results=$scratch/results   # lines: ROUND SYSTEM G2H H2G RR_MEAN RR_P50 RR_P99
: >"$results"
for ((r = first; r <= last; r++)); do
    # Rotate the order each round so no system always goes first.
    k=$(( (r - 1) % ${#systems[@]} ))
    order=("${systems[@]:k}" "${systems[@]:0:k}")
    for s in "${order[@]}"; do
        command_for "$s"
        log=$scratch/$s-$r.log
        # A fresh iperf3 server per guest: one whose client died mid-test
        # would refuse the next as busy.  The old neighbour entry (another
        # guest's MAC at the same address) goes too.
        iperf3 -s -p 5201 >"$scratch/iperf3-$s-$r.log" 2>&1 &
        srv=$!
        ip neigh flush dev "$br" 2>/dev/null || true
        rc=0
        timeout -k 5 "$limit" "${cmd[@]}" </dev/null >"$log" 2>&1 || rc=$?
        kill "$srv" 2>/dev/null || true
        wait "$srv" 2>/dev/null || true
        tr -d '\r' <"$log" | awk -v r="$r" -v s="$s" '
            $1 == "vireo-bench:" && $2 == "tput" { t[$3] = $4 }
            $1 == "vireo-bench:" && $2 == "rr" { m = $3; p50 = $4; p99 = $5 }
            END { if (t["g2h"] != "" && t["h2g"] != "" && m != "") print r, s, t["g2h"], t["h2g"], m, p50, p99 }' >>"$results"
        line=$(awk -v r="$r" -v s="$s" '$1 == r && $2 == s {
            printf "g2h=%s h2g=%s Mbit/s, rr mean=%s p50=%s p99=%s us", $3, $4, $5, $6, $7 }' "$results")
        echo "round $r $s: ${line:-fail}"
        if [ "$rc" != 0 ] || [ -z "$line" ]; then
            echo "  $s failed (exit status $rc$([ "$rc" = 124 ] && echo ", timed out after ${limit}s")); its output ends with:"
            tr -d '\r' <"$log" | tail -n 15 | sed 's/^/  | /'
        fi
    done
    echo "round $r complete"
done
