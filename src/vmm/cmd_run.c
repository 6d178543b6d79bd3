/* cmd_run.c — `pscivm run`: parse the command line (run_options.c), then build and run the
 * machine on KVM (src/machine/host.c). Returns the process exit status (exit_status.h). */
#include <stdio.h>

#include "machine/host.h"
#include "vmm/commands.h"
#include "vmm/exit_status.h"
#include "vmm/run_options.h"

int cmd_run(int argc, char **argv)
{
    struct run_options opts;
    char err[256];
    if (run_options_parse(&opts, argc, argv, err, sizeof(err))) {
        fprintf(stderr, "pscivm run: %s\n\n%s", err, run_options_usage);
        return PSCIVM_EXIT_USAGE;
    }
    if (opts.help) {
        fputs(run_options_usage, stdout);
        return 0;
    }
    return host_run(&opts);
}
