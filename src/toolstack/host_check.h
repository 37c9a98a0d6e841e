/* `vireo host-check`: what an experienced admin looks at before running
 * VMs on a host, each finding with the fix.  Files are read under a root
 * directory ("/" normally, a fake tree in tests); probes that need the real
 * kernel (opening /dev/kvm, ioctls, io_uring) run only when `live`. */
#ifndef VIREO_TOOLSTACK_HOST_CHECK_H
#define VIREO_TOOLSTACK_HOST_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum hc_status { HC_OK, HC_INFO, HC_WARN, HC_FAIL };

struct hc_result {
    const char *name;
    enum hc_status status;
    char detail[192];
    char fix[192]; /* empty when there is nothing to do */
};

struct hc_env {
    const char *root;
    bool live;
};

#define HC_MAX_RESULTS 16

/* Fills out[] (up to HC_MAX_RESULTS) and returns how many. */
size_t host_check_run(const struct hc_env *env, struct hc_result *out);
/* Text (one line per check, fixes indented) or one JSON object. */
void host_check_print(FILE *f, const struct hc_result *r, size_t n, bool json);
/* 1 if any check failed, else 0. */
int host_check_exit_code(const struct hc_result *r, size_t n);
const char *hc_status_name(enum hc_status s);

#endif
