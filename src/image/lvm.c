#include "image/lvm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"
#include "util/size.h"
#include "util/spawn.h"

static const char *const report_argv[] = {
    "lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o",
    "vg_name,lv_name,lv_attr,lv_size,pool_lv,segtype,lv_kernel_major,lv_kernel_minor,vg_free,vg_extent_size", NULL,
};

static const char *field(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int copy_field(struct json_object *o, const char *k, char *dst, size_t len, bool required)
{
    const char *v = field(o, k);
    if (!v)
        return required ? -1 : (dst[0] = 0, 0);
    if (strlen(v) >= len)
        return -1;
    strcpy(dst, v);
    return 0;
}

static int num_field(struct json_object *o, const char *k, uint64_t *out)
{
    const char *v = field(o, k);
    if (!v)
        return -1;
    if (!*v) {
        *out = 0;
        return 0;
    }
    return parse_uint(v, 0, UINT64_MAX, out) ? 0 : -1;
}

static int dev_field(struct json_object *o, const char *k, int *out)
{
    const char *v = field(o, k);
    if (!v)
        return -1;
    if (!*v || !strcmp(v, "-1")) {
        *out = -1;
        return 0;
    }
    uint64_t n;
    if (!parse_uint(v, 0, 1u << 20, &n))
        return -1;
    *out = (int)n;
    return 0;
}

int lvm_report_parse(const char *json, size_t len, struct lvm_lv **lvs, size_t *n, char *err, size_t errlen)
{
    *lvs = NULL;
    *n = 0;
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return err_fail(err, errlen, "out of memory");
    struct json_object *root = json_tokener_parse_ex(tok, json, (int)(len > INT32_MAX ? INT32_MAX : len));
    json_tokener_free(tok);
    struct json_object *report, *arr = NULL;
    if (!root || !json_object_object_get_ex(root, "report", &report) ||
        !json_object_is_type(report, json_type_array)) {
        json_object_put(root);
        return err_fail(err, errlen, "lvs: unexpected output (no \"report\" array)");
    }
    size_t total = 0;
    for (size_t i = 0; i < json_object_array_length(report); i++) {
        struct json_object *lv;
        if (json_object_object_get_ex(json_object_array_get_idx(report, i), "lv", &lv) &&
            json_object_is_type(lv, json_type_array))
            total += json_object_array_length(lv);
    }
    struct lvm_lv *out = calloc(total ? total : 1, sizeof(*out));
    if (!out) {
        json_object_put(root);
        return err_fail(err, errlen, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < json_object_array_length(report); i++) {
        if (!json_object_object_get_ex(json_object_array_get_idx(report, i), "lv", &arr) ||
            !json_object_is_type(arr, json_type_array))
            continue;
        for (size_t j = 0; j < json_object_array_length(arr); j++) {
            struct json_object *o = json_object_array_get_idx(arr, j);
            struct lvm_lv *l = &out[k];
            if (!json_object_is_type(o, json_type_object) || copy_field(o, "vg_name", l->vg, sizeof(l->vg), true) ||
                copy_field(o, "lv_name", l->name, sizeof(l->name), true) ||
                copy_field(o, "lv_attr", l->attr, sizeof(l->attr), true) ||
                copy_field(o, "segtype", l->segtype, sizeof(l->segtype), false) ||
                copy_field(o, "pool_lv", l->pool, sizeof(l->pool), false) || num_field(o, "lv_size", &l->size) ||
                num_field(o, "vg_free", &l->vg_free) || num_field(o, "vg_extent_size", &l->extent_size) ||
                dev_field(o, "lv_kernel_major", &l->major) || dev_field(o, "lv_kernel_minor", &l->minor)) {
                free(out);
                json_object_put(root);
                return err_fail(err, errlen, "lvs: unexpected output (volume %zu: a field is missing or malformed)",
                                k + 1);
            }
            k++;
        }
    }
    json_object_put(root);
    *lvs = out;
    *n = k;
    return 0;
}

const struct lvm_lv *lvm_report_find_dev(const struct lvm_lv *lvs, size_t n, int major, int minor)
{
    for (size_t i = 0; i < n; i++)
        if (lvs[i].major == major && lvs[i].minor == minor && major >= 0)
            return &lvs[i];
    return NULL;
}

const struct lvm_lv *lvm_report_find(const struct lvm_lv *lvs, size_t n, const char *vg, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(lvs[i].vg, vg) && !strcmp(lvs[i].name, name))
            return &lvs[i];
    return NULL;
}

/* Runs an lvm2 tool; 0 when it exited 0, else -1 with its last line. */
static int run_lvm(const char *const argv[], struct spawn_result *r, char *err, size_t errlen)
{
    /* Descriptors we hold must not make lvm2 complain (they are CLOEXEC
     * anyway) */
    setenv("LVM_SUPPRESS_FD_WARNINGS", "1", 1);
    if (spawn_capture(argv, r) < 0) {
        if (errno == ENOENT)
            return err_fail(err, errlen, "lvm2's %s is not installed", argv[0]);
        return err_fail(err, errlen, "cannot run %s: %s", argv[0], strerror(errno));
    }
    if (r->status) {
        char line[400];
        spawn_last_line(r->err, line, sizeof(line));
        err_fail(err, errlen, "%s failed (exit %d): %s", argv[0], r->status, line[0] ? line : "no message");
        spawn_result_free(r);
        return -1;
    }
    return 0;
}

int lvm_lookup(const char *path, struct lvm_lv *out, struct lvm_lv **all, size_t *nall, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return err_fail(err, errlen, "%s: %s", path, strerror(errno));
    if (!S_ISBLK(st.st_mode)) {
        err_fail(err, errlen, "%s is not a block device", path);
        return 0;
    }
    struct spawn_result r;
    if (spawn_capture(report_argv, &r) < 0) {
        if (errno == ENOENT) {
            err_fail(err, errlen, "%s is a block device, and lvm2 (lvs) is not installed to tell whether it is an "
                                  "LVM logical volume", path);
            return 0;
        }
        return err_fail(err, errlen, "cannot run lvs: %s", strerror(errno));
    }
    if (r.status) {
        char line[400];
        spawn_last_line(r.err, line, sizeof(line));
        spawn_result_free(&r);
        return err_fail(err, errlen, "lvs failed (exit %d): %s", r.status, line);
    }
    struct lvm_lv *lvs;
    size_t n;
    int rc = lvm_report_parse(r.out, r.out_len, &lvs, &n, err, errlen);
    spawn_result_free(&r);
    if (rc < 0)
        return -1;
    const struct lvm_lv *lv = lvm_report_find_dev(lvs, n, (int)major(st.st_rdev), (int)minor(st.st_rdev));
    if (!lv) {
        err_fail(err, errlen, "%s (device %u:%u) is a block device but not an active LVM logical volume", path,
                 major(st.st_rdev), minor(st.st_rdev));
        free(lvs);
        return 0;
    }
    *out = *lv;
    if (all) {
        *all = lvs;
        *nall = n;
    } else {
        free(lvs);
    }
    return 1;
}

bool lvm_is_thin(const struct lvm_lv *lv)
{
    return !strcmp(lv->segtype, "thin") || (lv->attr[0] == 'V' && lv->pool[0]);
}

uint64_t lvm_full_cow_size(const struct lvm_lv *lv)
{
    uint64_t ext = lv->extent_size ? lv->extent_size : 4u << 20;
    uint64_t want = lv->size + lv->size / 64 + 2 * ext;
    return (want + ext - 1) / ext * ext;
}

/* lvm2's rule for names (lib/misc/lvm-string.c): [A-Za-z0-9+_.-], not
 * starting with '-', not "." or "..", and not its reserved words. */
static bool lv_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > LVM_NAME_MAX || s[0] == '-' || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '_' ||
              c == '.' || c == '-'))
            return false;
    }
    static const char *const reserved[] = {"snapshot", "pvmove"};
    static const char *const parts[] = {"_cdata", "_cmeta", "_corig", "_mlog", "_mimage", "_pmspare", "_rimage",
                                        "_rmeta", "_tdata", "_tmeta", "_vorigin", "_vdata"};
    for (size_t i = 0; i < 2; i++)
        if (!strncmp(s, reserved[i], strlen(reserved[i])))
            return false;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        if (strstr(s, parts[i]))
            return false;
    return true;
}

int lvm_dst_name(const struct lvm_lv *lv, const char *dst, char *name, size_t len, char *err, size_t errlen)
{
    const char *p = dst;
    if (!strncmp(p, "/dev/", 5))
        p += 5;
    const char *slash = strchr(p, '/');
    if (slash) {
        size_t vl = (size_t)(slash - p);
        if (vl != strlen(lv->vg) || memcmp(p, lv->vg, vl))
            return err_fail(err, errlen, "%s: an LVM snapshot of %s/%s stays in volume group %s; expected %s/NAME "
                                         "or NAME", dst, lv->vg, lv->name, lv->vg, lv->vg);
        p = slash + 1;
    } else if (dst[0] == '/') {
        return err_fail(err, errlen, "%s: expected /dev/%s/NAME, %s/NAME or NAME for a snapshot of %s/%s", dst,
                        lv->vg, lv->vg, lv->vg, lv->name);
    }
    if (!lv_name_ok(p))
        return err_fail(err, errlen, "'%s' is not a name lvm2 accepts for a logical volume (letters, digits, "
                                     "+ _ . -, not starting with '-', no reserved words)", p);
    if (strlen(p) >= len)
        return err_fail(err, errlen, "'%s': name too long", p);
    strcpy(name, p);
    return 0;
}

int lvm_snapshot(const struct lvm_lv *lv, const char *name, uint64_t cow_size, char *path, size_t pathlen,
                 char *err, size_t errlen)
{
    char origin[2 * LVM_NAME_MAX + 2], size[32];
    snprintf(origin, sizeof(origin), "%s/%s", lv->vg, lv->name);
    struct spawn_result r;
    int rc;
    if (lvm_is_thin(lv)) {
        /* -kn: without it a thin snapshot is created with the activation
         * skip flag and stays inactive, with no device to open. */
        const char *const argv[] = {"lvcreate", "--snapshot", "--setactivationskip", "n", "--name", name, origin,
                                    NULL};
        rc = run_lvm(argv, &r, err, errlen);
    } else {
        snprintf(size, sizeof(size), "%llub", (unsigned long long)(cow_size ? cow_size : lvm_full_cow_size(lv)));
        const char *const argv[] = {"lvcreate", "--snapshot", "--size", size, "--name", name, origin, NULL};
        rc = run_lvm(argv, &r, err, errlen);
    }
    if (rc < 0)
        return -1;
    spawn_result_free(&r);
    snprintf(path, pathlen, "/dev/%s/%s", lv->vg, name);
    /* With udev, the node appears once udev has run its rules. */
    for (int i = 0; i < 100 && access(path, F_OK) < 0; i++)
        nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
    if (access(path, F_OK) < 0)
        return err_fail(err, errlen, "lvcreate made %s/%s, but %s did not appear", lv->vg, name, path);
    return 0;
}

int lvm_remove(const char *vg, const char *name, char *err, size_t errlen)
{
    char lv[2 * LVM_NAME_MAX + 2];
    snprintf(lv, sizeof(lv), "%s/%s", vg, name);
    const char *const argv[] = {"lvremove", "--force", lv, NULL};
    struct spawn_result r;
    if (run_lvm(argv, &r, err, errlen) < 0)
        return -1;
    spawn_result_free(&r);
    return 0;
}
