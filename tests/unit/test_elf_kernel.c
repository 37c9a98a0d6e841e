/* The ELF vmlinux parser: segments, the PVH note, and the refusals of a
 * file that is user input. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_elf.h"
#include "x86/elf_kernel.h"

static uint8_t img[FAKE_ELF_LEN];
static char err[256];

static void put32(size_t off, uint32_t v) { memcpy(img + off, &v, 4); }
static void put64(size_t off, uint64_t v) { memcpy(img + off, &v, 8); }

static int parse(uint64_t len, struct elf_kernel *k)
{
    err[0] = 0;
    return elf_kernel_parse(img, len, k, err, sizeof(err));
}

static void refused(uint64_t len, const char *words)
{
    struct elf_kernel k;
    assert_int_equal(parse(len, &k), -1);
    if (!strstr(err, words))
        fail_msg("expected \"%s\" in \"%s\"", words, err);
}

static void good_kernel(void **state)
{
    (void)state;
    fake_elf(img);
    struct elf_kernel k;
    assert_int_equal(parse(FAKE_ELF_LEN, &k), 0);
    assert_int_equal(k.nseg, 2);
    assert_int_equal(k.seg[0].paddr, FAKE_ELF_SEG0_PA);
    assert_int_equal(k.seg[1].paddr, FAKE_ELF_SEG1_PA);
    assert_int_equal(k.seg[1].filesz, 0x1000);
    assert_int_equal(k.seg[1].memsz, FAKE_ELF_SEG1_MEM);
    assert_int_equal(k.start, FAKE_ELF_SEG0_PA);
    assert_int_equal(k.end, FAKE_ELF_SEG1_PA + FAKE_ELF_SEG1_MEM);
    assert_true(k.has_pvh);
    assert_int_equal(k.pvh_entry, FAKE_ELF_ENTRY);
}

static void four_byte_note_and_other_notes(void **state)
{
    (void)state;
    fake_elf(img);
    /* A GNU build-id note first, then Xen's entry as 4 bytes. */
    uint8_t *n = img + FAKE_ELF_NOTE_OFF;
    uint32_t gnu[3] = {4, 8, 3};
    memcpy(n, gnu, 12);
    memcpy(n + 12, "GNU", 4);
    memset(n + 16, 0xAB, 8);
    uint32_t xen[3] = {4, 4, 18};
    memcpy(n + 24, xen, 12);
    memcpy(n + 36, "Xen", 4);
    put32(FAKE_ELF_NOTE_OFF + 40, (uint32_t)FAKE_ELF_ENTRY + 0x10);
    put64(fake_elf_phdr(1) + offsetof(Elf64_Phdr, p_filesz), 44);
    struct elf_kernel k;
    assert_int_equal(parse(FAKE_ELF_LEN, &k), 0);
    assert_true(k.has_pvh);
    assert_int_equal(k.pvh_entry, FAKE_ELF_ENTRY + 0x10);
}

static void no_note_parses_without_pvh(void **state)
{
    (void)state;
    fake_elf(img);
    put32(fake_elf_phdr(1), PT_NULL);
    struct elf_kernel k;
    assert_int_equal(parse(FAKE_ELF_LEN, &k), 0);
    assert_false(k.has_pvh);
    /* Same name, another type: not the entry either. */
    fake_elf(img);
    put32(FAKE_ELF_NOTE_OFF + 8, 17);
    assert_int_equal(parse(FAKE_ELF_LEN, &k), 0);
    assert_false(k.has_pvh);
}

static void refuses_bad_headers(void **state)
{
    (void)state;
    fake_elf(img);
    refused(40, "not an ELF file");
    img[EI_CLASS] = ELFCLASS32;
    refused(FAKE_ELF_LEN, "not 64-bit");
    fake_elf(img);
    img[18] = 3; /* EM_386 */
    refused(FAKE_ELF_LEN, "not x86-64");
    fake_elf(img);
    img[16] = ET_DYN;
    refused(FAKE_ELF_LEN, "not an executable");
    fake_elf(img);
    img[offsetof(Elf64_Ehdr, e_phentsize)] = 32;
    refused(FAKE_ELF_LEN, "program header size");
    fake_elf(img);
    memset(img + offsetof(Elf64_Ehdr, e_phnum), 0, 2);
    refused(FAKE_ELF_LEN, "program headers, expected 1 to");
    fake_elf(img);
    put64(offsetof(Elf64_Ehdr, e_phoff), FAKE_ELF_LEN - 100);
    refused(FAKE_ELF_LEN, "program headers at");
    fake_elf(img);
    put64(offsetof(Elf64_Ehdr, e_phoff), UINT64_MAX - 8);
    refused(FAKE_ELF_LEN, "program headers at");
}

static void refuses_bad_segments(void **state)
{
    (void)state;
    fake_elf(img);
    refused(FAKE_ELF_LEN - 1, "truncated ELF kernel: segment 2");
    fake_elf(img);
    put64(fake_elf_phdr(0) + offsetof(Elf64_Phdr, p_offset), UINT64_MAX - 0x10);
    refused(FAKE_ELF_LEN, "truncated ELF kernel: segment 0");
    fake_elf(img);
    put64(fake_elf_phdr(2) + offsetof(Elf64_Phdr, p_memsz), 0x10);
    refused(FAKE_ELF_LEN, "more file bytes");
    fake_elf(img);
    put64(fake_elf_phdr(0) + offsetof(Elf64_Phdr, p_paddr), 0x9F000);
    refused(FAKE_ELF_LEN, "outside [1 MiB, 4 GiB)");
    fake_elf(img);
    put64(fake_elf_phdr(2) + offsetof(Elf64_Phdr, p_paddr), 0xFFFFF000ULL);
    refused(FAKE_ELF_LEN, "outside [1 MiB, 4 GiB)");
    fake_elf(img);
    put64(fake_elf_phdr(2) + offsetof(Elf64_Phdr, p_paddr), UINT64_MAX - 0x100);
    refused(FAKE_ELF_LEN, "outside [1 MiB, 4 GiB)");
    fake_elf(img);
    put64(fake_elf_phdr(2) + offsetof(Elf64_Phdr, p_paddr), FAKE_ELF_SEG0_PA + 0x800);
    refused(FAKE_ELF_LEN, "overlaps");
    fake_elf(img);
    put32(fake_elf_phdr(0), PT_NULL);
    put32(fake_elf_phdr(2), PT_NULL);
    refused(FAKE_ELF_LEN, "no PT_LOAD");
}

static void refuses_bad_notes(void **state)
{
    (void)state;
    fake_elf(img);
    put32(FAKE_ELF_NOTE_OFF + 4, 6);
    refused(FAKE_ELF_LEN, "has 6 bytes, expected 4 or 8");
    fake_elf(img);
    put32(FAKE_ELF_NOTE_OFF + 4, 0xFFFFFFF0u);
    refused(FAKE_ELF_LEN, "runs past its PT_NOTE");
    fake_elf(img);
    put32(FAKE_ELF_NOTE_OFF, 0xFFFFFFFFu);
    refused(FAKE_ELF_LEN, "runs past its PT_NOTE");
    fake_elf(img);
    put64(fake_elf_phdr(1) + offsetof(Elf64_Phdr, p_filesz), FAKE_ELF_LEN);
    refused(FAKE_ELF_LEN, "PT_NOTE segment 1 runs past");
    fake_elf(img);
    put64(FAKE_ELF_NOTE_OFF + 16, 1ULL << 32);
    refused(FAKE_ELF_LEN, "not a 32-bit address");
    fake_elf(img);
    /* In the bss: zeroes, not code. */
    put64(FAKE_ELF_NOTE_OFF + 16, FAKE_ELF_SEG1_PA + 0x1800);
    refused(FAKE_ELF_LEN, "not inside a loaded segment");
    fake_elf(img);
    put64(FAKE_ELF_NOTE_OFF + 16, 0x800000);
    refused(FAKE_ELF_LEN, "not inside a loaded segment");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_kernel),
        cmocka_unit_test(four_byte_note_and_other_notes),
        cmocka_unit_test(no_note_parses_without_pvh),
        cmocka_unit_test(refuses_bad_headers),
        cmocka_unit_test(refuses_bad_segments),
        cmocka_unit_test(refuses_bad_notes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
