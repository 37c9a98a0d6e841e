/* Setup-header parsing on synthetic images: a good one and each way an
 * image can be wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fake_bzimage.h"
#include "x86/bzimage.h"

#define IMG_LEN (64 * 1024)
static uint8_t img[IMG_LEN];

static void make_good(void)
{
    fake_bzimage(img, IMG_LEN, 0x2000000, 0x7FFFFFFF);
}

static void put16(size_t off, uint16_t v) { fake_put16(img, off, v); }
static void put32(size_t off, uint32_t v) { fake_put32(img, off, v); }

static int parse(size_t len, char *err, size_t errlen)
{
    struct bzimage bz;
    return bzimage_parse(img, len, len, &bz, err, errlen);
}

static void good_image(void **state)
{
    (void)state;
    make_good();
    struct bzimage bz;
    char err[256] = "";
    assert_int_equal(bzimage_parse(img, IMG_LEN, IMG_LEN, &bz, err, sizeof(err)), 0);
    assert_int_equal(bz.version, 0x020F);
    assert_int_equal(bz.kernel_alignment, 0x200000);
    assert_int_equal(bz.setup_len, 28 * 512);
    assert_int_equal(bz.kernel_len, IMG_LEN - 28 * 512);
    assert_int_equal(bz.kernel_offset, 28 * 512);
    assert_int_equal(bz.header_len, 0x26C - 0x1F1);
    assert_int_equal(bz.initrd_addr_max, 0x7FFFFFFF);
    assert_int_equal(bz.cmdline_size, 2047);
    assert_int_equal(bz.pref_address, 0x1000000);
    assert_int_equal(bz.init_size, 0x2000000);
    assert_int_equal(bz.relocatable, 1);
}

static void zero_setup_sects_means_four(void **state)
{
    (void)state;
    make_good();
    img[0x1F1] = 0;
    struct bzimage bz;
    char err[256];
    assert_int_equal(bzimage_parse(img, IMG_LEN, IMG_LEN, &bz, err, sizeof(err)), 0);
    assert_int_equal(bz.setup_len, 5 * 512);
}

static void expect_error(const char *needle)
{
    char err[256] = "";
    assert_int_equal(parse(IMG_LEN, err, sizeof(err)), -1);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void rejects_missing_signature(void **state)
{
    (void)state;
    make_good();
    memcpy(img + 0x202, "HdrX", 4);
    expect_error("not a bzImage");
    make_good();
    put16(0x1FE, 0);
    expect_error("not a bzImage");
}

static void rejects_old_protocol(void **state)
{
    (void)state;
    make_good();
    put16(0x206, 0x0206);
    expect_error("too old");
}

static void rejects_zimage(void **state)
{
    (void)state;
    make_good();
    img[0x211] = 0;
    expect_error("zImage");
}

static void rejects_32bit_only(void **state)
{
    (void)state;
    make_good();
    put16(0x236, 0);
    expect_error("64-bit");
}

static void rejects_truncated(void **state)
{
    (void)state;
    make_good();
    char err[256] = "";
    assert_int_equal(parse(0x100, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too short"));
    /* Setup sectors claim more than the file holds. */
    img[0x1F1] = 200;
    assert_int_equal(parse(IMG_LEN, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "setup"));
}

/* A kernel cut short (an interrupted download or copy) is refused before
 * it could boot and crash: syssize says how much must follow the setup.
 * More than that is fine (a signed kernel carries its signature there). */
static void rejects_kernel_shorter_than_syssize(void **state)
{
    (void)state;
    make_good();
    const uint32_t kernel = IMG_LEN - 28 * 512;
    assert_int_equal(kernel % 16, 0);
    struct bzimage bz;
    char err[256] = "";
    assert_int_equal(bzimage_parse(img, IMG_LEN, IMG_LEN, &bz, err, sizeof(err)), 0);
    assert_int_equal(bz.kernel_len, kernel);
    assert_int_equal(parse(IMG_LEN - 1, err, sizeof(err)), -1);
    if (!strstr(err, "truncated") || !strstr(err, "65536"))
        fail_msg("error '%s' does not say the image is truncated and how long it should be", err);
    assert_int_equal(parse(28 * 512 + 16, err, sizeof(err)), -1);
    /* The file only as long as the header says, or longer. */
    put32(0x1F4, kernel / 16 - 100);
    assert_int_equal(bzimage_parse(img, IMG_LEN, IMG_LEN, &bz, err, sizeof(err)), 0);
    assert_int_equal(bz.kernel_len, kernel);
    assert_int_equal(bzimage_parse(img, IMG_LEN - 1600, IMG_LEN - 1600, &bz, err, sizeof(err)), 0);
    assert_int_equal(bz.kernel_len, kernel - 1600);
    assert_int_equal(parse(IMG_LEN - 1601, err, sizeof(err)), -1);
    /* No sum of the header's numbers may wrap past the check. */
    put32(0x1F4, 0xFFFFFFFF);
    assert_int_equal(parse(IMG_LEN, err, sizeof(err)), -1);
}

static void rejects_init_size_smaller_than_kernel(void **state)
{
    (void)state;
    make_good();
    put32(0x260, 16);
    expect_error("init_size");
}

static void rejects_short_header(void **state)
{
    (void)state;
    make_good();
    img[0x201] = 0x10; /* header would end before the 2.12 fields */
    expect_error("header length");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_image),
        cmocka_unit_test(zero_setup_sects_means_four),
        cmocka_unit_test(rejects_missing_signature),
        cmocka_unit_test(rejects_old_protocol),
        cmocka_unit_test(rejects_zimage),
        cmocka_unit_test(rejects_32bit_only),
        cmocka_unit_test(rejects_truncated),
        cmocka_unit_test(rejects_kernel_shorter_than_syssize),
        cmocka_unit_test(rejects_init_size_smaller_than_kernel),
        cmocka_unit_test(rejects_short_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
