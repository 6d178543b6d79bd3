/* exit_status.h — the process exit statuses of `pscivm run`, one per way a VM can end.
 * Documented in README.md and `pscivm run --help`; lab scripts and orchestrators rely on them. */
#ifndef PSCIVM_EXIT_STATUS_H
#define PSCIVM_EXIT_STATUS_H

enum pscivm_exit_status {
    PSCIVM_EXIT_OFF = 0,        /* guest SYSTEM_OFF (poweroff) */
    PSCIVM_EXIT_ERROR = 1,      /* pscivm failed (host error, bad file ...); message on stderr */
    PSCIVM_EXIT_USAGE = 2,      /* bad command line */
    PSCIVM_EXIT_RESET = 3,      /* guest SYSTEM_RESET / SYSTEM_RESET2 with --on-reset exit */
    PSCIVM_EXIT_HIBERNATE = 4,  /* guest SYSTEM_OFF2 (hibernated: keep the machine identical) */
    PSCIVM_EXIT_TIMEOUT = 5,    /* --timeout expired */
    PSCIVM_EXIT_GUEST_DEAD = 6, /* every vCPU is off and nothing can wake the guest, or the
                                   guest crashed in a way pscivm cannot resume */
    PSCIVM_EXIT_SIGNAL = 7,     /* stopped by SIGINT/SIGTERM or the console escape */
    PSCIVM_EXIT_SUSPEND = 8,    /* guest SYSTEM_SUSPEND with --on-suspend exit */
    PSCIVM_EXIT_SAVED = 9,      /* saved to a snapshot and ended (QMP snapshot-save then=quit) */
    PSCIVM_EXIT_HIBERNATED_CHANGED = 10, /* --vm DIR: the VM is hibernated and this start would
                                   change its machine (every difference on stderr); nothing ran */
    PSCIVM_EXIT_SUSPENDED_TO_DISK = 11, /* guest SYSTEM_SUSPEND saved to a snapshot and ended
                                           (--on-suspend save=PATH or save-after=) */
};

#endif
