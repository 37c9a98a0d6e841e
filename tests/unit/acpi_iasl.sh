#!/bin/sh
# acpi_iasl.sh ACPI_DUMP
#
# Checks Vireo's ACPI tables with ACPICA's iasl, a second implementation
# that shares no code with ours:
#   1. every table disassembles without a warning or error;
#   2. the disassembly compiles back to the same bytes, so iasl read every
#      field the way we meant it (the RSDP, which iasl cannot disassemble, is
#      rebuilt from its fields by the data-table compiler, which also
#      recomputes both of its checksums);
#   3. the disassembly says what the VMM promises the guest.  The expected
#      values follow src/x86/layout.h and must change with it.
set -eu

dump=${1:?usage: acpi_iasl.sh ACPI_DUMP}

if ! command -v iasl >/dev/null 2>&1; then
    echo "acpi_iasl.sh: iasl not found; install acpica-tools (apt-get install acpica-tools)" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vireo-acpi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
show() {
    sed 's/^/    | /' "$1" >&2
}

NCPUS=2
if ! "$dump" "$tmp" "$NCPUS"; then
    echo "acpi_iasl.sh: $dump failed" >&2
    exit 1
fi
cd "$tmp"

SDTS="dsdt facp apic mcfg xsdt"
for t in $SDTS facs rsdp; do
    if [ ! -s "$t.dat" ]; then
        echo "acpi_iasl.sh: $dump wrote no $t.dat" >&2
        exit 1
    fi
done

# --- 1 and 2: disassemble, reassemble, compare -------------------------------

# -oa: no optimisations, so the AML comes back exactly as iasl read it.
compile() {    # compile SRC PREFIX
    if ! iasl -oa -p "$2" "$1" >"$2.log" 2>&1; then
        fail "iasl could not compile $1"
        show "$2.log"
        return 1
    fi
    if ! grep -q 'Compilation successful\. *0 Errors, *0 Warnings' "$2.log"; then
        fail "iasl reported errors or warnings compiling $1"
        show "$2.log"
        return 1
    fi
    if ! grep -q ' 0 Remarks' "$2.log"; then
        echo "note: iasl remarks compiling $1:" >&2
        show "$2.log"
    fi
    return 0
}

for t in $SDTS facs; do
    if ! iasl -d "$t.dat" >"$t.dis.log" 2>&1; then
        fail "iasl -d $t.dat failed"
        show "$t.dis.log"
        continue
    fi
    # iasl flags bad checksums, truncated structures and unknown subtables
    # in its log and as "****" comments in the output.
    if grep -Eiq 'warning|error|incorrect|invalid|unknown|\*\*\*\*' "$t.dis.log" "$t.dsl"; then
        fail "iasl -d $t.dat complained"
        grep -Ei 'warning|error|incorrect|invalid|unknown|\*\*\*\*' "$t.dis.log" "$t.dsl" >&2
        continue
    fi
    compile "$t.dsl" "rt_$t" || continue
    if [ "$t" = facs ]; then
        cmp "$t.dat" "rt_$t.aml" || fail "$t: reassembled bytes differ"
    else
        # iasl stamps its own checksum and compiler id/revision (bytes 9 and
        # 28-35); everything else must be identical.
        if ! cmp -n 9 "$t.dat" "rt_$t.aml" ||
           ! cmp -i 10 -n 18 "$t.dat" "rt_$t.aml" ||
           ! cmp -i 36 "$t.dat" "rt_$t.aml"; then
            fail "$t: reassembled bytes differ"
        fi
    fi
done

# Little-endian field of a binary file as upper-case hex: le FILE OFFSET LEN
le() {
    od -An -v -tx1 -j "$2" -N "$3" "$1" |
        awk '{ for (i = 1; i <= NF; i++) b[n++] = $i }
             END { for (i = n - 1; i >= 0; i--) printf "%s", toupper(b[i]) }'
}

{
    echo "Signature : \"RSD PTR \""
    echo "Checksum : 00"
    echo "Oem ID : \"$(dd if=rsdp.dat bs=1 skip=9 count=6 2>/dev/null)\""
    echo "Revision : $(le rsdp.dat 15 1)"
    echo "RSDT Address : $(le rsdp.dat 16 4)"
    echo "Length : $(le rsdp.dat 20 4)"
    echo "XSDT Address : $(le rsdp.dat 24 8)"
    echo "Extended Checksum : 00"
    echo "Reserved : $(le rsdp.dat 33 3)"
} >rsdp.asl
if [ "$(dd if=rsdp.dat bs=1 count=8 2>/dev/null)" != "RSD PTR " ]; then
    fail "rsdp: bad signature"
elif compile rsdp.asl rt_rsdp; then
    cmp rsdp.dat rt_rsdp.aml || fail "rsdp: differs from iasl's (checksums or layout)"
fi
[ "$(le rsdp.dat 15 1)" = 02 ] || fail "rsdp: revision is not 2"

# --- 3: content ---------------------------------------------------------------

# expect FILE ERE WHAT: the disassembly must contain a line matching ERE.
expect() {
    grep -Eq "$2" "$1" 2>/dev/null || fail "$1: no $3 (/$2/)"
}
# expect_count FILE ERE N WHAT
expect_count() {
    n=$(grep -Ec "$2" "$1" 2>/dev/null || true)
    [ "$n" -eq "$3" ] || fail "$1: $n x $4, expected $3 (/$2/)"
}
# The value of a data-table field in the disassembly: field FILE LABEL
field() {
    sed -n "s|^\[[^]]*\] *$2 : \([^ ]*\).*|\1|p" "$1" 2>/dev/null | head -n 1
}
expect_field() {    # expect_field FILE LABEL VALUE
    v=$(field "$1" "$2")
    [ "$v" = "$3" ] || fail "$1: $2 is '$v', expected '$3'"
}

expect dsdt.dsl 'DefinitionBlock \("", "DSDT", 2, "VIREO "' "revision-2 DSDT header"
expect dsdt.dsl 'Device \(PCI0\)' "PCI0 device"
expect dsdt.dsl 'Name \(_HID, EisaId \("PNP0A08"\)' "PCIe host bridge _HID"
expect dsdt.dsl 'Name \(_CID, EisaId \("PNP0A03"\)' "PCI host bridge _CID"
expect dsdt.dsl 'Name \(_SEG, Zero\)' "_SEG"
expect dsdt.dsl 'Name \(_BBN, Zero\)' "_BBN"
expect dsdt.dsl 'WordBusNumber \(ResourceProducer' "bus number window"
expect_count dsdt.dsl 'WordIO \(ResourceProducer' 2 "I/O windows"
expect dsdt.dsl '0x0CF7, +// Range Maximum' "I/O window below 0xCF8"
expect dsdt.dsl '0x0D00, +// Range Minimum' "I/O window above 0xCFF"
expect dsdt.dsl '0xC0000000, +// Range Minimum' "32-bit MMIO window base"
expect dsdt.dsl '0x20000000, +// Length' "32-bit MMIO window size"
expect dsdt.dsl '0x0000000100000000, // Range Minimum' "64-bit MMIO window base (256M VM)"
expect dsdt.dsl '0x0000000800000000, // Length' "64-bit MMIO window size"
expect dsdt.dsl 'Device \(COM1\)' "COM1 device"
expect dsdt.dsl 'EisaId \("PNP0501"\)' "16550 _HID"
expect dsdt.dsl '0x03F8, +// Range Minimum' "COM1 I/O base"
expect dsdt.dsl '^ *\{4\}$' "COM1 IRQ 4"
expect dsdt.dsl 'Return \(0x0F\)' "COM1 _STA"
expect dsdt.dsl 'EisaId \("PNP0C02"\)' "motherboard resources device"
expect dsdt.dsl 'Memory32Fixed \(ReadWrite' "ECAM reservation"
expect dsdt.dsl '0xE0000000, +// Address Base' "ECAM reservation base"
expect dsdt.dsl '0x0600, +// Range Minimum' "PM I/O reservation"
expect dsdt.dsl 'Name \(\\_S5, Package \(0x04\)' "_S5_ package"
# The first two _S5_ elements are SLP_TYP for PM1a/PM1b.
if [ -f dsdt.dsl ]; then
    s5=$(sed -n '/Name (\\_S5/,/})/p' dsdt.dsl | tr -d ' \n')
    case "$s5" in
    *'{0x05,0x05,Zero,Zero}'*) ;;
    *) fail "dsdt.dsl: _S5_ is $s5, expected {5, 5, 0, 0}" ;;
    esac
fi

expect_field facp.dsl 'Revision' 06
expect_field facp.dsl 'Table Length' 00000114
expect_field facp.dsl 'SCI Interrupt' 0009
expect_field facp.dsl 'SMI Command Port' 00000000
expect_field facp.dsl 'PM1A Event Block Address' 00000600
expect_field facp.dsl 'PM1A Control Block Address' 00000604
expect_field facp.dsl 'PM1 Event Block Length' 04
expect_field facp.dsl 'PM1 Control Block Length' 02
expect_field facp.dsl 'PM Timer Block Length' 00
expect_field facp.dsl 'GPE0 Block Length' 00
expect_field facp.dsl 'RTC Century Index' 32
expect_field facp.dsl 'Value to cause reset' 06
expect_field facp.dsl 'Boot Flags (decoded below)' 0004
expect_field facp.dsl 'Flags (decoded below)' 00000425
expect facp.dsl 'Hardware Reduced \(V5\) : 0' "full (not hardware-reduced) ACPI"
expect facp.dsl 'Control Method Power Button \(V1\) : 0' "fixed power button"
expect facp.dsl 'Address : 0000000000000CF9' "reset register at 0xCF9"
if [ -f facp.dsl ] && [ -f xsdt.dsl ]; then
    # The 32- and 64-bit pointers must agree.
    facs32=$(field facp.dsl 'FACS Address')
    dsdt32=$(field facp.dsl 'DSDT Address')
    facs64=$(sed -n 's/^\[084h.*FACS Address : \([^ ]*\).*/\1/p' facp.dsl)
    dsdt64=$(sed -n 's/^\[08Ch.*DSDT Address : \([^ ]*\).*/\1/p' facp.dsl)
    [ "$facs32" = 00000000 ] && [ -n "$facs64" ] && [ "$facs64" != 0000000000000000 ] ||
        fail "facp.dsl: FACS must be given only in X_FIRMWARE_CTRL (got 0x$facs32 / 0x$facs64)"
    [ -n "$dsdt32" ] && [ "00000000$dsdt32" = "$dsdt64" ] ||
        fail "facp.dsl: DSDT 0x$dsdt32 vs X_DSDT 0x$dsdt64"
    case "$facs64" in
    *[048C]0) ;;
    *) fail "facp.dsl: FACS at 0x$facs64 is not 64-byte aligned" ;;
    esac
fi

expect_field apic.dsl 'Local Apic Address' FEE00000
expect_field apic.dsl 'Flags (decoded below)' 00000001
expect_count apic.dsl 'Subtable Type : 00 \[Processor Local APIC\]' "$NCPUS" "Processor Local APIC"
expect_count apic.dsl 'Processor Enabled : 1' "$NCPUS" "enabled processor"
expect_count apic.dsl 'Subtable Type : 01 \[I/O APIC\]' 1 "I/O APIC"
expect_field apic.dsl 'I/O Apic ID' "$(printf %02X "$NCPUS")"
expect apic.dsl 'Address : FEC00000' "I/O APIC address"
expect_count apic.dsl 'Subtable Type : 02 \[Interrupt Source Override\]' 1 "Interrupt Source Override"
expect apic.dsl 'Source : 09' "SCI override source"
expect apic.dsl 'Flags \(decoded below\) : 000D' "level/high SCI override"
expect_count apic.dsl 'Subtable Type : 04 \[Local APIC NMI\]' 1 "Local APIC NMI"
expect apic.dsl 'Interrupt Input LINT : 01' "NMI on LINT1"

expect_field mcfg.dsl 'Base Address' 00000000E0000000
expect_field mcfg.dsl 'Segment Group Number' 0000
expect_field mcfg.dsl 'Start Bus Number' 00
expect_field mcfg.dsl 'End Bus Number' 00

expect_count xsdt.dsl 'ACPI Table Address +[0-9]+ :' 3 "XSDT entry"
expect_field facs.dsl 'Signature' '"FACS"'
expect_field facs.dsl 'Length' 00000040

if [ "$failures" -ne 0 ]; then
    echo "acpi_iasl.sh: $failures check(s) failed" >&2
    exit 1
fi
echo "acpi_iasl.sh: all tables pass iasl ($(iasl -v 2>/dev/null | sed -n 's/.*version \([0-9]*\).*/\1/p' | head -n 1))"
