/* main.c — pscivm's entry point: global options and subcommand dispatch. The only place that
 * turns a result into a process exit. */
#include <stdio.h>
#include <string.h>

#include "vmm/commands.h"
#include "vmm/exit_status.h"
#include "vmm/sanitizer.h"

#ifndef PSCIVM_VERSION
#define PSCIVM_VERSION "unknown"
#endif

#ifdef __SANITIZE_ADDRESS__
/* Sanitizer builds (make asan-arm64: GCC defines __SANITIZE_ADDRESS__ for -fsanitize=address,
 * always combined with undefined there): defaults the runtimes read before main; ASAN_OPTIONS
 * and UBSAN_OPTIONS still override them. No leak check: LeakSanitizer's check at exit stops
 * the process's threads from a helper task made with clone() without CLONE_THREAD and then
 * ptrace(), both off the seccomp allow-list, so every filtered run would end in SIGSYS (status
 * 159) instead of its own status. The portable code's leaks are checked where no filter runs:
 * the unit tests under ASan and the fuzz targets. docs/lab.md, "Sanitizers in the lab". */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
    return "print_stacktrace=1";
}
#endif

static const char usage[] =
    "usage: pscivm [--version] [--help] <command> [<args>]\n"
    "\n"
    "pscivm is a virtual machine monitor for arm64 guests on Linux KVM, built around complete\n"
    "and correct guest power management (PSCI 0.2 to 1.3).\n"
    "\n"
    "commands:\n"
    "  ctl      control a running guest through its QMP socket (run --qmp PATH); see\n"
    "           'pscivm ctl --help'\n"
    "  info     print the host facts pscivm's PSCI modes depend on (--json for machines)\n"
    "  restore  continue a VM saved by QMP snapshot-save; see 'pscivm restore --help'\n"
    "  run      run a guest (a bare-metal payload or a Linux kernel); see 'pscivm run --help'\n"
    "  status   the state of a VM kept in a directory (run --vm DIR): off, hibernated, running\n";

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
};

static const struct command commands[] = {
    {"ctl", cmd_ctl},
    {"info", cmd_info},
    {"restore", cmd_restore},
    {"run", cmd_run},
    {"status", cmd_status},
};

int main(int argc, char **argv)
{
    sanitizer_init(); /* sanitizer builds: UBSan's reports to ASan's log_path */
    if (argc < 2) {
        fputs(usage, stderr);
        return PSCIVM_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("pscivm %s\n", PSCIVM_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "pscivm: unknown command '%s'\n\n%s", argv[1], usage);
    return PSCIVM_EXIT_USAGE;
}
