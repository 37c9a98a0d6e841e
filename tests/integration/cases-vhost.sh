# cases-vhost.sh: `vireo disk serve` as a vhost-user-blk back-end with QEMU
# as the real front-end: a Linux guest in QEMU (KVM) writes and reads the
# exported image.  Sourced by suite.sh.

vu_dir=$logs/vhost
mkdir -p "$vu_dir"
export vu_dir

# vhost_qemu MEMORY-BACKEND: QEMU's guest RAM is that -object (id=mem).
vhost_qemu() {
    set -e
    local mem=$1 img=$vu_dir/vu.img sock=$vu_dir/vu.sock s=$vu_dir/vu.sh
    rm -f "$img"
    truncate -s 64M "$img"
    "$vireo" disk serve --socket "$sock" --queues 2 "$img" >"$vu_dir/serve.log" 2>&1 &
    local srv=$!
    for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
    cat >"$s" <<'EOF'
echo "vireo-guest: vda sectors=$(cat /sys/block/vda/size) queues=$(ls /sys/block/vda/mq | wc -l)"
yes vireo-vu | head -c 4194304 | dd of=/dev/vda bs=64k seek=32 conv=fsync 2>/dev/null && echo "vireo-guest: wrote vda"
echo 3 >/proc/sys/vm/drop_caches
echo "vireo-guest: readback $(dd if=/dev/vda bs=64k skip=32 count=64 2>/dev/null | md5sum | cut -d' ' -f1)"
EOF
    qemu-system-x86_64 -enable-kvm -cpu host -m 256M -smp 2 -nographic -no-reboot -nic none \
        -bios /usr/share/qemu/qboot.rom \
        -object "$mem" -numa node,memdev=mem \
        -chardev socket,id=vu,path="$sock" -device vhost-user-blk-pci,chardev=vu,num-queues=2 \
        -kernel "$cloud" -initrd "$initrd" \
        -append "$cmdline vireo.action=script vireo.script=$(gzip -9c <"$s" | base64 -w0)" </dev/null
    kill -TERM "$srv"
    local rc=0
    wait "$srv" || rc=$?
    cat "$vu_dir/serve.log"
    echo "serve exit=$rc"
    [ "$(dd if="$img" bs=64k skip=32 count=64 2>/dev/null | md5sum | cut -d' ' -f1)" = "$(pattern_md5 vireo-vu 4194304)" ] &&
        echo "host: image bytes match"
    [ ! -e "$sock" ] && echo "host: socket removed"
}
export -f vhost_qemu
vu_md5=$(pattern_md5 vireo-vu 4194304)
check "vhost-user: QEMU (vhost-user-blk-pci, 2 queues) writes and reads through vireo disk serve" 150 0 \
    "+vireo-guest: vda sectors=131072 queues=2" "+vireo-guest: wrote vda" "+vireo-guest: readback $vu_md5" \
    "+host: image bytes match" "+serve exit=0" "+stopping on signal 15" "+host: socket removed" -- \
    bash -c 'vhost_qemu "$1"' _ memory-backend-memfd,id=mem,size=256M,share=on
# A front-end whose memory cannot be sealed against shrinking (a plain file
# on tmpfs or hugetlbfs) is served too: the back-end survives a shrink by
# other means (ARCHITECTURE.md, the vhost-user back-end).
check "vhost-user: QEMU with its RAM in a tmpfs file (memory-backend-file, unsealed)" 150 0 \
    "+vireo-guest: wrote vda" "+vireo-guest: readback $vu_md5" "+host: image bytes match" "+serve exit=0" -- \
    bash -c 'vhost_qemu "$1"' _ "memory-backend-file,id=mem,size=256M,share=on,mem-path=$vu_dir/guest-ram"

check "vhost-user: disk serve without --socket => usage error" 30 2 "+--socket PATH is required" -- \
    "$vireo" disk serve "$vu_dir/vu.img"
check "vhost-user: disk serve on a missing image => exit 1" 30 1 "+$vu_dir/missing.img" -- \
    "$vireo" disk serve --socket "$vu_dir/x.sock" "$vu_dir/missing.img"
