/* Runtime control of a running VM for the toolstack: the power button,
 * pausing, and the vCPU threads' state and pinning. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/procfs.h"
#include "vm/vm.h"
#include "vm/vm_vcpu.h"

void vm_power_button(struct vm *vm)
{
    acpi_pm_power_button(&vm->pm);
}

void vm_vcpu_park_if_paused(struct vm *vm)
{
    if (!atomic_load(&vm->pause_req))
        return;
    pthread_mutex_lock(&vm->pause_lock);
    vm->parked++;
    pthread_cond_broadcast(&vm->pause_cond);
    while (atomic_load(&vm->pause_req) && !atomic_load(&vm->stopping))
        pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
    vm->parked--;
    pthread_mutex_unlock(&vm->pause_lock);
}

void vm_wake_parked(struct vm *vm)
{
    pthread_mutex_lock(&vm->pause_lock);
    pthread_cond_broadcast(&vm->pause_cond);
    pthread_mutex_unlock(&vm->pause_lock);
}

static unsigned running_vcpus(const struct vm *vm)
{
    unsigned n = 0;
    for (unsigned i = 0; i < vm->ncpus; i++)
        n += vm->vcpus[i].started && !atomic_load(&vm->vcpus[i].exited);
    return n;
}

void vm_pause(struct vm *vm)
{
    atomic_store(&vm->pause_req, true);
    for (unsigned i = 0; i < vm->ncpus; i++)
        vm_vcpu_kick(&vm->vcpus[i]);
    /* A vCPU finishing an exit (a disk reset waiting for this thread's
     * loop, say) could take a while; a bounded wait keeps the control
     * socket responsive, and the stragglers park at their next entry. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    pthread_mutex_lock(&vm->pause_lock);
    while (vm->parked < running_vcpus(vm) && !atomic_load(&vm->stopping))
        if (pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&vm->pause_lock);
}

void vm_unpause(struct vm *vm)
{
    pthread_mutex_lock(&vm->pause_lock);
    atomic_store(&vm->pause_req, false);
    pthread_cond_broadcast(&vm->pause_cond);
    pthread_mutex_unlock(&vm->pause_lock);
}

bool vm_is_paused(const struct vm *vm)
{
    return atomic_load(&vm->pause_req);
}

/* Fields 3 (state) and 39 (processor) of /proc/self/task/TID/stat; the
 * command name (field 2) may hold spaces and parentheses, so parsing
 * starts after its last ')'. */
static void read_task_stat(int tid, char *state, int *cpu)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "task/%d/stat", tid);
    int fd = procfs_open_self(path);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return;
    *state = p[2];
    p += 2;
    for (int field = 3; field < 39 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (p)
        sscanf(p, "%d", cpu);
}

int vm_vcpu_stat(struct vm *vm, unsigned id, struct vm_vcpu_stat *st)
{
    memset(st, 0, sizeof(*st));
    st->cpu = -1;
    st->state = '-';
    if (id >= vm->ncpus) {
        errno = EINVAL;
        return -1;
    }
    struct vm_vcpu *v = &vm->vcpus[id];
    if (!v->started || atomic_load(&v->exited))
        return 0;
    st->tid = atomic_load(&v->tid);
    clockid_t clk;
    struct timespec ts;
    if (pthread_getcpuclockid(v->thread, &clk) == 0 && clock_gettime(clk, &ts) == 0)
        st->cpu_seconds = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    pthread_getaffinity_np(v->thread, sizeof(st->affinity), &st->affinity);
    if (st->tid) {
        char s = '?';
        read_task_stat(st->tid, &s, &st->cpu);
        /* A vCPU in KVM_RUN whose guest halted sleeps in the kernel ('S'). */
        st->state = s == 'R' ? 'r' : 'b';
    }
    if (vm_is_paused(vm))
        st->state = 'p';
    return 0;
}

int vm_vcpu_pin(struct vm *vm, unsigned id, const cpu_set_t *cpus)
{
    if (id >= vm->ncpus || !vm->vcpus[id].started) {
        errno = EINVAL;
        return -1;
    }
    int e = pthread_setaffinity_np(vm->vcpus[id].thread, sizeof(*cpus), cpus);
    if (e) {
        errno = e;
        return -1;
    }
    return 0;
}
