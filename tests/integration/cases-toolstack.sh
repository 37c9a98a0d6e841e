# cases-toolstack.sh: the xl-style commands end to end (create, list,
# console, shutdown -a -w, reboot, destroy, pause, vcpu-*, block-list, the
# control socket's permissions).  Sourced by suite.sh.  Each case is a
# function run by `check` in its own bash; the VMs it creates live in a run
# directory of its own (VIREO_RUN_DIR), and it destroys them on any exit.
# Guests run guest/init's `wait` action: busybox acpid powers them off on
# the ACPI power button.

ts_root=$logs/toolstack
mkdir -p "$ts_root"
export ts_root

# ts_setup CASE: a fresh run and log directory; every VM left is destroyed
# when the case's shell exits.
ts_setup() {
    export VIREO_RUN_DIR=$ts_root/$1/run VIREO_LOG_DIR=$ts_root/$1/log
    ts_dir=$ts_root/$1
    rm -rf "$ts_dir"
    mkdir -p "$ts_dir"
    trap 'for n in $("$vireo" list 2>/dev/null | awk "NR > 1 { print \$1 }"); do "$vireo" destroy "$n"; done' EXIT
}
# ts_cfg NAME ACTION [LINE...]: NAME.cfg for a cloud-kernel guest doing ACTION.
ts_cfg() {
    local name=$1 action=$2
    shift 2
    {
        echo "name = \"$name\""
        echo "kernel = \"$cloud\""
        echo "ramdisk = \"$initrd\""
        echo "cmdline = \"$cmdline vireo.action=$action\""
        printf '%s\n' "$@"
    } >"$ts_dir/$name.cfg"
    echo "$ts_dir/$name.cfg"
}
# ts_console NAME: what the console holds now (the buffer, and a second of
# live output).
ts_console() { timeout 1 "$vireo" console "$1" </dev/null 2>&1 || true; }
# ts_wait_console NAME TEXT [SECONDS]: until the console shows TEXT.
ts_wait_console() {
    local i
    for ((i = 0; i < ${3:-60}; i++)); do
        ts_console "$1" | grep -qF -- "$2" && return 0
    done
    echo "$1: console never showed '$2'; it has:"
    ts_console "$1" | tail -20
    return 1
}
# ts_field NAME KEY: a value from `list -l`.
ts_field() {
    "$vireo" list -l "$1" | sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p"
}
export -f ts_setup ts_cfg ts_console ts_wait_console ts_field

# 1. Two VMs from config files; list shows both with xl's columns;
#    shutdown -a -w powers both off through acpid, in parallel.
ts_two_vms() {
    set -e
    ts_setup two
    "$vireo" create "$(ts_cfg alpha wait 'memory = 256' 'vcpus = 2')"
    "$vireo" create "$(ts_cfg beta wait 'memory = 192')"
    "$vireo" list | tee "$ts_dir/list"
    head -1 "$ts_dir/list" | grep -q '^Name  *ID  *Mem VCPUs.State.Time(s)$' && echo "list: xl's header"
    awk '$1 == "alpha" && $3 == 256 && $4 == 2 && $5 ~ /^[rb-]-----$/' "$ts_dir/list" | grep -q . &&
        echo "list: alpha 256 MiB 2 vCPUs"
    awk '$1 == "beta" && $3 == 192 && $4 == 1' "$ts_dir/list" | grep -q . && echo "list: beta 192 MiB 1 vCPU"
    [ "$(awk '$1 == "alpha" { print $2 }' "$ts_dir/list")" != "$(awk '$1 == "beta" { print $2 }' "$ts_dir/list")" ] &&
        echo "list: distinct IDs"
    ts_wait_console alpha "vireo-guest: waiting for the power button"
    ts_wait_console beta "vireo-guest: waiting for the power button"
    local t0=$SECONDS
    "$vireo" shutdown -a -w -t 60 && echo "shutdown -a -w: both stopped in $((SECONDS - t0)) s"
    [ "$("$vireo" list | wc -l)" = 1 ] && echo "list: empty afterwards"
    grep -h "guest powered off" "$VIREO_LOG_DIR"/alpha.log "$VIREO_LOG_DIR"/beta.log
    [ -z "$(ls "$VIREO_RUN_DIR")" ] && echo "run directory: nothing left"
}
export -f ts_two_vms
check "toolstack: create two VMs, list, shutdown -a -w" 180 0 "+list: xl's header" \
    "+list: alpha 256 MiB 2 vCPUs" "+list: beta 192 MiB 1 vCPU" "+list: distinct IDs" \
    "+shutdown -a -w: both stopped" "+list: empty afterwards" "+run directory: nothing left" -- bash -c ts_two_vms

# 2. The console: buffered output while detached, input reaches the guest,
#    one client at a time, reattaching shows the history again.
ts_console_case() {
    set -e
    ts_setup console
    "$vireo" create "$(ts_cfg con wait)"
    ts_wait_console con "vireo-guest: waiting for the power button"
    { sleep 1; echo 'echo console-marker-$((6*7))'; sleep 3; } | timeout 8 "$vireo" console con >"$ts_dir/c1" 2>&1 || true
    grep -q "console-marker-42" "$ts_dir/c1" && echo "console: the guest's shell answered"
    { sleep 4; } | timeout 6 "$vireo" console con >/dev/null 2>&1 &
    sleep 1
    if timeout 3 "$vireo" console con </dev/null >"$ts_dir/c2" 2>&1; then echo "second console accepted"; fi
    grep -q "already attached" "$ts_dir/c2" && echo "console: a second client is refused"
    wait
    ts_console con | grep -q "console-marker-42" && echo "console: reattached, history kept"
    # Ctrl-] on a terminal detaches at once (script(1) gives the console a pty).
    # (The pipeline lasts as long as its writer: the result is taken inside.)
    { sleep 2; printf '\035'; sleep 12; } |
        { timeout 10 script -qfec "$vireo console con" /dev/null >/dev/null; echo "rc=$?" >"$ts_dir/detach"; } ||
        true
    cat "$ts_dir/detach"
    grep -qx "rc=0" "$ts_dir/detach" && echo "console: Ctrl-] detached"
    "$vireo" shutdown -w -t 60 con && echo "shutdown -w: con stopped"
    timeout 20 "$vireo" create -c "$(ts_cfg attached wait)" </dev/null >"$ts_dir/c3" 2>&1 || true
    grep -q "waiting for the power button" "$ts_dir/c3" && echo "create -c: attached from the start"
    grep -q "init started" "$ts_dir/c3" && echo "create -c: saw the boot"
    "$vireo" shutdown -w -t 60 attached
}
export -f ts_console_case
check "toolstack: console input, output buffer, one client, reattach" 150 0 \
    "+console: the guest's shell answered" "+console: a second client is refused" \
    "+console: reattached, history kept" "-second console accepted" "+shutdown -w: con stopped" \
    "+create -c: attached from the start" "+create -c: saw the boot" "+console: Ctrl-] detached" \
    -- bash -c ts_console_case

# 3. A guest that ignores the power button: shutdown -w gives up and says
#    so; destroy ends it.
ts_destroy_case() {
    set -e
    ts_setup destroy
    "$vireo" create "$(ts_cfg deaf ignore-button)"
    ts_wait_console deaf "vireo-guest: ignoring the power button"
    local pid; pid=$(ts_field deaf pid)
    rc=0
    "$vireo" shutdown -w -t 5 deaf 2>"$ts_dir/err" || rc=$?
    cat "$ts_dir/err"
    [ "$rc" = 1 ] && grep -q "deaf: did not power off within 5 s" "$ts_dir/err" && echo "shutdown -w: timed out, named it"
    "$vireo" destroy deaf && echo "destroy: exit 0"
    ! kill -0 "$pid" 2>/dev/null && echo "destroy: process $pid gone"
    [ "$("$vireo" list | wc -l)" = 1 ] && echo "list: empty afterwards"
}
export -f ts_destroy_case
check "toolstack: destroy stops a VM that ignores the power button" 120 0 \
    "+shutdown -w: timed out, named it" "+destroy: exit 0" "+destroy: process" "+list: empty afterwards" -- bash -c ts_destroy_case

# 4. on_reboot=restart restarts in place (same ID, same process); `reboot`
#    is the power button plus a restart.
ts_restart_case() {
    set -e
    ts_setup restart
    "$vireo" create "$(ts_cfg looper reboot 'on_reboot = "restart"')"
    local id; id=$(ts_field looper id)
    local pid; pid=$(ts_field looper pid)
    local i
    for ((i = 0; i < 60; i++)); do
        [ "$(ts_field looper restarts)" -ge 2 ] && break
        sleep 1
    done
    echo "looper: restarts=$(ts_field looper restarts) id=$(ts_field looper id) pid=$(ts_field looper pid)"
    [ "$(ts_field looper restarts)" -ge 2 ] && [ "$(ts_field looper id)" = "$id" ] &&
        [ "$(ts_field looper pid)" = "$pid" ] && echo "on_reboot=restart: restarted in place"
    [ "$(ts_console looper | grep -c "vireo-guest: init started")" -ge 2 ] && echo "console: several boots"
    "$vireo" destroy looper
    # A guest that reboots at once is given up after 10 restarts in 60 s.
    # Its kernel resets the machine in its first instructions: a real one
    # takes tens of seconds a boot under the test host's emulation.
    "$(dirname "$vireo")/tests/unit/mk_reset_kernel" "$ts_dir/reset.bzimage"
    "$vireo" create "$(ts_cfg spinner reboot 'on_reboot = "restart"')" "kernel=\"$ts_dir/reset.bzimage\""
    pid=$(ts_field spinner pid)
    for ((i = 0; i < 60 && $(kill -0 "$pid" 2>/dev/null && echo 1 || echo 0); i++)); do sleep 1; done
    grep -q "not restarting: 10 restarts within 60 s" "$VIREO_LOG_DIR/spinner.log" && ! kill -0 "$pid" 2>/dev/null &&
        echo "restart loop: given up"
    "$vireo" create "$(ts_cfg rb wait)"
    ts_wait_console rb "vireo-guest: waiting for the power button"
    "$vireo" reboot -w -t 60 rb && echo "reboot -w: powered off"
    for ((i = 0; i < 60; i++)); do
        [ "$(ts_console rb | grep -c "waiting for the power button")" -ge 2 ] && break
        sleep 1
    done
    [ "$(ts_field rb restarts)" = 1 ] && [ "$(ts_field rb state)" = running ] && echo "reboot: running again"
    "$vireo" shutdown -w -t 60 rb && echo "shutdown after reboot: stopped"
}
export -f ts_restart_case
check "toolstack: on_reboot=restart restarts in place, not forever; reboot command" 360 0 \
    "+on_reboot=restart: restarted in place" "+console: several boots" "+restart loop: given up" "+reboot -w: powered off" \
    "+reboot: running again" "+shutdown after reboot: stopped" -- bash -c ts_restart_case

# 4b. on_poweroff/on_crash=preserve keep the stopped VM listed (s, c)
#     until destroy.
ts_preserve_case() {
    set -e
    ts_setup preserve
    "$vireo" create "$(ts_cfg off hello 'on_poweroff = "preserve"')"
    "$vireo" create "$(ts_cfg boom "crash panic=-1 reboot=t" 'on_crash = "preserve"')"
    local i
    for ((i = 0; i < 60; i++)); do
        [ "$(ts_field off state)" = shutdown ] && [ "$(ts_field boom state)" = crashed ] && break
        sleep 1
    done
    "$vireo" list | tee "$ts_dir/list"
    awk '$1 == "off" && $5 == "---s--"' "$ts_dir/list" | grep -q . && echo "preserve: off listed as shut down"
    awk '$1 == "boom" && $5 == "----c-"' "$ts_dir/list" | grep -q . && echo "preserve: boom listed as crashed"
    "$vireo" shutdown off 2>&1 | grep -q "not running (shutdown)" && echo "preserve: shutdown refused"
    "$vireo" destroy off && "$vireo" destroy boom
    [ "$("$vireo" list | wc -l)" = 1 ] && echo "preserve: destroy removed both"
}
export -f ts_preserve_case
check "toolstack: on_poweroff/on_crash=preserve keep the VM until destroy" 120 0 \
    "+preserve: off listed as shut down" "+preserve: boom listed as crashed" "+preserve: shutdown refused" \
    "+preserve: destroy removed both" -- bash -c ts_preserve_case

# 5. pause/unpause, create -p, and the power button refused while paused.
ts_pause_case() {
    set -e
    ts_setup pause
    "$vireo" create -p "$(ts_cfg pz wait)"
    [ "$(ts_field pz flags)" = "--p---" ] && echo "create -p: paused"
    ! ts_console pz | grep -q "init started" && echo "create -p: the guest has not run"
    "$vireo" unpause pz
    ts_wait_console pz "vireo-guest: waiting for the power button"
    "$vireo" pause "$(ts_field pz id)"   # IDs work where names do, as in xl
    [ "$(ts_field pz state)" = paused ] && echo "pause: paused"
    "$vireo" vcpu-list pz | awk '$1 == "pz" && $5 == "--p"' | grep -q . && echo "vcpu-list: paused vCPU"
    "$vireo" shutdown pz 2>"$ts_dir/err" || grep -q "paused" "$ts_dir/err" && echo "shutdown while paused: refused"
    "$vireo" unpause pz
    "$vireo" shutdown -w -t 60 pz && echo "unpaused, then shut down"
}
export -f ts_pause_case
check "toolstack: pause, unpause, create -p" 150 0 "+create -p: paused" "+create -p: the guest has not run" \
    "+pause: paused" "+vcpu-list: paused vCPU" "+shutdown while paused: refused" "+unpaused, then shut down" -- bash -c ts_pause_case

# 6. vcpu-list, vcpu-pin, block-list, network-list, info.
ts_lists_case() {
    set -e
    ts_setup lists
    truncate -s 16M "$ts_dir/d0.img"
    "$vireo" create "$(ts_cfg lv wait 'vcpus = 2' "disk = ['format=raw, vdev=xvda, access=rw, target=$ts_dir/d0.img']")"
    ts_wait_console lv "vireo-guest: waiting for the power button"
    "$vireo" vcpu-list lv | tee "$ts_dir/vl"
    [ "$(awk '$1 == "lv"' "$ts_dir/vl" | wc -l)" = 2 ] && echo "vcpu-list: two vCPUs"
    "$vireo" vcpu-pin lv all 0 && echo "vcpu-pin all 0: ok"
    "$vireo" vcpu-pin lv 0 4096 2>&1 | grep -q "does not exist" && echo "vcpu-pin to a missing CPU: refused"
    "$vireo" vcpu-pin lv 7 0 2>&1 | grep -q "no vCPU 7" && echo "vcpu-pin of a missing vCPU: refused"
    "$vireo" block-list lv | tee "$ts_dir/bl"
    awk -v t="$ts_dir/d0.img" '$1 == "xvda" && $2 == "vda" && $3 == "rw" && $4 == "raw" && $5 == t' "$ts_dir/bl" |
        grep -q . && echo "block-list: xvda as vda"
    [ "$("$vireo" network-list lv | wc -l)" = 1 ] && echo "network-list: header, no vifs"
    "$vireo" info | grep -q "^nr_vms *: 1$" && echo "info: one VM"
    # --json: each table's rows with the README's field names and types.
    "$vireo" list --json lv | python3 -c 'import json, sys; r = json.load(sys.stdin)
assert [sorted(o) for o in r] == [["cpu_time", "id", "memory_mib", "name", "state", "vcpus"]], r
o = r[0]
assert o["name"] == "lv" and type(o["id"]) is int and o["id"] > 0 and o["memory_mib"] == 256 and o["vcpus"] == 2, o
assert len(o["state"]) == 6 and type(o["cpu_time"]) is float, o' && echo "list --json: the row"
    # The affinity as the table shows it (after the pin to CPU 0: "all" on a one-CPU host).
    local aff
    aff=$("$vireo" vcpu-list lv | awk '$1 == "lv" { print $7 }' | paste -sd,)
    "$vireo" vcpu-list --json lv | A="$aff" python3 -c 'import json, os, sys; r = json.load(sys.stdin)
assert [o["vcpu"] for o in r] == [0, 1] and all(o["name"] == "lv" for o in r), r
for o in r:
    assert sorted(o) == ["affinity", "cpu", "cpu_time", "id", "name", "state", "vcpu"], o
    assert type(o["id"]) is int and type(o["cpu"]) in (int, type(None)) and len(o["state"]) == 3, o
    assert type(o["cpu_time"]) is float and o["cpu_time"] >= 0, o
assert ",".join(o["affinity"] for o in r) == os.environ["A"], (r, os.environ["A"])' && echo "vcpu-list --json: two vCPUs"
    "$vireo" block-list --json lv | T="$ts_dir/d0.img" python3 -c 'import json, os, sys; r = json.load(sys.stdin)
assert r == [{"vdev": "xvda", "guest_dev": "vda", "access": "rw", "format": "raw", "target": os.environ["T"]}], r' &&
        echo "block-list --json: xvda as vda"
    [ "$("$vireo" network-list --json lv | python3 -c 'import json, sys; print(json.load(sys.stdin))')" = "[]" ] &&
        echo "network-list --json: no vifs"
    "$vireo" info --json | python3 -c 'import json, sys; o = json.load(sys.stdin)
assert o["nr_vms"] == 1 and o["vm_memory"] == 256 and type(o["nr_cpus"]) is int, o
assert all(sorted(c) == ["detail", "name", "status"] for c in o["checks"]), o' && echo "info --json: one VM"
    "$vireo" shutdown -w -t 60 lv
}
export -f ts_lists_case
check "toolstack: vcpu-list, vcpu-pin, block-list, network-list, info" 150 0 "+vcpu-list: two vCPUs" \
    "+vcpu-pin all 0: ok" "+vcpu-pin to a missing CPU: refused" "+vcpu-pin of a missing vCPU: refused" \
    "+block-list: xvda as vda" "+network-list: header, no vifs" "+info: one VM" "+list --json: the row" \
    "+vcpu-list --json: two vCPUs" "+block-list --json: xvda as vda" "+network-list --json: no vifs" \
    "+info --json: one VM" -- bash -c ts_lists_case

# 6b. vif = [...] gives the VM a virtio-net interface on a TAP under the
#     bridge; network-list shows it; the TAP goes with the VM.
ts_vif_case() {
    set -e
    ts_setup vif
    local br=tsbr$$
    ip link add "$br" type bridge
    trap 'for n in $("$vireo" list 2>/dev/null | awk "NR > 1 { print \$1 }"); do "$vireo" destroy "$n"; done; ip link del '"$br"' 2>/dev/null' EXIT
    "$vireo" create "$(ts_cfg nic wait "vif = ['bridge=$br, mac=02:11:22:33:44:55, vifname=tsvif$$']")"
    "$vireo" network-list nic | tee "$ts_dir/nl"
    awk -v b="$br" -v v="tsvif$$" '$1 == 0 && $2 == b && $3 == "02:11:22:33:44:55" && $4 == v' "$ts_dir/nl" | grep -q . &&
        echo "network-list: the vif"
    "$vireo" network-list --json nic | B="$br" V="tsvif$$" python3 -c 'import json, os, sys; r = json.load(sys.stdin)
assert r == [{"idx": 0, "bridge": os.environ["B"], "mac": "02:11:22:33:44:55", "vifname": os.environ["V"]}], r' &&
        echo "network-list --json: the vif"
    [ "$(basename "$(readlink "/sys/class/net/tsvif$$/master")")" = "$br" ] && echo "TAP: under the bridge"
    ts_wait_console nic "vireo-guest: waiting for the power button"
    "$vireo" shutdown -w -t 90 nic || echo "shutdown -w: exit $?"
    # The kernel deletes the TAP when the last descriptor closes, just
    # after the VM process is gone.
    local i
    for ((i = 0; i < 10 && $(ls -d "/sys/class/net/tsvif$$" 2>/dev/null | wc -l) > 0; i++)); do sleep 1; done
    [ ! -e "/sys/class/net/tsvif$$" ] && echo "TAP: gone with the VM"
}
export -f ts_vif_case
check "toolstack: vif on a bridge, network-list, TAP removed with the VM" 200 0 "+network-list: the vif" \
    "+network-list --json: the vif" \
    "+TAP: under the bridge" "+TAP: gone with the VM" -- bash -c ts_vif_case

# 6c. vif vhost=on|off: the VM process opens /dev/vhost-net before it drops
#     root (vhost=on) or moves the frames itself (vhost=off); it says which,
#     runs confined, and the guest boots and powers off on request.
ts_vif_vhost_case() {
    set -e
    ts_setup vifvhost
    local br=tsvb$$ how
    ip link add "$br" type bridge
    trap 'for n in $("$vireo" list 2>/dev/null | awk "NR > 1 { print \$1 }"); do "$vireo" destroy "$n"; done; ip link del '"$br"' 2>/dev/null' EXIT
    for how in on off; do
        "$vireo" create "$(ts_cfg "vh$how" wait "vif = ['bridge=$br, vhost=$how']")" 2>&1 | tee "$ts_dir/create-$how"
        if ! ts_wait_console "vh$how" "vireo-guest: waiting for the power button"; then
            echo "vhost=$how: the guest did not come up; console and VM log:"
            ts_console "vh$how" | tail -n 20
        fi
        "$vireo" shutdown -w -t 90 "vh$how" || echo "shutdown -w: exit $?"
    done
    # What the VM process said at its start, which `vireo create` shows.
    grep -q "1 queue pair, vhost-net" "$ts_dir/create-on" && echo "vhost=on: vhost-net"
    grep -q "1 queue pair, user-space" "$ts_dir/create-off" && echo "vhost=off: user-space"
    grep -q "seccomp filters per thread" "$ts_dir/create-on" && echo "vhost=on: confined"
}
export -f ts_vif_vhost_case
check "toolstack: vif vhost=on and vhost=off choose the data plane" 240 0 "+vhost=on: vhost-net" \
    "+vhost=off: user-space" "+vhost=on: confined" -- bash -c ts_vif_vhost_case

# 6d. NIC counters on both data planes: the guest sends 512 KiB over TCP
#     to the host; `network-list -l` counts them as the guest's transmit,
#     and the host's replies as its receive, with vhost=on (the TAP's
#     counters: the frames never pass through the VMM) as with vhost=off.
ts_vif_counters_case() {
    ts_setup vifcount
    local br=tscb$$ how hip=169.254.73.1 gip=169.254.73.2
    ip link add "$br" type bridge && ip addr add "$hip/24" dev "$br" && ip link set "$br" up || return 1
    trap 'for n in $("$vireo" list 2>/dev/null | awk "NR > 1 { print \$1 }"); do "$vireo" destroy "$n"; done; ip link del '"$br"' 2>/dev/null' EXIT
    cat >"$ts_dir/send.sh" <<EOF
ip link set eth0 up
ip addr add $gip/24 dev eth0
i=0
until ping -c 1 -W 1 $hip >/dev/null 2>&1 || [ \$i -ge 60 ]; do i=\$((i + 1)); sleep 1; done
i=0
until dd if=/dev/zero bs=1024 count=512 2>/dev/null | timeout 60 nc $hip 5003 || [ \$i -ge 10 ]; do i=\$((i + 1)); sleep 1; done
echo "vireo-guest: sent"
sleep 120
EOF
    for how in on off; do
        timeout 200 socat -u TCP-LISTEN:5003,reuseaddr OPEN:/dev/null &
        "$vireo" create "$(ts_cfg "vc$how" "script vireo.script=$(gzip -9c <"$ts_dir/send.sh" | base64 -w0)" \
            "vif = ['bridge=$br, vhost=$how']")" >/dev/null 2>&1 || echo "create vhost=$how failed"
        ts_wait_console "vc$how" "vireo-guest: sent" 240 || { wait; continue; }
        "$vireo" network-list -l "vc$how" | python3 -c '
import json, sys
v = json.load(sys.stdin)["vifs"][0]
ok = v["tx_bytes"] >= 512 * 1024 and v["tx_packets"] > 0 and v["rx_packets"] > 0 and v["rx_bytes"] > 0
print("vhost=%s: %s: tx %d bytes in %d frames, rx %d bytes in %d frames" % (sys.argv[1],
      "counted the 512 KiB sent" if ok else "WRONG", v["tx_bytes"], v["tx_packets"], v["rx_bytes"],
      v["rx_packets"]))' "$how"
        "$vireo" destroy "vc$how"
        wait
    done
}
export -f ts_vif_counters_case
check "toolstack: network-list -l counts the guest's frames with vhost=on (the TAP's counters) and vhost=off" 600 0 \
    "+vhost=on: counted the 512 KiB sent" "+vhost=off: counted the 512 KiB sent" "-WRONG" \
    -- bash -c ts_vif_counters_case

# 7. Only the owner reaches the control socket: the modes keep others out,
#    and the peer check holds even with the modes loosened.
ts_perm_case() {
    set -e
    ts_setup perm
    chmod 755 "$ts_dir"
    "$vireo" create "$(ts_cfg own wait)"
    local sock=$VIREO_RUN_DIR/own/control
    stat -c '%a' "$sock" | grep -qx 600 && stat -c '%a' "$VIREO_RUN_DIR/own" | grep -qx 700 &&
        echo "modes: socket 0600, directory 0700"
    ! setpriv --reuid=65534 --regid=65534 --clear-groups socat -T2 - "UNIX-CONNECT:$sock" </dev/null 2>/dev/null &&
        echo "nobody: cannot connect"
    chmod 711 "$VIREO_RUN_DIR" "$VIREO_RUN_DIR/own"
    chmod 666 "$sock"
    # The refusal comes as soon as the connection is accepted: only read.
    setpriv --reuid=65534 --regid=65534 --clear-groups socat -T2 -u "UNIX-CONNECT:$sock" - </dev/null |
        tee "$ts_dir/nobody" | grep -q "not the VM's owner" && echo "nobody with loosened modes: refused by uid"
    ! grep -q '"name"' "$ts_dir/nobody" && echo "nobody: learned nothing"
    echo '{"cmd":"info"}' | socat -T2 - "UNIX-CONNECT:$sock" | grep -q '"name":"own"' && echo "root: answered"
    "$vireo" destroy own
}
export -f ts_perm_case
check "toolstack: the control socket refuses other users" 120 0 "+modes: socket 0600, directory 0700" \
    "+nobody: cannot connect" "+nobody with loosened modes: refused by uid" "+nobody: learned nothing" \
    "+root: answered" -- bash -c ts_perm_case

# 8. A killed VM process leaves a stale entry that list cleans; SIGTERM
#    (the host shutting down) presses the power button.
ts_kill_case() {
    set -e
    ts_setup kill
    "$vireo" create "$(ts_cfg k9 wait)"
    kill -9 "$(ts_field k9 pid)"
    sleep 0.5
    [ "$("$vireo" list | wc -l)" = 1 ] && [ ! -e "$VIREO_RUN_DIR/k9" ] && echo "kill -9: list cleaned the stale entry"
    "$vireo" create "$(ts_cfg k9 wait)" && echo "kill -9: the name is free again"
    ts_wait_console k9 "vireo-guest: waiting for the power button"
    local pid; pid=$(ts_field k9 pid)
    kill -TERM "$pid"
    local i
    for ((i = 0; i < 600 && $(kill -0 "$pid" 2>/dev/null && echo 1 || echo 0); i++)); do sleep 0.1; done
    ! kill -0 "$pid" 2>/dev/null && grep -q "SIGTERM: pressing the power button" "$VIREO_LOG_DIR/k9.log" &&
        grep -q "guest powered off" "$VIREO_LOG_DIR/k9.log" && echo "SIGTERM: the guest powered off"
}
export -f ts_kill_case
check "toolstack: kill -9 leaves nothing stale; SIGTERM powers the guest off" 150 0 \
    "+kill -9: list cleaned the stale entry" "+kill -9: the name is free again" "+SIGTERM: the guest powered off" -- bash -c ts_kill_case

# 9. Errors before anything starts: a bad file, a taken name, a missing
#    kernel.  Nothing is left running or in the run directory.
ts_errors_case() {
    ts_setup errors
    printf 'name = "bad"\nmemory = 256\nkernel = "%s"\nmemroy = 5\n' "$cloud" >"$ts_dir/bad.cfg"
    "$vireo" create "$ts_dir/bad.cfg"
    echo "bad config rc=$?"
    "$vireo" create "$(ts_cfg nokernel wait)" kernel=\"/nonexistent/vmlinuz\"
    echo "missing kernel rc=$?"
    "$vireo" create "$(ts_cfg pinned wait 'cpus = "1000"')"
    echo "vCPU pinned to a missing CPU rc=$?"
    truncate -s 1M "$ts_dir/io.img"
    "$vireo" create "$(ts_cfg iopin wait "disk = ['$ts_dir/io.img,raw,xvda,rw']" 'iothread_cpus = "1000"')"
    echo "I/O thread pinned to a missing CPU rc=$?"
    "$vireo" create -n "$(ts_cfg dry wait)" memory=300 | grep -q '"memory": 300,' && echo "create -n: printed the config"
    "$vireo" create "$(ts_cfg dup wait)" >/dev/null 2>&1
    "$vireo" create "$ts_dir/dup.cfg"
    echo "duplicate rc=$?"
    echo "running: $("$vireo" list | awk 'NR > 1 { print $1 }' | tr '\n' ' ')"
    echo "run directory: $(ls "$VIREO_RUN_DIR" | tr '\n' ' ')"
    "$vireo" destroy dup
}
export -f ts_errors_case
check "toolstack: bad config, missing kernel, missing CPUs, taken name: exit 1, nothing started" 90 0 \
    "+bad.cfg:4:1: unknown key 'memroy'" "+bad config rc=1" "+/nonexistent/vmlinuz" "+missing kernel rc=1" \
    "+cpus: vCPU 0 would run on no CPU this host lets it use" "+vCPU pinned to a missing CPU rc=1" \
    "+iothread_cpus: disk 0 would run on no CPU this host lets it use" "+I/O thread pinned to a missing CPU rc=1" \
    "+a VM named 'dup' is already running" "+duplicate rc=1" "+running: dup " "+run directory: dup " "-nokernel" "-'pinned' started" "-'iopin' started" \
    "+create -n: printed the config" "-'dry' started" \
    -- bash -c ts_errors_case

# 10a. Files root opens for a VM where others may write: a symbolic link
#      (or a FIFO) planted as the serial file or the VM log is refused,
#      and the file it names stays as it was.
ts_planted_case() {
    set -e
    ts_setup planted
    echo precious >"$ts_dir/target"
    ln -s "$ts_dir/target" "$ts_dir/serial.out"
    local rc=0
    "$vireo" create "$(ts_cfg ser hello "serial = \"file:$ts_dir/serial.out\"")" 2>"$ts_dir/err" || rc=$?
    cat "$ts_dir/err"
    [ "$rc" = 1 ] && grep -qF "serial file $ts_dir/serial.out: is a symbolic link" "$ts_dir/err" &&
        echo "serial symlink: refused, exit 1"
    [ -z "$(ls "$VIREO_RUN_DIR")" ] && echo "serial symlink: nothing left running"
    mkfifo "$ts_dir/fifo"
    rc=0
    timeout 30 "$vireo" create "$(ts_cfg fi hello "serial = \"file:$ts_dir/fifo\"")" 2>"$ts_dir/err" || rc=$?
    cat "$ts_dir/err"
    [ "$rc" = 1 ] && grep -qF "serial file $ts_dir/fifo: not a regular file" "$ts_dir/err" && echo "serial FIFO: refused"
    mkdir -p "$VIREO_LOG_DIR"
    ln -s "$ts_dir/target" "$VIREO_LOG_DIR/lg.log"
    "$vireo" create "$(ts_cfg lg wait)" 2>"$ts_dir/err"
    cat "$ts_dir/err"
    grep -qF "warning: VM log $VIREO_LOG_DIR/lg.log: is a symbolic link" "$ts_dir/err" && echo "log symlink: warned"
    ts_wait_console lg "vireo-guest: waiting for the power button"
    "$vireo" shutdown -w -t 60 lg && echo "log symlink: the VM ran"
    echo "target now: $(cat "$ts_dir/target")"
    [ "$(cat "$ts_dir/target")" = precious ] && echo "target: untouched"
    # A plain serial file gets everything, to the kernel's last line.
    "$vireo" create "$(ts_cfg sf hello "serial = \"file:$ts_dir/ok.out\"")"
    local i
    # Three boots in this case: under a loaded test host one takes a minute.
    for ((i = 0; i < 120 && $(ls "$VIREO_RUN_DIR" | wc -l) > 0; i++)); do sleep 1; done
    tail -n 3 "$ts_dir/ok.out"
    grep -q "Hello from a Vireo guest" "$ts_dir/ok.out" && grep -q "reboot: Power down" "$ts_dir/ok.out" &&
        echo "serial file: the guest's output to its last line"
}
export -f ts_planted_case
check "toolstack: a symlink or FIFO planted as the serial file or VM log is refused" 270 0 \
    "+serial symlink: refused, exit 1" "+serial symlink: nothing left running" "+serial FIFO: refused" \
    "+log symlink: warned" "+log symlink: the VM ran" "+target: untouched" \
    "+serial file: the guest's output to its last line" -- bash -c ts_planted_case

# 10b. A guest that prints without end, and makes the VMM log without end
#      (reads of an address nothing decodes, with VIREO_DEBUG=1): the
#      serial file and the VM log each stay under the cap (VIREO_LOG_MAX,
#      its least, 4 KiB, here), rotated to NAME.1, while the guest goes on.
#      The MMIO reads are paced at 20/s, which fills the 4 KiB cap every few
#      seconds: an unpaced loop of exits froze the whole emulated test host
#      (no heartbeat for 90 s) in stop 21.
ts_flood_case() {
    set -e
    ts_setup flood
    export VIREO_LOG_MAX=4K VIREO_DEBUG=1
    cat >"$ts_dir/flood.sh" <<'END'
( while :; do devmem 0xf0000000 >/dev/null; usleep 50000; done ) &
i=0
while :; do
    i=$((i + 1))
    echo "flood $i 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789"
    # Leaves the one vCPU to the other loop now and then.
    [ $((i % 20)) != 0 ] || usleep 200000
done
END
    "$vireo" create "$(ts_cfg fl "script vireo.script=$(gzip -9c <"$ts_dir/flood.sh" | base64 -w0)" \
        "serial = \"file:$ts_dir/serial.out\"")"
    local ser=$ts_dir/serial.out log=$VIREO_LOG_DIR/fl.log big=0 first_mtime= rotated_again=0 last=0
    local name size mtime deadline=$((SECONDS + 150))
    # Few processes per round: each costs tens of ms in the test host.
    while [ $SECONDS -lt $deadline ]; do
        sleep 2
        # A rotation copies the log into NAME.1 through the descriptor kept
        # since the start (util/capfile.c), so NAME.1 keeps its inode; its
        # modification time says it was written again.
        while read -r name size mtime; do
            [ -n "$name" ] || continue
            [ "$size" -le 4096 ] || { echo "$name: $size bytes"; big=1; }
            [ "$name" = "$log.1" ] && [ "$size" -gt 0 ] && [ -z "$first_mtime" ] && first_mtime=$mtime
            [ "$name" = "$log.1" ] && [ -n "$first_mtime" ] && [ "$mtime" != "$first_mtime" ] && rotated_again=1
        done <<<"$(stat -c '%n %s %.9Y' "$ser" "$ser.1" "$log" "$log.1" 2>/dev/null)"
        last=$(tail -n 2 "$ser" 2>/dev/null | sed -n 's/^flood \([0-9]*\) .*/\1/p' | tail -n 1)
        echo "$SECONDS s: guest at line ${last:-0}, log.1 written at ${first_mtime:-never}, rotated again: $rotated_again"
        [ "${last:-0}" -gt 300 ] && [ "$rotated_again" = 1 ] && break
    done
    echo "guest printed ${last:-0} lines (~$((${last:-0} * 93 / 1024)) KiB); sizes now:"
    ls -l "$ser"* "$log"* || true
    tail -n 3 "$log" || true
    [ "$big" = 0 ] && echo "flood: every file stayed within 4 KiB"
    [ "${last:-0}" -gt 300 ] && [ -e "$ser.1" ] && echo "serial file: rotated, guest printed over 6 times the cap"
    [ "$rotated_again" = 1 ] && grep -q "unclaimed MMIO read 0xf0000000" "$log" && echo "VM log: rotated more than once"
    "$vireo" destroy fl
}
export -f ts_flood_case
check "toolstack: endless guest output keeps the serial file and VM log under their caps" 300 0 \
    "+flood: every file stayed within 4 KiB" "+serial file: rotated, guest printed over 6 times the cap" \
    "+VM log: rotated more than once" -- bash -c ts_flood_case

# 10c. Live VMs' disk accounting against what their guests did: in obs,
#      dd with O_DIRECT writes exactly 8 MiB (then fsync) and reads 4 MiB,
#      then keeps reading; wr only writes.  block-list -l, `metrics
#      --textfile --once`, a real Prometheus server scraping `metrics
#      --listen`, `top -b` and top's screen in tmux must show that
#      (issue 15).  A guest's partition scan at boot adds a few reads.
ts_observe_case() {
    set -e
    ts_setup observe
    truncate -s 64M "$ts_dir/o.img"
    cat >"$ts_dir/obs.sh" <<'END'
dd if=/dev/zero of=/dev/vda bs=65536 count=128 oflag=direct conv=fsync 2>&1
dd if=/dev/vda of=/dev/null bs=65536 count=64 skip=512 iflag=direct 2>&1
echo "obs: io done"
while :; do dd if=/dev/vda of=/dev/null bs=65536 count=16 iflag=direct 2>/dev/null; usleep 100000; done
END
    "$vireo" create "$(ts_cfg obs "script vireo.script=$(gzip -9c <"$ts_dir/obs.sh" | base64 -w0)" \
        "disk = ['format=raw, vdev=xvda, access=rw, target=$ts_dir/o.img']")"
    # A second VM doing other I/O: writes only, all the time.
    truncate -s 64M "$ts_dir/w.img"
    echo 'while :; do dd if=/dev/zero of=/dev/vda bs=65536 count=16 oflag=direct 2>/dev/null; usleep 100000; done' \
        >"$ts_dir/w.sh"
    "$vireo" create "$(ts_cfg wr "script vireo.script=$(gzip -9c <"$ts_dir/w.sh" | base64 -w0)" \
        "disk = ['format=raw, vdev=xvda, access=rw, target=$ts_dir/w.img']")"
    ts_wait_console obs "obs: io done" 120
    ts_wait_console wr "vireo-guest: running script" 120
    "$vireo" block-list -l obs >"$ts_dir/bl.json"
    python3 - "$ts_dir/bl.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["disks"][0]
w, r, f = d["bytes"]["write"], d["bytes"]["read"], d["ops"]["flush"]
print(f"block-list -l: wrote {w} B, read {r} B, {d['ops']['write']} writes, {f} flushes")
if w == 8 << 20:
    print("block-list -l: exactly the 8 MiB the guest wrote")
if 4 << 20 <= r:
    print("block-list -l: at least the 4 MiB the guest read")
if f >= 1 and sum(d["failed"].values()) == 0:
    print("block-list -l: a flush, no failures")
q = d["queues"]
if sum(x["bytes"]["write"] for x in q) == w:
    print("block-list -l: the queues add up to the disk")
PY
    "$vireo" metrics --textfile "$ts_dir/m.prom" --once
    grep -E '^vireo_domain_block_stats_write_bytes_total\{.*domain="obs".*\} 8388608$' "$ts_dir/m.prom" &&
        echo "metrics: the 8 MiB written"
    # A real Prometheus server scrapes `vireo metrics --listen` (both bounded
    # by timeout, and stopped below), on the loopback of the case's own
    # network namespace (net_ns: the test host's loopback is down).
    timeout 200 "$vireo" metrics --listen 127.0.0.1:19101 >"$ts_dir/metrics.log" 2>&1 &
    local mpid=$!
    # A scrape asks every VM over its control socket: seconds in the test
    # host, so a timeout above Prometheus' default of 1 s.
    printf '%s\n' 'global: {scrape_interval: 5s, scrape_timeout: 5s}' 'scrape_configs:' '  - job_name: vireo' \
        "    static_configs: [{targets: ['127.0.0.1:19101']}]" >"$ts_dir/prom.yml"
    timeout 200 prometheus --config.file="$ts_dir/prom.yml" --storage.tsdb.path="$ts_dir/tsdb" \
        --web.listen-address=127.0.0.1:19090 >"$ts_dir/prom.log" 2>&1 &
    # curl and sed, not python3: each process costs seconds in the test host.
    local ppid=$! v= t0=$SECONDS q='vireo_domain_block_stats_write_bytes_total%7Bdomain%3D%22obs%22%7D'
    while [ $((SECONDS - t0)) -lt 120 ]; do
        sleep 2
        v=$(curl -sf -m 5 "http://127.0.0.1:19090/api/v1/query?query=$q" |
            sed -n 's/.*"value":\[[0-9.]*,"\([0-9]*\)"\].*/\1/p') || true
        [ "$v" = 8388608 ] && break
    done
    echo "prometheus: the scraped series reads '${v:-nothing}' after $((SECONDS - t0)) s"
    [ "$v" = 8388608 ] && echo "prometheus: scraped the 8 MiB written"
    [ "$v" = 8388608 ] || { curl -s -m 5 http://127.0.0.1:19090/api/v1/targets; tail -n 5 "$ts_dir/prom.log" "$ts_dir/metrics.log"; }
    kill "$ppid" "$mpid" 2>/dev/null || true
    wait "$ppid" "$mpid" 2>/dev/null || true
    "$vireo" top -b -n 2 -d 2 | tee "$ts_dir/top"
    awk '$1 == "obs" && $8 > 0 && $10 == 0 && $12 > 0' "$ts_dir/top" | tail -n 1 | grep -q . &&
        echo "top -b: obs reads, writes nothing, with a p50 latency, over the interval"
    awk '$1 == "wr" && $8 == 0 && $10 > 0' "$ts_dir/top" | tail -n 1 | grep -q . &&
        echo "top -b: wr writes, reads nothing"
    # The interactive screen in a real terminal (tmux): both VMs listed,
    # `w` sorts by writes (wr first), Enter opens its disks and queues, q
    # closes that view, q again quits.
    local tm=(tmux -L "vireo-obs$$") i
    "${tm[@]}" new-session -d -s top -x 200 -y 40 "$vireo top -d 2"
    for ((i = 0; i < 30; i++)); do
        sleep 1
        "${tm[@]}" capture-pane -p -t top >"$ts_dir/pane" 2>/dev/null || true
        grep -q '^wr ' "$ts_dir/pane" && grep -q '^obs ' "$ts_dir/pane" && break
    done
    cat "$ts_dir/pane"
    grep -q '^NAME  *ID  *STATE' "$ts_dir/pane" && grep -q '^wr ' "$ts_dir/pane" && grep -q '^obs ' "$ts_dir/pane" &&
        echo "top (tmux): both VMs on the screen"
    "${tm[@]}" send-keys -t top w
    for ((i = 0; i < 10; i++)); do
        sleep 1
        "${tm[@]}" capture-pane -p -t top >"$ts_dir/pane"
        grep -q 'sorted by write' "$ts_dir/pane" && break
    done
    grep -A1 '^NAME ' "$ts_dir/pane" | grep -q '^wr ' && echo "top (tmux): w sorts by writes, wr first"
    "${tm[@]}" send-keys -t top Enter
    for ((i = 0; i < 10; i++)); do
        sleep 1
        "${tm[@]}" capture-pane -p -t top >"$ts_dir/pane"
        grep -q '^VM wr (id' "$ts_dir/pane" && grep -q 'DISK  *QUEUE' "$ts_dir/pane" && break
    done
    cat "$ts_dir/pane"
    grep -q '^VM wr (id' "$ts_dir/pane" && grep -q 'DISK  *QUEUE' "$ts_dir/pane" &&
        echo "top (tmux): Enter opens wr's disks and queues"
    "${tm[@]}" send-keys -t top q
    sleep 2
    "${tm[@]}" send-keys -t top q
    for ((i = 0; i < 10; i++)); do
        "${tm[@]}" has-session -t top 2>/dev/null || break
        sleep 1
    done
    "${tm[@]}" has-session -t top 2>/dev/null || echo "top (tmux): q, q quits"
    "${tm[@]}" kill-server 2>/dev/null || true
    "$vireo" destroy obs
    "$vireo" destroy wr
}
export -f ts_observe_case
check "toolstack: two live VMs' disk I/O in block-list -l, metrics (scraped by Prometheus), top -b and top in tmux, against what the guests did" 480 0 \
    "+block-list -l: exactly the 8 MiB the guest wrote" "+block-list -l: at least the 4 MiB the guest read" \
    "+block-list -l: a flush, no failures" "+block-list -l: the queues add up to the disk" \
    "+metrics: the 8 MiB written" "+prometheus: scraped the 8 MiB written" \
    "+top -b: obs reads, writes nothing, with a p50 latency, over the interval" "+top -b: wr writes, reads nothing" \
    "+top (tmux): both VMs on the screen" "+top (tmux): w sorts by writes, wr first" \
    "+top (tmux): Enter opens wr's disks and queues" "+top (tmux): q, q quits" -- bash -c 'net_ns ts_observe_case'

# 10. The VM process under ASan/UBSan: create, console, shutdown.
# 12. bootloader = "pygrub": the kernel, initrd and command line from the
#     guest's own disk; root (Xen's xvda1, the guest's vda1) and extra are
#     added after the entry's command line.  A disk with nothing bootable:
#     create fails with the reason, nothing is left.
ts_pygrub_case() {
    set -e
    ts_setup pygrub
    local img=$ts_dir/guest.img out=$ts_dir/console.out script
    mk_boot_disk "$img" "load_env
set default=\"\${saved_entry}\"
menuentry 'Vireo one' --id one {
  linux /boot/vmlinuz $cmdline
  initrd /boot/initrd.img
}"
    script=$(printf 'cat /proc/cmdline\n' | gzip -9c | base64 -w0)
    cat >"$ts_dir/pg.cfg" <<END
name = "pg"
type = "pvh"
bootloader = "/usr/lib/xen/bin/pygrub"
root = "/dev/xvda1 ro"
extra = "vireo.action=script vireo.script=$script"
disk = ['file:$img,xvda,w']
serial = "file:$out"
END
    "$vireo" create "$ts_dir/pg.cfg"
    local i
    for ((i = 0; i < 120; i++)); do
        "$vireo" list pg >/dev/null 2>&1 || break
        sleep 1
    done
    cat "$out"
    grep -q "BOOT_IMAGE=/boot/vmlinuz console=ttyS0.* root=/dev/vda1 ro vireo.action=script" "$out" &&
        echo "pygrub: the entry's command line, then root (as vda1) and extra"
    truncate -s 64M "$ts_dir/empty.img"
    printf 'name = "nothing"\nbootloader = "pygrub"\ndisk = ["%s,raw,xvda,rw"]\n' "$ts_dir/empty.img" >"$ts_dir/nothing.cfg"
    set +e
    "$vireo" create "$ts_dir/nothing.cfg"
    echo "nothing to boot rc=$?"
    echo "running: $("$vireo" list | awk 'NR > 1 { print $1 }' | tr '\n' ' ')"
}
export -f ts_pygrub_case
check "toolstack: bootloader = pygrub boots the disk's grub.cfg entry, root and extra added" 180 0 \
    "+booting 'Vireo one' ((hd0,msdos1)/boot/grub/grub.cfg)" "+vireo-guest: script exit=0" \
    "+pygrub: the entry's command line, then root (as vda1) and extra" "+nothing to boot rc=1" \
    "+no kernel to boot from it: no boot loader configuration found" "-running: nothing" -- bash -c ts_pygrub_case

# 13. on_reboot=restart with pygrub reads the disk again: a default the
#     guest changed (as grub-set-default would) takes effect at its next boot.
ts_pygrub_restart_case() {
    set -e
    ts_setup pgrestart
    local img=$ts_dir/guest.img script
    script=$(printf 'echo vireo-test: first boot\nsleep 10\nreboot -f\n' | gzip -9c | base64 -w0)
    mk_boot_disk "$img" "load_env
set default=\"\${saved_entry}\"
menuentry 'Vireo one' --id one {
  linux /boot/vmlinuz $cmdline vireo.action=script vireo.script=$script
  initrd /boot/initrd.img
}
menuentry 'Vireo two' --id two {
  linux /boot/vmlinuz $cmdline vireo.action=wait
  initrd /boot/initrd.img
}"
    printf 'name = "rs"\nbootloader = "pygrub"\ndisk = ["%s,raw,xvda,rw"]\non_reboot = "restart"\n' "$img" \
        >"$ts_dir/rs.cfg"
    "$vireo" create "$ts_dir/rs.cfg"
    ts_wait_console rs "vireo-test: first boot" 120
    set_saved_entry "$img" two
    ts_wait_console rs "vireo-guest: waiting for the power button" 120
    [ "$(ts_field rs restarts)" = 1 ] && echo "restart: once, in place"
    grep -h "booting 'Vireo two'" "$VIREO_LOG_DIR/rs.log" && echo "restart: the disk read again"
    "$vireo" shutdown -w -t 60 rs && echo "shutdown: stopped"
}
export -f ts_pygrub_restart_case
check "toolstack: pygrub + on_reboot=restart boots the default the guest changed" 300 0 \
    "+booting 'Vireo one'" "+restart: once, in place" "+restart: the disk read again" "+shutdown: stopped" \
    -- bash -c ts_pygrub_restart_case

ts_asan_case() {
    set -e
    ts_setup asan
    vireo=$vireo_asan
    "$vireo" create "$(ts_cfg san wait 'vcpus = 2')"
    ts_wait_console san "vireo-guest: waiting for the power button" 120
    "$vireo" list
    "$vireo" shutdown -w -t 120 san && echo "asan: shut down"
    cat "$VIREO_LOG_DIR/san.log"
}
export -f ts_asan_case
check "toolstack: ASan/UBSan VM process: create, console, shutdown" 300 0 "+asan: shut down" \
    "+guest powered off" "-ERROR: AddressSanitizer" "-runtime error:" "-ERROR: LeakSanitizer" -- bash -c ts_asan_case

# 14. vireo clone of a running VM: its raw disk on XFS (a loop device in the
#     test host) is reflinked while the VM is frozen; the source keeps
#     running, the clone boots from NEWNAME.cfg and holds what the source's
#     guest wrote and flushed before the clone, and the two disks diverge.
#     Not qcow2: the toolstack's disks are raw until the qcow2 driver lands.
ts_clone_running_case() {
    set -e
    ts_setup clone
    PATH=$PATH:/usr/sbin:/sbin
    # The file system lives outside ts_dir, which a second run removes.
    local dev mnt
    mnt=$(mktemp -d "${TMPDIR:-/tmp}/clone-xfs.XXXXXX")
    truncate -s 320M "$mnt.img"
    dev=$(losetup --find --show "$mnt.img")
    # The VMs go first, then what their disks are on; also when `check`
    # times the case out (TERM).
    trap 'for n in $("$vireo" list 2>/dev/null | awk "NR > 1 { print \$1 }"); do "$vireo" destroy "$n"; done
          umount '"$mnt"' 2>/dev/null; losetup -d '"$dev"'; rm -rf '"$mnt $mnt.img" EXIT
    trap 'exit 1' TERM
    mkfs.xfs -q "$dev"
    mount -t xfs "$dev" "$mnt"
    truncate -s 64M "$mnt/src.raw"
    # What a guest shell command prints, between markers (the console
    # also echoes the command itself).
    gsh() {
        { sleep 2; echo "echo BEGIN-\$((1+1)); $2; echo END-\$((2+2))"; sleep 6; } |
            timeout 12 "$vireo" console "$1" 2>&1 | sed -n '/^BEGIN-2/,/^END-4/p' | tr -d '\r' | sed '1d;$d'
    }
    "$vireo" create "$(ts_cfg src wait "disk = ['format=raw, vdev=xvda, access=rw, target=$mnt/src.raw']")"
    ts_wait_console src "vireo-guest: waiting for the power button" 240
    echo "src: up"
    gsh src "echo flushed-by-src | dd of=/dev/vda bs=4096 seek=256 conv=sync,fsync 2>/dev/null; echo wrote=\$?"
    "$vireo" clone -o "$ts_dir" src dst | tee "$ts_dir/clone.out"
    grep -q "^cloned VM 'src' (running; frozen for [0-9]* ms) -> 'dst'" "$ts_dir/clone.out" && echo "clone: of a running VM"
    grep -qF "$mnt/src.raw -> $mnt/dst.raw (reflink, raw)" "$ts_dir/clone.out" && echo "clone: the disk reflinked"
    "$vireo" list | tee "$ts_dir/list" | awk '$1 == "src" && $5 ~ /^[-r][-b]----$/' | grep -q . &&
        echo "clone: the source runs on"
    "$vireo" create "$ts_dir/dst.cfg"
    ts_wait_console dst "vireo-guest: waiting for the power button" 240 && echo "clone: boots"
    [ "$(gsh dst "dd if=/dev/vda bs=4096 skip=256 count=1 2>/dev/null | head -c 14; echo")" = flushed-by-src ] &&
        echo "clone: holds the source's flushed write"
    gsh src "echo after-by-src | dd of=/dev/vda bs=4096 seek=512 conv=sync,fsync 2>/dev/null"
    gsh dst "echo after-by-dst | dd of=/dev/vda bs=4096 seek=512 conv=sync,fsync 2>/dev/null"
    "$vireo" shutdown -a -w -t 60 && echo "shutdown: both stopped"
    [ "$(dd if="$mnt/src.raw" bs=4096 skip=512 count=1 status=none | head -c 12)" = after-by-src ] &&
        [ "$(dd if="$mnt/dst.raw" bs=4096 skip=512 count=1 status=none | head -c 12)" = after-by-dst ] &&
        [ "$(dd if="$mnt/dst.raw" bs=4096 skip=256 count=1 status=none | head -c 14)" = flushed-by-src ] &&
        echo "clone: the two disks diverged"
}
export -f ts_clone_running_case
check "toolstack: vireo clone of a running VM (reflink on XFS), the clone boots, the two diverge" 900 0 \
    "+clone: of a running VM" "+clone: the disk reflinked" "+clone: the source runs on" "+clone: boots" \
    "+clone: holds the source's flushed write" "+shutdown: both stopped" "+clone: the two disks diverged" \
    -- bash -c ts_clone_running_case

# Memory: maxmem, mem-set, mem-max (issue 19).
. "$here/cases-toolstack-mem.sh"
