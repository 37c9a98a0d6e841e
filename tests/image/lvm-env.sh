# lvm-env.sh: a private lvm2 configuration for tests (sourced), so lvm2
# sees only the test's loop device, works without udev (the test host has
# none), and writes no metadata backups into the read-only /etc:
# lvm_env_setup DIR LOOPDEV sets LVM_SYSTEM_DIR.
lvm_env_setup() {
    mkdir -p "$1"
    cat >"$1/lvm.conf" <<END
devices {
    global_filter = [ "a|^$2\$|", "r|.*|" ]
    use_devicesfile = 0
}
activation {
    udev_sync = 0
    udev_rules = 0
    monitoring = 0
}
global {
    use_lvmpolld = 0
}
backup {
    backup = 0
    archive = 0
}
END
    export LVM_SYSTEM_DIR=$1 LVM_SUPPRESS_FD_WARNINGS=1
}
