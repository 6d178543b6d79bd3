/* cmd_restore.c — `pscivm restore FILE [options]`: parse the command line (run_options.c), then
 * rebuild the saved machine on KVM and continue it (src/machine/host.c). Returns the process
 * exit status (exit_status.h). */
#include <stdio.h>

#include "machine/host.h"
#include "vmm/commands.h"
#include "vmm/exit_status.h"
#include "vmm/run_options.h"

int cmd_restore(int argc, char **argv)
{
    struct run_options opts;
    char err[256];
    if (run_options_parse_restore(&opts, argc, argv, err, sizeof(err))) {
        fprintf(stderr, "pscivm restore: %s\n\n%s", err, restore_usage);
        return PSCIVM_EXIT_USAGE;
    }
    if (opts.help) {
        fputs(restore_usage, stdout);
        return 0;
    }
    return host_restore(&opts, opts.restore_file, opts.paused);
}
