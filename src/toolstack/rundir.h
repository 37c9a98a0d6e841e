/* Where running VMs are found: /run/vireo (VIREO_RUN_DIR overrides, for
 * tests), one directory per VM name holding
 *   pid      the VM process's pid, flock()ed by it for its whole life: a
 *            directory whose pid file is not locked is stale (the process
 *            was killed) and is removed by the next `create` or `list`;
 *   control  the control socket (mode 0600; the directory is 0700).
 * Names are unique because `create` claims a directory under a lock on
 * BASE/.lock; every removal happens under it too.  Domain IDs (xl's ID
 * column) count up from 1 in BASE/.next-id, never reused while the host
 * is up, as Xen's domids.  Probing takes a shared lock on the pid file,
 * which only the VM process's exclusive one excludes, so two probes never
 * mistake each other for a live VM. */
#ifndef VIREO_TOOLSTACK_RUNDIR_H
#define VIREO_TOOLSTACK_RUNDIR_H

#include <stddef.h>
#include <sys/types.h>

#define RUNDIR_DEFAULT "/run/vireo"
#define LOGDIR_DEFAULT "/var/log/vireo"

const char *rundir_base(void);
const char *logdir_base(void);
/* BASE/NAME/FILE (FILE may be NULL); -1 if it does not fit or NAME is
 * not a VM name (empty, with '/', starting with '.'). */
int rundir_path(char *out, size_t len, const char *name, const char *file);

struct rundir_claim {
    int lock_fd;       /* the pid file, flock()ed; inherited by the VM process */
    unsigned domid;
};

/* Claims NAME for a new VM; -1 with the reason (e.g. the name is taken by
 * a running VM, with its pid) in err. */
int rundir_claim(const char *name, struct rundir_claim *c, char *err, size_t errlen);
/* Records the VM process's pid and the VM's ID in its (locked) pid file:
 * "PID ID\n". */
int rundir_set_pid(const struct rundir_claim *c, pid_t pid);
/* Removes NAME's directory: by its owner (the VM process at its end, or
 * `create` after a failed start). */
void rundir_release(const char *name);
/* Lets go of the claim's lock (closing its descriptor): NAME is free from
 * then on, its directory stale (removed by the next list or create).  What
 * a VM process does at its end when it can no longer reach the directory. */
void rundir_unlock(struct rundir_claim *c);
/* Removes NAME's directory if no live process holds it (after a kill). */
void rundir_remove_stale(const char *name);

/* Serializes VM creation, as xl's lockfile does: held by `create` from
 * its memory-budget check until the new VM process answers, so that two
 * creates never both fit in the same room.  Returns the lock's descriptor,
 * or -1 with err. */
int rundir_create_lock(char *err, size_t errlen);
void rundir_create_unlock(int fd);

/* Names of the running VMs, sorted; stale directories are removed on the
 * way.  Returns how many (names[] has room for max), or -1 with err. */
int rundir_list(char (*names)[72], int max, char *err, size_t errlen);
/* The pid of the VM process holding NAME, or 0 if none. */
pid_t rundir_pid(const char *name);
/* The name of the running VM with ID id (xl accepts IDs wherever it takes
 * names); 0 on success. */
int rundir_find_id(unsigned id, char name[72]);

#endif
