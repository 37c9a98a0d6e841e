/* mem-set and mem-max (xl's), and the balloon's figures in the info and
 * stats answers.  mem-set answers once the guest is asked: a guest that
 * never moves its balloon (no driver, or one that refuses) is shown as
 * "not following" in the figures, never waited on. */
#include "toolstack/vm_mem_commands.h"

#include <stdio.h>
#include <time.h>

#include "toolstack/vm_process_impl.h"
#include "util/log.h"

#define PAGES_PER_MIB (1024 * 1024 / VBALLOON_PAGE_SIZE)

static double seconds_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

void vmp_mem_apply(struct vmp *p)
{
    clock_gettime(CLOCK_MONOTONIC, &p->mem_set_at);
    p->mem_change_at = p->mem_set_at;
    if (p->vm && p->vm->balloon &&
        vballoon_set_target(p->vm->balloon, vm_memory_balloon_pages(&p->mem)) < 0)
        vlog_err("balloon: cannot ask for %llu MiB", (unsigned long long)p->mem.target_mib);
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
    json_object_object_add(o, k, json_object_new_uint64(v));
}

struct json_object *vmp_balloon_json(struct vmp *p)
{
    if (!p->mem.balloon || !p->vm || !p->vm->balloon)
        return NULL;
    struct vballoon_counters c;
    struct vballoon_guest_stats gs;
    vballoon_get_counters(p->vm->balloon, &c);
    vballoon_get_guest_stats(p->vm->balloon, &gs);
    vballoon_request_stats(p->vm->balloon);   /* fresh figures for the next look */
    if (c.ballooned_pages != p->mem_seen_pages) {
        p->mem_seen_pages = c.ballooned_pages;
        clock_gettime(CLOCK_MONOTONIC, &p->mem_change_at);
    }
    uint64_t want = vm_memory_balloon_pages(&p->mem);
    uint64_t ram_pages = p->mem.ram_mib * PAGES_PER_MIB;
    uint64_t in = c.ballooned_pages < ram_pages ? c.ballooned_pages : ram_pages;
    double since = seconds_since(&p->mem_set_at);
    struct json_object *o = json_object_new_object();
    add_u64(o, "target_mib", p->mem.target_mib);
    add_u64(o, "max_mib", p->mem.max_mib);
    add_u64(o, "ram_mib", p->mem.ram_mib);
    /* As the device counted the pages the guest gave: the guest's own
     * claim (config space "actual") is shown apart, as it may lie. */
    add_u64(o, "actual_mib", (ram_pages - in) / PAGES_PER_MIB);
    add_u64(o, "balloon_pages", c.ballooned_pages);
    add_u64(o, "target_pages", want);
    add_u64(o, "guest_claimed_pages", c.actual_pages);
    json_object_object_add(o, "progress", json_object_new_string(vm_memory_progress(
                                              want, c.ballooned_pages, since, seconds_since(&p->mem_change_at))));
    json_object_object_add(o, "since_request", json_object_new_double(since));
    struct json_object *g = json_object_new_object();
    static const struct {
        int tag;
        const char *key;
    } figs[] = {{VBALLOON_S_MEMTOT, "total"}, {VBALLOON_S_MEMFREE, "free"}, {VBALLOON_S_AVAIL, "available"},
                {VBALLOON_S_CACHES, "caches"}, {VBALLOON_S_SWAP_IN, "swap_in"}, {VBALLOON_S_SWAP_OUT, "swap_out"},
                {VBALLOON_S_MAJFLT, "major_faults"}, {VBALLOON_S_MINFLT, "minor_faults"}};
    for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++)
        if (gs.valid & (1u << figs[i].tag))
            add_u64(g, figs[i].key, gs.val[figs[i].tag]);
    add_u64(g, "updates", gs.updates);
    json_object_object_add(o, "guest", g);   /* bytes, as the guest reports them */
    struct json_object *e = json_object_new_object();
    add_u64(e, "bad_pfns", c.bad_pfns);
    add_u64(e, "inflate_repeats", c.inflate_repeats);
    add_u64(e, "deflate_unknown", c.deflate_unknown);
    add_u64(e, "discard_errors", c.discard_errors);
    add_u64(e, "bad_buffers", c.bad_buffers);
    add_u64(e, "reported_bytes", c.reported_bytes);
    json_object_object_add(o, "counters", e);
    return o;
}

static int mib_arg(struct json_object *req, const char *key, uint64_t *out, char *err, size_t errlen)
{
    struct json_object *v;
    if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_int) ||
        json_object_get_int64(v) < 0) {
        snprintf(err, errlen, "expected \"%s\": MiB", key);
        return -1;
    }
    *out = (uint64_t)json_object_get_int64(v);
    return 0;
}

int vmp_cmd_mem_set(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    struct vmp *p = vmp;
    uint64_t mib;
    if (mib_arg(req, "target_mib", &mib, err, errlen) < 0 || vm_memory_set(&p->mem, mib, err, errlen) < 0)
        return -1;
    vmp_mem_apply(p);
    vlog_info("mem-set: the guest is asked to hold %llu MiB", (unsigned long long)mib);
    struct json_object *b = vmp_balloon_json(p);
    json_object_object_add(r, "balloon", b ? b : json_object_new_object());
    return 0;
}

int vmp_cmd_mem_max(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)r;
    struct vmp *p = vmp;
    uint64_t mib;
    if (mib_arg(req, "max_mib", &mib, err, errlen) < 0 || vm_memory_set_max(&p->mem, mib, err, errlen) < 0)
        return -1;
    vlog_info("mem-max: %llu MiB", (unsigned long long)mib);
    return 0;
}
