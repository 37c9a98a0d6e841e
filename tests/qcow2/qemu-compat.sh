#!/usr/bin/env bash
# tests/qcow2/qemu-compat.sh BUILD_DIR: vireo's qcow2 core against the
# reference implementation (Debian's qemu-utils).  Images made by
# qemu-img create / convert -c (zlib, zstd) / snapshot -c, with 4 KiB,
# 64 KiB and 2 MiB clusters, compat 0.10 and 1.1, raw and qcow2 backing
# files, are read and written by vireo (tests/qcow2/qcow2-io: random
# writes, write-zeroes, discards and flushes, applied with the documented
# semantics to a raw reference too); afterwards `qemu-img check` must be
# clean and `qemu-img compare` must find the image equal to the
# reference.  Then `vireo image`: what it makes passes qemu-img check and
# qemu-img info shows the same backing chain; resize; every error.
set -uo pipefail
build=$(cd "$1" && pwd)
io=$build/tests/qcow2/qcow2-io
vireo=$build/vireo
command -v qemu-img >/dev/null || { echo "qemu-compat: qemu-img missing (Debian qemu-utils; scripts/install-deps.sh test)"; exit 1; }
command -v jq >/dev/null || { echo "qemu-compat: jq missing"; exit 1; }
t=$(mktemp -d /tmp/vireo-qemu-compat.XXXXXX)
trap 'rm -rf "$t"' EXIT
cd "$t"
pass=0
fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

# verify NAME IMAGE REF: qemu-img check clean, compare equal.
verify() {
    local out
    if ! out=$(qemu-img check "$2" 2>&1); then
        bad "$1" "qemu-img check: $out"
        return 1
    fi
    if ! out=$(qemu-img compare -f qcow2 -F raw "$2" "$3" 2>&1); then
        bad "$1" "qemu-img compare: $out"
        return 1
    fi
    ok "$1"
}

# rw NAME IMAGE REF OPS SEED: vireo reads the image (equal to REF), writes
# OPS random operations to it and REF, then qemu-img judges.
rw() {
    local out
    if ! out=$("$io" "$2" compare "$3" -- random "$4" "$5" "$3" -- check 2>&1); then
        bad "$1" "$out"
        return 1
    fi
    verify "$1" "$2" "$3"
}

# A random raw disk with a hole of zeroes in it.
head -c $((24 << 20)) /dev/urandom > data.raw
dd if=/dev/zero of=data.raw bs=1M seek=8 count=4 conv=notrunc status=none
truncate -s 32M data.raw

# --- images qemu-img creates --------------------------------------------
for cs in 4K 64K 2M; do
    for compat in 0.10 1.1; do
        rm -f a.qcow2 a.raw
        qemu-img create -q -f qcow2 -o cluster_size=$cs,compat=$compat a.qcow2 48M
        truncate -s 48M a.raw
        rw "create cluster_size=$cs compat=$compat" a.qcow2 a.raw 2500 1
    done
done
for rb in 1 2 4 8 32 64; do
    rm -f r.qcow2 r.raw
    qemu-img create -q -f qcow2 -o cluster_size=4K,refcount_bits=$rb r.qcow2 16M
    truncate -s 16M r.raw
    rw "refcount_bits=$rb" r.qcow2 r.raw 1500 2
done

# --- compressed: qemu-img convert -c -------------------------------------
for cs in 4K 64K 2M; do
    for ct in zlib zstd; do
        rm -f c.qcow2 c.raw
        qemu-img convert -c -O qcow2 -o cluster_size=$cs,compression_type=$ct data.raw c.qcow2
        cp data.raw c.raw
        rw "convert -c cluster_size=$cs compression_type=$ct" c.qcow2 c.raw 1500 3
    done
done
rm -f c.qcow2 c.raw
qemu-img convert -c -O qcow2 -o compat=0.10 data.raw c.qcow2
cp data.raw c.raw
rw "convert -c compat=0.10" c.qcow2 c.raw 1500 4

# --- backing files ----------------------------------------------------------
qemu-img convert -O qcow2 data.raw base.qcow2
for compat in 0.10 1.1; do
    for bf in raw qcow2; do
        b=data.raw
        [ $bf = qcow2 ] && b=base.qcow2
        rm -f o.qcow2 o.raw
        # the overlay is bigger than its backing file: zeroes past it
        qemu-img create -q -f qcow2 -o compat=$compat,cluster_size=64K -b "$b" -F $bf o.qcow2 40M
        cp data.raw o.raw
        truncate -s 40M o.raw
        rw "backing $bf compat=$compat" o.qcow2 o.raw 2500 5
    done
done
# a chain of three in a folder, names relative to it
mkdir -p chain
cp data.raw chain/base.raw
qemu-img create -q -f qcow2 -o cluster_size=4K -b base.raw -F raw chain/mid.qcow2
qemu-io -c 'write -P 0x77 1M 3M' chain/mid.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 chain/top.qcow2
qemu-img convert -O raw chain/top.qcow2 chain.raw
rw "chain raw <- qcow2 <- qcow2" chain/top.qcow2 chain.raw 2000 6
if qemu-img check -q chain/mid.qcow2 && cmp -s chain/base.raw data.raw; then ok "chain: backing files untouched"
else bad "chain" "a backing file changed"; fi

# --- internal snapshots: copy on write -------------------------------------
for cs in 4K 64K; do
    rm -f s.qcow2 s.raw s1.raw
    qemu-img convert -O qcow2 -o cluster_size=$cs data.raw s.qcow2
    qemu-img snapshot -c snap1 s.qcow2
    cp data.raw s.raw
    rw "snapshot cluster_size=$cs" s.qcow2 s.raw 2500 7
    if qemu-img convert -l snapshot.name=snap1 -O raw s.qcow2 s1.raw && cmp -s s1.raw data.raw; then
        ok "snapshot cluster_size=$cs: the snapshot is intact"
    else
        bad "snapshot cluster_size=$cs" "the snapshot changed"
    fi
done

# --- a dirty image (lazy refcounts, the writer died): rebuilt on open ------
rm -f d.qcow2 d.raw
qemu-img create -q -f qcow2 -o lazy_refcounts=on,cluster_size=4K d.qcow2 16M
# (in a subshell: qemu-io's abort() is on purpose, and bash would report it)
(qemu-io -c 'write -P 0xaa 0 1M' -c 'write -P 0xbb 4M 300K' -c abort d.qcow2; true) >/dev/null 2>&1
qemu-img check d.qcow2 >/dev/null 2>&1
st=$?
qemu-img convert -f qcow2 -O raw d.qcow2 d.raw
if [ "$st" = 2 ] && qemu-img info d.qcow2 | grep -q 'dirty bit\|lazy refcounts: true'; then
    rw "dirty image repaired on open" d.qcow2 d.raw 1000 8
    if qemu-img info --output=json d.qcow2 | jq -e '."dirty-flag" == false' >/dev/null; then ok "dirty bit cleared"
    else bad "dirty" "the dirty bit is still set"; fi
else
    bad "dirty image" "qemu-io abort did not leave a dirty image with refcount errors (check exit $st)"
fi

# --- vireo image create / info / resize -----------------------------------
mkdir -p v
(cd v && "$vireo" image create -f qcow2 base.qcow2 64M >/dev/null &&
    "$vireo" image create -b base.qcow2 -F qcow2 mid.qcow2 >/dev/null &&
    "$vireo" image create -b mid.qcow2 -F qcow2 top.qcow2 100M >/dev/null &&
    "$vireo" image create rawdisk.img 32M >/dev/null &&
    "$vireo" image create -b rawdisk.img ov.qcow2 >/dev/null) || bad "vireo image create" "failed"
for f in base mid top ov; do
    if out=$(qemu-img check "v/$f.qcow2" 2>&1); then ok "vireo image create: $f.qcow2 passes qemu-img check"
    else bad "vireo image create $f" "$out"; fi
done
qchain=$(qemu-img info --backing-chain --output=json v/top.qcow2 | jq -c '[.[] | {f: .filename, fmt: .format, s: ."virtual-size"}]')
vchain=$("$vireo" image info --json v/top.qcow2 | jq -c '[."backing-chain"[] | {f: .filename, fmt: .format, s: ."virtual-size"}]')
if [ "$qchain" = "$vchain" ]; then ok "vireo image info shows qemu-img's backing chain"
else bad "backing chain" "qemu-img: $qchain; vireo: $vchain"; fi
qchain=$(qemu-img info --backing-chain --output=json v/ov.qcow2 | jq -c '[.[] | {f: .filename, fmt: .format}]')
vchain=$("$vireo" image info --json v/ov.qcow2 | jq -c '[."backing-chain"[] | {f: .filename, fmt: .format}]')
[ "$qchain" = "$vchain" ] && ok "raw backing chain as qemu-img" || bad "raw backing chain" "qemu-img: $qchain; vireo: $vchain"
q=$(qemu-img info --output=json v/top.qcow2 | jq -c '{s: ."virtual-size", c: ."cluster-size", b: ."backing-filename", bf: ."backing-filename-format"}')
v=$("$vireo" image info --json v/top.qcow2 | jq -c '{s: ."virtual-size", c: ."cluster-size", b: ."backing-filename", bf: ."backing-filename-format"}')
[ "$q" = "$v" ] && ok "vireo image info fields as qemu-img" || bad "info fields" "qemu-img: $q; vireo: $v"
for img in c.qcow2 s.qcow2 r.qcow2; do
    q=$(qemu-img info --output=json $img | jq -c '{s: ."virtual-size", c: ."cluster-size", v: ."format-specific".data.compat, r: ."format-specific".data."refcount-bits", z: (."format-specific".data."compression-type" // "zlib")}')
    v=$("$vireo" image info --json $img | jq -c '{s: ."virtual-size", c: ."cluster-size", v: (if .version == 2 then "0.10" else "1.1" end), r: ."refcount-bits", z: ."compression-type"}')
    [ "$q" = "$v" ] && ok "vireo image info $img as qemu-img" || bad "info $img" "qemu-img: $q; vireo: $v"
done
# data written through the chain lands in top only
"$io" v/top.qcow2 write 1M 2M 9 >/dev/null
if qemu-img check -q v/top.qcow2 && qemu-img compare -q v/mid.qcow2 v/base.qcow2; then ok "overlay written, bases untouched"
else bad "overlay" "check or compare failed"; fi

# resize: qcow2 with a bigger L1 table (4 KiB clusters: 1 GiB per L1 cluster)
rm -f g.qcow2 g.raw
qemu-img create -q -f qcow2 -o cluster_size=4K g.qcow2 512M
"$io" g.qcow2 write 0 1M 10 -- write 500M 1M 11 >/dev/null
qemu-img convert -O raw g.qcow2 g.raw
"$vireo" image resize g.qcow2 3G >/dev/null
truncate -s 3G g.raw
"$io" g.qcow2 write 2900M 1M 12 >/dev/null
if [ "$(qemu-img info --output=json g.qcow2 | jq '."virtual-size"')" = $((3 << 30)) ] && qemu-img check -q g.qcow2 &&
    "$io" g.qcow2 read 0 1M g0.bin && cmp -s g0.bin <(head -c 1M g.raw); then
    ok "resize qcow2 512M -> 3G (new L1 table)"
else
    bad "resize qcow2" "size, check or data wrong"
fi
"$vireo" image resize v/base.qcow2 128M >/dev/null && qemu-img check -q v/base.qcow2 &&
    [ "$(qemu-img info --output=json v/base.qcow2 | jq '."virtual-size"')" = $((128 << 20)) ] &&
    ok "resize qcow2 64M -> 128M (same L1)" || bad "resize qcow2 small" "failed"
"$vireo" image resize v/rawdisk.img 48M >/dev/null && [ "$(stat -c %s v/rawdisk.img)" = $((48 << 20)) ] &&
    ok "resize raw" || bad "resize raw" "failed"

# --- errors: each refused with its message, nothing changed ----------------
# expect NAME STATUS PATTERN CMD...: exit status and a stderr line matching.
expect() {
    local name=$1 want=$2 pat=$3 err st
    shift 3
    err=$("$@" 2>&1 >/dev/null)
    st=$?
    if [ "$st" != "$want" ]; then bad "$name" "exit $st, wanted $want: $err"
    elif ! grep -q -- "$pat" <<<"$err"; then bad "$name" "message: $err"
    else ok "$name"; fi
}
sum=$(md5sum v/top.qcow2)
expect "create: FILE exists" 1 "vireo: image create: v/top.qcow2 exists; nothing was changed" \
    "$vireo" image create -f qcow2 v/top.qcow2 1G
[ "$(md5sum v/top.qcow2)" = "$sum" ] && ok "create: existing FILE unchanged" || bad "create" "existing FILE changed"
expect "create: not a size" 2 "vireo: image: create: '12X' is not a size (e.g. 512M, 20G)" "$vireo" image create n.img 12X
expect "create: no size" 2 "vireo: image: create: SIZE is missing" "$vireo" image create n.img
expect "create: size not whole sectors" 1 "the size must be a multiple of 512 bytes" "$vireo" image create n.img 1000B
expect "create: missing backing" 1 \
    "vireo: image create: v/n.qcow2: backing file 'nothere.qcow2': v/nothere.qcow2: No such file or directory" \
    "$vireo" image create -b nothere.qcow2 -F qcow2 v/n.qcow2
expect "create: backing format not guessed" 1 "looks like a qcow2 image; say -F qcow2" \
    "$vireo" image create -b base.qcow2 v/n.qcow2
expect "create: raw with backing" 2 "a raw image cannot have a backing file" "$vireo" image create -f raw -b base.qcow2 v/n.img
expect "create: unknown format" 2 "format 'vmdk' is not raw or qcow2" "$vireo" image create -f vmdk v/n.img 1G
[ ! -e v/n.qcow2 ] && [ ! -e v/n.img ] && [ ! -e n.img ] && ok "create: nothing left behind" || bad "create" "files left behind"
expect "info: missing file" 1 "vireo: image info: nothere.qcow2: No such file or directory" "$vireo" image info nothere.qcow2
mv v/base.qcow2 v/base.moved
expect "info: broken chain" 1 "v/top.qcow2 -> v/mid.qcow2: backing file 'base.qcow2': v/base.qcow2: No such file or directory" \
    "$vireo" image info v/top.qcow2
expect "open: broken chain" 1 "v/top.qcow2 -> v/mid.qcow2: backing file 'base.qcow2': v/base.qcow2: No such file or directory" \
    "$vireo" image resize v/top.qcow2 200M
mv v/base.moved v/base.qcow2
# A backing name holding an escape sequence (a downloaded image): printed escaped.
esc=$'e\e[2Jvil.raw'
truncate -s 1M "v/$esc"
qemu-img create -q -f qcow2 -b "$esc" -F raw v/esc.qcow2
out=$("$vireo" image info v/esc.qcow2)
if ! grep -q $'\e' <<<"$out" && grep -qF 'backing file: e\x1b[2Jvil.raw (format raw)' <<<"$out" &&
    grep -qF -- '-> v/e\x1b[2Jvil.raw (raw' <<<"$out"; then ok "info: names from the image escaped"
else bad "info" "names printed raw: $(cat -v <<<"$out")"; fi
rm -f "v/$esc" v/esc.qcow2
expect "resize: not a size" 2 "'huge' is not a size" "$vireo" image resize v/top.qcow2 huge
expect "resize: shrink" 1 "shrinking (from 104857600 to 52428800 bytes) is not supported" "$vireo" image resize v/top.qcow2 50M
expect "resize: raw shrink" 1 "shrinking" "$vireo" image resize v/rawdisk.img 1M
expect "resize: missing file" 1 "vireo: image resize: nothere.img: No such file or directory" "$vireo" image resize nothere.img 1G
"$io" v/top.qcow2 sleep 5 &
holder=$!
sleep 1
expect "resize: in use" 1 "in use by another VM or process" "$vireo" image resize v/top.qcow2 200M
if "$vireo" image info v/top.qcow2 | grep -q "in use: yes, written by a running VM"; then ok "info: in use"
else bad "info" "the lock holder was not seen"; fi
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
"$vireo" image info v/top.qcow2 | grep -q "in use: no" && ok "info: not in use" || bad "info" "in use after the holder left"

echo "qemu-compat: $pass passed, $fail failed"
[ "$fail" = 0 ]
