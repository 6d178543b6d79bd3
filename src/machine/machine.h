/* machine.h — one pscivm virtual machine, above the hypervisor seam (hv.h): its lifecycle, the
 * vCPU threads, exit dispatch, the power bridge between the PSCI core and the backend, the
 * devices, the event stream and the control operations (control.h). Portable: builds and is
 * unit-tested natively with a fake backend; src/machine/host.c builds the KVM one.
 *
 * Machine lifecycle (machine_check() checks it; m->lock protects it):
 *
 *   CREATED --machine_start--> RUNNING --pause (QMP stop, snapshot)--> PAUSED
 *                                 ^  |                                   |
 *                                 |  +<-------- resume (QMP cont) -------+
 *                                 |  |
 *              restart (reset) ---+  +--stop request (guest off, signal, quit, error)--> STOPPED
 *   PAUSED --stop request--> STOPPED.  A reset restarts vCPUs and devices in-process and goes
 *   back to RUNNING (or stays PAUSED when it was requested while paused).
 *   Invariants: PAUSED <=> the control pause is held; STOPPED <=> stop requested; in CREATED
 *   and STOPPED no vCPU runs guest code.
 *
 * vCPU thread life cycle (user mode; in kernel mode a powered-off vCPU sleeps inside the
 * hypervisor, so every thread is RUNNING):
 *
 *            start request (boot / CPU_ON / restart)
 *   PARKED ----------------------------------------> RUNNING (vcpu_run loop)
 *     ^                                                |   |
 *     |  CPU_OFF / system event                        |   | CPU_SUSPEND, SYSTEM_SUSPEND
 *     +------------------------------------------------+   v
 *                                                   SUSPENDED (HV_MP_SUSPENDED in vcpu_run
 *                                                    until a WAKEUP exit)
 *   Any state: pause points (outside vcpu_run) wait while someone else holds the pause.
 *   machine stop (any state) -> the thread exits; the main thread joins it.
 *   Invariants: in user mode a vCPU the PSCI core sees as OFF is PARKED unless a start is
 *   pending; the pause holder is a vCPU index, PAUSE_CONTROL or nobody.
 *
 * Locking: m->lock serialises the PSCI core, the per-vCPU control fields, the lifecycle, the
 * stop request and the pause barrier. It is never held across vcpu_run or an event write. */
#ifndef PSCIVM_MACHINE_MACHINE_H
#define PSCIVM_MACHINE_MACHINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"
#include "devices/pl031.h"
#include "devices/virtio_input.h"
#include "devices/guest_mem.h"
#include "devices/uart16550.h"
#include "devices/virtio_blk.h"
#include "machine/control.h"
#include "kvm/hv.h"
#include "psci/psci.h"
#include "util/loop.h"
#include "vmm/console.h"
#include "vmm/events.h"
#include "vmm/file_image.h"
#include "vmm/kernel_image.h"
#include "vmm/run_options.h"

struct json_object;
struct qmp_server;
struct vm_dir;
struct vmdef;
struct vmdef_diffs;

enum machine_state {
    MACHINE_CREATED,
    MACHINE_RUNNING,
    MACHINE_PAUSED,
    MACHINE_STOPPED,
};
const char *machine_state_name(enum machine_state s);

enum vcpu_run_state {
    VCPU_PARKED,
    VCPU_RUNNING,
    VCPU_SUSPENDED,
};

/* How a SUSPENDED vCPU resumes: a snapshot records it, and a restore wakes the vCPU that way
 * (a wake-up is always allowed: PSCI lets a suspended core wake for any reason). */
enum vcpu_resume {
    VCPU_RESUME_NONE = 0,
    VCPU_RESUME_STANDBY,   /* CPU_SUSPEND standby: the call returned SUCCESS already */
    VCPU_RESUME_POWERDOWN, /* CPU_SUSPEND power-down: restart at entry with context */
    VCPU_RESUME_SYSTEM,    /* SYSTEM_SUSPEND: restart at entry with context */
};

#define PAUSE_NOBODY (-1)
#define PAUSE_CONTROL (-2)   /* the main loop (QMP stop, snapshots) */

struct machine;

struct vcpu_ctl {
    struct machine *m;
    unsigned int index;
    pthread_t thread;
    bool thread_live;
    pthread_cond_t cond;        /* a PARKED thread waits here for a start request */
    enum vcpu_run_state state;
    bool start_pending;
    bool start_is_cpu_on;       /* report psci_cpu_started/_start_failed to the core */
    uint64_t start_entry, start_context;
    bool in_pause;              /* counted in m->paused */
    /* Kernel PSCI mode observation (kmode.c). */
    bool kmode_on;              /* last power state observed (events) */
    uint64_t hvc_seen;          /* HV_STAT_HVC at the last look */
    bool hvc_unchecked;         /* an HVC happened that no kick has followed up yet */
    struct vm_exit exit;        /* the last exit (MMIO read data goes back through it) */
    /* While SUSPENDED (m->lock): how it resumes. */
    enum vcpu_resume resume_kind;
    uint64_t resume_entry, resume_context;
    /* Restored from a snapshot that held it suspended: woken by the restore (vm_start then
     * emits wakeup with source "restore"). */
    enum vcpu_resume woken_by_restore;
};

/* Host-side facts the backend found while building (host.c fills them). */
struct machine_host {
    char release[65];           /* host kernel release */
    uint64_t psci_max;          /* kernel mode: the host's default PSCI version */
    bool has_smccc_filter;
    bool has_stats;             /* vCPU binary statistics (kernel-mode cpu_off detection) */
};

struct seccomp_filter;

struct machine {
    struct run_options opts;
    enum psci_mode mode;        /* resolved: USER or KERNEL */
    struct machine_host host;
    struct hv hv;

    struct guest_mem mem;
    struct bus bus;
    struct uart16550 uart;
    struct events events;
    bool uart_ready, events_ready, psci_ready, scratch_ready;
    struct psci_machine psci;    /* user mode: answers every call */
    struct psci_machine scratch; /* kernel mode: validates SYSTEM_SUSPEND (1 vCPU) */

    /* Boot images (boot.c). */
    uint8_t *payload;
    size_t payload_size;
    uint64_t dtb_gpa;
    uint64_t entry_gpa;         /* where vCPU 0 starts: RAM base, or the kernel's address */
    struct kernel_image kernel;
    struct file_image initrd;
    size_t initrd_size;
    struct boot_layout layout;

    struct virtio_blk *disks;   /* opts.nr_disks, in virtio-mmio slots 0.. */
    unsigned int nr_disks_ready;
    struct pl031 rtc;           /* PL031 RTC (wall clock, alarm = wake source) */
    bool rtc_ready;
    int rtc_timer_fd;           /* timerfd (CLOCK_REALTIME) for the RTC's alarm */
    struct virtio_input input;  /* the power button (KEY_POWER, KEY_SLEEP, KEY_WAKEUP) */
    bool input_ready;
    unsigned int input_spi;
    /* The device table (board.c): MMIO windows on the bus, reset, state, DT nodes in order. */
    struct device devices[4 + RUN_MAX_DISKS];
    unsigned int nr_devices;

    /* Console (board.c). */
    struct console console;
    bool console_ready;
    int console_fd;             /* UART output: stdout, a --console file, or -1 (none) */
    bool console_line_buffered; /* events share stdout: lines never interleave */
    /* Serialises console_buf with the event writer; taken last (console_tx runs under the
     * UART's lock, events under m->lock), never held while taking another lock. */
    pthread_mutex_t console_lock;
    char console_buf[256];
    size_t console_len;
    size_t console_quiet_len; /* console_len at the main loop's last look (partial lines) */
    uint64_t console_quiet_ns; /* ... and when it last changed (CLOCK_MONOTONIC) */
    bool console_mid_line;    /* a partial line went out: the next event starts a new line */

    /* Main loop and control plane. */
    struct loop loop;
    bool loop_ready;
    int signal_fd, timeout_fd, tick_fd;
    int suspend_save_fd;        /* timerfd: save the suspended guest (--on-suspend save=,
                                   save-after=); -1 without those */
    struct qmp_server *qmp;
    uint64_t kmode_last_blind_ns;

    pthread_mutex_t lock;
    pthread_cond_t cond;        /* pause barrier progress */
    pthread_cond_t pause_cond;  /* paused vCPU threads wait here */
    enum machine_state state;
    bool stop;
    bool stop_restart;
    bool restart_paused;        /* a reset requested while PAUSED stays paused */
    int exit_status;
    char exit_reason[96];
    int pause_holder;           /* PAUSE_NOBODY, PAUSE_CONTROL or a vCPU index */
    unsigned int paused;        /* vCPU threads waiting at a pause point */
    bool guest_suspended;       /* a vCPU waits in SYSTEM_SUSPEND */
    unsigned int suspended_vcpu;
    bool wakeup_requested;      /* QMP system_wakeup: wake the SYSTEM_SUSPEND waiter */
    unsigned int wake_spi;      /* first SPI raised while a vCPU was suspended (BOARD_NO_SPI) */
    uint64_t wake_ns;           /* when that SPI was raised / system_wakeup asked (monotonic) */
    uint64_t counter_at_pause;  /* guest virtual counter when PAUSED (frozen guest time) */
    bool counter_saved;
    uint64_t logged_mmio[16];
    unsigned int nr_logged_mmio;
    unsigned int nr_nisv_logged;    /* atomic */

    struct vcpu_ctl *vcpus;
    unsigned int nr_vcpu_ctl;   /* control blocks initialised (release) */
    bool sync_ready;

    /* Restored from a snapshot (snapshot_restore.c): the first start runs the vCPUs from the
     * restored state instead of booting; restore_path names the file (vm_start). */
    bool restored;
    const char *restore_path;
    /* Boot sources opened (boot_load_sources): at build for a run; for a restore only when the
     * guest reboots, from the files CONF names; boot_unavailable says why it cannot (a file
     * missing or changed since the save, or not recorded) — the reboot then ends pscivm. */
    bool boot_loaded;
    char boot_unavailable[320];

    /* --vm DIR (vm.c): the VM's directory (NULL without --vm), what this start did with a
     * hibernation record, and SYSTEM_OFF2's type for the record (MACHINE_OFF2_TYPE_UNKNOWN in
     * kernel mode: KVM zeroes x1 before the exit). */
    struct vm_dir *vm;
    enum machine_vm_hib { MACHINE_VM_BOOT, MACHINE_VM_RESUME, MACHINE_VM_DISCARDED } vm_hib;
    int64_t vm_discarded_time;  /* when the discarded record said the guest hibernated */
    uint64_t off2_type;

    /* The system-call allow-list (--seccomp; host.c builds it, machine_run loads it once the
     * main loop and the console exist, before the first guest instruction). NULL: none.
     * sandbox_selftest (PSCIVM_SECCOMP_SELFTEST=1, the lab's check): right after loading, make
     * a forbidden system call. sanitizer_selftest (PSCIVM_SANITIZER_SELFTEST, sanitizer builds:
     * address or undefined; NULL: none): right after loading, make the sanitizer report. */
    struct seccomp_filter *sandbox;
    bool sandbox_selftest;
    const char *sanitizer_selftest;
};
#define MACHINE_OFF2_TYPE_UNKNOWN UINT64_MAX

/* ---- machine.c: lifecycle ----------------------------------------------------------------- */
/* Creation (the backend is built between machine_init and machine_init_vcpus, by host.c or a
 * test): options, locks, signal mask, the event stream. 0 or -errno with err set. */
int machine_init(struct machine *m, const struct run_options *opts, char *err, size_t errlen);
int machine_init_vcpus(struct machine *m, char *err, size_t errlen);
/* Release everything machine_init and the build set up, except the backend. */
void machine_release(struct machine *m);
/* Check the invariants drawn above and, in user mode, the PSCI core's (psci_machine_check)
 * (m->lock held). 0, or -EUCLEAN with *why set. Production runs it after every user-mode PSCI
 * call (power.c). */
int machine_check_locked(const struct machine *m, const char **why);
/* Stop the machine (the first request wins, but an end overrides a restart still pending);
 * restart: reset in-process instead. */
void machine_request_stop_locked(struct machine *m, bool restart, int status, const char *reason);
void machine_request_stop(struct machine *m, bool restart, int status, const char *reason);
/* Guest time stands still while PAUSED: read the virtual counter at the pause / write it back
 * at the resume (m->lock held). */
void machine_counter_freeze_locked(struct machine *m);
/* Control pause (QMP stop, snapshot-save): RUNNING -> PAUSED with the guest counter frozen;
 * 0 when already paused, -ESHUTDOWN when stopping. m->lock held. */
int machine_pause_locked(struct machine *m);
void machine_counter_thaw_locked(struct machine *m);
/* Report an internal inconsistency found by machine_check: stop with an error. */
void machine_assert_invariants_locked(struct machine *m);
/* The control operations (control.h) of this machine. */
struct vm_control machine_control(struct machine *m);
/* Log a host error (stderr: only the machine's top level prints) and stop with status 1. */
void machine_fail(struct machine *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- events.c (machine side): the event stream and QMP ------------------------------------ */
void machine_emit(struct machine *m, const char *name, int vcpu, struct json_object *fields);
/* A QMP-only event (QEMU names: STOP, RESUME, SHUTDOWN ...); data ownership taken. */
void machine_emit_qmp(struct machine *m, const char *name, struct json_object *data);
struct json_object *fields_new(void);
void field_hex(struct json_object *o, const char *k, uint64_t v);
void field_int(struct json_object *o, const char *k, int64_t v);
void field_str(struct json_object *o, const char *k, const char *v);
void field_bool(struct json_object *o, const char *k, bool v);

/* ---- vm.c: --vm DIR, the VM's definition and hibernation record ---------------------------- */
/* Fill the boot files' and disks' sizes and identities of d from the files (stat by path; a
 * missing file gets the identity "(missing: <reason>)"). 0 or -ENOMEM. */
int machine_vm_identify(struct vmdef *d);
/* Before building (a hibernated VM, no --discard-hibernation): every difference between the
 * record and the candidate m->vm->cand (its identities taken now) into diffs; -ESTALE when there
 * is one. */
int machine_vm_precheck(struct vm_dir *vd, struct vmdef_diffs *diffs, char *err, size_t errlen);
/* After the machine is built, before it runs: complete the candidate from the machine (MPIDRs,
 * devices, PSCI version and functions, identities); a hibernated VM is compared with its record
 * (-ESTALE, diffs filled) or, with --discard-hibernation, its record cleared; a function set the
 * definition has that this PSCI version does not offer is refused (-EOPNOTSUPP); then
 * DIR/vm.json is written. 0 or -errno with err set. */
int machine_vm_prepare(struct machine *m, struct vmdef_diffs *diffs, char *err, size_t errlen);
/* After the run (vCPUs joined, devices still open): SYSTEM_OFF2 writes the hibernation record,
 * SYSTEM_OFF clears it; events hibernation_recorded / hibernation_cleared. 0 or -errno. */
int machine_vm_finish(struct machine *m, char *err, size_t errlen);

/* ---- vcpus.c: threads, kicks, pause barrier ------------------------------------------------ */
void vcpu_kick(struct vcpu_ctl *v);
int vcpus_start_threads(struct machine *m);
void vcpus_join_threads(struct machine *m);
/* A vCPU thread outside vcpu_run (m->lock held): wait while someone else holds the pause. */
void vcpu_pause_point_locked(struct machine *m, struct vcpu_ctl *v);
/* Take the pause for `holder` (a vCPU index, or PAUSE_CONTROL): returns once every other vCPU
 * thread waits at a pause point (0), or -ESHUTDOWN when the machine stops meanwhile. */
int vcpus_pause_locked(struct machine *m, int holder);
void vcpus_resume_locked(struct machine *m);
/* The vCPU thread body (exits.c dispatches what it returns with). */
void *vcpu_thread(void *arg);

/* ---- exits.c: one exit -> devices / power / system events --------------------------------- */
/* Handle v->exit. 0, -ESHUTDOWN (the machine stops), or -errno (host error: machine stops). */
int exits_dispatch(struct machine *m, struct vcpu_ctl *v);

/* ---- power.c: PSCI bridge, system power policy, suspend and wake-up ------------------------- */
int power_handle_psci_user(struct machine *m, struct vcpu_ctl *v);
int power_handle_system_event(struct machine *m, struct vcpu_ctl *v);
/* Wait in HV_MP_SUSPENDED until a WAKEUP exit (or a QMP system_wakeup for SYSTEM_SUSPEND).
 * suspend_ev: NULL for CPU_SUSPEND; for SYSTEM_SUSPEND the system_suspend event's fields
 * (consumed), emitted once the guest counts as suspended. */
struct power_wake {
    const char *source;   /* rtc, console, input, qmp, timer, other */
    uint64_t request_ns;  /* when the wake was requested (0: the guest's own timer) */
    bool system;          /* SYSTEM_SUSPEND (QMP WAKEUP too) */
};
int power_wait_for_wakeup(struct machine *m, struct vcpu_ctl *v, struct json_object *suspend_ev,
                          struct power_wake *w);
/* Carry out a start request on the vCPU's own thread (m->lock held, dropped inside). */
void power_vcpu_do_start(struct machine *m, struct vcpu_ctl *v);
int power_setup_cores(struct machine *m, char *err, size_t errlen);
int power_down_and_resume(struct machine *m, struct vcpu_ctl *v, uint64_t entry,
                          uint64_t context, struct psci_machine *core, unsigned int core_vcpu,
                          struct json_object *suspend_ev);
/* --on-suspend save=/save-after=: arm (the guest suspended) or disarm (it woke) the save. */
void power_suspend_save_arm(struct machine *m, bool arm);
/* --on-suspend exit: SUSPEND, SHUTDOWN (guest-suspend), stop with PSCIVM_EXIT_SUSPEND. */
void power_suspend_exit(struct machine *m, struct vcpu_ctl *v);
int power_set_result(struct machine *m, struct vcpu_ctl *v, uint64_t x0, const uint64_t args[4]);
int power_get_args(struct machine *m, struct vcpu_ctl *v, uint64_t x[4]);

/* ---- kmode.c: kernel PSCI mode observation ------------------------------------------------ */
int kmode_check_power_off(struct machine *m, struct vcpu_ctl *v);
int kmode_wait_power_on(struct machine *m, struct vcpu_ctl *v);
void kmode_watch_locked(struct machine *m, uint64_t now_ns);
int kmode_handle_system_suspend(struct machine *m, struct vcpu_ctl *v);

/* ---- boot.c: images and the device tree ---------------------------------------------------- */
int boot_load_sources(struct machine *m, char *err, size_t errlen);
int boot_load_images(struct machine *m, char *err, size_t errlen);
void boot_release(struct machine *m);

/* ---- board.c: devices, console ------------------------------------------------------------- */
int board_build(struct machine *m, char *err, size_t errlen);
void board_reset(struct machine *m);
void board_release(struct machine *m);
/* The RTC alarm's timerfd fired (main loop). */
void board_rtc_timer(struct machine *m);
int board_console_open(struct machine *m, char *err, size_t errlen);
int board_console_start(struct machine *m, char *err, size_t errlen);
void board_console_flush(struct machine *m);
/* Line-buffered console (--events -): the main loop calls this after every wait; it sends a
 * partial line that stayed unchanged for a whole tick and returns how long the next wait may be
 * (BOARD_CONSOLE_TICK_MS while bytes wait, else -1: no limit). */
#define BOARD_CONSOLE_TICK_MS 100
int board_console_tick(struct machine *m);
/* Before an event line on the shared stdout: end a partial console line that went out. */
void board_console_end_line(struct machine *m);
#define BOARD_NO_SPI 0xffffffffu
/* Wake-source name of an interrupt line: "rtc", "console", "input", "disk", "timer" (no SPI:
 * the architected timer or another PPI) or "other". */
const char *board_irq_source_name(const struct machine *m, unsigned int spi);
enum board_key {
    BOARD_KEY_POWER,
    BOARD_KEY_SLEEP,
    BOARD_KEY_WAKEUP,
};
/* Press and release a key of the power-button device. 0, or -errno with err set (no device,
 * the guest's driver is not ready). */
int board_press_key(struct machine *m, enum board_key key, char *err, size_t errlen);

/* ---- run.c: the main loop ------------------------------------------------------------------ */
/* Run the machine until it ends (restarts in-process on reset): returns the exit status. */
int machine_run(struct machine *m);

#endif
