#include "vhost_user/sigbus_guard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The handler reads slots without a lock (it may interrupt anything):
 * start is published last, with release, and cleared first. */
struct slot {
    _Atomic uintptr_t start;   /* 0: free */
    size_t len;
    int efd;
    atomic_bool faulted;
};

static struct slot slots[VU_GUARD_SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;   /* add and remove */
static struct sigaction previous;

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)uctx;
    int saved = errno;
    uintptr_t a = (uintptr_t)si->si_addr;
    for (unsigned i = 0; si->si_code > 0 && i < VU_GUARD_SLOTS; i++) {
        struct slot *s = &slots[i];
        uintptr_t start = atomic_load_explicit(&s->start, memory_order_acquire);
        if (!start || a < start || a - start >= s->len)
            continue;
        /* MAP_FIXED swaps the pages atomically: other threads see the file
         * or the anonymous memory, never a hole. */
        if (mmap((void *)start, s->len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
            break;
        atomic_store(&s->faulted, true);
        uint64_t one = 1;
        (void)!write(s->efd, &one, sizeof(one));
        errno = saved;
        return;
    }
    /* Not ours: the previous disposition gets it, as if we had never been
     * here (a fault recurs when the access is retried; a sent signal is
     * sent again). */
    sigaction(SIGBUS, &previous, NULL);
    if (si->si_code <= 0)
        raise(SIGBUS);
    errno = saved;
}

static int install(void)
{
    struct sigaction cur;
    if (sigaction(SIGBUS, NULL, &cur) < 0)
        return -1;
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus)
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    previous = cur;
    return sigaction(SIGBUS, &sa, NULL);
}

int vu_guard_add(void *addr, size_t len, int efd)
{
    pthread_mutex_lock(&lock);
    int slot = -1;
    if (install() == 0) {
        for (unsigned i = 0; i < VU_GUARD_SLOTS && slot < 0; i++) {
            struct slot *s = &slots[i];
            if (atomic_load(&s->start))
                continue;
            s->len = len;
            s->efd = efd;
            atomic_store(&s->faulted, false);
            atomic_store_explicit(&s->start, (uintptr_t)addr, memory_order_release);
            slot = (int)i;
        }
    }
    pthread_mutex_unlock(&lock);
    return slot;
}

bool vu_guard_faulted(int slot)
{
    return slot >= 0 && slot < VU_GUARD_SLOTS && atomic_load(&slots[slot].faulted);
}

void vu_guard_remove(int slot)
{
    if (slot < 0 || slot >= VU_GUARD_SLOTS)
        return;
    pthread_mutex_lock(&lock);
    atomic_store_explicit(&slots[slot].start, 0, memory_order_release);
    pthread_mutex_unlock(&lock);
}
