# cases-systemd.sh: a real Debian guest with systemd, made by `vireo image
# bootstrap` (tests/integration/systemd-image.sh makes and caches it on the
# build machine; `make systemd-test` calls it before the test host starts), driven by
# `vireo create` with bootloader = "pygrub": multi-user.target, its static
# address on a bridge, sshd, the power button through systemd-logind, reboot,
# a clean file system afterwards; an xl.cfg written the Xen way; and bad
# disks through `vireo create`.  Sourced by suite.sh.  The lifecycle cases
# run in namespaces of their own (net_ns): the bridge xenbr0 the guest's
# config names exists there only, and the VMs die with the namespace.
# A systemd boot takes about a minute of emulated time here: the bounds are
# generous, and the test host needs --memory 3072 (`make systemd-test` gives it)
# for the image's copy in the scratch tmpfs.
sd_src=$(dirname "$vireo")/systemd-guest
sd_dir=$logs/systemd
sd_ip=169.254.77.2
mkdir -p "$sd_dir"
export sd_src sd_dir sd_ip

# sd_setup CASE: run and log folders of its own, a copy of the image (sparse,
# in the scratch tmpfs), the bridge xenbr0 with the host's address; any VM
# left is destroyed and the copy removed on exit.
sd_setup() {
    export VIREO_RUN_DIR=$sd_dir/$1/run VIREO_LOG_DIR=$sd_dir/$1/log
    sd_case=$sd_dir/$1
    rm -rf "$sd_case"
    mkdir -p "$sd_case"
    trap 'for n in $("$vireo" list 2>/dev/null | awk "NR > 1 { print \$1 }"); do "$vireo" destroy "$n"; done
          rm -f "$sd_case/disk.img"' EXIT
    trap 'exit 143' TERM INT
    [ -s "$sd_src/sg.img" ] || { echo "no $sd_src/sg.img: tests/integration/systemd-image.sh makes it"; return 1; }
    cp --sparse=always "$sd_src/sg.img" "$sd_case/disk.img"
    ip link add xenbr0 type bridge
    ip addr add 169.254.77.1/24 dev xenbr0
    ip link set xenbr0 up
}
# sd_markers FILE: how many times the guest said it reached multi-user.target.
sd_markers() { grep -c 'reached multi-user.target' "$1" 2>/dev/null || true; }
# sd_wait_marker FILE N SECONDS: until the serial file FILE holds N markers.
sd_wait_marker() {
    local t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$3" ]; do
        [ "$(sd_markers "$1")" -ge "$2" ] && { echo "(marker $2 after $((SECONDS - t0)) s)"; return 0; }
        sleep 1
    done
    echo "the console did not show marker $2 within $3 s; it ends with:"
    tail -n 30 "$1" | tr -d '\r' | sed 's/^/  > /'
    sd_vm_state
    return 1
}
# sd_vm_state: what the toolstack and the VM process say, for a failure's
# output: the VM list, each VM's log tail and its vCPUs' state.
sd_vm_state() {
    local f n
    "$vireo" list 2>&1 | sed 's/^/  list> /'
    for f in "$VIREO_LOG_DIR"/*; do
        [ -f "$f" ] || continue
        echo "  log $f:"
        tail -n 25 "$f" | sed 's/^/  log> /'
    done
    for n in $("$vireo" list 2>/dev/null | awk 'NR > 1 { print $1 }'); do
        timeout 10 "$vireo" list -l "$n" 2>&1 | head -n 60 | sed 's/^/  list -l> /'
    done
}
# sd_ping: until the guest answers (90 s at most), then three pings.
sd_ping() {
    local i
    for ((i = 0; i < 90; i++)); do busybox ping -c 1 -W 1 "$sd_ip" >/dev/null 2>&1 && break; done
    busybox ping -c 3 -W 5 "$sd_ip"
}
# sd_ssh_banner: the first line sshd sends on a TCP connection to port 22.
sd_ssh_banner() {
    timeout 30 bash -c 'exec 3<>"/dev/tcp/$1/22" && head -c 40 <&3' sd "$sd_ip" 2>&1 | tr -d '\r' | head -n1
}
# sd_fsck IMG: e2fsck -fn of partition 1's file system (read-only check).
sd_fsck() {
    local start
    start=$(sgdisk -i 1 "$1" | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
    e2fsck -fn "$1?offset=$((start * 512))"
}
# sd_cfg CFG: the NAME.cfg that vireo image bootstrap wrote, pointed at this
# case's copy; the console to a file; the guest kernel's speed-ups for the
# emulated test host (as in $cmdline) as pygrub's `extra`.
sd_cfg() {
    sed -e "s|target=[^']*'|target=$sd_case/disk.img'|" "$sd_src/sg.cfg"
    echo 'extra = "no_timer_check tsc=reliable lpj=5000000"'
    echo "serial = \"file:$sd_case/console\""
}
export -f sd_setup sd_markers sd_wait_marker sd_vm_state sd_ping sd_ssh_banner sd_fsck sd_cfg

# 1. The guest as vireo image bootstrap made it: boot from its disk to
#    multi-user.target, ping, sshd; reboot -w; shutdown -w through
#    systemd-logind; the file system clean afterwards.
sd_lifecycle() {
    set -e
    sd_setup life
    sd_cfg >"$sd_case/sg.cfg"
    grep -q '^bootloader = "pygrub"' "$sd_case/sg.cfg" && echo "cfg: bootloader = \"pygrub\""
    "$vireo" create "$sd_case/sg.cfg" 2>&1 | tee "$sd_case/create.out"
    sd_wait_marker "$sd_case/console" 1 420 && echo "boot: multi-user.target reached"
    grep -q "booting 'Debian GNU/Linux' ((hd0,gpt1)/boot/grub/grub.cfg)" "$sd_case/create.out" &&
        echo "boot: the entry of the disk's grub.cfg"
    sd_ping && echo "net: the guest answers ping on xenbr0"
    banner=$(sd_ssh_banner)
    echo "ssh banner: $banner"
    [[ $banner == SSH-2.0-OpenSSH* ]] && echo "ssh: sshd accepted a connection on port 22"
    "$vireo" reboot -w -t 300 sg && echo "reboot -w: the guest went down"
    sd_wait_marker "$sd_case/console" 2 420 && echo "reboot: multi-user.target again"
    sd_ping >/dev/null && echo "net: answers again after the reboot"
    # The power button (ACPI) is handled in this image by systemd-logind
    # alone (no acpid): a guest that powers itself off through the kernel's
    # "reboot: Power down" after it was pressed went through logind and
    # systemd's shutdown.  (logind's own "Power key pressed" goes to the
    # journal, not to the console.)
    local t0=$SECONDS downs
    downs=$(tr -d '\r' <"$sd_case/console" | grep -c "reboot: Power down" || true)
    "$vireo" shutdown -w -t 300 sg && echo "shutdown -w: off in $((SECONDS - t0)) s"
    [ "$(tr -d '\r' <"$sd_case/console" | grep -c "reboot: Power down")" -gt "$downs" ] &&
        echo "power button: the guest's systemd powered it off"
    [ "$("$vireo" list | wc -l)" = 1 ] && echo "list: sg is gone"
    sd_fsck "$sd_case/disk.img" && echo "e2fsck -fn: clean"
}
export -f sd_lifecycle
check "systemd: bootstrap image, pygrub boot, ping, sshd, reboot -w, shutdown -w, e2fsck" 1500 0 \
    "+cfg: bootloader" "+boot: multi-user.target reached" "+boot: the entry of the disk's grub.cfg" \
    "+net: the guest answers ping" "+ssh: sshd accepted" "+reboot -w: the guest went down" \
    "+reboot: multi-user.target again" "+net: answers again" "+shutdown -w: off in" \
    "+power button: the guest's systemd powered it off" "+list: sg is gone" "+e2fsck -fn: clean" -- bash -c 'net_ns sd_lifecycle'

# 2. An xl.cfg as Xen users write it: a file: disk as xvda, root= naming
#    xvda1 (vireo makes it vda1), a vif on xenbr0, pygrub by its path, the
#    console on hvc0.
sd_xen_cfg() {
    set -e
    sd_setup xen
    cat >"$sd_case/xen.cfg" <<CFG
name       = "debian-xen"
memory     = 512
vcpus      = 2
bootloader = "/usr/lib/xen/bin/pygrub"
disk       = ['file:$sd_case/disk.img,xvda,w']
root       = "/dev/xvda1 ro"
extra      = "no_timer_check tsc=reliable lpj=5000000 loglevel=6 console=hvc0"
vif        = ['bridge=xenbr0']
serial     = "file:$sd_case/console"
on_reboot  = "restart"
CFG
    "$vireo" create "$sd_case/xen.cfg"
    "$vireo" list -l debian-xen | grep -o 'root=/dev/vda1 ro[^"]*' | head -n1
    sd_wait_marker "$sd_case/console" 1 420 && echo "boot: multi-user.target reached"
    tr -d '\r' <"$sd_case/console" | grep -o 'Kernel command line: .*' | head -n1
    tr -d '\r' <"$sd_case/console" | grep -q 'Kernel command line: .*root=/dev/vda1 ro' &&
        echo "cmdline: root=/dev/xvda1 became /dev/vda1"
    sd_ping >/dev/null && echo "net: the guest answers ping on xenbr0"
    # console=hvc0, Xen's PV console: systemd's getty generator starts a
    # login on hvc0, whose banner names it; only the virtio console can
    # carry that line (the UART is ttyS0).
    local i
    for ((i = 0; i < 60; i++)); do
        tr -d '\r' <"$sd_case/console" | grep -q 'Debian GNU/Linux 12 .* hvc0' && break
        sleep 1
    done
    tr -d '\r' <"$sd_case/console" | grep -q 'Debian GNU/Linux 12 .* hvc0' &&
        echo "console: a login prompt on hvc0 (the virtio console)"
    "$vireo" shutdown -w -t 300 debian-xen && echo "shutdown -w: off"
    sd_fsck "$sd_case/disk.img" && echo "e2fsck -fn: clean"
}
export -f sd_xen_cfg
check "systemd: an xl.cfg written the Xen way (file:, xvda, root=/dev/xvda1, xenbr0) boots" 900 0 \
    "+boot: multi-user.target reached" "+cmdline: root=/dev/xvda1 became /dev/vda1" "+net: the guest answers ping" \
    "+console: a login prompt on hvc0" "+shutdown -w: off" "+e2fsck -fn: clean" -- bash -c 'net_ns sd_xen_cfg'

# 3. Bad disks through `vireo create` (bootloader = "pygrub"): each refused
#    with the reason, exit 1, in bounded time, nothing left running.  The
#    disks are the boot finder's unit-test images (tests/unit/bootloader/
#    mkimage.sh); here the whole path is tested: the config, the sandboxed
#    reader, the VM process's answer to `create`.
sd_bad() {
    set -e
    export VIREO_RUN_DIR=$sd_dir/bad-$1/run VIREO_LOG_DIR=$sd_dir/bad-$1/log
    local d=$sd_dir/bad-$1 rc=0 t0=$SECONDS
    rm -rf "$d"
    mkdir -p "$d"
    trap 'rm -f "$d/disk.img"' EXIT
    "$sd_repo/tests/unit/bootloader/mkimage.sh" "$1" "$d/disk.img"
    printf 'name = "bad"\nbootloader = "pygrub"\ndisk = [%s]\n' "'$d/disk.img,raw,xvda,rw'" >"$d/bad.cfg"
    "$vireo" create "$d/bad.cfg" || rc=$?
    echo "create: exit $rc after $((SECONDS - t0)) s"
    [ "$("$vireo" list | wc -l)" = 1 ] && echo "list: nothing running"
}
export -f sd_bad
sd_repo=$(cd "$here/../.." && pwd)
export sd_repo
check "systemd: bad disk: grub.cfg names a missing kernel" 120 0 "+create: exit 1" "+list: nothing running" \
    "+linux: (hd0,msdos1)/boot/vmlinuz-6.1.0-18-amd64 does not exist" -- bash -c 'sd_bad mbr-debian-missing-kernel'
check "systemd: bad disk: a grub.cfg of 100 MB" 120 0 "+create: exit 1" "+list: nothing running" \
    "+grub.cfg is 104857600 bytes; at most 1048576 are read" -- bash -c 'sd_bad mbr-debian-big-cfg'
check "systemd: bad disk: a source loop in grub.cfg" 120 0 "+create: exit 1" "+list: nothing running" \
    "+source/configfile nested more than 8 deep" -- bash -c 'sd_bad mbr-debian-source-loop'
check "systemd: bad disk: GPT partitions past the end of the disk" 120 0 "+create: exit 1" "+list: nothing running" \
    "+was made for a larger disk" -- bash -c 'sd_bad gpt-truncated'
check "systemd: bad disk: ext4 with a broken superblock" 120 0 "+create: exit 1" "+list: nothing running" \
    "+The ext2 superblock is corrupt" -- bash -c 'sd_bad mbr-debian-broken-sb'
