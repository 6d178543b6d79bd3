/* machine.c — assembles and runs one VM (see machine.h): the machine builder (one commented
 * assembly order in machine_build), the vCPU threads and their exit handling, PSCI in user mode
 * (SMCCC filter -> pscivm's PSCI core) and kernel mode (KVM's PSCI, system events), the policy
 * for system power transitions, in-process reset, timeout and signals.
 *
 * vCPU thread life cycle (user mode; in kernel mode every thread is RUNNING and a powered-off
 * vCPU sleeps inside KVM_RUN, STOPPED by KVM):
 *
 *            start request (boot / CPU_ON / restart)
 *   PARKED ----------------------------------------> RUNNING (KVM_RUN loop)
 *     ^                                                |   |
 *     |  CPU_OFF / system event                        |   | CPU_SUSPEND, SYSTEM_SUSPEND
 *     +------------------------------------------------+   v
 *                                                   SUSPENDED (KVM_MP_STATE_SUSPENDED in
 *                                                    KVM_RUN until KVM_SYSTEM_EVENT_WAKEUP)
 *   machine stop (any state) -> thread exits; the main thread joins it.
 * Invariants (machine_check_locked): a PARKED thread has no KVM_RUN in flight; in user mode a
 * vCPU the PSCI core sees as OFF is PARKED unless a start request is pending; at most one
 * pause owner.
 *
 * Locking: m->lock serialises the PSCI core, the per-vCPU control fields, the stop request and
 * the pause barrier. It is never held across KVM_RUN or an event write.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "devices/bus.h"
#include "devices/guest_mem.h"
#include "devices/uart16550.h"
#include "devices/virtio_blk.h"
#include "kvm/ioevent.h"
#include "kvm/machine.h"
#include "kvm/vcpu_stats.h"
#include "kvm/vm.h"
#include "psci/psci.h"
#include "vmm/events.h"
#include "vmm/exit_status.h"
#include "vmm/console.h"
#include "vmm/fdt.h"
#include "vmm/kernel_image.h"
#include "vmm/memmap.h"
#include "vmm/policy.h"

#define DTB_AREA_SIZE (2ULL << 20) /* the device tree lives in the top 2 MiB of RAM */
#define GIC_NR_IRQS 128            /* 32 private + 96 SPIs */
#define MAX_LOGGED_MMIO 16
/* Kernel mode (see "observing CPU_ON / CPU_OFF"): how often the main thread looks at the
 * running vCPUs' HVC counters, how often it kicks them blindly when the host has no binary
 * stats, and how often a parked powered-off vCPU's thread looks for a CPU_ON. */
#define KMODE_WATCH_NS (1 * 1000 * 1000)
#define KMODE_BLIND_KICK_NS (5 * 1000 * 1000)
#define KMODE_POLL_NS (1 * 1000 * 1000)

enum vcpu_run_state {
    VCPU_PARKED,
    VCPU_RUNNING,
    VCPU_SUSPENDED,
};

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
    bool kmode_on;              /* kernel mode: last power state observed (events) */
    struct vcpu_stat hvc_stat;  /* kernel mode: the vCPU's HVC exit counter (fd -1: none) */
    uint64_t hvc_seen;          /* its value at the last look */
    bool hvc_unchecked;         /* an HVC happened that no kick has followed up yet */
    struct vcpu_stat blocking_stat; /* kernel mode: "blocking" (in kvm_vcpu_block: WFI,
                                   CPU_SUSPEND), fd -1: none */
};

struct machine {
    struct run_options opts;
    enum psci_mode mode;        /* resolved: USER or KERNEL */
    char host_release[65];
    uint64_t host_psci_max;     /* kernel mode: the host's default PSCI version */

    struct kvm_vm vm;
    struct guest_mem mem;
    struct bus bus;
    struct uart16550 uart;
    struct events events;
    bool uart_ready, events_ready, psci_ready, scratch_ready;
    struct psci_machine psci;    /* user mode: answers every call */
    struct psci_machine scratch; /* kernel mode: validates SYSTEM_SUSPEND (1 vCPU) */

    uint8_t *payload;
    size_t payload_size;
    uint64_t dtb_gpa;
    uint64_t entry_gpa;         /* where vCPU 0 starts: RAM base, or the kernel's address */

    /* Linux boot (--kernel): the Image, initrd and their placement. */
    struct kernel_image kernel;
    uint8_t *initrd;
    size_t initrd_size;
    struct boot_layout layout;

    struct virtio_blk *disks;   /* opts.nr_disks, in virtio-mmio slots 0.. */
    unsigned int nr_disks_ready;
    struct ioevent_thread ioevents; /* QueueNotify via KVM ioeventfds (when the host can) */
    bool ioevents_ready;

    struct console console;
    bool console_ready;
    int console_fd;             /* UART output: stdout, a --console file, or -1 (none) */
    uint64_t kmode_last_blind_ns; /* kernel mode without binary stats: last blind kick */

    /* Console: line-buffered when events share stdout, so lines never interleave. */
    bool console_line_buffered;
    char console_buf[256];
    size_t console_len;

    pthread_mutex_t lock;
    pthread_cond_t cond;        /* main thread: stop requests; pause barrier progress */
    pthread_cond_t pause_cond;  /* paused vCPU threads wait here */
    bool stop;
    bool stop_restart;
    int exit_status;
    char exit_reason[96];
    int pause_owner;            /* vCPU holding the pause barrier, or -1 */
    unsigned int paused;
    uint64_t logged_mmio[MAX_LOGGED_MMIO];
    unsigned int nr_logged_mmio;
    unsigned int nr_nisv_logged;    /* atomic */

    struct vcpu_ctl *vcpus;
};

/* ---- small helpers ------------------------------------------------------------------------- */

/* ts += ns (0 <= ns < 1 s), keeping tv_nsec normalised: deadlines for pthread_cond_timedwait. */
static void timespec_add_ns(struct timespec *ts, long ns)
{
    ts->tv_nsec += ns;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static uint64_t clock_ns(void *opaque)
{
    (void)opaque;
    return events_monotonic_ns();
}

static void console_flush_locked(struct machine *m)
{
    size_t off = 0;
    while (off < m->console_len) {
        if (m->console_fd < 0)
            break;
        ssize_t n = write(m->console_fd, m->console_buf + off, m->console_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* stdout gone: drop console output, the guest keeps running */
        off += (size_t)n;
    }
    m->console_len = 0;
}

/* UART transmit sink (called with the UART's lock held, which serialises the buffer). */
static void console_tx(void *opaque, uint8_t byte)
{
    struct machine *m = opaque;
    m->console_buf[m->console_len++] = (char)byte;
    if (!m->console_line_buffered || byte == '\n' || m->console_len == sizeof(m->console_buf))
        console_flush_locked(m);
}

static int uart_irq_set(void *opaque, unsigned int spi, bool level)
{
    struct machine *m = opaque;
    return kvm_vm_irq_line(&m->vm, spi, level);
}

static void emit(struct machine *m, const char *name, int vcpu, struct json_object *fields)
{
    events_emit(&m->events, name, vcpu, fields);
}

static struct json_object *fields_new(void)
{
    return json_object_new_object();
}

static void field_hex(struct json_object *o, const char *k, uint64_t v)
{
    json_object_object_add(o, k, events_hex(v));
}

static void field_int(struct json_object *o, const char *k, int64_t v)
{
    json_object_object_add(o, k, json_object_new_int64(v));
}

static void field_str(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v));
}

/* ---- stop requests and kicks --------------------------------------------------------------- */

static void kick_vcpu(struct vcpu_ctl *v)
{
    struct kvm_run *run = v->m->vm.vcpus[v->index].run;
    __atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (v->thread_live)
        pthread_kill(v->thread, SIGUSR1);
}

/* First request wins: later ones (e.g. the other vCPUs' reactions) do not change the outcome. */
static void request_stop_locked(struct machine *m, bool restart, int status, const char *reason)
{
    if (m->stop)
        return;
    m->stop = true;
    m->stop_restart = restart;
    m->exit_status = status;
    snprintf(m->exit_reason, sizeof(m->exit_reason), "%s", reason);
    pthread_cond_broadcast(&m->cond);
    pthread_cond_broadcast(&m->pause_cond);
    for (unsigned int i = 0; i < m->vm.nr_vcpus; i++) {
        pthread_cond_signal(&m->vcpus[i].cond);
        kick_vcpu(&m->vcpus[i]);
    }
}

static void request_stop(struct machine *m, bool restart, int status, const char *reason)
{
    pthread_mutex_lock(&m->lock);
    request_stop_locked(m, restart, status, reason);
    pthread_mutex_unlock(&m->lock);
}

/* Check the invariants drawn at the top of this file. */
static int machine_check_locked(const struct machine *m, const char **why)
{
    if (m->pause_owner >= (int)m->vm.nr_vcpus) {
        *why = "pause owner out of range";
        return -EUCLEAN;
    }
    if (m->mode != PSCI_MODE_USER)
        return 0;
    for (unsigned int i = 0; i < m->vm.nr_vcpus; i++) {
        struct psci_vcpu_info info;
        if (psci_vcpu_get_info(&m->psci, i, &info))
            continue;
        const struct vcpu_ctl *v = &m->vcpus[i];
        if (info.state == PSCI_CPU_OFF && v->state != VCPU_PARKED && !m->stop) {
            *why = "a vCPU the PSCI core sees as OFF is not parked";
            return -EUCLEAN;
        }
    }
    return 0;
}

static void assert_invariants_locked(struct machine *m)
{
    const char *why = NULL;
    if (machine_check_locked(m, &why)) {
        fprintf(stderr, "pscivm: internal error: %s\n", why);
        request_stop_locked(m, false, PSCIVM_EXIT_ERROR, "internal error");
    }
}

/* ---- pause barrier (kernel mode SYSTEM_SUSPEND needs every other vCPU out of KVM_RUN) ----- */

/* Called by a vCPU thread with m->lock held whenever it is outside KVM_RUN. */
static void pause_point_locked(struct machine *m, struct vcpu_ctl *v)
{
    while (m->pause_owner >= 0 && m->pause_owner != (int)v->index && !m->stop) {
        m->paused++;
        pthread_cond_broadcast(&m->cond);
        pthread_cond_wait(&m->pause_cond, &m->lock);
        m->paused--;
    }
}

/* Take the barrier: returns with every other vCPU thread paused (0) or -ESHUTDOWN. */
static int pause_others_locked(struct machine *m, struct vcpu_ctl *v)
{
    pause_point_locked(m, v); /* honour someone else's barrier first */
    if (m->stop)
        return -ESHUTDOWN;
    m->pause_owner = (int)v->index;
    for (unsigned int i = 0; i < m->vm.nr_vcpus; i++)
        if (i != v->index)
            kick_vcpu(&m->vcpus[i]);
    while (m->paused < m->vm.nr_vcpus - 1 && !m->stop)
        pthread_cond_wait(&m->cond, &m->lock);
    return m->stop ? -ESHUTDOWN : 0;
}

static void resume_others_locked(struct machine *m)
{
    m->pause_owner = -1;
    pthread_cond_broadcast(&m->pause_cond);
}

/* ---- MMIO ----------------------------------------------------------------------------------- */

static void log_unmapped(struct machine *m, struct vcpu_ctl *v, uint64_t addr, bool write,
                         unsigned int len)
{
    pthread_mutex_lock(&m->lock);
    bool seen = false;
    for (unsigned int i = 0; i < m->nr_logged_mmio && !seen; i++)
        seen = m->logged_mmio[i] == addr;
    if (!seen && m->nr_logged_mmio <= MAX_LOGGED_MMIO) {
        if (m->nr_logged_mmio < MAX_LOGGED_MMIO) {
            m->logged_mmio[m->nr_logged_mmio] = addr;
            fprintf(stderr, "pscivm: vCPU %u: %u-byte %s of unmapped MMIO 0x%" PRIx64
                    " (%s)\n", v->index, len, write ? "write" : "read", addr,
                    write ? "ignored" : "reads as zero");
        } else {
            fprintf(stderr, "pscivm: further unmapped MMIO accesses are not logged\n");
        }
        m->nr_logged_mmio++;
    }
    pthread_mutex_unlock(&m->lock);
}

static void handle_mmio(struct machine *m, struct vcpu_ctl *v, struct kvm_run *run)
{
    uint64_t addr = run->mmio.phys_addr;
    unsigned int len = run->mmio.len;
    int err;
    if (run->mmio.is_write) {
        uint64_t value = 0;
        memcpy(&value, run->mmio.data, len <= 8 ? len : 8);
        err = bus_write(&m->bus, addr, len, value);
    } else {
        uint64_t value = 0;
        err = bus_read(&m->bus, addr, len, &value);
        memset(run->mmio.data, 0, sizeof(run->mmio.data));
        if (!err)
            memcpy(run->mmio.data, &value, len <= 8 ? len : 8);
    }
    if (err == -ENOENT) {
        log_unmapped(m, v, addr, run->mmio.is_write, len);
    } else if (err) {
        const char *name = bus_region_name(&m->bus, addr);
        fprintf(stderr, "pscivm: vCPU %u: invalid %u-byte %s at 0x%" PRIx64 " (%s): %s\n",
                v->index, len, run->mmio.is_write ? "write" : "read", addr, name ? name : "?",
                strerror(-err));
    }
}

/* ---- register helpers ------------------------------------------------------------------------ */

/* Return x0 to the caller with x1..x3 = 0. `args` holds x0..x3 as read at the call: registers
 * already zero are not written again (each ONE_REG ioctl is a syscall; this halves the cost of
 * a typical call such as PSCI_VERSION). */
static int set_result(struct machine *m, struct vcpu_ctl *v, uint64_t x0, const uint64_t args[4])
{
    int err = kvm_vcpu_set_reg(&m->vm, v->index, KVM_REG_X(0), x0);
    for (unsigned int r = 1; r <= 3 && !err; r++)
        if (args[r] != 0)
            err = kvm_vcpu_set_reg(&m->vm, v->index, KVM_REG_X(r), 0);
    return err;
}

static int get_args(struct machine *m, struct vcpu_ctl *v, uint64_t x[4])
{
    for (unsigned int r = 1; r <= 3; r++) {
        int err = kvm_vcpu_get_reg(&m->vm, v->index, KVM_REG_X(r), &x[r]);
        if (err)
            return err;
    }
    return 0;
}

/* Block the calling vCPU in KVM_MP_STATE_SUSPENDED until KVM reports a wake-up
 * (KVM_SYSTEM_EVENT_WAKEUP: an interrupt became pending), then make it runnable again.
 * 0, -ESHUTDOWN when the machine stops meanwhile, or another -errno (reported). */
static int wait_for_wakeup(struct machine *m, struct vcpu_ctl *v)
{
    struct kvm_run *run = m->vm.vcpus[v->index].run;
    pthread_mutex_lock(&m->lock);
    v->state = VCPU_SUSPENDED;
    pthread_mutex_unlock(&m->lock);
    int err = kvm_vcpu_set_mp_state(&m->vm, v->index, KVM_MP_STATE_SUSPENDED);
    while (!err) {
        err = kvm_vcpu_run(&m->vm, v->index);
        if (err == -EINTR) {
            __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
            pthread_mutex_lock(&m->lock);
            bool stop = m->stop;
            pause_point_locked(m, v);
            pthread_mutex_unlock(&m->lock);
            err = stop ? -ESHUTDOWN : 0;
            continue;
        }
        if (err)
            break;
        if (run->exit_reason == KVM_EXIT_SYSTEM_EVENT &&
            run->system_event.type == KVM_SYSTEM_EVENT_WAKEUP) {
            emit(m, "wakeup", (int)v->index, NULL);
            err = kvm_vcpu_set_mp_state(&m->vm, v->index, KVM_MP_STATE_RUNNABLE);
            break;
        }
        fprintf(stderr, "pscivm: vCPU %u: unexpected exit %u while suspended\n", v->index,
                run->exit_reason);
        err = -EPROTO;
    }
    pthread_mutex_lock(&m->lock);
    v->state = VCPU_RUNNING;
    pthread_mutex_unlock(&m->lock);
    return err;
}

/* ---- system power transitions (both modes) ----------------------------------------------- */

#define SYSTEM_TYPE_UNKNOWN UINT64_MAX /* kernel-mode SYSTEM_OFF2: type not recoverable */

static void system_request(struct machine *m, struct vcpu_ctl *v, enum system_request req,
                           uint64_t type, uint64_t cookie)
{
    struct policy_decision d = policy_system_request(&m->opts, req);
    struct json_object *f = NULL;
    if (req == SYSTEM_REQ_OFF2 && type != SYSTEM_TYPE_UNKNOWN) {
        f = fields_new();
        field_int(f, "type", (int64_t)type);
    } else if (req == SYSTEM_REQ_RESET2) {
        f = fields_new();
        field_hex(f, "type", type);
        field_hex(f, "cookie", cookie);
    }
    emit(m, d.reason, (int)v->index, f);
    pthread_mutex_lock(&m->lock);
    v->state = VCPU_PARKED;
    request_stop_locked(m, d.restart, d.exit_status, d.reason);
    pthread_mutex_unlock(&m->lock);
}

/* ---- user mode: every PSCI call answered by the core ------------------------------------- */

static bool all_vcpus_off_locked(struct machine *m)
{
    for (unsigned int i = 0; i < m->vm.nr_vcpus; i++) {
        struct psci_vcpu_info info;
        if (psci_vcpu_get_info(&m->psci, i, &info) == 0 && info.state != PSCI_CPU_OFF)
            return false;
    }
    return true;
}

/* Resume after a power-down (CPU_SUSPEND power-down, SYSTEM_SUSPEND): wait for the wake-up,
 * tell the core, restart at entry/context. */
static int powerdown_and_resume(struct machine *m, struct vcpu_ctl *v, uint64_t entry,
                                uint64_t context, struct psci_machine *core, unsigned int core_vcpu)
{
    int err = wait_for_wakeup(m, v);
    if (err)
        return err;
    pthread_mutex_lock(&m->lock);
    psci_cpu_woken(core, core_vcpu);
    pthread_mutex_unlock(&m->lock);
    err = kvm_vcpu_start_at(&m->vm, v->index, entry, context);
    if (!err) {
        struct json_object *f = fields_new();
        field_hex(f, "entry", entry);
        field_hex(f, "context", context);
        emit(m, "cpu_resume", (int)v->index, f);
    }
    return err;
}

static int handle_psci_user(struct machine *m, struct vcpu_ctl *v, struct kvm_run *run)
{
    struct psci_call call = {.vcpu = v->index};
    call.x[0] = (uint32_t)run->hypercall.nr; /* the function ID is W0 */
    int err = get_args(m, v, call.x);
    if (err)
        return err;
    struct psci_result res;
    pthread_mutex_lock(&m->lock);
    int rc = psci_machine_call(&m->psci, &call, &res);
    const struct psci_action *a = &res.action;
    if (rc == 0 && a->kind == PSCI_ACT_CPU_START) {
        struct vcpu_ctl *t = &m->vcpus[a->target];
        t->start_pending = true;
        t->start_is_cpu_on = true;
        t->start_entry = a->entry;
        t->start_context = a->context;
        pthread_cond_signal(&t->cond);
    } else if (rc == 0 && a->kind == PSCI_ACT_CPU_STOP) {
        v->state = VCPU_PARKED;
        if (all_vcpus_off_locked(m))
            request_stop_locked(m, false, PSCIVM_EXIT_GUEST_DEAD, "all vCPUs off");
    }
    assert_invariants_locked(m);
    pthread_mutex_unlock(&m->lock);
    if (rc) {
        fprintf(stderr, "pscivm: vCPU %u: PSCI call 0x%" PRIx64 " from a vCPU the core sees as "
                "not on\n", v->index, call.x[0]);
        return set_result(m, v, res.x0, call.x);
    }

    struct json_object *f;
    switch (a->kind) {
    case PSCI_ACT_NONE:
        if (call.x[0] == 0x84000003 || call.x[0] == 0xC4000003) { /* refused CPU_ON */
            f = fields_new();
            pthread_mutex_lock(&m->lock);
            int t = psci_find_vcpu(&m->psci, call.x[1] & PSCI_MPIDR_AFF_MASK);
            pthread_mutex_unlock(&m->lock);
            if (t >= 0 && (call.x[1] & ~PSCI_MPIDR_AFF_MASK) == 0)
                field_int(f, "target", t);
            field_hex(f, "target_mpidr", call.x[1]);
            field_hex(f, "entry", call.x[2]);
            field_hex(f, "context", call.x[3]);
            field_int(f, "result", (int64_t)res.x0);
            emit(m, "cpu_on", (int)v->index, f);
        }
        return set_result(m, v, res.x0, call.x);
    case PSCI_ACT_CPU_START:
        f = fields_new();
        field_int(f, "target", a->target);
        field_hex(f, "target_mpidr", m->vm.vcpus[a->target].mpidr);
        field_hex(f, "entry", a->entry);
        field_hex(f, "context", a->context);
        field_int(f, "result", (int64_t)res.x0);
        emit(m, "cpu_on", (int)v->index, f);
        return set_result(m, v, res.x0, call.x);
    case PSCI_ACT_CPU_STOP:
        emit(m, "cpu_off", (int)v->index, NULL);
        return 0;
    case PSCI_ACT_CPU_STANDBY:
    case PSCI_ACT_CPU_POWERDOWN: {
        bool down = a->kind == PSCI_ACT_CPU_POWERDOWN;
        f = fields_new();
        field_hex(f, "power_state", a->power_state);
        field_str(f, "kind", down ? "powerdown" : "standby");
        emit(m, "cpu_suspend", (int)v->index, f);
        if (down)
            return powerdown_and_resume(m, v, a->entry, a->context, &m->psci, v->index);
        err = set_result(m, v, res.x0, call.x);
        if (!err)
            err = wait_for_wakeup(m, v);
        if (!err) {
            pthread_mutex_lock(&m->lock);
            psci_cpu_woken(&m->psci, v->index);
            pthread_mutex_unlock(&m->lock);
            emit(m, "cpu_resume", (int)v->index, NULL);
        }
        return err;
    }
    case PSCI_ACT_SYSTEM_OFF:
        system_request(m, v, SYSTEM_REQ_OFF, 0, 0);
        return 0;
    case PSCI_ACT_SYSTEM_OFF2:
        system_request(m, v, SYSTEM_REQ_OFF2, a->type, 0);
        return 0;
    case PSCI_ACT_SYSTEM_RESET:
        system_request(m, v, SYSTEM_REQ_RESET, 0, 0);
        return 0;
    case PSCI_ACT_SYSTEM_RESET2:
        system_request(m, v, SYSTEM_REQ_RESET2, a->type, a->cookie);
        return 0;
    case PSCI_ACT_SYSTEM_SUSPEND: {
        /* The core only hands this over when every other vCPU is OFF. */
        enum suspend_decision d = policy_system_suspend(&m->opts, true);
        f = fields_new();
        field_hex(f, "entry", a->entry);
        field_hex(f, "context", a->context);
        field_str(f, "outcome", d == SUSPEND_DENY ? "denied" : "suspended");
        if (d == SUSPEND_DENY) {
            uint64_t x0 = 0;
            pthread_mutex_lock(&m->lock);
            psci_system_suspend_refused(&m->psci, v->index, &x0);
            pthread_mutex_unlock(&m->lock);
            field_int(f, "result", (int64_t)x0);
            emit(m, "system_suspend", (int)v->index, f);
            return set_result(m, v, x0, call.x);
        }
        emit(m, "system_suspend", (int)v->index, f);
        return powerdown_and_resume(m, v, a->entry, a->context, &m->psci, v->index);
    }
    }
    return set_result(m, v, res.x0, call.x);
}

/* ---- kernel mode: KVM's PSCI, system events ----------------------------------------------- */

/* SYSTEM_SUSPEND exit: KVM left x0..x2 untouched and checked nothing (psci-kvm.md §3.3). The
 * scratch core validates entry/context and supplies the PSCI return values; pscivm checks that
 * every other vCPU is stopped (the vCPU threads are paused so their MP state can be read). */
static int handle_system_suspend_kernel(struct machine *m, struct vcpu_ctl *v)
{
    struct psci_call call = {.vcpu = 0};
    int err = kvm_vcpu_get_reg(&m->vm, v->index, KVM_REG_X(0), &call.x[0]);
    call.x[0] = (uint32_t)call.x[0]; /* the function ID is W0 */
    if (!err)
        err = get_args(m, v, call.x);
    if (err)
        return err;

    pthread_mutex_lock(&m->lock);
    bool others_off = true;
    err = pause_others_locked(m, v);
    for (unsigned int i = 0; i < m->vm.nr_vcpus && !err; i++) {
        uint32_t mp;
        if (i == v->index)
            continue;
        err = kvm_vcpu_get_mp_state(&m->vm, i, &mp);
        if (!err && mp != KVM_MP_STATE_STOPPED)
            others_off = false;
    }
    resume_others_locked(m);
    if (err) {
        pthread_mutex_unlock(&m->lock);
        return err == -ESHUTDOWN ? 0 : err;
    }
    struct psci_result res;
    psci_machine_reset(&m->scratch);
    psci_machine_call(&m->scratch, &call, &res);
    enum suspend_decision d = policy_system_suspend(&m->opts, others_off);
    uint64_t x0 = res.x0;
    bool accepted = res.action.kind == PSCI_ACT_SYSTEM_SUSPEND;
    if (accepted && d == SUSPEND_DENY)
        psci_system_suspend_refused(&m->scratch, 0, &x0);
    pthread_mutex_unlock(&m->lock);

    struct json_object *f = fields_new();
    field_hex(f, "entry", call.x[1]);
    field_hex(f, "context", call.x[2]);
    field_str(f, "outcome", !accepted ? "rejected" : d == SUSPEND_DENY ? "denied" : "suspended");
    if (!accepted || d == SUSPEND_DENY)
        field_int(f, "result", (int64_t)x0);
    emit(m, "system_suspend", (int)v->index, f);
    if (!accepted || d == SUSPEND_DENY)
        return set_result(m, v, x0, call.x);
    return powerdown_and_resume(m, v, res.action.entry, res.action.context, &m->scratch, 0);
}

static int handle_system_event(struct machine *m, struct vcpu_ctl *v, struct kvm_run *run)
{
    uint64_t flags = run->system_event.ndata ? run->system_event.data[0] : 0;
    uint64_t x1 = 0, x2 = 0;
    switch (run->system_event.type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN:
        if (flags & KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2) {
            /* KVM has already overwritten x0..x3 (INTERNAL_FAILURE, 0, 0, 0) for OFF2, so the
             * hibernate type (0 or 1, both HIBERNATE_OFF) is not known here: no type field. */
            system_request(m, v, SYSTEM_REQ_OFF2, SYSTEM_TYPE_UNKNOWN, 0);
        } else {
            system_request(m, v, SYSTEM_REQ_OFF, 0, 0);
        }
        return 0;
    case KVM_SYSTEM_EVENT_RESET:
        if (flags & KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2) {
            /* KVM wrote only x0, so x1/x2 still hold reset_type and cookie. */
            int err = kvm_vcpu_get_reg(&m->vm, v->index, KVM_REG_X(1), &x1);
            if (!err)
                err = kvm_vcpu_get_reg(&m->vm, v->index, KVM_REG_X(2), &x2);
            if (err)
                return err;
            system_request(m, v, SYSTEM_REQ_RESET2, (uint32_t)x1, x2);
        } else {
            system_request(m, v, SYSTEM_REQ_RESET, 0, 0);
        }
        return 0;
    case KVM_SYSTEM_EVENT_SUSPEND:
        return handle_system_suspend_kernel(m, v);
    case KVM_SYSTEM_EVENT_WAKEUP:
        /* A wake-up outside wait_for_wakeup(): nothing is suspended by us; resume. */
        emit(m, "wakeup", (int)v->index, NULL);
        return kvm_vcpu_set_mp_state(&m->vm, v->index, KVM_MP_STATE_RUNNABLE);
    case KVM_SYSTEM_EVENT_CRASH:
        fprintf(stderr, "pscivm: vCPU %u: guest reported a crash\n", v->index);
        request_stop(m, false, PSCIVM_EXIT_GUEST_DEAD, "guest crash");
        return 0;
    }
    fprintf(stderr, "pscivm: vCPU %u: unknown system event type %u\n", v->index,
            run->system_event.type);
    return -EPROTO;
}

/* ---- kernel mode: observing CPU_ON / CPU_OFF done inside KVM -------------------------------- *
 * KVM's PSCI never exits for CPU_ON/CPU_OFF: a vCPU that calls CPU_OFF goes to
 * KVM_MP_STATE_STOPPED and sleeps inside KVM_RUN; a CPU_ON from another vCPU wakes it there.
 * pscivm still reports both as events:
 *  - OFF: every KMODE_WATCH_NS the main thread reads the HVC exit counter of each vCPU
 *    believed on (KVM binary stats, read without disturbing the vCPU); when it moved, the vCPU
 *    made a hypercall (CPU_OFF among them), so the main thread kicks it out of KVM_RUN
 *    (immediate_exit + SIGUSR1; a signal also ends the in-kernel sleep of a stopped vCPU) and
 *    the vCPU's own thread reads its MP state (no contention on the vCPU mutex) and reports
 *    cpu_off when it is STOPPED. Hosts without binary stats: blind kicks every
 *    KMODE_BLIND_KICK_NS (measured: costly under nested virtualisation, hence the counter).
 *  - ON: the thread of a vCPU seen STOPPED does not re-enter KVM_RUN; it polls its MP state
 *    every KMODE_POLL_NS and reports cpu_on when it turned RUNNABLE, then runs it. As the
 *    vCPU cannot execute before it is seen on, no CPU_ON is missed or reported late by more
 *    than the poll period (plus the thread wake-up), and events stay ordered per vCPU.
 *    KVM applies the CPU_ON entry point on the vCPU's next KVM_RUN, so the event carries no
 *    entry/context (it has "source": "kvm" instead).
 *  Latency: cpu_off within ~KMODE_WATCH_NS of the CPU_OFF, cpu_on within ~KMODE_POLL_NS of
 *  the CPU_ON. An OFF period shorter than that could go unseen (both its events are then
 *  missing, never just one); Linux's hotplug keeps a CPU off far longer. */

static void kmode_emit(struct machine *m, struct vcpu_ctl *v, bool on)
{
    struct json_object *f = fields_new();
    field_str(f, "source", "kvm");
    if (on) {
        field_int(f, "target", v->index);
        field_hex(f, "target_mpidr", m->vm.vcpus[v->index].mpidr);
        field_int(f, "result", 0);
    }
    /* The caller of CPU_ON is not known in kernel mode: the event has no "vcpu" field. */
    emit(m, on ? "cpu_on" : "cpu_off", on ? -1 : (int)v->index, f);
}

/* After a kick: report a CPU_OFF that happened inside KVM. */
static int kmode_check_power_off(struct machine *m, struct vcpu_ctl *v)
{
    if (!v->kmode_on)
        return 0;
    uint32_t mp;
    int err = kvm_vcpu_get_mp_state(&m->vm, v->index, &mp);
    if (err)
        return err;
    if (mp == KVM_MP_STATE_STOPPED) {
        v->kmode_on = false;
        /* A system event (SYSTEM_OFF/RESET) stops every vCPU inside KVM too: that is reported
         * as the system event, not as a CPU_OFF. */
        pthread_mutex_lock(&m->lock);
        bool stopping = m->stop;
        pthread_mutex_unlock(&m->lock);
        if (!stopping)
            kmode_emit(m, v, false);
    }
    return 0;
}

/* Park a powered-off vCPU's thread until KVM's CPU_ON made it runnable. 0, -ESHUTDOWN. */
static int kmode_wait_power_on(struct machine *m, struct vcpu_ctl *v)
{
    for (;;) {
        uint32_t mp;
        int err = kvm_vcpu_get_mp_state(&m->vm, v->index, &mp);
        if (err)
            return err;
        if (mp != KVM_MP_STATE_STOPPED)
            break;
        pthread_mutex_lock(&m->lock);
        pause_point_locked(m, v);
        bool stop = m->stop;
        if (!stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            timespec_add_ns(&ts, KMODE_POLL_NS);
            pthread_cond_timedwait(&v->cond, &m->lock, &ts);
            stop = m->stop;
        }
        pthread_mutex_unlock(&m->lock);
        if (stop)
            return -ESHUTDOWN;
    }
    v->kmode_on = true;
    kmode_emit(m, v, true);
    return 0;
}

/* Main thread, kernel mode, every KMODE_WATCH_NS: kick the vCPUs believed on that made a
 * hypercall since the last look (or, without stats, every KMODE_BLIND_KICK_NS). */
static void kmode_watch_locked(struct machine *m, uint64_t now_ns)
{
    bool blind_due = now_ns - m->kmode_last_blind_ns >= KMODE_BLIND_KICK_NS;
    bool blind_used = false;
    for (unsigned int i = 0; i < m->vm.nr_vcpus; i++) {
        struct vcpu_ctl *v = &m->vcpus[i];
        if (!v->kmode_on || v->state != VCPU_RUNNING)
            continue;
        uint64_t hvc, blocking = 0;
        if (vcpu_stat_read(&v->hvc_stat, &hvc) == 0) {
            /* Kick only once the HVC count has settled and the vCPU is not blocked in
             * kvm_vcpu_block(): a kick ends an in-kernel CPU_SUSPEND (WFI) early, which the
             * guest would see as a standby that returned before its wake-up event. A vCPU
             * stopped by CPU_OFF sleeps outside kvm_vcpu_block ("blocking" stays 0). */
            if (hvc != v->hvc_seen) {
                v->hvc_seen = hvc;
                v->hvc_unchecked = true;
            } else if (v->hvc_unchecked &&
                       (vcpu_stat_read(&v->blocking_stat, &blocking) != 0 || !blocking)) {
                v->hvc_unchecked = false;
                kick_vcpu(v);
            }
        } else if (blind_due) {
            blind_used = true;
            kick_vcpu(v);
        }
    }
    if (blind_used)
        m->kmode_last_blind_ns = now_ns;
}

/* ---- vCPU thread ------------------------------------------------------------------------------ */

static int handle_exit(struct machine *m, struct vcpu_ctl *v)
{
    struct kvm_run *run = m->vm.vcpus[v->index].run;
    switch (run->exit_reason) {
    case KVM_EXIT_MMIO:
        handle_mmio(m, v, run);
        return 0;
    case KVM_EXIT_HYPERCALL:
        if (m->mode == PSCI_MODE_USER)
            return handle_psci_user(m, v, run);
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        return handle_system_event(m, v, run);
    case KVM_EXIT_ARM_NISV:
        /* A data abort KVM cannot emulate (no instruction syndrome, e.g. a load/store pair to
         * MMIO): the guest gets an external abort, as on hardware without a device there. */
        if (__atomic_fetch_add(&m->nr_nisv_logged, 1, __ATOMIC_RELAXED) < MAX_LOGGED_MMIO)
            fprintf(stderr, "pscivm: vCPU %u: MMIO access at 0x%llx that KVM cannot decode (no "
                    "syndrome); injecting an external data abort\n", v->index,
                    (unsigned long long)run->arm_nisv.fault_ipa);
        return kvm_vcpu_inject_dabt(&m->vm, v->index);
    case KVM_EXIT_FAIL_ENTRY:
        fprintf(stderr, "pscivm: vCPU %u: KVM_EXIT_FAIL_ENTRY (hardware reason 0x%llx)\n",
                v->index, (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return -EIO;
    case KVM_EXIT_INTERNAL_ERROR:
        fprintf(stderr, "pscivm: vCPU %u: KVM internal error (suberror %u)\n", v->index,
                run->internal.suberror);
        return -EIO;
    }
    fprintf(stderr, "pscivm: vCPU %u: unexpected KVM exit reason %u\n", v->index,
            run->exit_reason);
    return -EPROTO;
}

/* Carry out a start request on the vCPU's own thread (boot, CPU_ON, restart). */
static void vcpu_do_start(struct machine *m, struct vcpu_ctl *v)
{
    uint64_t entry = v->start_entry, context = v->start_context;
    bool cpu_on = v->start_is_cpu_on;
    v->start_pending = false;
    v->start_is_cpu_on = false;
    pthread_mutex_unlock(&m->lock);
    int err = kvm_vcpu_start_at(&m->vm, v->index, entry, context);
    pthread_mutex_lock(&m->lock);
    if (err) {
        if (cpu_on)
            psci_cpu_start_failed(&m->psci, v->index);
        v->state = VCPU_PARKED;
        return;
    }
    if (cpu_on)
        psci_cpu_started(&m->psci, v->index);
    v->state = VCPU_RUNNING;
    v->kmode_on = true;
}

static void *vcpu_thread(void *arg)
{
    struct vcpu_ctl *v = arg;
    struct machine *m = v->m;
    struct kvm_run *run = m->vm.vcpus[v->index].run;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    for (;;) {
        pthread_mutex_lock(&m->lock);
        for (;;) {
            pause_point_locked(m, v);
            if (m->stop || v->start_pending || v->state != VCPU_PARKED)
                break;
            pthread_cond_wait(&v->cond, &m->lock);
        }
        if (m->stop) {
            pthread_mutex_unlock(&m->lock);
            break;
        }
        if (v->start_pending)
            vcpu_do_start(m, v);
        bool parked = v->state == VCPU_PARKED;
        pthread_mutex_unlock(&m->lock);
        if (parked)
            continue;

        int err = 0;
        if (m->mode == PSCI_MODE_KERNEL && !v->kmode_on) {
            err = kmode_wait_power_on(m, v);
            if (err == -ESHUTDOWN)
                continue;
            if (err) {
                request_stop(m, false, PSCIVM_EXIT_ERROR, "host error");
                break;
            }
        }
        err = kvm_vcpu_run(&m->vm, v->index);
        if (err == -EINTR) {
            __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
            if (m->mode == PSCI_MODE_KERNEL && kmode_check_power_off(m, v) < 0) {
                request_stop(m, false, PSCIVM_EXIT_ERROR, "host error");
                break;
            }
            continue;
        }
        if (!err)
            err = handle_exit(m, v);
        if (err == -ESHUTDOWN)
            continue;
        if (err) {
            request_stop(m, false, PSCIVM_EXIT_ERROR, "host error");
            break;
        }
    }
    return NULL;
}

/* ---- machine build / reset / run --------------------------------------------------------------- */

static int load_payload(struct machine *m)
{
    int fd = open(m->opts.payload, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "pscivm: cannot open payload %s: %s\n", m->opts.payload, strerror(errno));
        return -errno;
    }
    struct stat st;
    int err = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "pscivm: payload %s is not a regular file\n", m->opts.payload);
        err = -EINVAL;
    } else if ((uint64_t)st.st_size > m->mem.size - DTB_AREA_SIZE) {
        fprintf(stderr, "pscivm: payload %s is %lld bytes, larger than the %llu bytes of RAM "
                "available below the device tree (--mem %llu)\n", m->opts.payload,
                (long long)st.st_size, (unsigned long long)(m->mem.size - DTB_AREA_SIZE),
                (unsigned long long)m->opts.mem_mib);
        err = -EFBIG;
    } else if (st.st_size == 0) {
        fprintf(stderr, "pscivm: payload %s is empty\n", m->opts.payload);
        err = -EINVAL;
    }
    if (!err) {
        m->payload_size = (size_t)st.st_size;
        m->payload = malloc(m->payload_size);
        if (!m->payload)
            err = -ENOMEM;
    }
    size_t off = 0;
    while (!err && off < m->payload_size) {
        ssize_t n = read(fd, m->payload + off, m->payload_size - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "pscivm: reading payload %s: %s\n", m->opts.payload,
                    n < 0 ? strerror(errno) : "unexpected end of file");
            err = -EIO;
        } else {
            off += (size_t)n;
        }
    }
    close(fd);
    return err;
}

/* Map a whole regular file (the initrd) read-only, at most `max` bytes; *out is NULL for an
 * empty file. Release with munmap(*out, *len). */
static int map_file(const char *what, const char *path, uint64_t max, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        fprintf(stderr, "pscivm: cannot open %s %s: %s\n", what, path, strerror(e));
        return -e;
    }
    struct stat st;
    int err = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "pscivm: %s %s is not a regular file\n", what, path);
        err = -EINVAL;
    } else if ((uint64_t)st.st_size > max) {
        fprintf(stderr, "pscivm: %s %s is %lld MiB, more than fits in guest RAM\n", what, path,
                (long long)(st.st_size >> 20));
        err = -EFBIG;
    }
    *out = NULL;
    *len = 0;
    if (!err && st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            err = -errno;
            fprintf(stderr, "pscivm: mapping %s %s: %s\n", what, path, strerror(-err));
        } else {
            *out = p;
            *len = (size_t)st.st_size;
        }
    }
    close(fd);
    return err;
}

/* --kernel: the Image (decompressed if needed), the initrd, and where they go. */
static int load_kernel(struct machine *m)
{
    char err[320];
    int rc = kernel_image_load(&m->kernel, m->opts.kernel, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "pscivm: %s\n", err);
        return rc;
    }
    if (m->opts.initrd) {
        rc = map_file("initrd", m->opts.initrd, m->mem.size, &m->initrd, &m->initrd_size);
        if (rc)
            return rc;
    }
    rc = boot_layout_plan(&m->layout, m->mem.base, m->mem.size, &m->kernel, m->initrd_size, err,
                          sizeof(err));
    if (rc) {
        fprintf(stderr, "pscivm: %s\n", err);
        return rc;
    }
    m->dtb_gpa = m->layout.dtb_addr;
    m->entry_gpa = m->layout.kernel_addr;
    return 0;
}

/* Copy a file image into guest RAM; when the source is a file mapping, drop each copied chunk
 * of it (it refaults from the page cache on the next reset), so the peak RSS does not hold
 * the kernel and initrd twice. */
static void copy_image(uint8_t *dst, const uint8_t *src, size_t len, bool src_mapped)
{
    const size_t chunk = 2u << 20;
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        memcpy(dst + off, src + off, n);
        if (src_mapped)
            madvise((void *)(src + off), n, MADV_DONTNEED);
    }
}

/* Guest RAM contents at power-on: zeroes, the payload at the start (or the kernel and initrd
 * where load_kernel() planned them), the DTB at the top. */
static int machine_load_images(struct machine *m)
{
    if (madvise(m->mem.host, m->mem.size, MADV_DONTNEED) < 0)
        memset(m->mem.host, 0, m->mem.size);
    if (m->opts.kernel) {
        copy_image(m->mem.host + (m->layout.kernel_addr - m->mem.base), m->kernel.data,
                   m->kernel.size, m->kernel.mapped != 0);
        if (m->initrd_size)
            copy_image(m->mem.host + (m->layout.initrd_addr - m->mem.base), m->initrd,
                       m->initrd_size, true);
    } else {
        memcpy(m->mem.host, m->payload, m->payload_size);
    }

    uint64_t mpidrs[MEMMAP_MAX_VCPUS];
    for (unsigned int i = 0; i < m->vm.nr_vcpus; i++)
        mpidrs[i] = m->vm.vcpus[i].mpidr;
    struct fdt_params p = {
        .ram_base = m->mem.base,
        .ram_size = m->mem.size,
        .nr_cpus = m->vm.nr_vcpus,
        .mpidrs = mpidrs,
        .psci_version = m->opts.psci_version,
        .bootargs = m->opts.cmdline,
        .reserve_base = m->dtb_gpa,
        .reserve_size = DTB_AREA_SIZE,
        .initrd_start = m->initrd_size ? m->layout.initrd_addr : 0,
        .initrd_end = m->initrd_size ? m->layout.initrd_addr + m->initrd_size : 0,
        .nr_virtio = m->nr_disks_ready,
    };
    char err[128];
    void *dtb = guest_mem_ptr(&m->mem, m->dtb_gpa, FDT_MAX_SIZE);
    int rc = dtb ? fdt_build(dtb, FDT_MAX_SIZE, &p, err, sizeof(err)) : -EINVAL;
    if (rc)
        fprintf(stderr, "pscivm: %s\n", dtb ? err : "no room for the device tree");
    return rc;
}

static int setup_psci_user(struct machine *m)
{
    if (!kvm_vm_has_smccc_filter(&m->vm)) {
        fprintf(stderr, "pscivm: --psci-mode user: SMCCC filter not available on this host "
                "(needs Linux >= 6.4; host kernel %s); use --psci-mode kernel\n",
                m->host_release);
        return -EOPNOTSUPP;
    }
    int err = kvm_vm_forward_smccc(&m->vm, 0x84000000, 0x20);
    if (!err)
        err = kvm_vm_forward_smccc(&m->vm, 0xC4000000, 0x20);
    return err;
}

static int setup_psci_kernel(struct machine *m)
{
    int err = kvm_vm_get_psci_version(&m->vm, &m->host_psci_max);
    if (err)
        return err;
    if (m->opts.psci_version > m->host_psci_max) {
        fprintf(stderr, "pscivm: --psci-mode kernel: this host's KVM offers PSCI up to %s "
                "(host kernel %s), --psci %s requested; use --psci-mode user or a lower "
                "--psci\n", psci_version_name((uint32_t)m->host_psci_max), m->host_release,
                psci_version_name(m->opts.psci_version));
        return -EOPNOTSUPP;
    }
    err = kvm_vm_set_psci_version(&m->vm, m->opts.psci_version);
    if (!err && m->opts.psci_version >= PSCI_VERSION_1_0)
        err = kvm_vm_enable_system_suspend(&m->vm);
    return err;
}

static int setup_psci_cores(struct machine *m)
{
    uint64_t mpidrs[MEMMAP_MAX_VCPUS];
    for (unsigned int i = 0; i < m->vm.nr_vcpus; i++)
        mpidrs[i] = m->vm.vcpus[i].mpidr;
    struct psci_ram_range ram = {.base = m->mem.base, .size = m->mem.size};
    struct psci_config cfg = {
        .version = m->opts.psci_version,
        .options = PSCI_OPT_ALL,
        .nr_vcpus = m->vm.nr_vcpus,
        .mpidrs = mpidrs,
        .boot_vcpu = 0,
        .ram = &ram,
        .nr_ram = 1,
        .clock_ns = clock_ns,
    };
    int err;
    if (m->mode == PSCI_MODE_USER) {
        err = psci_machine_init(&m->psci, &cfg);
        m->psci_ready = !err;
        /* CPU_ON policy: kept across psci_machine_reset, so it holds after a guest reset. */
        for (unsigned int i = 0; !err && i < m->opts.nr_deny_cpu_on; i++) {
            err = psci_vcpu_set_allowed(&m->psci, m->opts.deny_cpu_on[i], false);
            if (err)
                fprintf(stderr, "pscivm: --deny-cpu-on: vCPU %u: %s\n", m->opts.deny_cpu_on[i],
                        strerror(-err));
        }
    } else {
        cfg.nr_vcpus = 1;
        err = psci_machine_init(&m->scratch, &cfg);
        m->scratch_ready = !err;
    }
    if (err)
        fprintf(stderr, "pscivm: PSCI core initialisation: %s\n", strerror(-err));
    return err;
}

/* Guest RAM: anonymous memory whose host address is 2 MiB aligned like its guest address, and
 * advised for transparent huge pages, so KVM can map it with 2 MiB stage-2 blocks (fewer
 * stage-2 faults: measurably faster boots, most of all under nested virtualisation). NULL with
 * errno on failure; munmap(ram, size) releases it. */
static void *map_guest_ram(uint64_t size)
{
    const uint64_t align = 2ULL << 20;
    uint8_t *raw = mmap(NULL, size + align, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uint8_t *ram = (uint8_t *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    if (ram > raw)
        munmap(raw, (size_t)(ram - raw));
    if (ram + size < raw + size + align)
        munmap(ram + size, (size_t)((raw + size + align) - (ram + size)));
    madvise(ram, size, MADV_HUGEPAGE); /* advisory: fine to fail (THP off) */
    return ram;
}

/* One virtio-blk device per --disk, in virtio-mmio slot order (slot n: MEMMAP_VIRTIO_BASE +
 * n * stride, SPI 16 + n). The guest sees them as /dev/vda, vdb ... in --disk order. */
static int setup_disks(struct machine *m)
{
    if (!m->opts.nr_disks)
        return 0;
    m->disks = calloc(m->opts.nr_disks, sizeof(*m->disks));
    if (!m->disks)
        return -ENOMEM;
    for (unsigned int i = 0; i < m->opts.nr_disks; i++) {
        char *path;
        bool ro;
        char err[320], id[24];
        int rc = virtio_blk_parse_spec(m->opts.disks[i], &path, &ro, err, sizeof(err));
        if (rc) {
            fprintf(stderr, "pscivm: --%s\n", err);
            return rc;
        }
        snprintf(id, sizeof(id), "pscivm-disk%u", i);
        struct irq_line irq = {.set = uart_irq_set, .opaque = m,
                               .spi = MEMMAP_VIRTIO_SPI_BASE + i};
        rc = virtio_blk_init(&m->disks[i], path, ro, id, &m->mem, irq, err, sizeof(err));
        free(path);
        if (rc) {
            fprintf(stderr, "pscivm: %s\n", err);
            return rc;
        }
        m->nr_disks_ready = i + 1;
        uint64_t base = MEMMAP_VIRTIO_BASE + (uint64_t)i * MEMMAP_VIRTIO_STRIDE;
        rc = bus_register(&m->bus, base, VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops,
                          &m->disks[i].transport, "virtio-blk");
        if (rc) {
            fprintf(stderr, "pscivm: registering virtio-blk %u at 0x%llx: %s\n", i,
                    (unsigned long long)base, strerror(-rc));
            return rc;
        }
    }
    /* QueueNotify of queue 0 through an ioeventfd when the host offers it (the MMIO path
     * stays as the fallback: the bus still routes the register). */
    if (ioevent_init(&m->ioevents, m->vm.vm_fd) == 0) {
        m->ioevents_ready = true;
        for (unsigned int i = 0; i < m->nr_disks_ready; i++) {
            uint64_t notify = MEMMAP_VIRTIO_BASE + (uint64_t)i * MEMMAP_VIRTIO_STRIDE +
                              VIRTIO_MMIO_QUEUE_NOTIFY;
            if (ioevent_add(&m->ioevents, notify, 0, &m->disks[i].transport) < 0)
                break;
        }
        int rc = ioevent_start(&m->ioevents);
        if (rc) {
            fprintf(stderr, "pscivm: starting the virtio I/O thread: %s\n", strerror(-rc));
            return rc;
        }
    }
    return 0;
}

/* The one assembly order (KVM requires most of it, see vm.c):
 *  1. payload file read (fail early, before touching KVM)
 *  2. VM, guest RAM (anonymous mapping) and its memory slot
 *  3. vCPUs (KVM_ARM_VCPU_INIT, MPIDRs read back)
 *  4. vGICv3 (addresses, NR_IRQS), then its CTRL_INIT now that every vCPU exists
 *  5. PSCI: mode resolution; SMCCC filter (user) or PSCI version + SYSTEM_SUSPEND cap
 *     (kernel) — all before the first KVM_RUN
 *  6. PSCI core(s)
 *  7. devices on the bus (UART, then one virtio-blk per --disk in virtio-mmio slots 0..)
 *  8. images into RAM (payload or kernel + initrd, device tree) — redone on every reset */
static int machine_build(struct machine *m)
{
    m->mem.base = MEMMAP_RAM_BASE;
    m->mem.size = m->opts.mem_mib << 20;
    m->dtb_gpa = m->mem.base + m->mem.size - DTB_AREA_SIZE;
    m->entry_gpa = m->mem.base;
    int err = m->opts.kernel ? load_kernel(m) : load_payload(m);
    if (err)
        return err;

    err = kvm_vm_init(&m->vm);
    if (err)
        return err;
    void *ram = map_guest_ram(m->mem.size);
    if (!ram) {
        fprintf(stderr, "pscivm: mapping %llu MiB of guest RAM: %s\n",
                (unsigned long long)m->opts.mem_mib, strerror(errno));
        return -ENOMEM;
    }
    m->mem.host = ram;
    err = kvm_vm_set_memory(&m->vm, m->mem.base, m->mem.size, ram);
    if (!err)
        err = kvm_vm_create_vcpus(&m->vm, m->opts.cpus);
    if (!err)
        err = kvm_vm_create_gic(&m->vm, GIC_NR_IRQS);
    if (!err)
        err = kvm_vm_init_gic(&m->vm);
    if (err)
        return err;
    kvm_vm_enable_nisv_to_user(&m->vm); /* optional: without it such accesses fail KVM_RUN */

    bool has_filter = kvm_vm_has_smccc_filter(&m->vm);
    m->mode = m->opts.mode == PSCI_MODE_AUTO ? (has_filter ? PSCI_MODE_USER : PSCI_MODE_KERNEL)
                                             : m->opts.mode;
    if (m->mode == PSCI_MODE_KERNEL && m->opts.nr_deny_cpu_on) {
        /* --psci-mode kernel with --deny-cpu-on is refused by the parser; this is auto. */
        fprintf(stderr, "pscivm: --deny-cpu-on needs user mode: KVM's in-kernel PSCI answers "
                "CPU_ON itself, and --psci-mode auto chose kernel mode (no SMCCC filter on "
                "host kernel %s, needs Linux >= 6.4)\n", m->host_release);
        return -EOPNOTSUPP;
    }
    err = m->mode == PSCI_MODE_USER ? setup_psci_user(m) : setup_psci_kernel(m);
    if (!err)
        err = setup_psci_cores(m);
    if (err)
        return err;
    for (unsigned int i = 0; i < m->vm.nr_vcpus; i++) {
        m->vcpus[i].hvc_stat.fd = -1;
        if (m->mode == PSCI_MODE_KERNEL &&
            vcpu_stat_open(&m->vcpus[i].hvc_stat, m->vm.vcpus[i].fd, "hvc_exit_stat") < 0 &&
            i == 0)
            fprintf(stderr, "pscivm: no KVM binary stats on this host: kernel-mode cpu_off "
                    "events use periodic vCPU kicks (slower)\n");
        if (m->mode == PSCI_MODE_KERNEL && m->vcpus[i].hvc_stat.fd >= 0)
            vcpu_stat_open(&m->vcpus[i].blocking_stat, m->vm.vcpus[i].fd, "blocking");
    }

    struct irq_line irq = {.set = uart_irq_set, .opaque = m, .spi = MEMMAP_UART_SPI};
    err = uart16550_init(&m->uart, &irq, console_tx, m);
    if (err)
        return err;
    m->uart_ready = true;
    err = bus_register(&m->bus, MEMMAP_UART_BASE, MEMMAP_UART_SIZE, &uart16550_ops, &m->uart,
                       "uart");
    if (err) {
        fprintf(stderr, "pscivm: registering the UART at 0x%llx: %s\n",
                (unsigned long long)MEMMAP_UART_BASE, strerror(-err));
        return err;
    }
    return setup_disks(m);
}

/* Power-on / reset state of everything but RAM contents. */
static int machine_reset(struct machine *m, bool first)
{
    if (!first) {
        for (unsigned int i = 0; i < m->vm.nr_vcpus; i++) {
            int err = kvm_vcpu_reset(&m->vm, i, i != 0);
            if (err)
                return err;
        }
        if (m->psci_ready)
            psci_machine_reset(&m->psci);
        uart16550_reset(&m->uart);
        for (unsigned int i = 0; i < m->nr_disks_ready; i++)
            virtio_mmio_reset(&m->disks[i].transport);
    }
    int err = machine_load_images(m);
    if (err)
        return err;
    m->stop = m->stop_restart = false;
    m->pause_owner = -1;
    m->paused = 0;
    for (unsigned int i = 0; i < m->vm.nr_vcpus; i++) {
        struct vcpu_ctl *v = &m->vcpus[i];
        /* Kernel mode: every thread runs KVM_RUN; KVM keeps secondaries STOPPED. */
        v->state = (m->mode == PSCI_MODE_KERNEL && i != 0) ? VCPU_RUNNING : VCPU_PARKED;
        v->start_pending = i == 0;
        v->start_is_cpu_on = false;
        v->start_entry = m->entry_gpa;
        v->start_context = m->dtb_gpa;
        v->kmode_on = false;
        __atomic_store_n(&m->vm.vcpus[i].run->immediate_exit, 0, __ATOMIC_SEQ_CST);
    }
    return 0;
}

static int start_threads(struct machine *m)
{
    for (unsigned int i = 0; i < m->vm.nr_vcpus; i++) {
        struct vcpu_ctl *v = &m->vcpus[i];
        int err = pthread_create(&v->thread, NULL, vcpu_thread, v);
        if (err) {
            fprintf(stderr, "pscivm: creating the thread of vCPU %u: %s\n", i, strerror(err));
            request_stop(m, false, PSCIVM_EXIT_ERROR, "host error");
            return -err;
        }
        pthread_mutex_lock(&m->lock);
        v->thread_live = true;
        /* A stop requested before thread_live was set could not signal this thread. */
        if (m->stop)
            kick_vcpu(v);
        pthread_mutex_unlock(&m->lock);
    }
    return 0;
}

static void join_threads(struct machine *m)
{
    for (unsigned int i = 0; i < m->vm.nr_vcpus; i++) {
        struct vcpu_ctl *v = &m->vcpus[i];
        if (!v->thread_live)
            continue;
        pthread_join(v->thread, NULL);
        pthread_mutex_lock(&m->lock);
        v->thread_live = false;
        pthread_mutex_unlock(&m->lock);
    }
}

/* ---- signals and console input ---------------------------------------------------------------- */

static void sigusr1_handler(int sig)
{
    (void)sig; /* only interrupts KVM_RUN */
}

static void *signal_thread(void *arg)
{
    struct machine *m = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig;
    if (sigwait(&set, &sig) == 0)
        request_stop(m, false, PSCIVM_EXIT_SIGNAL, sig == SIGINT ? "SIGINT" : "SIGTERM");
    return NULL;
}

/* Console input (console.c's reader thread) goes to the UART's receive FIFO. */
static size_t console_rx(void *opaque, const uint8_t *buf, size_t n)
{
    struct machine *m = opaque;
    return uart16550_receive(&m->uart, buf, n);
}

static void console_quit(void *opaque)
{
    struct machine *m = opaque;
    request_stop(m, false, PSCIVM_EXIT_SIGNAL, "console escape (Ctrl-A x)");
}

/* --console: where UART output goes, and (stdio) the raw terminal + input thread. */
static int console_open(struct machine *m)
{
    switch (m->opts.console) {
    case CONSOLE_NONE:
        m->console_fd = -1;
        return 0;
    case CONSOLE_FILE:
        m->console_fd = open(m->opts.console_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (m->console_fd < 0) {
            int e = errno;
            fprintf(stderr, "pscivm: --console %s: cannot open: %s\n", m->opts.console_path,
                    strerror(e));
            return -e;
        }
        return 0;
    case CONSOLE_STDIO:
        break;
    }
    m->console_fd = STDOUT_FILENO;
    char err[160];
    int rc = console_init(&m->console, STDIN_FILENO, STDERR_FILENO, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "pscivm: %s\n", err);
        return rc;
    }
    m->console_ready = true;
    return 0;
}

static int console_start_input(struct machine *m)
{
    if (!m->console_ready)
        return 0;
    struct console_sink sink = {.rx = console_rx, .quit = console_quit, .opaque = m};
    char err[160];
    int rc = console_start(&m->console, &sink, err, sizeof(err));
    if (rc)
        fprintf(stderr, "pscivm: %s\n", err);
    return rc;
}

/* ---- top level -------------------------------------------------------------------------------- */

static void machine_release(struct machine *m)
{
    if (m->console_ready) { /* first: its reader thread feeds the UART */
        console_release(&m->console);
        m->console_ready = false;
    }
    if (m->ioevents_ready) { /* before the devices its thread drives, while the VM exists */
        ioevent_release(&m->ioevents);
        m->ioevents_ready = false;
    }
    if (m->vcpus) {
        for (unsigned int i = 0; i < m->opts.cpus; i++) {
            pthread_cond_destroy(&m->vcpus[i].cond);
            vcpu_stat_close(&m->vcpus[i].hvc_stat);
            vcpu_stat_close(&m->vcpus[i].blocking_stat);
        }
        free(m->vcpus);
    }
    kvm_vm_release(&m->vm);
    if (m->mem.host)
        munmap(m->mem.host, m->mem.size);
    if (m->psci_ready)
        psci_machine_release(&m->psci);
    if (m->scratch_ready)
        psci_machine_release(&m->scratch);
    bus_release(&m->bus);
    if (m->uart_ready) {
        console_flush_locked(m);
        uart16550_release(&m->uart);
    }
    if (m->events_ready)
        events_release(&m->events);
    for (unsigned int i = 0; i < m->nr_disks_ready; i++)
        virtio_blk_release(&m->disks[i]);
    free(m->disks);
    if (m->opts.console == CONSOLE_FILE && m->console_fd >= 0)
        close(m->console_fd);
    kernel_image_release(&m->kernel);
    if (m->initrd)
        munmap(m->initrd, m->initrd_size);
    free(m->payload);
    pthread_cond_destroy(&m->pause_cond);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
}

static void emit_vm_start(struct machine *m)
{
    struct json_object *f = fields_new();
    field_str(f, "mode", psci_mode_name(m->mode));
    field_str(f, "psci", psci_version_name(m->opts.psci_version));
    field_str(f, "host_kernel", m->host_release);
    field_int(f, "cpus", m->vm.nr_vcpus);
    field_int(f, "mem_mib", (int64_t)m->opts.mem_mib);
    emit(m, "vm_start", -1, f);
}

/* Wait for the end of one boot (stop request or timeout). In kernel mode, also kick the
 * running vCPUs every KMODE_KICK_NS (see kmode_check_power_off). */
static void wait_for_stop(struct machine *m, const struct timespec *deadline)
{
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        int rc;
        if (m->mode == PSCI_MODE_KERNEL) {
            struct timespec tick;
            clock_gettime(CLOCK_MONOTONIC, &tick);
            timespec_add_ns(&tick, KMODE_WATCH_NS);
            bool deadline_first = deadline && (deadline->tv_sec < tick.tv_sec ||
                                               (deadline->tv_sec == tick.tv_sec &&
                                                deadline->tv_nsec <= tick.tv_nsec));
            rc = pthread_cond_timedwait(&m->cond, &m->lock, deadline_first ? deadline : &tick);
            if (rc == ETIMEDOUT && !deadline_first) {
                if (!m->stop)
                    kmode_watch_locked(m, events_monotonic_ns());
                continue;
            }
        } else {
            rc = deadline ? pthread_cond_timedwait(&m->cond, &m->lock, deadline)
                          : pthread_cond_wait(&m->cond, &m->lock);
        }
        if (rc == ETIMEDOUT && !m->stop) {
            fprintf(stderr, "pscivm: --timeout %u s expired, stopping the guest\n",
                    m->opts.timeout_s);
            request_stop_locked(m, false, PSCIVM_EXIT_TIMEOUT, "timeout");
        }
    }
    pthread_mutex_unlock(&m->lock);
}

static int machine_init_sync(struct machine *m)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int err = pthread_mutex_init(&m->lock, NULL);
    if (!err)
        err = pthread_cond_init(&m->cond, &ca);
    if (!err)
        err = pthread_cond_init(&m->pause_cond, NULL);
    pthread_condattr_destroy(&ca);
    m->vcpus = calloc(m->opts.cpus, sizeof(*m->vcpus));
    if (!m->vcpus)
        return -ENOMEM;
    for (unsigned int i = 0; i < m->opts.cpus && !err; i++) {
        m->vcpus[i].m = m;
        m->vcpus[i].index = i;
        m->vcpus[i].hvc_stat.fd = -1;
        m->vcpus[i].blocking_stat.fd = -1;
        err = pthread_cond_init(&m->vcpus[i].cond, NULL);
    }
    return -err;
}

int machine_run_options(const struct run_options *opts)
{
    struct machine *m = calloc(1, sizeof(*m));
    if (!m) {
        fprintf(stderr, "pscivm: out of memory\n");
        return PSCIVM_EXIT_ERROR;
    }
    m->opts = *opts;
    m->pause_owner = -1;
    m->console_fd = STDOUT_FILENO;
    bus_init(&m->bus);
    struct utsname u;
    snprintf(m->host_release, sizeof(m->host_release), "%s",
             uname(&u) == 0 ? u.release : "unknown");

    /* Signals: SIGINT/SIGTERM go to the signal thread only; SIGUSR1 interrupts KVM_RUN in vCPU
     * threads (which unblock it). Blocked here so every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct sigaction sa = {.sa_handler = sigusr1_handler};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);

    int status = PSCIVM_EXIT_ERROR;
    int err = machine_init_sync(m);
    if (err) {
        fprintf(stderr, "pscivm: initialising: %s\n", strerror(-err));
        goto out;
    }
    err = events_init(&m->events, opts->events);
    if (err) {
        fprintf(stderr, "pscivm: cannot open --events %s: %s\n", opts->events, strerror(-err));
        goto out;
    }
    m->events_ready = true;
    m->console_line_buffered = events_on_stdout(&m->events);
    err = machine_build(m);
    if (!err)
        err = console_open(m);
    if (err)
        goto out;

    fprintf(stderr, "pscivm: PSCI %s, %s mode (%s), host kernel %s, %u vCPU(s), %llu MiB\n",
            psci_version_name(opts->psci_version), psci_mode_name(m->mode),
            m->mode == PSCI_MODE_USER ? "pscivm answers PSCI via the SMCCC filter"
                                      : "KVM's in-kernel PSCI",
            m->host_release, m->vm.nr_vcpus, (unsigned long long)opts->mem_mib);
    emit_vm_start(m);

    pthread_t tid;
    if (pthread_create(&tid, NULL, signal_thread, m) == 0)
        pthread_detach(tid);
    if (console_start_input(m))
        goto out;

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += opts->timeout_s;
    for (bool first = true;; first = false) {
        err = machine_reset(m, first);
        if (err) {
            m->exit_status = PSCIVM_EXIT_ERROR;
            snprintf(m->exit_reason, sizeof(m->exit_reason), "host error");
            break;
        }
        start_threads(m);
        wait_for_stop(m, opts->timeout_s ? &deadline : NULL);
        join_threads(m);
        if (!m->stop_restart)
            break;
        fprintf(stderr, "pscivm: guest requested a reset, restarting\n");
    }
    status = m->exit_status;
    pthread_mutex_lock(&m->uart.lock);
    console_flush_locked(m);
    pthread_mutex_unlock(&m->uart.lock);
    struct json_object *f = fields_new();
    field_int(f, "status", status);
    field_str(f, "reason", m->exit_reason);
    emit(m, "vm_exit", -1, f);
out:
    machine_release(m);
    free(m);
    return status;
}
