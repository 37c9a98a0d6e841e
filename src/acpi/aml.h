/* A small AML byte-code builder: just enough of the ACPI Machine Language to
 * describe a Vireo VM's DSDT (ACPI 6.x, section 20 "ACPI Machine Language
 * Specification" and section 6.4 "Resource Data Types for ACPI").
 *
 * The builder writes into a caller-owned buffer and never allocates.  Errors
 * (running out of space, a malformed name, unbalanced blocks) are sticky: the
 * calls after one become no-ops and aml_ok() reports false, so a caller can
 * emit a whole table and check once at the end. */
#ifndef VIREO_ACPI_AML_H
#define VIREO_ACPI_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deep enough for Scope { Device { Name(_CRS, Buffer) } } with room to spare. */
#define AML_MAX_DEPTH 8

struct aml {
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool error;
    unsigned depth;
    struct {
        size_t start;       /* where the PkgLength goes once the size is known */
        uint8_t kind;
    } open[AML_MAX_DEPTH];
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);
/* True when nothing failed and every opened block has been closed. */
bool aml_ok(const struct aml *a);

/* Stores in out the PkgLength (20.2.4) that announces content_len payload
 * bytes and returns its size, 1..4, or 0 when content_len is too large.
 * PkgLength counts its own bytes too, which is why the size of the encoding
 * depends on the payload in a slightly shifted way (62 payload bytes still fit
 * the one-byte form, 63 do not). */
size_t aml_pkglen_encode(uint8_t out[4], size_t content_len);

/* The 32-bit compressed form of a PNP id such as "PNP0A03", as ASL's
 * EisaId() produces it; 0 for a malformed id. */
uint32_t aml_eisaid(const char *id);

/* Raw bytes, for tests and anything this builder does not model. */
void aml_bytes(struct aml *a, const void *p, size_t n);

/* Data objects. */
void aml_integer(struct aml *a, uint64_t v);   /* shortest encoding */
void aml_dword(struct aml *a, uint32_t v);     /* always DWordConst */
void aml_eisaid_obj(struct aml *a, const char *id);
void aml_string(struct aml *a, const char *s);

/* A NameString: "\\_SB.PCI0", "^FOO", "_HID"; segments shorter than four
 * characters are padded with '_'. */
void aml_namestring(struct aml *a, const char *path);

/* Name(path, <object>): the caller appends exactly one data object. */
void aml_name(struct aml *a, const char *path);

/* Blocks: each opener must be matched by aml_end(). */
void aml_scope(struct aml *a, const char *path);
void aml_device(struct aml *a, const char *path);
void aml_method(struct aml *a, const char *path, unsigned nargs, bool serialized);
void aml_package(struct aml *a, uint8_t nelems);
void aml_buffer(struct aml *a);
void aml_end(struct aml *a);

/* Return(<object>): the caller appends the value. */
void aml_return(struct aml *a);

/* ResourceTemplate() is a Buffer of resource descriptors closed by an End
 * Tag; aml_rt_end writes the End Tag and closes the Buffer. */
void aml_rt_begin(struct aml *a);
void aml_rt_end(struct aml *a);
/* IO(Decode16, base, base, 1, len) */
void aml_rt_io(struct aml *a, uint16_t base, uint8_t len);
/* IRQNoFlags() {irqs in mask} */
void aml_rt_irq_noflags(struct aml *a, uint16_t mask);
/* Memory32Fixed(ReadWrite or ReadOnly, base, len) */
void aml_rt_mem32_fixed(struct aml *a, bool rw, uint32_t base, uint32_t len);
/* Address-space descriptors as a bridge produces them: ResourceProducer,
 * MinFixed, MaxFixed, PosDecode, granularity 0, no translation. */
void aml_rt_word_bus(struct aml *a, uint16_t min, uint16_t max);
void aml_rt_word_io(struct aml *a, uint16_t min, uint16_t max);
void aml_rt_dword_mem(struct aml *a, bool cacheable, uint32_t base, uint32_t len);
void aml_rt_qword_mem(struct aml *a, bool cacheable, uint64_t base, uint64_t len);

#endif
