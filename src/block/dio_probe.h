/* What O_DIRECT on an open file needs, found out as QEMU does rather than
 * assumed: 4 KiB-sector disks refuse 512-byte I/O. */
#ifndef VIREO_BLOCK_DIO_PROBE_H
#define VIREO_BLOCK_DIO_PROBE_H

#include <stdbool.h>
#include <stdint.h>

struct dio_align {
    uint32_t offset;           /* file offsets and lengths (and each buffer's length): multiples of it */
    uint32_t mem;              /* buffer addresses: multiples of it */
};

/* For fd, opened with O_DIRECT: statx's STATX_DIOALIGN where the kernel
 * reports it (Linux 6.1+; not tmpfs), else the device's logical block
 * size (BLKSSZGET) for block devices, else reads of increasing alignment
 * of the file's first allocated data, as QEMU probes; then the buffer
 * alignment by reads from buffers of increasing alignment.  Powers of
 * two; offset at least 512; 4096 for both when nothing can tell (a file
 * with no allocated 4 KiB to read).  use_statx false skips the first way
 * (tests of the others). */
void dio_probe(int fd, bool is_bdev, bool use_statx, struct dio_align *out);

#endif
