#!/usr/bin/env bash
# completion.sh COMPLETION_FILE VIREO_DIR: the bash completion offers what
# vireo's own tables hold (commands, a command's options, subcommands),
# checked by driving it as bash does.
set -uo pipefail
comp=$1
export PATH=$2:$PATH
# shellcheck disable=SC1090
. "$comp"
failed=0
complete_line() {
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMPREPLY=()
    _vireo
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
want() {
    local got=$1 w
    shift
    for w in "$@"; do
        [[ " $got " == *" $w "* ]] || { echo "FAIL: '$w' not offered (got: $got)"; failed=1; }
    done
}
want "$(complete_line vireo cr)" create
want "$(complete_line vireo '')" run create list shutdown destroy microscope image help
want "$(complete_line vireo run --k)" --kernel
want "$(complete_line vireo run --)" --memory --vcpus --disk --net --boot --setup-only
want "$(complete_line vireo shutdown -)" -a -w -t
want "$(complete_line vireo microscope re)" record report
want "$(complete_line vireo image '')" create info resize clone import bootstrap
got=$(complete_line vireo zzz-no-such-command-prefix)
[ -z "${got// /}" ] || { echo "FAIL: offered '$got' for an unknown prefix"; failed=1; }
[ "$failed" = 0 ] && echo "ok: bash completion"
exit "$failed"
