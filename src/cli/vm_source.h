/* The VM that `vireo clone` and `vireo backup` copy, named as the user
 * names it: a config file (the VM may be off), or a running VM's name or
 * ID (its configuration then comes from its process: what it runs with,
 * overrides included).  A running VM's disks are copied at one instant:
 * vm_source_freeze pauses it and flushes its disks (the control command
 * "freeze") until vm_source_thaw. */
#ifndef VIREO_CLI_VM_SOURCE_H
#define VIREO_CLI_VM_SOURCE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/image_format.h"
#include "toolstack/vm_config.h"

struct vm_source {
    struct vm_config cfg;
    char name[VM_NAME_MAX + 1];
    bool running;                 /* a VM process runs it */
    char cfg_dir[PATH_MAX];       /* the config file's folder (the cwd when unknown) */
    /* Per disk of cfg.disks: the image's absolute path (relative targets
     * are relative to the VM's working directory) and format. */
    char path[VM_MAX_DISKS][PATH_MAX];
    enum img_format fmt[VM_MAX_DISKS];
    int ctl_fd;                   /* the connection holding a freeze; -1 */
};

/* arg: a config file (it has a '/', ends in .cfg or exists) or a VM's
 * name or ID.  0, or -1 with the reason printed. */
int vm_source_load(const char *arg, struct vm_source *s);
void vm_source_free(struct vm_source *s);

/* Pauses the running VM and flushes its disks, for at most max_seconds
 * (then the VM resumes on its own, and the thaw fails).  The disks' paths
 * and formats become those the VM has open.  0, or -1 (printed). */
int vm_source_freeze(struct vm_source *s, unsigned max_seconds);
/* Resumes it.  0 with how long it was frozen; -1 (printed) when the
 * freeze was lifted early: what was taken is not of one instant. */
int vm_source_thaw(struct vm_source *s, uint64_t *frozen_ms);

/* A copy's name: src's file name with the VM's old name replaced by the
 * new one where it appears ("web.qcow2" -> "web2.qcow2", "disk-web-data.img"
 * -> "disk-web2-data.img"), else NEW-FILE ("root.img" -> "web2-root.img"). */
void vm_source_rename(const char *file, const char *old, const char *new_name, char *out, size_t len);

#endif
