#include "microscope/vmmap.h"

#include <stdlib.h>
#include <string.h>

void ms_vmmap_init(struct ms_vmmap *m)
{
    memset(m, 0, sizeof(*m));
}

void ms_vmmap_free(struct ms_vmmap *m)
{
    free(m->vm);
    memset(m, 0, sizeof(*m));
}

int ms_vmmap_add(struct ms_vmmap *m, const struct ms_vm *vm)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->vm[i].pid == vm->pid && !strcmp(m->vm[i].name, vm->name))
            return 0;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        struct ms_vm *n = realloc(m->vm, cap * sizeof(*n));
        if (!n)
            return -1;
        m->vm = n;
        m->cap = cap;
    }
    m->vm[m->n] = *vm;
    m->vm[m->n].name[sizeof(vm->name) - 1] = 0;
    m->n++;
    return 1;
}

const struct ms_vm *ms_vmmap_find(const struct ms_vmmap *m, uint32_t pid, uint64_t t_ns)
{
    const struct ms_vm *best = NULL, *first = NULL;
    for (size_t i = 0; i < m->n; i++) {
        const struct ms_vm *v = &m->vm[i];
        if (v->pid != pid)
            continue;
        if (!first || v->t_ns < first->t_ns)
            first = v;
        if (v->t_ns <= t_ns && (!best || v->t_ns > best->t_ns))
            best = v;
    }
    return best ? best : first;
}

int ms_agg_by_vm(const struct ms_agg *in, const struct ms_vmmap *m, struct ms_agg *out)
{
    ms_agg_init(out, in->bucket_ns);
    for (size_t i = 0; i < in->nseries; i++) {
        const struct ms_series *s = &in->series[i];
        const struct ms_vm *vm = NULL;
        if (s->kind != MS_DEVICE && s->pid && s->npts)
            vm = ms_vmmap_find(m, s->pid, s->pts[0].t_ns);
        if (ms_agg_merge(out, s, vm ? vm->pid : s->tid, vm ? vm->name : NULL) < 0) {
            ms_agg_free(out);
            return -1;
        }
    }
    ms_agg_finish(out);
    return 0;
}
