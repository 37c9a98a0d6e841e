# cases-boot.sh: booting, power states, console, and errors before start.
# Sourced by suite.sh.

boot=90   # generous: the guest runs under nested emulation
for k in cloud generic; do
    kernel=$cloud
    [ $k = generic ] && kernel=$generic
    for v in 1 2; do
        check "boot $k kernel, $v vcpu(s)" $boot 0 \
            "+vireo-guest: nproc=$v" "+vireo-guest: acpi=yes" -- \
            "$vireo" run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" --memory 256M --vcpus $v
    done
done
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
# A console reader that goes away (`| head`) must not take the VM down.
check "closed stdout does not kill the VM" $boot 0 "+rc=0" -- \
    bash -c '"$@" 2>/dev/null | head -c 16 >/dev/null; echo "rc=${PIPESTATUS[0]}"' sh \
    "$vireo" run --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline"
check "guest reboot => exit 3" $boot 3 "+vireo-guest: rebooting" -- \
    "$vireo" run --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline vireo.action=reboot" --memory 256M
check "guest crash (triple fault) => exit 4" $boot 4 "+vireo-guest: crashing" -- \
    "$vireo" run --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline vireo.action=crash panic=-1 reboot=t" --memory 256M
check "ASan/UBSan build boots cloud kernel, 2 vcpus" $((boot * 2)) 0 \
    "+vireo-guest: nproc=2" "-ERROR: AddressSanitizer" "-runtime error:" "-ERROR: LeakSanitizer" -- \
    "$vireo_asan" run --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline" --memory 256M --vcpus 2
missing=$logs/no-such-kernel
check "missing kernel file => exit 1, names it" 30 1 "+$missing" -- \
    "$vireo" run --kernel "$missing" --memory 256M
check "non-bzImage kernel => exit 1" 30 1 "+bzImage" -- \
    "$vireo" run --kernel /bin/true --memory 256M
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

