/* Survives a vhost-user front-end that shrinks the file behind its memory
 * table after we mapped it.  Our next touch of a page past the new end is
 * a SIGBUS, on whichever thread touches it (an I/O thread reading a ring,
 * the main thread starting one).  The guard's handler replaces the whole
 * mapping, in place, with private anonymous memory and returns: the access
 * that faulted and every later one complete (on zeroes, which the device
 * models already treat as a hostile driver's bytes), so no code is left
 * half-way, and the owner hears of it through an eventfd and drops that
 * front-end.  A SIGBUS anywhere else goes to the disposition the process
 * had before. */
#ifndef VIREO_VHOST_USER_SIGBUS_GUARD_H
#define VIREO_VHOST_USER_SIGBUS_GUARD_H

#include <stdbool.h>
#include <stddef.h>

/* Regions watched at once, in the whole process. */
#define VU_GUARD_SLOTS 64

/* Watches the mapping [addr, addr + len); efd (an eventfd) is signalled
 * when it faults.  The slot, or -1 if all are taken or the handler cannot
 * be installed.  Installs the handler again if something replaced it. */
int vu_guard_add(void *addr, size_t len, int efd);
/* Whether slot's mapping has faulted (and is now anonymous memory). */
bool vu_guard_faulted(int slot);
/* Before the mapping goes: nothing may access it concurrently (its
 * queues are stopped), so no fault can be in flight for it. */
void vu_guard_remove(int slot);

#endif
