/* policy.h — what pscivm does when the guest asks for a system-wide power transition: a pure
 * function of the command-line choices (unit-tested natively; the run loop only applies it).
 *
 *   SYSTEM_OFF                 -> exit PSCIVM_EXIT_OFF (0)
 *   SYSTEM_OFF2 (hibernate)    -> exit PSCIVM_EXIT_HIBERNATE (4)
 *   SYSTEM_RESET / RESET2      -> restart in-process (--on-reset restart, default)
 *                                 or exit PSCIVM_EXIT_RESET (3) (--on-reset exit)
 *   SYSTEM_SUSPEND             -> wait for a wake source and resume at entry (--on-suspend
 *                                 wait, default), deny (--on-suspend deny), or end pscivm with
 *                                 PSCIVM_EXIT_SUSPEND (8) (--on-suspend exit); always denied
 *                                 while another vCPU is not off (PSCI's precondition).
 *                                 --on-suspend save=PATH and wait,save-after=S,file=PATH wait
 *                                 too, and save the suspended VM (at once, or after S seconds):
 *                                 policy_suspend_save() says when
 */
#ifndef PSCIVM_POLICY_H
#define PSCIVM_POLICY_H

#include <stdbool.h>

#include "vmm/run_options.h"

enum system_request {
    SYSTEM_REQ_OFF,
    SYSTEM_REQ_OFF2,
    SYSTEM_REQ_RESET,
    SYSTEM_REQ_RESET2,
};

struct policy_decision {
    bool restart;        /* restart the VM in-process instead of exiting */
    int exit_status;     /* enum pscivm_exit_status when !restart */
    const char *reason;  /* for vm_exit and the log: "system_off", ... */
};

struct policy_decision policy_system_request(const struct run_options *opts,
                                             enum system_request req);

enum suspend_decision {
    SUSPEND_DENY,
    SUSPEND_WAIT,
    SUSPEND_EXIT,
};

/* others_off: every vCPU but the caller is off. */
enum suspend_decision policy_system_suspend(const struct run_options *opts, bool others_off);

/* Whether a guest that suspended (and waits) is to be saved to opts->suspend_file, and after
 * how many seconds (*delay_s; 0: at once). */
bool policy_suspend_save(const struct run_options *opts, unsigned int *delay_s);

#endif
