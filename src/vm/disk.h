/* One disk as the assembling layer builds it: the image (block/bdev, in
 * the format the configuration names), the I/O threads serving its queues
 * (eventloop/iothread_group) and the virtio-blk device model (virtio/blk)
 * on them.  vm_disks.c puts it behind virtio-pci, `vireo disk serve`
 * behind vhost-user. */
#ifndef VIREO_VM_DISK_H
#define VIREO_VM_DISK_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

#include "block/bdev.h"
#include "eventloop/iothread_group.h"
#include "virtio/blk.h"

/* What `--disk`, `vireo disk serve` and xl.cfg's disk= say about a disk. */
struct disk_opts {
    const char *path;
    enum bdev_format format;   /* from the configuration, never guessed; raw by default */
    bool no_backing;           /* backing=off: refuse a qcow2 image that names a backing file */
    bool ro;
    enum blk_cache cache;
    enum aio_kind aio;
    unsigned queues;
    char serial[VBLK_SERIAL_LEN + 1];
    unsigned iothreads;        /* 0: serve on the main loop */
    unsigned poll_us;          /* I/O threads busy-poll up to this long */
    bool pin_iothreads;        /* the I/O threads run only on iothread_cpus */
    cpu_set_t iothread_cpus;
    /* The image, opened beforehand by disk_image_open() and kept by the
     * caller: a VM process opens its images once, before it gives up root
     * and every path (see vm_resources.h), and each restart reuses them.
     * NULL: disk_open opens the image and disk_close closes it. */
    struct bdev *image;
    const char *ro_hint;       /* bdev_opts.ro_hint */
};

#define DISK_POLL_US         32    /* QEMU's iothread default, 32768 ns */
#define DISK_POLL_MIN_CPUS   4
#define DISK_MAX_POLL_US     1000
#define DISK_DEFAULT_IOTHREADS 1

/* The poll-us default: DISK_POLL_US on hosts with at least
 * DISK_POLL_MIN_CPUS online CPUs, else 0.  On small hosts a spinning I/O
 * thread takes the CPU that the guest's vCPUs and io_uring's workers need
 * (measured on 2 CPUs: 25 % fewer IOPS at QD32 with polling). */
unsigned disk_default_poll_us(void);

/* The defaults `vireo run --disk` and `vireo create` share: writeback
 * cache, one I/O thread, engine chosen automatically, the poll-us default;
 * queues 0 (the caller picks one per vCPU). */
void disk_opts_defaults(struct disk_opts *o, const char *path);

struct disk {
    struct bdev *bs;
    bool owns_image;           /* opened by disk_open (o->image was NULL) */
    struct iothread_group threads;
    struct vblk *blk;
    unsigned queues;
};

/* Opens the image of o as its options say (format, cache, read-only,
 * engine, the image lock): the part of a disk that needs the caller's
 * privileges and a path.  NULL with the reason in err. */
struct bdev *disk_image_open(const struct disk_opts *o, char *err, size_t errlen);

/* Opens the image (or takes o->image), starts the I/O threads and builds
 * the device model on them; main_loop serves the queues when o->iothreads
 * is 0.  -1 with the reason in err (and nothing left open or running). */
int disk_open(struct disk *d, const struct disk_opts *o, struct event_loop *main_loop, char *err, size_t errlen);
/* One line for the log: image, size, cache, engine, queues and threads. */
void disk_describe(const struct disk *d, char *buf, size_t len);
/* After the queues were stopped; closes (and so flushes) the image if
 * disk_open opened it. */
void disk_close(struct disk *d);

#endif
