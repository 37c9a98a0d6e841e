# lib.sh: what the integration suites share (sourced by suite.sh, inside
# the test host).  Expects vireo, vireo_asan, cloud, generic, initrd,
# cmdline and logs to be set.
n=0 passed=0 failed=0 retried=0
# attempt LOG SECS WANT PATTERNS... -- CMD...: one run; the reasons it failed
# go to the array `why`.
attempt() {
    local log=$1 secs=$2 want=$3 rc=0 p
    shift 3
    local pats=()
    while [ "$1" != -- ]; do pats+=("$1"); shift; done
    shift
    why=()
    timeout -k 5 "$secs" "$@" </dev/null >"$log" 2>&1 || rc=$?
    [ "$rc" = 124 ] && why+=("timed out after ${secs}s")
    [ "$rc" = "$want" ] || why+=("exit status $rc, expected $want")
    for p in ${pats[@]+"${pats[@]}"}; do
        case $p in
        +*) grep -qiF -- "${p#+}" "$log" || why+=("output lacks '${p#+}'") ;;
        -*) ! grep -qiF -- "${p#-}" "$log" || why+=("output has '${p#-}'") ;;
        esac
    done
}

# check NAME SECONDS WANT_STATUS [+TEXT|-TEXT]... -- CMD...
# Runs CMD bounded by SECONDS; passes if it exits WANT_STATUS and its output
# (stdout+stderr) contains each +TEXT and none of the -TEXT (case-insensitive).
# A failed case runs once more and passes only if that run passes; the
# first failure is printed either way.  Why: the test host is a nested
# guest under TCG, whose emulation occasionally crashes a guest kernel
# (seen: a Debian kernel faulting on its own GS base, not reproducible).
# A defect of ours that shows once in two runs still fails.
check() {
    local name=$1 secs=$2 want=$3
    shift 3
    n=$((n + 1))
    local log=$logs/$n.log why=()
    attempt "$log" "$secs" "$want" "$@"
    if [ ${#why[@]} -ne 0 ]; then
        local first=("${why[@]}")
        echo "# $n - $name: first run failed; its output:"
        printf '#   %s\n' "${first[@]}"
        sed 's/^/#   | /' "$log"
        attempt "$log.retry" "$secs" "$want" "$@"
        log=$log.retry
        [ ${#why[@]} -eq 0 ] && retried=$((retried + 1)) && echo "# $n - passed when run again"
    fi
    if [ ${#why[@]} -eq 0 ]; then
        echo "ok $n - $name"
        passed=$((passed + 1))
    else
        while [ "$1" != -- ]; do shift; done
        shift
        echo "not ok $n - $name"
        printf '#   %s\n' "${why[@]}" "command: $*" "output:"
        sed 's/^/#   | /' "$log"
        failed=$((failed + 1))
    fi
}

# Cases that are shell functions run under `check` in their own bash, so
# what they use is exported.
export vireo vireo_asan cloud generic initrd cmdline

# pattern_md5 NAME BYTES: the md5 of what a guest script writes with
# `yes NAME | head -c BYTES` (busybox's yes and head produce exactly what
# coreutils' do).  `yes` ends by SIGPIPE, which pipefail would count as a
# failure.
pattern_md5() { { yes "$1" || true; } | head -c "$2" | md5sum | cut -d' ' -f1; }
# run_guest SCRIPT_FILE VIREO_ARGS...: boots the cloud kernel whose init
# runs the script (gzip+base64 on the kernel command line); output to
# stdout.
run_guest() {
    local script=$1
    shift
    "$vireo" run --kernel "$cloud" --initrd "$initrd" \
        --cmdline "$cmdline vireo.action=script vireo.script=$(gzip -9c <"$script" | base64 -w0)" "$@"
}
export -f pattern_md5 run_guest
