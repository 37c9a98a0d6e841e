/* libFuzzer target: a guest's grub.cfg and the files it reads (grubenv,
 * files it sources, BLS entries), run by the grub.cfg interpreter and the
 * BLS parser (src/bootloader/grub*.c, bls.c) against an in-memory disk.
 * The input up to the first NUL is (hd0,msdos1)/boot/grub/grub.cfg; each
 * further NUL-separated piece is "PATH\nCONTENT", one more file of
 * partition 1 (partition 2 exists too, empty, for search).  Nothing may
 * crash, hang, leak or read out of bounds; an entry that is returned must
 * name files that exist, with bounded strings; an error must say
 * something. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bootloader/bls.h"
#include "bootloader/grub.h"
#include "mem_host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(struct mem_host *m, int r, const struct bl_entry *e, const char *err)
{
    if (r < 0) {
        if (!err[0])
            abort();
        return;
    }
    uint64_t sz;
    bool dir;
    if (m->host.stat(m, e->kernel.part, e->kernel.path, &sz, &dir) != 0 || dir)
        abort();
    if (e->ninitrd > BL_MAX_INITRDS || strlen(e->cmdline) > BL_MAX_CMDLINE || strlen(e->title) > BL_MAX_TITLE)
        abort();
    for (unsigned i = 0; i < e->ninitrd; i++)
        if (m->host.stat(m, e->initrd[i].part, e->initrd[i].path, &sz, &dir) != 0 || dir)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mem_host m;
    mem_host_init(&m, "msdos");
    mem_host_part(&m, 1, "5f3ca4d0-8a3c-4d2a-9b3e-1f2e3d4c5b6a", "root");
    mem_host_part(&m, 2, "0b7e5c1a-2d3f-4e5a-8b9c-0d1e2f3a4b5c", "boot");
    const char *buf = (const char *)data;
    const char *nul = memchr(buf, 0, size);
    size_t cfglen = nul ? (size_t)(nul - buf) : size;
    size_t p = cfglen;
    while (p < size) {
        size_t s = p + 1, e = s;
        while (e < size && data[e])
            e++;
        const char *nl = memchr(buf + s, '\n', e - s);
        if (nl && buf[s] == '/') {
            char path[256];
            size_t pl = (size_t)(nl - (buf + s));
            if (pl < sizeof(path)) {
                memcpy(path, buf + s, pl);
                path[pl] = 0;
                mem_host_file(&m, 1, path, nl + 1, (size_t)(buf + e - (nl + 1)));
                struct bls_entry be;
                char err[256] = "";
                if (bls_parse(nl + 1, (size_t)(buf + e - (nl + 1)), "x", &be, err, sizeof(err)) == 0)
                    bls_entry_free(&be);
                else if (!err[0])
                    abort();
            }
        }
        p = e;
    }
    static struct bl_entry e;
    char err[512] = "";
    struct grub_start at = {1, "/boot/grub", "grub.cfg"};
    check(&m, grub_find_boot(&m.host, &at, buf, cfglen, NULL, &e, err, sizeof(err)), &e, err);
    err[0] = 0;
    check(&m, grub_find_boot(&m.host, &at, buf, cfglen, "1>1", &e, err, sizeof(err)), &e, err);
    err[0] = 0;
    check(&m, grub_find_bls_boot(&m.host, 1, "/loader/entries", NULL, &e, err, sizeof(err)), &e, err);
    mem_host_free(&m);
    return 0;
}
