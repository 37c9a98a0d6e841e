# shellcheck shell=bash
# loopfs.sh: sourced by bench/microscope.sh and tests/microscope/*.sh.
# A scratch ext4 file system on a loop device over a tmpfs file, so the
# workload's I/O goes through a real block device (the probe sees it) and
# nothing else on the host shares that device.  Sets loopdev and work.
# Callers run `loopfs_cleanup` from their EXIT trap.
loopdev='' work='' loopimg='' loopfs_pids=()

# loopfs_setup SIZE_MIB: creates, formats and mounts it on $work/mnt.
# Each step checked: callers may run it under `||`, where set -e is off.
loopfs_setup() {
    work=$(mktemp -d /tmp/vireo-ms.XXXXXX) || return 1
    loopimg=$(mktemp /dev/shm/vireo-ms.XXXXXX) || return 1
    truncate -s "${1}M" "$loopimg" || return 1
    loopdev=$(losetup --find --show "$loopimg") || return 1
    # Eager inode-table and journal init: no ext4lazyinit thread writing in
    # the background while we measure.
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$loopdev" || return 1
    mkdir "$work/mnt" && mount -o noatime "$loopdev" "$work/mnt"
}

# Background processes started with loopfs_bg are ended by cleanup (by pid).
loopfs_bg() {
    "$@" &
    loopfs_pids+=($!)
}

# loopfs_reaped PID: the caller has waited for it; never signal it again
# (its pid may belong to someone else by then).
loopfs_reaped() {
    local p rest=()
    for p in ${loopfs_pids[@]+"${loopfs_pids[@]}"}; do [ "$p" = "$1" ] || rest+=("$p"); done
    loopfs_pids=(${rest[@]+"${rest[@]}"})
}

loopfs_cleanup() {
    local p
    for p in ${loopfs_pids[@]+"${loopfs_pids[@]}"}; do kill "$p" 2>/dev/null || true; done
    for p in ${loopfs_pids[@]+"${loopfs_pids[@]}"}; do wait "$p" 2>/dev/null || true; done
    if [ -n "$work" ] && mountpoint -q "$work/mnt"; then
        umount "$work/mnt" 2>/dev/null || umount -l "$work/mnt" || true
    fi
    [ -n "$loopdev" ] && losetup -d "$loopdev" 2>/dev/null || true
    [ -n "$loopimg" ] && rm -f "$loopimg"
    [ -n "$work" ] && rm -rf "$work"
    loopdev='' work='' loopimg=''
}
