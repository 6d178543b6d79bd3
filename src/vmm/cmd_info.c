/* cmd_info.c — `pscivm info`: report the host's KVM facts. (Stub until the backend lands.) */
#include <stdio.h>

#include "vmm/commands.h"
#include "vmm/exit_status.h"

int cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "pscivm info: not implemented yet\n");
    return PSCIVM_EXIT_ERROR;
}
