/* psci_off.c — CPU_OFF. pscivm hosts no Trusted OS, so CPU_OFF is never DENIED; the last vCPU
 * that is on may power itself off too (what an all-off machine means is the backend's policy). */
#include "psci/psci_private.h"

void psci_do_cpu_off(struct psci_machine *m, const struct psci_call *call,
                     struct psci_result *res)
{
    struct psci_vcpu *v = &m->vcpus[call->vcpu];
    v->state = PSCI_CPU_OFF;
    v->system_action_pending = false;
    v->entry = 0;
    v->context = 0;
    /* CPU_OFF does not return on success; should the backend resume the caller anyway, it sees
     * INTERNAL_FAILURE rather than a success that did not happen. */
    res->x0 = PSCI_X0(PSCI_RET_INTERNAL_FAILURE);
    res->action.kind = PSCI_ACT_CPU_STOP;
}
