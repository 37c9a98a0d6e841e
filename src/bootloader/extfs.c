#include "bootloader/extfs.h"
#include "util/err.h"

#include <errno.h>
#include <et/com_err.h>
#include <ext2fs/ext2_err.h>
#include <ext2fs/ext2fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct extfs {
    ext2_filsys fs;
    struct bl_region region;
};

struct extfs_file {
    ext2_file_t file;
};

/* ---- the io_manager: reads through the region, refuses writes ---- */

/* ext2fs_open2() hands the manager only a name; the region to read is
 * passed beside it.  The finder runs single-threaded (in its child). */
static const struct bl_region *pending_region;
static struct struct_io_manager bl_io_manager;

static errcode_t cb_open(const char *name, int flags, io_channel *channel)
{
    if (flags & IO_FLAG_RW)
        return EROFS;
    if (!pending_region)
        return EXT2_ET_BAD_DEVICE_NAME;
    io_channel io = calloc(1, sizeof(*io));
    char *n = strdup(name);
    if (!io || !n) {
        free(io);
        free(n);
        return EXT2_ET_NO_MEMORY;
    }
    io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
    io->manager = &bl_io_manager;
    io->name = n;
    io->block_size = 1024;
    io->refcount = 1;
    io->private_data = (void *)pending_region;
    *channel = io;
    return 0;
}

static errcode_t cb_close(io_channel io)
{
    if (--io->refcount > 0)
        return 0;
    free(io->name);
    free(io);
    return 0;
}

static errcode_t cb_set_blksize(io_channel io, int blksize)
{
    if (blksize <= 0 || blksize > 65536)
        return EXT2_ET_INVALID_ARGUMENT;
    io->block_size = blksize;
    return 0;
}

static errcode_t cb_read64(io_channel io, unsigned long long block, int count, void *data)
{
    const struct bl_region *r = io->private_data;
    /* A negative count is a byte count (libext2fs' convention). */
    uint64_t bytes = count < 0 ? (uint64_t)-(int64_t)count : (uint64_t)count * (uint64_t)io->block_size;
    uint64_t bs = (uint64_t)io->block_size;
    if (block > UINT64_MAX / bs)
        return EXT2_ET_LLSEEK_FAILED;
    uint64_t off = block * bs;
    if (off > r->size || bytes > r->size - off) {
        memset(data, 0, bytes);
        return EXT2_ET_SHORT_READ;   /* a block number past the partition: corrupt metadata */
    }
    if (bl_region_read(r, off, data, bytes) < 0)
        return errno ? errno : EIO;
    return 0;
}

static errcode_t cb_read(io_channel io, unsigned long block, int count, void *data)
{
    return cb_read64(io, block, count, data);
}

static errcode_t cb_write(io_channel io, unsigned long block, int count, const void *data)
{
    (void)io, (void)block, (void)count, (void)data;
    return EROFS;
}

static errcode_t cb_write64(io_channel io, unsigned long long block, int count, const void *data)
{
    (void)io, (void)block, (void)count, (void)data;
    return EROFS;
}

static errcode_t cb_write_byte(io_channel io, unsigned long off, int count, const void *data)
{
    (void)io, (void)off, (void)count, (void)data;
    return EROFS;
}

static errcode_t cb_flush(io_channel io)
{
    (void)io;
    return 0;
}

static errcode_t cb_set_option(io_channel io, const char *option, const char *arg)
{
    (void)io, (void)option, (void)arg;
    return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager bl_io_manager = {
    .magic = EXT2_ET_MAGIC_IO_MANAGER,
    .name = "vireo bootloader (read-only)",
    .open = cb_open,
    .close = cb_close,
    .set_blksize = cb_set_blksize,
    .read_blk = cb_read,
    .write_blk = cb_write,
    .flush = cb_flush,
    .write_byte = cb_write_byte,
    .set_option = cb_set_option,
    .read_blk64 = cb_read64,
    .write_blk64 = cb_write64,
};

/* ---- the file system ---- */

static const char *why(errcode_t e)
{
    return error_message(e);
}

int extfs_open(const struct bl_region *r, struct extfs **out, char *err, size_t errlen)
{
    struct extfs *x = calloc(1, sizeof(*x));
    if (!x)
        return err_fail(err, errlen, "out of memory");
    x->region = *r;
    /* The messages error_message() gives for libext2fs' own codes. */
    static bool table;
    if (!table) {
        initialize_ext2_error_table();
        table = true;
    }
    pending_region = &x->region;
    errcode_t e = ext2fs_open2("guest", NULL, EXT2_FLAG_64BITS, 0, 0, &bl_io_manager, &x->fs);
    pending_region = NULL;
    if (e) {
        free(x);
        return err_fail(err, errlen, "cannot open the file system: %s", why(e));
    }
    *out = x;
    return 0;
}

void extfs_close(struct extfs *x)
{
    if (!x)
        return;
    ext2fs_close_free(&x->fs);
    free(x);
}

static int lookup(struct extfs *x, const char *path, bool follow, ext2_ino_t *ino, char *err, size_t errlen)
{
    if (path[0] != '/')
        return err_fail(err, errlen, "internal error: relative path '%s'", path);
    if (strlen(path) >= EXTFS_MAX_PATH)
        return err_fail(err, errlen, "path of %zu bytes is too long (at most %d)", strlen(path), EXTFS_MAX_PATH - 1);
    errcode_t e = follow ? ext2fs_namei_follow(x->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, ino)
                         : ext2fs_namei(x->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, ino);
    if (e == EXT2_ET_FILE_NOT_FOUND || e == EXT2_ET_NO_DIRECTORY || e == ENOENT || e == ENOTDIR)
        return 1;
    if (e == EXT2_ET_SYMLINK_LOOP)
        return err_fail(err, errlen, "%s: too many symbolic links in a row, or a loop", path);
    if (e)
        return err_fail(err, errlen, "%s: %s", path, why(e));
    return 0;
}

static int read_inode(struct extfs *x, ext2_ino_t ino, struct ext2_inode *in, const char *path, char *err,
                      size_t errlen)
{
    errcode_t e = ext2fs_read_inode(x->fs, ino, in);
    if (e)
        return err_fail(err, errlen, "%s: %s", path, why(e));
    return 0;
}

int extfs_stat(struct extfs *x, const char *path, enum extfs_type *type, uint64_t *size, char *err, size_t errlen)
{
    ext2_ino_t ino;
    int r = lookup(x, path, true, &ino, err, errlen);
    if (r)
        return r;
    struct ext2_inode in;
    if (read_inode(x, ino, &in, path, err, errlen) < 0)
        return -1;
    *type = LINUX_S_ISREG(in.i_mode) ? EXTFS_REG : LINUX_S_ISDIR(in.i_mode) ? EXTFS_DIR : EXTFS_OTHER;
    *size = EXT2_I_SIZE(&in);
    return 0;
}

int extfs_file_open(struct extfs *x, const char *path, struct extfs_file **out, uint64_t *size, char *err,
                    size_t errlen)
{
    ext2_ino_t ino;
    int r = lookup(x, path, true, &ino, err, errlen);
    if (r)
        return r;
    struct ext2_inode in;
    if (read_inode(x, ino, &in, path, err, errlen) < 0)
        return -1;
    if (!LINUX_S_ISREG(in.i_mode))
        return err_fail(err, errlen, "%s is not a regular file", path);
    struct extfs_file *f = calloc(1, sizeof(*f));
    if (!f)
        return err_fail(err, errlen, "out of memory");
    errcode_t e = ext2fs_file_open2(x->fs, ino, &in, 0, &f->file);
    if (e) {
        free(f);
        return err_fail(err, errlen, "%s: %s", path, why(e));
    }
    *size = EXT2_I_SIZE(&in);
    *out = f;
    return 0;
}

long extfs_file_read(struct extfs_file *f, void *buf, size_t len, char *err, size_t errlen)
{
    unsigned int got = 0;
    if (len > (1u << 30))
        len = 1u << 30;
    errcode_t e = ext2fs_file_read(f->file, buf, (unsigned int)len, &got);
    if (e)
        return err_fail(err, errlen, "%s", why(e));
    return (long)got;
}

void extfs_file_close(struct extfs_file *f)
{
    if (!f)
        return;
    ext2fs_file_close(f->file);
    free(f);
}

int extfs_read_file(struct extfs *x, const char *path, size_t max, char **buf, size_t *len, char *err,
                    size_t errlen)
{
    struct extfs_file *f;
    uint64_t size;
    int r = extfs_file_open(x, path, &f, &size, err, errlen);
    if (r)
        return r;
    if (size > max) {
        extfs_file_close(f);
        return err_fail(err, errlen, "%s is %llu bytes; at most %zu are read from a file like it", path,
                    (unsigned long long)size, max);
    }
    char *b = malloc((size_t)size + 1);
    if (!b) {
        extfs_file_close(f);
        return err_fail(err, errlen, "out of memory");
    }
    size_t n = 0;
    while (n < size) {
        long got = extfs_file_read(f, b + n, (size_t)size - n, err, errlen);
        if (got < 0 || got == 0) {
            if (got == 0)
                err_fail(err, errlen, "%s: ends after %zu of its %llu bytes", path, n, (unsigned long long)size);
            free(b);
            extfs_file_close(f);
            return -1;
        }
        n += (size_t)got;
    }
    extfs_file_close(f);
    b[n] = 0;
    *buf = b;
    *len = n;
    return 0;
}

int extfs_readlink(struct extfs *x, const char *path, char *target, size_t len, char *err, size_t errlen)
{
    ext2_ino_t ino;
    int r = lookup(x, path, false, &ino, err, errlen);
    if (r)
        return r;
    struct ext2_inode in;
    if (read_inode(x, ino, &in, path, err, errlen) < 0)
        return -1;
    if (!LINUX_S_ISLNK(in.i_mode))
        return 1;
    uint64_t size = EXT2_I_SIZE(&in);
    if (!size || size >= len)
        return err_fail(err, errlen, "%s: a symbolic link of %llu bytes", path, (unsigned long long)size);
    if (ext2fs_is_fast_symlink(&in)) {
        if (size >= sizeof(in.i_block))
            return err_fail(err, errlen, "%s: corrupt symbolic link", path);
        memcpy(target, in.i_block, (size_t)size);
    } else {
        ext2_file_t file = NULL;
        errcode_t e = ext2fs_file_open2(x->fs, ino, &in, 0, &file);
        unsigned int got = 0;
        if (!e)
            e = ext2fs_file_read(file, target, (unsigned int)size, &got);
        if (!e && got != size)
            e = EXT2_ET_SHORT_READ;
        if (file)
            ext2fs_file_close(file);
        if (e)
            return err_fail(err, errlen, "%s: %s", path, why(e));
    }
    target[size] = 0;
    if (memchr(target, 0, (size_t)size))
        return err_fail(err, errlen, "%s: symbolic link with a NUL byte", path);
    return 0;
}

struct list_ctx {
    char **names;
    unsigned n, max;
    bool too_many, nomem;
};

static int list_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset, int blocksize, char *buf,
                   void *priv)
{
    (void)dir, (void)entry, (void)offset, (void)blocksize, (void)buf;
    struct list_ctx *c = priv;
    int len = ext2fs_dirent_name_len(d);
    if ((len == 1 && d->name[0] == '.') || (len == 2 && d->name[0] == '.' && d->name[1] == '.'))
        return 0;
    if (c->n == c->max) {
        c->too_many = true;
        return DIRENT_ABORT;
    }
    char *s = strndup(d->name, (size_t)len);
    if (!s) {
        c->nomem = true;
        return DIRENT_ABORT;
    }
    c->names[c->n++] = s;
    return 0;
}

void extfs_list_free(char **names, unsigned n)
{
    for (unsigned i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

int extfs_list(struct extfs *x, const char *dir, unsigned max, char ***names, unsigned *n, char *err,
               size_t errlen)
{
    ext2_ino_t ino;
    int r = lookup(x, dir, true, &ino, err, errlen);
    if (r)
        return r;
    struct list_ctx c = {.names = calloc(max ? max : 1, sizeof(char *)), .max = max};
    if (!c.names)
        return err_fail(err, errlen, "out of memory");
    errcode_t e = ext2fs_dir_iterate2(x->fs, ino, 0, NULL, list_cb, &c);
    if (e == EXT2_ET_NO_DIRECTORY) {
        extfs_list_free(c.names, c.n);
        return 1;
    }
    if (e || c.too_many || c.nomem) {
        extfs_list_free(c.names, c.n);
        if (c.too_many)
            return err_fail(err, errlen, "%s has more than %u entries", dir, max);
        return err_fail(err, errlen, "%s: %s", dir, c.nomem ? "out of memory" : why(e));
    }
    *names = c.names;
    *n = c.n;
    return 0;
}
