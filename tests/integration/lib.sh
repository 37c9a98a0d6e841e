# lib.sh: what the integration suites share (sourced by suite.sh, inside
# the test host).  Expects vireo, vireo_asan, cloud, generic, initrd,
# cmdline and logs to be set.
n=0 passed=0 failed=0 retried=0
# attempt LOG SECS WANT PATTERNS... -- CMD...: one run; the reasons it failed
# go to the array `why`.
attempt() {
    local log=$1 secs=$2 want=$3 rc=0 p
    shift 3
    local pats=()
    while [ "$1" != -- ]; do pats+=("$1"); shift; done
    shift
    why=()
    timeout -k 5 "$secs" "$@" </dev/null >"$log" 2>&1 || rc=$?
    [ "$rc" = 124 ] && why+=("timed out after ${secs}s")
    [ "$rc" = "$want" ] || why+=("exit status $rc, expected $want")
    for p in ${pats[@]+"${pats[@]}"}; do
        case $p in
        +*) grep -qiF -- "${p#+}" "$log" || why+=("output lacks '${p#+}'") ;;
        -*) ! grep -qiF -- "${p#-}" "$log" || why+=("output has '${p#-}'") ;;
        esac
    done
}

# check NAME SECONDS WANT_STATUS [+TEXT|-TEXT]... -- CMD...
# Runs CMD bounded by SECONDS; passes if it exits WANT_STATUS and its output
# (stdout+stderr) contains each +TEXT and none of the -TEXT (case-insensitive).
# A failed case runs once more and passes only if that run passes; the
# first failure is printed either way.  Why: the test host is a nested
# guest under TCG, whose emulation occasionally crashes a guest kernel
# (seen: a Debian kernel faulting on its own GS base, not reproducible).
# A defect of ours that shows once in two runs still fails.
check() {
    local name=$1 secs=$2 want=$3
    shift 3
    # VIREO_TEST_ONLY=REGEX runs only the cases whose names match, while
    # working on them; the others are neither run nor counted.
    [ -z "${VIREO_TEST_ONLY:-}" ] || [[ $name =~ $VIREO_TEST_ONLY ]] || return 0
    n=$((n + 1))
    local log=$logs/$n.log why=()
    attempt "$log" "$secs" "$want" "$@"
    if [ ${#why[@]} -ne 0 ]; then
        local first=("${why[@]}")
        echo "# $n - $name: first run failed; its output:"
        printf '#   %s\n' "${first[@]}"
        sed 's/^/#   | /' "$log"
        attempt "$log.retry" "$secs" "$want" "$@"
        log=$log.retry
        [ ${#why[@]} -eq 0 ] && retried=$((retried + 1)) && echo "# $n - passed when run again"
    fi
    if [ ${#why[@]} -eq 0 ]; then
        echo "ok $n - $name"
        passed=$((passed + 1))
    else
        while [ "$1" != -- ]; do shift; done
        shift
        echo "not ok $n - $name"
        printf '#   %s\n' "${why[@]}" "command: $*" "output:"
        sed 's/^/#   | /' "$log"
        failed=$((failed + 1))
    fi
}

# Cases that are shell functions run under `check` in their own bash, so
# what they use is exported.
export vireo vireo_asan cloud generic initrd cmdline

# pattern_md5 NAME BYTES: the md5 of what a guest script writes with
# `yes NAME | head -c BYTES` (busybox's yes and head produce exactly what
# coreutils' do).  `yes` ends by SIGPIPE, which pipefail would count as a
# failure.
pattern_md5() { { yes "$1" || true; } | head -c "$2" | md5sum | cut -d' ' -f1; }
# run_guest SCRIPT_FILE VIREO_ARGS...: boots the cloud kernel whose init
# runs the script (gzip+base64 on the kernel command line); output to
# stdout.
run_guest() {
    local script=$1
    shift
    "$vireo" run --kernel "$cloud" --initrd "$initrd" \
        --cmdline "$cmdline vireo.action=script vireo.script=$(gzip -9c <"$script" | base64 -w0)" "$@"
}
export -f pattern_md5 run_guest

# mk_boot_disk IMG GRUB_CFG: a guest disk as an installer leaves it: an MBR
# partition table and an ext4 partition 1 (4 KiB blocks) holding
# /boot/vmlinuz (the cloud kernel), /boot/initrd.img (the test
# initramfs), /boot/grub/grub.cfg (GRUB_CFG) and a 1 KiB grubenv with
# saved_entry=one.  Made with sfdisk and mkfs.ext4 -d: nothing is mounted.
# IMG.envoff gets the byte offset of the grubenv's data in IMG, so a test
# can switch saved_entry in place while a VM holds the disk.
mk_boot_disk() {
    local img=$1 cfg=$2 d blk
    PATH=$PATH:/usr/sbin:/sbin
    d=$(mktemp -d "${img}.fs.XXXXXX")
    mkdir -p "$d/boot/grub"
    cp "$cloud" "$d/boot/vmlinuz"
    cp "$initrd" "$d/boot/initrd.img"
    printf '%s\n' "$cfg" >"$d/boot/grub/grub.cfg"
    { printf '# GRUB Environment Block\nsaved_entry=one\n'; head -c 999 /dev/zero | tr '\0' '#'; } \
        >"$d/boot/grub/grubenv"
    mkfs.ext4 -q -F -b 4096 -d "$d" "$img.p1" 48M >/dev/null
    blk=$(debugfs -R "bmap /boot/grub/grubenv 0" "$img.p1" 2>/dev/null)
    echo $((1048576 + blk * 4096)) >"$img.envoff"
    rm -f "$img"
    truncate -s 64M "$img"
    printf 'label: dos\nstart=2048, size=98304, type=83\n' | sfdisk -q "$img" >/dev/null
    dd if="$img.p1" of="$img" bs=1M seek=1 conv=notrunc,sparse status=none
    rm -rf "$d" "$img.p1"
}
# set_saved_entry IMG ID: grubenv's saved_entry, rewritten in place (IDs of
# three letters keep the block's layout).
set_saved_entry() {
    printf 'saved_entry=%s\n' "$2" | dd of="$1" bs=1 seek=$(($(cat "$1.envoff") + 25)) conv=notrunc status=none
}
export -f mk_boot_disk set_saved_entry

# net_ns FUNC [ARG...]: FUNC in fresh namespaces (network, mount, PID): its
# bridges, TAPs and addresses exist nowhere else, and when it ends, even by
# SIGKILL on a timeout, the kernel kills whatever it left running (VM
# processes too) and deletes its links.  /sys is remounted so that it shows
# the new namespace's links, /proc so that it shows its PIDs.
# --kill-child: if unshare dies, its child (PID 1 of the namespace) and so
# everything in it goes too.  (cases-net.sh, cases-systemd.sh)
net_ns() {
    unshare --net --mount --pid --fork --mount-proc --kill-child \
        bash -c 'mount -t sysfs sysfs /sys && ip link set lo up && "$@"' net_ns "$@"
}
export -f net_ns
