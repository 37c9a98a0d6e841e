#!/usr/bin/env bash
# qcow2-native.sh BUILD_DIR [SECONDS] [ROUNDS]: the qcow2 format layer at
# native speed on the build machine, no VM: bench/vu-load (a vhost-user
# front-end playing the guest driver, as in disk-native.sh) against
#   vireo-raw    `vireo disk serve --format raw` on a raw image
#   vireo-qcow2  `vireo disk serve --format qcow2` on a qcow2 copy of the same
#                data, every cluster allocated (qemu-img convert)
#   qsd-qcow2    qemu-storage-daemon's vhost-user-blk export of that qcow2
#                file (iothread, aio=io_uring, cache.direct=on)
# all with O_DIRECT and one I/O thread.  Two tables:
#   allocated    4 KiB random reads and writes at QD1 and QD32
#   first write  on a fresh, empty 64 GiB qcow2 image (64 KiB clusters,
#                made by qemu-img for both back-ends), 4 KiB random writes
#                and 64 KiB sequential writes at QD1 and QD32: nearly every
#                write allocates a cluster (vireo-qcow2 and qsd-qcow2 only)
# The images live in the build directory's file system (QCOW2_BENCH_DIR
# to choose another).  Systems take turns in rotated order, ROUNDS times;
# medians of IOPS and p50/p99, and medians of the ratios taken within each
# round are printed.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_args 5 3 "$@"
for t in qemu-storage-daemon qemu-img; do
    command -v "$t" >/dev/null || { echo "qcow2-native: needs $t (make deps-test)" >&2; exit 1; }
done
load=$build/bench/vu-load/vu-load
[ -x "$load" ] || { echo "qcow2-native: missing $load (make)" >&2; exit 1; }
dir=${QCOW2_BENCH_DIR:-$build/benchdata}/qcow2
mkdir -p "$dir"
run=$(mktemp -d)
pids=()
cleanup() {
    for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done
    rm -rf "$run" "$dir/fresh.qcow2"
}
trap cleanup EXIT

# 512 MiB of random data, as raw and as an allocated qcow2 (64 KiB
# clusters, qemu-img's default): O_DIRECT reads of holes never reach the
# device, and compression would make the read path a different one.
if [ "$(stat -c %s "$dir/data.raw" 2>/dev/null || echo 0)" != $((512 << 20)) ]; then
    echo "qcow2-native: writing 512 MiB of random data in $dir" >&2
    dd if=/dev/urandom of="$dir/data.raw.tmp" bs=1M count=512 conv=fsync status=none
    mv "$dir/data.raw.tmp" "$dir/data.raw"
    rm -f "$dir/data.qcow2"
fi
[ -f "$dir/data.qcow2" ] || qemu-img convert -f raw -O qcow2 "$dir/data.raw" "$dir/data.qcow2"

# measure SYSTEM IMAGE RW BS QD: prints "iops p50_us p99_us".
measure() {
    local sys=$1 img=$2 rw=$3 bs=$4 qd=$5 sock=$run/$1.sock pid
    rm -f "$sock"
    case $sys in
    vireo-raw | vireo-qcow2)
        "$build/vireo" disk serve --socket "$sock" --cache none --iothread 1 --format "${sys#vireo-}" \
            "$img" 2>"$run/srv.log" &
        pid=$! ;;
    qsd-qcow2)
        qemu-storage-daemon --blockdev "driver=file,node-name=f,filename=$img,cache.direct=on,aio=io_uring" \
            --blockdev "driver=qcow2,node-name=q,file=f,cache.direct=on" \
            --object iothread,id=io0 \
            --export "type=vhost-user-blk,id=e,node-name=q,addr.type=unix,addr.path=$sock,writable=on,iothread=io0" \
            2>"$run/srv.log" &
        pid=$! ;;
    esac
    pids+=("$pid")
    vu_wait_sock "$sock" "$run/srv.log"
    vu_load_run "$load" "$sock" "$pid" "$secs" --rw "$rw" --bs "$bs" --qd "$qd"
}

results=$run/results
for r in $(seq "$rounds"); do
    for rw in randread randwrite; do
        for qd in 1 32; do
            systems=(vireo-raw vireo-qcow2 qsd-qcow2)
            for k in 0 1 2; do
                sys=${systems[$(( (k + r) % 3 ))]}
                img=$dir/data.qcow2
                [ "$sys" = vireo-raw ] && img=$dir/data.raw
                m=$(measure "$sys" "$img" "$rw" 4096 "$qd")
                echo "$r allocated $sys $rw 4096 $qd $m" >>"$results"
            done
        done
    done
    for w in "randwrite 4096" "write 65536"; do
        for qd in 1 32; do
            systems=(vireo-qcow2 qsd-qcow2)
            for k in 0 1; do
                sys=${systems[$(( (k + r) % 2 ))]}
                rm -f "$dir/fresh.qcow2"
                qemu-img create -q -f qcow2 "$dir/fresh.qcow2" 64G
                # shellcheck disable=SC2086
                m=$(measure "$sys" "$dir/fresh.qcow2" $w "$qd")
                echo "$r first-write $sys ${w% *} ${w#* } $qd $m" >>"$results"
            done
        done
    done
    echo "qcow2-native: round $r of $rounds done" >&2
done
rm -f "$dir/fresh.qcow2"

echo "# qcow2-native: O_DIRECT on $dir ($(df --output=fstype "$dir" | tail -1)), ${secs}s x $rounds rounds; $(nproc) CPUs"
python3 - "$results" <<'EOF'
import sys, statistics as st
rows, rounds = {}, {}
for line in open(sys.argv[1]):
    r, table, sys_, rw, bs, qd, iops, p50, p99 = line.split()
    key = (table, rw, int(bs), int(qd))
    rows.setdefault(key + (sys_,), []).append((float(iops), float(p50), float(p99)))
    rounds.setdefault(key + (int(r),), {})[sys_] = float(iops)
def med(key, i):
    return st.median(v[i] for v in rows[key])
# The machine's speed drifts, so ratios are taken within a round.
def ratio(key, a, b):
    vals = [d[a] / d[b] for k, d in rounds.items() if k[:4] == key and a in d and b in d and d[b]]
    return "%6.2f" % st.median(vals) if vals else "%6s" % "-"
for table, systems in (("allocated", ("vireo-raw", "vireo-qcow2", "qsd-qcow2")), ("first-write", ("vireo-qcow2", "qsd-qcow2"))):
    print("\n## %s" % table)
    head = "%-10s %6s %3s" % ("workload", "bs", "qd")
    for s in systems:
        head += " | %11s %6s %6s" % (s, "p50us", "p99us")
    print(head + " | %6s %6s" % ("q/raw", "q/qsd"))
    for key in sorted({k[:4] for k in rows if k[0] == table}):
        line = "%-10s %6d %3d" % key[1:]
        for s in systems:
            line += " | %11.0f %6.1f %6.1f" % (med(key + (s,), 0), med(key + (s,), 1), med(key + (s,), 2))
        print(line + " | %s %s" % (ratio(key, "vireo-qcow2", "vireo-raw") if table == "allocated" else "%6s" % "-",
                                   ratio(key, "vireo-qcow2", "qsd-qcow2")))
print("\nIOPS and latency: medians over rounds.  Ratios: medians of per-round ratios of IOPS.")
print("q/raw: vireo qcow2 / vireo raw, same data (target >= 0.9); q/qsd: vireo qcow2 / qemu-storage-daemon")
print("qcow2, same file (targets: >= 1.3 at QD32 allocated, >= 1.0 on first writes)")
EOF
