#!/usr/bin/env bash
# `make check`: every stage runs even after one fails, so one CI run says
# everything that is wrong, and the output ends with one line per stage:
# CI keeps only the tail of what a run prints.
# Usage: scripts/check.sh STAGE...   (each a make target)
set -uo pipefail
declare -a summary=()
failed=0
for stage in "$@"; do
    echo "check: === $stage ==="
    start=$SECONDS
    log=$(mktemp)
    ${MAKE:-make} --no-print-directory "$stage" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    secs=$((SECONDS - start))
    if [ "$rc" -eq 0 ]; then
        summary+=("check: ok     $stage (${secs} s)")
    else
        failed=1
        summary+=("check: FAILED $stage (${secs} s, exit $rc)")
        # The lines that name what failed, from meson, the fuzz runner, the
        # integration groups and the microscope checks.
        while IFS= read -r line; do summary+=("check:        $line"); done < <(
            grep -E '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT|ERROR) |^fuzz: .*(FAIL|failed)|^not ok|FAIL:|^make(\[[0-9]+\])?: \*\*\*|^install-deps:|^E: ' "$log" |
                cut -c1-200 | tail -n 15)
    fi
    rm -f "$log"
done
echo
printf '%s\n' "${summary[@]}"
exit "$failed"
