/* Unit tests for the AML encoder and the ACPI tables.  The table checks walk
 * the output the way a guest does, starting from the RSDP, and decode it with
 * helpers written here rather than with the builder's own code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acpi/acpi.h"
#include "acpi/aml.h"
#include "x86/layout.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static uint64_t rd(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

/* Decodes a PkgLength; returns its byte count and stores the value. */
static size_t pkglen_decode(const uint8_t *p, size_t *value)
{
    size_t n = (size_t)(p[0] >> 6) + 1;
    if (n == 1) {
        *value = p[0] & 0x3F;
        return 1;
    }
    size_t v = p[0] & 0x0F;
    for (size_t i = 1; i < n; i++)
        v |= (size_t)p[i] << (4 + 8 * (i - 1));
    *value = v;
    return n;
}

#define assert_bytes(a, ...)                                                   \
    do {                                                                       \
        const uint8_t expect_[] = { __VA_ARGS__ };                             \
        assert_true(aml_ok(a));                                                \
        assert_int_equal((a)->len, sizeof(expect_));                           \
        assert_memory_equal((a)->buf, expect_, sizeof(expect_));               \
    } while (0)

/* ------------------------------------------------------------------------ */
/* AML encoder                                                              */

static void test_pkglen_boundaries(void **state)
{
    (void)state;
    uint8_t b[4];

    /* Largest one-byte value is 63: 62 payload bytes plus itself. */
    assert_int_equal(aml_pkglen_encode(b, 62), 1);
    assert_int_equal(b[0], 0x3F);
    /* 63 payload bytes need two, so the value jumps to 65 (64 is not a
     * minimal encoding of anything). */
    assert_int_equal(aml_pkglen_encode(b, 63), 2);
    assert_int_equal(b[0], 0x41);
    assert_int_equal(b[1], 0x04);
    /* Largest two-byte value is 4095. */
    assert_int_equal(aml_pkglen_encode(b, 4093), 2);
    assert_int_equal(b[0], 0x4F);
    assert_int_equal(b[1], 0xFF);
    /* 4096 and up take three bytes. */
    assert_int_equal(aml_pkglen_encode(b, 4094), 3);
    assert_int_equal(b[0], 0x81);
    assert_int_equal(b[1], 0x00);
    assert_int_equal(b[2], 0x01);
    assert_int_equal(aml_pkglen_encode(b, 0xFFFFC), 3);
    assert_int_equal(aml_pkglen_encode(b, 0xFFFFD), 4);
    assert_int_equal(aml_pkglen_encode(b, 0xFFFFFFB), 4);
    assert_int_equal(aml_pkglen_encode(b, 0xFFFFFFC), 0);
}

static void test_pkglen_roundtrip(void **state)
{
    (void)state;
    static const size_t limit[] = { 0x3F, 0xFFF, 0xFFFFF, 0xFFFFFFF };
    for (size_t len = 0; len < 0x11000; len++) {
        uint8_t b[4];
        size_t n = aml_pkglen_encode(b, len);
        assert_in_range(n, 1, 4);
        size_t v;
        assert_int_equal(pkglen_decode(b, &v), n);
        assert_int_equal(v, len + n);
        /* Minimal: the next shorter form could not have held it. */
        if (n > 1)
            assert_true(len + (n - 1) > limit[n - 2]);
    }
}

static void test_eisaid(void **state)
{
    (void)state;
    assert_int_equal(aml_eisaid("PNP0A03"), 0x030AD041);
    assert_int_equal(aml_eisaid("PNP0A08"), 0x080AD041);
    assert_int_equal(aml_eisaid("PNP0501"), 0x0105D041);
    assert_int_equal(aml_eisaid("PNP0C02"), 0x020CD041);
    assert_int_equal(aml_eisaid("pnp0a03"), 0);
    assert_int_equal(aml_eisaid("PNP0A0"), 0);
    assert_int_equal(aml_eisaid("PNP0A031"), 0);
    assert_int_equal(aml_eisaid("PNP0A0G"), 0);
    assert_int_equal(aml_eisaid("PNP0a03"), 0);
}

static void test_integers(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct aml a;

    aml_init(&a, buf, sizeof(buf));
    aml_integer(&a, 0);
    aml_integer(&a, 1);
    aml_integer(&a, 2);
    aml_integer(&a, 0xFF);
    aml_integer(&a, 0x100);
    aml_integer(&a, 0xFFFF);
    aml_integer(&a, 0x10000);
    aml_integer(&a, 0xFFFFFFFF);
    aml_integer(&a, 0x100000000ULL);
    assert_bytes(&a, 0x00, 0x01, 0x0A, 0x02, 0x0A, 0xFF, 0x0B, 0x00, 0x01,
                 0x0B, 0xFF, 0xFF, 0x0C, 0x00, 0x00, 0x01, 0x00,
                 0x0C, 0xFF, 0xFF, 0xFF, 0xFF,
                 0x0E, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00);

    aml_init(&a, buf, sizeof(buf));
    aml_dword(&a, 5);
    aml_eisaid_obj(&a, "PNP0A03");
    aml_string(&a, "Hi");
    assert_bytes(&a, 0x0C, 0x05, 0x00, 0x00, 0x00, 0x0C, 0x41, 0xD0, 0x0A, 0x03,
                 0x0D, 'H', 'i', 0x00);

    aml_init(&a, buf, sizeof(buf));
    aml_eisaid_obj(&a, "bad");
    assert_false(aml_ok(&a));
}

static void test_namestrings(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct aml a;

    aml_init(&a, buf, sizeof(buf));
    aml_namestring(&a, "_HID");
    assert_bytes(&a, '_', 'H', 'I', 'D');

    aml_init(&a, buf, sizeof(buf));
    aml_namestring(&a, "\\_SB");
    assert_bytes(&a, 0x5C, '_', 'S', 'B', '_');

    aml_init(&a, buf, sizeof(buf));
    aml_namestring(&a, "\\_SB.PCI0");
    assert_bytes(&a, 0x5C, 0x2E, '_', 'S', 'B', '_', 'P', 'C', 'I', '0');

    aml_init(&a, buf, sizeof(buf));
    aml_namestring(&a, "\\_SB.PCI0.S08");
    assert_bytes(&a, 0x5C, 0x2F, 0x03, '_', 'S', 'B', '_', 'P', 'C', 'I', '0',
                 'S', '0', '8', '_');

    aml_init(&a, buf, sizeof(buf));
    aml_namestring(&a, "^^FOO");
    assert_bytes(&a, 0x5E, 0x5E, 'F', 'O', 'O', '_');

    aml_init(&a, buf, sizeof(buf));
    aml_namestring(&a, "\\");
    assert_bytes(&a, 0x5C, 0x00);

    static const char *const bad[] = { "1ABC", "TOOLONG", "A..B", "ABC.", ".ABC",
                                       "pci0", "\\^A", "A-B" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        aml_init(&a, buf, sizeof(buf));
        aml_namestring(&a, bad[i]);
        assert_false(aml_ok(&a));
    }
}

static void test_name_package(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct aml a;

    aml_init(&a, buf, sizeof(buf));
    aml_name(&a, "\\_S5");
    aml_package(&a, 4);
    aml_integer(&a, 5);
    aml_integer(&a, 5);
    aml_integer(&a, 0);
    aml_integer(&a, 0);
    aml_end(&a);
    assert_bytes(&a, 0x08, 0x5C, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
                 0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00);
}

static void test_blocks(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct aml a;

    aml_init(&a, buf, sizeof(buf));
    aml_method(&a, "_STA", 0, false);
    aml_return(&a);
    aml_integer(&a, 0x0F);
    aml_end(&a);
    assert_bytes(&a, 0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xA4, 0x0A, 0x0F);

    aml_init(&a, buf, sizeof(buf));
    aml_method(&a, "FOO", 3, true);
    aml_end(&a);
    assert_bytes(&a, 0x14, 0x06, 'F', 'O', 'O', '_', 0x0B);

    aml_init(&a, buf, sizeof(buf));
    aml_scope(&a, "\\_SB");
    aml_device(&a, "DEV");
    aml_name(&a, "_UID");
    aml_integer(&a, 1);
    aml_end(&a);
    aml_end(&a);
    assert_bytes(&a, 0x10, 0x13, 0x5C, '_', 'S', 'B', '_',
                 0x5B, 0x82, 0x0B, 'D', 'E', 'V', '_', 0x08, '_', 'U', 'I', 'D', 0x01);
}

static void test_buffer_sizes(void **state)
{
    (void)state;
    uint8_t data[5000];
    uint8_t buf[6000];
    struct aml a;
    memset(data, 0x5A, sizeof(data));

    /* 60 bytes: BufferSize 0A 3C plus data is 62, a one-byte PkgLength. */
    aml_init(&a, buf, sizeof(buf));
    aml_buffer(&a);
    aml_bytes(&a, data, 60);
    aml_end(&a);
    assert_true(aml_ok(&a));
    assert_int_equal(a.len, 1 + 1 + 2 + 60);
    assert_int_equal(buf[1], 63);
    assert_int_equal(buf[2], 0x0A);
    assert_int_equal(buf[3], 60);

    /* 61 bytes tip it into the two-byte form. */
    aml_init(&a, buf, sizeof(buf));
    aml_buffer(&a);
    aml_bytes(&a, data, 61);
    aml_end(&a);
    assert_true(aml_ok(&a));
    assert_int_equal(a.len, 1 + 2 + 2 + 61);
    assert_int_equal(buf[1], 0x41);
    assert_int_equal(buf[2], 0x04);
    assert_int_equal(buf[3], 0x0A);
    assert_int_equal(buf[4], 61);
    assert_memory_equal(buf + 5, data, 61);

    /* Around 4095: BufferSize is a WordConst (3 bytes) from 256 up. */
    for (size_t n = 4088; n < 4096; n++) {
        aml_init(&a, buf, sizeof(buf));
        aml_buffer(&a);
        aml_bytes(&a, data, n);
        aml_end(&a);
        assert_true(aml_ok(&a));
        size_t v;
        size_t pl = pkglen_decode(buf + 1, &v);
        assert_int_equal(pl, n + 3 + 2 <= 4095 ? 2 : 3);
        assert_int_equal(v, pl + 3 + n);
        assert_int_equal(a.len, 1 + v);
        assert_int_equal(buf[1 + pl], 0x0B);
        assert_int_equal(rd(buf + 2 + pl, 2), n);
        assert_memory_equal(buf + 1 + pl + 3, data, n);
    }
}

static void test_resources(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct aml a;

    aml_init(&a, buf, sizeof(buf));
    aml_rt_begin(&a);
    aml_rt_io(&a, 0x3F8, 8);
    aml_rt_irq_noflags(&a, 1u << 4);
    aml_rt_end(&a);
    assert_bytes(&a, 0x11, 0x10, 0x0A, 0x0D,
                 0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08,
                 0x22, 0x10, 0x00,
                 0x79, 0x00);

    aml_init(&a, buf, sizeof(buf));
    aml_rt_begin(&a);
    aml_rt_mem32_fixed(&a, true, 0xE0000000, 0x100000);
    aml_rt_word_bus(&a, 0, 0xFF);
    aml_rt_word_io(&a, 0xD00, 0xFFFF);
    aml_rt_dword_mem(&a, false, 0xC0000000, 0x20000000);
    aml_rt_qword_mem(&a, true, 1ULL << 40, 1ULL << 38);
    aml_rt_end(&a);
    assert_true(aml_ok(&a));
    /* Buffer, two-byte PkgLength, ByteConst size, then the descriptors. */
    const size_t data_len = 12 + 16 + 16 + 26 + 46 + 2;
    assert_int_equal(buf[0], 0x11);
    assert_int_equal(buf[1], 0x40 | ((data_len + 2 + 2) & 0xF));
    assert_int_equal(buf[2], (data_len + 2 + 2) >> 4);
    assert_int_equal(buf[3], 0x0A);
    assert_int_equal(buf[4], data_len);
    const uint8_t *d = buf + 5;
    const uint8_t mem32[] = { 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xE0,
                              0x00, 0x00, 0x10, 0x00 };
    assert_memory_equal(d, mem32, sizeof(mem32));
    d += sizeof(mem32);
    const uint8_t bus[] = { 0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00,
                            0xFF, 0x00, 0x00, 0x00, 0x00, 0x01 };
    assert_memory_equal(d, bus, sizeof(bus));
    d += sizeof(bus);
    const uint8_t io[] = { 0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x0D,
                           0xFF, 0xFF, 0x00, 0x00, 0x00, 0xF3 };
    assert_memory_equal(d, io, sizeof(io));
    d += sizeof(io);
    assert_int_equal(d[0], 0x87);
    assert_int_equal(rd(d + 1, 2), 23);
    assert_int_equal(d[3], 0);          /* memory */
    assert_int_equal(d[4], 0x0C);
    assert_int_equal(d[5], 0x01);       /* read-write, non-cacheable */
    assert_int_equal(rd(d + 10, 4), 0xC0000000);
    assert_int_equal(rd(d + 14, 4), 0xDFFFFFFF);
    assert_int_equal(rd(d + 22, 4), 0x20000000);
    d += 26;
    assert_int_equal(d[0], 0x8A);
    assert_int_equal(rd(d + 1, 2), 43);
    assert_int_equal(d[5], 0x03);       /* read-write, cacheable */
    assert_int_equal(rd(d + 14, 8), 1ULL << 40);
    assert_int_equal(rd(d + 22, 8), (1ULL << 40) + (1ULL << 38) - 1);
    assert_int_equal(rd(d + 38, 8), 1ULL << 38);
    d += 46;
    assert_int_equal(d[0], 0x79);
    assert_int_equal(d + 2, buf + a.len);
}

static void test_errors(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct aml a;

    aml_init(&a, buf, sizeof(buf));
    aml_end(&a);
    assert_false(aml_ok(&a));

    aml_init(&a, buf, sizeof(buf));
    aml_package(&a, 1);
    aml_integer(&a, 1);
    assert_false(aml_ok(&a));           /* still open */

    aml_init(&a, buf, sizeof(buf));
    aml_rt_io(&a, 0x3F8, 8);            /* not inside a ResourceTemplate */
    assert_false(aml_ok(&a));

    aml_init(&a, buf, sizeof(buf));
    aml_buffer(&a);
    aml_rt_end(&a);                     /* a plain Buffer is not a template */
    assert_false(aml_ok(&a));

    aml_init(&a, buf, sizeof(buf));
    for (int i = 0; i <= AML_MAX_DEPTH; i++)
        aml_package(&a, 1);
    assert_false(aml_ok(&a));

    aml_init(&a, buf, sizeof(buf));
    aml_rt_begin(&a);
    aml_rt_word_io(&a, 0, 0xFFFF);      /* length 0x10000 does not fit a Word */
    assert_false(aml_ok(&a));

    aml_init(&a, buf, sizeof(buf));
    aml_method(&a, "FOO", 8, false);
    assert_false(aml_ok(&a));
}

/* Every prefix of a real output must fail cleanly and stay in bounds. */
static void test_aml_overflow(void **state)
{
    (void)state;
    uint8_t buf[128];
    for (size_t cap = 0; cap <= 40; cap++) {
        memset(buf, 0xEE, sizeof(buf));
        struct aml a;
        aml_init(&a, buf, cap);
        aml_scope(&a, "\\_SB");
        aml_device(&a, "COM1");
        aml_name(&a, "_CRS");
        aml_rt_begin(&a);
        aml_rt_io(&a, 0x3F8, 8);
        aml_rt_irq_noflags(&a, 1u << 4);
        aml_rt_end(&a);
        aml_end(&a);
        aml_end(&a);
        /* Scope: op, PkgLength, \_SB_ (7); Device: ops, PkgLength, COM1 (7);
         * Name _CRS (5); the template (17). */
        bool fits = cap >= 36;
        assert_int_equal(aml_ok(&a), fits);
        assert_true(a.len <= cap);
        for (size_t i = cap; i < sizeof(buf); i++)
            assert_int_equal(buf[i], 0xEE);
    }
}

/* ------------------------------------------------------------------------ */
/* Tables                                                                   */

struct tables {
    uint8_t *buf;
    size_t used;
    uint64_t gpa;
};

/* The table at gpa, checked to lie wholly inside the output. */
static const uint8_t *table_at(const struct tables *t, uint64_t gpa, size_t min_len)
{
    assert_true(gpa >= t->gpa);
    assert_true(gpa - t->gpa + min_len <= t->used);
    return t->buf + (gpa - t->gpa);
}

/* An SDT: header sane, length within the output, checksum zero. */
static const uint8_t *sdt_at(const struct tables *t, uint64_t gpa, const char *sig)
{
    const uint8_t *p = table_at(t, gpa, 36);
    assert_memory_equal(p, sig, 4);
    size_t len = (size_t)rd(p + 4, 4);
    assert_true(len >= 36);
    table_at(t, gpa, len);
    assert_int_equal(sum8(p, len), 0);
    assert_memory_equal(p + 10, "VIREO ", 6);
    return p;
}

static void check_dsdt(const uint8_t *d)
{
    size_t len = (size_t)rd(d + 4, 4);
    assert_int_equal(d[8], 2);

    /* The top level is Scope(\_SB) followed by Name(\_S5, ...): their
     * PkgLengths must tile the table exactly. */
    size_t off = 36;
    assert_int_equal(d[off], 0x10);
    size_t v;
    size_t n = pkglen_decode(d + off + 1, &v);
    assert_memory_equal(d + off + 1 + n, "\\_SB_", 5);
    off += 1 + v;
    assert_true(off < len);
    const uint8_t s5[] = { 0x08, '\\', '_', 'S', '5', '_', 0x12 };
    assert_memory_equal(d + off, s5, sizeof(s5));
    off += sizeof(s5);
    n = pkglen_decode(d + off, &v);
    assert_int_equal(d[off + n], 4);
    assert_int_equal(d[off + n + 1], 0x0A);
    assert_int_equal(d[off + n + 2], ACPI_S5_SLP_TYP);
    assert_int_equal(d[off + n + 3], 0x0A);
    assert_int_equal(d[off + n + 4], ACPI_S5_SLP_TYP);
    off += v;
    assert_int_equal(off, len);

    /* The devices Linux binds drivers to by id. */
    static const char *const ids[] = { "PNP0A08", "PNP0A03", "PNP0501", "PNP0C02" };
    for (size_t i = 0; i < 4; i++) {
        uint8_t op[5] = { 0x0C };
        uint32_t id = aml_eisaid(ids[i]);
        for (int k = 0; k < 4; k++)
            op[1 + k] = (uint8_t)(id >> (8 * k));
        assert_non_null(memmem(d, len, op, sizeof(op)));
    }
    assert_non_null(memmem(d, len, "PCI0", 4));
    assert_non_null(memmem(d, len, "COM1", 4));
    assert_non_null(memmem(d, len, "MRES", 4));
}

static void check_fadt(const struct tables *t, const uint8_t *f)
{
    assert_int_equal(rd(f + 4, 4), 276);
    assert_int_equal(f[8], 6);

    uint64_t facs = rd(f + 132, 8);
    uint64_t dsdt = rd(f + 140, 8);
    /* FIRMWARE_CTRL is always 0: the FACS is only in X_FIRMWARE_CTRL. */
    assert_int_equal(rd(f + 36, 4), 0);
    assert_int_not_equal(facs, 0);
    if (t->gpa + t->used <= UINT32_MAX) {
        assert_int_equal(rd(f + 40, 4), dsdt);
    } else {
        assert_int_equal(rd(f + 40, 4), 0);
    }

    const uint8_t *fc = table_at(t, facs, 64);
    assert_memory_equal(fc, "FACS", 4);
    assert_int_equal(rd(fc + 4, 4), 64);
    assert_int_equal(facs % 64, 0);
    check_dsdt(sdt_at(t, dsdt, "DSDT"));

    assert_int_equal(rd(f + 46, 2), IRQ_ACPI_SCI);
    assert_int_equal(rd(f + 48, 4), 0);                 /* SMI_CMD */
    assert_int_equal(rd(f + 56, 4), PORT_ACPI_PM1A_EVT);
    assert_int_equal(rd(f + 64, 4), PORT_ACPI_PM1A_CNT);
    assert_int_equal(rd(f + 76, 4), 0);                 /* PM timer */
    assert_int_equal(rd(f + 80, 4), 0);                 /* GPE0 */
    assert_int_equal(f[88], 4);
    assert_int_equal(f[89], 2);
    assert_int_equal(f[91], 0);
    assert_int_equal(f[92], 0);
    assert_int_equal(f[108], 0x32);                     /* CENTURY */
    assert_int_equal(rd(f + 109, 2), 1u << 2);          /* VGA not present, no 8042 */

    uint32_t flags = (uint32_t)rd(f + 112, 4);
    assert_true(flags & (1u << 0));                     /* WBINVD */
    assert_true(flags & (1u << 2));                     /* PROC_C1 */
    assert_false(flags & (1u << 4));                    /* fixed power button */
    assert_true(flags & (1u << 5));                     /* no sleep button */
    assert_true(flags & (1u << 10));                    /* RESET_REG_SUP */
    assert_false(flags & (1u << 20));                   /* not hardware-reduced */

    const uint8_t reset[] = { 1, 8, 0, 1 };
    assert_memory_equal(f + 116, reset, 4);
    assert_int_equal(rd(f + 120, 8), PORT_RESET_CONTROL);
    assert_int_equal(f[128], RESET_CONTROL_VALUE);

    assert_int_equal(f[148], 1);
    assert_int_equal(f[149], 32);
    assert_int_equal(rd(f + 152, 8), PORT_ACPI_PM1A_EVT);
    assert_int_equal(f[172], 1);
    assert_int_equal(f[173], 16);
    assert_int_equal(rd(f + 176, 8), PORT_ACPI_PM1A_CNT);
}

static void check_madt(const uint8_t *m, uint32_t ncpus)
{
    size_t len = (size_t)rd(m + 4, 4);
    assert_int_equal(rd(m + 36, 4), LAYOUT_LAPIC_ADDR);
    assert_int_equal(rd(m + 40, 4), 1);

    uint32_t lapics = 0, ioapics = 0, isos = 0, nmis = 0;
    size_t off = 44;
    while (off < len) {
        const uint8_t *e = m + off;
        assert_true(off + 2 <= len);
        assert_true(e[1] >= 2 && off + e[1] <= len);
        switch (e[0]) {
        case 0:
            assert_int_equal(e[1], 8);
            assert_int_equal(e[2], lapics);
            assert_int_equal(e[3], lapics);
            assert_int_equal(rd(e + 4, 4), 1);
            lapics++;
            break;
        case 1:
            assert_int_equal(e[1], 12);
            assert_int_equal(e[2], ncpus);
            assert_int_equal(rd(e + 4, 4), LAYOUT_IOAPIC_ADDR);
            assert_int_equal(rd(e + 8, 4), 0);
            ioapics++;
            break;
        case 2:
            assert_int_equal(e[1], 10);
            assert_int_equal(e[2], 0);
            assert_int_equal(e[3], IRQ_ACPI_SCI);   /* nothing for IRQ 0 */
            assert_int_equal(rd(e + 4, 4), IRQ_ACPI_SCI);
            assert_int_equal(rd(e + 8, 2), 0x000D);
            isos++;
            break;
        case 4:
            assert_int_equal(e[1], 6);
            assert_int_equal(e[2], 0xFF);
            assert_int_equal(e[5], 1);
            nmis++;
            break;
        default:
            fail_msg("unexpected MADT entry type %u", e[0]);
        }
        off += e[1];
    }
    assert_int_equal(off, len);
    assert_int_equal(lapics, ncpus);
    assert_int_equal(ioapics, 1);
    assert_int_equal(isos, 1);
    assert_int_equal(nmis, 1);
}

static void check_mcfg(const uint8_t *m)
{
    assert_int_equal(rd(m + 4, 4), 60);
    assert_int_equal(rd(m + 44, 8), LAYOUT_ECAM_BASE);
    assert_int_equal(rd(m + 52, 2), 0);
    assert_int_equal(m[54], 0);
    assert_int_equal(m[55], LAYOUT_ECAM_BUSES - 1);
}

static void check_all(const struct tables *t, uint32_t ncpus)
{
    const uint8_t *r = table_at(t, t->gpa, 36);
    assert_memory_equal(r, "RSD PTR ", 8);
    assert_int_equal(sum8(r, 20), 0);
    assert_int_equal(sum8(r, 36), 0);
    assert_int_equal(r[15], 2);
    assert_int_equal(rd(r + 20, 4), 36);
    assert_memory_equal(r + 9, "VIREO ", 6);

    const uint8_t *x = sdt_at(t, rd(r + 24, 8), "XSDT");
    size_t n = ((size_t)rd(x + 4, 4) - 36) / 8;
    assert_int_equal(rd(x + 4, 4), 36 + 8 * n);
    assert_int_equal(n, 3);
    int seen_fadt = 0, seen_madt = 0, seen_mcfg = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t gpa = rd(x + 36 + 8 * i, 8);
        const uint8_t *p = table_at(t, gpa, 36);
        if (memcmp(p, "FACP", 4) == 0) {
            check_fadt(t, sdt_at(t, gpa, "FACP"));
            seen_fadt++;
        } else if (memcmp(p, "APIC", 4) == 0) {
            check_madt(sdt_at(t, gpa, "APIC"), ncpus);
            seen_madt++;
        } else if (memcmp(p, "MCFG", 4) == 0) {
            check_mcfg(sdt_at(t, gpa, "MCFG"));
            seen_mcfg++;
        } else {
            fail_msg("unexpected table %.4s in the XSDT", (const char *)p);
        }
    }
    assert_int_equal(seen_fadt, 1);
    assert_int_equal(seen_madt, 1);
    assert_int_equal(seen_mcfg, 1);
}

static void build_and_check(uint32_t ncpus, uint64_t gpa)
{
    struct acpi_config cfg = { .ncpus = ncpus };
    size_t cap = LAYOUT_ACPI_SIZE;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    memset(buf, 0xA5, cap);

    size_t used = acpi_build(&cfg, buf, cap, gpa);
    assert_true(used > 0 && used <= cap);
    for (size_t i = used; i < cap; i++)
        assert_int_equal(buf[i], 0xA5);

    struct tables t = { .buf = buf, .used = used, .gpa = gpa };
    check_all(&t, ncpus);

    /* Same input, same bytes: the guest sees identical tables every boot. */
    uint8_t *again = malloc(used);
    assert_non_null(again);
    assert_int_equal(acpi_build(&cfg, again, used, gpa), used);
    assert_memory_equal(again, buf, used);

    /* Each shorter buffer, sized exactly so that ASan catches a stray
     * write, must be refused. */
    for (size_t len = 0; len < used; len++) {
        uint8_t *small = malloc(len ? len : 1);
        assert_non_null(small);
        assert_int_equal(acpi_build(&cfg, small, len, gpa), 0);
        free(small);
    }
    free(again);
    free(buf);
}

static void test_tables_1cpu(void **state)
{
    (void)state;
    build_and_check(1, LAYOUT_ACPI_START);
}

static void test_tables_2cpu(void **state)
{
    (void)state;
    build_and_check(2, LAYOUT_ACPI_START);
}

static void test_tables_64cpu(void **state)
{
    (void)state;
    build_and_check(64, LAYOUT_ACPI_START);
    build_and_check(MAX_VCPUS, LAYOUT_ACPI_START);
}

/* The FACS alignment is computed from the guest address, not the offset. */
static void test_tables_other_gpa(void **state)
{
    (void)state;
    build_and_check(2, LAYOUT_ACPI_START + 0x10);
    build_and_check(3, LAYOUT_ACPI_START + 0x30);
    build_and_check(2, 0x100000000ULL + 0x20);  /* above 4 GiB: X_ fields only */
}

static void test_tables_bad_config(void **state)
{
    (void)state;
    uint8_t buf[4096];
    struct acpi_config cfg = { .ncpus = 0 };
    assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), LAYOUT_ACPI_START), 0);
    cfg.ncpus = MAX_VCPUS + 1;
    assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), LAYOUT_ACPI_START), 0);
    cfg.ncpus = 1;
    /* The legacy RSDP scan only finds 16-byte aligned structures. */
    assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), LAYOUT_ACPI_START + 8), 0);
    assert_true(acpi_build(&cfg, buf, sizeof(buf), LAYOUT_ACPI_START) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pkglen_boundaries),
        cmocka_unit_test(test_pkglen_roundtrip),
        cmocka_unit_test(test_eisaid),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_namestrings),
        cmocka_unit_test(test_name_package),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_buffer_sizes),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_aml_overflow),
        cmocka_unit_test(test_tables_1cpu),
        cmocka_unit_test(test_tables_2cpu),
        cmocka_unit_test(test_tables_64cpu),
        cmocka_unit_test(test_tables_other_gpa),
        cmocka_unit_test(test_tables_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
