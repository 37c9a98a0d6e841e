#!/usr/bin/env bash
# report.sh VIREO: `vireo microscope report` on what a user may hand it
# (no root, no eBPF: recordings written here).  Whatever the input, it ends
# at once with a bounded amount of memory and a precise reason; a recording
# cut mid-line is still reported; names anyone can choose never reach the
# terminal, the SVG or the JSON as anything but printable, valid text.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 VIREO" >&2; exit 2; }
vireo=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d)
fifo_pid=''
cleanup() {
    [ -z "$fifo_pid" ] || { kill "$fifo_pid" 2>/dev/null || true; wait "$fifo_pid" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT
failed=0
check() { # NAME COMMAND... : runs a check, prints ok/not ok
    local name=$1
    shift
    if "$@"; then echo "ok - $name"; else echo "not ok - $name"; failed=1; fi
}
# A runaway reader must not take the shared machine's memory with it.
# Not `ldd | grep -q`: under pipefail, grep's early exit can kill ldd
# with SIGPIPE and make the test think the build is not sanitized.
libs=$(ldd "$vireo" 2>/dev/null || true)
if [[ $libs == *libasan* ]]; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}hard_rss_limit_mb=1024
    limit() { "$@"; }
else
    limit() { (ulimit -v 1048576 && "$@"); }
fi

# report FILE [ARGS...]: runs it for at most 10 s; sets out, err, rc and
# rss (peak resident KiB).
report() {
    rc=0
    limit /usr/bin/time -f '%M' -o "$work/rss" timeout 10 "$vireo" microscope report "$@" \
        >"$work/out" 2>"$work/err" || rc=$?
    out=$(cat "$work/out")
    err=$(cat "$work/err")
    rss=$(tail -1 "$work/rss" 2>/dev/null || echo 0)
    [[ "$rss" =~ ^[0-9]+$ ]] || rss=0
}

# Bounded: an error within the time limit, little memory, the reason.
refused() { # FILE WANT
    report "$1"
    [ "$rc" = 1 ] && [ "$rss" -lt 204800 ] && [ "$err" = "vireo: microscope report: $2" ] ||
        { echo "  rc=$rc rss=${rss}KiB stderr: $err" | head -c 400; echo; return 1; }
}

directory() {
    refused "$work" "$work: is a directory, not a recording (a file \`vireo microscope record -o\` wrote)"
}
dev_zero() {
    refused /dev/zero "/dev/zero: is a character device, not a recording (a file \`vireo microscope record -o\` wrote)"
}
# Only the header, and a writer that keeps the FIFO open: nothing ever ends it.
fifo() {
    mkfifo "$work/fifo"
    sleep 60 <>"$work/fifo" &
    fifo_pid=$!
    printf '# vireo-microscope 1\n' >"$work/fifo"
    refused "$work/fifo" "$work/fifo: is a FIFO, not a recording (a file \`vireo microscope record -o\` wrote)"
}
# 1 GiB of zeros in a regular file: refused from its first bytes.
zeros() {
    truncate -s 1G "$work/zeros"
    refused "$work/zeros" "$work/zeros:1: unexpected NUL byte: not a microscope recording"
}
long_line() {
    head -c 50000000 /dev/zero | tr '\0' a >"$work/long"
    refused "$work/long" "$work/long:1: line longer than 8192 bytes: not a microscope recording"
}

cols=t_ns,bucket_ns,tid,pid,comm,cgroup,dev,devname,kind,rd_bytes,wr_bytes,rd_ops,wr_ops,other_ops,queue_ns,service_ns,share_ns,inflight_ns,lat_us_log2
header() { printf '# vireo-microscope 1\n# bucket_ns=1000000 start_ns=1000000000 start_realtime_ns=0 host=h\n%s\n' "$cols"; }
trailer() {
    printf '# end end_ns=1010000000 missed=0'
    for c in agg_map_full bio_table_full rq_table_full bio_unknown rq_unknown owner_overflow dirty_folios \
        wb_folios_attributed wb_folios_unattributed split_truncated state_table_full completions_unseen issues_unseen; do
        printf ' %s=0' "$c"
    done
    echo
}
row() { # BUCKET TID PID COMM DEV KIND RD WR OPS SHARE
    printf '%s,1000000,%s,%s,"%s",1,7:0,"%s",%s,%s,%s,%s,0,0,10000,50000,%s,%s,0;%s\n' \
        $((1000000000 + $1 * 1000000)) "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10}" "${10}" "$9"
}

# SIGKILL stops a recording anywhere, in the middle of a line too.
cut_mid_line() {
    { header; row 1 100 100 reader loop0 own 4096 0 1 500000; row 2 100 100 reader loop0 own 8192 0 2 900000; } \
        >"$work/cut.csv"
    truncate -s -9 "$work/cut.csv"
    report "$work/cut.csv"
    [ "$rc" = 0 ] &&
        [ "$err" = "vireo: microscope report: warning: $work/cut.csv was cut short (no end record; its unfinished last line was dropped): its lost events are unknown and it ends with its last complete bucket" ] &&
        grep -q '^lost events: unknown (the recording has no end record: it was cut short; its unfinished last line was dropped)$' <<<"$out" &&
        grep -qE '^  100 +100 +reader +loop0 +own +4.0 KiB ' <<<"$out" ||
        { echo "  rc=$rc stderr: $err"; sed -n '1,5s/^/  | /p' <<<"$out"; return 1; }
}

# Text: printable only (no byte below 0x20 but newlines, nothing a
# terminal acts on) and valid UTF-8; JSON valid for a strict parser;
# the SVG valid XML.
printable_utf8() { # FILE
    python3 - "$1" <<'EOF'
import sys, unicodedata
b = open(sys.argv[1], "rb").read()
bad = [c for c in b if c < 0x20 and c not in (0x0a,)]
s = b.decode("utf-8")  # raises on invalid UTF-8
fmt = [c for c in s if unicodedata.category(c) in ("Cc", "Cf") and c != "\n"]
sys.exit(1 if bad or fmt else 0)
EOF
}
hostile_names() {
    local evil=$'\e]0;pwned\a\e[2J\xff\xfe\xe2\x80\xae'
    { header; row 1 100 100 "$evil" loop0 own 4096 0 1 500000; row 1 200 200 $'caf\xc3\xa9' $'l\e[31m' own 0 8192 1 400000
      row 1 0 0 '[device]' loop0 device 4096 8192 2 900000; trailer; } >"$work/evil.csv"
    report "$work/evil.csv" --svg "$work/evil.svg"
    [ "$rc" = 0 ] || { echo "  rc=$rc $err"; return 1; }
    printable_utf8 "$work/out" || { echo "  text report: control bytes or not UTF-8"; return 1; }
    printable_utf8 "$work/err" || { echo "  stderr: control bytes"; return 1; }
    grep -q '\\x1b]0;pwned\\x07\\x1b\[2J\\xff\\xfe\\xe2\\x80\\xae' <<<"$out" || { echo "  name not escaped as expected"; return 1; }
    grep -q 'café' <<<"$out" || { echo "  a UTF-8 name was mangled"; return 1; }
    xmllint --noout "$work/evil.svg" || { echo "  the SVG is not valid XML"; return 1; }
    printable_utf8 "$work/evil.svg" || { echo "  SVG: control bytes"; return 1; }
    report "$work/evil.csv" --json
    [ "$rc" = 0 ] && python3 -m json.tool "$work/out" >/dev/null || { echo "  JSON rejected"; return 1; }
    python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["tasks"]; sys.exit(not any(x["comm"] == "café" for x in t))' "$work/out" ||
        { echo "  JSON: UTF-8 name mangled"; return 1; }
}

# The plot explains itself and draws no empty rows: a task with flushes
# only gets no strip, and is counted.
svg_rows() {
    { header; row 1 100 100 big loop0 own 314572800 0 300 900000; row 2 101 101 small loop0 own 4096 0 1 1000
      printf '%s,1000000,102,102,"flusher",1,7:0,"loop0",own,0,0,0,0,5,0,50000,50000,50000,0;5\n' 1003000000
      row 1 0 0 '[device]' loop0 device 314576896 0 301 1000000; trailer; } >"$work/svg.csv"
    report "$work/svg.csv" --svg "$work/p.svg"
    [ "$rc" = 0 ] && xmllint --noout "$work/p.svg" || return 1
    local strips
    strips=$(grep -c "fill='#f4f4f4'" "$work/p.svg")
    [ "$strips" = 3 ] || { echo "  $strips strips, expected 3 (the device, big, small)"; return 1; }
    grep -q 'LOG scale shared by all task rows' "$work/p.svg" &&
        grep -q 'Device rows: busy' "$work/p.svg" &&
        grep -q 'I/O-intensive</tspan>: the task used at least 20 %' "$work/p.svg" &&
        grep -q 'time since the recording started' "$work/p.svg" &&
        grep -q '1 task rows with requests but no bytes (flushes only) not drawn' "$work/p.svg" ||
        { echo "  legend, axis or footnote missing"; return 1; }
}

# --by vm needs nothing but the recording: its "vm" records say which
# process was which VM.
by_vm() {
    { header; printf '# vm t_ns=1000500000 pid=300 name=web\n'
      row 1 300 300 vireo loop0 own 4096 0 1 100000; row 1 301 300 vireo-io0 loop0 own 8192 0 2 200000
      row 2 302 300 vcpu0 loop0 own 0 4096 1 100000; row 2 400 400 dd loop0 own 512 0 1 10000
      row 1 0 0 '[device]' loop0 device 12800 4096 5 400000; trailer; } >"$work/vm.csv"
    report "$work/vm.csv" --by vm --svg "$work/vm.svg"
    [ "$rc" = 0 ] && grep -qE '^  - +300 +VM web +loop0 +own +12.0 KiB +4.0 KiB +4 .*\(3 thread rows\)$' <<<"$out" &&
        grep -qE '^  400 +400 +dd ' <<<"$out" && grep -q 'VM web (pid 300, 3 thread rows)' "$work/vm.svg" ||
        { sed -n '1,20s/^/  | /p' <<<"$out"; return 1; }
    report "$work/vm.csv" --by vm --json
    python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))["tasks"]
vm = [x for x in t if x.get("vm") == "web"]
sys.exit(not (len(vm) == 1 and vm[0]["rd_bytes"] == 12288 and vm[0]["threads"] == 3 and "guest_latency" in vm[0]))' "$work/out"
}

check "a directory is refused by name" directory
check "/dev/zero is refused at once, in bounded memory" dev_zero
check "a FIFO that never ends is refused, not waited on" fifo
check "1 GiB of zeros is refused from its first bytes" zeros
check "an endless line is refused at 8 KiB" long_line
check "a recording cut mid-line is reported, its last line dropped with a warning" cut_mid_line
check "hostile task names: printable text, valid JSON, valid SVG" hostile_names
check "the SVG: legend, shared scale, no empty strips" svg_rows
check "report --by vm from the recording alone" by_vm
exit $failed
