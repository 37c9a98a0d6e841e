# cases-boot.sh: booting, power states, console, and errors before start.
# Sourced by suite.sh.

boot=90   # generous: the guest runs under nested emulation
# Both ways in: --boot-protocol pvh enters the kernel at its PVH entry,
# from the bzImage's payload decompressed on the host (the cloud kernel's
# is lz4, the generic one's xz), and Linux then stamps the loader type it
# gives a PVH entry outside Xen (0xb0, QEMU's) into its boot_params;
# --boot-protocol linux keeps the bzImage's own entry and Vireo's loader
# type (0xff).  The default (auto) takes PVH for the xz kernel only.
check "boot generic kernel (xz), the default: PVH" $boot 0 "+vireo-guest: loader=b0" -- \
    "$vireo" run --kernel "$generic" --initrd "$initrd" --cmdline "$cmdline" --memory 256M
check "boot cloud kernel (lz4), the default: the bzImage entry" $boot 0 "+vireo-guest: loader=ff" -- \
    "$vireo" run --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline" --memory 256M
for k in cloud generic; do
    kernel=$cloud
    [ $k = generic ] && kernel=$generic
    for v in 1 2; do
        check "boot $k kernel, $v vcpu(s), --boot-protocol pvh" $boot 0 \
            "+vireo-guest: nproc=$v" "+vireo-guest: acpi=yes" "+vireo-guest: loader=b0" -- \
            "$vireo" run --boot-protocol pvh --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" \
            --memory 256M --vcpus $v
        check "boot $k kernel, $v vcpu(s), --boot-protocol linux" $boot 0 \
            "+vireo-guest: nproc=$v" "+vireo-guest: acpi=yes" "+vireo-guest: loader=ff" -- \
            "$vireo" run --boot-protocol linux --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" \
            --memory 256M --vcpus $v
    done
done
# The kernel sees the same machine either way: memory map, ACPI tables,
# PCI functions, command line and CPUs, as the guest's init reports them.
for k in cloud generic; do
    kernel=$cloud
    [ $k = generic ] && kernel=$generic
    check "$k kernel: PVH and the bzImage entry show the guest the same machine" $((boot * 2)) 0 "+same machine" -- \
        sh -c 'for p in pvh linux; do
                   "$@" --boot-protocol $p >"$0.$p" 2>&1 || { echo "$p: exit $?"; cat "$0.$p"; exit 99; }
                   grep -E "^vireo-guest: (e820|acpi_tables|pci|cmdline|nproc|acpi)=" "$0.$p" | tr -d "\r" >"$0.$p.machine"
               done
               cat "$0.pvh.machine"
               [ $(wc -l <"$0.pvh.machine") -eq 6 ] || { echo "expected 6 lines"; exit 99; }
               diff "$0.pvh.machine" "$0.linux.machine" && echo "same machine"' "$logs/same-machine-$k" \
        "$vireo" run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" --memory 512M --vcpus 2
done
# A plain vmlinux with --kernel: the generic bzImage's payload, unpacked
# with xz(1) rather than by Vireo, so the two decompressors check each other.
vmlinux=$logs/vmlinux-generic
setup=$(( ($(od -An -tu1 -j497 -N1 "$generic") + 1) * 512 ))
poff=$(od -An -tu4 -j584 -N4 "$generic")
plen=$(od -An -tu4 -j588 -N4 "$generic")
dd if="$generic" iflag=skip_bytes,count_bytes skip=$((setup + poff)) count=$((plen - 4)) bs=1M status=none |
    xz -dc >"$vmlinux" || true
for v in 1 2; do
    check "boot a plain vmlinux (ELF) given with --kernel, $v vcpu(s)" $boot 0 \
        "+vireo-guest: nproc=$v" "+vireo-guest: acpi=yes" "+vireo-guest: loader=b0" -- \
        "$vireo" run --kernel "$vmlinux" --initrd "$initrd" --cmdline "$cmdline" --memory 256M --vcpus $v
done
check "ASan/UBSan build boots a vmlinux through PVH, 2 vcpus" $((boot * 2)) 0 \
    "+vireo-guest: nproc=2" "+vireo-guest: loader=b0" "-ERROR: AddressSanitizer" "-runtime error:" -- \
    "$vireo_asan" run --kernel "$vmlinux" --initrd "$initrd" --cmdline "$cmdline" --memory 256M --vcpus 2
check "vmlinux with --boot-protocol linux => exit 1" 30 1 "+boots only through PVH" -- \
    "$vireo" run --boot-protocol linux --kernel "$vmlinux" --initrd "$initrd" --memory 256M
head -c 3000000 "$vmlinux" >"$logs/truncated-vmlinux"
check "truncated vmlinux => exit 1 before the guest starts" 30 1 "+truncated ELF kernel" "-guest crashed" -- \
    "$vireo" run --kernel "$logs/truncated-vmlinux" --initrd "$initrd" --memory 256M
check "vmlinux too large for --memory => exit 1" 30 1 "+memory too small for kernel+initrd" -- \
    "$vireo" run --kernel "$vmlinux" --initrd "$initrd" --memory 32M
# A cache entry cut short (a full disk, a crash mid-write) is found out and
# written again, and the guest still boots through PVH.
check "corrupt kernel cache entry: rebuilt, boots through PVH" $boot 0 "+is corrupt or incomplete; rebuilding" \
    "+vireo-guest: loader=b0" -- \
    sh -c '"$@" --setup-only >/dev/null 2>&1
           ls "$XDG_CACHE_HOME"/vireo/kernels/*.vmlinux >/dev/null || { echo "no cache entry"; exit 99; }
           for f in "$XDG_CACHE_HOME"/vireo/kernels/*.vmlinux; do truncate -s 1000000 "$f"; done
           exec "$@"' sh "$vireo" run --boot-protocol pvh --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline" \
    --memory 256M
# RAM above the 3 GiB PCI hole continues at 4 GiB: the guest must see
# nearly all of 4 GiB (the kernel keeps a few tens of MiB for itself).
check "boot cloud kernel with 4G (RAM above the PCI hole)" $boot 0 "+vireo-guest: acpi=yes" -- \
    sh -c '"$@" >"$0" 2>&1; rc=$?; cat "$0"
           kb=$(sed -n "s/^vireo-guest: memtotal_kb=\([0-9]*\).*/\1/p" "$0" | tr -d "\r")
           [ "${kb:-0}" -gt 3900000 ] || { echo "memtotal ${kb:-none} kB is too small for 4G"; exit 99; }
           exit $rc' "$logs/4g.out" \
    "$vireo" run --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline" --memory 4G
check "serial console input reaches the guest" $boot 0 "+console-input: guest answered" \
    "+guest powered off" -- \
    "$here/console-input.sh" "$vireo" "$cloud" "$initrd" "$cmdline"
# console=hvc0, as an xl.cfg's extra often says: the VM offers a virtio
# console, the guest's output (only the virtio console is a console here)
# and the typed input go through it.
check "virtio console (console=hvc0): output and input" $boot 0 "+vireo-guest: console on hvc0" \
    "+console-input: guest answered" "+guest powered off" -- \
    "$here/console-input.sh" "$vireo" "$cloud" "$initrd" "${cmdline/console=ttyS0/console=hvc0}"
# A console reader that goes away (`| head`) must not take the VM down.
check "closed stdout does not kill the VM" $boot 0 "+rc=0" -- \
    bash -c '"$@" 2>/dev/null | head -c 16 >/dev/null; echo "rc=${PIPESTATUS[0]}"' sh \
    "$vireo" run --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline"
check "guest reboot => exit 3" $boot 3 "+vireo-guest: rebooting" -- \
    "$vireo" run --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline vireo.action=reboot" --memory 256M
check "guest crash (triple fault) => exit 4, registers logged" $boot 4 "+vireo-guest: crashing" "+vCPU 0 at the crash: rip=0x" -- \
    "$vireo" run --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline vireo.action=crash panic=-1 reboot=t" --memory 256M
# LeakSanitizer's check at exit cannot run under the seccomp filters (its
# ptrace tracer is a forbidden call; confine/seccomp.c then turns it off):
# this case turns the filters off to look for leaks; the other ASan cases
# keep them on, so the filters hold under the sanitizers' runtime too.
check "ASan/UBSan build boots cloud kernel, 2 vcpus (seccomp off: leak check)" $((boot * 2)) 0 \
    "+vireo-guest: nproc=2" "+seccomp off" "-ERROR: AddressSanitizer" "-runtime error:" "-ERROR: LeakSanitizer" -- \
    "$vireo_asan" run --seccomp=off --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline" --memory 256M --vcpus 2
# Booting from the disk (pygrub's role): grub.cfg's default entry on an MBR
# disk's ext4 partition; --cmdline is added after the entry's command line.
bootdisk=$logs/bootdisk.img
mk_boot_disk "$bootdisk" "load_env
set default=\"\${saved_entry}\"
menuentry 'Vireo one' --id one {
  linux /boot/vmlinuz $cmdline vireo.action=reboot
  initrd /boot/initrd.img
}
menuentry 'Vireo two' --id two {
  search --no-floppy --label nosuchlabel --set=root
  linux (\$root)/boot/vmlinuz $cmdline
  initrd /boot/initrd.img
}"
set_saved_entry "$bootdisk" two
truncate -s 1M "$logs/blank.img"
check "boot from the disk: grub.cfg's saved entry, kernel and initrd read from ext4" $boot 0 \
    "+vireo: disk 0: booting 'Vireo two' ((hd0,msdos1)/boot/grub/grub.cfg)" "+vireo-guest: nproc=1" \
    "+vireo-guest: acpi=yes" -- "$vireo" run --boot disk --disk "$bootdisk,ro" --memory 256M
check "boot from the disk: --cmdline is added after the entry's" $boot 3 "+booting 'Vireo two'" \
    "+vireo-guest: rebooting" -- "$vireo" run --boot disk=1 --disk "$logs/blank.img" --disk "$bootdisk,ro" \
    --cmdline "vireo.action=reboot" --memory 256M
check "ASan/UBSan build boots from the disk (the parser's sandbox under sanitizers)" $((boot * 2)) 0 \
    "+booting 'Vireo two'" "+vireo-guest: nproc=1" "-ERROR: AddressSanitizer" "-runtime error:" \
    "-ERROR: LeakSanitizer" -- "$vireo_asan" run --boot disk --disk "$bootdisk,ro" --memory 256M
xfsdisk=$logs/xfs.img
truncate -s 64M "$xfsdisk"
printf 'label: dos\nstart=2048, size=98304, type=83\n' | PATH=$PATH:/usr/sbin sfdisk -q "$xfsdisk" >/dev/null
printf 'XFSB' | dd of="$xfsdisk" bs=1 seek=1048576 conv=notrunc status=none
check "boot from an XFS disk => exit 1, names the file system" 30 1 "+partition 1 holds xfs, which vireo cannot read" \
    "+vireo reads ext2, ext3 and ext4" -- "$vireo" run --boot disk --disk "$xfsdisk,ro" --memory 256M
missing=$logs/no-such-kernel
check "missing kernel file => exit 1, names it" 30 1 "+$missing" -- \
    "$vireo" run --kernel "$missing" --memory 256M
check "non-bzImage kernel => exit 1" 30 1 "+bzImage" -- \
    "$vireo" run --kernel /bin/true --memory 256M
# A kernel cut short (an interrupted download) is refused before /dev/kvm,
# not booted into a guest that crashes.
head -c 4000000 "$cloud" >"$logs/truncated-kernel"
check "truncated kernel => exit 1 before the guest starts" 30 1 "+truncated bzImage" "-guest crashed" -- \
    "$vireo" run --kernel "$logs/truncated-kernel" --initrd "$initrd" --cmdline "$cmdline" --memory 256M
check "--memory 16M => exit 1, too small" 30 1 "+too small" -- \
    "$vireo" run --kernel "$cloud" --initrd "$initrd" --memory 16M
check "--vcpus 0 => usage error, exit 2" 30 2 -- \
    "$vireo" run --kernel "$cloud" --initrd "$initrd" --vcpus 0
# /dev/kvm problems, reported before anything starts.  A private mount
# namespace with an empty /dev stands for a host without KVM; user nobody
# cannot open the test host's /dev/kvm (devtmpfs gives it mode 0600).
check "no /dev/kvm => exit 1, says so" 30 1 "+no /dev/kvm" -- \
    unshare -m sh -c 'mount -t tmpfs none /dev && exec "$@"' sh \
    "$vireo" run --kernel "$cloud" --initrd "$initrd"
# Copies in the scratch tmpfs, so the checkout's own permissions (a clone
# under a 0700 directory) cannot be what stops user nobody.
nobody=$logs/nobody
mkdir -p "$nobody" && chmod 755 "$nobody"
install -m 755 "$vireo" "$nobody/vireo"
install -m 644 "$cloud" "$nobody/kernel"
check "no permission on /dev/kvm => exit 1, says so" 30 1 "+no permission to open /dev/kvm" -- \
    setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$nobody/vireo" run --kernel "$nobody/kernel"

# Guest RAM from 2 MiB huge pages (--memory SIZE,hugepages=on): refused
# with the knob to turn while the test host has none reserved, then booted
# once it has (the test host is the machine to change /proc/sys/vm/ on).
if [ -w /proc/sys/vm/nr_hugepages ]; then
    echo 0 >/proc/sys/vm/nr_hugepages
    check "hugepages=on without huge pages reserved => exit 1, names nr_hugepages" 30 1 \
        "+the VM needs 128 huge pages of 2 MiB, the host has 0 free" "+/proc/sys/vm/nr_hugepages" -- \
        "$vireo" run --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline" --memory 256M,hugepages=on
    echo 200 >/proc/sys/vm/nr_hugepages
    check "boot cloud kernel on 2 MiB huge pages, 2 vcpus" $boot 0 "+vireo-guest: nproc=2" "+vireo-guest: acpi=yes" -- \
        "$vireo" run --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline" --memory 256M,hugepages=on --vcpus 2
    check "huge pages and the balloon's free-page reporting (ASan/UBSan build)" $((boot * 2)) 0 \
        "+vireo-guest: nproc=1" "-ERROR: AddressSanitizer" "-runtime error:" -- \
        "$vireo_asan" run --balloon --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline" \
        --memory 256M,hugepages=on
    check "huge pages: allocation and discarding at 2 MiB granularity" 30 0 "+PASSED  ] 1 test" -- \
        "$(dirname "$vireo")/tests/unit/test_memmap_huge" discard
    # The pages must be back once the VMs are gone.
    check "huge pages: all free again after the VMs" 30 0 "+free=200" -- \
        sh -c 'echo free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)'
    echo 0 >/proc/sys/vm/nr_hugepages
fi
