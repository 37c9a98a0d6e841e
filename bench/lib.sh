# Sourced by the bench scripts that take BUILD_DIR [SECONDS] [ROUNDS].
# bench_args DEFAULT_SECONDS DEFAULT_ROUNDS "$@": sets build, secs and
# rounds, or exits 2 with the usage.
bench_args() {
    local dsecs=$1 drounds=$2 name
    name=$(basename "$0" .sh)
    shift 2
    [ $# -ge 1 ] && [ $# -le 3 ] || { echo "usage: $0 BUILD_DIR [SECONDS] [ROUNDS]" >&2; exit 2; }
    build=$(cd "$1" && pwd)
    secs=${2:-$dsecs}
    rounds=${3:-$drounds}
    [[ $secs =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ ]] ||
        { echo "$name: SECONDS and ROUNDS must be positive integers" >&2; exit 2; }
}

# vu_wait_sock SOCK LOG: waits up to 5 s for a vhost-user server's socket;
# else prints what the server said and fails.
vu_wait_sock() {
    for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done
    echo "$(basename "$0" .sh): no socket $1; the server said:" >&2
    cat "$2" >&2
    return 1
}

# vu_load_run LOAD SOCK PID SECONDS ARGS...: drives the server PID
# listening on SOCK with bench/vu-load for SECONDS, stops the server and
# prints "iops p50_us p99_us".  A run with I/O errors fails.
vu_load_run() {
    local load=$1 sock=$2 pid=$3 s=$4 out
    shift 4
    out=$(timeout $((s + 30)) "$load" --socket "$sock" --seconds "$s" "$@")
    kill "$pid"
    # qemu-storage-daemon has been seen to ignore SIGTERM for good here.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    grep -q ' errors=0' <<<"$out" || { echo "$(basename "$0" .sh): $*: $out" >&2; return 1; }
    sed -E 's/iops=([0-9.]+) p50_us=([0-9.]+) p99_us=([0-9.]+).*/\1 \2 \3/' <<<"$out"
}

# bench_time_to_marker MARKER LIMIT SCRATCH CMD...: starts CMD and prints
# the milliseconds from its start until a line of its output holds MARKER,
# or "fail" after LIMIT seconds or when CMD ends first (then the end of its
# output goes to stderr); CMD is killed either way.  Output is read
# through a FIFO, not a coproc (bash closes a coproc's pipe as soon as the
# process exits, losing what was not read yet), and bash's read on a pipe
# takes single bytes, so the line is seen the moment its newline comes.
bench_time_to_marker() {
    local marker=$1 limit=$2 fifo=$3/marker.fifo log=$3/marker.log t0 line left found= pid fd
    shift 3
    rm -f "$fifo"; mkfifo "$fifo"
    : >"$log"
    t0=${EPOCHREALTIME/./}
    "$@" </dev/null >"$fifo" 2>&1 &
    pid=$!
    exec {fd}<"$fifo"
    while :; do
        left=$(( limit * 1000000 - (${EPOCHREALTIME/./} - t0) ))
        [ $left -gt 0 ] || break
        printf -v left '%d.%06d' $((left / 1000000)) $((left % 1000000))
        IFS= read -r -t "$left" line <&"$fd" || break
        printf '%s\n' "$line" >>"$log"
        if [[ $line == *"$marker"* ]]; then
            found=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
            break
        fi
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    exec {fd}<&-
    rm -f "$fifo"
    if [ -z "$found" ]; then
        echo "$(basename "$0" .sh): $1 gave no '$marker' within $limit s; its output ends with:" >&2
        tail -n 5 "$log" | tr -d '\r' | sed 's/^/  > /' >&2
    fi
    echo "${found:-fail}"
}

# bench_median "N N ...": the median of the numbers, ignoring "fail"; n/a
# when there are none.
bench_median() {
    tr ' ' '\n' <<<"$1" | grep -E '^[0-9.]+$' | sort -g |
        awk '{ a[++n] = $1 } END { if (!n) print "n/a"; else if (n % 2) print a[(n + 1) / 2];
                                   else print (a[n / 2] + a[n / 2 + 1]) / 2 }'
}

# bench_ratios "X1 X2 ..." "Y1 Y2 ...": the per-round ratios Xi/Yi of the
# rounds where both succeeded.
bench_ratios() {
    awk -v x="$1" -v y="$2" 'BEGIN { n = split(x, a, " "); split(y, b, " ")
        for (i = 1; i <= n; i++) if (a[i] ~ /^[0-9.]+$/ && b[i] ~ /^[0-9.]+$/ && b[i] > 0) printf "%s ", a[i] / b[i] }'
}
