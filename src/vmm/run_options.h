/* run_options.h — the command line of `pscivm run`, parsed into a plain struct (portable, so it
 * is unit-tested natively). New options (kernel, initrd, disks ...) are added here: one field,
 * one entry in the option table in run_options.c, one line of help. */
#ifndef PSCIVM_RUN_OPTIONS_H
#define PSCIVM_RUN_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/memmap.h"

enum psci_mode {
    PSCI_MODE_AUTO = 0, /* user when the host has the SMCCC filter, else kernel */
    PSCI_MODE_USER,     /* pscivm answers every PSCI call (SMCCC filter, Linux >= 6.4) */
    PSCI_MODE_KERNEL,   /* KVM's in-kernel PSCI at the configured version */
};
const char *psci_mode_name(enum psci_mode mode);

enum on_reset {
    ON_RESET_RESTART = 0, /* restart the VM in-process */
    ON_RESET_EXIT,        /* exit with PSCIVM_EXIT_RESET */
};

enum on_suspend {
    ON_SUSPEND_WAIT = 0, /* SYSTEM_SUSPEND: block until an interrupt, resume at entry/context */
    ON_SUSPEND_DENY,     /* refuse every SYSTEM_SUSPEND with DENIED */
    ON_SUSPEND_EXIT,     /* accept it and end pscivm with PSCIVM_EXIT_SUSPEND */
    ON_SUSPEND_SAVE,     /* accept it, save the VM to suspend_file, end pscivm with
                            PSCIVM_EXIT_SUSPENDED_TO_DISK (`pscivm restore` wakes it) */
};

enum console_mode {
    CONSOLE_STDIO = 0,   /* UART output to stdout, input from stdin (raw when a terminal) */
    CONSOLE_NONE,        /* output discarded, no input */
    CONSOLE_FILE,        /* output appended to console_path, no input */
};

/* --seccomp: the system-call allow-list installed once the VM is built (machine/seccomp_filter.c,
 * docs/seccomp.md). */
enum run_seccomp {
    RUN_SECCOMP_KILL = 0, /* default: a system call off the list kills pscivm (SIGSYS) */
    RUN_SECCOMP_LOG,      /* off-list calls are allowed and logged by the kernel (audit 1326) */
    RUN_SECCOMP_OFF,      /* no filter */
};
const char *run_seccomp_name(enum run_seccomp mode);

#define RUN_DEFAULT_KERNEL_CMDLINE "console=ttyS0 earlycon"
#define RUN_MAX_DISKS 16     /* virtio-mmio slots used for disks (memmap has 32) */
#define RUN_DEFAULT_MEM_MIB 128
#define RUN_MIN_MEM_MIB 16
#define RUN_MAX_MEM_MIB (64 * 1024)

/* Machine options given on the command line (run_options.given): with --vm DIR the ones not
 * given come from the VM's definition, and a given one must agree with it (vmdef.h). */
enum run_given {
    RUN_GIVEN_PAYLOAD = 1u << 0,
    RUN_GIVEN_KERNEL = 1u << 1,
    RUN_GIVEN_INITRD = 1u << 2,
    RUN_GIVEN_CMDLINE = 1u << 3,
    RUN_GIVEN_CPUS = 1u << 4,
    RUN_GIVEN_MAX_CPUS = 1u << 5,
    RUN_GIVEN_MEM = 1u << 6,
    RUN_GIVEN_PSCI = 1u << 7,
    RUN_GIVEN_MODE = 1u << 8,
    RUN_GIVEN_DISKS = 1u << 9,
};

struct run_options {
    const char *payload;       /* --payload FILE: raw binary loaded at the start of RAM */
    unsigned int cpus;         /* --cpus N (1 .. MEMMAP_MAX_VCPUS) */
    uint64_t mem_mib;          /* --mem MiB */
    uint32_t psci_version;     /* --psci X.Y (PSCI_VERSION_x_y); without it 1.3, lowered in
                                  kernel mode to the highest the host's KVM offers */
    bool psci_explicit;        /* --psci was given */
    enum psci_mode mode;       /* --psci-mode */
    const char *events;        /* --events PATH|- (NULL: none) */
    enum on_reset on_reset;    /* --on-reset restart|exit */
    enum on_suspend on_suspend;/* --on-suspend wait|deny|exit|save=PATH */
    /* --on-suspend save=PATH, or wait,save-after=SECONDS,file=PATH: where the suspended VM is
     * saved, and (wait) after how long a suspend (0: at once, with save=) */
    const char *suspend_file;
    unsigned int save_after_s;
    unsigned int timeout_s;    /* --timeout SECONDS (0: none) */
    const char *cmdline;       /* --cmdline STR -> /chosen/bootargs */
    const char *kernel;        /* --kernel Image: arm64 Linux Image (or gzip / EFI zboot) */
    const char *initrd;        /* --initrd FILE (needs --kernel) */
    const char *disks[RUN_MAX_DISKS]; /* --disk PATH[,ro], in slot order */
    unsigned int nr_disks;
    enum console_mode console; /* --console stdio|none|PATH */
    const char *console_path;
    /* --deny-cpu-on LIST: vCPUs whose CPU_ON is refused (user mode only), in the order given;
     * each in 1 .. cpus-1, no duplicates. */
    unsigned int deny_cpu_on[MEMMAP_MAX_VCPUS];
    unsigned int nr_deny_cpu_on;
    const char *qmp;           /* --qmp PATH: QMP control socket (NULL: none) */
    unsigned int max_cpus;     /* --max-cpus M (>= cpus; vCPUs cpus..M-1 start unplugged);
                                  after parsing always set (= cpus without the option) */
    enum run_seccomp seccomp;  /* --seccomp kill|log|off (default kill) */
    bool help;                 /* --help given: print run_options_usage and exit 0 */
    /* pscivm restore FILE [--paused]: only the host-side options above apply (--events,
     * --on-reset, --on-suspend, --timeout, --console, --qmp, --seccomp); the snapshot gives
     * the rest. */
    const char *restore_file;
    bool paused;
    /* --vm DIR: the machine definition lives in DIR (docs/run.md "VMs that keep their
     * definition"); --update lets given options change it (not while hibernated);
     * --discard-hibernation boots a hibernated VM from scratch. */
    const char *vm_dir;
    bool update;
    bool discard_hibernation;
    unsigned int given;        /* enum run_given: the machine options on the command line */
};

/* The text of `pscivm run --help` (options, memory map, exit statuses, events). */
extern const char run_options_usage[];

/* Parse argv (argv[0] = "run"). Returns 0, or -EINVAL with a one-line reason in err. With
 * --vm the checks that need the whole machine (a boot source, --max-cpus vs --cpus ...) are
 * left to run_options_validate, called once the definition has filled in the rest. */
int run_options_parse(struct run_options *opts, int argc, char **argv, char *err, size_t err_size);
/* The checks across options (one boot source, --initrd needs --kernel, --max-cpus, the deny
 * list within --cpus, user-mode-only options) and the derived defaults (max_cpus, the kernel
 * command line). 0 or -EINVAL with err set. */
int run_options_validate(struct run_options *opts, char *err, size_t err_size);
/* Parse `pscivm restore FILE [options]` (argv[0] = "restore"): FILE first or after the
 * options; options that describe the machine are refused. */
int run_options_parse_restore(struct run_options *opts, int argc, char **argv, char *err,
                              size_t err_size);
extern const char restore_usage[];

#endif
