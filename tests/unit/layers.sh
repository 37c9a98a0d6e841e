#!/usr/bin/env bash
# layers.sh CHECK SRC_DIR: the include rule of src/layers.txt holds in
# SRC_DIR, and CHECK (scripts/check-layers.sh) catches each way to break it
# on small trees of its own.
set -euo pipefail
check=$1 src=$2
"$check" "$src"

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
failures=0
# tree NAME: a tree whose layers are top > (mid1, mid2) > low.
tree() {
    rm -rf "${t:?}/$1"
    mkdir -p "$t/$1/top" "$t/$1/mid1" "$t/$1/mid2" "$t/$1/low"
    printf '# comment\ntop\n\nmid1   mid2  # two independent folders\nlow\n' >"$t/$1/layers.txt"
    printf '#include "mid1/b.h"\n#include "mid2/d.h"\n#include <stdio.h>\n' >"$t/$1/top/a.c"
    printf '#include "low/c.h"\n#include "b2.h"\n' >"$t/$1/mid1/b.h"
    printf '  #  include "low/c.h"\n' >"$t/$1/mid2/d.h"
    : >"$t/$1/mid1/b2.h"
    : >"$t/$1/low/c.h"
}
# expect NAME STATUS TEXT: the checker's status on tree NAME, and a line of its output.
expect() {
    local rc=0 out
    out=$("$check" "$t/$1" "$t/$1/layers.txt" 2>&1) || rc=$?
    if [ "$rc" != "$2" ] || ! grep -qF -- "$3" <<<"$out"; then
        echo "not ok - $1: status $rc (expected $2), output:"
        echo "$out"
        failures=$((failures + 1))
    else
        echo "ok - $1"
    fi
}
tree down
expect down 0 "5 includes in 3 files, 0 against"
tree up
printf '\n#include "top/a.h"\n' >>"$t/up/low/c.h"
expect up 1 "low/c.h:2: includes \"top/a.h\": top (layer 1) is above low (layer 3)"
tree sideways
printf '#include "mid2/d.h"\n' >>"$t/sideways/mid1/b.h"
expect sideways 1 "mid1/b.h:3: includes \"mid2/d.h\": mid2 and mid1 share layer 2"
tree unlisted
mkdir -p "$t/unlisted/extra" && printf '#include "low/c.h"\n' >"$t/unlisted/extra/e.c"
expect unlisted 1 "extra/e.c: extra is in no layer"
tree unknown
printf '#include "nowhere/x.h"\n' >>"$t/unknown/top/a.c"
expect unknown 1 "top/a.c:4: includes \"nowhere/x.h\": nowhere is in no layer"
[ "$failures" -eq 0 ]
