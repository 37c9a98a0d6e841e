#include "memfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct jop {
    bool resize;           /* a size change to new_size, else a write of [off, off+len) */
    uint64_t off, len;
    uint64_t old_size, new_size;
    uint8_t *old, *new;    /* write: old and new bytes; shrinking resize: old = the bytes cut off */
};

/* Threads may read and write at once (the qcow2 core's callers do their
 * data I/O outside its lock): plain reads and writes inside the buffer
 * share the lock, everything that may move or resize the buffer or
 * touch the journal holds it alone. */
struct memfile {
    struct bfile f;
    pthread_rwlock_t rw;
    uint8_t *d;
    uint64_t size, cap, max;
    bool journal;
    struct jop *ops;
    size_t nops, capops;
    int64_t fail_after;
    bool lose_next_sync;
    uint64_t syncs, read_bytes;
    void (*hook)(void *ctx, struct bfile *f);
    void *hook_ctx;
};

static struct memfile *mf(struct bfile *f)
{
    return (struct memfile *)f;
}

static int reserve(struct memfile *m, uint64_t size)
{
    if (size > m->max)
        return -ENOSPC;
    if (size <= m->cap)
        return 0;
    uint64_t cap = m->cap ? m->cap : 4096;
    while (cap < size)
        cap *= 2;
    if (cap > m->max)
        cap = m->max;
    uint8_t *d = realloc(m->d, cap);
    if (!d)
        return -ENOMEM;
    memset(d + m->cap, 0, cap - m->cap);
    m->d = d;
    m->cap = cap;
    return 0;
}

static int failing(struct memfile *m)
{
    if (m->fail_after < 0)
        return 0;
    if (m->fail_after == 0)
        return -EIO;
    m->fail_after--;
    return 0;
}

static int log_op(struct memfile *m, bool resize, uint64_t off, uint64_t len, const void *newb)
{
    if (!m->journal)
        return 0;
    if (m->nops == m->capops) {
        size_t cap = m->capops ? m->capops * 2 : 64;
        struct jop *o = realloc(m->ops, cap * sizeof(*o));
        if (!o)
            return -ENOMEM;
        m->ops = o;
        m->capops = cap;
    }
    struct jop *o = &m->ops[m->nops];
    memset(o, 0, sizeof(*o));
    o->resize = resize;
    o->old_size = m->size;
    if (resize) {
        o->new_size = off;
        if (off < m->size) {
            o->old = malloc(m->size - off);
            if (!o->old)
                return -ENOMEM;
            memcpy(o->old, m->d + off, m->size - off);
        }
        m->nops++;
        return 0;
    }
    o->off = off;
    o->len = len;
    o->new_size = off + len > m->size ? off + len : m->size;
    if (len) {
        o->old = malloc(len);
        o->new = malloc(len);
        if (!o->old || !o->new) {
            free(o->old);
            free(o->new);
            return -ENOMEM;
        }
        /* Bytes past the old size read as zeroes (cap is zero-filled). */
        memcpy(o->old, m->d + off, len);
        memcpy(o->new, newb, len);
    }
    m->nops++;
    return 0;
}

static void clear_journal(struct memfile *m)
{
    for (size_t i = 0; i < m->nops; i++) {
        free(m->ops[i].old);
        free(m->ops[i].new);
    }
    m->nops = 0;
}

static int m_pread(struct bfile *f, void *buf, size_t len, uint64_t off)
{
    struct memfile *m = mf(f);
    __atomic_fetch_add(&m->read_bytes, len, __ATOMIC_RELAXED);
    pthread_rwlock_rdlock(&m->rw);
    uint64_t size = __atomic_load_n(&m->size, __ATOMIC_RELAXED);
    uint64_t n = off < size ? (len < size - off ? len : size - off) : 0;
    if (n)
        memcpy(buf, m->d + off, n);
    memset((uint8_t *)buf + n, 0, len - n);
    pthread_rwlock_unlock(&m->rw);
    return 0;
}

static int pwrite_locked(struct memfile *m, const void *buf, size_t len, uint64_t off)
{
    int r = failing(m);
    if (r)
        return r;
    if (off > m->max || len > m->max - off)
        return -ENOSPC;
    r = reserve(m, off + len);
    if (!r)
        r = log_op(m, false, off, len, buf);
    if (r)
        return r;
    memcpy(m->d + off, buf, len);
    if (off + len > m->size)
        m->size = off + len;
    return 0;
}

static int m_pwrite(struct bfile *f, const void *buf, size_t len, uint64_t off)
{
    struct memfile *m = mf(f);
    pthread_rwlock_rdlock(&m->rw);
    if (m->fail_after < 0 && !m->journal && off <= m->cap && len <= m->cap - off) {
        memcpy(m->d + off, buf, len);
        uint64_t size = __atomic_load_n(&m->size, __ATOMIC_RELAXED);
        while (off + len > size &&
               !__atomic_compare_exchange_n(&m->size, &size, off + len, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
        pthread_rwlock_unlock(&m->rw);
        return 0;
    }
    pthread_rwlock_unlock(&m->rw);
    pthread_rwlock_wrlock(&m->rw);
    int r = pwrite_locked(m, buf, len, off);
    pthread_rwlock_unlock(&m->rw);
    return r;
}

static void undo_journal(struct memfile *m, uint8_t *d, uint64_t *size);

static int m_sync(struct bfile *f)
{
    struct memfile *m = mf(f);
    pthread_rwlock_wrlock(&m->rw);
    int r = failing(m);
    if (!r && m->lose_next_sync) {
        /* The kernel could not write the pages back: they are gone. */
        m->lose_next_sync = false;
        undo_journal(m, m->d, &m->size);
        clear_journal(m);
        r = -EIO;
    }
    pthread_rwlock_unlock(&m->rw);
    if (r)
        return r;
    if (m->hook)
        m->hook(m->hook_ctx, f);
    pthread_rwlock_wrlock(&m->rw);
    clear_journal(m);
    m->syncs++;
    pthread_rwlock_unlock(&m->rw);
    return 0;
}

static int m_size(struct bfile *f, uint64_t *size)
{
    *size = __atomic_load_n(&mf(f)->size, __ATOMIC_RELAXED);
    return 0;
}

static int truncate_locked(struct memfile *m, uint64_t size)
{
    int r = failing(m);
    if (r)
        return r;
    r = reserve(m, size);
    if (!r)
        r = log_op(m, true, size, 0, NULL);
    if (r)
        return r;
    if (size < m->size)
        memset(m->d + size, 0, m->size - size);
    m->size = size;
    return 0;
}

static int m_truncate(struct bfile *f, uint64_t size)
{
    struct memfile *m = mf(f);
    pthread_rwlock_wrlock(&m->rw);
    int r = truncate_locked(m, size);
    pthread_rwlock_unlock(&m->rw);
    return r;
}

static int punch_locked(struct memfile *m, uint64_t off, uint64_t len)
{
    if (off >= m->size)
        return 0;
    if (len > m->size - off)
        len = m->size - off;
    uint8_t *z = calloc(1, len ? len : 1);
    if (!z)
        return -ENOMEM;
    /* Like a write of zeroes, as far as a crash is concerned. */
    int r = log_op(m, false, off, len, z);
    if (!r)
        memset(m->d + off, 0, len);
    free(z);
    return r;
}

static int m_punch(struct bfile *f, uint64_t off, uint64_t len)
{
    struct memfile *m = mf(f);
    pthread_rwlock_wrlock(&m->rw);
    int r = punch_locked(m, off, len);
    pthread_rwlock_unlock(&m->rw);
    return r;
}

static void m_close(struct bfile *f)
{
    struct memfile *m = mf(f);
    clear_journal(m);
    free(m->ops);
    free(m->d);
    pthread_rwlock_destroy(&m->rw);
    free(m);
}

static const struct bfile_ops mem_ops = {
    .pread = m_pread, .pwrite = m_pwrite, .sync = m_sync, .size = m_size,
    .truncate = m_truncate, .punch = m_punch, .close = m_close,
};

struct bfile *memfile_new(const void *data, uint64_t size, uint64_t max)
{
    static uint64_t ids;
    struct memfile *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->f.ops = &mem_ops;
    pthread_rwlock_init(&m->rw, NULL);
    m->f.fd = -1;
    m->f.dev = 0xfffe;             /* distinct identities for loop detection */
    m->f.ino = ++ids;
    m->max = max < size ? size : max;
    m->fail_after = -1;
    if (reserve(m, size ? size : 1) < 0) {
        free(m);
        return NULL;
    }
    if (data)
        memcpy(m->d, data, size);
    m->size = size;
    return &m->f;
}

const uint8_t *memfile_data(struct bfile *f, uint64_t *size)
{
    *size = mf(f)->size;
    return mf(f)->d;
}

void memfile_journal(struct bfile *f, bool on)
{
    mf(f)->journal = on;
    if (!on)
        clear_journal(mf(f));
}

void memfile_fail_after(struct bfile *f, int64_t n)
{
    mf(f)->fail_after = n;
}

void memfile_lose_next_sync(struct bfile *f)
{
    mf(f)->lose_next_sync = true;
}

uint64_t memfile_read_bytes(struct bfile *f)
{
    return mf(f)->read_bytes;
}


void memfile_sync_hook(struct bfile *f, void (*fn)(void *ctx, struct bfile *f), void *ctx)
{
    mf(f)->hook = fn;
    mf(f)->hook_ctx = ctx;
}

uint64_t memfile_syncs(struct bfile *f)
{
    return mf(f)->syncs;
}

static uint64_t xs(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Everything written since the sync undone, newest first, in d (a copy
 * of the file's bytes, with room for its biggest size since). */
static void undo_journal(struct memfile *m, uint8_t *d, uint64_t *size)
{
    for (size_t i = m->nops; i-- > 0;) {
        struct jop *o = &m->ops[i];
        if (!o->resize)
            memcpy(d + o->off, o->old, o->len);
        else if (o->old)
            memcpy(d + o->new_size, o->old, o->old_size - o->new_size);
        if (o->old_size < *size)
            memset(d + o->old_size, 0, *size - o->old_size);
        *size = o->old_size;
    }
}

struct bfile *memfile_crash(struct bfile *f, uint64_t seed)
{
    struct memfile *m = mf(f);
    uint64_t s = seed * 2654435761u + 1, biggest = m->size;
    for (size_t i = 0; i < m->nops; i++)
        if (m->ops[i].old_size > biggest)
            biggest = m->ops[i].old_size;
    struct bfile *c = memfile_new(NULL, 0, m->max);
    if (!c)
        return NULL;
    struct memfile *x = mf(c);
    if (reserve(x, biggest) < 0) {
        m_close(c);
        return NULL;
    }
    memcpy(x->d, m->d, m->size);
    x->size = m->size;
    undo_journal(m, x->d, &x->size);
    /* ...then replay a random subset, in order, writes sector by sector. */
    unsigned pct = (unsigned)(xs(&s) % 101);
    for (size_t i = 0; i < m->nops; i++) {
        struct jop *o = &m->ops[i];
        if (o->resize) {
            if (xs(&s) % 100 < pct) {
                if (o->new_size < x->size)
                    memset(x->d + o->new_size, 0, x->size - o->new_size);
                x->size = o->new_size;
            }
            continue;
        }
        for (uint64_t p = o->off; p < o->off + o->len;) {
            uint64_t e = (p | 511) + 1;
            if (e > o->off + o->len)
                e = o->off + o->len;
            if (xs(&s) % 100 < pct) {
                memcpy(x->d + p, o->new + (p - o->off), e - p);
                if (e > x->size)
                    x->size = e;
            }
            p = e;
        }
    }
    return c;
}

int memfile_save(struct bfile *f, const char *path)
{
    struct memfile *m = mf(f);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    uint64_t off = 0;
    while (off < m->size) {
        ssize_t n = write(fd, m->d + off, m->size - off);
        if (n <= 0) {
            close(fd);
            return -EIO;
        }
        off += (uint64_t)n;
    }
    close(fd);
    return 0;
}

struct view {
    struct bfile f;
    struct bfile *under;
};

static struct bfile *under(struct bfile *f)
{
    return ((struct view *)f)->under;
}

static int v_pread(struct bfile *f, void *buf, size_t len, uint64_t off)
{
    return bfile_pread(under(f), buf, len, off);
}

static int v_pwrite(struct bfile *f, const void *buf, size_t len, uint64_t off)
{
    return bfile_pwrite(under(f), buf, len, off);
}

static int v_sync(struct bfile *f)
{
    return bfile_sync(under(f));
}

static int v_size(struct bfile *f, uint64_t *size)
{
    return bfile_size(under(f), size);
}

static int v_truncate(struct bfile *f, uint64_t size)
{
    return bfile_truncate(under(f), size);
}

static int v_punch(struct bfile *f, uint64_t off, uint64_t len)
{
    return bfile_punch(under(f), off, len);
}

static void v_close(struct bfile *f)
{
    free(f);
}

static const struct bfile_ops view_ops = {
    .pread = v_pread, .pwrite = v_pwrite, .sync = v_sync, .size = v_size,
    .truncate = v_truncate, .punch = v_punch, .close = v_close,
};

struct bfile *memfile_view(struct bfile *f)
{
    struct view *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->f = *f;
    v->f.ops = &view_ops;
    v->under = f;
    return &v->f;
}
