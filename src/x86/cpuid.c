#include "x86/cpuid.h"

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_EDX_HTT        (1u << 28)
#define TOPO_LEVEL_SMT  1
#define TOPO_LEVEL_CORE 2

static uint32_t bits_for(uint32_t n)
{
    uint32_t b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

static void patch_topology_leaf(struct kvm_cpuid_entry2 *e, uint32_t apic_id, uint32_t ncpus)
{
    e->edx = apic_id;
    if (e->index == 0) {
        e->eax = 0;
        e->ebx = 1;
        e->ecx = (TOPO_LEVEL_SMT << 8) | e->index;
    } else if (e->index == 1) {
        e->eax = bits_for(ncpus);
        e->ebx = ncpus;
        e->ecx = (TOPO_LEVEL_CORE << 8) | e->index;
    } else {
        e->eax = 0;
        e->ebx = 0;
        e->ecx = e->index; /* level type 0: no more levels */
    }
}

uint32_t cpuid_phys_bits(const struct kvm_cpuid2 *cpuid)
{
    for (uint32_t i = 0; i < cpuid->nent; i++)
        if (cpuid->entries[i].function == 0x80000008)
            return cpuid->entries[i].eax & 0xFF;
    return 0;
}

static bool has_entry(const struct kvm_cpuid2 *cpuid, uint32_t function, uint32_t index)
{
    for (uint32_t i = 0; i < cpuid->nent; i++)
        if (cpuid->entries[i].function == function && cpuid->entries[i].index == index)
            return true;
    return false;
}

/* Recent KVM returns the topology leaves with sub-leaf 0 only and zeroed
 * (no host topology leaks out): the core level and the terminating level
 * are ours to add. */
static int add_topology_levels(struct kvm_cpuid2 *cpuid, uint32_t capacity, uint32_t function)
{
    if (!has_entry(cpuid, function, 0))
        return 0;
    for (uint32_t index = 1; index <= 2; index++) {
        if (has_entry(cpuid, function, index))
            continue;
        if (cpuid->nent >= capacity)
            return -1;
        cpuid->entries[cpuid->nent++] = (struct kvm_cpuid_entry2){
            .function = function, .index = index, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
        };
    }
    return 0;
}

int cpuid_patch_for_vcpu(struct kvm_cpuid2 *cpuid, uint32_t capacity, uint32_t apic_id,
                         uint32_t ncpus, bool tsc_deadline)
{
    if (add_topology_levels(cpuid, capacity, 0xB) < 0 || add_topology_levels(cpuid, capacity, 0x1F) < 0)
        return -1;
    for (uint32_t i = 0; i < cpuid->nent; i++) {
        struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
        switch (e->function) {
        case 1:
            /* EBX[31:24] initial APIC id, [23:16] logical processors. */
            e->ebx = (e->ebx & 0x0000FFFFu) | (apic_id << 24) | ((ncpus & 0xFF) << 16);
            e->ecx |= CPUID_1_ECX_HYPERVISOR;
            /* Without it Linux calibrates the LAPIC timer against the PIT,
             * which fails under heavy (nested) emulation and leaves the
             * guest without high-resolution timers. */
            if (tsc_deadline)
                e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
            if (ncpus > 1)
                e->edx |= CPUID_1_EDX_HTT;
            else
                e->edx &= ~CPUID_1_EDX_HTT;
            break;
        case 4:
            /* Intel: EAX[31:26] cores per package - 1; caches are not shared
             * between our cores (EAX[25:14] = 0). */
            e->eax = (e->eax & 0x3FFFu) | ((ncpus - 1) << 26);
            break;
        case 0xB:
        case 0x1F:
            patch_topology_leaf(e, apic_id, ncpus);
            break;
        case 0x80000008:
            /* AMD: ECX[7:0] cores - 1, [15:12] APIC id bits. */
            e->ecx = (e->ecx & ~0xF0FFu) | (bits_for(ncpus) << 12) | ((ncpus - 1) & 0xFF);
            break;
        default:
            break;
        }
    }
    return 0;
}
