/* cmd_run.c — `pscivm run`: parse the command line, assemble the machine, run it. (Stub until
 * the KVM backend lands.) */
#include <stdio.h>

#include "vmm/commands.h"
#include "vmm/exit_status.h"

int cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "pscivm run: not implemented yet\n");
    return PSCIVM_EXIT_ERROR;
}
