/* psci_system.c — SYSTEM_OFF, SYSTEM_RESET, SYSTEM_RESET2, SYSTEM_OFF2 and
 * psci_system_action_failed(). The core only validates and hands the action to the backend;
 * vCPU states move when the backend calls psci_machine_reset() (or nothing moves, if it
 * reports failure and resumes the caller with INTERNAL_FAILURE, as KVM does). */
#include <errno.h>

#include "psci/psci_private.h"

static void system_action(struct psci_machine *m, const struct psci_call *call,
                          enum psci_action_kind kind, struct psci_result *res)
{
    m->vcpus[call->vcpu].system_action_pending = true;
    /* These calls do not return on success; a caller resumed anyway sees INTERNAL_FAILURE. */
    res->x0 = PSCI_X0(PSCI_RET_INTERNAL_FAILURE);
    res->action.kind = kind;
}

void psci_do_system_off(struct psci_machine *m, const struct psci_call *call,
                        struct psci_result *res)
{
    system_action(m, call, PSCI_ACT_SYSTEM_OFF, res);
}

void psci_do_system_reset(struct psci_machine *m, const struct psci_call *call,
                          struct psci_result *res)
{
    system_action(m, call, PSCI_ACT_SYSTEM_RESET, res);
}

/* SYSTEM_RESET2(reset_type, cookie), DEN0022 §5.17: bit 31 set = vendor-specific (accepted,
 * passed on); architectural type 0 = SYSTEM_WARM_RESET; other architectural types are
 * reserved -> INVALID_PARAMETERS. The cookie is not interpreted (SMC32: low 32 bits). */
void psci_do_system_reset2(struct psci_machine *m, const struct psci_call *call, uint32_t type,
                           uint64_t cookie, struct psci_result *res)
{
    if (type != PSCI_RESET2_TYPE_WARM && !(type & PSCI_RESET2_TYPE_VENDOR)) {
        res->x0 = PSCI_X0(PSCI_RET_INVALID_PARAMETERS);
        return;
    }
    system_action(m, call, PSCI_ACT_SYSTEM_RESET2, res);
    res->action.type = type;
    res->action.cookie = cookie;
}

/* SYSTEM_OFF2(type, cookie), DEN0022F.b §5.23: type HIBERNATE_OFF (bit 0 = 1) or 0 (its alias
 * since F.b; Linux passes 0); cookie is reserved and must be 0 (as KVM enforces). */
void psci_do_system_off2(struct psci_machine *m, const struct psci_call *call, uint32_t type,
                         uint64_t cookie, struct psci_result *res)
{
    if ((type != 0 && type != PSCI_OFF2_TYPE_HIBERNATE_OFF) || cookie != 0) {
        res->x0 = PSCI_X0(PSCI_RET_INVALID_PARAMETERS);
        return;
    }
    system_action(m, call, PSCI_ACT_SYSTEM_OFF2, res);
    res->action.type = type;
}

int psci_system_action_failed(struct psci_machine *m, unsigned int vcpu, uint64_t *x0)
{
    if (m == NULL || vcpu >= m->nr_vcpus || m->vcpus[vcpu].state != PSCI_CPU_ON ||
        !m->vcpus[vcpu].system_action_pending)
        return -EINVAL;
    m->vcpus[vcpu].system_action_pending = false;
    if (x0 != NULL)
        *x0 = PSCI_X0(PSCI_RET_INTERNAL_FAILURE);
    return 0;
}
