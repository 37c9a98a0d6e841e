# lib.sh: what the image tests share (sourced).  Each check prints
# "ok - NAME" or "not ok - NAME" with the reason; `finish` exits 1 if any
# failed.
failed=0 passed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
bad() { echo "not ok - $1"; shift; printf '#   %s\n' "$@"; failed=$((failed + 1)); }
# expect NAME STATUS TEXT -- CMD...: CMD exits STATUS and its output
# (stdout+stderr) holds TEXT (fixed string; empty: anything).
expect() {
    local name=$1 want=$2 text=$3 rc=0
    shift 4
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" != "$want" ]; then
        bad "$name" "exit $rc, expected $want" "command: $*" "output: $out"
    elif [ -n "$text" ] && ! grep -qF -- "$text" <<<"$out"; then
        bad "$name" "output lacks '$text'" "command: $*" "output: $out"
    else
        ok "$name"
    fi
}
# check NAME CMD...: passes when CMD succeeds.
check() {
    local name=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$name"; else bad "$name" "failed: $*"; fi
}
# A write lock as a VM holds one on its disk (an OFD lock, held until the
# returned process is killed).
hold_write_lock() {
    python3 - "$1" <<'PY' &
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 0, 0))
open(sys.argv[1] + '.locked', 'w').close()
time.sleep(600)
PY
    holder=$!
    for _ in $(seq 50); do [ -e "$1.locked" ] && break; sleep 0.1; done
}
allocated_kib() { du -k "$1" | cut -f1; }
sum() { md5sum <"$1" | cut -d' ' -f1; }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
