#!/usr/bin/env bash
# module-closure.sh MODDIR MODULE...: the .ko files (paths relative to
# MODDIR) that MODULEs need, dependencies first, one per line, from each
# module's modinfo depends= list; built-in modules are skipped.  For
# initramfs images that load modules with plain insmod (no depmod).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 MODDIR MODULE..." >&2; exit 2; }
moddir=$1
shift
declare -A path=() seen=()
# '-' and '_' are the same to the kernel.
while read -r f; do
    n=$(basename "$f" .ko); path[${n//-/_}]=$f
done < <(cd "$moddir" && find kernel -name '*.ko')
visit() {
    local n=${1//-/_} d
    [ -z "${seen[$n]:-}" ] || return 0
    seen[$n]=1
    [ -n "${path[$n]:-}" ] || return 0      # built in
    for d in $(tr '\0' '\n' <"$moddir/${path[$n]}" | sed -n 's/^depends=//p' | tr ',' ' '); do
        visit "$d"
    done
    echo "${path[$n]}"
}
for m in "$@"; do visit "$m"; done
