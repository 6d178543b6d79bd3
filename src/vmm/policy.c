/* policy.c — system power transition policy (table in policy.h). */
#include "vmm/exit_status.h"
#include "vmm/policy.h"

struct policy_decision policy_system_request(const struct run_options *opts,
                                             enum system_request req)
{
    bool restart = opts->on_reset == ON_RESET_RESTART;
    switch (req) {
    case SYSTEM_REQ_OFF:
        return (struct policy_decision){false, PSCIVM_EXIT_OFF, "system_off"};
    case SYSTEM_REQ_OFF2:
        return (struct policy_decision){false, PSCIVM_EXIT_HIBERNATE, "system_off2"};
    case SYSTEM_REQ_RESET:
        return (struct policy_decision){restart, PSCIVM_EXIT_RESET, "system_reset"};
    case SYSTEM_REQ_RESET2:
        return (struct policy_decision){restart, PSCIVM_EXIT_RESET, "system_reset2"};
    }
    return (struct policy_decision){false, PSCIVM_EXIT_ERROR, "unknown system request"};
}

enum suspend_decision policy_system_suspend(const struct run_options *opts, bool others_off)
{
    if (!others_off || opts->on_suspend == ON_SUSPEND_DENY)
        return SUSPEND_DENY;
    return opts->on_suspend == ON_SUSPEND_EXIT ? SUSPEND_EXIT : SUSPEND_WAIT;
}

bool policy_suspend_save(const struct run_options *opts, unsigned int *delay_s)
{
    *delay_s = 0;
    if (!opts->suspend_file)
        return false;
    if (opts->on_suspend == ON_SUSPEND_SAVE)
        return true;
    if (opts->on_suspend != ON_SUSPEND_WAIT)
        return false;
    *delay_s = opts->save_after_s;
    return true;
}
