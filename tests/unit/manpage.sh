#!/usr/bin/env bash
# manpage.sh VIREO_1 VIREO: the generated manual renders without groff
# warnings and has a section for every command `vireo help` lists.
set -uo pipefail
page=$1
vireo=$2
failed=0
warn=$(groff -man -Tutf8 -ww "$page" 2>&1 >/dev/null)
[ -z "$warn" ] || { echo "FAIL: groff warns: $warn"; failed=1; }
text=$(groff -man -Tutf8 "$page" 2>/dev/null | col -b)
for cmd in $("$vireo" help | awk '/^  [a-z]/ { print $1 }'); do
    case $cmd in help | version) continue ;; esac
    grep -q "^   vireo $cmd\$" <<<"$text" || { echo "FAIL: no section for '$cmd'"; failed=1; }
done
grep -q -- "--kernel BZIMAGE" <<<"$text" || { echo "FAIL: run's options are missing"; failed=1; }
[ "$failed" = 0 ] && echo "ok: vireo(1)"
exit "$failed"
