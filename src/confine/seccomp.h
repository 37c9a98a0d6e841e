/* The process's seccomp filters (seccomp_policy.h says what each allows):
 * compiled with libseccomp when Vireo is built (seccomp_prebuilt.h), then
 * loaded by each thread at its start with one system call.  A forbidden call traps (SIGSYS); the handler
 * writes one line to stderr (the VM's log) naming the thread and the call,
 * e.g.
 *   vireo: seccomp: the vCPU thread vireo-vcpu0 made the system call
 *   socket (41), which its filter forbids: the process stops
 * and the process dies of SIGSYS.
 *
 * Order: confine_seccomp_prepare() before any thread is started (it also
 * sets PR_SET_NO_NEW_PRIVS, which threads inherit); every thread then
 * calls confine_thread() first thing; confine_seccomp_enter_main() loads
 * main's filter once the privileged set-up is done.  Without prepare
 * (--seccomp=off, the unit tests), confine_thread() only names the
 * thread. */
#ifndef VIREO_CONFINE_SECCOMP_H
#define VIREO_CONFINE_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>

#include "confine/seccomp_policy.h"

/* -1 with the reason in err. */
int confine_seccomp_prepare(const struct confine_policy *p, char *err, size_t errlen);
/* Loads main's filter on the calling thread, the one that prepared. */
int confine_seccomp_enter_main(char *err, size_t errlen);
/* Called by each new thread before anything else: names it (for ps, and
 * the SIGSYS line) and loads its kind's filter when the process is
 * confined; a filter that cannot be loaded ends the process (never an
 * unconfined thread). */
void confine_thread(enum confine_kind kind, const char *name);
bool confine_seccomp_on(void);

/* The line the SIGSYS handler writes for a call (tests check it). */
size_t confine_violation_line(char *buf, size_t len, const char *kind, const char *thread, int nr);

#endif
