#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD_DIR SECONDS: runs every libFuzzer target for
# SECONDS, from the seeds in tests/fuzz/seeds/<target>/ (copied: libFuzzer
# writes its findings into the corpus directory).  A crash, leak, timeout
# or sanitizer report fails the run and leaves the reproducer in BUILD_DIR.
set -euo pipefail
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
failed=0
passed=0
failures=""
for target in fuzz_bzimage fuzz_devices fuzz_virtqueue fuzz_vhost_user fuzz_recfile fuzz_xlcfg fuzz_virtio_net fuzz_blk_req \
              fuzz_vpci_blk fuzz_vpci_net fuzz_vpci_balloon fuzz_vpci_console fuzz_parttable fuzz_grubcfg fuzz_qcow2 fuzz_backup fuzz_vmstat fuzz_elf_kernel; do
    corpus=$build/corpus-$target
    mkdir -p "$corpus"
    [ -d "$here/seeds/$target" ] && cp -n "$here/seeds/$target"/* "$corpus"/ 2>/dev/null || true
    log=$build/$target.log
    echo "fuzz: $target for ${seconds}s"
    if "$build/tests/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$build/$target-" -print_final_stats=1 "$corpus" >"$log" 2>&1; then
        grep -E '^stat::number_of_executed_units' "$log" | sed "s/^/fuzz: $target /"
        passed=$((passed + 1))
    else
        echo "fuzz: $target FAILED; last lines of $log:"
        tail -40 "$log"
        failed=$((failed + 1))
        failures+="$target: $(grep -m1 -E 'ERROR: |SUMMARY: |Assertion|deadly signal|failed:' "$log" || echo 'no sanitizer line')"$'\n'
        failures+="$(grep -E '^ *#[0-9]+ ' "$log" | head -8 || true)"$'\n'
        failures+="  reproducer: $(ls "$build/$target-"* 2>/dev/null | head -1 || true)"$'\n'
    fi
done
# CI keeps only the tail of the output: repeat what failed, and why, last.
[ -n "$failures" ] && printf 'fuzz: failures:\n%s' "$failures"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
