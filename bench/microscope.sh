#!/usr/bin/env bash
# microscope.sh BUILD_DIR [SECONDS] [ROUNDS]: `vireo microscope` against
# ground truth and against the usual tools, then its cost.
#  1. iogen (bench/microscope/iogen.c: bursts, steady streams, buffered
#     writes that leave through writeback, an idle thread) runs SECONDS
#     under `vireo microscope record` on a scratch ext4 on a loop device,
#     while iotop and pidstat watch; per thread, what each saw is printed
#     side by side, the kernel's block_bio_queue tracepoint says who really
#     submitted the bios, and mscheck grades the recording.
#  2. its cost: fio 4 KiB random reads (io_uring, QD32, O_DIRECT), SECONDS
#     each, in ROUNDS rotated rounds, on the loop device (memory: fio and
#     the probes share the CPUs) and on a file on the build directory's
#     disk (the device is the limit), with nothing attached, the floor
#     (bench/microscope/hookcost: empty programs, the least accounting,
#     and a per-request ring-buffer stream), vireo microscope record, and
#     its peers: bpftrace equivalents of biotop and biosnoop
#     (bench/microscope/*.bt); medians of per-round ratios, their range,
#     eBPF time and tool CPU time per I/O; then the issue's targets.
# Needs root.  Results are also kept in BUILD_DIR/microscope-bench/.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_args 10 3 "$@"
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "microscope.sh: needs root (eBPF, losetup, mount)" >&2; exit 1; }
for t in iotop pidstat fio losetup mkfs.ext4 python3 bpftool bpftrace; do
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
tinst='' stats_old='' tracefs_mounted='' fio_made=''
cleanup() {
    loopfs_cleanup
    [ -z "$fio_made" ] || rm -f "$fio_made"
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
# ---------------------------------------------------------------------------
# The cost, side by side with the floor and the peers.  Configurations:
#   none        nothing attached
#   empty       hookcost empty: three programs that return at once (the hooks)
#   min         hookcost min: the least accounting that charges a task (the
#               floor the targets are stated against)
#   stream      hookcost stream: the other design, a record per issue and per
#               completion through a ring buffer, aggregated in user space
#               (in-service counts, shares, rows per bucket), no file written
#   microscope  vireo microscope record
#   biotop      bpftrace bench/microscope/biotop.bt (requests, bytes per thread)
#   biosnoop    bpftrace bench/microscope/biosnoop.bt (one line per request)
# Each round runs fio once per configuration, in an order rotated from round
# to round, each run paired with one with nothing attached right before or
# after it; a configuration's figure is the median over rounds of its IOPS
# divided by its pair's (a noisy, shared host moves throughput within
# minutes), shown with the smallest and largest of those ratios.  Then one
# more pass with kernel.bpf_stats_enabled: each configuration's eBPF run
# time per I/O (fio's I/O count), and the CPU time its user-space process
# used per I/O.
echo
umount "$work/mnt"
dd if=/dev/urandom of="$loopdev" bs=1M count=256 oflag=direct status=none
configs=(none empty min stream microscope biotop biosnoop)
# fio_run FILE SIZE: 4 KiB random reads, QD32, io_uring, O_DIRECT, SECS s;
# prints "IOPS IOS" (IOPS, and I/Os done)
fio_run() {
    timeout -k 5 $((secs + 60)) fio --name=ovh --filename="$1" --ioengine=io_uring --rw=randread --bs=4k \
        --direct=1 --iodepth=32 --size="$2" --time_based --runtime="$secs" --output-format=json \
        --output="$work/fio.json" >/dev/null
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["jobs"][0]["read"]; print(int(r["iops"]), r["total_ios"])' \
        "$work/fio.json"
}
# "id run_time_ns run_cnt" of every loaded eBPF program (the statistics
# are there only while kernel.bpf_stats_enabled is on)
progs() {
    bpftool prog show 2>/dev/null | awk '/^[0-9]+:/ {
        t = c = 0
        for (i = 2; i < NF; i++) { if ($i == "run_time_ns") t = $(i + 1); if ($i == "run_cnt") c = $(i + 1) }
        print substr($1, 1, length($1) - 1), t, c }'
}
# cfg_start CONFIG: attaches it and waits until its programs run; sets
# cfg_pid (the process to stop, whose CPU time is the tool's user space)
# and cfg_new (ids of the programs it loaded).
cfg_start() {
    local c=$1 before n want=1 log=$work/cfg.log
    before=" $(progs | awk '{print $1}' | tr '\n' ' ') "
    cfg_pid='' cfg_new=''
    : >"$log"
    rm -f "$work/$c.out"
    case $c in
    none) return 0 ;;
    empty|min|stream)
        "$hookcost" "$c" "$build/bench/microscope/hookcost.bpf.o" >"$log" 2>&1 &
        want=2 ;;
    microscope)
        timeout -k 5 600 "$vireo" microscope record -o "$work/ovh.csv" --duration 500 >/dev/null 2>"$log" &
        want=3 ;;
    biotop|biosnoop)
        timeout -k 5 600 bpftrace -o "$work/$c.out" "$here/microscope/$c.bt" >"$log" 2>&1 &
        want=2 ;;
    esac
    cfg_pid=$!
    loopfs_pids+=("$cfg_pid")
    for _ in $(seq 600); do
        case $c in
        empty|min|stream) grep -q attached "$log" && break ;;
        microscope) grep -q 'measuring since' "$log" && break ;;
        *) n=$(progs | awk -v b="$before" 'index(b, " " $1 " ") == 0' | wc -l)
           # with -o, bpftrace says "Attaching N probes..." in its output file
           [ "$n" -ge "$want" ] && grep -q Attaching "$work/$c.out" 2>/dev/null && { sleep 0.5; break; } ;;
        esac
        kill -0 "$cfg_pid" 2>/dev/null || { echo "microscope.sh: $c did not start:" >&2; cat "$log" >&2; return 1; }
        sleep 0.1
    done
    cfg_new=$(progs | awk -v b="$before" 'index(b, " " $1 " ") == 0 { print $1 }' | tr '\n' ' ')
    [ -n "$cfg_new" ] || { echo "microscope.sh: $c attached no programs:" >&2; cat "$log" >&2; return 1; }
}
cfg_stop() {
    [ -n "$cfg_pid" ] || return 0
    kill -INT "$cfg_pid" 2>/dev/null || true
    wait "$cfg_pid" 2>/dev/null || true
    loopfs_reaped "$cfg_pid"
    # the kernel frees programs a little after their last user has gone:
    # the next configuration must not still pay for these
    local ids=" $cfg_new " _
    for _ in $(seq 50); do
        progs | awk -v m="$ids" 'index(m, " " $1 " ") { f = 1 } END { exit !f }' || break
        sleep 0.1
    done
    cfg_pid=''
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# the tool's process whose CPU time counts: the recorder is vireo under timeout
tool_pid() {
    local p
    p=$(pgrep -P "$cfg_pid" | head -1)
    echo "${p:-$cfg_pid}"
}

# overhead NAME FILE SIZE: the rotated rounds, then the statistics pass.
# A busy shared host moves throughput by a factor of two within minutes,
# and attaching a tool takes seconds: so each configuration's run is paired
# with a run with nothing attached right next to it (before it in one
# round, after it in the next), and its ratio is taken within the pair.
overhead() {
    local name=$1 file=$2 size=$3 r k c v w line
    local cfgs=("${configs[@]:1}")
    declare -gA ratio=() iops=() nsio=() usio=()
    echo "== $name: fio 4 KiB random reads, QD32, io_uring, O_DIRECT on $file, ${rounds} rounds of ${secs} s each =="
    echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    for c in "${configs[@]}"; do ratio[$c]='' iops[$c]=''; done
    for r in $(seq "$rounds"); do
        line="  round $r:"
        for k in $(seq 0 $((${#cfgs[@]} - 1))); do
            c=${cfgs[$(( (k + r) % ${#cfgs[@]} ))]}
            if (( (r + k) % 2 )); then
                w=$(fio_run "$file" "$size")
                cfg_start "$c"
                v=$(fio_run "$file" "$size")
                cfg_stop
            else
                cfg_start "$c"
                v=$(fio_run "$file" "$size")
                cfg_stop
                w=$(fio_run "$file" "$size")
            fi
            iops[$c]+="${v% *} "
            iops[none]+="${w% *} "
            ratio[$c]+="$(python3 -c "print(${v% *} / ${w% *})") "
            ratio[none]+="1 "
            line+=" $c ${v% *}/${w% *}"
        done
        echo "$line"
    done
    echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    # one more pass, under kernel.bpf_stats_enabled (which costs a little itself)
    stats_old=$(sysctl -n kernel.bpf_stats_enabled)
    sysctl -qw kernel.bpf_stats_enabled=1
    for c in "${configs[@]}"; do
        [ "$c" = none ] && continue
        cfg_start "$c"
        local t0 t1 tp
        tp=$(tool_pid)
        t0=$(cpu_ticks "$tp")
        v=$(fio_run "$file" "$size")
        t1=$(cpu_ticks "$tp")
        nsio[$c]=$(progs | awk -v m=" $cfg_new " -v ios="${v#* }" 'index(m, " " $1 " ") { t += $2 } END { printf "%.0f", t / ios }')
        usio[$c]=$(python3 -c "print(round(($t1 - $t0) * 1e9 / $(getconf CLK_TCK) / ${v#* }))")
        cfg_stop
        if [ "$c" = stream ]; then grep counted "$work/cfg.log" | sed 's/^/   stream: /' || true; fi
    done
    sysctl -qw kernel.bpf_stats_enabled="$stats_old"
    stats_old=''
    python3 - "$name" "${configs[*]}" <<EOF
import statistics, sys
name, configs = sys.argv[1], sys.argv[2].split()
ratio = {$(for c in "${configs[@]}"; do printf '"%s": [%s], ' "$c" "$(echo ${ratio[$c]} | tr ' ' ',')"; done)}
iops = {$(for c in "${configs[@]}"; do printf '"%s": [%s], ' "$c" "$(echo ${iops[$c]} | tr ' ' ',')"; done)}
nsio = {$(for c in "${configs[@]}"; do [ -n "${nsio[$c]:-}" ] && printf '"%s": %s, ' "$c" "${nsio[$c]}"; done)}
usio = {$(for c in "${configs[@]}"; do [ -n "${usio[$c]:-}" ] && printf '"%s": %s, ' "$c" "${usio[$c]}"; done)}
print("  %-11s %9s %7s %15s %10s %12s" % ("", "IOPS", "loss", "ratio range", "eBPF/IO", "process/IO"))
for c in configs:
    m = statistics.median(ratio[c])
    print("  %-11s %9d %6.1f%% %7.3f-%-7.3f %8s %12s" % (c, statistics.median(iops[c]), 100 * (1 - m), min(ratio[c]),
          max(ratio[c]), "%d ns" % nsio[c] if c in nsio else "-", "%d ns" % usio[c] if c in usio else "-"))
n = iops["none"]
print("  noise: nothing attached, %d to %d IOPS over the runs (%.0f %% spread); ratios are taken within" % (min(n),
      max(n), 100 * (max(n) - min(n)) / statistics.median(n)))
print("  pairs of neighbouring runs (with/without, IOPS above as tool/none per round)")
loss = {c: 1 - statistics.median(ratio[c]) for c in configs}
sys.stdout.flush()
open("$work/loss-" + name.split()[0], "w").write("%f %f %s %s %f %f %f\n" % (loss["microscope"], loss["min"],
    nsio.get("microscope", 0), nsio.get("min", 0), (max(n) - min(n)) / statistics.median(n),
    min(ratio["microscope"]), max(ratio["microscope"])))
EOF
}

dd if=/dev/urandom of="$loopdev" bs=1M count=256 oflag=direct status=none
overhead "memory (CPU-bound: a loop device on tmpfs)" "$loopdev" 256M
echo
# A file on the build directory's file system: the device is the limit.
fiofile=$build/microscope-bench/fio-file
fio_made=$fiofile
dd if=/dev/urandom of="$fiofile" bs=1M count=1024 status=none conv=fsync
overhead "disk (device-bound: a file on $(df --output=source "$build" | tail -1))" "$fiofile" 1G
rm -f "$fiofile"
fio_made=''

echo
echo "targets (issue 15 section 5):"
read -r lm lmin nm nmin sm rml rmh <"$work/loss-memory"
read -r ld _ _ _ sd rdl rdh <"$work/loss-disk"
python3 - "$lm" "$lmin" "$nm" "$nmin" "$sm" "$rml" "$rmh" "$ld" "$sd" "$rdl" "$rdh" <<'EOF'
import sys
lm, lmin, nm, nmin, sm, rml, rmh, ld, sd, rdl, rdh = map(float, sys.argv[1:])
def verdict(ok): return "met" if ok else "NOT met"
def noisy(spread, lo, hi):
    # a loss of a few per cent cannot be told apart when runs differ by more than 20 %
    if spread > 0.2:
        return ("; but the runs with nothing attached spread %.0f %% and the microscope's ratios ranged"
                " %.2f-%.2f: too noisy to decide" % (100 * spread, lo, hi))
    return ""
print("  fio loss <= 2x the floor's (memory): microscope %.1f %%, min %.1f %% -> %s%s" % (100 * lm, 100 * lmin,
      verdict(lm <= 2 * max(lmin, 0)), noisy(sm, rml, rmh)))
print("  eBPF time per I/O <= 2x the floor's: microscope %.0f ns, min %.0f ns (%.2fx) -> %s" % (nm, nmin,
      nm / nmin if nmin else 0, verdict(nmin and nm <= 2 * nmin)))
print("  throughput loss <= 3 %% on the device-bound workload: %.1f %% -> %s%s" % (100 * ld, verdict(ld <= 0.03),
      noisy(sd, rdl, rdh)))
EOF
cp "$work/ovh.csv" "$keep/" 2>/dev/null || true
exit "$rc"
