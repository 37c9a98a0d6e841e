/* Whom a VM process runs as once it has opened what needs root (/dev/kvm,
 * TAP devices, bridges, images): an unprivileged user with no capability
 * in any set and no way to gain one (PR_SET_NO_NEW_PRIVS). */
#ifndef VIREO_CONFINE_PRIVS_H
#define VIREO_CONFINE_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Who VMs run as when vireo runs as root and no user is named; the
 * install creates it (meson install, or: useradd --system --no-create-home
 * --home-dir /nonexistent --shell /usr/sbin/nologin vireo). */
#define CONFINE_DEFAULT_USER "vireo"

struct confine_user {
    bool change;               /* become uid/gid */
    bool keep_root;            /* "root" asked for: nothing is dropped */
    uid_t uid;
    gid_t gid;
    char name[64];             /* for messages */
};

/* name: NULL (the default: CONFINE_DEFAULT_USER when running as root,
 * else whoever runs vireo), "root", a user name, or UID:GID.  Resolved
 * before the jail, which has no user database.  A user that does not
 * exist, the default included, is an error naming the fix; so is a change
 * of user without root.  -1 with err. */
int confine_user_resolve(const char *name, struct confine_user *u, char *err, size_t errlen);

/* Becomes u: supplementary groups cleared, gid, uid; no capability left in
 * the bounding, ambient, inheritable, permitted or effective sets (what
 * can be dropped without root: all but the bounding set); then
 * PR_SET_NO_NEW_PRIVS.  Each is checked afterwards.  keep_root: only
 * PR_SET_NO_NEW_PRIVS.  -1 with err. */
int confine_privs_drop(const struct confine_user *u, char *err, size_t errlen);

#endif
