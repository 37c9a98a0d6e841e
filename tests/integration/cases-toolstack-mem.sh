# cases-toolstack-mem.sh: memory, maxmem, mem-set and mem-max (issue 19)
# end to end, with the test guest's virtio_balloon driver; sourced by
# cases-toolstack.sh (the toolstack suite).
# ts_wait_field NAME KEY VALUE SECONDS: until `list -l` shows KEY = VALUE.
ts_wait_field() {
    local i
    for ((i = 0; i < $4; i++)); do
        [ "$(ts_field "$1" "$2")" = "$3" ] && return 0
        sleep 1
    done
    echo "$1: $2 is '$(ts_field "$1" "$2")' after $4 s, not '$3'"
    "$vireo" list -l "$1" | grep -A12 '"balloon"'
    return 1
}
export -f ts_wait_field
# ts_guest_total NAME: the guest's own MemTotal in MiB, from its balloon's
# statistics queue (asked for fresh figures, then read a moment later).
ts_guest_total() {
    "$vireo" list -l "$1" >/dev/null
    sleep 3
    "$vireo" list -l "$1" | sed -n 's/^ *"total": \([0-9]*\),\{0,1\}$/\1/p' | head -n 1 |
        awk '{ printf "%d", $1 / 1048576 }'
}
export -f ts_guest_total

# ts_rss NAME: the VM process's resident memory in MiB (guest RAM it
# touched plus the VMM's own).
ts_rss() {
    awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$(ts_field "$1" pid)/status"
}
export -f ts_rss

# 14. maxmem = 512, memory = 256 (the issue's numbers): the guest starts
#     ballooned down to 256 MiB and follows mem-set down to 192 and back
#     up; going down gives the host back about the ballooned 64 MiB of
#     resident memory; mem-max bounds mem-set; a guest without the
#     balloon driver is reported, not waited on; a VM without maxmem has
#     no balloon; maxmem below memory is refused at its line.
ts_mem_case() {
    ts_setup mem
    printf 'name = "low"\nkernel = "%s"\nmemory = 256\nmaxmem = 128\n' "$cloud" >"$ts_dir/low.cfg"
    "$vireo" create "$ts_dir/low.cfg"
    echo "maxmem below memory rc=$?"
    "$vireo" create "$(ts_cfg bal wait 'memory = 256' 'maxmem = 512')" || return 1
    ts_wait_console bal "vireo-guest: waiting for the power button" 240 || return 1
    ts_wait_field bal ram_mib 512 5 && ts_wait_field bal actual_mib 256 120 &&
        ts_wait_field bal progress "at target" 5 && echo "start: ballooned down to memory"
    local t256 t192 tup
    t256=$(ts_guest_total bal)
    # The balloon can only give back memory the host holds for the guest:
    # the guest first touches almost all its free memory (a tmpfs filled
    # to within 32 MiB of MemFree, then emptied).  Its free-page reporting
    # would hand those pages back by itself within seconds (case 16), so
    # the guest turns it off first (a reporting order above the largest
    # buddy order): what falls below is then the balloon's doing alone.
    { sleep 1
      echo 'p=/sys/module/page_reporting/parameters/page_reporting_order; echo 11 >$p'
      echo 'mkdir -p /mnt/f && mount -t tmpfs -o size=400m f /mnt/f'
      echo "n=\$((\$(sed -n 's/^MemFree: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024 - 32))"
      echo 'dd if=/dev/zero of=/mnt/f/x bs=1048576 count=$n 2>/dev/null; rm /mnt/f/x; echo "touched-$((6*7)) $n MiB, order $(cat $p)"'
      sleep 2; } | timeout 6 "$vireo" console bal >/dev/null 2>&1
    ts_wait_console bal "touched-42" 120 || return 1
    ts_console bal | grep -o 'touched-42 .*' | tail -n 1
    local rss_full rss_low
    sleep 2
    rss_full=$(ts_rss bal)
    "$vireo" mem-set bal 192 && ts_wait_field bal actual_mib 192 120 && echo "mem-set 192: followed"
    rss_low=$(ts_rss bal)
    "$vireo" top -b -n 1 | awk '$1 == "bal" && $6 == 192' | grep -q . && echo "top: bal holds 192 MiB"
    echo "VMM resident: ${rss_full:-?} MiB before mem-set 192, ${rss_low:-?} MiB after"
    # 75 % of the 64 MiB ballooned: a page the guest gives may be one it
    # never touched (its free lists also hold the 32 MiB left untouched).
    [ -n "$rss_full" ] && [ -n "$rss_low" ] && [ $((rss_full - rss_low)) -ge 48 ] &&
        echo "mem-set down: the VMM's resident memory fell by at least 48 of the 64 MiB ballooned"
    t192=$(ts_guest_total bal)
    "$vireo" mem-set bal 256M && ts_wait_field bal actual_mib 256 120 && echo "mem-set 256M: followed back up"
    tup=$(ts_guest_total bal)
    # No DEFLATE_ON_OOM: the guest's MemTotal moves with its balloon, as
    # under xl (a few MiB of slack for the driver's own accounting).
    echo "guest MemTotal: ${t256:-?} MiB at 256, ${t192:-?} at 192, ${tup:-?} back at 256"
    [ -n "$t256" ] && [ -n "$t192" ] && [ -n "$tup" ] && [ $((t256 - t192)) -ge 62 ] && [ $((t256 - t192)) -le 66 ] &&
        [ $((tup - t192)) -ge 62 ] && [ $((tup - t192)) -le 66 ] && echo "guest MemTotal: follows mem-set"
    "$vireo" mem-set bal 600
    echo "mem-set above maxmem rc=$?"
    "$vireo" mem-max bal 200
    echo "mem-max below the target rc=$?"
    "$vireo" mem-set bal 200 && "$vireo" mem-max bal 200 && echo "mem-max 200: set"
    "$vireo" mem-set bal 210
    echo "mem-set above mem-max rc=$?"
    "$vireo" mem-max bal 1024
    echo "mem-max above RAM rc=$?"
    ts_wait_field bal actual_mib 200 120 && echo "mem-set 200: followed"
    "$vireo" list -l bal | grep -q '"free":' && echo "list -l: the guest's free memory"
    # The guest kernel refuses to load the driver: the request is sent,
    # mem-set returns, and the figures say the guest does not follow.
    "$vireo" create "$(ts_cfg deaf wait 'memory = 128' 'maxmem = 192')" \
        "cmdline=\"$cmdline vireo.action=wait module_blacklist=virtio_balloon\"" || return 1
    ts_wait_console deaf "vireo-guest: waiting for the power button" 240 || return 1
    local t0=$SECONDS
    timeout 10 "$vireo" mem-set deaf 100 && echo "mem-set to a deaf guest: returned in $((SECONDS - t0)) s"
    ts_wait_field deaf progress "not following" 30 && [ "$(ts_field deaf actual_mib)" = 192 ] &&
        echo "list -l: the deaf guest is not following"
    # top's MEM_MiB: what the guest holds, then the target it does not reach.
    "$vireo" top -b -n 1 | awk '$1 == "deaf" { print "top: deaf MEM_MiB " $6 }'
    "$vireo" top -b -n 1 --json | grep -o '"name":"deaf".*' |
        grep -q '"balloon":{"held_mib":192,"target_mib":100,"max_mib":192,"ram_mib":192,"progress":"not following"' &&
        echo "top --json: deaf's balloon figures"
    "$vireo" create "$(ts_cfg plain wait 'memory = 128')" || return 1
    ts_wait_console plain "vireo-guest: waiting for the power button" 240 || return 1
    "$vireo" mem-set plain 64
    echo "mem-set without maxmem rc=$?"
    "$vireo" list -l plain | grep -q '"balloon": null' && echo "list -l: no balloon without maxmem"
    "$vireo" top -b -n 1 --json | grep -o '"name":"plain".*' | grep -q '"balloon":null' &&
        echo "top --json: no balloon without maxmem"
    "$vireo" shutdown -a -w -t 60 && echo "shutdown: all stopped"
}
export -f ts_mem_case
check "toolstack: maxmem, mem-set down and up, mem-max, a guest ignoring its balloon" 900 0 \
    "+low.cfg:4:1: maxmem = 128 is less than memory = 256" "+maxmem below memory rc=1" \
    "+start: ballooned down to memory" "+mem-set 192: followed" \
    "+mem-set down: the VMM's resident memory fell by at least 48 of the 64 MiB ballooned" \
    "+mem-set 256M: followed back up" "+guest MemTotal: follows mem-set" \
    "+600 MiB is more than the VM's maximum, 512 MiB" "+mem-set above maxmem rc=1" \
    "+200 MiB is less than the VM's target, 256 MiB" "+mem-max below the target rc=1" "+mem-max 200: set" \
    "+mem-set above mem-max rc=1" "+mem-max above RAM rc=1" "+mem-set 200: followed" \
    "+list -l: the guest's free memory" "+mem-set to a deaf guest: returned in" \
    "+list -l: the deaf guest is not following" "+top: bal holds 192 MiB" "+top: deaf MEM_MiB 192>100" \
    "+top --json: deaf's balloon figures" "+top --json: no balloon without maxmem" "+the VM has no balloon" "+mem-set without maxmem rc=1" \
    "+list -l: no balloon without maxmem" "+shutdown: all stopped" "-SIGSYS" "-bad system call" \
    -- bash -c ts_mem_case

# 15. The host's memory budget: with the reservation leaving 300 MiB, a VM
#     of 256 MiB (+ its VMM) is refused with the numbers and nothing runs;
#     --overcommit starts it with a warning; vireo info shows the budget.
ts_budget_case() {
    ts_setup budget
    local total
    total=$("$vireo" info | awk -F': ' '$1 ~ /^total_memory/ { print $2 }')
    export VIREO_HOST_RESERVE=$((total - 300))M
    "$vireo" info | grep -E '^(host_reserved_memory|vm_maxmem|vmm_overhead|vm_free_memory)'
    "$vireo" create "$(ts_cfg big wait 'memory = 128' 'maxmem = 256')"
    echo "create beyond the budget rc=$?"
    [ "$("$vireo" list | wc -l)" = 1 ] && echo "refused: nothing runs"
    VIREO_HOST_RESERVE=lots "$vireo" create "$(ts_cfg bad wait)"
    echo "malformed reservation rc=$?"
    "$vireo" create --overcommit "$ts_dir/big.cfg" && echo "overcommit: started"
    ts_wait_console big "vireo-guest: waiting for the power button" 240
    "$vireo" info | tee "$ts_dir/info" | grep -E '^(nr_vms|vm_maxmem|vmm_overhead|vm_free_memory)'
    awk -F': ' '$1 ~ /^vmm_overhead/ { split($2, a, " "); exit !(a[1] > 0) }' "$ts_dir/info" &&
        echo "info: the VMM's overhead measured"
    # What is left is the 300 MiB less the VM's maxmem and its VMM as measured.
    awk -F': ' '$1 ~ /^vmm_overhead/ { split($2, a, " "); o = a[1] } $1 ~ /^vm_free_memory/ { f = $2 }
                END { exit !(f + o == 44 || (f == 0 && o >= 44)) }' "$ts_dir/info" && echo "info: free is 300 - 256 - VMM"
    "$vireo" create "$(ts_cfg small wait 'memory = 128')"
    echo "a second VM past the budget rc=$?"
    "$vireo" shutdown -a -w -t 60 && echo "shutdown: all stopped"
}
export -f ts_budget_case
check "toolstack: the host's memory budget refuses a VM that does not fit, --overcommit starts it, info shows it" 400 0 \
    "+host_reserved_memory" "+vm_free_memory         : 300" \
    "+the VM does not fit in the host's memory: it needs 320 MiB (maxmem 256 + VMM 64), 300 MiB are left" \
    "+create beyond the budget rc=1" "+refused: nothing runs" "+VIREO_HOST_RESERVE='lots' is not a size" \
    "+malformed reservation rc=1" "+warning: --overcommit: the VM does not fit" "+overcommit: started" \
    "+nr_vms                 : 1" "+vm_maxmem              : 256" "+info: the VMM's overhead measured" \
    "+info: free is 300 - 256 - VMM" "+it needs 1" "+a second VM past the budget rc=1" "+shutdown: all stopped" \
    -- bash -c ts_budget_case

# 15b. Huge pages in the budget: without a pool a hugepages = 1 VM is
#      refused with the pool's numbers; with 160 MiB of 2 MiB pages it
#      starts, holds 128 MiB of the pool and none of the ordinary room, and
#      a second one no longer fits.
ts_hugebudget_case() {
    ts_setup hugebudget
    [ -w /proc/sys/vm/nr_hugepages ] || { echo "cannot set /proc/sys/vm/nr_hugepages"; return 1; }
    echo 0 >/proc/sys/vm/nr_hugepages
    "$vireo" create "$(ts_cfg huge wait 'memory = 128' 'hugepages = 1')"
    echo "huge-page VM without a pool rc=$?"
    echo 80 >/proc/sys/vm/nr_hugepages
    [ "$(cat /proc/sys/vm/nr_hugepages)" = 80 ] || { echo "the host gave $(cat /proc/sys/vm/nr_hugepages) of 80 pages"; return 1; }
    "$vireo" create "$ts_dir/huge.cfg" && echo "huge: started"
    ts_wait_console huge "vireo-guest: waiting for the power button" 240
    "$vireo" info | awk -F' *: ' '$1 ~ /^(hugepage_pool|vm_hugepage_memory|vm_maxmem)$/ { print "info " $1 "=" $2 }'
    "$vireo" create "$(ts_cfg huge2 wait 'memory = 128' 'hugepages = 1')"
    echo "a second huge-page VM past the pool rc=$?"
    "$vireo" shutdown -a -w -t 60 && echo "shutdown: all stopped"
    echo 0 >/proc/sys/vm/nr_hugepages
}
export -f ts_hugebudget_case
check "toolstack: huge-page VMs take their RAM from the host's pool in the memory budget" 400 0 \
    "+the VM's huge pages do not fit in the host's pool: it needs 128 MiB of 2 MiB pages, 0 MiB are left" \
    "+huge-page VM without a pool rc=1" "+huge: started" "+info hugepage_pool=160" \
    "+info vm_hugepage_memory=128" "+info vm_maxmem=0" \
    "+it needs 128 MiB of 2 MiB pages, 32 MiB are left (pool 160 - running huge-page VMs 128)" \
    "+a second huge-page VM past the pool rc=1" "+shutdown: all stopped" \
    -- bash -c ts_hugebudget_case

# 16. Free-page reporting: the guest fills 200 MiB of a tmpfs (the
#     issue's figure) and frees it; the VMM's resident memory rises with
#     it and, once the guest's page reporting hands the free ranges back
#     (MADV_DONTNEED), falls again without anyone asking (maxmem =
#     memory: a balloon, no target).  384 MiB of RAM leave the guest room
#     for the 200 MiB besides its kernel and initramfs.
ts_fpr_case() {
    ts_setup fpr
    printf '%s\n' 'sleep 3' 'mkdir -p /mnt/f' 'mount -t tmpfs -o size=256m f /mnt/f' \
        'dd if=/dev/zero of=/mnt/f/fill bs=1048576 count=200 2>/dev/null' 'echo "fpr: filled"' \
        'sleep 15' 'rm /mnt/f/fill' 'echo "fpr: freed"' 'sleep 600' >"$ts_dir/fpr.sh"
    "$vireo" create "$(ts_cfg fpr "script vireo.script=$(gzip -9c <"$ts_dir/fpr.sh" | base64 -w0)" \
        'memory = 384' 'maxmem = 384')" || return 1
    ts_wait_console fpr "fpr: filled" 240 || return 1
    local full low i t0
    full=$("$vireo" top -b -n 1 | awk '$1 == "fpr" { print $7 }')
    echo "resident with 200 MiB filled: ${full:-?} MiB"
    ts_wait_console fpr "fpr: freed" 120 || return 1
    t0=$SECONDS
    for ((i = 0; i < 30; i++)); do
        sleep 2
        low=$("$vireo" top -b -n 1 | awk '$1 == "fpr" { print $7 }')
        [ -n "$full" ] && [ -n "$low" ] && [ $((full - low)) -ge 150 ] && break
    done
    echo "resident $((SECONDS - t0)) s after the guest freed it: ${low:-?} MiB"
    "$vireo" list -l fpr | grep -E '"reported_bytes"'
    [ -n "$full" ] && [ -n "$low" ] && [ $((full - low)) -ge 150 ] &&
        echo "free-page reporting: the VMM gave back at least 150 of the 200 MiB"
    "$vireo" destroy fpr
}
export -f ts_fpr_case
check "toolstack: free-page reporting gives memory the guest freed back to the host" 400 0 \
    "+free-page reporting: the VMM gave back at least 150 of the 200 MiB" "-SIGSYS" "-bad system call" \
    -- bash -c ts_fpr_case
