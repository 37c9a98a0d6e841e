/* The file access an image format needs for its own metadata: positioned
 * reads and writes, a write barrier, the size, growth and hole punching,
 * on an fd-like handle.  The qcow2 core does all its file I/O through it,
 * so the tests and the fuzzer run the core on a file in memory and vireo
 * runs it on a descriptor; the data I/O of a mapped request is done by the
 * caller, which may use `fd` with its own (asynchronous) engine. */
#ifndef VIREO_BLOCK_BFILE_H
#define VIREO_BLOCK_BFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bfile;

struct bfile_ops {
    /* len bytes at off; bytes past the end of the file read as zeroes.
     * 0 or -errno. */
    int (*pread)(struct bfile *f, void *buf, size_t len, uint64_t off);
    /* All of it or -errno; a write past the end grows the file. */
    int (*pwrite)(struct bfile *f, const void *buf, size_t len, uint64_t off);
    /* Everything written so far is on stable storage (fdatasync). */
    int (*sync)(struct bfile *f);
    int (*size)(struct bfile *f, uint64_t *size);
    /* Sets the size (the image only ever grows it). */
    int (*truncate)(struct bfile *f, uint64_t size);
    /* Deallocates [off, off+len), which reads as zeroes afterwards;
     * -EOPNOTSUPP where the file cannot. */
    int (*punch)(struct bfile *f, uint64_t off, uint64_t len);
    void (*close)(struct bfile *f);
};

struct bfile {
    const struct bfile_ops *ops;
    int fd;            /* for the caller's data I/O; -1 when not a descriptor */
    /* Identity for backing-chain loop detection (st_dev/st_ino). */
    uint64_t dev, ino;
    /* What I/O on fd needs (bfile_fd_open fills them; 0 or 1: nothing):
     * with O_DIRECT, file offsets and lengths multiples of align and
     * buffer addresses multiples of mem_align, as dio_probe found. */
    uint32_t align, mem_align;
    bool direct;       /* opened with O_DIRECT */
    bool is_bdev;      /* a block device (else a regular file) */
    uint32_t logical_block;   /* a block device's logical block size; 512 for files */
};

static inline int bfile_pread(struct bfile *f, void *buf, size_t len, uint64_t off)
{
    return f->ops->pread(f, buf, len, off);
}
static inline int bfile_pwrite(struct bfile *f, const void *buf, size_t len, uint64_t off)
{
    return f->ops->pwrite(f, buf, len, off);
}
static inline int bfile_sync(struct bfile *f) { return f->ops->sync(f); }
static inline int bfile_size(struct bfile *f, uint64_t *size) { return f->ops->size(f, size); }
static inline int bfile_truncate(struct bfile *f, uint64_t size) { return f->ops->truncate(f, size); }
static inline int bfile_punch(struct bfile *f, uint64_t off, uint64_t len)
{
    return f->ops->punch(f, off, len);
}
static inline void bfile_close(struct bfile *f)
{
    if (f)
        f->ops->close(f);
}

/* Opens path (a regular file or a block device) and takes an OFD lock on
 * it: a write lock when read-write, a read lock when read-only, so one
 * writer excludes everyone else while any number of readers (VMs sharing a
 * base image) coexist.  `direct` opens with O_DIRECT, with the alignment
 * it needs probed (dio_probe) into align/mem_align; requests that are not
 * aligned for it are bounced (a read-modify-write for writes: fine for
 * metadata, written under the image's lock; data I/O of an O_DIRECT image
 * must come aligned).  The one way every image file is opened: raw disks,
 * qcow2 images and their backing files.  -errno with a message "PATH:
 * why" in err (-EACCES/-EROFS: no permission to open it so; -EAGAIN: locked
 * by someone else). */
int bfile_fd_open(struct bfile **out, const char *path, bool ro, bool direct, char *err, size_t errlen);

/* Who else holds an OFD lock on the file open at fd: F_UNLCK (nobody),
 * F_RDLCK (readers: a read-only disk, a backing file) or F_WRLCK (a
 * writer: a running VM's disk); -errno if it cannot tell. */
int bfile_lock_probe(int fd);

/* Takes ownership of fd, already open (and locked if need be); align is
 * what O_DIRECT needs of offsets, lengths and buffers (1: buffered). */
struct bfile *bfile_fd_wrap(int fd, uint32_t align);

#endif
