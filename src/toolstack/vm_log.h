/* The VM process's log, LOGDIR/NAME.log: everything the process writes to
 * stdout and stderr once the VM runs, kept under a size cap (util/capfile:
 * refused if a link or special file was planted there; rotated once to
 * NAME.log.1), so a guest that makes the VMM log without end cannot fill
 * the host's disk. */
#ifndef VIREO_TOOLSTACK_VM_LOG_H
#define VIREO_TOOLSTACK_VM_LOG_H

#include <stdint.h>

/* The cap of the log and of a serial file: VIREO_LOG_MAX (a size such as
 * 64K; at least 4 KiB), else 2 MiB. */
uint64_t vm_log_max(void);

/* First thing in the VM process, on its only thread: stdout and stderr
 * become one unbuffered stream that writes through the log once it is
 * started, and to fd 2 (the `create` command's stderr) until then. */
void vm_log_init(void);

/* Opens path (and path.1) as the log, before the VM process gives up its
 * privileges and paths.  A file that cannot be created (no permission)
 * means no log, as before; one refused as unsafe is also said on stderr,
 * while that is still the `create` command's. */
void vm_log_open(const char *path);

/* From now on fds 1 and 2 and the stdio streams go to the log, or to
 * /dev/null without one. */
void vm_log_start(void);

#endif
