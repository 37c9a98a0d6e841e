/* The grub.cfg interpreter and the BLS parser (src/bootloader), as pure
 * functions over buffers: an in-memory disk (tests/common/mem_host.c)
 * holds the files.  Fixtures in tests/unit/bootloader are grub.cfg files
 * as Debian 12, Ubuntu 22.04 and Fedora 39 generate them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bootloader/bls.h"
#include "bootloader/grub.h"
#include "bootloader/grub_script.h"
#include "mem_host.h"

#define ROOT_UUID "5f3ca4d0-8a3c-4d2a-9b3e-1f2e3d4c5b6a"
#define BOOT_UUID "0b7e5c1a-2d3f-4e5a-8b9c-0d1e2f3a4b5c"
#define NEW "6.1.0-18-amd64"
#define OLD "6.1.0-13-amd64"
#define MACHINE "2c2f3f0c8a4b4b2c9e0f1a2b3c4d5e6f"

/* ---- fixtures ---- */

static char *replace_all(char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    for (char *p = strstr(s, from); p; p = strstr(p, from)) {
        size_t off = (size_t)(p - s), n = strlen(s);
        char *ns = malloc(n - fl + tl + 1);
        assert_non_null(ns);
        memcpy(ns, s, off);
        memcpy(ns + off, to, tl);
        strcpy(ns + off + tl, s + off + fl);
        free(s);
        s = ns;
        p = s + off + tl;
    }
    return s;
}

/* A fixture with its placeholders filled in, as mkimage.sh fills them. */
static char *fixture(const char *name)
{
    const char *dir = getenv("BL_FIXTURES");
    assert_non_null(dir);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = 0;
    buf = replace_all(buf, "@ROOT_UUID@", ROOT_UUID);
    buf = replace_all(buf, "@BOOT_UUID@", BOOT_UUID);
    buf = replace_all(buf, "@NEW@", NEW);
    buf = replace_all(buf, "@OLD@", OLD);
    return replace_all(buf, "@MACHINE@", MACHINE);
}

static void add_fixture(struct mem_host *m, unsigned part, const char *path, const char *name)
{
    char *s = fixture(name);
    mem_host_file(m, part, path, s, strlen(s));
    free(s);
}

static void add_text(struct mem_host *m, unsigned part, const char *path, const char *text)
{
    mem_host_file(m, part, path, text, strlen(text));
}

/* A Debian disk: msdos1 is the root with /boot, both kernels. */
static void debian_disk(struct mem_host *m)
{
    mem_host_init(m, "msdos");
    mem_host_part(m, 1, ROOT_UUID, "");
    add_fixture(m, 1, "/boot/grub/grub.cfg", "debian12-grub.cfg");
    add_text(m, 1, "/boot/grub/grubenv", "# GRUB Environment Block\n####");
    add_text(m, 1, "/boot/vmlinuz-" NEW, "k");
    add_text(m, 1, "/boot/initrd.img-" NEW, "i");
    add_text(m, 1, "/boot/vmlinuz-" OLD, "k");
    add_text(m, 1, "/boot/initrd.img-" OLD, "i");
}

static int run_cfg(struct mem_host *m, unsigned part, const char *dir, const char *entry, struct bl_entry *e,
                   char *err, size_t errlen)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/grub.cfg", dir);
    for (unsigned i = 0; i < m->nfiles; i++) {
        if (m->files[i].part == part && !strcmp(m->files[i].path, path)) {
            struct grub_start at = {part, dir, "grub.cfg"};
            return grub_find_boot(&m->host, &at, m->files[i].data, m->files[i].len, entry, e, err, errlen);
        }
    }
    fail_msg("no %s", path);
    return -1;
}

/* grub.cfg text run as if found at (hd0,msdos1)/boot/grub. */
static int run_text(const char *cfg, const char *entry, struct bl_entry *e, char *err, size_t errlen)
{
    struct mem_host m;
    mem_host_init(&m, "msdos");
    mem_host_part(&m, 1, ROOT_UUID, "root");
    add_text(&m, 1, "/vmlinuz", "k");
    add_text(&m, 1, "/initrd", "i");
    add_text(&m, 1, "/boot/grub/grub.cfg", cfg);
    int r = run_cfg(&m, 1, "/boot/grub", entry, e, err, errlen);
    mem_host_free(&m);
    return r;
}

#define EXPECT_OK(r, err) do { if ((r) != 0) fail_msg("unexpected error: %s", err); } while (0)
#define EXPECT_ERR(r, err, text) do { \
        if ((r) == 0) fail_msg("expected an error with '%s'", text); \
        if (!strstr(err, text)) fail_msg("error '%s' lacks '%s'", err, text); } while (0)

/* ---- the distributions' files ---- */

static void debian_default(void **state)
{
    (void)state;
    struct mem_host m;
    struct bl_entry e;
    char err[512];
    debian_disk(&m);
    EXPECT_OK(run_cfg(&m, 1, "/boot/grub", NULL, &e, err, sizeof(err)), err);
    assert_string_equal(e.title, "Debian GNU/Linux");
    assert_int_equal(e.kernel.part, 1);
    assert_string_equal(e.kernel.path, "/boot/vmlinuz-" NEW);
    assert_int_equal(e.ninitrd, 1);
    assert_string_equal(e.initrd[0].path, "/boot/initrd.img-" NEW);
    assert_string_equal(e.cmdline, "BOOT_IMAGE=/boot/vmlinuz-" NEW " root=UUID=" ROOT_UUID " ro console=ttyS0 quiet");
    assert_string_equal(e.source, "(hd0,msdos1)/boot/grub/grub.cfg");
    assert_string_equal(e.warning, "");
    mem_host_free(&m);
}

/* pygrub's --entry and GRUB's default: index, id, title, submenu paths. */
static void debian_entries(void **state)
{
    (void)state;
    static const struct {
        const char *entry;
        const char *title;
    } cases[] = {
        {"0", "Debian GNU/Linux"},
        {"1>2", "Debian GNU/Linux, with Linux " OLD},
        {"1>1", "Debian GNU/Linux, with Linux " NEW " (recovery mode)"},
        {"gnulinux-advanced-" ROOT_UUID ">gnulinux-" OLD "-advanced-" ROOT_UUID, "Debian GNU/Linux, with Linux " OLD},
        {"Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux " OLD, "Debian GNU/Linux, with Linux " OLD},
        {"gnulinux-simple-" ROOT_UUID, "Debian GNU/Linux"},
        /* A title or id inside a submenu, as pygrub listed them. */
        {"Debian GNU/Linux, with Linux " OLD, "Debian GNU/Linux, with Linux " OLD},
        {"gnulinux-" NEW "-recovery-" ROOT_UUID, "Debian GNU/Linux, with Linux " NEW " (recovery mode)"},
        {"1", "Debian GNU/Linux, with Linux " NEW},   /* a submenu chosen: its first entry */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mem_host m;
        struct bl_entry e;
        char err[512];
        debian_disk(&m);
        int r = run_cfg(&m, 1, "/boot/grub", cases[i].entry, &e, err, sizeof(err));
        if (r)
            fail_msg("--entry '%s': %s", cases[i].entry, err);
        assert_string_equal(e.title, cases[i].title);
        mem_host_free(&m);
    }
    struct mem_host m;
    struct bl_entry e;
    char err[512];
    debian_disk(&m);
    EXPECT_ERR(run_cfg(&m, 1, "/boot/grub", "7", &e, err, sizeof(err)), err,
               "no entry '7'; the menu has 0 'Debian GNU/Linux', 1 'Advanced options for Debian GNU/Linux' (submenu)");
    EXPECT_ERR(run_cfg(&m, 1, "/boot/grub", "1>5", &e, err, sizeof(err)), err, "no entry '5'");
    EXPECT_ERR(run_cfg(&m, 1, "/boot/grub", "0>1", &e, err, sizeof(err)), err, "'0' is an entry, not a submenu");
    mem_host_free(&m);
}

/* GRUB_DEFAULT=saved: grub-set-default's saved_entry in grubenv. */
static void debian_saved_entry(void **state)
{
    (void)state;
    struct mem_host m;
    struct bl_entry e;
    char err[512];
    debian_disk(&m);
    char *cfg = fixture("debian12-grub.cfg");
    cfg = replace_all(cfg, "   set default=\"0\"", "   set default=\"${saved_entry}\"");
    add_text(&m, 1, "/boot/grub/grub.cfg", cfg);
    free(cfg);
    add_text(&m, 1, "/boot/grub/grubenv",
             "# GRUB Environment Block\nsaved_entry=gnulinux-advanced-" ROOT_UUID ">gnulinux-" OLD "-advanced-" ROOT_UUID
             "\n#########");
    EXPECT_OK(run_cfg(&m, 1, "/boot/grub", NULL, &e, err, sizeof(err)), err);
    assert_string_equal(e.kernel.path, "/boot/vmlinuz-" OLD);
    /* A saved entry that is gone (its kernel removed): entry 0, as GRUB does, and a warning. */
    add_text(&m, 1, "/boot/grub/grubenv", "# GRUB Environment Block\nsaved_entry=no-such-entry\n###");
    EXPECT_OK(run_cfg(&m, 1, "/boot/grub", NULL, &e, err, sizeof(err)), err);
    assert_string_equal(e.kernel.path, "/boot/vmlinuz-" NEW);
    assert_non_null(strstr(e.warning, "the default entry 'no-such-entry' does not exist"));
    /* grub-reboot's next_entry is not honoured (it could never be cleared). */
    add_text(&m, 1, "/boot/grub/grubenv", "# GRUB Environment Block\nnext_entry=1>2\n###");
    EXPECT_OK(run_cfg(&m, 1, "/boot/grub", NULL, &e, err, sizeof(err)), err);
    assert_string_equal(e.kernel.path, "/boot/vmlinuz-" NEW);
    assert_non_null(strstr(e.warning, "next_entry"));
    mem_host_free(&m);
}

/* Ubuntu with /boot on its own partition: search --fs-uuid finds it. */
static void ubuntu_separate_boot(void **state)
{
    (void)state;
    struct mem_host m;
    struct bl_entry e;
    char err[512];
    mem_host_init(&m, "gpt");
    mem_host_part(&m, 2, BOOT_UUID, "");
    mem_host_part(&m, 3, ROOT_UUID, "");
    add_fixture(&m, 2, "/grub/grub.cfg", "ubuntu2204-grub.cfg");
    add_text(&m, 2, "/vmlinuz-" NEW, "k");
    add_text(&m, 2, "/initrd.img-" NEW, "i");
    add_text(&m, 2, "/vmlinuz-" OLD, "k");
    add_text(&m, 2, "/initrd.img-" OLD, "i");
    EXPECT_OK(run_cfg(&m, 2, "/grub", NULL, &e, err, sizeof(err)), err);
    assert_string_equal(e.title, "Ubuntu");
    assert_int_equal(e.kernel.part, 2);
    assert_string_equal(e.kernel.path, "/vmlinuz-" NEW);
    /* $vt_handoff, set by the gfxmode function the entry calls. */
    assert_string_equal(e.cmdline, "BOOT_IMAGE=/vmlinuz-" NEW " root=UUID=" ROOT_UUID " ro console=ttyS0 vt.handoff=7");
    EXPECT_OK(run_cfg(&m, 2, "/grub", "1>2", &e, err, sizeof(err)), err);
    assert_string_equal(e.kernel.path, "/vmlinuz-" OLD);
    mem_host_free(&m);
}

static void fedora_disk(struct mem_host *m)
{
    mem_host_init(m, "gpt");
    mem_host_part(m, 1, BOOT_UUID, "");
    add_fixture(m, 1, "/grub2/grub.cfg", "fedora39-grub.cfg");
    add_fixture(m, 1, "/grub2/grubenv", "fedora39-grubenv");
    add_fixture(m, 1, "/loader/entries/" MACHINE "-" NEW ".conf", "fedora39-new.conf");
    add_fixture(m, 1, "/loader/entries/" MACHINE "-" OLD ".conf", "fedora39-old.conf");
    add_text(m, 1, "/vmlinuz-" NEW, "k");
    add_text(m, 1, "/initramfs-" NEW ".img", "i");
    add_text(m, 1, "/vmlinuz-" OLD, "k");
    add_text(m, 1, "/initramfs-" OLD ".img", "i");
}

/* Fedora: blscfg, saved_entry naming a BLS entry's id, $kernelopts. */
static void fedora_bls(void **state)
{
    (void)state;
    struct mem_host m;
    struct bl_entry e;
    char err[512];
    fedora_disk(&m);
    EXPECT_OK(run_cfg(&m, 1, "/grub2", NULL, &e, err, sizeof(err)), err);
    assert_string_equal(e.title, "Fedora Linux (" OLD ") 39 (Cloud Edition)");
    assert_string_equal(e.kernel.path, "/vmlinuz-" OLD);
    assert_string_equal(e.initrd[0].path, "/initramfs-" OLD ".img");
    /* The newest version first: entry 0 is the new kernel, whose options
     * are grubenv's $kernelopts. */
    EXPECT_OK(run_cfg(&m, 1, "/grub2", "0", &e, err, sizeof(err)), err);
    assert_string_equal(e.kernel.path, "/vmlinuz-" NEW);
    assert_string_equal(e.cmdline, "BOOT_IMAGE=(hd0,gpt1)/vmlinuz-" NEW " root=UUID=" ROOT_UUID
                                   " ro rootflags=subvol=root console=ttyS0 rhgb quiet");
    /* Without grubenv, grub.cfg's fallback kernelopts. */
    add_text(&m, 1, "/grub2/grubenv", "# GRUB Environment Block\n###");
    EXPECT_OK(run_cfg(&m, 1, "/grub2", NULL, &e, err, sizeof(err)), err);
    assert_string_equal(e.kernel.path, "/vmlinuz-" NEW);
    assert_string_equal(e.cmdline, "BOOT_IMAGE=(hd0,gpt1)/vmlinuz-" NEW " root=UUID=" ROOT_UUID
                                   " ro rootflags=subvol=root console=ttyS0 ");
    mem_host_free(&m);
}

/* BLS entries alone, in Fedora's order. */
static void bls_alone(void **state)
{
    (void)state;
    struct mem_host m;
    struct bl_entry e;
    char err[512];
    mem_host_init(&m, NULL);
    mem_host_part(&m, 0, ROOT_UUID, "");
    static const char *const versions[] = {"5.14.0-70.el9", "5.14.0-362.el9", "5.14.0-362.8.1.el9", "5.14.0-9.el9"};
    for (size_t i = 0; i < 4; i++) {
        char path[256], text[512];
        snprintf(path, sizeof(path), "/boot/loader/entries/%s-%s.conf", MACHINE, versions[i]);
        snprintf(text, sizeof(text), "title RHEL (%s)\nversion %s\nlinux /boot/vmlinuz-%s\ninitrd /boot/initramfs-%s.img\n"
                 "options root=/dev/vda1 ro\n", versions[i], versions[i], versions[i], versions[i]);
        add_text(&m, 0, path, text);
        snprintf(path, sizeof(path), "/boot/vmlinuz-%s", versions[i]);
        add_text(&m, 0, path, "k");
        snprintf(path, sizeof(path), "/boot/initramfs-%s.img", versions[i]);
        add_text(&m, 0, path, "i");
    }
    add_text(&m, 0, "/boot/loader/entries/README", "not an entry");
    EXPECT_OK(grub_find_bls_boot(&m.host, 0, "/boot/loader/entries", NULL, &e, err, sizeof(err)), err);
    assert_string_equal(e.kernel.path, "/boot/vmlinuz-5.14.0-362.8.1.el9");
    assert_string_equal(e.cmdline, "BOOT_IMAGE=(hd0)/boot/vmlinuz-5.14.0-362.8.1.el9 root=/dev/vda1 ro");
    EXPECT_OK(grub_find_bls_boot(&m.host, 0, "/boot/loader/entries", "3", &e, err, sizeof(err)), err);
    assert_string_equal(e.kernel.path, "/boot/vmlinuz-5.14.0-9.el9");
    EXPECT_OK(grub_find_bls_boot(&m.host, 0, "/boot/loader/entries", "RHEL (5.14.0-70.el9)", &e, err, sizeof(err)),
              err);
    assert_string_equal(e.kernel.path, "/boot/vmlinuz-5.14.0-70.el9");
    EXPECT_OK(grub_find_bls_boot(&m.host, 0, "/boot/loader/entries", MACHINE "-5.14.0-362.el9", &e, err, sizeof(err)),
              err);
    assert_string_equal(e.kernel.path, "/boot/vmlinuz-5.14.0-362.el9");
    mem_host_free(&m);
}

static void vercmp(void **state)
{
    (void)state;
    assert_true(bls_vercmp("5.14.0-362.el9", "5.14.0-70.el9") > 0);
    assert_true(bls_vercmp("6.1.0-18-amd64", "6.1.0-9-amd64") > 0);
    assert_true(bls_vercmp("1.0", "1.0") == 0);
    assert_true(bls_vercmp("1.0~rc1", "1.0") < 0);
    assert_true(bls_vercmp("1.0a", "1.0") > 0);
    assert_true(bls_vercmp("1.0.1", "1.0a") > 0);   /* digits beat letters */
    assert_true(bls_vercmp("001", "1") == 0);
    assert_true(bls_vercmp("2.10", "2.9") > 0);
}

static void bls_parse_rules(void **state)
{
    (void)state;
    struct bls_entry e;
    char err[256];
    const char *text = "# a comment\n  title  Some   title \r\nversion 1.2\nlinux /vmlinuz\ninitrd /ucode.img\n"
                       "initrd /initramfs.img\noptions root=/dev/vda1\noptions quiet\nsort-key fedora\n\n";
    assert_int_equal(bls_parse(text, strlen(text), "x", &e, err, sizeof(err)), 0);
    assert_string_equal(e.title, "Some   title");
    assert_string_equal(e.kernel, "/vmlinuz");
    assert_int_equal(e.ninitrd, 2);
    assert_string_equal(e.initrd[1], "/initramfs.img");
    assert_string_equal(e.options, "root=/dev/vda1 quiet");
    bls_entry_free(&e);
    const char *bad = "title x\nlinux /v\x01mlinuz\n";
    assert_int_equal(bls_parse(bad, strlen(bad), "x", &e, err, sizeof(err)), -1);
    assert_string_equal(err, "x.conf:2: control character (byte 0x01); expected text");
    char many[4096] = "";
    for (int i = 0; i < 9; i++)
        strcat(many, "initrd /i\n");
    assert_int_equal(bls_parse(many, strlen(many), "m", &e, err, sizeof(err)), -1);
    assert_string_equal(err, "m.conf:9: more than 8 initrd lines");
}

/* ---- the language ---- */

static void language(void **state)
{
    (void)state;
    struct bl_entry e;
    char err[512];
    /* Variables, quoting, word splitting, functions with arguments,
     * loops, if/elif/else, test operators, menuentry arguments. */
    const char *cfg =
        "set a='one two'\n"
        "b=\"x${a}y\"\n"
        "function add { set opts=\"$opts $1\"; return 0; }\n"
        "for w in alpha beta; do add $w; done\n"
        "i=0\n"
        "if [ -z \"$nothing\" -a x\"$a\" != x ]; then add ok1; fi\n"
        "if [ -z \"$nothing\" -a x$a != x ]; then add split-words-make-a-bad-test; fi\n"
        "if [ 3 -lt 2 ]; then add bad; elif [ \"$b\" = \"xone twoy\" ]; then add ok2; else add bad; fi\n"
        "if ! [ -e /no/such ]; then add ok3; fi\n"
        "if [ -f /vmlinuz ]; then add ok4; fi\n"
        "while [ \"$i\" != 3 ]; do if [ $i = 0 ]; then i=1; elif [ $i = 1 ]; then i=2; else i=3; fi; done\n"
        "menuentry \"T $i\" --class x extra\\ arg {\n"
        "  linux /vmlinuz $opts a\\ b 'q\"' \"$1\" # comment\n"
        "  initrd /initrd\n"
        "}\n";
    EXPECT_OK(run_text(cfg, NULL, &e, err, sizeof(err)), err);
    assert_string_equal(e.title, "T 3");
    assert_string_equal(e.cmdline, "BOOT_IMAGE=/vmlinuz alpha beta ok1 ok2 ok3 ok4 a b q\" extra arg");
    /* GRUB's paths: (device)/path and $root. */
    cfg = "menuentry a { set root=(hd0,msdos1); linux ($root)/vmlinuz root=/dev/vda1; initrd (hd0,1)/initrd; }";
    EXPECT_OK(run_text(cfg, NULL, &e, err, sizeof(err)), err);
    assert_string_equal(e.cmdline, "BOOT_IMAGE=(hd0,msdos1)/vmlinuz root=/dev/vda1");
    /* search --label and --file set the variable they are told. */
    cfg = "search --no-floppy --label root --set=dev\nsearch -f /initrd --set=x\n"
          "menuentry a { linux ($dev)/vmlinuz $x; }";
    EXPECT_OK(run_text(cfg, NULL, &e, err, sizeof(err)), err);
    assert_string_equal(e.cmdline, "BOOT_IMAGE=(hd0,msdos1)/vmlinuz hd0,msdos1");
    /* RHEL 7's EFI commands. */
    EXPECT_OK(run_text("menuentry r { linuxefi /vmlinuz ro; initrdefi /initrd; }", NULL, &e, err, sizeof(err)), err);
    assert_string_equal(e.cmdline, "BOOT_IMAGE=/vmlinuz ro");
    assert_int_equal(e.ninitrd, 1);
    /* A grub.cfg that loads a kernel without any menu. */
    EXPECT_OK(run_text("linux /vmlinuz quiet\ninitrd /initrd\nboot\n", NULL, &e, err, sizeof(err)), err);
    assert_string_equal(e.cmdline, "BOOT_IMAGE=/vmlinuz quiet");
}

static void language_errors(void **state)
{
    (void)state;
    struct bl_entry e;
    char err[512];
    static const struct {
        const char *cfg, *text;
    } cases[] = {
        {"menuentry 'a' {\n linux /vmlinuz\n", "grub.cfg:1: 'menuentry': '{' without its '}'"},
        {"set a='x\n", "grub.cfg:1: unterminated single quote"},
        {"if true; then\n  x\n", "grub.cfg:1: 'if' without its 'fi'"},
        {"fi\n", "grub.cfg:1: unexpected 'fi'"},
        {"}\n", "grub.cfg:1: '}' without its '{'"},
        {"menuentry {\n}\n", "grub.cfg:1: 'menuentry' without a title"},
        {"", "defines no menu entry"},
        {"menuentry a { insmod ext2; }", "entry 'a' loads no kernel (it has no 'linux' command)"},
        {"menuentry w { chainloader +1; }", "entry 'w' boots with 'chainloader', which vireo cannot do"},
        {"menuentry x { linux /missing; }", "grub.cfg:1: linux: (hd0,msdos1)/missing does not exist"},
        {"menuentry x { linux /vmlinuz; initrd /missing; }", "initrd: (hd0,msdos1)/missing does not exist"},
        {"menuentry x { linux (hd1,1)/vmlinuz; }", "device 'hd1,1' is not the boot disk"},
        {"menuentry x { linux (hd0,7)/vmlinuz; }", "(hd0,7): no such partition"},
        {"menuentry x { linux (lvm/vg-root)/vmlinuz; }", "device 'lvm/vg-root' is not the boot disk"},
        {"menuentry x { linux vmlinuz; }", "'vmlinuz' is not an absolute path"},
        {"menuentry x { initrd /initrd; }", "initrd before linux"},
        {"while true; do x=1; done", "a loop runs more than 1024 times"},
        {"function f { f; }\nf", "functions call each other more than 16 deep"},
        {"source /boot/grub/grub.cfg", "source/configfile nested more than 8 deep"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = run_text(cases[i].cfg, NULL, &e, err, sizeof(err));
        if (r == 0 || !strstr(err, cases[i].text))
            fail_msg("case %zu: got %d '%s', expected an error with '%s'", i, r, r ? err : "", cases[i].text);
    }
}

/* Hostile sizes: all bounded, each an error that says which bound. */
static void limits(void **state)
{
    (void)state;
    struct bl_entry e;
    char err[512];
    size_t n = 1100 * 30;
    char *many = malloc(n + 1);
    size_t o = 0;
    for (int i = 0; i < 1100; i++)
        o += (size_t)snprintf(many + o, n + 1 - o, "menuentry m%d {\n}\n", i);
    EXPECT_ERR(run_text(many, NULL, &e, err, sizeof(err)), err, "more than 1024 menu entries");
    free(many);
    /* Nesting deeper than the parser's bound. */
    char deep[4096] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "if true; then ");
    EXPECT_ERR(run_text(deep, NULL, &e, err, sizeof(err)), err, "blocks nested more than 32 deep");
    /* A value that doubles until it is too long. */
    EXPECT_ERR(run_text("a=xxxxxxxxxxxxxxxx\nfor i in 1 2 3 4 5 6 7 8 9 10 11 12; do a=\"$a$a\"; done", NULL, &e, err,
                        sizeof(err)),
               err, "longer than 16384 bytes");
    /* A command line longer than 4 KiB. */
    char *longcmd = malloc(6000);
    strcpy(longcmd, "menuentry x { linux /vmlinuz ");
    memset(longcmd + strlen(longcmd), 'a', 4500);
    strcpy(longcmd + 29 + 4500, " ; }");
    EXPECT_ERR(run_text(longcmd, NULL, &e, err, sizeof(err)), err, "longer than 4096 bytes");
    free(longcmd);
    /* NUL bytes are not text. */
    struct gs_script *s;
    assert_int_equal(gs_parse("a\nb\0c", 5, "f", &s, err, sizeof(err)), -1);
    assert_string_equal(err, "f:2: a NUL byte; expected text");
}

/* configfile replaces the menu (Fedora's EFI stub grub.cfg works so). */
static void configfile(void **state)
{
    (void)state;
    struct mem_host m;
    struct bl_entry e;
    char err[512];
    mem_host_init(&m, "gpt");
    mem_host_part(&m, 1, "1111", "");
    mem_host_part(&m, 2, BOOT_UUID, "");
    add_text(&m, 1, "/EFI/fedora/grub.cfg",
             "menuentry stale { linux /x; }\n"
             "search --no-floppy --fs-uuid --set=dev " BOOT_UUID "\nset prefix=($dev)/grub2\n"
             "export $prefix\nconfigfile $prefix/grub.cfg\nmenuentry after { linux /x; }\n");
    add_text(&m, 2, "/grub2/grub.cfg", "search --no-floppy --fs-uuid --set=root " BOOT_UUID "\n"
                                       "menuentry real { linux /vmlinuz; }\n");
    add_text(&m, 2, "/vmlinuz", "k");
    EXPECT_OK(run_cfg(&m, 1, "/EFI/fedora", NULL, &e, err, sizeof(err)), err);
    assert_string_equal(e.title, "real");
    assert_int_equal(e.kernel.part, 2);
    mem_host_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(debian_default),
        cmocka_unit_test(debian_entries),
        cmocka_unit_test(debian_saved_entry),
        cmocka_unit_test(ubuntu_separate_boot),
        cmocka_unit_test(fedora_bls),
        cmocka_unit_test(bls_alone),
        cmocka_unit_test(vercmp),
        cmocka_unit_test(bls_parse_rules),
        cmocka_unit_test(language),
        cmocka_unit_test(language_errors),
        cmocka_unit_test(limits),
        cmocka_unit_test(configfile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
