/* Shared by vm_process.c (the VM's life: start, stops, restarts) and
 * vm_commands.c (its answers to the control commands): the VM process's
 * state. */
#ifndef VIREO_TOOLSTACK_VM_PROCESS_IMPL_H
#define VIREO_TOOLSTACK_VM_PROCESS_IMPL_H

#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <time.h>

#include "eventloop/event_loop.h"
#include "toolstack/ctl_server.h"
#include "toolstack/rundir.h"
#include "toolstack/vm_memory.h"
#include "toolstack/vm_process.h"
#include "util/capfile.h"
#include "vm/vm.h"

struct vm_process_args {
    const struct vm_config *cfg;
    struct rundir_claim claim;    /* its lock_fd is the VM process's from the fork on */
    bool paused;          /* create -p */
    int ready_fd;         /* vm_process_spawn waits for "ok\n" here; closed once the VM runs */
    const char *log_path; /* stdout and stderr once the VM runs */
};

enum vmp_state { VMP_RUNNING, VMP_SHUTDOWN, VMP_CRASHED };

/* A freeze (vm_freeze.c): the guest paused and its disks flushed for a
 * point-in-time image, held by one control connection. */
struct vmp_freeze {
    bool active;
    uint64_t conn;             /* the connection holding it */
    bool paused_before;        /* the VM was paused already: thaw leaves it paused */
    struct timespec since;
    unsigned max_seconds;
    int timer_fd;              /* lifts a freeze held too long; -1 until the first */
    struct el_watch w_timer;
    /* A freeze lifted before its thaw: whose, and why (the thaw says so,
     * as the image may then not be of one instant). */
    uint64_t lifted_conn;
    char lifted_why[160];
};

/* A guest that crashes or reboots at once must not spin the host: more
 * than RESTART_BURST restarts within RESTART_WINDOW_S seconds end the VM
 * (libxl refuses restarts that come too fast likewise). */
#define RESTART_BURST    10
#define RESTART_WINDOW_S 60

struct vmp {
    struct vm_process_args *a;
    const struct vm_config *cfg;
    struct vm_params params;
    struct vm_boot_disk boot_disk;   /* bootloader = "pygrub": read again at each (re)start */
    cpu_set_t affinity[VM_MAX_VCPUS];
    struct event_loop outer;
    struct ctl_server ctl;
    int serial_rd;             /* the console pipe's read end, or -1 */
    struct capfile serial_file;   /* serial="file:PATH" (fd -1 otherwise) */
    struct el_watch w_serial, w_sig;
    int sfd;
    struct vm_resources res;   /* opened once, reused by every restart */
    bool res_open;
    bool confined;             /* vm_confine ran: no path from here on */
    /* Where relative disk paths start and the config file's real path
     * (empty if none), taken before the jail, where neither exists. */
    char cwd[PATH_MAX];
    char cfg_file[PATH_MAX];
    struct vm *vm;             /* NULL between incarnations */
    enum vmp_state state;
    bool destroy_req, reboot_req;
    bool host_stopping;        /* SIGTERM: no restart after this stop */
    unsigned restarts;
    bool started_once;
    struct timespec started;
    char last_stop[256];
    unsigned host_cpus;
    cpu_set_t allowed;         /* the CPUs this process may use (online, in its cpuset) */
    struct timespec restart_times[RESTART_BURST];   /* the last restarts, a ring */
    struct vmp_freeze freeze;
    /* memory, maxmem, mem-set and mem-max (vm_mem_commands.c): kept
     * across in-place restarts, as the target is asked again at each. */
    struct vm_memory mem;
    struct timespec mem_set_at;      /* the last request (mem-set or a start) */
    struct timespec mem_change_at;   /* when the balloon was last seen to move */
    uint64_t mem_seen_pages;
};

/* "running", "paused", "shutdown" or "crashed". */
const char *vmp_state_name(const struct vmp *p);

/* vm_freeze.c.  A freeze held when its connection ends, when the VM stops
 * or when the process gets SIGTERM is lifted (the guest resumes unless it
 * was paused before), and its thaw then fails saying why. */
void vmp_freeze_init(struct vmp *p);
void vmp_freeze_lift(struct vmp *p, const char *why);
void vmp_freeze_conn_closed(void *vmp, uint64_t conn);
void vmp_freeze_fini(struct vmp *p);

#endif
