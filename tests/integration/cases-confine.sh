# cases-confine.sh: the confinement of a VM process (ARCHITECTURE.md,
# "Confinement and the threat model"): who it runs as, its capabilities,
# its filters, jail and cgroup, and what a forbidden call does.  Sourced by
# suite.sh.

boot=${boot:-90}   # generous: the guest runs under nested emulation
export logs   # the cases below are functions run in a bash of their own
# Confinement (ARCHITECTURE.md, "Confinement"): started as root with no
# --user, the VM process runs as the 'vireo' user with no capability in
# any set, no new privileges, a seccomp filter on every one of its threads,
# an empty root in a mount namespace of its own and a cgroup leaf; the
# guest still boots with two disks (io_uring and aio=threads), and SIGTERM
# still stops it cleanly.
boot_confined() {
    set -e
    out=$logs/confined.out   # not local: the EXIT trap prints it
    local img=$logs/confined.img st t n=0 f=0 rc=0
    truncate -s 16M "$img" "$img.2"
    "$vireo" run --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline vireo.action=wait" --memory 256M \
        --vcpus 2 --disk "$img" --disk "$img.2,aio=threads" </dev/null >"$out" 2>&1 &
    local pid=$!
    trap 'kill -KILL $pid 2>/dev/null || true; cat "$out"' EXIT
    for ((t = 0; t < 240; t++)); do
        grep -q "vireo-guest: init started" "$out" && break
        sleep 1
    done
    st=/proc/$pid/status
    grep -E '^(Uid|Gid|Cap[A-Za-z]*|NoNewPrivs|Seccomp):' "$st"
    awk -v u="$(id -u vireo)" '$1 == "Uid:" && $2 == u && $3 == u && $4 == u && $5 == u' "$st" | grep -q . &&
        echo "confined: runs as user vireo"
    [ "$(grep -Ec '^Cap(Inh|Prm|Eff|Bnd|Amb):[[:space:]]*0+$' "$st")" = 5 ] && echo "confined: no capabilities"
    grep -Eq '^NoNewPrivs:[[:space:]]*1$' "$st" && echo "confined: no new privileges"
    for t in /proc/$pid/task/*; do
        n=$((n + 1))
        grep -Eq '^Seccomp:[[:space:]]*2$' "$t/status" || { f=$((f + 1)); echo "unfiltered: $(cat "$t/comm")"; }
    done
    [ $f = 0 ] && [ $n -ge 4 ] && echo "confined: all $n threads filtered"
    [ "$(readlink /proc/$pid/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] && [ -z "$(ls -A /proc/$pid/root/)" ] &&
        echo "confined: own mount namespace, empty root"
    grep -q '/vireo.slice/run-' /proc/$pid/cgroup && echo "confined: in its cgroup leaf"
    kill -TERM $pid
    wait $pid || rc=$?
    echo "rc=$rc"
}
export -f boot_confined
check "confined VM: user vireo, no capabilities, seccomp on every thread, jail, cgroup" $((boot * 3)) 0 \
    "+confined: runs as user vireo" "+confined: no capabilities" "+confined: no new privileges" \
    "+confined: all" "+confined: own mount namespace, empty root" "+confined: in its cgroup leaf" \
    "+vireo-guest: init started" "+rc=143" "-unfiltered:" "-seccomp: the" -- bash -c boot_confined
# A forbidden system call (the test hook makes the chosen kind of thread
# call socket() as soon as its filter is on) kills the VM with a line that
# names the thread and the call; --seccomp=off lets the same VM run.  The
# hook is compiled into the ASan build only (-Dtest_hooks=true, Makefile),
# never into the build that is installed.
truncate -s 16M "$logs/sigsys.img"
for kind in main:main vcpu:vCPU io:I/O aio:"aio worker"; do
    check "seccomp: a forbidden call on a ${kind#*:} thread => SIGSYS, named" $((boot * 2)) 159 \
        "+vireo: seccomp: the ${kind#*:} thread" "+made the system call socket (41)" -- \
        env VIREO_TEST_SECCOMP_VIOLATE="${kind%%:*}" "$vireo_asan" run --kernel "$cloud" --initrd "$initrd" \
        --cmdline "$cmdline" --memory 256M --disk "$logs/sigsys.img,aio=threads"
done
check "--seccomp=off: the same forbidden call is let through, the guest runs" $((boot * 2)) 0 "+seccomp off" \
    "+vireo-guest: acpi=yes" "-vireo: seccomp: the" -- env VIREO_TEST_SECCOMP_VIOLATE=vcpu \
    "$vireo_asan" run --seccomp=off --kernel "$cloud" --initrd "$initrd" --cmdline "$cmdline" --memory 256M

# The toolstack's VM process confines itself the same way, and stays
# usable: the control socket (list, console, shutdown) still admits its
# creator; a user that does not exist stops `create` with exit 1, nothing
# started.
confine_toolstack() {
    set -e
    local d=$logs/confine-ts t n=0 f=0
    rm -rf "$d"
    mkdir -p "$d"
    export VIREO_RUN_DIR=$d/run VIREO_LOG_DIR=$d/log
    trap '"$vireo" destroy cvm 2>/dev/null || true' EXIT
    printf '%s\n' 'name = "cvm"' "kernel = \"$cloud\"" "ramdisk = \"$initrd\"" \
        "cmdline = \"$cmdline vireo.action=wait\"" 'vcpus = 2' >"$d/cvm.cfg"
    "$vireo" create "$d/cvm.cfg"
    local pid; pid=$(awk "{ print \$1; exit }" "$VIREO_RUN_DIR/cvm/pid")
    for ((t = 0; t < 240; t++)); do
        timeout 1 "$vireo" console cvm </dev/null 2>&1 | grep -q "waiting for the power button" && break
    done
    [ $t -lt 240 ] && echo "console: the guest waits for the power button"
    awk -v u="$(id -u vireo)" '$1 == "Uid:" && $2 == u && $3 == u' /proc/$pid/status | grep -q . &&
        echo "toolstack VM: runs as user vireo"
    grep -Eq '^CapEff:[[:space:]]*0+$' /proc/$pid/status && echo "toolstack VM: no capabilities"
    for t in /proc/$pid/task/*; do
        n=$((n + 1))
        grep -Eq '^Seccomp:[[:space:]]*2$' "$t/status" || { f=$((f + 1)); echo "unfiltered: $(cat "$t/comm")"; }
    done
    [ $f = 0 ] && echo "toolstack VM: all $n threads filtered"
    grep -q '/vireo.slice/vm-cvm$' /proc/$pid/cgroup && echo "toolstack VM: in vireo.slice/vm-cvm"
    "$vireo" list | awk '$1 == "cvm" && $4 == 2' | grep -q . && echo "list: cvm answers"
    "$vireo" shutdown -w -t 60 cvm && echo "shutdown -w: cvm stopped"
    grep -h "confined:\|guest powered off" "$VIREO_LOG_DIR/cvm.log"
    sed 's/^name = "cvm"/name = "nouser"/' "$d/cvm.cfg" >"$d/nouser.cfg"
    echo 'user = "no-such-user-x"' >>"$d/nouser.cfg"
    local rc=0
    "$vireo" create "$d/nouser.cfg" >"$d/nouser.out" 2>&1 || rc=$?
    cat "$d/nouser.out"
    [ $rc = 1 ] && grep -q "no-such-user-x" "$d/nouser.out" && echo "unknown user: exit 1, named"
    [ "$("$vireo" list | wc -l)" = 1 ] && echo "list: nothing left"
}
export -f confine_toolstack
check "toolstack VM process: confined, control socket still works; unknown user => exit 1" $((boot * 5)) 0 \
    "+toolstack VM: runs as user vireo" "+toolstack VM: no capabilities" "+toolstack VM: all" \
    "+toolstack VM: in vireo.slice/vm-cvm" "+list: cvm answers" "+shutdown -w: cvm stopped" \
    "+confined: cgroup" "+guest powered off" "+unknown user: exit 1, named" "+list: nothing left" \
    "-unfiltered:" "-seccomp: the" -- bash -c confine_toolstack
