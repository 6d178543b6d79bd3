/* run_options.c — parsing and help text of `pscivm run` (see run_options.h). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psci/psci.h"
#include "vmm/exit_status.h"
#include "vmm/memmap.h"
#include "vmm/run_options.h"

const char run_options_usage[] =
    "usage: pscivm run --payload FILE [options]\n"
    "       pscivm run --kernel Image [--initrd FILE] [--disk PATH[,ro]]... [options]\n"
    "       pscivm run --vm DIR [--update] [--discard-hibernation] [options]\n"
    "\n"
    "Run a bare-metal AArch64 payload: FILE is loaded at the start of guest RAM and vCPU 0 enters\n"
    "its first byte in EL1h, MMU off, DAIF masked, x0 = address of the device tree. Secondary\n"
    "vCPUs start powered off (bring them up with PSCI CPU_ON).\n"
    "Or boot Linux: the arm64 Image (uncompressed, gzip or EFI zboot) is placed per the kernel's\n"
    "booting.rst at RAM base + text_offset, the initrd below the device tree; the device tree\n"
    "describes the UART (console=ttyS0, earlycon works without arguments), one virtio-mmio node per\n"
    "--disk and /chosen (bootargs, initrd).\n"
    "\n"
    "options:\n"
    "  --payload FILE          raw binary to load at the start of RAM\n"
    "  --kernel Image          arm64 Linux kernel to boot (instead of --payload)\n"
    "  --initrd FILE           initramfs for --kernel\n"
    "  --disk PATH[,ro]        raw disk image as a virtio-blk device (repeatable, up to 16; ro:\n"
    "                          read-only). Writes go to the file and survive exit and reboot.\n"
    "  --console stdio|none|PATH  UART console: stdin/stdout (default; a terminal is put in raw\n"
    "                          mode, Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A), nothing, or output\n"
    "                          appended to PATH\n"
    "  --cpus N                number of vCPUs, 1..123 (default 1)\n"
    "  --max-cpus M            the device tree describes M vCPUs (cpus..M-1 not plugged: their\n"
    "                          PSCI CPU_ON is refused until QMP cpu-plug); needs user mode\n"
    "  --mem MiB               guest RAM size, 16..65536 (default 128)\n"
    "  --psci VERSION          PSCI version the guest sees: 0.2, 1.0, 1.1, 1.2, 1.3 (default: the\n"
    "                          highest the mode offers on this host: 1.3 in user mode, KVM's in\n"
    "                          kernel mode)\n"
    "  --psci-mode MODE        auto (default): user if the host has KVM's SMCCC filter, else kernel\n"
    "                          user: pscivm answers every PSCI call (Linux >= 6.4)\n"
    "                          kernel: KVM's in-kernel PSCI pinned to VERSION\n"
    "  --events PATH|-         write one JSON object per line for every power transition\n"
    "  --on-reset restart|exit SYSTEM_RESET/RESET2: restart in-process (default) or exit 3\n"
    "  --on-suspend wait|deny|exit|save=PATH\n"
    "                          SYSTEM_SUSPEND: sleep until a wake source (an enabled interrupt:\n"
    "                          RTC alarm, console input, power key; QMP system_wakeup) and resume\n"
    "                          at the entry point (default); answer DENIED; end pscivm (exit 8);\n"
    "                          or save the suspended VM to PATH and end pscivm (exit 11):\n"
    "                          `pscivm restore PATH` wakes it (wake source restore)\n"
    "  --on-suspend wait,save-after=SECONDS,file=PATH\n"
    "                          sleep as wait; a guest still suspended after SECONDS is saved to\n"
    "                          PATH and pscivm ends (exit 11), freeing the host's memory\n"
    "  --deny-cpu-on LIST      refuse PSCI CPU_ON of these vCPUs (comma-separated indexes, not 0,\n"
    "                          e.g. 1,3): the guest sees DENIED (PSCI >= 1.2) or INTERNAL_FAILURE\n"
    "                          (< 1.2) and the vCPU stays off; needs user mode\n"
    "  --cmdline STR           /chosen/bootargs of the device tree (the kernel command line;\n"
    "                          default with --kernel: \"console=ttyS0 earlycon\")\n"
    "  --timeout SECONDS       stop the guest after SECONDS (exit 5)\n"
    "  --qmp PATH              listen on the Unix socket PATH for QMP clients (mode 0600; see\n"
    "                          'pscivm ctl --help' and docs/run.md): query-status, stop, cont,\n"
    "                          system_reset, system_powerdown, system_wakeup, quit, cpu-plug ...\n"
    "  --vm DIR                keep the machine definition in DIR/vm.json (JSON): the first run\n"
    "                          creates it (vCPUs, RAM, PSCI version and functions, devices, disks,\n"
    "                          kernel/initrd identity); later runs take the machine from it, and\n"
    "                          a machine option that contradicts it is an error (exit 2). The PSCI\n"
    "                          version is the VM's: kept on every host or refused. A guest that\n"
    "                          hibernates (SYSTEM_OFF2) is recorded in DIR/hibernation.json;\n"
    "                          starting it on a changed machine is refused (exit 10, every\n"
    "                          difference listed). 'pscivm status DIR' says off/hibernated/running\n"
    "  --update                with --vm: given options change the definition (not while the VM\n"
    "                          is hibernated)\n"
    "  --discard-hibernation   with --vm: boot a hibernated VM anyway (from its kernel, not its\n"
    "                          image: the guest decides) and clear the record\n"
    "  --seccomp kill|log|off  system-call allow-list installed once the VM is built, for every\n"
    "                          thread (docs/seccomp.md): a call off the list kills pscivm with\n"
    "                          SIGSYS (kill, default; shell status 159), is only logged by the\n"
    "                          kernel (log: audit type=1326 lines in dmesg), or no filter (off)\n"
    "\n"
    "memory map (guest physical; docs/memory-map.md):\n"
    "  0x08000000  GICv3 distributor (64 KiB)\n"
    "  0x080A0000  GICv3 redistributors, 128 KiB per vCPU\n"
    "  0x09000000  16550A UART (SPI 1), console on stdin/stdout\n"
    "  0x0A000000  virtio-mmio slots (512 bytes each, SPI 16+n)\n"
    "  0x40000000  RAM (--mem MiB); payload (or kernel at +text_offset) at its start, device\n"
    "              tree in the top 2 MiB, initrd right below it\n"
    "\n"
    "exit status:\n"
    "  0 SYSTEM_OFF   1 pscivm error   2 bad command line   3 SYSTEM_RESET/RESET2 with\n"
    "  --on-reset exit   4 SYSTEM_OFF2 (hibernate)   5 --timeout expired   6 guest dead (every vCPU\n"
    "  off, or a guest fault pscivm cannot resume)   7 stopped by SIGINT/SIGTERM (or QMP quit)\n"
    "  8 SYSTEM_SUSPEND with --on-suspend exit   9 saved by QMP snapshot-save then=quit\n"
    "  10 --vm DIR: the VM is hibernated and this start would change its machine (refused)\n"
    "  11 suspended to disk: SYSTEM_SUSPEND saved by --on-suspend save=PATH or save-after\n"
    "\n"
    "Unmapped MMIO reads as zero and writes are ignored (logged once per address).\n";

const char restore_usage[] =
    "usage: pscivm restore FILE [--paused] [--qmp PATH] [--events PATH|-] [--console MODE]\n"
    "                      [--timeout S] [--on-reset restart|exit] [--on-suspend POLICY]\n"
    "                      [--seccomp kill|log|off]\n"
    "\n"
    "Rebuild the VM saved in FILE (QMP snapshot-save) and continue it: same vCPUs and MPIDRs, RAM,\n"
    "PSCI mode and version, devices and disks (a disk that changed since the save is refused).\n"
    "The file is checked whole (every section's CRC) before KVM is touched. --paused: stay paused\n"
    "until QMP cont. The other options are the host-side policies of pscivm run (see its --help);\n"
    "the snapshot decides everything else. A guest saved while suspended (--on-suspend save=)\n"
    "is woken (wake source restore). A guest reset boots the kernel/initrd/payload the snapshot\n"
    "names; if one changed since the save, it ends pscivm with status 3 instead. Exit statuses\n"
    "as pscivm run (11: suspended to disk again).\n";

const char *psci_mode_name(enum psci_mode mode)
{
    switch (mode) {
    case PSCI_MODE_AUTO: return "auto";
    case PSCI_MODE_USER: return "user";
    case PSCI_MODE_KERNEL: return "kernel";
    }
    return "?";
}

const char *run_seccomp_name(enum run_seccomp mode)
{
    switch (mode) {
    case RUN_SECCOMP_KILL: return "kill";
    case RUN_SECCOMP_LOG: return "log";
    case RUN_SECCOMP_OFF: return "off";
    }
    return "?";
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Decimal unsigned integer within [min, max], digits only; returns 0 or -EINVAL. strtoull()
 * alone would also take leading white space and a sign (" 4", "\t64", " -1"), so the first
 * character must be a digit; the rest is checked by *end and errno (ERANGE). */
static int parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!text || text[0] < '0' || text[0] > '9')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* --deny-cpu-on LIST: append each comma-separated vCPU index to opts->deny_cpu_on. The range
 * against --cpus is checked once every option is known (run_options_parse). 0 or -EINVAL. */
static int parse_deny_list(struct run_options *opts, const char *list, char *err,
                           size_t err_size)
{
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        char item[32];
        uint64_t v;
        if (len == 0 || len >= sizeof(item))
            return fail(err, err_size, "--deny-cpu-on: '%s' is not a comma-separated list of "
                        "vCPU indexes (e.g. 3 or 1,3)", list);
        memcpy(item, p, len);
        item[len] = '\0';
        if (parse_uint(item, 0, MEMMAP_MAX_VCPUS - 1, &v))
            return fail(err, err_size, "--deny-cpu-on: '%s' is not a vCPU index from 1 to %d",
                        item, MEMMAP_MAX_VCPUS - 1);
        if (v == 0)
            return fail(err, err_size, "--deny-cpu-on: vCPU 0 is the boot vCPU, it is never "
                        "powered on by CPU_ON");
        for (unsigned int i = 0; i < opts->nr_deny_cpu_on; i++)
            if (opts->deny_cpu_on[i] == v)
                return fail(err, err_size, "--deny-cpu-on: vCPU %u listed twice",
                            (unsigned int)v);
        /* Distinct indexes in 1 .. MEMMAP_MAX_VCPUS-1: the array cannot overflow. */
        opts->deny_cpu_on[opts->nr_deny_cpu_on++] = (unsigned int)v;
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

enum {
    OPT_PAYLOAD = 256, OPT_CPUS, OPT_MEM, OPT_PSCI, OPT_MODE, OPT_EVENTS, OPT_ON_RESET,
    OPT_ON_SUSPEND, OPT_TIMEOUT, OPT_CMDLINE, OPT_HELP, OPT_KERNEL, OPT_INITRD, OPT_DISK,
    OPT_CONSOLE, OPT_DENY_CPU_ON, OPT_QMP, OPT_MAX_CPUS, OPT_PAUSED, OPT_VM, OPT_UPDATE,
    OPT_DISCARD_HIBERNATION, OPT_SECCOMP,
};

static const struct option long_options[] = {
    {"payload", required_argument, NULL, OPT_PAYLOAD},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"mem", required_argument, NULL, OPT_MEM},
    {"psci", required_argument, NULL, OPT_PSCI},
    {"psci-mode", required_argument, NULL, OPT_MODE},
    {"events", required_argument, NULL, OPT_EVENTS},
    {"on-reset", required_argument, NULL, OPT_ON_RESET},
    {"on-suspend", required_argument, NULL, OPT_ON_SUSPEND},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"cmdline", required_argument, NULL, OPT_CMDLINE},
    {"help", no_argument, NULL, OPT_HELP},
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"initrd", required_argument, NULL, OPT_INITRD},
    {"disk", required_argument, NULL, OPT_DISK},
    {"console", required_argument, NULL, OPT_CONSOLE},
    {"deny-cpu-on", required_argument, NULL, OPT_DENY_CPU_ON},
    {"qmp", required_argument, NULL, OPT_QMP},
    {"max-cpus", required_argument, NULL, OPT_MAX_CPUS},
    {"paused", no_argument, NULL, OPT_PAUSED},
    {"vm", required_argument, NULL, OPT_VM},
    {"update", no_argument, NULL, OPT_UPDATE},
    {"discard-hibernation", no_argument, NULL, OPT_DISCARD_HIBERNATION},
    {"seccomp", required_argument, NULL, OPT_SECCOMP},
    {NULL, 0, NULL, 0},
};

/* The error for an option getopt_long() refused ('?') or found without its argument (':').
 * A short option (optopt a character) is named from optopt, not from argv[optind - 1]: inside a
 * cluster such as "-xy" optind still points at the cluster, so argv[optind - 1] is the argument
 * before it (or "run"). A long option (optopt 0 when unknown, its OPT_* value otherwise) is
 * argv[optind - 1] up to any "=value"; getopt_long() also refuses an abbreviation that matches
 * several options, and an argument given to an option that takes none. */
static int bad_option(bool missing_arg, int argc, char **argv, char *err, size_t err_size)
{
    if (optopt > 0 && optopt < OPT_PAYLOAD) {
        if (optopt > ' ' && optopt < 0x7f)
            return fail(err, err_size, missing_arg ? "option '-%c' needs an argument"
                                                   : "unknown option '-%c'", optopt);
        return fail(err, err_size, "unknown option (character 0x%02x)", optopt & 0xff);
    }
    const char *arg = optind >= 1 && optind <= argc ? argv[optind - 1] : "?";
    size_t len = strcspn(arg, "=");
    if (missing_arg)
        return fail(err, err_size, "option '%s' needs an argument", arg);
    if (optopt >= OPT_PAYLOAD)
        return fail(err, err_size, "option '%.*s' takes no argument", (int)len, arg);
    if (len > 2 && !strncmp(arg, "--", 2)) {
        unsigned int matches = 0;
        for (const struct option *o = long_options; o->name; o++)
            if (!strncmp(o->name, arg + 2, len - 2))
                matches++;
        if (matches > 1)
            return fail(err, err_size, "option '%.*s' is ambiguous (an abbreviation of %u "
                        "options)", (int)len, arg, matches);
    }
    return fail(err, err_size, "unknown option '%.*s'", (int)len, arg);
}

/* Options that describe the machine: a restore takes them from the snapshot. */
static bool machine_option(int c)
{
    switch (c) {
    case OPT_PAYLOAD: case OPT_CPUS: case OPT_MEM: case OPT_PSCI: case OPT_MODE:
    case OPT_CMDLINE: case OPT_KERNEL: case OPT_INITRD: case OPT_DISK: case OPT_DENY_CPU_ON:
    case OPT_MAX_CPUS: case OPT_VM: case OPT_UPDATE: case OPT_DISCARD_HIBERNATION:
        return true;
    }
    return false;
}

/* Which run_options.given bit an option sets (0: none). */
static unsigned int given_bit(int c)
{
    switch (c) {
    case OPT_PAYLOAD: return RUN_GIVEN_PAYLOAD;
    case OPT_KERNEL: return RUN_GIVEN_KERNEL;
    case OPT_INITRD: return RUN_GIVEN_INITRD;
    case OPT_CMDLINE: return RUN_GIVEN_CMDLINE;
    case OPT_CPUS: return RUN_GIVEN_CPUS;
    case OPT_MAX_CPUS: return RUN_GIVEN_MAX_CPUS;
    case OPT_MEM: return RUN_GIVEN_MEM;
    case OPT_PSCI: return RUN_GIVEN_PSCI;
    case OPT_MODE: return RUN_GIVEN_MODE;
    case OPT_DISK: return RUN_GIVEN_DISKS;
    }
    return 0;
}

static int parse(struct run_options *opts, int argc, char **argv, bool restore,
                 const char *file, char *err, size_t err_size);

int run_options_parse(struct run_options *opts, int argc, char **argv, char *err, size_t err_size)
{
    return parse(opts, argc, argv, false, NULL, err, err_size);
}

int run_options_parse_restore(struct run_options *opts, int argc, char **argv, char *err,
                              size_t err_size)
{
    if (argc < 2 || argv[1][0] == '-') /* FILE after the options, or missing */
        return parse(opts, argc, argv, true, NULL, err, err_size);
    /* pscivm restore FILE [options]: parse the options from a copy of argv without FILE (the
     * caller's array is left as it is). */
    char **av = calloc((size_t)argc, sizeof(*av));
    if (!av)
        return fail(err, err_size, "out of memory");
    av[0] = argv[0];
    for (int i = 2; i < argc; i++)
        av[i - 1] = argv[i];
    int rc = parse(opts, argc - 1, av, true, argv[1], err, err_size);
    free(av);
    return rc;
}

/* --on-suspend wait|deny|exit|save=PATH, or wait,save-after=SECONDS,file=PATH (file= takes the
 * rest of the value, so a path may hold commas). */
static int parse_on_suspend(struct run_options *o, const char *arg, char *err, size_t err_size)
{
    o->suspend_file = NULL;
    o->save_after_s = 0;
    if (!strncmp(arg, "save=", 5)) {
        if (!arg[5])
            return fail(err, err_size, "--on-suspend save=PATH: empty path");
        o->on_suspend = ON_SUSPEND_SAVE;
        o->suspend_file = arg + 5;
        return 0;
    }
    size_t n = strcspn(arg, ",");
    if (n == 4 && !strncmp(arg, "wait", 4))
        o->on_suspend = ON_SUSPEND_WAIT;
    else if (n == 4 && !strncmp(arg, "deny", 4))
        o->on_suspend = ON_SUSPEND_DENY;
    else if (n == 4 && !strncmp(arg, "exit", 4))
        o->on_suspend = ON_SUSPEND_EXIT;
    else
        return fail(err, err_size, "--on-suspend: '%.*s' is not wait, deny, exit or save=PATH",
                    (int)n, arg);
    if (!arg[n])
        return 0;
    if (o->on_suspend != ON_SUSPEND_WAIT)
        return fail(err, err_size, "--on-suspend: only wait takes options (%s)", arg);
    bool have_after = false;
    for (const char *p = arg + n + 1;;) {
        if (!strncmp(p, "file=", 5)) {
            if (!p[5])
                return fail(err, err_size, "--on-suspend: file=: empty path");
            o->suspend_file = p + 5;
            break;
        }
        size_t k = strcspn(p, ",");
        if (k > 11 && !strncmp(p, "save-after=", 11)) {
            char num[16];
            uint64_t v;
            if (k - 11 >= sizeof(num))
                return fail(err, err_size, "--on-suspend: save-after=%.*s is not a number of "
                            "seconds from 0 to 604800", (int)(k - 11), p + 11);
            memcpy(num, p + 11, k - 11);
            num[k - 11] = '\0';
            if (parse_uint(num, 0, 7 * 24 * 3600, &v))
                return fail(err, err_size, "--on-suspend: save-after=%s is not a number of "
                            "seconds from 0 to 604800", num);
            o->save_after_s = (unsigned int)v;
            have_after = true;
        } else {
            return fail(err, err_size, "--on-suspend wait: unknown option '%.*s' (save-after="
                        "SECONDS, file=PATH)", (int)k, p);
        }
        if (!p[k])
            break;
        p += k + 1;
    }
    if (!have_after || !o->suspend_file)
        return fail(err, err_size, "--on-suspend wait,...: save-after=SECONDS and file=PATH go "
                    "together (wait,save-after=SECONDS,file=PATH)");
    return 0;
}

static int parse(struct run_options *opts, int argc, char **argv, bool restore,
                 const char *file, char *err, size_t err_size)
{
    *opts = (struct run_options){
        .cpus = 1,
        .mem_mib = RUN_DEFAULT_MEM_MIB,
        .psci_version = PSCI_VERSION_1_3,
        .mode = PSCI_MODE_AUTO,
        .on_reset = ON_RESET_RESTART,
        .on_suspend = ON_SUSPEND_WAIT,
        .seccomp = RUN_SECCOMP_KILL,
    };
    if (err_size)
        err[0] = '\0';
    optind = 0; /* full re-initialisation of getopt (GNU), so the parser can run repeatedly */
    opterr = 0;
    uint64_t v;
    int c;
    opts->restore_file = file;
    while ((c = getopt_long(argc, argv, "+:h", long_options, NULL)) != -1) {
        if (restore && machine_option(c)) {
            const char *name = "?";
            for (const struct option *o = long_options; o->name; o++)
                if (o->val == c)
                    name = o->name;
            return fail(err, err_size, "--%s: not a restore option (the snapshot describes the "
                        "machine)", name);
        }
        opts->given |= given_bit(c);
        switch (c) {
        case OPT_VM:
            if (!*optarg)
                return fail(err, err_size, "--vm: empty directory path");
            opts->vm_dir = optarg;
            break;
        case OPT_UPDATE:
            opts->update = true;
            break;
        case OPT_DISCARD_HIBERNATION:
            opts->discard_hibernation = true;
            break;
        case OPT_PAUSED:
            if (!restore)
                return fail(err, err_size, "--paused is an option of pscivm restore");
            opts->paused = true;
            break;
        case OPT_PAYLOAD:
            opts->payload = optarg;
            break;
        case OPT_CPUS:
            if (parse_uint(optarg, 1, MEMMAP_MAX_VCPUS, &v))
                return fail(err, err_size, "--cpus: '%s' is not a number from 1 to %d", optarg,
                            MEMMAP_MAX_VCPUS);
            opts->cpus = (unsigned int)v;
            break;
        case OPT_MEM:
            if (parse_uint(optarg, RUN_MIN_MEM_MIB, RUN_MAX_MEM_MIB, &v))
                return fail(err, err_size, "--mem: '%s' is not a size in MiB from %d to %d",
                            optarg, RUN_MIN_MEM_MIB, RUN_MAX_MEM_MIB);
            opts->mem_mib = v;
            break;
        case OPT_PSCI:
            if (psci_version_parse(optarg, &opts->psci_version))
                return fail(err, err_size,
                            "--psci: '%s' is not a PSCI version (0.2, 1.0, 1.1, 1.2, 1.3)", optarg);
            opts->psci_explicit = true;
            break;
        case OPT_MODE:
            if (!strcmp(optarg, "auto"))
                opts->mode = PSCI_MODE_AUTO;
            else if (!strcmp(optarg, "user"))
                opts->mode = PSCI_MODE_USER;
            else if (!strcmp(optarg, "kernel"))
                opts->mode = PSCI_MODE_KERNEL;
            else
                return fail(err, err_size, "--psci-mode: '%s' is not auto, user or kernel", optarg);
            break;
        case OPT_EVENTS:
            if (!*optarg)
                return fail(err, err_size, "--events: empty path (use - for stdout)");
            opts->events = optarg;
            break;
        case OPT_ON_RESET:
            if (!strcmp(optarg, "restart"))
                opts->on_reset = ON_RESET_RESTART;
            else if (!strcmp(optarg, "exit"))
                opts->on_reset = ON_RESET_EXIT;
            else
                return fail(err, err_size, "--on-reset: '%s' is not restart or exit", optarg);
            break;
        case OPT_ON_SUSPEND:
            if (parse_on_suspend(opts, optarg, err, err_size))
                return -EINVAL;
            break;
        case OPT_TIMEOUT:
            if (parse_uint(optarg, 1, 7 * 24 * 3600, &v))
                return fail(err, err_size, "--timeout: '%s' is not a number of seconds >= 1",
                            optarg);
            opts->timeout_s = (unsigned int)v;
            break;
        case OPT_CMDLINE:
            opts->cmdline = optarg;
            break;
        case OPT_KERNEL:
            if (!*optarg)
                return fail(err, err_size, "--kernel: empty path");
            opts->kernel = optarg;
            break;
        case OPT_INITRD:
            if (!*optarg)
                return fail(err, err_size, "--initrd: empty path");
            opts->initrd = optarg;
            break;
        case OPT_DISK:
            if (!*optarg || *optarg == ',')
                return fail(err, err_size, "--disk: empty path (syntax: PATH[,ro])");
            if (opts->nr_disks == RUN_MAX_DISKS)
                return fail(err, err_size, "--disk: at most %d disks", RUN_MAX_DISKS);
            opts->disks[opts->nr_disks++] = optarg;
            break;
        case OPT_CONSOLE:
            if (!strcmp(optarg, "stdio")) {
                opts->console = CONSOLE_STDIO;
            } else if (!strcmp(optarg, "none")) {
                opts->console = CONSOLE_NONE;
            } else if (*optarg) {
                opts->console = CONSOLE_FILE;
                opts->console_path = optarg;
            } else {
                return fail(err, err_size, "--console: give stdio, none or a file path");
            }
            break;
        case OPT_DENY_CPU_ON:
            if (parse_deny_list(opts, optarg, err, err_size))
                return -EINVAL;
            break;
        case OPT_QMP:
            if (!*optarg)
                return fail(err, err_size, "--qmp: empty socket path");
            opts->qmp = optarg;
            break;
        case OPT_MAX_CPUS:
            if (parse_uint(optarg, 1, MEMMAP_MAX_VCPUS, &v))
                return fail(err, err_size, "--max-cpus: '%s' is not a number from 1 to %d",
                            optarg, MEMMAP_MAX_VCPUS);
            opts->max_cpus = (unsigned int)v;
            break;
        case OPT_SECCOMP:
            if (!strcmp(optarg, "kill"))
                opts->seccomp = RUN_SECCOMP_KILL;
            else if (!strcmp(optarg, "log"))
                opts->seccomp = RUN_SECCOMP_LOG;
            else if (!strcmp(optarg, "off"))
                opts->seccomp = RUN_SECCOMP_OFF;
            else
                return fail(err, err_size, "--seccomp: '%s' is not kill, log or off", optarg);
            break;
        case 'h':
        case OPT_HELP:
            opts->help = true;
            return 0;
        case ':':
        default:
            return bad_option(c == ':', argc, argv, err, err_size);
        }
    }
    if (restore && !opts->restore_file && optind < argc)
        opts->restore_file = argv[optind++];
    if (optind < argc)
        return fail(err, err_size, "unexpected argument '%s'", argv[optind]);
    if (restore) {
        if (!opts->restore_file || !*opts->restore_file)
            return fail(err, err_size, "the snapshot FILE to restore is missing");
        return 0;
    }
    if ((opts->update || opts->discard_hibernation) && !opts->vm_dir)
        return fail(err, err_size, "%s needs --vm DIR", opts->update ? "--update"
                                                                     : "--discard-hibernation");
    if (opts->vm_dir) /* the definition may give the rest: cmd_run validates after it */
        return 0;
    return run_options_validate(opts, err, err_size);
}

int run_options_validate(struct run_options *opts, char *err, size_t err_size)
{
    if (!opts->payload && !opts->kernel)
        return fail(err, err_size, "--payload FILE or --kernel Image is required%s",
                    opts->vm_dir ? " (the VM is new: its first run defines it)" : "");
    if (opts->payload && opts->kernel)
        return fail(err, err_size, "--payload and --kernel exclude each other");
    if (opts->initrd && !opts->kernel)
        return fail(err, err_size, "--initrd needs --kernel");
    if (opts->max_cpus && opts->max_cpus < opts->cpus)
        return fail(err, err_size, "--max-cpus %u is below --cpus %u", opts->max_cpus,
                    opts->cpus);
    if (opts->max_cpus > opts->cpus && opts->mode == PSCI_MODE_KERNEL)
        return fail(err, err_size, "--max-cpus needs user mode: KVM's in-kernel PSCI answers "
                    "CPU_ON itself, so pscivm cannot keep vCPUs unplugged (use --psci-mode user "
                    "or auto)");
    if (!opts->max_cpus)
        opts->max_cpus = opts->cpus;
    for (unsigned int i = 0; i < opts->nr_deny_cpu_on; i++)
        if (opts->deny_cpu_on[i] >= opts->cpus)
            return fail(err, err_size, "--deny-cpu-on: vCPU %u does not exist (--cpus %u: "
                        "vCPUs 0 to %u)", opts->deny_cpu_on[i], opts->cpus, opts->cpus - 1);
    if (opts->nr_deny_cpu_on && opts->mode == PSCI_MODE_KERNEL)
        return fail(err, err_size, "--deny-cpu-on needs user mode: KVM's in-kernel PSCI answers "
                    "CPU_ON itself (use --psci-mode user or auto)");
    if (opts->kernel && !opts->cmdline)
        opts->cmdline = RUN_DEFAULT_KERNEL_CMDLINE;
    return 0;
}
