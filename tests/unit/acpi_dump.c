/* acpi_dump OUTDIR NCPUS: builds the ACPI tables as the VMM would and writes
 * each one to OUTDIR/<signature>.dat for an external disassembler.  The
 * tables are found by following the pointers from the RSDP, as a guest does,
 * so a wrong pointer shows up as a missing or garbled file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acpi/acpi.h"
#include "x86/e820.h"
#include "x86/layout.h"

static uint8_t tables[LAYOUT_ACPI_SIZE];
static size_t used;

static uint64_t rd(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* The table at guest address gpa, checked to lie within what acpi_build
 * produced; exits on a bad pointer. */
static const uint8_t *at(uint64_t gpa, size_t len)
{
    if (gpa < LAYOUT_ACPI_START || gpa - LAYOUT_ACPI_START > used ||
        len > used - (gpa - LAYOUT_ACPI_START)) {
        fprintf(stderr, "acpi_dump: pointer 0x%llx+%zu outside the tables\n",
                (unsigned long long)gpa, len);
        exit(1);
    }
    return tables + (gpa - LAYOUT_ACPI_START);
}

static const uint8_t *sdt_at(uint64_t gpa)
{
    return at(gpa, (size_t)rd(at(gpa, 36) + 4, 4));
}

static void save(const char *dir, const char *name, const uint8_t *p, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "acpi_dump: %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static void save_sdt(const char *dir, const uint8_t *p)
{
    char name[5];
    for (int i = 0; i < 4; i++)
        name[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] - 'A' + 'a' : p[i]);
    name[4] = '\0';
    save(dir, name, p, (size_t)rd(p + 4, 4));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s OUTDIR NCPUS\n", argv[0]);
        return 2;
    }
    char *end;
    unsigned long n = strtoul(argv[2], &end, 10);
    if (*end || n == 0 || n > UINT32_MAX) {
        fprintf(stderr, "acpi_dump: bad NCPUS '%s'\n", argv[2]);
        return 2;
    }
    /* A 256 MiB VM: the 64-bit window starts at 4 GiB. */
    struct ram_layout ram = ram_layout_for(256 * MiB);
    struct acpi_config cfg = { .ncpus = (uint32_t)n, .mmio64_base = layout_pci_mmio64_base(&ram) };
    used = acpi_build(&cfg, tables, sizeof(tables), LAYOUT_ACPI_START);
    if (used == 0) {
        fprintf(stderr, "acpi_dump: acpi_build failed\n");
        return 1;
    }

    const uint8_t *rsdp = at(LAYOUT_ACPI_START, 36);
    save(argv[1], "rsdp", rsdp, 36);
    const uint8_t *xsdt = sdt_at(rd(rsdp + 24, 8));
    save_sdt(argv[1], xsdt);
    size_t nent = ((size_t)rd(xsdt + 4, 4) - 36) / 8;
    for (size_t i = 0; i < nent; i++) {
        const uint8_t *t = sdt_at(rd(xsdt + 36 + 8 * i, 8));
        save_sdt(argv[1], t);
        if (memcmp(t, "FACP", 4) == 0) {
            save_sdt(argv[1], sdt_at(rd(t + 140, 8)));     /* X_DSDT */
            save_sdt(argv[1], sdt_at(rd(t + 132, 8)));     /* X_FIRMWARE_CTRL */
        }
    }
    return 0;
}
