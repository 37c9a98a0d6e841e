#!/usr/bin/env bash
# systemd-boot-inner.sh BUILD_DIR ROUNDS: runs inside the test host (see
# systemd-boot.sh).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR ROUNDS" >&2; exit 2; }
build=$1 rounds=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/bench/lib.sh"
files=$build/bench/systemd-boot
scratch=$(mktemp -d "${TESTHOST_SCRATCH:-/tmp}/sdboot.XXXXXX")
# The test host's speed-ups (as the systemd suite's `extra`), after the
# entry's own line.
extra="no_timer_check tsc=reliable lpj=5000000"
cmdline="$(cat "$files/cmdline") $extra"
marker="reached multi-user.target"
limit=300
cp --sparse=always "$build/systemd-guest/sg.img" "$scratch/base.img"

measure() {
    local ov=$scratch/overlay.qcow2 cmd
    rm -f "$ov"
    qemu-img create -q -f qcow2 -b "$scratch/base.img" -F raw "$ov"
    case $1 in
    vireo-disk) cmd=("$build/vireo" run --boot disk --disk "$ov,format=qcow2" --cmdline "$extra" --memory 512M --vcpus 2) ;;
    vireo-hand) cmd=("$build/vireo" run --kernel "$files/vmlinuz" --initrd "$files/initrd.img" --cmdline "$cmdline"
                     --disk "$ov,format=qcow2" --memory 512M --vcpus 2) ;;
    q35) cmd=(qemu-system-x86_64 -M q35 -enable-kvm -cpu host -smp 2 -m 512 -nographic -no-reboot -nic none
              -kernel "$files/vmlinuz" -initrd "$files/initrd.img" -append "$cmdline"
              -drive "file=$ov,if=virtio,format=qcow2") ;;
    esac
    bench_time_to_marker "$marker" "$limit" "$scratch" "${cmd[@]}"
}

systems=(vireo-disk vireo-hand q35)
declare -A times=()
for ((r = 0; r < rounds; r++)); do
    order=("${systems[@]:r % 3}" "${systems[@]:0:r % 3}")
    line="round $((r + 1)):"
    for s in "${order[@]}"; do
        ms=$(measure "$s")
        times[$s]+="$ms "
        line+=" $s=$ms"; [ "$ms" = fail ] || line+=ms
    done
    echo "$line"
done
echo "start to multi-user.target, median (emulated ms, compare only as ratios):"
for s in "${systems[@]}"; do printf '  %-11s %s\n' "$s" "$(bench_median "${times[$s]}")"; done
ratio() { printf '  %-24s %s\n' "$1/$2:" "$(bench_median "$(bench_ratios "${times[$1]}" "${times[$2]}")")"; }
echo "medians of the per-round ratios:"
ratio vireo-disk vireo-hand
ratio vireo-hand q35
ratio vireo-disk q35
rm -rf "$scratch"
