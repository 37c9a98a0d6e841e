#!/usr/bin/env bash
# disk-native.sh BUILD_DIR [SECONDS] [ROUNDS]: the disk back-end at native
# speed on the build machine, no VM: bench/vu-load (a vhost-user front-end
# playing the guest driver) drives 4 KiB random reads and writes at QD1 and
# QD32 with one and two queues against
#   vireo       `vireo disk serve` (cache=none, aio=auto, one I/O thread)
#   vireo-ring  the same with --aio io_uring: every request through the ring
#               (only where the image is in memory; elsewhere it is vireo)
#   vireo-noacct  vireo with VIREO_ACCOUNTING=off: the per-request timing's
#               cost is the v/noacct column (refusals and errors still counted)
#   vireo-nosec vireo with --seccomp off: the system call filters' cost is
#               the v/nosec column
#   qsd         qemu-storage-daemon's vhost-user-blk export (iothread,
#               aio=io_uring, cache.direct=on)
# and fio with io_uring directly on the same file (the limit; numjobs =
# queues).  Two images, each a table:
#   memory  in tmpfs (O_DIRECT there needs Linux 6.6+): the back-ends' own
#           cost, nothing else in the way
#   disk    in the build directory's file system: a real device's latency
# DISK_BENCH_MEDIA=memory or =disk runs one.  Systems take turns in rotated
# order, ROUNDS times; medians of IOPS and of p50/p99 completion latency are
# printed with ratios taken within each round.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_args 5 3 "$@"
for t in fio qemu-storage-daemon; do
    command -v "$t" >/dev/null || { echo "disk-native: needs $t (make deps-test)" >&2; exit 1; }
done
load=$build/bench/vu-load/vu-load
[ -x "$load" ] || { echo "disk-native: missing $load (make)" >&2; exit 1; }
# Real data in a 512 MiB image: O_DIRECT reads of unwritten extents never
# reach the device.  Prints the image's path, or nothing when the medium
# cannot take O_DIRECT.
make_image() {
    local dir=$1 img=$1/disk.img
    mkdir -p "$dir"
    dd if=/dev/zero of="$dir/probe" bs=4k count=1 oflag=direct status=none 2>/dev/null || { rm -f "$dir/probe"; return 0; }
    rm -f "$dir/probe"
    if [ "$(stat -c %s "$img" 2>/dev/null || echo 0)" != $((512 << 20)) ]; then
        echo "disk-native: writing a 512 MiB image of random data in $dir" >&2
        dd if=/dev/urandom of="$img.tmp" bs=1M count=512 conv=fsync status=none
        mv "$img.tmp" "$img"
    fi
    echo "$img"
}
run=$(mktemp -d)
pids=()
cleanup() { for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done; rm -rf "$run"; }
trap cleanup EXIT

# One measurement: prints "iops p50_us p99_us".
measure() {
    local sys=$1 rw=$2 qd=$3 q=$4 sock=$run/$1.sock pid
    rm -f "$sock"   # a server killed last time left it: vu_wait_sock would not wait
    case $sys in
    vireo|vireo-ring|vireo-noacct|vireo-nosec)
        local aio=() acct=on sec=on
        [ "$sys" = vireo-ring ] && aio=(--aio io_uring)
        [ "$sys" = vireo-noacct ] && acct=off
        [ "$sys" = vireo-nosec ] && sec=off
        VIREO_ACCOUNTING=$acct "$build/vireo" disk serve --socket "$sock" --cache none --queues "$q" --iothread 1 ${aio[@]+"${aio[@]}"} \
            --seccomp "$sec" \
            "$img" 2>"$run/srv.log" &
        pid=$! ;;
    qsd)
        qemu-storage-daemon --blockdev "driver=file,node-name=f,filename=$img,cache.direct=on,aio=io_uring" \
            --object iothread,id=io0 \
            --export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$sock,writable=on,iothread=io0,num-queues=$q" \
            2>"$run/srv.log" &
        pid=$! ;;
    fio)
        fio --name=x --filename="$img" --ioengine=io_uring --direct=1 --rw="$rw" --bs=4k --iodepth="$qd" \
            --numjobs="$q" --group_reporting --time_based --runtime="$secs" --output-format=json 2>/dev/null |
            python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
k = "read" if j["read"]["io_bytes"] else "write"
p = j[k]["clat_ns"]["percentile"]
print("%.0f %.1f %.1f" % (j[k]["iops"], p["50.000000"] / 1e3, p["99.000000"] / 1e3))'
        return ;;
    esac
    pids+=("$pid")
    vu_wait_sock "$sock" "$run/srv.log"
    vu_load_run "$load" "$sock" "$pid" "$secs" --rw "$rw" --qd "$qd" --queues "$q"
}

# bench MEDIUM IMG: one table.
bench() {
    local medium=$1 results=$run/results.$1 systems=(vireo vireo-noacct vireo-nosec qsd fio) n
    img=$2
    [ "$medium" = memory ] && systems=(vireo vireo-noacct vireo-nosec vireo-ring qsd fio)
    n=${#systems[@]}
    for r in $(seq "$rounds"); do
        for q in 1 2; do
            for rw in randread randwrite; do
                for qd in 1 32; do
                    # Rotate who goes first each round.
                    for k in $(seq 0 $((n - 1))); do
                        sys=${systems[$(( (k + r) % n ))]}
                        m=$(measure "$sys" "$rw" "$qd" "$q")
                        echo "$r $sys $rw $qd $q $m" >>"$results"
                    done
                done
            done
        done
        echo "disk-native: $medium: round $r of $rounds done" >&2
    done
    echo "# disk-native, $medium: 4 KiB random I/O, O_DIRECT, on $img ($(df --output=fstype "$img" | tail -1)), ${secs}s x $rounds rounds; $(nproc) CPUs"
    python3 - "$results" <<'EOF'
import sys, statistics as st
rows, rounds = {}, {}
for line in open(sys.argv[1]):
    r, sys_, rw, qd, q, iops, p50, p99 = line.split()
    key = (rw, int(qd), int(q))
    rows.setdefault(key + (sys_,), []).append((float(iops), float(p50), float(p99)))
    rounds.setdefault(key + (int(r),), {})[sys_] = (float(iops), float(p99))
systems = [s for s in ("vireo", "vireo-noacct", "vireo-nosec", "vireo-ring", "qsd", "fio") if any(k[3] == s for k in rows)]
def med(key, i):
    return st.median(v[i] for v in rows[key])
# This machine's speed drifts from minute to minute, so ratios are taken
# within a round (systems measured back to back) and their median printed.
def ratio(key, a, b, i):
    vals = [d[a][i] / d[b][i] for k, d in rounds.items() if k[:3] == key and a in d and b in d and d[b][i]]
    return st.median(vals) if vals else float("nan")
head = "%-10s %3s %2s" % ("workload", "qd", "q")
for s in systems:
    head += " | %10s %6s %6s" % (s, "p50us", "p99us")
print(head + " | %6s %6s %6s %8s %8s" % ("v/qsd", "p99v/q", "v/fio", "v/noacct", "v/nosec"))
for rw in ("randread", "randwrite"):
    for q in (1, 2):
        for qd in (1, 32):
            k = (rw, qd, q)
            line = "%-10s %3d %2d" % (rw, qd, q)
            for s in systems:
                line += " | %10.0f %6.1f %6.1f" % (med(k + (s,), 0), med(k + (s,), 1), med(k + (s,), 2))
            print(line + " | %6.2f %6.2f %6.2f %8.3f %8.3f" % (ratio(k, "vireo", "qsd", 0), ratio(k, "vireo", "qsd", 1),
                                                       ratio(k, "vireo", "fio", 0), ratio(k, "vireo", "vireo-noacct", 0),
                                                       ratio(k, "vireo", "vireo-nosec", 0)))
print("IOPS and latency: medians over rounds.  Ratios: medians of per-round ratios.  v/qsd: vireo IOPS /")
print("qemu-storage-daemon IOPS; p99v/q: vireo p99 / qsd p99; v/fio: vireo IOPS / raw io_uring IOPS;")
print("v/noacct: vireo IOPS / vireo IOPS with VIREO_ACCOUNTING=off (the accounting's cost);")
print("v/nosec: vireo IOPS / vireo IOPS with --seccomp off (the filters' cost)")
EOF
}

media=${DISK_BENCH_MEDIA:-memory disk}
for medium in $media; do
    case $medium in
    memory) dir=/dev/shm/vireo-bench ;;
    disk) dir=$build/benchdata ;;
    *) echo "disk-native: DISK_BENCH_MEDIA: expected memory and/or disk, got $medium" >&2; exit 2 ;;
    esac
    image=$(make_image "$dir")
    if [ -z "$image" ]; then
        echo "# disk-native, $medium: skipped: $dir takes no O_DIRECT"
        continue
    fi
    bench "$medium" "$image"
    echo
done
