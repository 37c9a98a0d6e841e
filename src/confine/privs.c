#include "confine/privs.h"

#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "util/err.h"

static int parse_id(const char *s, const char *end, unsigned long *out)
{
    if (s == end)
        return -1;
    unsigned long v = 0;
    for (const char *p = s; p < end; p++) {
        if (*p < '0' || *p > '9' || v > 0xfffffffeUL / 10)
            return -1;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v >= 0xffffffffUL)   /* (uid_t)-1 means "unchanged" to the kernel */
        return -1;
    *out = v;
    return 0;
}

int confine_user_resolve(const char *name, struct confine_user *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof(*u));
    bool root = geteuid() == 0;
    if (!name) {
        if (!root) {
            u->uid = geteuid();
            u->gid = getegid();
            snprintf(u->name, sizeof(u->name), "uid %u", (unsigned)u->uid);
            return 0;
        }
        name = CONFINE_DEFAULT_USER;
    }
    if (!strcmp(name, "root")) {
        if (!root)
            return err_fail(err, errlen, "user root: vireo is not running as root");
        u->keep_root = true;
        snprintf(u->name, sizeof(u->name), "root");
        return 0;
    }
    const char *colon = strchr(name, ':');
    if (colon) {
        unsigned long uid, gid;
        if (parse_id(name, colon, &uid) < 0 || parse_id(colon + 1, colon + strlen(colon), &gid) < 0)
            return err_fail(err, errlen, "user '%s': expected a user name or UID:GID (numbers)", name);
        u->uid = (uid_t)uid;
        u->gid = (gid_t)gid;
    } else {
        errno = 0;
        struct passwd *pw = getpwnam(name);
        if (!pw && !strcmp(name, CONFINE_DEFAULT_USER))
            return err_fail(err, errlen, "vireo runs VMs as the user '%s' when started as root, and there is no such "
                            "user: create it (useradd --system --no-create-home --home-dir /nonexistent --shell "
                            "/usr/sbin/nologin %s; meson install does), or name another one (--user, or user = in "
                            "the config; root keeps root's privileges, for debugging only)", name, name);
        if (!pw)
            return err_fail(err, errlen, "user '%s': %s", name, errno ? strerror(errno) : "no such user");
        u->uid = pw->pw_uid;
        u->gid = pw->pw_gid;
    }
    snprintf(u->name, sizeof(u->name), "%s", name);
    if (u->uid == 0)
        return err_fail(err, errlen, "user '%s' has uid 0: that is root (say root to keep root's privileges)", name);
    if (!root) {
        if (u->uid == geteuid() && u->gid == getegid())
            return 0;
        return err_fail(err, errlen, "user '%s': changing user needs root (vireo runs as uid %u)", name,
                        (unsigned)geteuid());
    }
    u->change = true;
    return 0;
}

/* What the kernel says now, not what we asked for. */
static int verify(const struct confine_user *u, char *err, size_t errlen)
{
    uid_t r, e, s;
    gid_t gr, ge, gs;
    if (getresuid(&r, &e, &s) < 0 || getresgid(&gr, &ge, &gs) < 0)
        return err_fail(err, errlen, "getresuid: %s", strerror(errno));
    if (u->change && (r != u->uid || e != u->uid || s != u->uid || gr != u->gid || ge != u->gid || gs != u->gid))
        return err_fail(err, errlen, "still uid %u/%u/%u gid %u/%u/%u after becoming %s", (unsigned)r, (unsigned)e,
                        (unsigned)s, (unsigned)gr, (unsigned)ge, (unsigned)gs, u->name);
    if (u->change && getgroups(0, NULL) != 0)
        return err_fail(err, errlen, "supplementary groups left after becoming %s", u->name);
    capng_get_caps_process();
    if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
        return err_fail(err, errlen, "capabilities left after dropping them");
    /* The ambient set needs no look of its own: the kernel keeps it inside
     * permitted and inheritable, both found empty just above.  The running
     * kernel may know more capabilities than our headers: up to the first
     * it calls invalid. */
    for (int c = 0; u->change && c < 64; c++) {
        int in = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
        if (in < 0)
            break;
        if (in == 1)
            return err_fail(err, errlen, "capability %d left in the bounding set", c);
    }
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return err_fail(err, errlen, "PR_SET_NO_NEW_PRIVS did not hold");
    return 0;
}

int confine_privs_drop(const struct confine_user *u, char *err, size_t errlen)
{
    if (!u->keep_root) {
        capng_clear(CAPNG_SELECT_BOTH);
        if (u->change) {
            /* Groups, gid, uid, then the (empty) sets, the bounding and
             * ambient sets cleared on the way. */
            int rc = capng_change_id((int)u->uid, (int)u->gid,
                                     CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING | CAPNG_CLEAR_AMBIENT);
            if (rc < 0)
                return err_fail(err, errlen, "becoming user %s (uid %u, gid %u) failed (libcap-ng error %d: %s)",
                                u->name, (unsigned)u->uid, (unsigned)u->gid, rc, strerror(errno));
        } else {
            /* Not root: nothing to give up but what an ambient or file
             * capability may have handed us; the bounding set needs
             * CAP_SETPCAP to shrink, and no-new-privs makes it moot. */
            if (capng_apply(CAPNG_SELECT_CAPS) < 0)
                return err_fail(err, errlen, "dropping capabilities: %s", strerror(errno));
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return err_fail(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
    return u->keep_root ? 0 : verify(u, err, errlen);
}
