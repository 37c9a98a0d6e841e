/* A VM's configuration written back as xl.cfg text: what `vireo clone`
 * writes for the clone, what `vireo backup` puts in the stream and
 * `vireo image import` restores, and what a VM process tells `config`.
 *
 * Every setting in effect is written once (the file's, with command-line
 * overrides merged: the configuration the VM runs with), values in xl's
 * syntax, so that the text parses back to the same configuration.
 * Comments and layout are not kept.  Edits replace the name, disks'
 * targets and formats, and can give the interfaces a new identity. */
#ifndef VIREO_TOOLSTACK_VM_CONFIG_WRITE_H
#define VIREO_TOOLSTACK_VM_CONFIG_WRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "toolstack/vm_config.h"

struct vm_config_edit {
    const char *name;                            /* NULL: keep */
    /* Per disk, as c->disks[] is ordered (by vdev).  A disk with a target
     * here gets a new spec in xl's key=value form, format= and target=
     * last: 'vdev=xvda, access=rw, format=raw, target=PATH'; the others
     * keep their spec as written. */
    const char *disk_target[VM_MAX_DISKS];
    const char *disk_format[VM_MAX_DISKS];       /* with a target; NULL: raw */
    /* Each vif loses mac= and vifname= (a copy must not share the
     * original's MAC nor its TAP's name): MACs are then derived from the
     * name, as for a vif without mac=. */
    bool new_identity;
};

/* The text (malloc'd, NUL-terminated), or NULL with why in err. */
char *vm_config_write(const struct vm_config *c, const struct vm_config_edit *e, char *err, size_t errlen);

#endif
