#!/usr/bin/env bash
# microscope.sh BUILD_DIR [SECONDS] [ROUNDS]: `vireo microscope` against
# ground truth and against the usual tools, then its cost.
#  1. iogen (bench/microscope/iogen.c: bursts, steady streams, buffered
#     writes that leave through writeback, an idle thread) runs SECONDS
#     under `vireo microscope record` on a scratch ext4 on a loop device,
#     while iotop and pidstat watch; per thread, what each saw is printed
#     side by side, the kernel's block_bio_queue tracepoint says who really
#     submitted the bios, and mscheck grades the recording.
#  2. fio 4 KiB random reads (io_uring, QD32, O_DIRECT) on the loop device,
#     ROUNDS times without and with a recording running; IOPS and the loss.
#     Beside them, the floor (bench/microscope/hookcost): empty programs on
#     the same three tracepoints, and the least accounting that can charge
#     a task; then each program's own run time per call.
# Needs root.  Results are also kept in BUILD_DIR/microscope-bench/.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_args 10 3 "$@"
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "microscope.sh: needs root (eBPF, losetup, mount)" >&2; exit 1; }
for t in iotop pidstat fio losetup mkfs.ext4 python3 bpftool; do
    command -v "$t" >/dev/null || { echo "microscope.sh: needs $t (make deps-test)" >&2; exit 1; }
done
vireo=$build/vireo iogen=$build/bench/microscope/iogen mscheck=$build/bench/microscope/mscheck
hookcost=$build/bench/microscope/hookcost
for f in "$vireo" "$iogen" "$mscheck" "$hookcost"; do
    [ -x "$f" ] || { echo "microscope.sh: missing $f (ninja -C $build)" >&2; exit 1; }
done
# shellcheck source=bench/microscope/loopfs.sh
. "$here/microscope/loopfs.sh"
# A tracefs instance of our own: its events and buffer are separate from
# the global trace, and removing it undoes everything.
tinst='' stats_old='' tracefs_mounted=''
cleanup() {
    loopfs_cleanup
    [ -z "$stats_old" ] || sysctl -qw kernel.bpf_stats_enabled="$stats_old"
    if [ -n "$tinst" ] && [ -d "$tinst" ]; then
        echo 0 >"$tinst/events/block/block_bio_queue/enable" 2>/dev/null || true
        rmdir "$tinst" 2>/dev/null || true
    fi
    [ -z "$tracefs_mounted" ] || umount /sys/kernel/tracing 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export LC_ALL=C S_TIME_FORMAT=ISO # 24-hour HH:MM:SS in pidstat, like iotop -t
keep=$build/microscope-bench
mkdir -p "$keep"

loopfs_setup 1024 || { echo "microscope.sh: could not set up an ext4 on a loop device" >&2; exit 1; }
echo "== ground truth: iogen for ${secs}s on $loopdev (ext4 on tmpfs) =="
tracefs=/sys/kernel/tracing
if [ ! -d "$tracefs/events" ] && mount -t tracefs nodev "$tracefs" 2>/dev/null; then
    tracefs_mounted=1
fi
if [ -d "$tracefs/instances" ]; then
    tinst=$tracefs/instances/vireo-ms-$$
    mkdir "$tinst"
    echo 16384 >"$tinst/buffer_size_kb"
    # the dev field is the kernel's dev_t, major << 20 | minor
    devt=$(( $(stat -c '0x%t' "$loopdev") << 20 | $(stat -c '0x%T' "$loopdev") ))
    echo "dev == $devt" >"$tinst/events/block/block_bio_queue/filter"
    echo 1 >"$tinst/events/block/block_bio_queue/enable"
fi
bound=$((secs + 60))
# Both label an interval by the whole second it ends in; started just
# after a whole second, their intervals are (roughly: iotop drifts a
# little) the wall-clock seconds mscheck -s bins by.  Unbuffered, so that
# stopping them loses no line.
sleep "$(python3 -c 'import time; print(1.02 - time.time() % 1)')"
loopfs_bg timeout "$bound" env PYTHONUNBUFFERED=1 iotop -b -o -d 1 -k -t >"$work/iotop.txt" 2>&1
iotop_pid=${loopfs_pids[-1]}
loopfs_bg timeout "$bound" stdbuf -oL pidstat -d -t 1 >"$work/pidstat.txt" 2>&1
pidstat_pid=${loopfs_pids[-1]}
sleep 1.5 # both print their first interval before the workload starts
timeout -k 5 "$bound" "$vireo" microscope record -o "$work/rec.csv" -- \
    "$iogen" --dir "$work/mnt" --truth "$work/truth.csv" --seconds "$secs" --log "$work/io.csv" --linger 1.5
sleep 0.3 # iogen lingered 1.5 s: iotop and pidstat saw its last second
kill "$iotop_pid" "$pidstat_pid" 2>/dev/null || true
wait "$iotop_pid" "$pidstat_pid" 2>/dev/null || true
loopfs_reaped "$iotop_pid"
loopfs_reaped "$pidstat_pid"
[ -n "$tinst" ] && echo 0 >"$tinst/events/block/block_bio_queue/enable"
cp "$work/rec.csv" "$work/truth.csv" "$work/io.csv" "$work/iotop.txt" "$work/pidstat.txt" "$keep/"

# One line per (tool, task, second): "tool task HH:MM:SS bytes".
awk -F, 'NR > 1 && $3 == "total" { print $2, $1 }' "$work/truth.csv" >"$work/tids" # tid name
{
    "$mscheck" -s "$work/truth.csv" "$work/rec.csv" | sed 's/^persec/microscope/'
    # iotop: TIME TID PRIO USER READ K/s WRITE K/s ...; a thread is matched by tid
    awk 'NR == FNR { name[$1] = $2; next }
         $2 in name && $6 == "K/s" { printf "iotop %s %s %.0f\n", name[$2], $1, ($5 + $7) * 1024 }' \
        "$work/tids" "$work/iotop.txt"
    # pidstat -t: TIME UID TGID TID kB_rd/s kB_wr/s ...; thread rows have TGID "-"
    awk 'NR == FNR { name[$1] = $2; next }
         $3 == "-" && $4 in name { printf "pidstat %s %s %.0f\n", name[$4], $1, ($5 + $6) * 1024 }' \
        "$work/tids" "$work/pidstat.txt"
} >"$work/persec"
echo
echo "MiB per second, per thread, labelled by the second's end (iotop's seconds drift a little"
echo "from the wall-clock ones; buf-w: the others count bytes when dirtied, the microscope when written)"
python3 - "$work/truth.csv" "$work/persec" <<'EOF'
import csv, sys, collections
truth = list(csv.DictReader(open(sys.argv[1])))
data = collections.defaultdict(lambda: collections.defaultdict(int))
secs = set()
for line in open(sys.argv[2]):
    tool, task, sec, b = line.split()
    data[(tool, task)][sec] += int(b)
    secs.add(sec)
secs = sorted(secs)
tools = ("microscope", "iotop", "pidstat")
for r in truth:
    if r["what"] != "total":
        continue
    task = r["task"]
    bursts = [b for b in truth if b["task"] == task and b["what"] == "burst"]
    desc = "%.1f MiB" % (int(r["bytes"]) / 2**20)
    if bursts:
        desc += ", %d bursts of %.1f ms" % (len(bursts),
            sum(int(b["end_ns"]) - int(b["start_ns"]) for b in bursts) / len(bursts) / 1e6)
    print("\n%s (tid %s), truth: %s" % (task, r["tid"], desc))
    print("  %-10s %s %8s" % ("", " ".join(s[3:] for s in secs), "total"))
    for tool in tools:
        d = data[(tool, task)]
        print("  %-10s %s %8.1f" % (tool, " ".join("%5.0f" % (d[s] / 2**20) if d[s] else "    ." for s in secs),
                                    sum(d.values()) / 2**20))
EOF
if [ -n "$tinst" ]; then
    echo
    echo "who submitted the bios on $loopdev (kernel tracepoint block_bio_queue; iogen = set-up):"
    grep -v '^#' "$tinst/trace" | awk '{
        c = $0; sub(/^ +/, "", c); sub(/-[0-9]+ +\[.*/, "", c)
        for (i = 1; i < NF; i++) if ($i == "+") b[c] += $(i + 1) * 512
    } END { for (c in b) printf "  %-20s %10.2f MiB\n", c, b[c] / 1048576 }' | sort -k2 -rn
fi
echo
rc=0
"$mscheck" -l "$work/io.csv" "$work/truth.csv" "$work/rec.csv" || rc=$?

echo
echo "== overhead: fio randread 4k QD32 io_uring O_DIRECT on $loopdev, ${rounds}x5 s each way =="
umount "$work/mnt"
dd if=/dev/urandom of="$loopdev" bs=1M count=256 oflag=direct status=none
fio_iops() {
    timeout -k 5 60 fio --name=ovh --filename="$loopdev" --ioengine=io_uring --rw=randread --bs=4k \
        --direct=1 --iodepth=32 --size=256M --time_based --runtime=5 --output-format=json \
        --output="$work/fio.json" >/dev/null
    python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["jobs"][0]["read"]["iops"]))' "$work/fio.json"
}
# "id name run_time_ns run_cnt" of every loaded microscope program (ours
# are those that appear after we start a recorder).
ms_progs() {
    bpftool -j prog show 2>/dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("name", "").startswith("ms_"):
        print(p["id"], p["name"], p.get("run_time_ns", 0), p.get("run_cnt", 0))' || true
}
# A recorder running while fio runs (not `record -- fio`: attaching must
# not eat into fio's 5 s).  Sets rec_pid and mine (our program ids).
rec_start() {
    local before
    before=$(ms_progs | awk '{print $1}')
    timeout -k 5 120 "$vireo" microscope record -o "$work/ovh.csv" --duration 100 >/dev/null 2>"$work/ovh.err" &
    rec_pid=$!
    loopfs_pids+=("$rec_pid")
    mine=
    for _ in $(seq 100); do
        # Programs appear one by one while the recorder loads: wait for
        # the last one it attaches, not just the first.
        local new
        new=$(ms_progs | awk -v b=" $(echo $before) " 'index(b, " " $1 " ") == 0')
        mine=$(echo "$new" | awk '{print $1}')
        echo "$new" | grep -q ' ms_rq_complete ' && [ "$(echo "$new" | wc -l)" -ge 6 ] && return 0
        kill -0 "$rec_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "microscope.sh: the recorder did not attach within 10 s:" >&2
    cat "$work/ovh.err" >&2
    return 1
}
rec_stop() {
    kill -INT "$rec_pid" # timeout passes it on; the recorder writes its trailer
    wait "$rec_pid"
    loopfs_reaped "$rec_pid"
    # The kernel frees programs a little after their last user is gone;
    # the next round without a recorder must not still run ours.
    for _ in $(seq 50); do
        ms_progs | awk -v m=" $(echo $mine) " 'index(m, " " $1 " ") { f = 1 } END { exit !f }' || break
        sleep 0.1
    done
}
# Another recorder attached at the same time (someone else's run) pays
# the same tracepoints: the numbers would be wrong.  Say so.
others() {
    local n
    n=$(ms_progs | awk -v m=" $(echo ${mine:-}) " '$2 == "ms_rq_complete" && index(m, " " $1 " ") == 0' | wc -l)
    [ "$n" = 0 ] || echo "  WARNING: $n other microscope recorder(s) attached in round $r: not comparable" >&2
}
# hook_start empty|min: hookcost's programs of that kind, attached.
hook_start() {
    "$hookcost" "$1" "$build/bench/microscope/hookcost.bpf.o" >"$work/hook.log" 2>&1 &
    hook_pid=$!
    loopfs_pids+=("$hook_pid")
    for _ in $(seq 100); do
        grep -q attached "$work/hook.log" && return 0
        kill -0 "$hook_pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "microscope.sh: hookcost $1 did not attach:" >&2
    cat "$work/hook.log" >&2
    return 1
}
hook_stop() {
    kill -INT "$hook_pid"
    wait "$hook_pid"
    loopfs_reaped "$hook_pid"
}
declare -A iops=()
configs=(none empty min microscope)
for r in $(seq "$rounds"); do
    # rotate who goes first, so drift hits all alike
    line="  round $r:"
    for k in 0 1 2 3; do
        c=${configs[$(( (k + r) % 4 ))]}
        case $c in
        none) mine=; others; v=$(fio_iops) ;;
        empty|min) hook_start "$c"; v=$(fio_iops); hook_stop ;;
        microscope) rec_start; v=$(fio_iops); others; rec_stop ;;
        esac
        iops[$c]+="$v "
        line+=" $c $v"
    done
    echo "$line IOPS"
done
python3 -c '
import statistics, sys
names = ("none", "empty", "min", "microscope")
runs = {n: [int(x) for x in v.split()] for n, v in zip(names, sys.argv[1:])}
base = statistics.median(runs["none"])
for n in names:
    m = statistics.median(runs[n])
    what = {"none": "nothing attached", "empty": "3 empty programs (the hooks alone)",
            "min": "least accounting (tid + timestamp, one total)", "microscope": "vireo microscope record"}[n]
    print("  median %-10s %8d IOPS  ratio %.3f  loss %5.1f %%   %s" % (n, m, m / base, 100 * (1 - m / base), what))
print("  target for the microscope: loss <= 3 %")' "${iops[none]}" "${iops[empty]}" "${iops[min]}" "${iops[microscope]}"
cp "$work/ovh.csv" "$keep/" 2>/dev/null || true

# The eBPF programs' own run time per I/O (kernel.bpf_stats_enabled; one
# more round, since the statistics themselves cost a little): a figure
# that other work on the host does not move.
echo "eBPF run time (one more 5 s round, kernel.bpf_stats_enabled=1):"
stats_old=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
rec_start
vpid=$(pgrep -P "$rec_pid" -x vireo)
cpu0=$(awk '{print $14 + $15}' "/proc/$vpid/stat")
iops=$(fio_iops)
ms_progs | awk -v m=" $(echo $mine) " 'index(m, " " $1 " ")' >"$work/stats"
cpu1=$(awk '{print $14 + $15}' "/proc/$vpid/stat")
rec_stop
sysctl -qw kernel.bpf_stats_enabled="$stats_old"
stats_old=''
awk -v iops="$iops" -v cpus="$(nproc)" '
    { ns[$2] += $3; cnt[$2] += $4; if ($2 == "ms_rq_complete") ios += $4 }
    END {
        for (p in ns) if (cnt[p]) { printf "  %-16s %10d calls %6.0f ns/call\n", p, cnt[p], ns[p] / cnt[p]; tot += ns[p] }
        if (ios) printf "  total %.0f ns per I/O: at %d IOPS, %.2f of the host'\''s %d CPUs\n",
            tot / ios, iops, tot / ios * iops / 1e9, cpus
    }' "$work/stats"
echo "  the recorder process itself (draining the maps, writing the file): $(( (cpu1 - cpu0) * 1000 / $(getconf CLK_TCK) )) ms of CPU in the 5 s"
# The floor under the same statistics (they add two clock reads per call
# to every figure here, the empty programs' time is about that).
stats_old=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
for c in empty min; do
    hook_start "$c"
    fio_iops >/dev/null
    bpftool -j prog show | python3 -c '
import json, sys
kind = sys.argv[1] + "_"
tot = ios = 0
for p in json.load(sys.stdin):
    n = p.get("name", "")
    if n.startswith(kind) and p.get("run_cnt"):
        print("  %-16s %10d calls %6.0f ns/call" % (n, p["run_cnt"], p["run_time_ns"] / p["run_cnt"]))
        tot += p["run_time_ns"]
        ios = max(ios, p["run_cnt"])
if ios:
    print("  %s: total %.0f ns per I/O" % (sys.argv[1], tot / ios))' "$c"
    hook_stop
    [ "$c" = min ] && sed 's/^/  min: /' "$work/hook.log" | grep counted || true
done
sysctl -qw kernel.bpf_stats_enabled="$stats_old"
stats_old=''

exit "$rc"
