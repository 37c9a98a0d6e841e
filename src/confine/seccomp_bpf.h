/* A libseccomp filter as the classic BPF program the kernel loads: used
 * at build time by seccomp_gen.c (the programs Vireo ships, compiled
 * once) and by the tests that check those against libseccomp's own
 * output for the same policy. */
#ifndef VIREO_CONFINE_SECCOMP_BPF_H
#define VIREO_CONFINE_SECCOMP_BPF_H

#include <linux/filter.h>
#include <seccomp.h>

/* f's program in out->filter (malloc'd); -errno on failure. */
int confine_bpf_export(scmp_filter_ctx f, struct sock_fprog *out);

#endif
