#include "vm/boot_disk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/bdev.h"
#include "bootloader/sandbox.h"
#include "util/log.h"
#include "vm/vm.h"
#include "x86/e820.h"

/* In the sandboxed child. */
static int read_disk(void *ctx, uint64_t offset, void *buf, size_t len)
{
    int r = bdev_pread(ctx, offset, buf, len);
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return 0;
}

int boot_disk_load(const struct vm_params *cfg, struct bdev *bs, struct boot_disk_images *out)
{
    memset(out, 0, sizeof(*out));
    const struct vm_boot_disk *b = cfg->boot_disk;
    if (b->disk >= cfg->ndisks) {
        vlog_err("booting from disk %u: the VM has %u disk%s", b->disk, cfg->ndisks, cfg->ndisks == 1 ? "" : "s");
        return -1;
    }
    const struct disk_opts *d = &cfg->disks[b->disk];
    const char *path = d->path;
    char err[1024];
    uint64_t low = ram_layout_for(cfg->ram_size).low_size;
    struct bl_options o = {
        .entry = b->entry, .kernel = b->kernel, .ramdisk = b->ramdisk, .max_initrd = low,
    };
    int fds[SANDBOX_MAX_IN];
    unsigned nfds = bdev_fds(bs, fds, SANDBOX_MAX_IN);
    struct bl_disk disk = {read_disk, bs, bs->size};
    int r = -1, sr;
    if (nfds > SANDBOX_MAX_IN)
        snprintf(err, sizeof(err), "its backing chain has more than %d files", SANDBOX_MAX_IN);
    /* The sandboxed child reads through its copy of the image's state:
     * with nothing dirty (at a restart, what the guest wrote may be), no
     * read of its writes the image back, which is the parent's alone. */
    else if ((sr = bdev_sync(bs)) < 0)
        snprintf(err, sizeof(err), "writing it back first failed: %s", strerror(-sr));
    else
        r = bootloader_load(&disk, fds, nfds, &o, &out->r, err, sizeof(err));
    if (r < 0) {
        vlog_err("disk %u (%s): no kernel to boot from it: %s", b->disk, path, err);
        return -1;
    }
    if (out->r.note[0])
        vlog_info("disk %u: %s", b->disk, out->r.note);
    if (out->r.warning[0])
        vlog_info("disk %u: warning: %s", b->disk, out->r.warning);
    size_t n = strlen(out->r.cmdline), a = b->append ? strlen(b->append) : 0;
    out->cmdline = malloc(n + 1 + a + 1);
    if (!out->cmdline) {
        vlog_err("out of memory");
        return -1;
    }
    /* As pygrub: the VM's own arguments (root=, extra=) after the entry's. */
    snprintf(out->cmdline, n + 1 + a + 1, "%s%s%s", out->r.cmdline, n && a ? " " : "", a ? b->append : "");
    char *initrds = strstr(out->r.paths, ", initrd ");
    snprintf(out->kernel_name, sizeof(out->kernel_name), "disk %u's %.*s", b->disk,
             initrds ? (int)(initrds - out->r.paths) : (int)strlen(out->r.paths), out->r.paths);
    vlog_info("disk %u: booting '%s' (%s): %s; %llu + %llu bytes", b->disk, out->r.title, out->r.source,
              out->r.paths, (unsigned long long)out->r.kernel_len, (unsigned long long)out->r.initrd_len);
    return 0;
}

void boot_disk_free(struct boot_disk_images *b)
{
    bl_result_free(&b->r);
    free(b->cmdline);
    b->cmdline = NULL;
}
