/* cpus = "CPULIST" (every vCPU) or ["CPULIST", ...] (vCPU i gets entry i),
 * and vireo's iothread_cpus, the same for the disks' I/O threads (disk i,
 * in vdev order, gets entry i),
 * as xl.cfg(5): a CPULIST is comma-separated items applied in order, each
 * "all", "N" or "N-M", with a leading '^' removing instead of adding
 * ("0-3,^1" is 0,2,3; "all,^7" everything but 7).  Like xl, empty items
 * are skipped, vCPUs beyond a short list are not pinned and list entries
 * beyond vcpus are ignored (with a warning here).  NUMA node items
 * ("node:1", "nodes:0-1") are refused: vireo does not read the host's
 * topology yet. */
#include <stdio.h>
#include <string.h>

#include "toolstack/vm_config_impl.h"

static void set_range(struct vm_cpuset *s, unsigned a, unsigned z, bool on)
{
    for (unsigned i = a; i <= z; i++) {
        if (on)
            s->bits[i / 64] |= 1ull << (i % 64);
        else
            s->bits[i / 64] &= ~(1ull << (i % 64));
    }
}

static int cpu_number(struct vm_build *b, const struct xlcfg_value *v, size_t off, const char *s, size_t len,
                      unsigned *out)
{
    char shown[VMC_SHOW_MAX];
    uint64_t n;
    /* xl reads these in decimal only (strtoul base 10). */
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return vmc_err_at(b, v, off, "invalid CPU '%s' in %s; expected CPU numbers such as 2 or 0-3",
                              VMC_SHOW(shown, s, len), b->pin_key);
    }
    if (!len)
        return vmc_err_at(b, v, off, "missing CPU number in %s; expected CPU numbers such as 2 or 0-3", b->pin_key);
    if (xlcfg_parse_u64(s, len, &n) == XLCFG_NUM_TOO_BIG || n >= VM_MAX_HOST_CPUS)
        return vmc_err_at(b, v, off, "CPU %s in %s is out of range; expected 0 to %d", VMC_SHOW(shown, s, len),
                          b->pin_key, VM_MAX_HOST_CPUS - 1);
    *out = (unsigned)n;
    return 0;
}

/* One item of a CPULIST: s[0..len) at byte off of v. */
static int cpu_item(struct vm_build *b, const struct xlcfg_value *v, size_t off, const char *s, size_t len,
                    struct vm_cpuset *set)
{
    char shown[VMC_SHOW_MAX];
    bool on = true;
    size_t i = 0;
    if (len && s[0] == '^') {
        on = false;
        i = 1;
    }
    const char *t = s + i;
    size_t tl = len - i;
    if ((tl >= 5 && !strncmp(t, "node:", 5)) || (tl >= 6 && !strncmp(t, "nodes:", 6)))
        return vmc_err_at(b, v, off, "'%s' in %s is valid for xl but not supported by vireo; "
                                     "expected CPU numbers", VMC_SHOW(shown, s, len), b->pin_key);
    if (tl == 3 && !strncmp(t, "all", 3)) {
        if (!on)
            return vmc_err_at(b, v, off, "'^all' in %s removes every CPU; expected ^N or ^N-M", b->pin_key);
        set_range(set, 0, VM_MAX_HOST_CPUS - 1, true);
        return 0;
    }
    const char *dash = memchr(t, '-', tl);
    unsigned a, z;
    if (cpu_number(b, v, off + i, t, dash ? (size_t)(dash - t) : tl, &a) < 0)
        return -1;
    z = a;
    if (dash) {
        size_t zo = (size_t)(dash - t) + 1;
        if (cpu_number(b, v, off + i + zo, dash + 1, tl - zo, &z) < 0)
            return -1;
        if (z < a)
            return vmc_err_at(b, v, off, "CPU range '%s' in %s is backwards; expected N-M with N <= M",
                              VMC_SHOW(shown, s, len), b->pin_key);
    }
    set_range(set, a, z, on);
    return 0;
}

static int cpu_list(struct vm_build *b, const struct xlcfg_value *v, struct vm_cpuset *set)
{
    char shown[VMC_SHOW_MAX];
    if (v->type == XLCFG_LIST)
        return vmc_err(b, &v->loc, "%s entries must be strings, not [lists]; expected \"CPULIST\"", b->pin_key);
    memset(set, 0, sizeof(*set));
    size_t p = 0, s, z;
    while (vmc_next_field(v->str, v->len, &p, &s, &z))
        if (z > s && cpu_item(b, v, s, v->str + s, z - s, set) < 0)
            return -1;
    for (size_t i = 0; i < VM_MAX_HOST_CPUS / 64; i++) {
        if (set->bits[i])
            return 0;
    }
    return vmc_err_at(b, v, XLCFG_WHOLE, "%s '%s' selects no CPU; expected at least one", b->pin_key,
                      VMC_SHOW(shown, v->str, v->len));
}

/* KEY = "CPULIST" (every one of n things) or ["CPULIST", ...] (thing i
 * gets entry i); sets[] starts as all CPUs.  `what` says how many things
 * there are in the warning about extra entries ("vcpus is"). */
static int pin_sets(struct vm_build *b, const char *key, const struct xlcfg_value *v, const struct xlcfg_loc *loc,
                    struct vm_cpuset *sets, unsigned max, unsigned n, const char *what)
{
    struct vm_cpuset all;
    memset(&all, 0xff, sizeof(all));
    for (unsigned i = 0; i < max; i++)
        sets[i] = all;
    b->pin_key = key;
    if (v->type != XLCFG_LIST) {
        if (cpu_list(b, v, &sets[0]) < 0)
            return -1;
        for (unsigned i = 1; i < max; i++)
            sets[i] = sets[0];
        return 0;
    }
    struct vm_cpuset scratch;
    for (size_t i = 0; i < v->nitems; i++) {
        /* Every entry is checked, even those xl would skip: a typo there
         * is still a typo. */
        if (cpu_list(b, &v->items[i], i < n ? &sets[i] : &scratch) < 0)
            return -1;
    }
    if (v->nitems > n)
        vmc_warn(b, loc, "%s has %zu entries but %s %u; the extra entries are ignored%s", key, v->nitems, what, n,
                 strcmp(key, "cpus") ? "" : " (as xl does)");
    return 0;
}

int vmc_cpus(struct vm_build *b)
{
    struct vm_config *c = b->c;
    struct vm_cpuset all;
    memset(&all, 0xff, sizeof(all));
    for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
        c->cpus[i] = all;
    for (unsigned i = 0; i < VM_MAX_DISKS; i++)
        c->iothread_cpus[i] = all;
    if (b->cpus) {
        c->pinned = true;
        if (pin_sets(b, "cpus", b->cpus, &b->cpus_loc, c->cpus, VM_MAX_VCPUS, c->vcpus, "vcpus is") < 0)
            return -1;
    }
    if (b->iothread_cpus) {
        c->iothreads_pinned = true;
        if (pin_sets(b, "iothread_cpus", b->iothread_cpus, &b->iothread_cpus_loc, c->iothread_cpus, VM_MAX_DISKS,
                     c->ndisks, "the number of disks is") < 0)
            return -1;
    }
    return 0;
}
