# cases-net.sh: virtio-net end to end: guests on a bridge (vireo's own TAP
# or one made beforehand) ping the host and each other and move data both
# ways, multiqueue, TAP clean-up, and the errors before start.  Sourced by
# suite.sh.  Each case is a function run by `check` in its own bash (hence
# the exports).
#
# Every case runs in a network, mount and PID namespace of its own
# (net_ns): its bridge, its TAPs and its addresses exist nowhere else, so
# cases cannot see each other's links, the addresses never reach any real
# network (the test host has no NIC anyway), /sys/class/net lists exactly
# the case's links, and when the case ends, even by SIGKILL on a timeout,
# the kernel kills whatever it left running and deletes its links with the
# namespace.  The traps still clean up explicitly on every normal exit.

net_dir=$logs/net
mkdir -p "$net_dir"
export net_dir

# net_setup NAME: the case's directory and its clean-up: background
# processes listed in net_pids are killed, bridges in net_bridges deleted.
# TERM/INT become an exit so that the EXIT trap runs then too.
net_setup() {
    # Unique even for a case's second run ($$ is 1 in every PID namespace).
    net_case=$(mktemp -d "$net_dir/$1.XXXXXX")
    net_pids=() net_bridges=()
    trap 'net_cleanup' EXIT
    trap 'exit 143' TERM INT
}
net_cleanup() {
    local p
    for p in ${net_pids[@]+"${net_pids[@]}"}; do kill -KILL "$p" 2>/dev/null || true; done
    for p in ${net_pids[@]+"${net_pids[@]}"}; do wait "$p" 2>/dev/null || true; done
    for p in ${net_bridges[@]+"${net_bridges[@]}"}; do ip link del "$p" 2>/dev/null || true; done
}
# net_bridge NAME ADDR: a bridge with the host's address ADDR/24, up.  The
# names need only be unique in the case's namespace.  Link-local addresses:
# they mean "this link only" wherever they appear.
net_bridge() {
    ip link add "$1" type bridge
    net_bridges+=("$1")
    ip addr add "$2/24" dev "$1"
    ip link set "$1" up
}
net_links() { ls /sys/class/net | tr '\n' ' '; }
# net_tap_of LOG: the TAP vireo reported ("net 0: vireo0 on bridge ...").
net_tap_of() { tr -d '\r' <"$1" | sed -n 's/^vireo: net 0: \([^ ,]*\).*/\1/p' | head -n1; }
# net_mac_of LOG: the MAC vireo reported for net 0.
net_mac_of() { tr -d '\r' <"$1" | sed -n 's/^vireo: net 0: .*, mac \([0-9a-f:]*\),.*/\1/p' | head -n1; }
# net_field LOG KEY: what the guest printed as "vireo-guest: KEY VALUE...".
net_field() { tr -d '\r' <"$1" | sed -n "s/^vireo-guest: $2 //p" | head -n1; }
# net_wait SECONDS CMD...: until CMD succeeds, polling; fails at the bound.
net_wait() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.1
    done
}
# net_start_vm LOG SCRIPT VIREO_ARGS...: run_guest in the background; the
# PID of vireo itself (exec: not of a subshell, which kill -9 would take for
# vireo) in net_vm, and in net_pids for the clean-up.
net_start_vm() {
    local log=$1 script=$2
    shift 2
    (exec "$vireo" run --kernel "$cloud" --initrd "$initrd" \
        --cmdline "$cmdline vireo.action=script vireo.script=$(gzip -9c <"$script" | base64 -w0)" "$@") \
        </dev/null >"$log" 2>&1 &
    net_vm=$!
    net_pids+=("$net_vm")
}
# net_guest_ip HOST_IP GUEST_IP: the guest-script lines that bring eth0 up
# with GUEST_IP and wait (bounded) until HOST_IP answers; then three pings.
net_guest_ip() {
    cat <<EOF
ip link set eth0 up
ip addr add $2/24 dev eth0
echo "vireo-guest: mac \$(cat /sys/class/net/eth0/address)"
echo "vireo-guest: queues" \$(ls /sys/class/net/eth0/queues)
i=0
until ping -c 1 -W 1 $1 >/dev/null 2>&1 || [ \$i -ge 60 ]; do i=\$((i + 1)); sleep 1; done
if ping -c 3 -W 5 $1 >/tmp/ping 2>&1; then echo "vireo-guest: ping $1 ok"; else echo "vireo-guest: ping $1 failed"; cat /tmp/ping; fi
EOF
}
export -f net_setup net_cleanup net_bridge net_links net_tap_of net_mac_of net_field net_wait \
    net_start_vm net_guest_ip

# 1. (a, d, g) A guest on a bridge the case makes: static address, pings the
#    bridge's address; KIB of random data host->guest and KIB guest->host,
#    each side's md5 compared with the other's.  The TAP is looked at while
#    the VM runs (queues, master) and must be gone after it powers off.
#    The host side is socat, not busybox nc: busybox nc exits as soon as
#    the peer's half closes and, as a listener, half-closes when its stdin
#    ends, which can cut a transfer short; socat -u closes only at EOF.
#    The guest's receiving nc keeps the console as stdin, which never ends.
net_xfer() {
    local kib=$1 tag=$2 opts=$3
    shift 3
    net_setup "xfer-$tag"
    local d=$net_case br=vtbr-xfer hip=169.254.71.1 gip=169.254.71.2 bytes=$((kib * 1024))
    net_bridge "$br" "$hip"
    head -c "$bytes" /dev/urandom >"$d/send"
    local want; want=$(md5sum <"$d/send" | cut -d' ' -f1)
    echo "host: sending $bytes bytes md5 $want"
    timeout 400 socat -u "OPEN:$d/send" TCP-LISTEN:5001,reuseaddr &
    net_pids+=($!)
    timeout 400 socat -u TCP-LISTEN:5002,reuseaddr "CREATE:$d/recv" &
    local rx=$!
    net_pids+=("$rx")
    {
        net_guest_ip "$hip" "$gip"
        cat <<EOF
i=0
until timeout 120 nc $hip 5001 >/tmp/r || [ \$i -ge 10 ]; do i=\$((i + 1)); sleep 1; done
echo "vireo-guest: received \$(wc -c </tmp/r) bytes md5 \$(md5sum </tmp/r | cut -d' ' -f1)"
dd if=/dev/urandom of=/tmp/s bs=1024 count=$kib 2>/dev/null
echo "vireo-guest: sending \$(wc -c </tmp/s) bytes md5 \$(md5sum </tmp/s | cut -d' ' -f1)"
i=0
until timeout 120 nc $hip 5002 </tmp/s || [ \$i -ge 10 ]; do i=\$((i + 1)); sleep 1; done
EOF
    } >"$d/guest.sh"
    local before; before=$(net_links)
    echo "host: links before: $before"
    net_start_vm "$d/vm.log" "$d/guest.sh" "$@" --net "bridge=$br$opts"
    # The TAP exists from before the guest boots until vireo ends; looked
    # at once the guest runs its script, so that every queue is attached.
    net_wait 200 grep -q "vireo-guest: running script" "$d/vm.log" || true
    local tap; tap=$(net_tap_of "$d/vm.log")
    if [ -n "$tap" ] && [ -e "/sys/class/net/$tap" ]; then
        local q; q=$(echo $(ls "/sys/class/net/$tap/queues"))
        local m; m=$(basename "$(readlink "/sys/class/net/$tap/master")")
        kill -0 "$net_vm" 2>/dev/null && echo "host: TAP $tap while the VM runs: queues $q; master $m"
    else
        echo "host: no TAP '$tap' while the VM runs; links: $(net_links)"
    fi
    local rc=0
    wait "$net_vm" || rc=$?
    tr -d '\r' <"$d/vm.log"
    echo "vireo exit=$rc"
    # socat -u closes only after it has written everything, and the guest's
    # nc ends only after that: by now the listener is done or never will be.
    net_wait 10 bash -c "! kill -0 $rx 2>/dev/null" || echo "host: the guest->host listener is still waiting"
    [ "$(net_field "$d/vm.log" received)" = "$bytes bytes md5 $want" ] &&
        echo "host: host->guest $kib KiB arrived intact"
    local sent; sent=$(net_field "$d/vm.log" sending)
    [ -n "$sent" ] && [ -e "$d/recv" ] && [ "$sent" = "$(wc -c <"$d/recv") bytes md5 $(md5sum <"$d/recv" | cut -d' ' -f1)" ] &&
        [ "$(wc -c <"$d/recv")" = "$bytes" ] && echo "host: guest->host $kib KiB arrived intact"
    [ -n "$(net_mac_of "$d/vm.log")" ] && [ "$(net_field "$d/vm.log" mac)" = "$(net_mac_of "$d/vm.log")" ] &&
        echo "host: the guest's MAC is the one vireo reported"
    local after; after=$(net_links)
    echo "host: links after: $after"
    [ -n "$tap" ] && [ "$after" = "$before" ] && ! ip link show dev "$tap" >/dev/null 2>&1 &&
        echo "host: TAP $tap gone after power-off"
    return $rc
}
export -f net_xfer
check "net: guest on a bridge pings the host; 4 MiB each way intact; TAP removed at power-off" 300 0 \
    "+vireo-guest: ping 169.254.71.1 ok" "+host: host->guest 4096 KiB arrived intact" \
    "+host: guest->host 4096 KiB arrived intact" "+host: the guest's MAC is the one vireo reported" \
    "+queues rx-0 tx-0; master vtbr-xfer" "+host: TAP vireo0 gone after power-off" "+vireo exit=0" \
    "+1 queue pair, vhost-net" -- bash -c 'net_ns net_xfer 4096 basic ""'
check "net: multiqueue: 2 vCPUs, queues=2: guest and host TAP have 2 queues, traffic intact" 300 0 \
    "+vireo-guest: queues rx-0 rx-1 tx-0 tx-1" "+queues rx-0 rx-1 tx-0 tx-1; master vtbr-xfer" "+2 queue pairs" \
    "+vireo-guest: ping 169.254.71.1 ok" "+host: host->guest 1024 KiB arrived intact" \
    "+host: guest->host 1024 KiB arrived intact" "+gone after power-off" "+vireo exit=0" -- \
    bash -c 'net_ns net_xfer 1024 mq ,queues=2 --vcpus 2'

# 2. (b) Two guests at once on one bridge, no mac= given: the MACs derive
#    from the TAP names (vireo0, vireo1), so they must differ.  They ping
#    each other and B sends A 1 MiB.  A's nc listens in the foreground with
#    the console as stdin: busybox nc half-closes when its stdin ends, and
#    the sender would then stop early.
# vhost-net (the test host loads vhost_net; the default there is vhost=on):
# the same traffic through the kernel's data plane and through vireo's own,
# each under vireo's normal confinement (seccomp per thread, no root).
check "net: vhost=on: ping, 4 MiB each way intact, confined" 300 0 \
    "+1 queue pair, vhost-net" "+seccomp filters per thread" "+vireo-guest: ping 169.254.71.1 ok" \
    "+host: host->guest 4096 KiB arrived intact" "+host: guest->host 4096 KiB arrived intact" \
    "+gone after power-off" "+vireo exit=0" "-vhost-net: " -- bash -c 'net_ns net_xfer 4096 vhost ,vhost=on'
check "net: vhost=off: the user-space device, ping, 1 MiB each way intact" 300 0 \
    "+1 queue pair, user-space" "+seccomp filters per thread" "+vireo-guest: ping 169.254.71.1 ok" \
    "+host: host->guest 1024 KiB arrived intact" "+host: guest->host 1024 KiB arrived intact" "+vireo exit=0" -- \
    bash -c 'net_ns net_xfer 1024 vhostoff ,vhost=off'
check "net: vhost=on, multiqueue: 2 pairs, each its own vhost, traffic intact" 300 0 \
    "+2 queue pairs, vhost-net" "+vireo-guest: queues rx-0 rx-1 tx-0 tx-1" "+vireo-guest: ping 169.254.71.1 ok" \
    "+host: host->guest 1024 KiB arrived intact" "+host: guest->host 1024 KiB arrived intact" "+vireo exit=0" \
    "-vhost-net: " -- bash -c 'net_ns net_xfer 1024 mqvhost ,queues=2,vhost=on --vcpus 2'

# The guest resets the device twice (unbinds and rebinds virtio_net): vhost
# is stopped (backend detached, ring bases fetched) and started again for
# the new driver, which must ping and receive data each time.
net_rebind() {
    local opts=$1
    net_setup "rebind${opts//[,=]/-}"
    local d=$net_case br=vtbr-rb hip=169.254.76.1 gip=169.254.76.2
    net_bridge "$br" "$hip"
    head -c 262144 /dev/urandom >"$d/send"
    local want; want=$(md5sum <"$d/send" | cut -d' ' -f1)
    local port
    for port in 5004 5005; do   # one per round: a listener sends its file once
        timeout 300 socat -u "OPEN:$d/send" TCP-LISTEN:$port,reuseaddr &
        net_pids+=($!)
    done
    {
        net_guest_ip "$hip" "$gip"
        cat <<EOF
dev=\$(basename \$(readlink /sys/class/net/eth0/device))
for round in 1 2; do
    echo \$dev >/sys/bus/virtio/drivers/virtio_net/unbind
    echo \$dev >/sys/bus/virtio/drivers/virtio_net/bind
    i=0
    until [ -e /sys/class/net/eth0 ] || [ \$i -ge 50 ]; do i=\$((i + 1)); sleep 0.1; done
    ip link set eth0 up
    ip addr add $gip/24 dev eth0
    i=0
    until ping -c 1 -W 1 $hip >/dev/null 2>&1 || [ \$i -ge 60 ]; do i=\$((i + 1)); sleep 1; done
    ping -c 3 -W 5 $hip >/dev/null 2>&1 && echo "vireo-guest: rebind \$round ping ok"
    timeout 60 nc $hip \$((5003 + round)) >/tmp/r
    echo "vireo-guest: rebind \$round received \$(wc -c </tmp/r) bytes md5 \$(md5sum </tmp/r | cut -d' ' -f1)"
done
EOF
    } >"$d/guest.sh"
    local rc=0
    run_guest "$d/guest.sh" --net "bridge=$br$opts" </dev/null >"$d/vm.log" 2>&1 || rc=$?
    tr -d '\r' <"$d/vm.log"
    echo "vireo exit=$rc"
    local r
    for r in 1 2; do
        [ "$(net_field "$d/vm.log" "rebind $r received")" = "262144 bytes md5 $want" ] &&
            echo "host: after rebind $r, 256 KiB arrived intact"
    done
    return $rc
}
export -f net_rebind
check "net: vhost=on: the guest resets the device twice (driver unbind/bind); traffic after each" 300 0 \
    "+1 queue pair, vhost-net" "+vireo-guest: rebind 1 ping ok" "+vireo-guest: rebind 2 ping ok" \
    "+host: after rebind 1, 256 KiB arrived intact" "+host: after rebind 2, 256 KiB arrived intact" \
    "+vireo exit=0" "-vhost-net: " "-device needs reset" -- bash -c 'net_ns net_rebind ,vhost=on'
check "net: vhost=off: the same resets on the user-space device" 300 0 \
    "+1 queue pair, user-space" "+vireo-guest: rebind 2 ping ok" "+host: after rebind 2, 256 KiB arrived intact" \
    "+vireo exit=0" -- bash -c 'net_ns net_rebind ,vhost=off'

net_two() {
    net_setup two
    local d=$net_case br=vtbr-two hip=169.254.72.1 a=169.254.72.2 b=169.254.72.3
    net_bridge "$br" "$hip"
    { net_guest_ip "$hip" "$a"; cat <<EOF
i=0
until ping -c 1 -W 1 $b >/dev/null 2>&1 || [ \$i -ge 120 ]; do i=\$((i + 1)); sleep 1; done
ping -c 3 -W 5 $b >/dev/null 2>&1 && echo "vireo-guest: ping peer $b ok"
timeout 200 nc -l -p 5003 >/tmp/r
echo "vireo-guest: received \$(wc -c </tmp/r) bytes md5 \$(md5sum </tmp/r | cut -d' ' -f1)"
EOF
    } >"$d/a.sh"
    { net_guest_ip "$hip" "$b"; cat <<EOF
i=0
until ping -c 1 -W 1 $a >/dev/null 2>&1 || [ \$i -ge 120 ]; do i=\$((i + 1)); sleep 1; done
ping -c 3 -W 5 $a >/dev/null 2>&1 && echo "vireo-guest: ping peer $a ok"
dd if=/dev/urandom of=/tmp/s bs=1024 count=1024 2>/dev/null
echo "vireo-guest: sending \$(wc -c </tmp/s) bytes md5 \$(md5sum </tmp/s | cut -d' ' -f1)"
i=0
until timeout 120 nc $a 5003 </tmp/s || [ \$i -ge 60 ]; do i=\$((i + 1)); sleep 1; done
EOF
    } >"$d/b.sh"
    net_start_vm "$d/a.log" "$d/a.sh" --net "bridge=$br"
    local va=$net_vm
    net_start_vm "$d/b.log" "$d/b.sh" --net "bridge=$br"
    local vb=$net_vm rca=0 rcb=0
    wait "$va" || rca=$?
    wait "$vb" || rcb=$?
    echo "=== guest A (exit $rca)"; tr -d '\r' <"$d/a.log"
    echo "=== guest B (exit $rcb)"; tr -d '\r' <"$d/b.log"
    local ma mb
    ma=$(net_field "$d/a.log" mac) mb=$(net_field "$d/b.log" mac)
    echo "host: TAPs $(net_tap_of "$d/a.log") $(net_tap_of "$d/b.log"), MACs $ma $mb"
    [ -n "$ma" ] && [ -n "$mb" ] && [ "$ma" != "$mb" ] && [ "$ma" = "$(net_mac_of "$d/a.log")" ] &&
        [ "$mb" = "$(net_mac_of "$d/b.log")" ] && echo "host: the derived MACs differ and are the ones vireo reported"
    [ "$(net_tap_of "$d/a.log")" != "$(net_tap_of "$d/b.log")" ] && echo "host: distinct TAPs"
    grep -q "vireo-guest: ping peer $b ok" "$d/a.log" && grep -q "vireo-guest: ping peer $a ok" "$d/b.log" &&
        echo "host: the guests ping each other"
    local sent; sent=$(net_field "$d/b.log" sending)
    [ -n "$sent" ] && [ "$sent" = "$(net_field "$d/a.log" received)" ] && [ "${sent%% *}" = 1048576 ] &&
        echo "host: 1 MiB B->A arrived intact"
    [ "$rca" = 0 ] && [ "$rcb" = 0 ] && echo "host: both exited 0"
}
export -f net_two
check "net: two guests on one bridge: distinct derived MACs, ping each other, 1 MiB intact" 360 0 \
    "+host: the derived MACs differ and are the ones vireo reported" "+host: distinct TAPs" \
    "+host: the guests ping each other" "+host: 1 MiB B->A arrived intact" "+host: both exited 0" -- \
    bash -c 'net_ns net_two'

# 3. (c) The TAP lives exactly as long as the VM: after a power-off and
#    after kill -9 (no clean-up code runs: the kernel deletes a
#    non-persistent TAP when its last file descriptor closes).
net_taps() {
    net_setup taps
    local d=$net_case br=vtbr-taps how
    net_bridge "$br" 169.254.73.1
    echo 'echo "vireo-guest: up"' >"$d/off.sh"
    echo 'echo "vireo-guest: up"; sleep 600' >"$d/hang.sh"
    local before; before=$(net_links)
    echo "host: links before: $before; $(ip -o link | wc -l) in ip link"
    for how in poweroff kill; do
        net_start_vm "$d/$how.log" "$d/$([ $how = kill ] && echo hang || echo off).sh" --net "bridge=$br"
        local tap=
        net_wait 120 bash -c "grep -q '^vireo: net 0:' '$d/$how.log'" || true
        tap=$(net_tap_of "$d/$how.log")
        if [ -n "$tap" ] && [ -e "/sys/class/net/$tap" ] && ip link show dev "$tap" >/dev/null 2>&1; then
            echo "host: $how: TAP $tap present while the VM runs: $(net_links)"
        else
            echo "host: $how: no TAP '$tap' while the VM runs: $(net_links)"
        fi
        if [ $how = kill ]; then
            net_wait 200 grep -q "vireo-guest: up" "$d/$how.log" || true
            kill -KILL "$net_vm"
        fi
        local rc=0
        wait "$net_vm" || rc=$?
        echo "host: $how: vireo exit=$rc"
        # Deleted as the last fd closes, which is before wait returns;
        # polled all the same, briefly, for the netdev work to finish.
        if net_wait 10 bash -c "[ \"\$(ls /sys/class/net | tr '\n' ' ')\" = '$before' ]" &&
            ! ip link show dev "$tap" >/dev/null 2>&1; then
            echo "host: $how: TAP $tap gone (links $(net_links))"
        else
            echo "host: $how: left behind: $(net_links)"
        fi
    done
    tr -d '\r' <"$d/poweroff.log" | tail -n 3
}
export -f net_taps
check "net: TAP removed after power-off and after kill -9 of vireo" 300 0 \
    "+host: poweroff: TAP vireo0 present while the VM runs" "+host: poweroff: vireo exit=0" \
    "+host: poweroff: TAP vireo0 gone" "+host: kill: TAP vireo0 present while the VM runs" \
    "+host: kill: vireo exit=137" "+host: kill: TAP vireo0 gone" -- bash -c 'net_ns net_taps'

# 4. (e) --net tap=NAME on a TAP made and enslaved beforehand, as an
#    administrator would: it works, and vireo leaves it there (it is not
#    vireo's to delete).
net_tap_given() {
    net_setup tap
    local d=$net_case br=vtbr-tap tap=vttap hip=169.254.74.1
    net_bridge "$br" "$hip"
    ip tuntap add dev "$tap" mode tap
    ip link set "$tap" master "$br" up
    net_guest_ip "$hip" 169.254.74.2 >"$d/guest.sh"
    local rc=0
    run_guest "$d/guest.sh" --net "tap=$tap" </dev/null >"$d/vm.log" 2>&1 || rc=$?
    tr -d '\r' <"$d/vm.log"
    echo "vireo exit=$rc"
    [ -e "/sys/class/net/$tap" ] && [ "$(basename "$(readlink "/sys/class/net/$tap/master")")" = "$br" ] &&
        echo "host: the given TAP is still there, on the bridge"
    ip link del "$tap"
    return $rc
}
export -f net_tap_given
check "net: --net tap=NAME on a pre-made TAP works; the TAP is kept" 240 0 \
    "+vireo-guest: ping 169.254.74.1 ok" "+host: the given TAP is still there, on the bridge" "+vireo exit=0" -- \
    bash -c 'net_ns net_tap_given'

# 5. (e, f) Errors before the guest starts: the exit status, the message,
#    and nothing left behind (the same links before and after).
#    net_err MODE VIREO_ARGS...: runs vireo in a namespace holding bridge
#    vterr and a single-queue TAP vtsq; exits with vireo's status.  MODE:
#      root    as is;
#      nobody  as user nobody, given a /dev/kvm it may open: vireo opens
#              /dev/kvm before it sets up NICs, so without that the run
#              would stop at /dev/kvm and never reach the network.  A node
#              of our own (0666) is bind-mounted over /dev/kvm in this
#              case's private mount namespace; a chmod of the real node
#              would change it for the whole test host, whose devtmpfs is
#              shared.  The test host's /dev/net/tun is 0600 (devtmpfs;
#              no udev), so the open of /dev/net/tun is what fails;
#      nobody-tun  the same plus a 0666 /dev/net/tun, as udev makes it on
#              Debian: then the open works and creating the TAP is what
#              needs CAP_NET_ADMIN;
#      notun   /dev/net hidden under an empty tmpfs (private mount
#              namespace), as on a host without the tun driver.
net_err() {
    local mode=$1
    shift
    net_setup "err-$mode"
    local d=$net_case
    net_bridge vterr 169.254.75.1
    ip tuntap add dev vtsq mode tap
    ip link set vtsq master vterr up
    local run=("$vireo") k=$cloud i=$initrd
    case $mode in
    nobody|nobody-tun)
        chmod 755 "$d"
        install -m 755 "$vireo" "$d/vireo"
        install -m 644 "$cloud" "$d/kernel"
        install -m 644 "$initrd" "$d/initrd"
        run=(setpriv --reuid=65534 --regid=65534 --clear-groups "$d/vireo") k=$d/kernel i=$d/initrd
        local dev n
        for dev in /dev/kvm $([ "$mode" = nobody-tun ] && echo /dev/net/tun); do
            n=$d/$(basename "$dev")
            mknod "$n" c "$((0x$(stat -c %t "$dev")))" "$((0x$(stat -c %T "$dev")))"
            chmod 666 "$n"
            mount --bind "$n" "$dev"
        done
        ls -l /dev/kvm /dev/net/tun
        ;;
    notun) mount -t tmpfs none /dev/net ;;
    novhost)
        # A /dev of its own without vhost-net (private mount namespace).
        local dev
        mkdir -p "$d/dev/net"
        for dev in kvm null zero random urandom net/tun; do
            mknod "$d/dev/$dev" c "$((0x$(stat -c %t "/dev/$dev")))" "$((0x$(stat -c %T "/dev/$dev")))"
            chmod --reference="/dev/$dev" "$d/dev/$dev"
        done
        mount --bind "$d/dev" /dev
        ;;
    esac
    local before; before=$(net_links)
    local rc=0
    "${run[@]}" run --kernel "$k" --initrd "$i" --cmdline "$cmdline" "$@" </dev/null || rc=$?
    echo "vireo exit=$rc"
    local after; after=$(net_links)
    if [ "$after" = "$before" ]; then echo "host: nothing left behind ($after)"; else echo "host: links were $before, now $after"; fi
    return $rc
}
export -f net_err
check "net: tap= on a single-queue TAP with queues=2 => exit 1" 60 1 "+cannot give 2 queues" \
    "+vtsq" "+multi_queue" "+host: nothing left behind" -- bash -c 'net_ns net_err root --net tap=vtsq,queues=2'
check "net: missing bridge => exit 1, no bridge" 60 1 "+net 0: no bridge vtnone" \
    "+ip link add vtnone type bridge" "+host: nothing left behind" -- bash -c 'net_ns net_err root --net bridge=vtnone'
check "net: bridge= names a non-bridge => exit 1" 60 1 "+lo is not a bridge (it is a loopback device)" \
    "+host: nothing left behind" -- bash -c 'net_ns net_err root --net bridge=lo'
check "net: multicast MAC => usage error, exit 2" 60 2 "+mac=01:00:5e:00:00:01" "+multicast" \
    "+host: nothing left behind" -- bash -c 'net_ns net_err root --net bridge=vterr,mac=01:00:5e:00:00:01'
check "net: user nobody (test host's 0600 /dev/net/tun) => exit 1, names /dev/net/tun" 60 1 \
    "+cannot open /dev/net/tun" "+CAP_NET_ADMIN" "-/dev/kvm:" "-no permission to open /dev/kvm" \
    "+host: nothing left behind" -- bash -c 'net_ns net_err nobody --net bridge=vterr'
# The TAP's name is the kernel's choice (vireo%d) at that point; a message
# that shows the template instead of a name misleads.
check "net: user nobody with a 0666 /dev/net/tun => exit 1, needs CAP_NET_ADMIN" 60 1 \
    "+cannot create TAP" "+needs CAP_NET_ADMIN" "-%d" "-no permission to open /dev/kvm" \
    "+host: nothing left behind" -- bash -c 'net_ns net_err nobody-tun --net bridge=vterr'
check "net: no /dev/net/tun => exit 1, says so" 60 1 "+/dev/net/tun is missing" "+modprobe tun" \
    "+host: nothing left behind" -- bash -c 'net_ns net_err notun --net bridge=vterr'
check "net: vhost=on without /dev/vhost-net => exit 1, says so" 60 1 "+net 0: /dev/vhost-net is missing" \
    "+modprobe vhost_net" "+vhost=off" "+host: nothing left behind" -- \
    bash -c 'net_ns net_err novhost --net bridge=vterr,vhost=on'
check "net: no /dev/vhost-net, vhost unset => the user-space device" 120 0 "+no vhost-net" \
    "+frames go through the VMM" "+1 queue pair, user-space" "+host: nothing left behind" -- \
    bash -c 'net_ns net_err novhost --net bridge=vterr'

# 6. (g) Case 1 under ASan/UBSan, 1 MiB each way: the data plane's threads,
#    the TAP and the virtqueues.
net_asan() {
    # vhost=off: the user-space path is where vireo parses the guest's frames.
    vireo=$vireo_asan net_xfer 1024 asan ",vhost=off"
}
export -f net_asan
check "net: ASan/UBSan build: ping and 1 MiB each way" 600 0 "+vireo-guest: ping 169.254.71.1 ok" \
    "+host: host->guest 1024 KiB arrived intact" "+host: guest->host 1024 KiB arrived intact" \
    "+gone after power-off" "+vireo exit=0" \
    "-ERROR: AddressSanitizer" "-runtime error:" "-ERROR: LeakSanitizer" -- bash -c 'net_ns net_asan'
