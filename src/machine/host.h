/* host.h — run a machine on this host's KVM (host.c; arm64 builds only). */
#ifndef PSCIVM_MACHINE_HOST_H
#define PSCIVM_MACHINE_HOST_H

#include "vmm/run_options.h"

/* Build the machine described by opts, run it until it ends, tear it down. Returns the process
 * exit status (exit_status.h); messages have gone to stderr. */
int host_run(const struct run_options *opts);

#endif
