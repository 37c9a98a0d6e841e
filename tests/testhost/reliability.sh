#!/usr/bin/env bash
# reliability.sh BUILD_DIR [--launches N] [--per-host K] [--boots M] [--image IMG]
#                [--qemu "system backports"]
# How often the test host freezes, per QEMU (tests/testhost/run's
# TESTHOST_QEMU): N nested VM launches, K per test host boot, and M boots of
# a systemd image (IMG, made by `vireo image bootstrap`; 2 per test host
# boot), the workload of the integration suite.  A test host that stops
# ticking is a freeze (the harness's exit 125); its run is counted and the
# next one starts.  Prints one summary line per QEMU.  Takes its time: run it
# when the machine is free enough, or under load on purpose.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [--launches N] [--per-host K] [--boots M] [--image IMG] [--qemu LIST]" >&2; exit 2; }
build=$(cd "$1" && pwd); shift
launches=100 per_host=25 boots=0 image= variants="system backports"
while [ $# -gt 0 ]; do
    case $1 in
    --launches) launches=$2; shift 2 ;;
    --per-host) per_host=$2; shift 2 ;;
    --boots) boots=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --qemu) variants=$2; shift 2 ;;
    *) echo "reliability: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$boots" = 0 ] || [ -e "$image" ] || { echo "reliability: --boots needs --image IMG" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/../.." && pwd)
log=$(mktemp -d "${TMPDIR:-/tmp}/reliability.XXXXXX")
echo "# logs in $log"
# host VARIANT KIND N: one test host boot doing N launches or boots; adds
# to the counters of VARIANT/KIND.
declare -A ok bad frozen hosts secs
host() {
    local v=$1 kind=$2 k=$3 rc=0 o f t0=$SECONDS key=$1/$2 lg
    hosts[$key]=$(( ${hosts[$key]:-0} + 1 ))
    lg=$log/$v-$kind-${hosts[$key]}.log
    if [ "$kind" = launch ]; then
        TESTHOST_QEMU=$v VIREO_BUILD=$build "$repo/tests/testhost/run" --timeout $((k * 150 + 120)) -- \
            "$repo/tests/testhost/reliability-inner.sh" "$build" launches "$k" >"$lg" 2>&1 || rc=$?
    else
        TESTHOST_QEMU=$v VIREO_BUILD=$build "$repo/tests/testhost/run" --memory 3072 --timeout $((k * 500 + 300)) -- \
            "$repo/tests/testhost/reliability-inner.sh" "$build" systemd "$image" "$k" >"$lg" 2>&1 || rc=$?
    fi
    o=$(grep -c "^$kind [0-9]* ok" "$lg")
    f=$(grep -c "^$kind [0-9]* fail" "$lg")
    if [ "$rc" = 125 ] || [ "$rc" = 124 ]; then
        frozen[$key]=$(( ${frozen[$key]:-0} + 1 )); f=$((f + 1))   # the one it froze in
    fi
    ok[$key]=$(( ${ok[$key]:-0} + o )) bad[$key]=$(( ${bad[$key]:-0} + f ))
    secs[$key]=$(( ${secs[$key]:-0} + SECONDS - t0 ))
    echo "# $v $kind host ${hosts[$key]}: $o ok, $f failed, exit $rc, $((SECONDS - t0)) s, load $(cut -d' ' -f1 /proc/loadavg)"
    grep "^$kind .*fail" "$lg" | sed "s/^/#   /"
}
# The variants take turns, one test host each, so both see the same load.
for kind in launch boot; do
    want=$launches per=$per_host
    [ $kind = boot ] && want=$boots per=2
    while :; do
        more=
        for v in $variants; do
            done_=$(( ${ok[$v/$kind]:-0} + ${bad[$v/$kind]:-0} ))
            [ "$done_" -lt "$want" ] || continue
            more=1
            host "$v" "$kind" $(( want - done_ < per ? want - done_ : per ))
        done
        [ -n "$more" ] || break
    done
done
summary=()
for v in $variants; do
    line="$v: launches ${ok[$v/launch]:-0}/$(( ${ok[$v/launch]:-0} + ${bad[$v/launch]:-0} )) ok, ${frozen[$v/launch]:-0} freezes in ${hosts[$v/launch]:-0} test hosts (${secs[$v/launch]:-0} s)"
    [ "$boots" -gt 0 ] && line+="; systemd boots ${ok[$v/boot]:-0}/$(( ${ok[$v/boot]:-0} + ${bad[$v/boot]:-0} )) ok, ${frozen[$v/boot]:-0} freezes in ${hosts[$v/boot]:-0} test hosts (${secs[$v/boot]:-0} s)"
    echo "$line"
    summary+=("$line")
done
echo "# summary (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%s\n' "${summary[@]}"
