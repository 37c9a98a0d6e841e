# cases-disk.sh: virtio-blk disks end to end: a Debian guest writes, flushes
# and reads through /dev/vdX, and the host checks the image bytes.  Sourced
# by suite.sh.  Each case is a function run by `check` in its own bash
# (hence the exports), so a hang is bounded like any other case.

disk_dir=$logs/disk
mkdir -p "$disk_dir"
export disk_dir


# 1. Write a pattern through /dev/vda with a flush, read it back in the guest;
#    the read-only /dev/vdb refuses writes; the host sees exactly those bytes.
disk_basic() {
    set -e
    local img=$disk_dir/basic.img ro=$disk_dir/ro.img s=$disk_dir/basic.sh
    rm -f "$img" "$ro"
    truncate -s 64M "$img"
    { yes ro-disk-content || true; } | head -c 1048576 >"$ro"
    local ro_md5; ro_md5=$(md5sum <"$ro")
    cat >"$s" <<'EOF'
yes vireo-basic | head -c 4194304 | dd of=/dev/vda bs=64k seek=16 conv=fsync 2>/dev/null && echo "vireo-guest: wrote vda"
echo 3 >/proc/sys/vm/drop_caches
echo "vireo-guest: readback $(dd if=/dev/vda bs=64k skip=16 count=64 2>/dev/null | md5sum | cut -d' ' -f1)"
echo "vireo-guest: vda serial=$(cat /sys/block/vda/serial) sectors=$(cat /sys/block/vda/size)"
echo "vireo-guest: vdb ro=$(cat /sys/block/vdb/ro)"
if echo x | dd of=/dev/vdb bs=512 count=1 conv=fsync 2>/dev/null; then echo "vireo-guest: vdb write accepted"; else echo "vireo-guest: vdb write refused"; fi
EOF
    run_guest "$s" --disk "$img,serial=vireo-serial-1" --disk "$ro,ro"
    local want; want=$(pattern_md5 vireo-basic 4194304)
    echo "expected $want"
    local got; got=$(dd if="$img" bs=64k skip=16 count=64 2>/dev/null | md5sum | cut -d' ' -f1)
    [ "$got" = "$want" ] && echo "host: image bytes match"
    [ "$(head -c 1048576 "$img" | tr -d '\0' | wc -c)" = 0 ] && echo "host: bytes before the write untouched"
    [ "$(md5sum <"$ro")" = "$ro_md5" ] && echo "host: read-only image unchanged"
}
export -f disk_basic
want_md5=$(pattern_md5 vireo-basic 4194304)
check "disk: pattern written through vda with flush; host sees it; ro vdb refuses writes" 120 0 \
    "+vireo-guest: wrote vda" "+vireo-guest: readback $want_md5" "+host: image bytes match" \
    "+host: bytes before the write untouched" "+host: read-only image unchanged" \
    "+vireo-guest: vda serial=vireo-serial-1 sectors=131072" "+vireo-guest: vdb ro=1" \
    "+vireo-guest: vdb write refused" "-vdb write accepted" -- bash -c disk_basic

# 2. Two queues on two I/O threads, a writer pinned to each vCPU (blk-mq maps
#    each CPU to its own queue): both queues carry requests, data intact.
disk_mq() {
    set -e
    local img=$disk_dir/mq.img s=$disk_dir/mq.sh
    rm -f "$img"
    truncate -s 64M "$img"
    cat >"$s" <<'EOF'
echo "vireo-guest: hw queues $(ls /sys/block/vda/mq | wc -l)"
taskset 1 sh -c 'yes writer-zero | head -c 8388608 | dd of=/dev/vda bs=4k oflag=direct 2>/dev/null' &
taskset 2 sh -c 'yes writer-one | head -c 8388608 | dd of=/dev/vda bs=4k seek=2048 oflag=direct 2>/dev/null' &
wait
for q in 0 1; do echo "vireo-guest: queue $q serves cpu $(cat /sys/block/vda/mq/$q/cpu_list)"; done
EOF
    run_guest "$s" --vcpus 2 --disk "$img,queues=2,iothread=2"
    [ "$(head -c 8388608 "$img" | md5sum | cut -d' ' -f1)" = "$(pattern_md5 writer-zero 8388608)" ] &&
        echo "host: region 0 intact"
    [ "$(tail -c +8388609 "$img" | head -c 8388608 | md5sum | cut -d' ' -f1)" = "$(pattern_md5 writer-one 8388608)" ] &&
        echo "host: region 1 intact"
}
export -f disk_mq
check "disk: 2 queues on 2 I/O threads, concurrent writer per queue, data intact" 150 0 \
    "+vireo-guest: hw queues 2" "+2 queues on 2 I/O threads" "+host: region 0 intact" "+host: region 1 intact" \
    "+queue 0 serves cpu 0" "+queue 1 serves cpu 1" -- bash -c disk_mq

# 3. Write and read back through each other serving mode: the main loop
#    (iothread=0, the design before data planes), the thread-pool engine,
#    O_DIRECT on a host block device (a loop device stands in for LVM), and
#    an image in tmpfs (served inline), with discard punching a hole that
#    reads back as zeroes.
disk_modes() {
    set -e
    local mode=$1 s=$disk_dir/modes.sh img=$disk_dir/modes-$1.img
    rm -f "$img"
    truncate -s 32M "$img"
    cat >"$s" <<'EOF'
yes mode-pattern | head -c 2097152 | dd of=/dev/vda bs=64k conv=fsync 2>/dev/null && echo "vireo-guest: wrote vda"
echo 3 >/proc/sys/vm/drop_caches
echo "vireo-guest: readback $(dd if=/dev/vda bs=64k count=32 2>/dev/null | md5sum | cut -d' ' -f1)"
blkdiscard -o 1048576 -l 524288 /dev/vda && echo "vireo-guest: discard ok"
echo 3 >/proc/sys/vm/drop_caches
echo "vireo-guest: hole $(dd if=/dev/vda bs=64k skip=16 count=8 2>/dev/null | tr -d '\000' | wc -c)"
EOF
    case $mode in
    mainloop) run_guest "$s" --disk "$img,iothread=0" ;;
    threads) run_guest "$s" --disk "$img,aio=threads" ;;
    bdev)
        loopdev=$(losetup -f --show "$img")   # global: the EXIT trap needs it
        trap 'losetup -d "$loopdev"' EXIT
        run_guest "$s" --disk "$loopdev,cache=none"
        ;;
    tmpfs)
        # An image in memory: small requests are done inline on the I/O
        # thread instead of through io_uring.
        mnt=$disk_dir/tmpfs   # global: the EXIT trap needs it
        mkdir -p "$mnt"
        mount -t tmpfs -o size=64m vireo-test "$mnt"
        trap 'umount "$mnt"' EXIT
        img=$mnt/modes.img
        truncate -s 32M "$img"
        run_guest "$s" --disk "$img"
        ;;
    esac
    local head; head=$(pattern_md5 mode-pattern 1048576)
    [ "$(head -c 1048576 "$img" | md5sum | cut -d' ' -f1)" = "$head" ] && echo "host: data before the hole intact"
    [ "$(tail -c +1048577 "$img" | head -c 524288 | tr -d '\0' | wc -c)" = 0 ] && echo "host: hole reads zero"
}
export -f disk_modes
mode_md5=$(pattern_md5 mode-pattern 2097152)
check "disk: served on the main loop (iothread=0)" 120 0 "+on the main loop" "+vireo-guest: readback $mode_md5" \
    "+vireo-guest: hole 0" "+host: data before the hole intact" "+host: hole reads zero" -- bash -c 'disk_modes mainloop'
check "disk: thread-pool engine (aio=threads)" 120 0 "+aio=threads" "+vireo-guest: readback $mode_md5" \
    "+vireo-guest: hole 0" "+host: data before the hole intact" "+host: hole reads zero" -- bash -c 'disk_modes threads'
check "disk: block device with cache=none (O_DIRECT), discard" 120 0 "+cache=none" "+vireo-guest: readback $mode_md5" \
    "+vireo-guest: discard ok" "+vireo-guest: hole 0" "+host: data before the hole intact" "+host: hole reads zero" -- \
    bash -c 'disk_modes bdev'
check "disk: image in tmpfs, served inline" 120 0 "+in memory: small requests inline" \
    "+vireo-guest: readback $mode_md5" "+vireo-guest: discard ok" "+vireo-guest: hole 0" \
    "+host: data before the hole intact" "+host: hole reads zero" -- bash -c 'disk_modes tmpfs'

# 4. The same under ASan/UBSan: the data plane's threads and the transport.
disk_asan() {
    vireo=$vireo_asan disk_basic
}
export -f disk_asan
check "disk: ASan/UBSan build, basic disk test" 240 0 "+host: image bytes match" "+vireo-guest: vdb write refused" \
    "-ERROR: AddressSanitizer" "-runtime error:" "-ERROR: LeakSanitizer" -- bash -c disk_asan

# 5. Bad disks are refused before the guest starts.
check "disk: missing image => exit 1, names it" 30 1 "+$disk_dir/missing.img" -- \
    "$vireo" run --kernel "$cloud" --disk "$disk_dir/missing.img"
: >"$disk_dir/empty.img"
check "disk: empty image => exit 1, says so" 30 1 "+$disk_dir/empty.img: the image is empty (0 bytes)" -- \
    "$vireo" run --kernel "$cloud" --disk "$disk_dir/empty.img"
check "disk: unknown option => usage error, exit 2" 30 2 "+unknown option 'bogus=1'" -- \
    "$vireo" run --kernel "$cloud" --disk "$disk_dir/x.img,bogus=1"
disk_locked() {
    local img=$disk_dir/locked.img s=$disk_dir/sleep.sh
    truncate -s 16M "$img"
    echo 'sleep 60' >"$s"
    run_guest "$s" --disk "$img" >"$disk_dir/first.log" 2>&1 &
    local first=$!
    for _ in $(seq 100); do grep -q "running script" "$disk_dir/first.log" && break; sleep 0.3; done
    "$vireo" run --kernel "$cloud" --initrd "$initrd" --disk "$img"
    local rc=$?
    kill "$first"
    wait "$first"
    return $rc
}
export -f disk_locked
check "disk: image in use by another VM => exit 1" 90 1 "+in use by another" -- bash -c disk_locked
truncate -s 16M "$disk_dir/twice.img"
check "disk: the same image given twice => exit 1, says so" 30 1 \
    "+disk 1 ($disk_dir/twice.img) is the same image as disk 0" "-in use by another" -- \
    "$vireo" run --kernel "$cloud" --disk "$disk_dir/twice.img" --disk "$disk_dir/twice.img,ro"

# 6. A qcow2 overlay on a qcow2 base (format=qcow2): the guest writes across
#    cluster boundaries over the base's data (copy-on-write from the backing
#    file), flushes (conv=fsync) and powers off; qemu-img check finds the
#    overlay clean, its contents (qemu-img convert -O raw) are the base's
#    with exactly the guest's bytes spliced in, and the base is unchanged.
disk_qcow2() {
    set -e
    local d=$disk_dir/qcow2 s=$disk_dir/qcow2.sh
    rm -rf "$d"
    mkdir -p "$d"
    truncate -s 64M "$d/base.raw"
    { yes vireo-base || true; } | head -c 8388608 | dd of="$d/base.raw" conv=notrunc status=none
    qemu-img convert -q -f raw -O qcow2 "$d/base.raw" "$d/base.qcow2"
    qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$d/top.qcow2"
    local base_md5; base_md5=$(md5sum <"$d/base.qcow2")
    # 1 MiB at 2 MiB + 4 KiB: partial clusters at both ends (64 KiB clusters).
    cat >"$s" <<'GUEST'
yes vireo-top | head -c 1048576 | dd of=/dev/vda bs=4k seek=513 conv=fsync 2>/dev/null && echo "vireo-guest: wrote vda"
echo 3 >/proc/sys/vm/drop_caches
echo "vireo-guest: readback $(dd if=/dev/vda bs=4k skip=513 count=256 2>/dev/null | md5sum | cut -d' ' -f1)"
GUEST
    run_guest "$s" --disk "$d/top.qcow2,format=qcow2"
    qemu-img check "$d/top.qcow2" && echo "host: qemu-img check clean"
    cp --sparse=always "$d/base.raw" "$d/want.raw"
    { yes vireo-top || true; } | head -c 1048576 | dd of="$d/want.raw" bs=4k seek=513 conv=notrunc status=none
    qemu-img convert -q -f qcow2 -O raw "$d/top.qcow2" "$d/got.raw"
    cmp "$d/want.raw" "$d/got.raw" && echo "host: overlay holds the base plus exactly the guest's write"
    [ "$(md5sum <"$d/base.qcow2")" = "$base_md5" ] && echo "host: base image unchanged"
    rm -f "$d"/*.raw
}
export -f disk_qcow2
qcow2_md5=$(pattern_md5 vireo-top 1048576)
check "disk: qcow2 overlay on a qcow2 base: write, flush, power off; qemu-img check clean, data read back" 150 0 \
    "+qcow2" "+vireo-guest: wrote vda" "+vireo-guest: readback $qcow2_md5" "+host: qemu-img check clean" \
    "+host: overlay holds the base plus exactly the guest's write" "+host: base image unchanged" -- bash -c disk_qcow2

# 7. Booting from a qcow2 disk (--boot disk): the compressed qcow2 of a boot
#    disk, under an overlay; the kernel, initrd and command line are found
#    through the block layer in the parser's sandbox as on a raw disk.
disk_qcow2_boot() {
    set -e
    local d=$disk_dir/qcow2boot
    rm -rf "$d"
    mkdir -p "$d"
    mk_boot_disk "$d/boot.raw" "menuentry 'Vireo qcow2' {
  linux /boot/vmlinuz $cmdline
  initrd /boot/initrd.img
}"
    qemu-img convert -q -c -f raw -O qcow2 "$d/boot.raw" "$d/base.qcow2"
    rm -f "$d/boot.raw"
    qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$d/top.qcow2"
    "$vireo" run --boot disk --disk "$d/top.qcow2,format=qcow2,ro" --memory 256M
}
export -f disk_qcow2_boot
check "disk: boot from a qcow2 overlay of a compressed qcow2 boot disk (--boot disk)" 120 0 \
    "+booting 'Vireo qcow2'" "+vireo-guest: nproc=1" -- bash -c disk_qcow2_boot
