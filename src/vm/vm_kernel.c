#include "vm/vm_kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/file.h"
#include "util/log.h"
#include "x86/bzimage.h"
#include "x86/elf_kernel.h"
#include "x86/kernel_payload.h"

/* A bzImage larger than this is not a kernel (Debian's are ~8 MiB). */
#define BZIMAGE_MAX_MAP (256ULL << 20)

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

/* Parses r->vmlinux into r->vmlinux_elf: 0, or -1 with err. */
static int parse_vmlinux(struct vm_resources *r, char *err, size_t errlen)
{
    const uint8_t *p = kernel_cache_map(&r->vmlinux);
    if (!p) {
        snprintf(err, errlen, "mmap: %s", strerror(errno));
        return -1;
    }
    int rc = elf_kernel_parse(p, r->vmlinux.len, &r->vmlinux_elf, err, errlen);
    kernel_cache_unmap(&r->vmlinux, p);
    return rc;
}

int vm_kernel_prepare(struct vm_resources *r, const struct vm_params *p)
{
    uint8_t head[4] = {0};
    if (r->kernel_size >= sizeof(head) && read_full_at(r->kernel_fd, head, sizeof(head), 0) < 0) {
        vlog_err("kernel %s: %s", p->kernel_path, strerror(errno));
        return -1;
    }
    char err[256];
    if (elf_kernel_is_elf(head, r->kernel_size >= sizeof(head) ? sizeof(head) : 0)) {
        if (p->boot_protocol == VM_BOOT_LINUX) {
            vlog_err("kernel %s is an ELF vmlinux, which boots only through PVH; --boot-protocol linux needs a "
                     "bzImage", p->kernel_path);
            return -1;
        }
        r->vmlinux = (struct cached_kernel){fcntl(r->kernel_fd, F_DUPFD_CLOEXEC, 0), 0, r->kernel_size, false};
        r->kernel_is_elf = true;
        if (r->vmlinux.fd < 0 || parse_vmlinux(r, err, sizeof(err)) < 0) {
            vlog_err("kernel %s: %s; --kernel takes a bzImage or an x86-64 ELF vmlinux", p->kernel_path,
                     r->vmlinux.fd < 0 ? strerror(errno) : err);
            return -1;
        }
        return 0;   /* without a PVH note: vm_check_kernel says so */
    }
    if (p->boot_protocol == VM_BOOT_LINUX || r->kernel_size > BZIMAGE_MAX_MAP || r->kernel_size == 0)
        return 0;   /* what is wrong with the file is vm_check_kernel's to say */
    void *map = mmap(NULL, (size_t)r->kernel_size, PROT_READ, MAP_PRIVATE, r->kernel_fd, 0);
    if (map == MAP_FAILED) {
        vlog_err("kernel %s: mmap: %s", p->kernel_path, strerror(errno));
        return -1;
    }
    /* auto: PVH only where it saves the guest more than it costs the host.
     * An xz payload is most of an xz kernel's boot (the generic kernel:
     * 0.45x its bzImage boot through PVH); LZ4 (the cloud kernel), gzip and
     * zstd unpack in the guest about as fast as the host can hash and copy
     * the 50-65 MiB vmlinux (the cloud kernel: 1.21x), and the copy and the
     * cache lookup cost the VMM 10-100 CPU-ms at each start. */
    if (p->boot_protocol == VM_BOOT_AUTO) {
        struct bzimage bz;
        const uint8_t *payload;
        uint64_t plen;
        if (bzimage_parse(map, r->kernel_size, r->kernel_size, &bz, err, sizeof(err)) < 0 ||
            kernel_payload_find(map, r->kernel_size, &bz, &payload, &plen, err, sizeof(err)) < 0 ||
            kernel_payload_detect(payload, plen) != KERNEL_PAYLOAD_XZ) {
            munmap(map, (size_t)r->kernel_size);
            vlog_debug("kernel %s: booting the bzImage (--boot-protocol auto takes PVH for xz kernels only)",
                       p->kernel_path);
            return 0;
        }
    }
    char dir[4096];
    bool have_dir = kernel_cache_dir(dir, sizeof(dir));
    int rc = kernel_cache_get(have_dir ? dir : NULL, map, r->kernel_size, r->kernel_fd, &r->vmlinux, err,
                              sizeof(err));
    munmap(map, (size_t)r->kernel_size);
    if (rc < 0)
        return no_pvh(p, err);
    rc = parse_vmlinux(r, err, sizeof(err));
    if (rc < 0 || !r->vmlinux_elf.has_pvh) {
        kernel_cache_release(&r->vmlinux);
        return no_pvh(p, rc < 0 ? err : "its kernel has no PVH entry (built without CONFIG_PVH)");
    }
    vlog_debug("kernel %s: booting through PVH, the vmlinux %s", p->kernel_path,
               r->vmlinux.from_cache ? "from the cache" : "decompressed now");
    return 0;
}
