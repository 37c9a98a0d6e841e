/* AML encoder; see aml.h.  Opcode values are from ACPI 6.x section 20.3, the
 * resource descriptors from section 6.4. */
#include "acpi/aml.h"

#include <string.h>

enum {
    OP_ZERO = 0x00,
    OP_ONE = 0x01,
    OP_NAME = 0x08,
    OP_BYTE_PREFIX = 0x0A,
    OP_WORD_PREFIX = 0x0B,
    OP_DWORD_PREFIX = 0x0C,
    OP_STRING_PREFIX = 0x0D,
    OP_QWORD_PREFIX = 0x0E,
    OP_SCOPE = 0x10,
    OP_BUFFER = 0x11,
    OP_PACKAGE = 0x12,
    OP_METHOD = 0x14,
    OP_DUAL_NAME_PREFIX = 0x2E,
    OP_MULTI_NAME_PREFIX = 0x2F,
    OP_EXT_PREFIX = 0x5B,
    OP_EXT_DEVICE = 0x82,
    OP_ROOT_CHAR = 0x5C,
    OP_PARENT_PREFIX = 0x5E,
    OP_RETURN = 0xA4,
};

enum { KIND_SCOPE, KIND_DEVICE, KIND_METHOD, KIND_PACKAGE, KIND_BUFFER, KIND_RT };

/* Small resource items: byte 0 is (name << 3) | length. */
#define RES_SMALL(name, len) ((uint8_t)(((name) << 3) | (len)))
#define RES_IRQ_NAME      0x04
#define RES_IO_NAME       0x08
#define RES_END_NAME      0x0F
/* Large resource items: byte 0 is 0x80 | name, then a 16-bit length. */
#define RES_MEM32_FIXED   0x86
#define RES_DWORD_ADDR    0x87
#define RES_WORD_ADDR     0x88
#define RES_QWORD_ADDR    0x8A

#define ADDR_TYPE_MEM     0
#define ADDR_TYPE_IO      1
#define ADDR_TYPE_BUS     2
/* General flags of a window a host bridge hands out: ResourceProducer (bit 0
 * clear), PosDecode, MinFixed (bit 2), MaxFixed (bit 3). */
#define ADDR_GFLAGS_BRIDGE 0x0C
#define IO_RANGE_ENTIRE   0x03
#define MEM_RW            0x01
#define MEM_CACHEABLE     0x02

#define NAMESEG_LEN 4

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
    memset(a, 0, sizeof(*a));
    a->buf = buf;
    a->cap = cap;
}

bool aml_ok(const struct aml *a)
{
    return !a->error && a->depth == 0;
}

size_t aml_pkglen_encode(uint8_t out[4], size_t content_len)
{
    /* Largest value each form can hold: 6 bits, then 4 + 8 * (n - 1). */
    static const size_t max_total[4] = { 0x3F, 0xFFF, 0xFFFFF, 0xFFFFFFF };

    for (size_t n = 1; n <= 4; n++) {
        if (content_len > max_total[n - 1] - n)
            continue;
        size_t total = content_len + n;
        if (n == 1) {
            out[0] = (uint8_t)total;
            return 1;
        }
        out[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0F));
        for (size_t i = 1; i < n; i++)
            out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
        return n;
    }
    return 0;
}

static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_hex_upper(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }
static unsigned hex_val(char c) { return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'A' + 10); }

uint32_t aml_eisaid(const char *id)
{
    if (strlen(id) != 7)
        return 0;
    for (int i = 0; i < 3; i++)
        if (!is_upper(id[i]))
            return 0;
    for (int i = 3; i < 7; i++)
        if (!is_hex_upper(id[i]))
            return 0;

    /* Three 5-bit letters ('A' == 1) and a 16-bit product number, stored
     * big-endian: the DWord that AML sees is the byte-swapped value. */
    uint32_t vendor = ((uint32_t)(id[0] - '@') << 10) | ((uint32_t)(id[1] - '@') << 5) |
                      (uint32_t)(id[2] - '@');
    uint32_t product = 0;
    for (int i = 3; i < 7; i++)
        product = (product << 4) | hex_val(id[i]);
    uint32_t be = (vendor << 16) | product;
    return __builtin_bswap32(be);
}

static void fail(struct aml *a)
{
    a->error = true;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
    if (a->error)
        return;
    if (n > a->cap - a->len) {
        fail(a);
        return;
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
}

static void put8(struct aml *a, uint8_t v)
{
    aml_bytes(a, &v, 1);
}

static void put_le(struct aml *a, uint64_t v, size_t n)
{
    uint8_t b[8];
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    aml_bytes(a, b, n);
}

static void insert(struct aml *a, size_t pos, const uint8_t *p, size_t n)
{
    if (a->error)
        return;
    if (n > a->cap - a->len) {
        fail(a);
        return;
    }
    memmove(a->buf + pos + n, a->buf + pos, a->len - pos);
    memcpy(a->buf + pos, p, n);
    a->len += n;
}

static size_t encode_integer(uint8_t out[9], uint64_t v)
{
    size_t n;
    if (v == 0) {
        out[0] = OP_ZERO;
        return 1;
    }
    if (v == 1) {
        out[0] = OP_ONE;
        return 1;
    }
    if (v <= UINT8_MAX) {
        out[0] = OP_BYTE_PREFIX;
        n = 1;
    } else if (v <= UINT16_MAX) {
        out[0] = OP_WORD_PREFIX;
        n = 2;
    } else if (v <= UINT32_MAX) {
        out[0] = OP_DWORD_PREFIX;
        n = 4;
    } else {
        out[0] = OP_QWORD_PREFIX;
        n = 8;
    }
    for (size_t i = 0; i < n; i++)
        out[1 + i] = (uint8_t)(v >> (8 * i));
    return 1 + n;
}

void aml_integer(struct aml *a, uint64_t v)
{
    uint8_t b[9];
    aml_bytes(a, b, encode_integer(b, v));
}

void aml_dword(struct aml *a, uint32_t v)
{
    put8(a, OP_DWORD_PREFIX);
    put_le(a, v, 4);
}

void aml_eisaid_obj(struct aml *a, const char *id)
{
    uint32_t v = aml_eisaid(id);
    if (v == 0) {
        fail(a);
        return;
    }
    /* Always a DWord so that disassemblers recognise it as an EisaId. */
    aml_dword(a, v);
}

void aml_string(struct aml *a, const char *s)
{
    for (const char *c = s; *c; c++) {
        if ((unsigned char)*c > 0x7F) {
            fail(a);
            return;
        }
    }
    put8(a, OP_STRING_PREFIX);
    aml_bytes(a, s, strlen(s) + 1);
}

static bool valid_seg(const char *s, size_t n)
{
    if (n == 0 || n > NAMESEG_LEN)
        return false;
    if (!is_upper(s[0]) && s[0] != '_')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_upper(s[i]) && s[i] != '_' && !(s[i] >= '0' && s[i] <= '9'))
            return false;
    return true;
}

void aml_namestring(struct aml *a, const char *path)
{
    const char *p = path;
    if (*p == '\\') {
        put8(a, OP_ROOT_CHAR);
        p++;
    } else {
        while (*p == '^') {
            put8(a, OP_PARENT_PREFIX);
            p++;
        }
    }

    size_t nsegs = 0;
    for (const char *q = p; *q; q++)
        if (*q == '.')
            nsegs++;
    nsegs = *p ? nsegs + 1 : 0;

    if (nsegs == 0) {
        put8(a, OP_ZERO);      /* NullName */
        return;
    }
    if (nsegs > 255) {
        fail(a);
        return;
    }
    if (nsegs == 2) {
        put8(a, OP_DUAL_NAME_PREFIX);
    } else if (nsegs > 2) {
        put8(a, OP_MULTI_NAME_PREFIX);
        put8(a, (uint8_t)nsegs);
    }
    while (*p) {
        size_t n = strcspn(p, ".");
        if (!valid_seg(p, n)) {
            fail(a);
            return;
        }
        char seg[NAMESEG_LEN] = { '_', '_', '_', '_' };
        memcpy(seg, p, n);
        aml_bytes(a, seg, NAMESEG_LEN);
        p += n;
        if (*p == '.') {
            p++;
            if (!*p) {
                fail(a);
                return;
            }
        }
    }
}

void aml_name(struct aml *a, const char *path)
{
    put8(a, OP_NAME);
    aml_namestring(a, path);
}

static void open_block(struct aml *a, uint8_t kind)
{
    if (a->error)
        return;
    if (a->depth == AML_MAX_DEPTH) {
        fail(a);
        return;
    }
    a->open[a->depth].start = a->len;
    a->open[a->depth].kind = kind;
    a->depth++;
}

void aml_scope(struct aml *a, const char *path)
{
    put8(a, OP_SCOPE);
    open_block(a, KIND_SCOPE);
    aml_namestring(a, path);
}

void aml_device(struct aml *a, const char *path)
{
    put8(a, OP_EXT_PREFIX);
    put8(a, OP_EXT_DEVICE);
    open_block(a, KIND_DEVICE);
    aml_namestring(a, path);
}

void aml_method(struct aml *a, const char *path, unsigned nargs, bool serialized)
{
    if (nargs > 7) {
        fail(a);
        return;
    }
    put8(a, OP_METHOD);
    open_block(a, KIND_METHOD);
    aml_namestring(a, path);
    /* MethodFlags: ArgCount in bits 0-2, SerializeFlag in bit 3, SyncLevel 0. */
    put8(a, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
}

void aml_package(struct aml *a, uint8_t nelems)
{
    put8(a, OP_PACKAGE);
    open_block(a, KIND_PACKAGE);
    put8(a, nelems);
}

void aml_buffer(struct aml *a)
{
    put8(a, OP_BUFFER);
    open_block(a, KIND_BUFFER);
}

void aml_end(struct aml *a)
{
    if (a->error)
        return;
    if (a->depth == 0) {
        fail(a);
        return;
    }
    a->depth--;
    size_t start = a->open[a->depth].start;
    uint8_t kind = a->open[a->depth].kind;

    /* The PkgLength, and for a buffer its BufferSize operand, both sit in
     * front of bytes that had to be written before their size was known. */
    uint8_t hdr[4 + 9];
    size_t hlen = 0;
    uint8_t size_op[9];
    size_t size_len = 0;
    if (kind == KIND_BUFFER || kind == KIND_RT)
        size_len = encode_integer(size_op, a->len - start);
    hlen = aml_pkglen_encode(hdr, a->len - start + size_len);
    if (hlen == 0) {
        fail(a);
        return;
    }
    memcpy(hdr + hlen, size_op, size_len);
    insert(a, start, hdr, hlen + size_len);
}

void aml_return(struct aml *a)
{
    put8(a, OP_RETURN);
}

void aml_rt_begin(struct aml *a)
{
    put8(a, OP_BUFFER);
    open_block(a, KIND_RT);
}

static bool in_rt(struct aml *a)
{
    if (a->error)
        return false;
    if (a->depth == 0 || a->open[a->depth - 1].kind != KIND_RT) {
        fail(a);
        return false;
    }
    return true;
}

void aml_rt_end(struct aml *a)
{
    if (!in_rt(a))
        return;
    /* End Tag; a zero checksum tells the OS not to verify one. */
    put8(a, RES_SMALL(RES_END_NAME, 1));
    put8(a, 0);
    aml_end(a);
}

void aml_rt_io(struct aml *a, uint16_t base, uint8_t len)
{
    if (!in_rt(a))
        return;
    put8(a, RES_SMALL(RES_IO_NAME, 7));
    put8(a, 0x01);              /* decodes all 16 address bits */
    put_le(a, base, 2);
    put_le(a, base, 2);
    put8(a, 1);                 /* alignment */
    put8(a, len);
}

void aml_rt_irq_noflags(struct aml *a, uint16_t mask)
{
    if (!in_rt(a))
        return;
    /* The two-byte form: edge-triggered, active-high, exclusive (ISA). */
    put8(a, RES_SMALL(RES_IRQ_NAME, 2));
    put_le(a, mask, 2);
}

void aml_rt_mem32_fixed(struct aml *a, bool rw, uint32_t base, uint32_t len)
{
    if (!in_rt(a))
        return;
    put8(a, RES_MEM32_FIXED);
    put_le(a, 9, 2);
    put8(a, rw ? MEM_RW : 0);
    put_le(a, base, 4);
    put_le(a, len, 4);
}

/* The Word/DWord/QWord address descriptors share one layout that differs
 * only in the width of the five numeric fields. */
static void addr_desc(struct aml *a, uint8_t tag, unsigned width, uint8_t type,
                      uint8_t type_flags, uint64_t min, uint64_t len)
{
    if (!in_rt(a))
        return;
    if (len == 0 || (width < 8 && (len >> (8 * width)) != 0)) {
        fail(a);
        return;
    }
    put8(a, tag);
    put_le(a, 3 + 5 * width, 2);
    put8(a, type);
    put8(a, ADDR_GFLAGS_BRIDGE);
    put8(a, type_flags);
    put_le(a, 0, width);                /* granularity */
    put_le(a, min, width);
    put_le(a, min + len - 1, width);
    put_le(a, 0, width);                /* translation offset */
    put_le(a, len, width);
}

void aml_rt_word_bus(struct aml *a, uint16_t min, uint16_t max)
{
    if (max < min) {
        fail(a);
        return;
    }
    addr_desc(a, RES_WORD_ADDR, 2, ADDR_TYPE_BUS, 0, min, (uint64_t)max - min + 1);
}

void aml_rt_word_io(struct aml *a, uint16_t min, uint16_t max)
{
    if (max < min) {
        fail(a);
        return;
    }
    addr_desc(a, RES_WORD_ADDR, 2, ADDR_TYPE_IO, IO_RANGE_ENTIRE, min,
              (uint64_t)max - min + 1);
}

void aml_rt_dword_mem(struct aml *a, bool cacheable, uint32_t base, uint32_t len)
{
    if ((uint64_t)base + len - 1 > UINT32_MAX) {
        fail(a);
        return;
    }
    addr_desc(a, RES_DWORD_ADDR, 4, ADDR_TYPE_MEM,
              MEM_RW | (cacheable ? MEM_CACHEABLE : 0), base, len);
}

void aml_rt_qword_mem(struct aml *a, bool cacheable, uint64_t base, uint64_t len)
{
    if (len != 0 && base + (len - 1) < base) {
        fail(a);
        return;
    }
    addr_desc(a, RES_QWORD_ADDR, 8, ADDR_TYPE_MEM,
              MEM_RW | (cacheable ? MEM_CACHEABLE : 0), base, len);
}
