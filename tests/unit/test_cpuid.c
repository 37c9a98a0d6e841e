/* Per-vCPU CPUID: APIC ids, topology levels added where KVM leaves them
 * out, and the TSC-deadline bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "x86/cpuid.h"

#define CAP 16

static struct kvm_cpuid2 *make(void)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + CAP * sizeof(struct kvm_cpuid_entry2));
    /* What recent KVM hands out: leaf 1, and leaf 0xB with only a zeroed
     * sub-leaf 0. */
    c->entries[c->nent++] = (struct kvm_cpuid_entry2){.function = 1, .ebx = 0x00000800, .ecx = 0x1, .edx = 0};
    c->entries[c->nent++] = (struct kvm_cpuid_entry2){.function = 0xB, .index = 0,
                                                      .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX};
    c->entries[c->nent++] = (struct kvm_cpuid_entry2){.function = 0x80000008, .eax = 0x3030, .ecx = 0};
    return c;
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
    for (uint32_t i = 0; i < c->nent; i++)
        if (c->entries[i].function == fn && c->entries[i].index == idx)
            return &c->entries[i];
    return NULL;
}

static void four_cpus(void **state)
{
    (void)state;
    struct kvm_cpuid2 *c = make();
    assert_int_equal(cpuid_patch_for_vcpu(c, CAP, 3, 4, true), 0);

    const struct kvm_cpuid_entry2 *l1 = find(c, 1, 0);
    assert_int_equal(l1->ebx >> 24, 3);              /* initial APIC id */
    assert_int_equal((l1->ebx >> 16) & 0xFF, 4);     /* logical processors */
    assert_int_equal(l1->ebx & 0xFFFF, 0x0800);      /* CLFLUSH size kept */
    assert_true(l1->ecx & (1u << 31));               /* hypervisor */
    assert_true(l1->ecx & (1u << 24));               /* TSC deadline */
    assert_true(l1->edx & (1u << 28));               /* HTT */

    const struct kvm_cpuid_entry2 *smt = find(c, 0xB, 0), *core = find(c, 0xB, 1), *end = find(c, 0xB, 2);
    assert_non_null(core);
    assert_non_null(end);
    assert_int_equal(smt->ebx, 1);
    assert_int_equal((smt->ecx >> 8) & 0xFF, 1);     /* SMT level */
    assert_int_equal(core->eax, 2);                  /* 4 cores: 2 id bits */
    assert_int_equal(core->ebx, 4);
    assert_int_equal((core->ecx >> 8) & 0xFF, 2);    /* core level */
    assert_true(core->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
    assert_int_equal((end->ecx >> 8) & 0xFF, 0);     /* no more levels */
    assert_int_equal(smt->edx, 3);
    assert_int_equal(core->edx, 3);

    const struct kvm_cpuid_entry2 *amd = find(c, 0x80000008, 0);
    assert_int_equal(amd->ecx & 0xFF, 3);            /* cores - 1 */
    assert_int_equal(amd->eax, 0x3030);              /* address sizes untouched */
    assert_int_equal(cpuid_phys_bits(c), 0x30);
    free(c);
}

static void one_cpu_without_deadline(void **state)
{
    (void)state;
    struct kvm_cpuid2 *c = make();
    c->entries[0].edx = 1u << 28;
    assert_int_equal(cpuid_patch_for_vcpu(c, CAP, 0, 1, false), 0);
    const struct kvm_cpuid_entry2 *l1 = find(c, 1, 0);
    assert_false(l1->ecx & (1u << 24));
    assert_false(l1->edx & (1u << 28));
    assert_int_equal(find(c, 0xB, 1)->eax, 0);
    /* Patching again (a second vCPU's copy) adds nothing twice. */
    uint32_t n = c->nent;
    assert_int_equal(cpuid_patch_for_vcpu(c, CAP, 0, 1, false), 0);
    assert_int_equal(c->nent, n);
    free(c);
}

static void no_room(void **state)
{
    (void)state;
    struct kvm_cpuid2 *c = make();
    c->nent = 2; /* without leaf 0x80000008 the address width is unknown */
    assert_int_equal(cpuid_phys_bits(c), 0);
    assert_int_equal(cpuid_patch_for_vcpu(c, c->nent + 1, 0, 2, false), -1);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(four_cpus),
        cmocka_unit_test(one_cpu_without_deadline),
        cmocka_unit_test(no_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
