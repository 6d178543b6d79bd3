/* psci_affinity.c — AFFINITY_INFO and NODE_HW_STATE: read-only queries of the power state of a
 * vCPU or of a group of vCPUs (an affinity instance / power domain node). */
#include "psci/psci_private.h"

/* MPIDR bits compared at each lowest_affinity_level: the fields at and above the level. */
static const uint64_t affinity_masks[4] = {
    0xff00ffffffULL, /* 0: Aff3.Aff2.Aff1.Aff0 */
    0xff00ffff00ULL, /* 1: Aff3.Aff2.Aff1 */
    0xff00ff0000ULL, /* 2: Aff3.Aff2 */
    0xff00000000ULL, /* 3: Aff3 */
};

/* AFFINITY_INFO(target_affinity, lowest_affinity_level), DEN0022 §5.7. Levels 0..3 are accepted
 * (as KVM does; TF-A only 0 — PSCI 1.0 deprecates levels > 0 but allows them). Bits of
 * target_affinity below the level are ignored. An affinity instance is ON if any vCPU in it is
 * ON or SUSPENDED (a suspended core is logically on), else ON_PENDING if any is ON_PENDING,
 * else OFF. No vCPU in the instance -> INVALID_PARAMETERS. */
int64_t psci_affinity_info(const struct psci_machine *m, uint64_t target, uint32_t level)
{
    if (level > 3 || (target & ~PSCI_MPIDR_AFF_MASK))
        return PSCI_RET_INVALID_PARAMETERS;
    uint64_t mask = affinity_masks[level];
    bool found = false, pending = false;
    for (unsigned int i = 0; i < m->nr_vcpus; i++) {
        const struct psci_vcpu *v = &m->vcpus[i];
        if ((v->mpidr & mask) != (target & mask))
            continue;
        found = true;
        if (v->state == PSCI_CPU_ON || v->state == PSCI_CPU_SUSPENDED)
            return PSCI_AFF_ON;
        if (v->state == PSCI_CPU_ON_PENDING)
            pending = true;
    }
    if (!found)
        return PSCI_RET_INVALID_PARAMETERS;
    return pending ? PSCI_AFF_ON_PENDING : PSCI_AFF_OFF;
}

static int vcpu_hw_state(const struct psci_vcpu *v)
{
    switch (v->state) {
    case PSCI_CPU_ON:
    case PSCI_CPU_ON_PENDING: /* power-up requested and in progress */
        return PSCI_HW_ON;
    case PSCI_CPU_SUSPENDED:
        return v->suspend == PSCI_SUSPEND_STANDBY ? PSCI_HW_STANDBY : PSCI_HW_OFF;
    case PSCI_CPU_OFF:
        break;
    }
    return PSCI_HW_OFF;
}

/* NODE_HW_STATE(target_cpu, power_level), DEN0022 §5.16. target_cpu must name a vCPU exactly
 * and power_level must be <= 2 (core, cluster, system: our power domain tree), else
 * INVALID_PARAMETERS (TF-A psci_node_hw_state()). Level 0: the vCPU's own state (ON and
 * ON_PENDING -> HW_ON, standby -> HW_STANDBY, OFF and power-down/system suspend -> HW_OFF).
 * Level 1 (vCPUs sharing Aff3.Aff2.Aff1) and level 2 (all vCPUs): HW_ON if any member is on,
 * else HW_STANDBY if any is in standby, else HW_OFF. */
int64_t psci_node_hw_state(const struct psci_machine *m, uint64_t target, uint32_t level)
{
    int idx = psci_mpidr_to_index(m, target);
    if (idx < 0 || level > PSCI_MAX_PWR_LEVEL)
        return PSCI_RET_INVALID_PARAMETERS;
    if (level == 0)
        return vcpu_hw_state(&m->vcpus[idx]);
    uint64_t mask = level == 1 ? affinity_masks[1] : 0;
    bool standby = false;
    for (unsigned int i = 0; i < m->nr_vcpus; i++) {
        const struct psci_vcpu *v = &m->vcpus[i];
        if ((v->mpidr & mask) != (target & mask))
            continue;
        int hw = vcpu_hw_state(v);
        if (hw == PSCI_HW_ON)
            return PSCI_HW_ON;
        if (hw == PSCI_HW_STANDBY)
            standby = true;
    }
    return standby ? PSCI_HW_STANDBY : PSCI_HW_OFF;
}
