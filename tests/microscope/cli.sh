#!/usr/bin/env bash
# cli.sh BUILD_DIR: the microscope's errors and the live view, on this
# machine.  Without privileges it must say why and create nothing; a broken
# recording is refused with file:line; the live view shows a task that
# reads while it runs.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
vireo=$(cd "$1" && pwd)/vireo
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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

# A reader busy for the whole 2.5 s run; the live view (not a terminal:
# one block per refresh) must list it with reads on its loop device.
live_view() {
    truncate -s 64M "$work/disk.img"
    local loop
    loop=$(losetup --find --show --direct-io=on "$work/disk.img") || return 1
    (while timeout 4 dd if="$loop" of=/dev/null bs=4k iflag=direct 2>/dev/null; do :; done) &
    local pid=$!
    local out
    out=$(timeout 20 "$vireo" microscope --duration 2500ms --refresh 1s 2>&1)
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    losetup -d "$loop"
    echo "$out" | sed 's/^/  | /' | head -12
    [ "$(echo "$out" | grep -c '^vireo microscope ')" -ge 2 ] &&
        echo "$out" | grep -E "^ +[0-9]+ +[0-9]+ dd +$(basename "$loop") +own +[0-9.]+[KMG]" >/dev/null
}

check "unprivileged record fails with the reason and creates nothing" unprivileged
check "a broken recording is refused with file:line" bad_recording
check "a bad option is refused before anything starts" bad_option
check "the live view lists a reading task" live_view
exit $failed
