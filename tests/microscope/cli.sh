#!/usr/bin/env bash
# cli.sh BUILD_DIR: the microscope's errors and the live view, on this
# machine.  Without privileges it must say why and create nothing; a broken
# recording is refused with file:line; the live view shows a task that
# reads while it runs.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
vireo=$(cd "$1" && pwd)/vireo
work=$(mktemp -d)
trap 'reader_stop 2>/dev/null; rm -rf "$work"' EXIT
failed=0
check() { # NAME COMMAND... : runs a check, prints ok/not ok
    local name=$1
    shift
    if "$@"; then echo "ok - $name"; else echo "not ok - $name"; failed=1; fi
}

unprivileged() {
    local out rc=0
    chmod 777 "$work"
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups -- \
        timeout 10 "$vireo" microscope record -o "$work/r.csv" 2>&1) || rc=$?
    [ "$rc" = 1 ] && [ ! -e "$work/r.csv" ] &&
        [ "$out" = "vireo: microscope: needs root (it loads eBPF programs: CAP_BPF and CAP_PERFMON)" ]
}

bad_recording() {
    printf '# vireo-microscope 1\n# bucket_ns=1000000 start_ns=0\nt_ns,oops\n' >"$work/bad.csv"
    local out rc=0
    out=$("$vireo" microscope report "$work/bad.csv" 2>&1) || rc=$?
    [ "$rc" = 1 ] && [[ "$out" == "vireo: microscope report: $work/bad.csv:3: expected the column line"* ]]
}

bad_option() {
    local out rc=0
    out=$("$vireo" microscope record -o "$work/x.csv" --interval 5us 2>&1) || rc=$?
    [ "$rc" = 2 ] && [ ! -e "$work/x.csv" ] &&
        [[ "$out" == "vireo: microscope: --interval '5us': expected a duration"* ]]
}

# A loop device over a file in $work, and a reader on it until stopped:
# loop_reader [NAME] starts it (NAME: the name the reading task gives
# itself, any bytes), reader_stop ends both.
loop='' reader=''
loop_reader() {
    truncate -s 64M "$work/disk.img"
    loop=$(losetup --find --show --direct-io=on "$work/disk.img") || return 1
    if [ $# = 0 ]; then
        (end=$((SECONDS + 60)); while [ $SECONDS -lt $end ]; do
            dd if="$loop" of=/dev/null bs=4k iflag=direct status=none 2>/dev/null; done) &
    else
        python3 -c '
import mmap, os, sys, time
open("/proc/self/comm", "wb").write(os.fsencode(sys.argv[2]))
fd, buf = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT), mmap.mmap(-1, 4096)
end = time.monotonic() + 30
while time.monotonic() < end:
    for off in range(0, 64 << 20, 4096):
        os.preadv(fd, [buf], off)
        time.sleep(0.0005)' "$loop" "$1" &
    fi
    reader=$!
}
reader_stop() {
    [ -z "$reader" ] || { kill "$reader" 2>/dev/null || true; wait "$reader" 2>/dev/null || true; }
    [ -z "$loop" ] || losetup -d "$loop"
    loop='' reader=''
}

# A reader busy for the whole 2.5 s run; the live view (not a terminal:
# one block per refresh) must list it with reads on its loop device, and
# say when it began measuring.
live_view() {
    loop_reader || return 1
    local out dev
    dev=$(basename "$loop")
    out=$(timeout 20 "$vireo" microscope --duration 2500ms --refresh 1s 2>&1)
    reader_stop
    # Here-strings and sed's own line limit, not `echo | head` or `| grep -q`:
    # under pipefail a writer cut short by SIGPIPE fails the pipeline (a
    # fresh-clone run died of exactly that, status 141).
    sed -n '1,12s/^/  | /p' <<<"$out"
    [ "$(grep -c '^vireo microscope  measuring since [0-9:]* (' <<<"$out")" -ge 2 ] &&
        grep -qE '^vireo: microscope: measuring since [0-9:]+ \(loading the eBPF programs took' <<<"$out" &&
        grep -qE "^ +[0-9]+ +[0-9]+ dd +$dev +own +[0-9.]+[KMG]" <<<"$out"
}

# Any user names its tasks (prctl, /proc/self/comm): escape sequences
# must not reach root's terminal, nor bytes that are not UTF-8 a recording.
hostile_name() {
    loop_reader $'\e]0;pwned\a\e[2J\xff' || return 1
    sleep 0.5
    local out rc=0
    out=$(timeout 20 "$vireo" microscope --duration 1500ms --refresh 1s 2>&1) || rc=$?
    timeout 20 "$vireo" microscope record -o "$work/evil.jsonl" --duration 1500ms 2>/dev/null || rc=$?
    reader_stop
    [ "$rc" = 0 ] || return 1
    if grep -q $'\e' <<<"$out"; then echo "  the live view printed an escape character"; return 1; fi
    grep -qF '\x1b]0;pwned\x07\x1b[2J\xff' <<<"$out" || { echo "  escaped name not in the live view"; return 1; }
    python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
sys.exit(not any(r.get("comm") == "\\x1b]0;pwned\\x07\\x1b[2J\\xff" for r in rows))' "$work/evil.jsonl" ||
        { echo "  the JSON lines recording is not valid UTF-8 JSON, or lacks the escaped name"; return 1; }
    "$vireo" microscope report "$work/evil.jsonl" --json | python3 -m json.tool >/dev/null
}

# A recorder killed with SIGKILL stops in the middle of a line: the
# recording is still reported, as cut short.
killed_recorder() {
    loop_reader || return 1
    local try pid rc=0 out err
    for try in 1 2 3; do
        "$vireo" microscope record -o "$work/k.csv" 2>"$work/k.rec" &
        pid=$!
        for _ in $(seq 300); do grep -q 'measuring since' "$work/k.rec" && break; sleep 0.1; done
        sleep 2
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null || true
        [ "$(tail -c 1 "$work/k.csv" | od -An -tx1 | tr -d ' ')" != 0a ] && break
    done
    reader_stop
    out=$("$vireo" microscope report "$work/k.csv" 2>"$work/k.err") || rc=$?
    err=$(cat "$work/k.err")
    echo "  | $err"
    [ "$rc" = 0 ] && [[ "$err" == *"was cut short (no end record; its unfinished last line was dropped)"* ]] &&
        grep -q '^lost events: unknown (the recording has no end record: it was cut short; its unfinished' <<<"$out"
}

# Measuring starts once the programs are attached: the recording's time
# is the command's, and record, report and the plot give one duration.
durations() {
    local err rc=0 a b c
    err=$(timeout 60 "$vireo" microscope record -o "$work/d.csv" -- sleep 2 2>&1) || rc=$?
    [ "$rc" = 0 ] || return 1
    a=$(sed -n 's/.* rows over \([0-9.]*\) s to .*/\1/p' <<<"$err")
    b=$("$vireo" microscope report "$work/d.csv" --svg "$work/d.svg" | sed -n 's/^recording: host .*, \([0-9.]*\) s, buckets.*/\1/p')
    c=$(sed -n 's/.*, \([0-9.]*\) s recorded.*/\1/p' "$work/d.svg")
    echo "  | record: $a s, report: $b s, plot: $c s (the command: sleep 2)"
    [ -n "$a" ] && [ "$a" = "$b" ] && [ "$b" = "$c" ] &&
        python3 -c 'import sys; sys.exit(not 2.0 <= float(sys.argv[1]) < 2.5)' "$a"
}

check "unprivileged record fails with the reason and creates nothing" unprivileged
check "a broken recording is refused with file:line" bad_recording
check "a bad option is refused before anything starts" bad_option
check "the live view lists a reading task and says when it began measuring" live_view
check "a task's hostile name is escaped in the live view and the recording" hostile_name
check "a recorder killed mid-line leaves a recording that is reported as cut short" killed_recorder
check "measuring starts at attach: record, report and plot agree on the duration" durations
exit $failed
