#!/usr/bin/env bash
# disk-native.sh BUILD_DIR [SECONDS] [ROUNDS]: the disk back-end at native
# speed on the build machine, no VM: bench/vu-load (a vhost-user front-end
# playing the guest driver) drives 4 KiB random reads and writes at QD1 and
# QD32 with one and two queues against
#   vireo  `vireo disk serve` (cache=none, io_uring, one I/O thread)
#   qsd    qemu-storage-daemon's vhost-user-blk export (iothread, aio=io_uring,
#          cache.direct=on)
# and fio with io_uring directly on the same file (the limit; numjobs =
# queues).  Systems take turns in rotated order, ROUNDS times; medians of
# IOPS and of p50/p99 completion latency are printed with ratios.
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 3 ] || { echo "usage: $0 BUILD_DIR [SECONDS] [ROUNDS]" >&2; exit 2; }
build=$(cd "$1" && pwd)
secs=${2:-5}
rounds=${3:-3}
for t in fio qemu-storage-daemon; do
    command -v "$t" >/dev/null || { echo "disk-native: needs $t (make deps-test)" >&2; exit 1; }
done
load=$build/bench/vu-load/vu-load
[ -x "$load" ] || { echo "disk-native: missing $load (make)" >&2; exit 1; }
# The point is the back-ends' own cost, so the image lives in memory when
# the host's tmpfs takes O_DIRECT (Linux 6.6+); else in the build directory.
# DISK_BENCH_DIR overrides.
dir=${DISK_BENCH_DIR:-}
if [ -z "$dir" ]; then
    dir=/dev/shm/vireo-bench
    mkdir -p "$dir"
    if ! dd if=/dev/zero of="$dir/probe" bs=4k count=1 oflag=direct status=none 2>/dev/null; then
        dir=$build/benchdata
    fi
    rm -f /dev/shm/vireo-bench/probe
fi
mkdir -p "$dir"
img=$dir/disk.img
# Real data: O_DIRECT reads of unwritten extents never reach the device.
if [ "$(stat -c %s "$img" 2>/dev/null || echo 0)" != $((512 << 20)) ]; then
    echo "disk-native: writing a 512 MiB image of random data" >&2
    dd if=/dev/urandom of="$img.tmp" bs=1M count=512 conv=fsync status=none
    mv "$img.tmp" "$img"
fi
run=$(mktemp -d)
pids=()
cleanup() { for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done; rm -rf "$run"; }
trap cleanup EXIT

wait_sock() {
    for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done
    echo "disk-native: no socket $1; the server said:" >&2
    cat "$run/srv.log" >&2
    return 1
}
# One measurement: prints "iops p50_us p99_us".
measure() {
    local sys=$1 rw=$2 qd=$3 q=$4 sock=$run/$1.sock pid out
    case $sys in
    vireo)
        "$build/vireo" disk serve --socket "$sock" --cache none --queues "$q" --iothread 1 "$img" 2>"$run/srv.log" &
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
    wait_sock "$sock"
    out=$(timeout $((secs + 30)) "$load" --socket "$sock" --rw "$rw" --qd "$qd" --queues "$q" --seconds "$secs")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    sed -E 's/iops=([0-9.]+) p50_us=([0-9.]+) p99_us=([0-9.]+).*/\1 \2 \3/' <<<"$out"
}

results=$run/results
systems=(vireo qsd fio)
for r in $(seq "$rounds"); do
    for q in 1 2; do
        for rw in randread randwrite; do
            for qd in 1 32; do
                # Rotate who goes first each round.
                for k in 0 1 2; do
                    sys=${systems[$(( (k + r) % 3 ))]}
                    echo "$r $sys $rw $qd $q $(measure "$sys" "$rw" "$qd" "$q")" >>"$results"
                done
            done
        done
    done
    echo "disk-native: round $r of $rounds done" >&2
done

echo "# disk-native: 4 KiB random I/O, O_DIRECT, on $img ($(df --output=fstype "$img" | tail -1)), ${secs}s x $rounds rounds, medians; $(nproc) CPUs"
python3 - "$results" <<'EOF'
import sys, statistics as st
rows, rounds = {}, {}
for line in open(sys.argv[1]):
    r, sys_, rw, qd, q, iops, p50, p99 = line.split()
    key = (rw, int(qd), int(q))
    rows.setdefault(key + (sys_,), []).append((float(iops), float(p50), float(p99)))
    rounds.setdefault(key + (int(r),), {})[sys_] = (float(iops), float(p99))
def med(key, i):
    return st.median(v[i] for v in rows[key])
# This machine's speed drifts from minute to minute, so ratios are taken
# within a round (systems measured back to back) and their median printed.
def ratio(key, a, b, i):
    vals = [d[a][i] / d[b][i] for k, d in rounds.items() if k[:3] == key and a in d and b in d and d[b][i]]
    return st.median(vals) if vals else float("nan")
print("%-10s %3s %2s | %9s %7s %7s | %9s %7s %7s | %9s %7s %7s | %6s %6s %6s" % (
    "workload", "qd", "q", "vireo", "p50us", "p99us", "qsd", "p50us", "p99us", "fio", "p50us", "p99us",
    "v/qsd", "p99v/q", "v/fio"))
for rw in ("randread", "randwrite"):
    for q in (1, 2):
        for qd in (1, 32):
            k = (rw, qd, q)
            v, s, f = (k + (x,) for x in ("vireo", "qsd", "fio"))
            print("%-10s %3d %2d | %9.0f %7.1f %7.1f | %9.0f %7.1f %7.1f | %9.0f %7.1f %7.1f | %6.2f %6.2f %6.2f" % (
                rw, qd, q, med(v, 0), med(v, 1), med(v, 2), med(s, 0), med(s, 1), med(s, 2),
                med(f, 0), med(f, 1), med(f, 2), ratio(k, "vireo", "qsd", 0), ratio(k, "vireo", "qsd", 1),
                ratio(k, "vireo", "fio", 0)))
print("medians over rounds; ratios are medians of per-round ratios.  v/qsd: vireo IOPS / qemu-storage-daemon")
print("IOPS; p99v/q: vireo p99 / qsd p99; v/fio: vireo IOPS / raw io_uring IOPS (fio numjobs = queues)")
EOF
