#!/usr/bin/env bash
# mkimage.sh SCENARIO OUT: a guest disk image for the boot-entry finder's
# tests, made the way installers make them, without mounting anything:
# partition tables with sfdisk (MBR) or sgdisk (GPT), ext4 file systems
# with mkfs.ext4 -d (populated from a directory), debugfs to damage one.
# The grub.cfg, grubenv and BLS fixtures next to this script get the
# file systems' UUIDs and the kernel versions filled in.
#
# Kernels and initrds are small files of a known pattern ("kernel-VER\n"
# or "initrd-VER\n" repeated, 300000 / 200000 bytes), which the tests
# recompute to check every byte that comes back.
set -euo pipefail
scenario=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
PATH=$PATH:/usr/sbin:/sbin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -f "$out"

NEW=6.1.0-18-amd64
OLD=6.1.0-13-amd64
ROOT_UUID=5f3ca4d0-8a3c-4d2a-9b3e-1f2e3d4c5b6a
BOOT_UUID=0b7e5c1a-2d3f-4e5a-8b9c-0d1e2f3a4b5c
MACHINE=2c2f3f0c8a4b4b2c9e0f1a2b3c4d5e6f

# pattern NAME BYTES: NAME and a newline repeated, cut at BYTES.
pattern() { { yes "$1" || true; } | head -c "$2"; }

fixture() {   # fixture NAME > file, with the placeholders filled in
    sed -e "s/@ROOT_UUID@/$ROOT_UUID/g" -e "s/@BOOT_UUID@/$BOOT_UUID/g" -e "s/@NEW@/$NEW/g" \
        -e "s/@OLD@/$OLD/g" -e "s/@MACHINE@/$MACHINE/g" "$here/$1"
}

kernels() {   # kernels DIR PREFIX: both kernels and initrds in DIR (initrd name style PREFIX)
    local d=$1 style=$2
    mkdir -p "$d"
    for v in $NEW $OLD; do
        pattern "kernel-$v" 300000 >"$d/vmlinuz-$v"
        if [ "$style" = fedora ]; then
            pattern "initrd-$v" 200000 >"$d/initramfs-$v.img"
        else
            pattern "initrd-$v" 200000 >"$d/initrd.img-$v"
        fi
    done
}

grubenv() {   # grubenv FILE [NAME=VALUE...]: a 1 KiB GRUB environment block
    local f=$1
    shift
    { echo "# GRUB Environment Block"; printf '%s\n' "$@"; } >"$f"
    local n
    n=$(stat -c %s "$f")
    head -c $((1024 - n)) /dev/zero | tr '\0' '#' >>"$f"
}

mkfs_dir() {   # mkfs_dir DIR SIZE_MB UUID OUT
    mkfs.ext4 -q -F -U "$3" -L "${5:-}" -d "$1" "$4" "${2}M" >/dev/null
}

put() {   # put DISK START_MIB FILE
    dd if="$3" of="$1" bs=1M seek="$2" conv=notrunc,sparse status=none
}

mbr() {   # mbr DISK SIZE_MB "START_MIB SIZE_MIB TYPE"...
    local disk=$1 size=$2
    shift 2
    truncate -s "${size}M" "$disk"
    {
        echo "label: dos"
        echo "label-id: 0x1d2c3b4a"
        for p in "$@"; do
            set -- $p
            echo "start=$(($1 * 2048)), size=$(($2 * 2048)), type=$3"
        done
    } | sfdisk -q "$disk" >/dev/null
}

gpt() {   # gpt DISK SIZE_MB "START_MIB SIZE_MIB TYPECODE"...
    local disk=$1 size=$2 n=0 args=()
    shift 2
    truncate -s "${size}M" "$disk"
    for p in "$@"; do
        set -- $p
        n=$((n + 1))
        args+=(-n "$n:$(($1 * 2048)):+$2M" -t "$n:$3" -u "$n:00000000-0000-4000-8000-00000000000$n")
    done
    sgdisk -o -U 11111111-2222-4333-8444-555555555555 "${args[@]}" "$disk" >/dev/null
}

debian_root() {   # debian_root DIR: a Debian root file system with /boot and its links
    local r=$1
    mkdir -p "$r/boot/grub" "$r/etc"
    kernels "$r/boot" debian
    fixture debian12-grub.cfg >"$r/boot/grub/grub.cfg"
    grubenv "$r/boot/grub/grubenv"
    ln -s "boot/vmlinuz-$NEW" "$r/vmlinuz"
    ln -s "boot/initrd.img-$NEW" "$r/initrd.img"
    ln -s "boot/vmlinuz-$OLD" "$r/vmlinuz.old"
    echo "UUID=$ROOT_UUID / ext4 errors=remount-ro 0 1" >"$r/etc/fstab"
}

case $scenario in
mbr-debian | mbr-debian-saved | mbr-debian-missing-kernel | mbr-debian-source-loop | mbr-debian-big-cfg | \
mbr-debian-broken-sb)
    debian_root "$work/root"
    case $scenario in
    mbr-debian-saved)
        sed -i 's/^   set default="0"$/   set default="${saved_entry}"/' "$work/root/boot/grub/grub.cfg"
        grubenv "$work/root/boot/grub/grubenv" \
            "saved_entry=gnulinux-advanced-$ROOT_UUID>gnulinux-$OLD-advanced-$ROOT_UUID" ;;
    mbr-debian-missing-kernel)
        rm "$work/root/boot/vmlinuz-$NEW" ;;
    mbr-debian-source-loop)
        # 41_custom sources custom.cfg; this one sources itself.
        echo 'source ${config_directory}/custom.cfg' >"$work/root/boot/grub/custom.cfg" ;;
    mbr-debian-big-cfg)
        # 100 MB of grub.cfg: what it holds is never read, its size is refused.
        truncate -s 100M "$work/root/boot/grub/grub.cfg" ;;
    esac
    mkfs_dir "$work/root" 40 "$ROOT_UUID" "$work/p1"
    if [ "$scenario" = mbr-debian-broken-sb ]; then
        debugfs -w -R "ssv blocks_per_group 0" "$work/p1" >/dev/null 2>&1
    fi
    mbr "$out" 48 "1 40 83"
    put "$out" 1 "$work/p1" ;;
mbr-logical)
    # The root file system in a logical partition (msdos5), swap in msdos1.
    debian_root "$work/root"
    sed -i 's/msdos1/msdos5/g' "$work/root/boot/grub/grub.cfg"
    mkfs_dir "$work/root" 40 "$ROOT_UUID" "$work/p5"
    truncate -s 56M "$out"
    printf 'label: dos\nlabel-id: 0x1d2c3b4a\nstart=2048, size=8192, type=82\nstart=12288, size=98304, type=5\nstart=14336, size=81920, type=83\n' |
        sfdisk -q "$out" >/dev/null
    truncate -s 4M "$work/swap"
    mkswap -q "$work/swap" >/dev/null
    put "$out" 1 "$work/swap"
    put "$out" 7 "$work/p5" ;;
gpt-ubuntu | gpt-truncated)
    # Ubuntu server: BIOS boot partition, /boot on its own, then the root.
    mkdir -p "$work/boot/grub" "$work/root/boot" "$work/root/etc"
    kernels "$work/boot" debian
    fixture ubuntu2204-grub.cfg >"$work/boot/grub/grub.cfg"
    grubenv "$work/boot/grub/grubenv"
    ln -s "vmlinuz-$NEW" "$work/boot/vmlinuz"
    ln -s "initrd.img-$NEW" "$work/boot/initrd.img"
    echo "UUID=$ROOT_UUID / ext4 defaults 0 1" >"$work/root/etc/fstab"
    mkfs_dir "$work/boot" 40 "$BOOT_UUID" "$work/p2"
    mkfs_dir "$work/root" 16 "$ROOT_UUID" "$work/p3"
    gpt "$out" 64 "1 1 ef02" "2 40 8300" "42 16 8300"
    put "$out" 2 "$work/p2"
    put "$out" 42 "$work/p3"
    # An image cut short (a failed copy): the partitions run past its end.
    [ "$scenario" = gpt-truncated ] && truncate -s 48M "$out"
    true ;;
gpt-fedora)
    # Fedora: /boot (ext4) with grub2/grub.cfg, grubenv and BLS entries;
    # the root is btrfs, which the finder never needs to read.
    mkdir -p "$work/boot/grub2" "$work/boot/loader/entries"
    kernels "$work/boot" fedora
    fixture fedora39-grub.cfg >"$work/boot/grub2/grub.cfg"
    fixture fedora39-grubenv >"$work/boot/grub2/grubenv"
    fixture fedora39-new.conf >"$work/boot/loader/entries/$MACHINE-$NEW.conf"
    fixture fedora39-old.conf >"$work/boot/loader/entries/$MACHINE-$OLD.conf"
    mkfs_dir "$work/boot" 40 "$BOOT_UUID" "$work/p1"
    gpt "$out" 64 "1 40 8300" "41 16 8300"
    put "$out" 1 "$work/p1"
    printf '_BHRfS_M' | dd of="$out" bs=1 seek=$((41 * 1048576 + 65536 + 64)) conv=notrunc status=none ;;
bls-only)
    # No partition table (Xen's 'xvda1' disks) and no grub.cfg: BLS entries only.
    mkdir -p "$work/root/boot/loader/entries"
    kernels "$work/root/boot" fedora
    for v in $NEW $OLD; do
        printf 'title Linux %s\nversion %s\nlinux /boot/vmlinuz-%s\ninitrd /boot/initramfs-%s.img\noptions root=UUID=%s ro console=ttyS0\n' \
            "$v" "$v" "$v" "$v" "$ROOT_UUID" >"$work/root/boot/loader/entries/$MACHINE-$v.conf"
    done
    mkfs_dir "$work/root" 40 "$ROOT_UUID" "$out" ;;
links-sepboot)
    # Debian without GRUB: /vmlinuz and /initrd.img on the root point into a separate /boot.
    mkdir -p "$work/boot" "$work/root/boot"
    kernels "$work/boot" debian
    ln -s "boot/vmlinuz-$NEW" "$work/root/vmlinuz"
    ln -s "boot/initrd.img-$NEW" "$work/root/initrd.img"
    mkfs_dir "$work/boot" 16 "$BOOT_UUID" "$work/p1"
    mkfs_dir "$work/root" 16 "$ROOT_UUID" "$work/p2"
    mbr "$out" 40 "1 16 83" "17 16 83"
    put "$out" 1 "$work/p1"
    put "$out" 17 "$work/p2" ;;
ext4-nothing)
    # An ext4 file system on the whole disk with nothing to boot.
    mkdir -p "$work/root/etc"
    echo "nothing here" >"$work/root/etc/motd"
    mkfs_dir "$work/root" 16 "$ROOT_UUID" "$out" ;;
xfs | btrfs)
    # Only a signature: what the finder must name and refuse.
    mbr "$out" 40 "1 32 83"
    if [ "$scenario" = xfs ]; then
        printf 'XFSB' | dd of="$out" bs=1 seek=1048576 conv=notrunc,sparse status=none
    else
        printf '_BHRfS_M' | dd of="$out" bs=1 seek=$((1048576 + 65536 + 64)) conv=notrunc,sparse status=none
    fi ;;
*)
    echo "mkimage.sh: unknown scenario $scenario" >&2
    exit 2 ;;
esac
