/* psci_on.c — CPU_ON and its completion callbacks (psci_cpu_started/psci_cpu_start_failed).
 * As in TF-A psci_on.c, the target moves OFF -> ON_PENDING before the backend acts and the
 * backend's report completes (ON) or rolls back (OFF) the transition. */
#include <errno.h>

#include "psci/psci_private.h"

/* CPU_ON(target_cpu, entry_point_address, context_id), DEN0022 §5.6. Check order (documented
 * in docs/psci.md):
 *   1. parameters: target MPIDR with bits outside Aff3..Aff0 or naming no vCPU
 *      -> INVALID_PARAMETERS; bad entry point -> INVALID_ADDRESS (>= 1.0) /
 *      INVALID_PARAMETERS (0.2). Same order as TF-A psci_cpu_on().
 *   2. policy: a vCPU the backend does not allow -> DENIED (>= 1.2, the CPU_ON error PSCI 1.2
 *      added) / INTERNAL_FAILURE (< 1.2, the only fitting error those versions list).
 *   3. state: ON or SUSPENDED -> ALREADY_ON; ON_PENDING -> ON_PENDING; OFF -> accepted.
 * Nothing changes unless all three pass. */
void psci_do_cpu_on(struct psci_machine *m, const struct psci_call *call, uint64_t target,
                    uint64_t entry, uint64_t context, struct psci_result *res)
{
    int idx = psci_mpidr_to_index(m, target);
    if (idx < 0) {
        res->x0 = PSCI_X0(PSCI_RET_INVALID_PARAMETERS);
        return;
    }
    int rc = psci_validate_entry(m, entry, call->aarch32);
    if (rc != 0) {
        res->x0 = PSCI_X0(rc);
        return;
    }
    struct psci_vcpu *t = &m->vcpus[idx];
    if (!t->allowed) {
        res->x0 = PSCI_X0(m->version >= PSCI_VERSION_1_2 ? PSCI_RET_DENIED
                                                         : PSCI_RET_INTERNAL_FAILURE);
        return;
    }
    switch (t->state) {
    case PSCI_CPU_ON:
    case PSCI_CPU_SUSPENDED:
        res->x0 = PSCI_X0(PSCI_RET_ALREADY_ON);
        return;
    case PSCI_CPU_ON_PENDING:
        res->x0 = PSCI_X0(PSCI_RET_ON_PENDING);
        return;
    case PSCI_CPU_OFF:
        break;
    }
    t->state = PSCI_CPU_ON_PENDING;
    t->entry = entry;
    t->context = context;
    res->x0 = PSCI_X0(PSCI_RET_SUCCESS);
    res->action.kind = PSCI_ACT_CPU_START;
    res->action.target = (unsigned int)idx;
    res->action.entry = entry;
    res->action.context = context;
}

int psci_cpu_started(struct psci_machine *m, unsigned int vcpu)
{
    if (m == NULL || vcpu >= m->nr_vcpus || m->vcpus[vcpu].state != PSCI_CPU_ON_PENDING)
        return -EINVAL;
    struct psci_vcpu *v = &m->vcpus[vcpu];
    v->state = PSCI_CPU_ON;
    v->entry = 0;
    v->context = 0;
    return 0;
}

int psci_cpu_start_failed(struct psci_machine *m, unsigned int vcpu)
{
    if (m == NULL || vcpu >= m->nr_vcpus || m->vcpus[vcpu].state != PSCI_CPU_ON_PENDING)
        return -EINVAL;
    struct psci_vcpu *v = &m->vcpus[vcpu];
    v->state = PSCI_CPU_OFF;
    v->entry = 0;
    v->context = 0;
    return 0;
}
