#!/bin/bash
# The steps of `vireo image bootstrap` (xen-create-image's role).  Built into
# the vireo binary (image_bootstrap.c runs it with bash after checking every
# option); its inputs come in the environment, already validated:
#   VB_NAME VB_SIZE (bytes) VB_DIST VB_FORMAT (raw|qcow2) VB_LVM (VG or empty)
#   VB_HOSTNAME VB_SSH_KEY (file or empty) VB_IP (ADDR/PREFIX or empty)
#   VB_GATEWAY VB_DHCP (0|1) VB_BRIDGE VB_MEMORY (MiB) VB_VCPUS
#   VB_PACKAGES (comma-separated) VB_MIRROR (empty: the host's) VB_OUTDIR
#   VB_CACHE (folder of the bases) VB_REFRESH (0|1) VB_ARCH
# Two halves.  The base (first bootstrap of a distribution): debootstrap into
# a folder, the kernel, initramfs and the generic configuration, kept as a
# tar in VB_CACHE under a key of its inputs.  The guest (every time): the
# base unpacked, its own identity written (file system UUID, hostname,
# machine-id, SSH host keys, address, root's key, grub.cfg), then a GPT disk
# whose ext4 root is made from that folder by mkfs.ext4 -d: nothing is
# mounted or attached to a loop device for it.  Whatever fails, the EXIT
# trap undoes what was made: mounts, partial files, a new LV, work folders.
set -Eeuo pipefail
umask 022
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# LVM warns of every inherited descriptor (fd 9 below is on purpose).
export LVM_SUPPRESS_FD_WARNINGS=1

# Our messages go to fd 9, the terminal, also from inside a step whose own
# output goes to its log.
exec 9>&2
step_no=0 step_total=0 step_name=
say() { printf 'vireo: image bootstrap: %s\n' "$*" >&9; }
step() {
    step_no=$((step_no + 1)) step_name=$1
    printf 'vireo: image bootstrap: [%d/%d] %s\n' "$step_no" "$step_total" "$1" >&9
}
# fail MSG: the step that failed and why.
fail() {
    trap - ERR
    printf 'vireo: image bootstrap: %s failed: %s\n' "${step_name:-setting up}" "$*" >&9
    show_log
    exit 1
}
on_err() {
    local rc=$? cmd=$BASH_COMMAND
    trap - ERR
    printf 'vireo: image bootstrap: %s failed: `%s` exited with status %d\n' "${step_name:-setting up}" "$cmd" "$rc" >&9
    show_log
    exit 1
}
# The failed step's output: its end here, all of it kept in the cache folder.
show_log() {
    if [ -n "${steplog:-}" ] && [ -s "$steplog" ]; then
        echo "vireo: image bootstrap: its last output:" >&9
        tail -n 15 "$steplog" | sed 's/^/  | /' >&9
        cp "$steplog" "$VB_CACHE/last-failure.log" 2>/dev/null &&
            echo "vireo: image bootstrap: whole log: $VB_CACHE/last-failure.log" >&9
    fi
    return 0
}
trap on_err ERR

# --- Undo list: each entry a command run at exit unless the run succeeded.
undo=()
base_undo=
mounts=()
on_exit() {
    local rc=$? m i
    trap - ERR
    set +e
    exec 2>&9
    # Mounts first, innermost last made, so nothing is removed under them.
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null
    done
    if [ "$rc" != 0 ]; then
        for ((i = ${#undo[@]} - 1; i >= 0; i--)); do eval "${undo[i]}" >/dev/null 2>&1; done
        [ -n "${base_undo:-}" ] && eval "$base_undo" >/dev/null 2>&1
        rm -f "${base_tar:-/nonexistent}.tmp"
        say "nothing was left behind"
    fi
    [ -n "${work:-}" ] && rm -rf --one-file-system "$work"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
q() { printf '%q' "$1"; }
mnt() { mount "$@"; mounts+=("${!#}"); }
umount_all() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}"; done
    mounts=()
}

# --- Inputs
arch=${VB_ARCH:-amd64}
mirror=$VB_MIRROR
if [ -z "$mirror" ]; then
    # The host's configured APT source (deb822 or one-line), security excluded.
    mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
             grep -v security | head -n1 || true)
    [ -n "$mirror" ] || mirror=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\).*/\2/p' \
             /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v security | head -n1 || true)
    [ -n "$mirror" ] || fail "no Debian mirror in this host's APT sources; give --mirror URL"
fi
# Always in the base: the kernel (Debian's cloud flavour: virtio, no
# hardware drivers), sshd, and what systemd-logind needs to act on the power
# button (D-Bus, the PAM module that registers sessions).
base_pkgs="linux-image-cloud-amd64,initramfs-tools,openssh-server,dbus,libpam-systemd,systemd-sysv,udev,iproute2,ca-certificates"
[ -n "$VB_PACKAGES" ] && base_pkgs+=",$VB_PACKAGES"
pkgs_sorted=$(tr ',' '\n' <<<"$base_pkgs" | sed '/^$/d' | LC_ALL=C sort -u | paste -sd, -)

# --- The base's recipe.  Its key hashes this code (the functions' text), the
# distribution, the mirror, the packages and the architecture, so a change of
# any of them makes a new base; stale bases are removed when a new one of
# the same distribution is made.
build_base() {   # build_base ROOT
    local root=$1
    steplog=$work/debootstrap.log
    step "installing Debian $VB_DIST with debootstrap from $mirror (the first time takes minutes)"
    # debootstrap's phases, and a count of the packages it has downloaded.
    debootstrap --arch="$arch" --include="$pkgs_sorted" "$VB_DIST" "$root" "$mirror" 2>&1 | tee "$steplog" |
        debootstrap_progress
    grep -q '^I: Base system installed successfully' "$steplog" || fail "debootstrap did not finish"
    ls "$root"/boot/vmlinuz-* >/dev/null 2>&1 || fail "no kernel in /boot after debootstrap"

    step "configuring the base: initramfs with the virtio drivers, systemd-networkd, serial getty, sshd"
    steplog=$work/configure.log
    configure_base "$root" >"$steplog" 2>&1
}

# Its phases and a count of the packages downloaded, as they come (a shell
# loop: awk would buffer its input).
debootstrap_progress() {
    local line n=0
    while IFS= read -r line; do
        case $line in
        "I: Resolving"* | "I: Installing core"* | "I: Unpacking required"* | "I: Unpacking the base"* | \
        "I: Configuring required"* | "I: Configuring the base"* | "I: Base system installed"*)
            say "      ${line#I: }" ;;
        "I: Retrieving Release"* | "I: Retrieving Packages"*) ;;
        "I: Retrieving "*) n=$((n + 1)); [ $((n % 25)) != 0 ] || say "      downloaded $n packages" ;;
        esac
    done
}

configure_base() {   # configure_base ROOT
    local root=$1
    mnt -t proc proc "$root/proc"
    mnt -t sysfs sysfs "$root/sys"
    mnt --bind /dev "$root/dev"
    # Nothing starts in the chroot.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    # The disk and network drivers and the root file system, whatever the
    # initramfs's module policy finds on this host; and the virtio console,
    # so that with console=hvc0 (Xen's PV console) hvc0 exists before
    # systemd's getty generator looks for it and gets the login, as on Xen.
    printf '%s\n' virtio_pci virtio_blk virtio_net virtio_console ext4 >>"$root/etc/initramfs-tools/modules"
    chroot "$root" update-initramfs -u -k all
    # The power button's input device (ACPI button) and its event interface,
    # which systemd-logind watches.
    printf '%s\n' button evdev >"$root/etc/modules-load.d/vireo-power-button.conf"
    # The address, from /etc/systemd/network (written per guest).
    chroot "$root" systemctl enable systemd-networkd.service
    # A login prompt on the serial console (systemd's generator adds it for
    # console=ttyS0 too; this also covers a command line without it).
    chroot "$root" systemctl enable serial-getty@ttyS0.service
    cat >"$root/etc/systemd/system/vireo-guest-ready.service" <<'UNIT'
# Written by `vireo image bootstrap`: one line on the console when systemd
# has reached multi-user.target (scripts and `vireo console` users wait for it).
[Unit]
Description=Say on the console that the guest is up
DefaultDependencies=no
After=multi-user.target
Conflicts=shutdown.target
Before=shutdown.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "vireo-guest: $(hostname) reached multi-user.target" >/dev/console'

[Install]
WantedBy=multi-user.target
UNIT
    chroot "$root" systemctl enable vireo-guest-ready.service
    # grub.cfg as update-grub writes it, regenerated when a kernel is
    # installed or removed in the guest (the disk boot reads it).
    install -m 755 /dev/stdin "$root/usr/local/sbin/vireo-update-grub" <<<"$grub_generator"
    printf '#!/bin/sh\nexec /usr/local/sbin/vireo-update-grub\n' >"$root/etc/kernel/postinst.d/zz-vireo-update-grub"
    printf '#!/bin/sh\nexec /usr/local/sbin/vireo-update-grub\n' >"$root/etc/kernel/postrm.d/zz-vireo-update-grub"
    chmod 755 "$root/etc/kernel/postinst.d/zz-vireo-update-grub" "$root/etc/kernel/postrm.d/zz-vireo-update-grub"
    cat >"$root/etc/default/vireo-grub" <<'CFG'
# Read by /usr/local/sbin/vireo-update-grub, as /etc/default/grub by update-grub.
GRUB_DISTRIBUTOR="Debian GNU/Linux"
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX="console=ttyS0"
CFG
    # Identity is per guest: none in the base.
    rm -f "$root"/etc/ssh/ssh_host_*
    : >"$root/etc/machine-id"
    rm -f "$root/var/lib/dbus/machine-id"
    rm -f "$root/usr/sbin/policy-rc.d"
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/*_Packages "$root"/var/log/*.log "$root/var/cache/debconf/"*-old
    umount_all
}

# The guest's grub.cfg generator (runs in the guest, and in the chroot at
# bootstrap): Debian's 00_header and 10_linux output for a GPT disk with one
# ext4 root, newest kernel first.  Reads the root's UUID from /etc/fstab.
read -r -d '' grub_generator <<'GEN' || true
#!/bin/sh
# vireo-update-grub: writes /boot/grub/grub.cfg as Debian's update-grub would
# for this disk (one GPT partition, ext4 root), for a host that boots the
# guest's kernel from its disk (Vireo's bootloader = "pygrub", Xen's pygrub).
set -e
. /etc/default/vireo-grub
uuid=$(sed -n 's/^UUID=\([0-9a-fA-F-]*\)[[:space:]]\+\/[[:space:]].*/\1/p' /etc/fstab | head -n1)
[ -n "$uuid" ] || { echo "vireo-update-grub: no 'UUID=... /' line in /etc/fstab" >&2; exit 1; }
versions=$(cd /boot && for k in vmlinuz-*; do [ -e "$k" ] && echo "${k#vmlinuz-}"; done | linux-version sort --reverse)
[ -n "$versions" ] || { echo "vireo-update-grub: no kernel in /boot" >&2; exit 1; }
entry() {   # entry TITLE ID VERSION ARGS INDENT
    cat <<EOF
${5}menuentry '$1' --class debian --class gnu-linux --class gnu --class os \$menuentry_id_option '$2' {
${5}	load_video
${5}	insmod gzio
${5}	if [ x\$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
${5}	insmod part_gpt
${5}	insmod ext2
${5}	search --no-floppy --fs-uuid --set=root $uuid
${5}	echo	'Loading Linux $3 ...'
${5}	linux	/boot/vmlinuz-$3 root=UUID=$uuid ro $4
EOF
    [ -e "/boot/initrd.img-$3" ] && printf "%s\techo\t'Loading initial ramdisk ...'\n%s\tinitrd\t/boot/initrd.img-%s\n" "$5" "$5" "$3"
    printf '%s}\n' "$5"
}
{
cat <<EOF
#
# DO NOT EDIT THIS FILE
#
# It is automatically generated by vireo-update-grub (vireo image bootstrap)
# using settings from /etc/default/vireo-grub, as grub-mkconfig would
#

### BEGIN /etc/grub.d/00_header ###
if [ -s \$prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "\${next_entry}" ] ; then
   set default="\${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="0"
fi

if [ x"\${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi

export menuentry_id_option

function load_video {
  if [ x\$feature_all_video_module = xy ]; then
    insmod all_video
  else
    insmod efi_gop
    insmod efi_uga
    insmod ieee1275_fb
    insmod vbe
    insmod vga
    insmod video_bochs
    insmod video_cirrus
  fi
}

terminal_input serial console
terminal_output serial console
set timeout=5
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/10_linux ###
EOF
newest=$(echo "$versions" | head -n1)
entry "$GRUB_DISTRIBUTOR" "gnulinux-simple-$uuid" "$newest" "$GRUB_CMDLINE_LINUX $GRUB_CMDLINE_LINUX_DEFAULT" ""
echo "submenu 'Advanced options for $GRUB_DISTRIBUTOR' \$menuentry_id_option 'gnulinux-advanced-$uuid' {"
for v in $versions; do
    entry "$GRUB_DISTRIBUTOR, with Linux $v" "gnulinux-$v-advanced-$uuid" "$v" "$GRUB_CMDLINE_LINUX $GRUB_CMDLINE_LINUX_DEFAULT" "	"
    entry "$GRUB_DISTRIBUTOR, with Linux $v (recovery mode)" "gnulinux-$v-recovery-$uuid" "$v" "$GRUB_CMDLINE_LINUX single" "	"
done
echo "}"
echo
echo "### END /etc/grub.d/10_linux ###"
} >/boot/grub/grub.cfg.new
mv /boot/grub/grub.cfg.new /boot/grub/grub.cfg
GEN

base_key=$( { declare -f build_base configure_base; printf '%s\n' "$grub_generator" "$VB_DIST" "$mirror" "$pkgs_sorted" "$arch"; } |
            sha256sum | cut -c1-16)
base_dir=$VB_CACHE/$VB_DIST-$arch-$base_key
base_tar=$base_dir/base.tar.zst

# --- Where the guest goes.
img_final= target=
case $VB_FORMAT in
raw) img_final=$VB_OUTDIR/$VB_NAME.img ;;
qcow2) img_final=$VB_OUTDIR/$VB_NAME.qcow2 ;;
esac
[ -n "$VB_LVM" ] && img_final=/dev/$VB_LVM/$VB_NAME
cfg_final=$VB_OUTDIR/$VB_NAME.cfg

have_base=
[ "$VB_REFRESH" = 1 ] || { [ -s "$base_tar" ] && have_base=1; }
step_total=4
[ -z "$have_base" ] && step_total=$((step_total + 3))
[ "$VB_FORMAT" = qcow2 ] && step_total=$((step_total + 1))

mkdir -p "$VB_CACHE"
work=$(mktemp -d "$VB_CACHE/.work.XXXXXX")
steplog=

# --- The base, once per key.  A lock keeps two bootstraps from making the
# same base at once; the second waits and uses the first's.
exec {lockfd}>"$VB_CACHE/.lock"
if [ -z "$have_base" ]; then
    flock "$lockfd"
    if [ "$VB_REFRESH" = 1 ] || [ ! -s "$base_tar" ]; then
        build_base "$work/base"
        step "keeping the base in $base_dir (later guests of $VB_DIST are made from it)"
        steplog=$work/tar.log
        # Until the base is complete, a failure removes its folder.
        [ -d "$base_dir" ] || base_undo="rm -rf $(q "$base_dir")"
        mkdir -p "$base_dir"
        # No mount may be under the tree now: the tar would take it in.
        ! grep -qF " $work/base/" /proc/self/mounts
        tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$work/base" -cf - . 2>"$steplog" |
            zstd -q -T0 -3 -o "$base_tar.tmp" -f 2>>"$steplog"
        kver=$(cd "$work/base/boot" && ls vmlinuz-* | sed 's/^vmlinuz-//' | tail -n1)
        {
            echo "distribution: $VB_DIST ($arch)"
            echo "mirror: $mirror"
            echo "packages: $pkgs_sorted"
            echo "kernel: $kver"
            echo "made: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        } >"$base_dir/info.tmp"
        mv "$base_dir/info.tmp" "$base_dir/info"
        mv "$base_tar.tmp" "$base_tar"
        base_undo=
        # Older bases of this distribution are dead weight.
        for old in "$VB_CACHE/$VB_DIST-$arch-"*; do
            [ "$old" = "$base_dir" ] || rm -rf --one-file-system "$old"
        done
        rm -rf --one-file-system "$work/base"
    else
        step "another bootstrap made the base meanwhile"; step_no=$((step_no + 1))
    fi
    flock -u "$lockfd"
else
    say "using the base in $base_dir ($(sed -n 's/^kernel: //p' "$base_dir/info" 2>/dev/null))"
fi

# --- The guest.
root=$work/root
steplog=$work/unpack.log
step "unpacking the base"
mkdir -p "$root"
zstd -q -d -c "$base_tar" 2>"$steplog" | tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$root" -xf - 2>>"$steplog"

step "writing $VB_NAME's identity: hostname, address, SSH keys, fstab, grub.cfg"
steplog=$work/identity.log
{
uuid=$(cat /proc/sys/kernel/random/uuid)
echo "$VB_HOSTNAME" >"$root/etc/hostname"
sed -i '/^127\.0\.1\.1[[:space:]]/d' "$root/etc/hosts"
printf '127.0.1.1\t%s\n' "$VB_HOSTNAME" >>"$root/etc/hosts"
tr -d '-' </proc/sys/kernel/random/uuid >"$root/etc/machine-id"
printf '# <file system> <mount point> <type> <options> <dump> <pass>\nUUID=%s / ext4 errors=remount-ro 0 1\n' "$uuid" >"$root/etc/fstab"
mkdir -p "$root/etc/systemd/network"
{
    echo "# Written by vireo image bootstrap.  The guest's first virtio-net interface"
    echo "# (enp0s16 under systemd's predictable names; eth0 without them)."
    echo "[Match]"
    echo "Name=en* eth*"
    echo
    echo "[Network]"
    if [ "$VB_DHCP" = 1 ] || [ -z "$VB_IP" ]; then
        echo "DHCP=yes"
    else
        echo "Address=$VB_IP"
        [ -n "$VB_GATEWAY" ] && echo "Gateway=$VB_GATEWAY"
    fi
} >"$root/etc/systemd/network/10-vireo.network"
if [ -n "$VB_SSH_KEY" ]; then
    install -d -m 700 "$root/root/.ssh"
    install -m 600 "$VB_SSH_KEY" "$root/root/.ssh/authorized_keys"
fi
# The guest's own host keys, made here at native speed (emulated, RSA key
# generation would hold up its first boot).
chroot "$root" ssh-keygen -A
# ...and the fingerprints the user can check on first connection.
for k in "$root"/etc/ssh/ssh_host_*_key.pub; do chroot "$root" ssh-keygen -l -f "${k#"$root"}" || true; done >"$work/fingerprints"
# No GRUB package in the guest: its folder is made here.
mkdir -p "$root/boot/grub"
chroot "$root" /usr/local/sbin/vireo-update-grub
kver=$(cd "$root/boot" && ls vmlinuz-* | sed 's/^vmlinuz-//' | sort -V | tail -n1)
} >"$steplog" 2>&1

# The disk: GPT, one partition from 1 MiB to the end, ext4 made from the
# folder (`mkfs.ext4 -d`, at the partition's offset in the image or LV).
step "making the disk: GPT, ext4 root ($((VB_SIZE >> 20)) MiB) from the folder"
steplog=$work/disk.log
{
if [ -n "$VB_LVM" ]; then
    lvcreate -q -y -W n -n "$VB_NAME" -L "${VB_SIZE}b" "$VB_LVM"
    undo+=("lvremove -q -f $(q "$VB_LVM/$VB_NAME")")
    dev=$img_final
elif [ "$VB_FORMAT" = raw ]; then
    dev=$img_final.partial
    undo+=("rm -f $(q "$dev")")
    rm -f "$dev"
    truncate -s "$VB_SIZE" "$dev"
else
    dev=$work/disk.raw
    truncate -s "$VB_SIZE" "$dev"
fi
# The partition's own GUID is random; its type is the discoverable
# partitions spec's "Linux x86-64 root".
sgdisk -Z "$dev" >/dev/null 2>&1 || true
sgdisk -o -n 1:2048:0 -t 1:8304 -c 1:root "$dev"
pstart=$(sgdisk -i 1 "$dev" | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
pend=$(sgdisk -i 1 "$dev" | sed -n 's/^Last sector: \([0-9]*\).*/\1/p')
[ -n "$pstart" ] && [ -n "$pend" ]
blocks=$(( (pend - pstart + 1) * 512 / 4096 ))
mkfs.ext4 -q -F -b 4096 -U "$uuid" -L root -d "$root" -E offset=$((pstart * 512)),nodiscard "$dev" "$blocks"
sync -f "$dev" 2>/dev/null || sync
} >"$steplog" 2>&1

if [ "$VB_FORMAT" = qcow2 ] && [ -z "$VB_LVM" ]; then
    step "converting to qcow2 (qemu-img convert)"
    steplog=$work/convert.log
    undo+=("rm -f $(q "$img_final.partial")")
    qemu-img convert -f raw -O qcow2 "$dev" "$img_final.partial" >"$steplog" 2>&1
    dev=$img_final.partial
fi

step "writing $cfg_final"
steplog=
# Only now do the results take their names; neither replaces a file (the
# command checked; a file that appeared meanwhile makes this step fail).
if [ -z "$VB_LVM" ]; then
    # A hard link never replaces what is there: the name is ours or this fails.
    ln "$dev" "$img_final" 2>/dev/null || fail "$img_final exists (made meanwhile?); not replacing it"
    undo+=("rm -f $(q "$img_final")")
    rm -f "$dev"
fi
{
    echo "# $VB_NAME: made by vireo image bootstrap ($VB_DIST, kernel $kver) on $(date -u +%Y-%m-%d)."
    echo "# Start it with: vireo create $cfg_final"
    echo "name       = \"$VB_NAME\""
    echo "memory     = $VB_MEMORY"
    echo "vcpus      = $VB_VCPUS"
    echo "# The kernel, initrd and command line come from the disk's grub.cfg,"
    echo "# read at each start (vireo-update-grub keeps it current in the guest)."
    echo "bootloader = \"pygrub\""
    echo "disk       = ['format=$([ -n "$VB_LVM" ] && echo raw || echo "$VB_FORMAT"), vdev=xvda, access=rw, target=$img_final']"
    [ -n "$VB_BRIDGE" ] && echo "vif        = ['bridge=$VB_BRIDGE']"
    echo "on_reboot  = \"restart\""
    echo "on_crash   = \"destroy\""
} >"$cfg_final.partial"
undo+=("rm -f $(q "$cfg_final.partial")")
ln "$cfg_final.partial" "$cfg_final" 2>/dev/null || fail "$cfg_final exists (made meanwhile?); not replacing it"
rm -f "$cfg_final.partial"

say "done: $img_final ($((VB_SIZE >> 20)) MiB, $VB_FORMAT, Debian $VB_DIST, kernel $kver) and $cfg_final"
if [ -n "$VB_IP" ] && [ "$VB_DHCP" != 1 ]; then say "address: $VB_IP${VB_GATEWAY:+ via $VB_GATEWAY}"; else say "address: DHCP"; fi
[ -s "$work/fingerprints" ] && sed 's/^/vireo: image bootstrap: host key: /' "$work/fingerprints" >&2
[ "$VB_FORMAT" = qcow2 ] && say "note: vireo's disks take raw images until the qcow2 disk back-end is wired; $cfg_final names the qcow2 image for then"
exit 0
