/* host.h — run a machine on this host's KVM (host.c; arm64 builds only). */
#ifndef PSCIVM_MACHINE_HOST_H
#define PSCIVM_MACHINE_HOST_H

#include <stdbool.h>

#include "vmm/run_options.h"

struct vm_dir;

/* Build the machine described by opts, run it until it ends, tear it down. Returns the process
 * exit status (exit_status.h); messages have gone to stderr. vm: --vm DIR (its lock held, its
 * candidate definition applied to opts by the caller), or NULL. */
int host_run(const struct run_options *opts, struct vm_dir *vm);
/* Rebuild the machine a snapshot file describes and continue it (or leave it paused until QMP
 * cont). `side` holds the host-side options (--qmp, --events, --console, --timeout,
 * --on-reset, --on-suspend); everything else comes from the snapshot. Exit status as host_run. */
int host_restore(const struct run_options *side, const char *path, bool paused);

#endif
