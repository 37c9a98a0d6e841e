#!/bin/sh
# systemd_unit.sh UNIT.in VIREO: systemd's own checker accepts the unit
# (syntax, ordering, that the commands exist), with @BINDIR@ pointing at
# this build's vireo.
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|@BINDIR@|$(dirname "$(readlink -f "$2")")|g" "$1" >"$dir/vireo-guests.service"
grep -q '@' "$dir/vireo-guests.service" && { echo "unsubstituted @...@ left"; exit 1; }
out=$(systemd-analyze verify "$dir/vireo-guests.service" 2>&1) || { echo "$out"; exit 1; }
# verify only warns about some mistakes; any output is one.
[ -z "$out" ] || { echo "$out"; exit 1; }
echo "systemd-analyze verify: clean"
