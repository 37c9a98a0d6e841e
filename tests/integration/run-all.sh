#!/usr/bin/env bash
# run-all.sh BUILD_DIR ASAN_BUILD_DIR: Vireo's integration tests.  They need
# a /dev/kvm that boots ordinary kernels, so they run in the test host: four
# boots, one per group of suites (below).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR ASAN_BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
asan=$(cd "$2" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
for f in "$build/vireo" "$asan/vireo" "$build/guest/vmlinuz-cloud" "$build/guest/vmlinuz-generic" \
         "$build/guest/initramfs.cpio.gz"; do
    [ -e "$f" ] || { echo "run-all: missing $f (make all asan guest)" >&2; exit 1; }
done
# On a PVM-mode host (the project's build machines) vireo itself must refuse
# to boot an ordinary kernel, clearly; checked here, outside the test host.
pvm_failed=0
if [ -d /sys/module/kvm_pvm ] && [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ]; then
    rc=0
    out=$(timeout 30 "$build/vireo" run --kernel "$build/guest/vmlinuz-cloud" \
        --initrd "$build/guest/initramfs.cpio.gz" 2>&1 </dev/null) || rc=$?
    if [ "$rc" = 1 ] && grep -q "KVM in PVM mode" <<<"$out" && grep -q "tests/testhost/run" <<<"$out"; then
        echo "ok - on this PVM host vireo refuses with exit 1 and points to the test host"
    else
        echo "not ok - on this PVM host: exit $rc, output: $out"
        pvm_failed=1
    fi
else
    echo "# not a PVM host: the PVM refusal is covered by the kvm_sys unit test only"
fi

# The suites run in four test-host boots, not one, so that a test host
# that hangs as a whole (TCG emulation has frozen it: RCU stalls in its
# kernel, no heartbeat; the harness says 125, or it ends with no summary
# line) costs one group, which then runs once more in a fresh test host,
# and that run decides.  Bound per group: its boots of <=90 s (ASan 240 s)
# plus quick cases; a second run is only started while the whole stays
# inside INTEGRATION_BUDGET seconds (default 4200: CI allows 90 minutes
# for everything).
# The systemd group boots a real Debian guest (made by `vireo image
# bootstrap` on this machine first, cached in the build folder) from its
# disk three times and more: it needs more memory for the image's copy in
# the test host's tmpfs.
budget=${INTEGRATION_BUDGET:-4200}
groups=("boot disk vhost" "toolstack" "net confine" "systemd")
group_timeout=1500
# group_env GROUP: sets host_args (tests/testhost/run's options but the
# timeout) and gt (the group's own bound) for
# GROUP, and makes what it needs; fails when the group cannot start.
group_env() {
    host_args=() gt=$group_timeout
    [ "$1" = systemd ] || return 0
    host_args=(--memory 3072) gt=2700
    "$repo/tests/integration/systemd-image.sh" "$build"
}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
failed_groups=() summaries=() notok=()
for g in "${groups[@]}"; do
    for try in 1 2; do
        rc=0
        : >"$out"   # a group skipped for lack of time must not show the last one's results
        [ $((budget - SECONDS)) -gt 120 ] || { echo "# run-all: no time left in the ${budget} s budget for suites '$g'"; rc=124; break; }
        # What the group needs first (the systemd image: minutes the first
        # time) counts against the budget too.
        if ! group_env "$g" >"$out" 2>&1; then
            cat "$out"
            echo "# run-all: suites '$g' could not start (above)"
            rc=1
            break
        fi
        cat "$out"
        left=$((budget - SECONDS))
        [ "$left" -gt 120 ] || { echo "# run-all: no time left in the ${budget} s budget for suites '$g'"; rc=124; break; }
        echo "# run-all: suites '$g' (try $try) in a fresh test host"
        # shellcheck disable=SC2086  # $g is the list of suite names
        VIREO_BUILD=$build "$repo/tests/testhost/run" ${host_args[@]+"${host_args[@]}"} \
            --timeout $((left < gt ? left : gt)) -- \
            "$repo/tests/integration/suite.sh" "$build" "$asan" $g | tee "$out" || rc=$?
        finished=0
        grep -Eq '^[0-9]+ passed \(.*\), [0-9]+ failed$' "$out" && finished=1
        { [ "$rc" = 125 ] || [ "$finished" = 0 ]; } && [ "$rc" != 0 ] && [ "$try" = 1 ] || break
        echo "# run-all: the test host hung or died in suites '$g' (exit $rc, no summary; see above); running them once more"
    done
    summaries+=("$g: $(grep -E '^[0-9]+ passed \(.*\), [0-9]+ failed$' "$out" || echo "no summary (exit $rc)")")
    [ "$rc" = 0 ] || failed_groups+=("$g")
    mapfile -t -O "${#notok[@]}" notok < <(grep '^not ok' "$out" || true)
done
# CI keeps only the tail of the output: the verdict and what failed, last.
echo "# run-all: integration results after $SECONDS s:"
printf '#   %s\n' "${summaries[@]}"
[ "${#failed_groups[@]}" = 0 ] || echo "# run-all: failed: ${failed_groups[*]} (details above)"
[ "${#notok[@]}" = 0 ] || printf '#   %s\n' "${notok[@]}"
[ "${#failed_groups[@]}" = 0 ] && [ "$pvm_failed" = 0 ]
