#!/usr/bin/env bash
# disk_serve.sh VIREO VU_LOAD: `vireo disk serve` run natively (no VM), with
# bench/vu-load as its front-end: the socket's mode, a live socket refused,
# only our own socket removed at exit, anything but a socket refused, a
# stale socket replaced, an unwritable image named with --ro, and a front-end that shrinks its memory dropped
# while the server goes on serving the next.
set -uo pipefail
vireo=$1
load=$2
dir=$(mktemp -d /tmp/vireo-disk-serve.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }
# Each server its own image: images are locked.
for i in a b c d x; do truncate -s 16M "$dir/$i.img"; done

# Starts a server on socket $1 with log $2 and image $3; its pid in $srv
# (killed at the end if still running: meson's timeout bounds the script).
serve() {
    "$vireo" disk serve --socket "$1" "$3" >"$2" 2>&1 &
    srv=$!
    pids+=("$srv")
    # Its "serving" line comes once it listens (a stale socket file may be
    # at the path before that).
    for _ in $(seq 200); do
        grep -q "as vhost-user-blk on" "$2" && return 0
        kill -0 "$srv" 2>/dev/null || break
        sleep 0.05
    done
    echo "server on $1 did not start:"; cat "$2"
    return 1
}
# One short round of I/O through the socket.
io_ok() {
    local out
    out=$(timeout 20 "$load" --socket "$1" --rw randwrite --seconds 0.2 2>&1) &&
        [[ $out == iops=* ]] && [[ $out == *" errors=0" ]] || { echo "vu-load on $1: $out"; return 1; }
}
stop() {
    kill -TERM "$1"
    wait "$1"
}

# The socket is never group- or world-accessible, whatever the umask.
umask 000
serve "$dir/a.sock" "$dir/a.log" "$dir/a.img" || exit 1
umask 022
a=$srv
mode=$(stat -c %a "$dir/a.sock")
[ "$mode" = 600 ] || fail "socket mode $mode under umask 000, expected 600"
io_ok "$dir/a.sock" || fail "the server does not serve"

# A second server on a live socket is refused and leaves it alone.
out=$(timeout 20 "$vireo" disk serve --socket "$dir/a.sock" "$dir/x.img" 2>&1)
rc=$?
[ "$rc" = 1 ] || fail "second server on a live socket: exit $rc, expected 1"
grep -q "in use by pid $a\$" <<<"$out" || fail "second server on a live socket said: $out"
io_ok "$dir/a.sock" || fail "the live socket was taken from the first server"

# A front-end that shrinks its memory is dropped; the next one is served.
out=$(timeout 20 "$load" --socket "$dir/a.sock" --shrink 2>&1)
rc=$?
[ "$rc" = 0 ] || fail "shrinking front-end: exit $rc: $out"
kill -0 "$a" 2>/dev/null || { fail "server died after a front-end shrank its memory"; cat "$dir/a.log"; }
io_ok "$dir/a.sock" || fail "no service after a front-end shrank its memory"
grep -q "shrank the file behind memory region 0" "$dir/a.log" ||
    fail "no log line about the shrunk memory: $(cat "$dir/a.log")"

# Server A's socket is replaced by B's; A's exit must not remove B's.
rm "$dir/a.sock"
serve "$dir/a.sock" "$dir/b.log" "$dir/b.img" || exit 1
b=$srv
stop "$a" || fail "server A: exit $?"
[ -S "$dir/a.sock" ] || fail "server A removed server B's socket on exit"
io_ok "$dir/a.sock" || fail "server B does not serve after A's exit"
stop "$b" || fail "server B: exit $?"
[ -e "$dir/a.sock" ] && fail "server B left its socket behind"

# Anything but a socket at PATH is refused by name, and left as it was.
echo keep >"$dir/file"
out=$(timeout 20 "$vireo" disk serve --socket "$dir/file" "$dir/x.img" 2>&1)
rc=$?
[ "$rc" = 1 ] || fail "--socket on a regular file: exit $rc, expected 1"
grep -q "exists and is not a socket (a regular file)" <<<"$out" || fail "--socket on a regular file said: $out"
[ "$(cat "$dir/file")" = keep ] || fail "--socket on a regular file changed it"

# An image its user may not write: the hint is disk serve's own --ro (root
# writes any file, so the server runs as nobody then).
ro=$(mktemp -d /tmp/vireo-disk-ro.XXXXXX)
chmod 755 "$ro"
truncate -s 1M "$ro/ro.img"
chmod 444 "$ro/ro.img"
as_user=()
[ "$(id -u)" = 0 ] && as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
out=$(timeout 20 "${as_user[@]}" "$vireo" disk serve --seccomp off --socket "$ro/s.sock" "$ro/ro.img" 2>&1)
rc=$?
rm -rf "$ro"
[ "$rc" = 1 ] && grep -q "Permission denied (add --ro for a read-only disk)" <<<"$out" ||
    fail "serve of an unwritable image: exit $rc, said: $out"

# A socket file nobody listens on (a killed server's) is replaced.
serve "$dir/c.sock" "$dir/c.log" "$dir/c.img" || exit 1
{ kill -KILL "$srv"; wait "$srv"; } 2>/dev/null
[ -S "$dir/c.sock" ] || fail "a killed server's socket is gone (test set-up)"
serve "$dir/c.sock" "$dir/c2.log" "$dir/d.img" || fail "stale socket not replaced"
io_ok "$dir/c.sock" || fail "no service on a replaced stale socket"
stop "$srv" || fail "server on the replaced socket: exit $?"

# Under ASan/UBSan (make unit-asan) a report in any server's log fails too.
if grep -l -E "Sanitizer|runtime error" "$dir"/*.log; then
    fail "sanitizer report in a server's log"
    grep -h -A20 -E "Sanitizer|runtime error" "$dir"/*.log | head -60
fi
[ "$failed" = 0 ] && echo "disk serve: all cases passed"
exit "$failed"
