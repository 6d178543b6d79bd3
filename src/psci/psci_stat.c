/* psci_stat.c — PSCI_STAT_RESIDENCY and PSCI_STAT_COUNT (DEN0022 §5.18/§5.19), and the
 * accounting done when a suspend completes. Statistics are per vCPU and per accepted
 * power_state (the four states in psci_private.h); SYSTEM_SUSPEND counts under the system
 * power-down state 0x02010000. Only completed suspends (ended by psci_cpu_woken()) count; a
 * refused SYSTEM_SUSPEND or a reset while suspended does not. */
#include "psci/psci_private.h"

void psci_stat_account(struct psci_machine *m, struct psci_vcpu *v)
{
    int slot = v->suspend == PSCI_SUSPEND_SYSTEM ? psci_pstate_slot(PSCI_PSTATE_SYSTEM_POWERDOWN)
                                                 : psci_pstate_slot(v->power_state);
    if (slot < 0)
        return; /* unreachable while psci_machine_check() holds */
    v->stat_count[slot] = psci_add_sat(v->stat_count[slot], 1);
    v->stat_residency_ns[slot] = psci_add_sat(v->stat_residency_ns[slot],
                                              psci_suspend_elapsed_ns(m, v));
}

/* An invalid target_cpu or power_state yields 0, not an error: the spec defines both calls to
 * return a count/time only (TF-A psci_stat.c returns 0 for an invalid MPIDR or power_state). */
static int stat_lookup(const struct psci_machine *m, uint64_t target, uint32_t power_state,
                       const struct psci_vcpu **v)
{
    int idx = psci_mpidr_to_index(m, target);
    int slot = psci_pstate_slot(power_state);
    if (idx < 0 || slot < 0)
        return -1;
    *v = &m->vcpus[idx];
    return slot;
}

/* Residency in microseconds. */
uint64_t psci_stat_residency(const struct psci_machine *m, uint64_t target, uint32_t power_state)
{
    const struct psci_vcpu *v = NULL;
    int slot = stat_lookup(m, target, power_state, &v);
    return slot < 0 ? 0 : v->stat_residency_ns[slot] / 1000;
}

uint64_t psci_stat_count(const struct psci_machine *m, uint64_t target, uint32_t power_state)
{
    const struct psci_vcpu *v = NULL;
    int slot = stat_lookup(m, target, power_state, &v);
    return slot < 0 ? 0 : v->stat_count[slot];
}
