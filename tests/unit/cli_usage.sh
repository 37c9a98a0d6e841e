#!/usr/bin/env bash
# cli_usage.sh VIREO: usage errors as git and the coreutils give them, command
# by command: the error on one line with a "did you mean" where a name is
# misspelt, then "Try 'vireo CMD --help'." (not the whole usage), exit 2;
# options anywhere before create's KEY=VALUE overrides; an override's error
# names the argument.  No VM is started (create -n is a dry run).
set -uo pipefail
vireo=$1
dir=$(mktemp -d /tmp/vireo-cli.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export VIREO_RUN_DIR=$dir/run VIREO_LOG_DIR=$dir/log
failed=0
n=0

# expect STATUS STDERR_LINE... -- ARGS...: the exact stderr, line by line.
expect() {
    local want_rc=$1; shift
    local want=()
    while [ "$1" != -- ]; do want+=("$1"); shift; done
    shift
    n=$((n + 1))
    local out rc=0
    out=$(timeout 10 "$vireo" "$@" 2>&1 >/dev/null) || rc=$?
    local expected
    expected=$(printf '%s\n' "${want[@]}")
    if [ "$rc" != "$want_rc" ] || [ "$out" != "$expected" ]; then
        echo "FAIL: vireo $*"
        echo "  exit $rc (want $want_rc), stderr:"; sed 's/^/    /' <<<"$out"
        echo "  want:"; sed 's/^/    /' <<<"$expected"
        failed=1
    fi
}

expect 2 "vireo: unknown command 'rn'; did you mean 'run'?" "Try 'vireo help' for the list of commands." -- rn
expect 2 "vireo: unknown command 'crate'; did you mean 'create'?" "Try 'vireo help' for the list of commands." -- crate
expect 2 "vireo: unknown command 'frobnicate'" "Try 'vireo help' for the list of commands." -- frobnicate
expect 2 "vireo: run: unknown option '--kernal'; did you mean '--kernel'?" "Try 'vireo run --help'." -- run --kernal x
expect 2 "vireo: run: unknown option '--memroy'; did you mean '--memory'?" "Try 'vireo run --help'." -- run --memroy=1G
expect 2 "vireo: run: unknown option '--cpus'; did you mean '--vcpus'?" "Try 'vireo run --help'." -- run --cpus 2
expect 2 "vireo: run: unknown option '--frobnicate'" "Try 'vireo run --help'." -- run --frobnicate
expect 2 "vireo: run: --memory needs a value" "Try 'vireo run --help'." -- run --kernel k --memory
expect 2 "vireo: microscope: unknown subcommand 'liev'; did you mean 'live'?" "Try 'vireo microscope --help'." -- microscope liev
expect 2 "vireo: microscope: unknown option '--tpo' for microscope live; did you mean '--top'?" \
    "Try 'vireo microscope --help'." -- microscope --tpo 3
expect 2 "vireo: create: unknown option '-x'" "Try 'vireo create --help'." -- create -x
expect 2 "vireo: create: expected a config FILE" "Try 'vireo create --help'." -- create
expect 2 "vireo: shutdown: unknown option '-l' in '-all'; did you mean '--all'?" "Try 'vireo shutdown --help'." -- shutdown -all
expect 2 "vireo: shutdown: unknown option '--wiat'; did you mean '--wait'?" "Try 'vireo shutdown --help'." -- shutdown --wiat x
expect 2 "vireo: shutdown: option '-t' needs a value" "Try 'vireo shutdown --help'." -- shutdown -a -t
expect 2 "vireo: shutdown: option '--timeout' needs a value" "Try 'vireo shutdown --help'." -- shutdown -a --timeout
expect 2 "vireo: shutdown: -t 0: expected seconds, 1 to 86400" "Try 'vireo shutdown --help'." -- shutdown -a -t 0
expect 2 "vireo: shutdown: expected VM names or -a (not both)" "Try 'vireo shutdown --help'." -- shutdown
expect 2 "vireo: reboot: expected VM names or -a (not both)" "Try 'vireo reboot --help'." -- reboot -a web
expect 2 "vireo: destroy: expected 1 argument (NAME), got 0" "Try 'vireo destroy --help'." -- destroy
expect 2 "vireo: destroy: unexpected argument 'b' (expected NAME)" "Try 'vireo destroy --help'." -- destroy a b
expect 2 "vireo: destroy: unknown option '-f' (this command takes VM names only)" "Try 'vireo destroy --help'." -- destroy -f a
expect 2 "vireo: pause: expected 1 argument (NAME), got 0" "Try 'vireo pause --help'." -- pause
expect 2 "vireo: vcpu-pin: expected 3 arguments (NAME VCPU|all CPUS), got 1" "Try 'vireo vcpu-pin --help'." -- vcpu-pin a
expect 2 "vireo: mem-set: expected 2 arguments (NAME SIZE), got 1" "Try 'vireo mem-set --help'." -- mem-set a
expect 2 "vireo: mem-set: SIZE: '1x' is not a size; expected MiB or a number with K, M, G or T (512M, 1G)" "Try 'vireo mem-set --help'." -- mem-set a 1x
expect 2 "vireo: mem-max: SIZE: '1000K' is not a whole number of MiB; expected MiB (512M, 1G)" "Try 'vireo mem-max --help'." -- mem-max a 1000K
expect 2 "vireo: info: expected no arguments, got 'x'" "Try 'vireo info --help'." -- info x
expect 2 "vireo: list: option '--help' takes no value" "Try 'vireo list --help'." -- list --help=3
expect 2 "vireo: list: unknown option '--lng'; did you mean '--long'?" "Try 'vireo list --help'." -- list --lng
expect 2 "vireo: host-check: unknown argument '--jsn'; did you mean '--json'?" "Try 'vireo host-check --help'." -- host-check --jsn
expect 2 "vireo: top: unknown option '--jsn'; did you mean '--json'?" "Try 'vireo top --help'." -- top --jsn
expect 2 "vireo: top: -n 0: expected a number of refreshes, 1 or more" "Try 'vireo top --help'." -- top -b -n 0
expect 2 "vireo: top: unexpected argument 'x' (this command takes options only)" "Try 'vireo top --help'." -- top -b x
expect 2 "vireo: metrics: --listen ADDRESS:PORT or --textfile PATH is needed" "Try 'vireo metrics --help'." -- metrics
expect 2 "vireo: metrics: --once goes with --textfile" "Try 'vireo metrics --help'." -- metrics --listen :9100 --once
expect 2 "vireo: metrics: option '--interval' needs a value" "Try 'vireo metrics --help'." -- metrics --textfile f --interval
expect 2 "vireo: clone: unknown option '--snapshot-sise'; did you mean '--snapshot-size'?" "Try 'vireo clone --help'." \
    -- clone --snapshot-sise 1G a b
expect 2 "vireo: clone: expected NAME-or-CFG and NEWNAME" "Try 'vireo clone --help'." -- clone a
expect 2 "vireo: backup: unknown option '--bogus'" "Try 'vireo backup --help'." -- backup --bogus a b
expect 2 "vireo: backup: expected NAME-or-CFG and DEST (a new file, or - for standard output)" \
    "Try 'vireo backup --help'." -- backup a
expect 2 "vireo: image: create: unknown option '--bogus'" "Try 'vireo image --help'." -- image create --bogus f
expect 2 "vireo: image: info: FILE is missing" "Try 'vireo image --help'." -- image info
expect 2 "vireo: image: clone: SRC and DST are needed" "Try 'vireo image --help'." -- image clone a
expect 2 "vireo: image: import: FILE is missing (- for standard input)" "Try 'vireo image --help'." -- image import
expect 2 "vireo: image: unknown subcommand 'bogus'" "Try 'vireo image --help'." -- image bogus
expect 2 "vireo: network-list: expected 1 argument (NAME), got 0" "Try 'vireo network-list --help'." -- network-list
expect 2 "vireo: help: unknown command 'x'" "Try 'vireo help --help'." -- help x
expect 2 "vireo: version: expected no arguments, got 'x'" "Try 'vireo version --help'." -- version x
expect 0 -- help destroy
for c in run create list shutdown destroy microscope host-check image disk top metrics; do
    expect 0 -- "$c" --help
done
expect 0 -- --version
expect 0 -- help

# create: options after FILE, as the README's table writes them.
printf 'name = "web"\nkernel = "%s/k"\nmemory = 128\n' "$dir" >"$dir/web.cfg"
: >"$dir/k"
for args in "-n $dir/web.cfg" "$dir/web.cfg -n" "$dir/web.cfg -n memory=256"; do
    n=$((n + 1))
    # shellcheck disable=SC2086
    out=$(timeout 10 "$vireo" create $args 2>&1) && grep -q '"name": "web"' <<<"$out" ||
        { echo "FAIL: vireo create $args: $out"; failed=1; }
done
n=$((n + 1))
out=$(timeout 10 "$vireo" create "$dir/web.cfg" -n memory=512 2>&1) && grep -q '"memory": 512' <<<"$out" ||
    { echo "FAIL: create FILE -n memory=512 did not apply the override: $out"; failed=1; }
# An override's error names the argument; the column counts inside it.
# A number key says so, not that quotes would do.
expect 1 "vireo: command-line setting 'memory=abc', column 8: unquoted word 'abc'; memory takes a number" \
    -- create "$dir/web.cfg" -n vcpus=1 memory=abc
expect 1 "vireo: command-line setting 'mode=abc', column 6: unquoted word 'abc'; expected a number, a \"string\" or a [list]" \
    -- create "$dir/web.cfg" -n mode=abc
expect 1 "vireo: command-line setting 'vcpus=0', column 7: vcpus 0 is out of range; expected 1 to 64" \
    -- create -n "$dir/web.cfg" vcpus=0

# "--" ends the options of every command: what follows is an operand even
# when it starts with '-' (no VM of that name runs, no such file exists).
for c in destroy pause unpause console block-list vcpu-list; do
    expect 1 "vireo: $c: no VM named '-x' is running (vireo list shows those that are)" -- "$c" -- -x
done
expect 1 "vireo: vcpu-pin: no VM named '-x' is running (vireo list shows those that are)" -- vcpu-pin -- -x 0 0
expect 1 "vireo: -x: no VM named '-x' is running (vireo list shows those that are)" -- shutdown -- -x
expect 1 "vireo: list: no VM named '-x' is running (vireo list shows those that are)" -- list -- -x
expect 0 -- info --
expect 2 "vireo: info: expected no arguments, got '-x'" "Try 'vireo info --help'." -- info -- -x
expect 2 "vireo: run: unexpected argument '-x' (options only; a kernel is given with --kernel)" \
    "Try 'vireo run --help'." -- run --kernel k -- -x
expect 1 "vireo: microscope report: $dir/-x: No such file or directory" -- microscope report -- "$dir/-x"
expect 1 "vireo: disk $dir/-x.img: No such file or directory" -- disk serve --socket "$dir/s.sock" -- "$dir/-x.img"
expect 1 "vireo: image info: -x.img: No such file or directory" -- image info -- -x.img
n=$((n + 1))
(cd "$dir" && timeout 10 "$vireo" image create -- -x.img 1M >/dev/null 2>&1 && [ -f "$dir/-x.img" ] &&
    timeout 10 "$vireo" image info --json -- -x.img | grep -q '"format": *"raw"') ||
    { echo "FAIL: image create/info -- -x.img"; failed=1; }
printf 'name = "dash"\nkernel = "%s/k"\nmemory = 128\n' "$dir" >"$dir/-d.cfg"
n=$((n + 1))
out=$(cd "$dir" && timeout 10 "$vireo" create -n -- -d.cfg memory=256 2>&1) && grep -q '"memory": 256' <<<"$out" ||
    { echo "FAIL: create -n -- -d.cfg: $out"; failed=1; }

# --json with no VM running: valid JSON of the README's shape (the rows of
# running VMs are checked in the toolstack suite).
for c in list vcpu-list; do
    n=$((n + 1))
    [ "$(timeout 10 "$vireo" "$c" --json | python3 -c 'import json, sys; print(json.load(sys.stdin))')" = "[]" ] ||
        { echo "FAIL: $c --json with no VM is not []"; failed=1; }
done
n=$((n + 1))
timeout 10 "$vireo" info --json | python3 -c 'import json, sys; o = json.load(sys.stdin)
assert sorted(o) == sorted(["host", "release", "version", "machine", "nr_cpus", "total_memory", "free_memory",
                            "checks", "nr_vms", "vm_memory", "host_reserved_memory", "vm_maxmem", "vmm_overhead",
                            "vm_free_memory", "hugepage_pool", "vm_hugepage_memory", "run_dir", "vireo_version"]), o
assert o["nr_vms"] == 0 and o["vm_memory"] == 0 and type(o["total_memory"]) is int and o["checks"], o
assert o["vm_maxmem"] == 0 and o["vmm_overhead"] == 0 and 0 < o["vm_free_memory"] < o["total_memory"], o
assert all(sorted(c) == ["detail", "name", "status"] and c["status"] in ("ok", "info", "warn", "fail")
           for c in o["checks"]), o' || { echo "FAIL: info --json"; failed=1; }
expect 2 "vireo: block-list: -l and --json exclude each other" "Try 'vireo block-list --help'." -- block-list -l --json x
expect 1 "vireo: network-list: no VM named 'x' is running (vireo list shows those that are)" -- network-list --json x

[ "$failed" = 0 ] && echo "ok: $n command lines"
exit "$failed"
