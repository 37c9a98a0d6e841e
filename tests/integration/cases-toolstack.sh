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
    # A guest that reboots at once is given up after 10 restarts in 60 s.
    for ((i = 0; i < 120 && $(kill -0 "$pid" 2>/dev/null && echo 1 || echo 0); i++)); do sleep 1; done
    grep -q "not restarting: 10 restarts within 60 s" "$VIREO_LOG_DIR/looper.log" && ! kill -0 "$pid" 2>/dev/null &&
        echo "restart loop: given up"
    "$vireo" create "$(ts_cfg rb wait)"
    ts_wait_console rb "vireo-guest: waiting for the power button"
    "$vireo" reboot -w -t 60 rb && echo "reboot -w: powered off"
    for ((i = 0; i < 60; i++)); do
        [ "$(ts_console rb | grep -c "waiting for the power button")" -ge 2 ] && break
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
    "$vireo" shutdown -w -t 60 lv
}
export -f ts_lists_case
check "toolstack: vcpu-list, vcpu-pin, block-list, network-list, info" 150 0 "+vcpu-list: two vCPUs" \
    "+vcpu-pin all 0: ok" "+vcpu-pin to a missing CPU: refused" "+vcpu-pin of a missing vCPU: refused" \
    "+block-list: xvda as vda" "+network-list: header, no vifs" "+info: one VM" -- bash -c ts_lists_case

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
    [ "$(basename "$(readlink "/sys/class/net/tsvif$$/master")")" = "$br" ] && echo "TAP: under the bridge"
    ts_wait_console nic "vireo-guest: waiting for the power button"
    "$vireo" shutdown -w -t 60 nic
    [ ! -e "/sys/class/net/tsvif$$" ] && echo "TAP: gone with the VM"
}
export -f ts_vif_case
check "toolstack: vif on a bridge, network-list, TAP removed with the VM" 120 0 "+network-list: the vif" \
    "+TAP: under the bridge" "+TAP: gone with the VM" -- bash -c ts_vif_case

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

# 10. The VM process under ASan/UBSan: create, console, shutdown.
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
