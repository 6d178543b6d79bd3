/* psci_suspend.c — CPU_SUSPEND (original power_state format, platform-coordinated mode),
 * SYSTEM_SUSPEND, and the callbacks that end a suspend: psci_cpu_woken() and
 * psci_system_suspend_refused(). */
#include <errno.h>

#include "psci/psci_private.h"

/* CPU_SUSPEND(power_state, entry_point_address, context_id), DEN0022 §5.4. Layers as in TF-A
 * psci_cpu_suspend(): power_state must be one of the four states listed in psci_private.h
 * (else INVALID_PARAMETERS); a power-down state then needs a valid entry point (else
 * INVALID_ADDRESS >= 1.0 / INVALID_PARAMETERS 0.2); standby ignores entry and context. */
void psci_do_cpu_suspend(struct psci_machine *m, const struct psci_call *call,
                         uint32_t power_state, uint64_t entry, uint64_t context,
                         struct psci_result *res)
{
    int slot = psci_pstate_slot(power_state);
    if (slot < 0) {
        res->x0 = PSCI_X0(PSCI_RET_INVALID_PARAMETERS);
        return;
    }
    struct psci_vcpu *v = &m->vcpus[call->vcpu];
    if (slot == 0) {
        psci_suspend_begin(m, v, PSCI_SUSPEND_STANDBY, power_state, 0, 0);
        v->system_action_pending = false;
        res->x0 = PSCI_X0(PSCI_RET_SUCCESS);
        res->action.kind = PSCI_ACT_CPU_STANDBY;
        res->action.power_state = power_state;
        return;
    }
    int rc = psci_validate_entry(m, entry, call->aarch32);
    if (rc != 0) {
        res->x0 = PSCI_X0(rc);
        return;
    }
    psci_suspend_begin(m, v, PSCI_SUSPEND_POWERDOWN, power_state, entry, context);
    v->system_action_pending = false;
    res->x0 = context; /* what x0 holds when the vCPU restarts at entry */
    res->action.kind = PSCI_ACT_CPU_POWERDOWN;
    res->action.entry = entry;
    res->action.context = context;
    res->action.power_state = power_state;
}

/* SYSTEM_SUSPEND(entry_point_address, context_id), DEN0022 §5.20. Order as TF-A
 * psci_system_suspend(): every other vCPU must be OFF (ON, SUSPENDED or ON_PENDING -> DENIED),
 * then the entry point is validated (INVALID_ADDRESS). */
void psci_do_system_suspend(struct psci_machine *m, const struct psci_call *call, uint64_t entry,
                            uint64_t context, struct psci_result *res)
{
    for (unsigned int i = 0; i < m->nr_vcpus; i++) {
        if (i != call->vcpu && m->vcpus[i].state != PSCI_CPU_OFF) {
            res->x0 = PSCI_X0(PSCI_RET_DENIED);
            return;
        }
    }
    int rc = psci_validate_entry(m, entry, call->aarch32);
    if (rc != 0) {
        res->x0 = PSCI_X0(rc);
        return;
    }
    struct psci_vcpu *v = &m->vcpus[call->vcpu];
    psci_suspend_begin(m, v, PSCI_SUSPEND_SYSTEM, PSCI_PSTATE_SYSTEM_POWERDOWN, entry, context);
    v->system_action_pending = false;
    m->system_suspender = (int)call->vcpu;
    res->x0 = context;
    res->action.kind = PSCI_ACT_SYSTEM_SUSPEND;
    res->action.entry = entry;
    res->action.context = context;
}

int psci_cpu_woken(struct psci_machine *m, unsigned int vcpu)
{
    if (m == NULL || vcpu >= m->nr_vcpus || m->vcpus[vcpu].state != PSCI_CPU_SUSPENDED)
        return -EINVAL;
    struct psci_vcpu *v = &m->vcpus[vcpu];
    psci_stat_account(m, v);
    if (v->suspend == PSCI_SUSPEND_SYSTEM)
        m->system_suspender = -1;
    psci_suspend_clear(v);
    v->state = PSCI_CPU_ON;
    v->entry = 0;
    v->context = 0;
    return 0;
}

int psci_system_suspend_refused(struct psci_machine *m, unsigned int vcpu, uint64_t *x0)
{
    if (m == NULL || vcpu >= m->nr_vcpus || m->vcpus[vcpu].state != PSCI_CPU_SUSPENDED ||
        m->vcpus[vcpu].suspend != PSCI_SUSPEND_SYSTEM)
        return -EINVAL;
    struct psci_vcpu *v = &m->vcpus[vcpu];
    psci_suspend_clear(v); /* never entered: not counted */
    v->state = PSCI_CPU_ON;
    v->entry = 0;
    v->context = 0;
    m->system_suspender = -1;
    if (x0 != NULL)
        *x0 = PSCI_X0(PSCI_RET_DENIED);
    return 0;
}
