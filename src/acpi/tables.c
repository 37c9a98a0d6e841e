/* The ACPI tables of a Vireo VM (ACPI 6.x, chapter 5).  Linux takes SMP
 * topology, interrupt routing, PCI configuration access, the serial port and
 * power-off from them; the Debian cloud kernel has no MP-table parser, so
 * without these tables it would boot uniprocessor with the PIC only. */
#include "acpi/acpi.h"

#include <stdbool.h>
#include <string.h>

#include "acpi/aml.h"
#include "x86/layout.h"

#define OEM_ID          "VIREO "
#define OEM_TABLE_ID    "VIREOVM "
#define OEM_REVISION    1
#define CREATOR_ID      "VIRE"
#define CREATOR_REV     1

#define SDT_HEADER_LEN  36
#define RSDP_LEN        36
#define RSDP_V1_LEN     20
#define FACS_LEN        64
#define FADT_LEN        276     /* revision 6 (ACPI 6.0 and later) */
#define MADT_FIXED_LEN  44
#define MCFG_FIXED_LEN  44
#define MCFG_ALLOC_LEN  16

/* Generic Address Structure (5.2.3.2). */
#define GAS_LEN             12
#define GAS_SPACE_IO        1
#define GAS_ACCESS_BYTE     1
#define GAS_ACCESS_WORD     2

/* FADT Fixed Feature Flags (5.2.9, table 5.10). */
#define FADT_F_WBINVD           (1u << 0)
#define FADT_F_PROC_C1          (1u << 2)
#define FADT_F_SLP_BUTTON       (1u << 5)
#define FADT_F_RESET_REG_SUP    (1u << 10)
/* IA-PC Boot Architecture Flags (5.2.9.3). */
#define FADT_BOOT_VGA_NOT_PRESENT (1u << 2)
/* P_LVLx_LAT values above these limits mean "state not supported". */
#define FADT_C2_UNSUPPORTED     101
#define FADT_C3_UNSUPPORTED     1001
#define FADT_CENTURY_CMOS_INDEX 0x32
#define FADT_MINOR_VERSION      0

/* FADT field offsets (table 5.9). */
#define FADT_FIRMWARE_CTRL  36
#define FADT_DSDT           40
#define FADT_SCI_INT        46
#define FADT_SMI_CMD        48
#define FADT_PM1A_EVT_BLK   56
#define FADT_PM1A_CNT_BLK   64
#define FADT_PM1_EVT_LEN    88
#define FADT_PM1_CNT_LEN    89
#define FADT_P_LVL2_LAT     96
#define FADT_P_LVL3_LAT     98
#define FADT_CENTURY        108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS          112
#define FADT_RESET_REG      116
#define FADT_RESET_VALUE    128
#define FADT_MINOR          131
#define FADT_X_FIRMWARE_CTRL 132
#define FADT_X_DSDT         140
#define FADT_X_PM1A_EVT_BLK 148
#define FADT_X_PM1A_CNT_BLK 172

#define PM1_EVT_LEN         4
#define PM1_CNT_LEN         2
#define PM_IO_LEN           8

/* MADT (5.2.12). */
#define MADT_PCAT_COMPAT    1
#define MADT_LAPIC          0
#define MADT_LAPIC_LEN      8
#define MADT_LAPIC_ENABLED  1
#define MADT_IOAPIC         1
#define MADT_IOAPIC_LEN     12
#define MADT_ISO            2
#define MADT_ISO_LEN        10
#define MADT_LAPIC_NMI      4
#define MADT_LAPIC_NMI_LEN  6
#define MADT_ALL_CPUS       0xFF
/* MPS INTI flags: polarity active-high (01), trigger level (11 << 2). */
#define MADT_ISO_LEVEL_HIGH 0x000D
#define LINT1               1

#define SDT_REV_XSDT        1
#define SDT_REV_FADT        6
#define SDT_REV_MADT        4
#define SDT_REV_MCFG        1
/* Revision 2 makes AML integers 64 bits wide, needed for the 64-bit window. */
#define SDT_REV_DSDT        2
#define RSDP_REVISION       2
#define FACS_VERSION        2

#define XSDT_ENTRIES        3

struct out {
    uint8_t *buf;
    size_t len;
    size_t used;
    uint64_t gpa;
};

static void w16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void w32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void w64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* 32-bit pointer fields must be zero when the target lies above 4 GiB; the
 * X_ fields carry the address then. */
static uint32_t addr32(uint64_t gpa)
{
    return gpa <= UINT32_MAX ? (uint32_t)gpa : 0;
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)-sum;
}

/* Reserves size zeroed bytes whose guest-physical address is a multiple of
 * align (a power of two); NULL when they do not fit. */
static uint8_t *carve(struct out *o, size_t size, size_t align, uint64_t *gpa)
{
    size_t pad = (size_t)(-(o->gpa + o->used) & (align - 1));
    if (pad > o->len - o->used || size > o->len - o->used - pad)
        return NULL;
    /* Padding is zeroed too so that the output never depends on what the
     * buffer held before. */
    memset(o->buf + o->used, 0, pad + size);
    uint8_t *p = o->buf + o->used + pad;
    *gpa = o->gpa + o->used + pad;
    o->used += pad + size;
    return p;
}

static void sdt_header(uint8_t *p, const char sig[4], uint32_t len, uint8_t rev)
{
    memcpy(p, sig, 4);
    w32(p + 4, len);
    p[8] = rev;
    memcpy(p + 10, OEM_ID, 6);
    memcpy(p + 16, OEM_TABLE_ID, 8);
    w32(p + 24, OEM_REVISION);
    memcpy(p + 28, CREATOR_ID, 4);
    w32(p + 32, CREATOR_REV);
}

static void sdt_finish(uint8_t *p)
{
    uint32_t len = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                   (uint32_t)p[7] << 24;
    p[9] = 0;
    p[9] = checksum(p, len);
}

static void gas_io(uint8_t *p, uint16_t port, uint8_t bytes, uint8_t access)
{
    p[0] = GAS_SPACE_IO;
    p[1] = (uint8_t)(bytes * 8);
    p[2] = 0;
    p[3] = access;
    w64(p + 4, port);
}

static void dsdt_body(struct aml *a, const struct acpi_config *cfg)
{
    aml_scope(a, "\\_SB");

    /* The PCIe host bridge.  Its _CRS splits the I/O space around the
     * 0xCF8 configuration ports, which the bridge consumes itself. */
    aml_device(a, "PCI0");
    aml_name(a, "_HID");
    aml_eisaid_obj(a, "PNP0A08");
    aml_name(a, "_CID");
    aml_eisaid_obj(a, "PNP0A03");
    aml_name(a, "_SEG");
    aml_integer(a, 0);
    aml_name(a, "_UID");
    aml_integer(a, 0);
    aml_name(a, "_BBN");
    aml_integer(a, 0);
    aml_name(a, "_CRS");
    aml_rt_begin(a);
    aml_rt_word_bus(a, 0, LAYOUT_ECAM_BUSES - 1);
    aml_rt_io(a, PORT_PCI_CONFIG_ADDR, 8);
    aml_rt_word_io(a, 0x0000, PORT_PCI_CONFIG_ADDR - 1);
    aml_rt_word_io(a, PORT_PCI_CONFIG_ADDR + 8, 0xFFFF);
    aml_rt_dword_mem(a, false, LAYOUT_PCI_MMIO32_BASE, LAYOUT_PCI_MMIO32_SIZE);
    if (cfg->mmio64_base)
        aml_rt_qword_mem(a, false, cfg->mmio64_base, LAYOUT_PCI_MMIO64_SIZE);
    aml_rt_end(a);
    aml_end(a);

    aml_device(a, "COM1");
    aml_name(a, "_HID");
    aml_eisaid_obj(a, "PNP0501");
    aml_name(a, "_UID");
    aml_integer(a, 1);
    aml_method(a, "_STA", 0, false);
    aml_return(a);
    aml_integer(a, 0x0F);       /* present, enabled, shown, functioning */
    aml_end(a);
    aml_name(a, "_CRS");
    aml_rt_begin(a);
    aml_rt_io(a, PORT_COM1, 8);
    aml_rt_irq_noflags(a, 1u << IRQ_COM1);
    aml_rt_end(a);
    aml_end(a);

    /* Linux only trusts the MCFG window if a motherboard device reserves
     * it; the PM ports are claimed here so nothing else is placed on them. */
    aml_device(a, "MRES");
    aml_name(a, "_HID");
    aml_eisaid_obj(a, "PNP0C02");
    aml_name(a, "_CRS");
    aml_rt_begin(a);
    aml_rt_mem32_fixed(a, true, LAYOUT_ECAM_BASE, LAYOUT_ECAM_SIZE);
    aml_rt_io(a, PORT_ACPI_PM_BASE, PM_IO_LEN);
    aml_rt_end(a);
    aml_end(a);

    aml_end(a);                 /* \_SB */

    /* SLP_TYP values for PM1a and PM1b, then two reserved entries. */
    aml_name(a, "\\_S5");
    aml_package(a, 4);
    aml_integer(a, ACPI_S5_SLP_TYP);
    aml_integer(a, ACPI_S5_SLP_TYP);
    aml_integer(a, 0);
    aml_integer(a, 0);
    aml_end(a);
}

static bool build_dsdt(struct out *o, const struct acpi_config *cfg, uint64_t *gpa)
{
    /* The AML goes straight into the output, after a header that is
     * filled in once its length is known. */
    uint8_t *p = carve(o, SDT_HEADER_LEN, 8, gpa);
    if (!p)
        return false;
    struct aml a;
    aml_init(&a, o->buf + o->used, o->len - o->used);
    dsdt_body(&a, cfg);
    if (!aml_ok(&a))
        return false;
    o->used += a.len;
    sdt_header(p, "DSDT", (uint32_t)(SDT_HEADER_LEN + a.len), SDT_REV_DSDT);
    sdt_finish(p);
    return true;
}

static bool build_fadt(struct out *o, uint64_t facs, uint64_t dsdt, uint64_t *gpa)
{
    uint8_t *p = carve(o, FADT_LEN, 8, gpa);
    if (!p)
        return false;
    sdt_header(p, "FACP", FADT_LEN, SDT_REV_FADT);
    /* FIRMWARE_CTRL stays 0: the spec wants it zero when X_FIRMWARE_CTRL
     * is set, and Linux otherwise maps the FACS twice. */
    w32(p + FADT_DSDT, addr32(dsdt));
    w16(p + FADT_SCI_INT, IRQ_ACPI_SCI);
    /* SMI_CMD stays 0: there is no SMM, the platform is always in ACPI mode. */
    w32(p + FADT_SMI_CMD, 0);
    w32(p + FADT_PM1A_EVT_BLK, PORT_ACPI_PM1A_EVT);
    w32(p + FADT_PM1A_CNT_BLK, PORT_ACPI_PM1A_CNT);
    p[FADT_PM1_EVT_LEN] = PM1_EVT_LEN;
    p[FADT_PM1_CNT_LEN] = PM1_CNT_LEN;
    w16(p + FADT_P_LVL2_LAT, FADT_C2_UNSUPPORTED);
    w16(p + FADT_P_LVL3_LAT, FADT_C3_UNSUPPORTED);
    p[FADT_CENTURY] = FADT_CENTURY_CMOS_INDEX;
    /* No 8042 flag: Linux then leaves the i8042 driver alone. */
    w16(p + FADT_IAPC_BOOT_ARCH, FADT_BOOT_VGA_NOT_PRESENT);
    /* PWR_BUTTON clear means a fixed-feature power button exists; the
     * sleep button does not. */
    w32(p + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
                        FADT_F_RESET_REG_SUP);
    gas_io(p + FADT_RESET_REG, PORT_RESET_CONTROL, 1, GAS_ACCESS_BYTE);
    p[FADT_RESET_VALUE] = RESET_CONTROL_VALUE;
    p[FADT_MINOR] = FADT_MINOR_VERSION;
    w64(p + FADT_X_FIRMWARE_CTRL, facs);
    w64(p + FADT_X_DSDT, dsdt);
    /* PM1 registers are 16 bits wide: status and enable halves, control. */
    gas_io(p + FADT_X_PM1A_EVT_BLK, PORT_ACPI_PM1A_EVT, PM1_EVT_LEN, GAS_ACCESS_WORD);
    gas_io(p + FADT_X_PM1A_CNT_BLK, PORT_ACPI_PM1A_CNT, PM1_CNT_LEN, GAS_ACCESS_WORD);
    sdt_finish(p);
    return true;
}

static bool build_madt(struct out *o, uint32_t ncpus, uint64_t *gpa)
{
    size_t len = MADT_FIXED_LEN + (size_t)ncpus * MADT_LAPIC_LEN + MADT_IOAPIC_LEN +
                 MADT_ISO_LEN + MADT_LAPIC_NMI_LEN;
    uint8_t *p = carve(o, len, 8, gpa);
    if (!p)
        return false;
    sdt_header(p, "APIC", (uint32_t)len, SDT_REV_MADT);
    w32(p + 36, (uint32_t)LAYOUT_LAPIC_ADDR);
    w32(p + 40, MADT_PCAT_COMPAT);

    uint8_t *e = p + MADT_FIXED_LEN;
    for (uint32_t i = 0; i < ncpus; i++, e += MADT_LAPIC_LEN) {
        e[0] = MADT_LAPIC;
        e[1] = MADT_LAPIC_LEN;
        e[2] = (uint8_t)i;      /* ACPI processor UID */
        e[3] = (uint8_t)i;      /* APIC id */
        w32(e + 4, MADT_LAPIC_ENABLED);
    }

    /* The I/O APIC id just has to differ from every local APIC id. */
    e[0] = MADT_IOAPIC;
    e[1] = MADT_IOAPIC_LEN;
    e[2] = (uint8_t)ncpus;
    w32(e + 4, (uint32_t)LAYOUT_IOAPIC_ADDR);
    w32(e + 8, 0);              /* GSI base */
    e += MADT_IOAPIC_LEN;

    /* The SCI is a shared level interrupt.  IRQ 0 needs no override:
     * KVM's default routing wires the PIT to I/O APIC pin 0, not pin 2. */
    e[0] = MADT_ISO;
    e[1] = MADT_ISO_LEN;
    e[2] = 0;                   /* ISA */
    e[3] = IRQ_ACPI_SCI;
    w32(e + 4, IRQ_ACPI_SCI);
    w16(e + 8, MADT_ISO_LEVEL_HIGH);
    e += MADT_ISO_LEN;

    e[0] = MADT_LAPIC_NMI;
    e[1] = MADT_LAPIC_NMI_LEN;
    e[2] = MADT_ALL_CPUS;
    w16(e + 3, 0);              /* conforms to the bus: edge, active-high */
    e[5] = LINT1;

    sdt_finish(p);
    return true;
}

static bool build_mcfg(struct out *o, uint64_t *gpa)
{
    size_t len = MCFG_FIXED_LEN + MCFG_ALLOC_LEN;
    uint8_t *p = carve(o, len, 8, gpa);
    if (!p)
        return false;
    sdt_header(p, "MCFG", (uint32_t)len, SDT_REV_MCFG);
    uint8_t *e = p + MCFG_FIXED_LEN;
    w64(e, LAYOUT_ECAM_BASE);
    w16(e + 8, 0);              /* PCI segment */
    e[10] = 0;                  /* first bus */
    e[11] = LAYOUT_ECAM_BUSES - 1;
    sdt_finish(p);
    return true;
}

static bool build_xsdt(struct out *o, const uint64_t entries[XSDT_ENTRIES], uint64_t *gpa)
{
    size_t len = SDT_HEADER_LEN + 8 * XSDT_ENTRIES;
    uint8_t *p = carve(o, len, 8, gpa);
    if (!p)
        return false;
    sdt_header(p, "XSDT", (uint32_t)len, SDT_REV_XSDT);
    for (size_t i = 0; i < XSDT_ENTRIES; i++)
        w64(p + SDT_HEADER_LEN + 8 * i, entries[i]);
    sdt_finish(p);
    return true;
}

size_t acpi_build(const struct acpi_config *cfg, uint8_t *buf, size_t buf_len,
                  uint64_t buf_gpa)
{
    /* The legacy scan only looks at 16-byte boundaries; the MADT has 8-bit
     * APIC ids and the I/O APIC takes id ncpus. */
    if (buf_gpa % 16 != 0 || cfg->ncpus == 0 || cfg->ncpus > MAX_VCPUS)
        return 0;

    struct out o = { .buf = buf, .len = buf_len, .used = 0, .gpa = buf_gpa };
    uint64_t rsdp_gpa, facs, dsdt, fadt, madt, mcfg, xsdt;

    uint8_t *rsdp = carve(&o, RSDP_LEN, 16, &rsdp_gpa);
    if (!rsdp)
        return 0;

    uint8_t *f = carve(&o, FACS_LEN, 64, &facs);
    if (!f)
        return 0;
    memcpy(f, "FACS", 4);
    w32(f + 4, FACS_LEN);
    f[32] = FACS_VERSION;

    if (!build_dsdt(&o, cfg, &dsdt) || !build_fadt(&o, facs, dsdt, &fadt) ||
        !build_madt(&o, cfg->ncpus, &madt) || !build_mcfg(&o, &mcfg))
        return 0;

    const uint64_t entries[XSDT_ENTRIES] = { fadt, madt, mcfg };
    if (!build_xsdt(&o, entries, &xsdt))
        return 0;

    memcpy(rsdp, "RSD PTR ", 8);
    memcpy(rsdp + 9, OEM_ID, 6);
    rsdp[15] = RSDP_REVISION;
    w32(rsdp + 16, 0);          /* no RSDT: every consumer we target reads the XSDT */
    w32(rsdp + 20, RSDP_LEN);
    w64(rsdp + 24, xsdt);
    rsdp[8] = checksum(rsdp, RSDP_V1_LEN);
    rsdp[32] = checksum(rsdp, RSDP_LEN);
    return o.used;
}
