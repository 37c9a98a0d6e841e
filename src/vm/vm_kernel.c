#include "vm/vm_kernel.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "util/file.h"
#include "util/log.h"
#include "x86/elf_kernel.h"

/* A bzImage larger than this is not a kernel (Debian's are ~8 MiB). */
#define BZIMAGE_MAX_MAP (256ULL << 20)

static int map_file(int fd, uint64_t size, void **map)
{
    *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    return *map == MAP_FAILED ? -1 : 0;
}

/* Why the bzImage cannot boot through PVH: an error when forced. */
static int no_pvh(const struct vm_params *p, const char *why)
{
    if (p->boot_protocol == VM_BOOT_PVH) {
        vlog_err("kernel %s: cannot boot through PVH (--boot-protocol pvh): %s", p->kernel_path, why);
        return -1;
    }
    vlog_debug("kernel %s: booting the bzImage, not PVH: %s", p->kernel_path, why);
    return 0;
}

int vm_kernel_prepare(struct vm_resources *r, const struct vm_params *p)
{
    uint8_t head[4] = {0};
    if (r->kernel_size >= sizeof(head) && read_full_at(r->kernel_fd, head, sizeof(head), 0) < 0) {
        vlog_err("kernel %s: %s", p->kernel_path, strerror(errno));
        return -1;
    }
    void *map;
    if (elf_kernel_is_elf(head, r->kernel_size >= sizeof(head) ? sizeof(head) : 0)) {
        if (p->boot_protocol == VM_BOOT_LINUX) {
            vlog_err("kernel %s is an ELF vmlinux, which boots only through PVH; --boot-protocol linux needs a "
                     "bzImage", p->kernel_path);
            return -1;
        }
        if (map_file(r->kernel_fd, r->kernel_size, &map) < 0) {
            vlog_err("kernel %s: mmap: %s", p->kernel_path, strerror(errno));
            return -1;
        }
        r->vmlinux = (struct cached_kernel){map, r->kernel_size, map, (size_t)r->kernel_size, false};
        r->kernel_is_elf = true;
        return 0;
    }
    if (p->boot_protocol == VM_BOOT_LINUX || r->kernel_size > BZIMAGE_MAX_MAP || r->kernel_size == 0)
        return 0;   /* what is wrong with the file is vm_check_kernel's to say */
    if (map_file(r->kernel_fd, r->kernel_size, &map) < 0) {
        vlog_err("kernel %s: mmap: %s", p->kernel_path, strerror(errno));
        return -1;
    }
    char dir[4096], err[256];
    bool have_dir = kernel_cache_dir(dir, sizeof(dir));
    struct cached_kernel ck;
    int rc = kernel_cache_get(have_dir ? dir : NULL, map, r->kernel_size, &ck, err, sizeof(err));
    munmap(map, (size_t)r->kernel_size);
    if (rc < 0)
        return no_pvh(p, err);
    struct elf_kernel k;
    int prc = elf_kernel_parse(ck.data, ck.len, &k, err, sizeof(err));
    if (prc < 0 || !k.has_pvh) {
        kernel_cache_release(&ck);
        return no_pvh(p, prc < 0 ? err : "its kernel has no PVH entry (built without CONFIG_PVH)");
    }
    r->vmlinux = ck;
    return 0;
}
