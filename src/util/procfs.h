/* This process's /proc/self, reached through a directory descriptor the
 * confinement sets (a proc instance of the jail's own, which no path
 * leads to; see confine/jail.h), else through the path. */
#ifndef VIREO_UTIL_PROCFS_H
#define VIREO_UTIL_PROCFS_H

/* fd: a directory descriptor of /proc/self (kept), or -1 to go back to
 * the path. */
void procfs_set_self(int fd);
/* open(2) of /proc/self/REL, read-only and close-on-exec; -1 with errno. */
int procfs_open_self(const char *rel);

#endif
