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
#   vireo-poll, qsd-poll  the same with `vu-load --poll`: the front-end spins
#               on the used ring with interrupts suppressed, as Linux's
#               virtio-blk poll queues do, so no wake-up of a sleeping
#               front-end is in the figure
# and the limit: the best of fio's io_uring, pvsync2 and psync engines
# directly on the same file from one thread per queue (numjobs = queues;
# the synchronous engines have one request in flight per thread).  Two
# images, each a table:
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
    vireo|vireo-poll|vireo-ring|vireo-noacct|vireo-nosec)
        local aio=() acct=on sec=on
        [ "$sys" = vireo-ring ] && aio=(--aio io_uring)
        [ "$sys" = vireo-noacct ] && acct=off
        [ "$sys" = vireo-nosec ] && sec=off
        VIREO_ACCOUNTING=$acct "$build/vireo" disk serve --socket "$sock" --cache none --queues "$q" --iothread 1 ${aio[@]+"${aio[@]}"} \
            --seccomp "$sec" \
            "$img" 2>"$run/srv.log" &
        pid=$! ;;
    qsd|qsd-poll)
        qemu-storage-daemon --blockdev "driver=file,node-name=f,filename=$img,cache.direct=on,aio=io_uring" \
            --object iothread,id=io0 \
            --export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$sock,writable=on,iothread=io0,num-queues=$q" \
            2>"$run/srv.log" &
        pid=$! ;;
    fio-*)
        # The synchronous engines have one request in flight per job.
        local depth=$qd
        [ "$sys" = fio-io_uring ] || depth=1
        fio --name=x --filename="$img" --ioengine="${sys#fio-}" --direct=1 --rw="$rw" --bs=4k --iodepth="$depth" \
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
    local poll=()
    [[ $sys = *-poll ]] && poll=(--poll)
    vu_load_run "$load" "$sock" "$pid" "$secs" --rw "$rw" --qd "$qd" --queues "$q" ${poll[@]+"${poll[@]}"}
}

# bench MEDIUM IMG: one table.
bench() {
    local medium=$1 results=$run/results.$1 n
    local systems=(vireo vireo-poll vireo-noacct vireo-nosec qsd qsd-poll fio-io_uring fio-pvsync2 fio-psync)
    img=$2
    [ "$medium" = memory ] && systems+=(vireo-ring)
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
    rounds.setdefault(key + (int(r),), {})[sys_] = float(iops)
# The limit of each round: its best fio engine.
for k, d in rounds.items():
    fios = [v for s, v in d.items() if s.startswith("fio-")]
    if fios:
        d["limit"] = max(fios)
order = ("vireo", "vireo-poll", "vireo-noacct", "vireo-nosec", "vireo-ring", "qsd", "qsd-poll",
         "fio-io_uring", "fio-pvsync2", "fio-psync")
systems = [s for s in order if any(k[3] == s for k in rows)]
def med(key, i):
    return st.median(v[i] for v in rows[key])
# This machine's speed drifts from minute to minute, so ratios are taken
# within a round (systems measured back to back) and their median printed.
def ratio(key, a, b):
    vals = [d[a] / d[b] for k, d in rounds.items() if k[:3] == key and a in d and b in d and d[b]]
    return st.median(vals) if vals else float("nan")
keys = [(rw, qd, q) for rw in ("randread", "randwrite") for q in (1, 2) for qd in (1, 32)]
short = {"vireo-noacct": "v-noacct", "vireo-nosec": "v-nosec", "vireo-ring": "v-ring", "vireo-poll": "v-poll",
         "fio-io_uring": "fio-uring", "fio-pvsync2": "fio-pvs2", "fio-psync": "fio-psync"}
print("IOPS (median)")
print("%-10s %3s %2s" % ("workload", "qd", "q") + "".join(" %9s" % short.get(s, s) for s in systems))
for k in keys:
    print("%-10s %3d %2d" % k + "".join(" %9.0f" % med(k + (s,), 0) for s in systems))
lat = [s for s in ("vireo", "vireo-poll", "qsd", "qsd-poll") if s in systems]
print("\nLatency p50/p99 us (median)")
print("%-10s %3s %2s" % ("workload", "qd", "q") + "".join(" %15s" % s for s in lat))
for k in keys:
    print("%-10s %3d %2d" % k + "".join(" %7.1f/%7.1f" % (med(k + (s,), 1), med(k + (s,), 2)) for s in lat))
print("\nRatios of IOPS (medians of per-round ratios)")
cols = (("v/qsd", "vireo", "qsd"), ("vp/qp", "vireo-poll", "qsd-poll"), ("v/lim", "vireo", "limit"),
        ("vp/lim", "vireo-poll", "limit"), ("v/noacct", "vireo", "vireo-noacct"), ("v/nosec", "vireo", "vireo-nosec"))
print("%-10s %3s %2s" % ("workload", "qd", "q") + "".join(" %8s" % c[0] for c in cols))
for k in keys:
    print("%-10s %3d %2d" % k + "".join(" %8.2f" % ratio(k, a, b) for _, a, b in cols))
print("v/qsd: vireo / qemu-storage-daemon, the front-end sleeping on interrupts; vp/qp: the same with the")
print("polling front-end; lim: the limit, the best of fio's io_uring, pvsync2 and psync engines in that round;")
print("v/noacct: vireo / vireo with VIREO_ACCOUNTING=off (the accounting's cost); v/nosec: vireo / vireo with")
print("--seccomp off (the filters' cost)")
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
