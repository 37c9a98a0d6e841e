#!/usr/bin/env bash
# ground-truth.sh BUILD_DIR: `vireo microscope record` must see what iogen
# did (bench/microscope/iogen.c): bytes per thread within 2 %, every burst
# within 2 ms, buf-w's buffered data charged to it as writeback inside the
# syncfs() that wrote it, nothing for the idle thread (mscheck decides).
# Runs on the build host itself, as root (eBPF, losetup, mount); any set-up
# failure fails the test.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "not ok - microscope ground truth: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (eBPF, losetup, mount)"
for f in vireo bench/microscope/iogen bench/microscope/mscheck; do
    [ -x "$build/$f" ] || fail "missing $build/$f"
done
# shellcheck source=bench/microscope/loopfs.sh
. "$repo/bench/microscope/loopfs.sh"
trap loopfs_cleanup EXIT
trap 'exit 130' INT TERM
loopfs_setup 512 || fail "could not set up an ext4 on a loop device"

# Twice: owners from block_io_start (kernels 6.5+, the default here), and
# from block_bio_queue/block_split as on older kernels (forced by
# VIREO_MS_BIO_PATH).  JSON lines once, CSV once: both readers get exercised.
run() { # NAME FILE [ENV...]
    local name=$1 rec=$2 rc=0
    shift 2
    rm -rf "${work:?}/mnt/"*
    env "$@" timeout -k 5 60 "$build/vireo" microscope record -o "$rec" -- \
        "$build/bench/microscope/iogen" --dir "$work/mnt" --truth "$work/truth.csv" --seconds 3 \
        --log "$work/io.csv" || rc=$?
    [ "$rc" = 0 ] || fail "$name: vireo microscope record exited $rc"
    rc=0
    "$build/bench/microscope/mscheck" -l "$work/io.csv" "$work/truth.csv" "$rec" || rc=$?
    [ "$rc" = 0 ] || fail "$name: mscheck exited $rc (table above)"
    echo "ok - microscope ground truth ($name)"
}
run "owners at block_io_start" "$work/rec.jsonl"
run "owners per bio" "$work/rec.csv" VIREO_MS_BIO_PATH=1
