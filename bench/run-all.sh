#!/usr/bin/env bash
# run-all.sh BUILD_DIR: the `make bench` body.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
"$here/boot-to-init.sh" "$1"
"$here/guest-disk.sh" "$1"
"$here/disk-native.sh" "$1"
"$here/qcow2-native.sh" "$1"
"$here/setup-cost.sh" "$1"
"$here/net.sh" "$1"
"$here/balloon.sh" "$1"
"$here/hugepages.sh" "$1"
"$here/clone.sh" "$1"
"$here/systemd-boot.sh" "$1"
