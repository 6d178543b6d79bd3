/* control.c — the run-state names of control.h (QEMU's RunState spelling, as query-status
 * reports them). The operations themselves are implemented by the machine. */
#include "machine/control.h"

const char *vm_run_status_name(enum vm_run_status s)
{
    switch (s) {
    case VM_STATUS_RUNNING:
        return "running";
    case VM_STATUS_PAUSED:
        return "paused";
    case VM_STATUS_SUSPENDED:
        return "suspended";
    case VM_STATUS_SHUTDOWN:
        return "shutdown";
    }
    return "unknown";
}
