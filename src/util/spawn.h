/* Running a host tool (lvm2's lvs, lvcreate, lvremove) and keeping what
 * it says: no shell, stdin from /dev/null, stdout and stderr captured
 * (each up to SPAWN_OUT_MAX; more is read and dropped). */
#ifndef VIREO_UTIL_SPAWN_H
#define VIREO_UTIL_SPAWN_H

#include <stddef.h>

#define SPAWN_OUT_MAX (4u << 20)

struct spawn_result {
    int status;        /* the exit status; 128+N when killed by signal N */
    char *out;         /* stdout, NUL-terminated (malloc'd; spawn_result_free) */
    size_t out_len;
    char *err;         /* stderr, likewise */
    size_t err_len;
};

/* Runs argv[0] (looked up in PATH) with argv.  0 once it ran (whatever its
 * exit status), -1 with errno when it could not be started (ENOENT: not
 * installed). */
int spawn_capture(const char *const argv[], struct spawn_result *r);
void spawn_result_free(struct spawn_result *r);

/* The last non-empty line of text (a tool's error usually), without its
 * newline, at most len - 1 bytes. */
void spawn_last_line(const char *text, char *out, size_t len);

#endif
