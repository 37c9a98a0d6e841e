/* Booting from a guest's disk end to end (src/bootloader): real disk
 * images made at test time with sfdisk, sgdisk, mkfs.ext4 -d and debugfs
 * (tests/unit/bootloader/mkimage.sh), read by bootloader_load() in its
 * sandboxed child, also as qcow2 images (a compressed one, and an overlay
 * on it) read through the block layer inside the child; and the sandbox
 * itself: a child that makes a forbidden system call, hangs, or answers
 * with malformed records, and one that reads several descriptors. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "block/bdev.h"
#include "bootloader/bootloader.h"
#include "bootloader/sandbox.h"
#include "util/sanitized.h"

#define ROOT_UUID "5f3ca4d0-8a3c-4d2a-9b3e-1f2e3d4c5b6a"
#define NEW "6.1.0-18-amd64"
#define OLD "6.1.0-13-amd64"
#define KERNEL_SIZE 300000
#define INITRD_SIZE 200000

static char imgdir[256];

/* ---- images ---- */

static const char *image(const char *scenario)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s.img", imgdir, scenario);
    struct stat st;
    if (stat(path, &st) == 0)
        return path;
    const char *mk = getenv("BL_MKIMAGE");
    if (!mk)
        fail_msg("BL_MKIMAGE is not set (meson sets it to tests/unit/bootloader/mkimage.sh)");
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s'", mk, scenario, path);
    if (system(cmd) != 0)
        fail_msg("%s failed", cmd);
    return path;
}

static int load(const char *scenario, const struct bl_options *o, struct bl_result *r, char *err, size_t errlen,
                double *secs)
{
    int fd = open(image(scenario), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct bl_disk disk = {bl_disk_pread, &fd, (uint64_t)st.st_size};
    int rc = bootloader_load(&disk, &fd, 1, o, r, err, errlen);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (secs)
        *secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    close(fd);
    return rc;
}

/* The bytes mkimage.sh's pattern() writes: NAME and a newline, repeated. */
static void check_pattern(const uint8_t *buf, uint64_t len, const char *name, uint64_t want)
{
    assert_int_equal(len, want);
    size_t nl = strlen(name);
    for (uint64_t i = 0; i < len; i++) {
        size_t k = i % (nl + 1);
        char c = k == nl ? '\n' : name[k];
        if (buf[i] != (uint8_t)c)
            fail_msg("%s: byte %llu is 0x%02x, expected 0x%02x", name, (unsigned long long)i, buf[i], (uint8_t)c);
    }
}

static void boots(const char *scenario, const struct bl_options *o, const char *title, const char *version,
                  const char *cmdline, const char *paths)
{
    struct bl_result r;
    char err[1024];
    if (load(scenario, o, &r, err, sizeof(err), NULL) < 0)
        fail_msg("%s: %s", scenario, err);
    assert_string_equal(r.title, title);
    assert_string_equal(r.cmdline, cmdline);
    assert_string_equal(r.paths, paths);
    char name[64];
    snprintf(name, sizeof(name), "kernel-%s", version);
    check_pattern(r.kernel, r.kernel_len, name, KERNEL_SIZE);
    snprintf(name, sizeof(name), "initrd-%s", version);
    check_pattern(r.initrd, r.initrd_len, name, INITRD_SIZE);
    bl_result_free(&r);
}

static void refused(const char *scenario, const struct bl_options *o, const char *text)
{
    struct bl_result r;
    char err[1024];
    double secs;
    int rc = load(scenario, o, &r, err, sizeof(err), &secs);
    if (rc == 0)
        fail_msg("%s: booted '%s', expected an error with '%s'", scenario, r.title, text);
    if (!strstr(err, text))
        fail_msg("%s: error '%s' lacks '%s'", scenario, err, text);
    /* Bounded: far below the 60 s the parser is given at most. */
    if (secs > 20)
        fail_msg("%s: took %.1f s", scenario, secs);
    assert_null(r.kernel);
}

static const struct bl_options none;

static void mbr_debian(void **state)
{
    (void)state;
    boots("mbr-debian", &none, "Debian GNU/Linux", NEW,
          "BOOT_IMAGE=/boot/vmlinuz-" NEW " root=UUID=" ROOT_UUID " ro console=ttyS0 quiet",
          "(hd0,msdos1)/boot/vmlinuz-" NEW ", initrd (hd0,msdos1)/boot/initrd.img-" NEW);
    struct bl_options o = {.entry = "1>2"};
    boots("mbr-debian", &o, "Debian GNU/Linux, with Linux " OLD, OLD,
          "BOOT_IMAGE=/boot/vmlinuz-" OLD " root=UUID=" ROOT_UUID " ro console=ttyS0 quiet",
          "(hd0,msdos1)/boot/vmlinuz-" OLD ", initrd (hd0,msdos1)/boot/initrd.img-" OLD);
    boots("mbr-debian-saved", &none, "Debian GNU/Linux, with Linux " OLD, OLD,
          "BOOT_IMAGE=/boot/vmlinuz-" OLD " root=UUID=" ROOT_UUID " ro console=ttyS0 quiet",
          "(hd0,msdos1)/boot/vmlinuz-" OLD ", initrd (hd0,msdos1)/boot/initrd.img-" OLD);
    boots("mbr-logical", &none, "Debian GNU/Linux", NEW,
          "BOOT_IMAGE=/boot/vmlinuz-" NEW " root=UUID=" ROOT_UUID " ro console=ttyS0 quiet",
          "(hd0,msdos5)/boot/vmlinuz-" NEW ", initrd (hd0,msdos5)/boot/initrd.img-" NEW);
}

/* pygrub's --kernel/--ramdisk: those files, no configuration read. */
static void kernel_option(void **state)
{
    (void)state;
    struct bl_options o = {.kernel = "/vmlinuz.old", .ramdisk = "/boot/initrd.img-" OLD};
    boots("mbr-debian", &o, "/vmlinuz.old", OLD, "", "(hd0,msdos1)/vmlinuz.old, initrd (hd0,msdos1)/boot/initrd.img-" OLD);
    struct bl_options bad = {.kernel = "/boot/vmlinuz-9"};
    refused("mbr-debian", &bad, "--kernel /boot/vmlinuz-9: no partition of the disk holds that file");
    struct bl_options rel = {.kernel = "vmlinuz"};
    refused("mbr-debian", &rel, "--kernel 'vmlinuz': expected an absolute path inside the guest");
}

static void gpt_ubuntu(void **state)
{
    (void)state;
    boots("gpt-ubuntu", &none, "Ubuntu", NEW,
          "BOOT_IMAGE=/vmlinuz-" NEW " root=UUID=" ROOT_UUID " ro console=ttyS0 vt.handoff=7",
          "(hd0,gpt2)/vmlinuz-" NEW ", initrd (hd0,gpt2)/initrd.img-" NEW);
    struct bl_options o = {.entry = "Ubuntu, with Linux " OLD};
    boots("gpt-ubuntu", &o, "Ubuntu, with Linux " OLD, OLD,
          "BOOT_IMAGE=/vmlinuz-" OLD " root=UUID=" ROOT_UUID " ro console=ttyS0 vt.handoff=7",
          "(hd0,gpt2)/vmlinuz-" OLD ", initrd (hd0,gpt2)/initrd.img-" OLD);
}

static void gpt_fedora(void **state)
{
    (void)state;
    /* grubenv's saved_entry names the old kernel's BLS entry. */
    boots("gpt-fedora", &none, "Fedora Linux (" OLD ") 39 (Cloud Edition)", OLD,
          "BOOT_IMAGE=(hd0,gpt1)/vmlinuz-" OLD " root=UUID=" ROOT_UUID " ro rootflags=subvol=root console=ttyS0 rhgb quiet",
          "(hd0,gpt1)/vmlinuz-" OLD ", initrd (hd0,gpt1)/initramfs-" OLD ".img");
    struct bl_options o = {.entry = "0"};
    boots("gpt-fedora", &o, "Fedora Linux (" NEW ") 39 (Cloud Edition)", NEW,
          "BOOT_IMAGE=(hd0,gpt1)/vmlinuz-" NEW " root=UUID=" ROOT_UUID " ro rootflags=subvol=root console=ttyS0 rhgb quiet",
          "(hd0,gpt1)/vmlinuz-" NEW ", initrd (hd0,gpt1)/initramfs-" NEW ".img");
}

static void bls_only(void **state)
{
    (void)state;
    boots("bls-only", &none, "Linux " NEW, NEW,
          "BOOT_IMAGE=(hd0)/boot/vmlinuz-" NEW " root=UUID=" ROOT_UUID " ro console=ttyS0",
          "(hd0)/boot/vmlinuz-" NEW ", initrd (hd0)/boot/initramfs-" NEW ".img");
}

static void debian_links(void **state)
{
    (void)state;
    boots("links-sepboot", &none, "/vmlinuz", NEW, "root=UUID=" ROOT_UUID " ro",
          "(hd0,msdos1)/vmlinuz-" NEW ", initrd (hd0,msdos1)/initrd.img-" NEW);
}

/* ---- the same disk as qcow2, read through the block layer in the child ---- */

static int bdev_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    int r = bdev_pread(ctx, offset, buf, len);
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return 0;
}

static int load_qcow2(const char *path, const struct bl_options *o, struct bl_result *r, char *err, size_t errlen)
{
    struct bdev_opts bo = {.path = path, .format = BDEV_FORMAT_QCOW2, .ro = true};
    struct bdev *bs = bdev_open(&bo, err, errlen);
    if (!bs)
        return -1;
    int fds[SANDBOX_MAX_IN];
    unsigned n = bdev_fds(bs, fds, SANDBOX_MAX_IN);
    struct bl_disk disk = {bdev_read, bs, bs->size};
    int rc = bootloader_load(&disk, fds, n, o, r, err, errlen);
    bdev_close(bs);
    return rc;
}

static void qcow2_disks(void **state)
{
    (void)state;
    char base[600], top[600], cmd[2048];
    snprintf(base, sizeof(base), "%s/mbr-debian-c.qcow2", imgdir);
    snprintf(top, sizeof(top), "%s/mbr-debian-top.qcow2", imgdir);
    /* Compressed clusters: inflated inside the sandbox. */
    snprintf(cmd, sizeof(cmd), "qemu-img convert -q -c -f raw -O qcow2 '%s' '%s' && qemu-img create -q -f qcow2 "
             "-b mbr-debian-c.qcow2 -F qcow2 '%s'", image("mbr-debian"), base, top);
    if (system(cmd) != 0)
        fail_msg("%s failed", cmd);
    const char *paths[] = {base, top};
    for (int i = 0; i < 2; i++) {
        struct bl_result r;
        char err[1024];
        if (load_qcow2(paths[i], &none, &r, err, sizeof(err)) < 0)
            fail_msg("%s: %s", paths[i], err);
        assert_string_equal(r.title, "Debian GNU/Linux");
        check_pattern(r.kernel, r.kernel_len, "kernel-" NEW, KERNEL_SIZE);
        check_pattern(r.initrd, r.initrd_len, "initrd-" NEW, INITRD_SIZE);
        bl_result_free(&r);
    }
    /* A corrupt image: the read fails in the child, which says so (its
     * report to stderr is allowed, not a forbidden call). */
    snprintf(cmd, sizeof(cmd), "qemu-img convert -q -f raw -O qcow2 '%s' '%s' && python3 -c \"\n"
             "import struct,sys\n"
             "f=open(sys.argv[1],'r+b'); h=f.read(48); l1=struct.unpack('>Q',h[40:48])[0]\n"
             "f.seek(l1); e=struct.unpack('>Q',f.read(8))[0] & 0x00fffffffffffe00\n"
             "f.seek(e); f.write(struct.pack('>Q', (1<<63) | 0x200))\n\" '%s'", image("mbr-debian"), base, base);
    if (system(cmd) != 0)
        fail_msg("%s failed", cmd);
    struct bl_result r;
    char err[1024];
    assert_int_equal(load_qcow2(base, &none, &r, err, sizeof(err)), -1);
    if (strstr(err, "seccomp") || !strstr(err, "reading the disk at byte 0"))
        fail_msg("not the failed read of a corrupt table: %s", err);
    /* A corrupt header (its L1 table past the end of the file): refused
     * when the disk is opened, before any child, with the reason. */
    snprintf(cmd, sizeof(cmd), "python3 -c \"\n"
             "import struct,sys\n"
             "f=open(sys.argv[1],'r+b'); f.seek(40); f.write(struct.pack('>Q', 1<<40))\n\" '%s'", base);
    if (system(cmd) != 0)
        fail_msg("%s failed", cmd);
    assert_int_equal(load_qcow2(base, &none, &r, err, sizeof(err)), -1);
    if (!strstr(err, "L1 table at 0x10000000000") || !strstr(err, "extends past the end of the file"))
        fail_msg("unclear: %s", err);
    /* The same file named raw is a raw disk: never probed for a format,
     * so no boot entry is found in it. */
    struct bl_options o = none;
    int fd = open(base, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    struct bl_disk disk = {bl_disk_pread, &fd, (uint64_t)st.st_size};
    assert_int_equal(bootloader_load(&disk, &fd, 1, &o, &r, err, sizeof(err)), -1);
    close(fd);
}

static void bad_images(void **state)
{
    (void)state;
    refused("mbr-debian-missing-kernel", &none,
            "(hd0,msdos1)/boot/grub/grub.cfg:133: linux: (hd0,msdos1)/boot/vmlinuz-" NEW " does not exist");
    refused("mbr-debian-big-cfg", &none,
            "(hd0,msdos1)/boot/grub/grub.cfg is 104857600 bytes; at most 1048576 are read");
    refused("mbr-debian-source-loop", &none,
            "(hd0,msdos1)/boot/grub/custom.cfg:1: source/configfile nested more than 8 deep");
    refused("gpt-truncated", &none, "the GPT at sector 1 was made for a larger disk");
    refused("mbr-debian-broken-sb", &none, "partition 1 (ext4): cannot open the file system: The ext2 superblock is corrupt");
    refused("xfs", &none, "partition 1 holds xfs, which vireo cannot read. vireo reads ext2, ext3 and ext4");
    refused("btrfs", &none, "partition 1 holds btrfs, which vireo cannot read");
    refused("ext4-nothing", &none, "no boot loader configuration found (grub.cfg, /boot/loader/entries or Debian's "
                                   "/vmlinuz link): the disk (ext4): none of these");
    struct bl_options entry = {.entry = "no such entry"};
    refused("mbr-debian", &entry, "no entry 'no such entry'; the menu has 0 'Debian GNU/Linux'");
    /* An initrd bigger than the VM could hold. */
    struct bl_options small = {.max_initrd = 100000};
    refused("mbr-debian", &small, "the initrd /boot/initrd.img-" NEW " is 200000 bytes; at most 100000 bytes can be loaded");
}

/* ---- the sandbox ---- */

static int sb_run(sandbox_fn fn, unsigned timeout_ms, struct bl_result *r, char *err, size_t errlen)
{
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(in >= 0);
    struct sandbox sb;
    struct sandbox_limits l = {.mem_bytes = 64 << 20, .timeout_ms = timeout_ms};
    assert_int_equal(sandbox_start(&sb, &in, 1, &l, fn, NULL, err, errlen), 0);
    close(in);
    memset(r, 0, sizeof(*r));
    struct bl_options o = {0};
    char ferr[256];
    int rr = bl_read_answer(&sb, &o, r, err, errlen);
    int fin = sandbox_finish(&sb, rr < 0, ferr, sizeof(ferr));
    if (rr == 1 && fin == 0)
        snprintf(err, errlen, "the parser ended without an answer");
    else if (rr == 1 || (rr == 0 && fin < 0))
        snprintf(err, errlen, "%s", ferr);
    bl_result_free(r);
    return rr || fin ? -1 : 0;
}

static void sb_expect(sandbox_fn fn, const char *text)
{
    struct bl_result r;
    char err[512] = "";
    int rc = sb_run(fn, 5000, &r, err, sizeof(err));
    if (!rc)
        fail_msg("the child's answer was accepted; expected '%s'", text);
    if (!strstr(err, text))
        fail_msg("error '%s' lacks '%s'", err, text);
}

static int f_open(void *ctx, int out)
{
    (void)ctx, (void)out;
    return open("/etc/hostname", O_RDONLY) >= 0 ? 0 : 3;
}

static int f_stdout(void *ctx, int out)
{
    (void)ctx, (void)out;
    return write(STDOUT_FILENO, "x", 1) == 1 ? 0 : 3;
}

static int f_exec_memory(void *ctx, int out)
{
    (void)ctx, (void)out;
    return mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? 3 : 0;
}

static int f_read_other(void *ctx, int out)
{
    (void)ctx, (void)out;
    char c;
    return read(0, &c, 1) >= 0 ? 0 : 3;
}

static void seccomp_kills(void **state)
{
    (void)state;
    sb_expect(f_open, "the parser made a system call its seccomp filter forbids, and was killed");
    sb_expect(f_stdout, "seccomp");
    sb_expect(f_exec_memory, "seccomp");
    sb_expect(f_read_other, "seccomp");
}

static int f_spin(void *ctx, int out)
{
    (void)ctx, (void)out;
    for (volatile unsigned long i = 0;; i++)
        ;
    return 0;
}

static void timeout_kills(void **state)
{
    (void)state;
    struct bl_result r;
    char err[512];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(sb_run(f_spin, 1000, &r, err, sizeof(err)), -1);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (!strstr(err, "no answer within 1 s"))
        fail_msg("error '%s'", err);
    assert_true(b.tv_sec - a.tv_sec < 10);
}

static int f_hog(void *ctx, int out)
{
    (void)ctx, (void)out;
    /* More than the 64 MiB the test's limit allows. */
    void *p = malloc(256 << 20);
    if (p)
        memset(p, 1, 256 << 20);
    return p ? 0 : 7;
}

static void memory_limit(void **state)
{
    (void)state;
    if (SANITIZED)
        skip();   /* sanitizer builds run without RLIMIT_AS (their shadow memory needs terabytes) */
    sb_expect(f_hog, "the parser failed (exit status 7)");
}

/* ---- a hostile child's records ---- */

static void rec(int fd, char type, const void *data, uint64_t len)
{
    uint8_t h[9] = {(uint8_t)type};
    for (int i = 0; i < 8; i++)
        h[1 + i] = (uint8_t)(len >> (8 * i));
    (void)!write(fd, h, 9);
    if (len)
        (void)!write(fd, data, len);
}

static void size_rec(int fd, char type, uint64_t size)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(size >> (8 * i));
    rec(fd, type, b, 8);
}

static int f_unknown(void *c, int out) { (void)c; rec(out, 'Z', NULL, 0); return 0; }
static int f_data_first(void *c, int out) { (void)c; rec(out, 'D', "abc", 3); return 0; }
static int f_ctl_cmdline(void *c, int out) { (void)c; rec(out, 'C', "ro\x1b[2J", 7); return 0; }
static int f_nul_title(void *c, int out) { (void)c; rec(out, 'T', "a\0b", 3); return 0; }
static int f_long_title(void *c, int out)
{
    (void)c;
    static char t[5000];
    memset(t, 'a', sizeof(t));
    rec(out, 'T', t, sizeof(t));
    return 0;
}
static int f_huge_kernel(void *c, int out) { (void)c; size_rec(out, 'K', 1ull << 30); return 0; }
static int f_too_much_data(void *c, int out)
{
    (void)c;
    size_rec(out, 'K', 8);
    rec(out, 'D', "0123456789", 10);
    return 0;
}
static int f_short_data(void *c, int out)
{
    (void)c;
    size_rec(out, 'K', 8);
    rec(out, 'D', "0123", 4);
    rec(out, 'E', NULL, 0);
    return 0;
}
static int f_end_early(void *c, int out) { (void)c; rec(out, 'E', NULL, 0); return 0; }
static int f_twice(void *c, int out) { (void)c; rec(out, 'T', "a", 1); rec(out, 'T', "b", 1); return 0; }
static int f_initrd_first(void *c, int out) { (void)c; size_rec(out, 'I', 8); return 0; }
static int f_big_initrd(void *c, int out)
{
    (void)c;
    size_rec(out, 'K', 1);
    rec(out, 'D', "k", 1);
    size_rec(out, 'I', BL_LIMIT_INITRD + 1);
    return 0;
}
static int f_trailing(void *c, int out)
{
    (void)c;
    size_rec(out, 'K', 1);
    rec(out, 'D', "k", 1);
    rec(out, 'E', NULL, 0);
    (void)!write(out, "x", 1);
    return 0;
}
static int f_silent(void *c, int out) { (void)c, (void)out; return 0; }
static int f_crash(void *c, int out) { (void)c, (void)out; abort(); }
static int f_error(void *c, int out) { (void)c; rec(out, 'X', "bad \x07 disk", 10); return 1; }

static int f_good(void *c, int out)
{
    (void)c;
    rec(out, 'T', "t\x01", 2);   /* a control byte in a title is shown as '?' */
    rec(out, 'C', "root=/dev/vda1", 14);
    size_rec(out, 'K', 5);
    rec(out, 'D', "ke", 2);
    rec(out, 'D', "rne", 3);
    size_rec(out, 'I', 3);
    rec(out, 'D', "abc", 3);
    size_rec(out, 'I', 2);
    rec(out, 'D', "de", 2);
    rec(out, 'E', NULL, 0);
    return 0;
}

/* Several inputs, each at the number it has in the parent; stderr is
 * /dev/null and may be written. */
static int two_in[2];

static int f_two_inputs(void *ctx, int out)
{
    (void)ctx;
    char a[4] = "", b[4] = "";
    if (pread(two_in[0], a, 3, 0) != 3 || pread(two_in[1], b, 3, 0) != 3)
        return 3;
    /* A message to stderr (the qcow2 code's about a corrupt table) is let
     * through the filter; stderr itself is closed (or the sanitizer's). */
    if (write(STDERR_FILENO, "x", 1) != 1 && errno != EBADF)
        return 4;
    char t[8];
    memcpy(t, a, 3);
    memcpy(t + 3, b, 3);
    rec(out, 'T', t, 6);
    size_rec(out, 'K', 1);
    rec(out, 'D', "k", 1);
    rec(out, 'E', NULL, 0);
    return 0;
}

static void several_inputs(void **state)
{
    (void)state;
    char p[2][300];
    for (int i = 0; i < 2; i++) {
        snprintf(p[i], sizeof(p[i]), "%s/in%d", imgdir, i);
        FILE *f = fopen(p[i], "w");
        fputs(i ? "two" : "one", f);
        fclose(f);
        two_in[i] = open(p[i], O_RDONLY | O_CLOEXEC);
        assert_true(two_in[i] >= 0);
    }
    struct sandbox sb;
    struct sandbox_limits l = {.mem_bytes = 64 << 20, .timeout_ms = 5000};
    char err[256];
    assert_int_equal(sandbox_start(&sb, two_in, 2, &l, f_two_inputs, NULL, err, sizeof(err)), 0);
    struct bl_result r;
    memset(&r, 0, sizeof(r));
    struct bl_options o = {0};
    int rr = bl_read_answer(&sb, &o, &r, err, sizeof(err));
    char ferr[256];
    int fin = sandbox_finish(&sb, rr < 0, ferr, sizeof(ferr));
    if (rr || fin)
        fail_msg("%s / %s", rr ? err : "", fin ? ferr : "");
    assert_string_equal(r.title, "onetwo");
    bl_result_free(&r);
    close(two_in[0]);
    close(two_in[1]);
    /* Too many is refused before anything starts. */
    int many[SANDBOX_MAX_IN + 1];
    for (int i = 0; i <= SANDBOX_MAX_IN; i++)
        many[i] = 0;
    assert_int_equal(sandbox_start(&sb, many, SANDBOX_MAX_IN + 1, &l, f_two_inputs, NULL, err, sizeof(err)), -1);
}

static void framing(void **state)
{
    (void)state;
    sb_expect(f_unknown, "malformed: unknown record type 0x5a");
    sb_expect(f_data_first, "malformed: 3 bytes of data where 0 were due");
    sb_expect(f_ctl_cmdline, "the entry's command line has a control character (byte 0x1b)");
    sb_expect(f_nul_title, "malformed: a NUL byte in the title");
    sb_expect(f_long_title, "malformed: a title of 5000 bytes (at most 256)");
    sb_expect(f_huge_kernel, "the kernel is 1024 MiB; at most 64 MiB can be loaded");
    sb_expect(f_too_much_data, "malformed: 10 bytes of data where 8 were due");
    sb_expect(f_short_data, "malformed: record 'E' in the middle of a file's data");
    sb_expect(f_end_early, "malformed: it ends before the kernel");
    sb_expect(f_twice, "malformed: record 'T' repeated or out of order");
    sb_expect(f_initrd_first, "malformed: record 'I' out of order");
    sb_expect(f_big_initrd, "the initrd files come to more than 512 MiB");
    sb_expect(f_trailing, "malformed: bytes after its end");
    sb_expect(f_silent, "the parser ended without an answer");
    sb_expect(f_crash, "the parser crashed (signal 6");
    sb_expect(f_error, "bad ? disk");

    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct sandbox sb;
    struct sandbox_limits l = {.mem_bytes = 64 << 20, .timeout_ms = 5000};
    char err[256];
    assert_int_equal(sandbox_start(&sb, &in, 1, &l, f_good, NULL, err, sizeof(err)), 0);
    close(in);
    struct bl_result r;
    memset(&r, 0, sizeof(r));
    struct bl_options o = {0};
    int rr = bl_read_answer(&sb, &o, &r, err, sizeof(err));
    if (rr)
        fail_msg("%s", err);
    assert_int_equal(sandbox_finish(&sb, false, err, sizeof(err)), 0);
    assert_string_equal(r.title, "t?");
    assert_string_equal(r.cmdline, "root=/dev/vda1");
    assert_int_equal(r.kernel_len, 5);
    assert_memory_equal(r.kernel, "kerne", 5);
    /* Initrds one after the other, each from a 4-byte boundary. */
    assert_int_equal(r.initrd_len, 6);
    assert_memory_equal(r.initrd, "abc\0de", 6);
    bl_result_free(&r);
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(imgdir, sizeof(imgdir), "%s/vireo-bl-XXXXXX", tmp ? tmp : "/tmp");
    return mkdtemp(imgdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", imgdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mbr_debian),
        cmocka_unit_test(kernel_option),
        cmocka_unit_test(gpt_ubuntu),
        cmocka_unit_test(gpt_fedora),
        cmocka_unit_test(bls_only),
        cmocka_unit_test(debian_links),
        cmocka_unit_test(bad_images),
        cmocka_unit_test(qcow2_disks),
        cmocka_unit_test(several_inputs),
        cmocka_unit_test(seccomp_kills),
        cmocka_unit_test(timeout_kills),
        cmocka_unit_test(memory_limit),
        cmocka_unit_test(framing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
