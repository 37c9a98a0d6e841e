#!/usr/bin/env bash
# console-input.sh VIREO KERNEL INITRD CMDLINE: types into the guest's
# serial console through vireo's stdin once the guest's shell is up, and
# expects the guest to run it: the UART receive path end to end.  The
# guest's answer (hi-42) is computed there, so an echo of the typed line
# cannot pass for it.
set -euo pipefail
vireo=$1 kernel=$2 initrd=$3 cmdline=$4
dir=$(mktemp -d "${TESTHOST_SCRATCH:-/tmp}/console.XXXXXX")
mkfifo "$dir/in" "$dir/out"
"$vireo" run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline vireo.action=shell" \
    <"$dir/in" >"$dir/out" 2>&1 &
pid=$!
exec {in}>"$dir/in" {out}<"$dir/out"
typed=
while IFS= read -r -t 60 line <&"$out"; do
    printf '%s\n' "$line"
    # The line with the result, not the echo of the command.
    [[ $line == *hi-42* && $line != *'$((6*7))'* ]] && { echo "console-input: guest answered"; break; }
    if [ -z "$typed" ] && [[ $line == *"vireo-guest: shell ready"* ]]; then
        sleep 1
        printf 'echo hi-$((6*7))\n' >&"$in"
        typed=1
    fi
done
printf 'poweroff -f\n' >&"$in"
# Drain until vireo ends, so its exit line is in our output.
cat <&"$out" || true
rc=0
wait "$pid" || rc=$?
exit "$rc"
