/* machine.c — the machine's lifecycle (drawn in machine.h) and its invariant check, stop
 * requests, host-error reporting, and the control operations (control.h) the QMP server calls:
 * pause/continue with frozen guest time, reset, power button, wake-up, quit, queries, vCPU
 * plug/unplug. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "machine/machine.h"
#include "machine/snapshot.h"
#include "vmm/exit_status.h"
#include "vmm/memmap.h"

const char *machine_state_name(enum machine_state s)
{
    switch (s) {
    case MACHINE_CREATED: return "created";
    case MACHINE_RUNNING: return "running";
    case MACHINE_PAUSED: return "paused";
    case MACHINE_STOPPED: return "stopped";
    }
    return "?";
}

int machine_check_locked(const struct machine *m, const char **why)
{
    if (m->pause_holder != PAUSE_NOBODY && m->pause_holder != PAUSE_CONTROL &&
        (m->pause_holder < 0 || m->pause_holder >= (int)m->hv.nr_vcpus)) {
        *why = "pause holder out of range";
        return -EUCLEAN;
    }
    if (m->state == MACHINE_PAUSED && m->pause_holder != PAUSE_CONTROL) {
        *why = "PAUSED without the control pause";
        return -EUCLEAN;
    }
    if (m->state == MACHINE_STOPPED && !m->stop) {
        *why = "STOPPED without a stop request";
        return -EUCLEAN;
    }
    if (m->paused > m->hv.nr_vcpus) {
        *why = "more paused vCPU threads than vCPUs";
        return -EUCLEAN;
    }
    if (m->mode != PSCI_MODE_USER || !m->psci_ready)
        return 0;
    /* The PSCI core's own state-machine invariant (psci_machine_check), so production checks
     * it after every user-mode PSCI call too, not only the unit tests (issue 12). */
    if (psci_machine_check(&m->psci, why))
        return -EUCLEAN;
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
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

void machine_request_stop_locked(struct machine *m, bool restart, int status, const char *reason)
{
    /* The first request wins, except that an end (timeout, quit, signal, guest off) overrides
     * a restart still in progress: otherwise a --timeout that fires during a guest reset is
     * consumed and lost, and a guest that keeps resetting runs forever. */
    if (m->stop && (!m->stop_restart || restart))
        return;
    m->stop = true;
    m->stop_restart = restart;
    m->exit_status = status;
    snprintf(m->exit_reason, sizeof(m->exit_reason), "%s", reason);
    if (!restart)
        m->state = MACHINE_STOPPED;
    pthread_cond_broadcast(&m->cond);
    pthread_cond_broadcast(&m->pause_cond);
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
        pthread_cond_signal(&m->vcpus[i].cond);
        vcpu_kick(&m->vcpus[i]);
    }
    if (m->loop_ready)
        loop_wake(&m->loop);
}

void machine_request_stop(struct machine *m, bool restart, int status, const char *reason)
{
    pthread_mutex_lock(&m->lock);
    machine_request_stop_locked(m, restart, status, reason);
    pthread_mutex_unlock(&m->lock);
}

void machine_assert_invariants_locked(struct machine *m)
{
    const char *why = NULL;
    if (machine_check_locked(m, &why)) {
        fprintf(stderr, "pscivm: internal error: %s\n", why);
        machine_request_stop_locked(m, false, PSCIVM_EXIT_ERROR, "internal error");
    }
}

void machine_fail(struct machine *m, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "pscivm: %s\n", msg);
    machine_request_stop(m, false, PSCIVM_EXIT_ERROR, "host error");
}

/* ---- control operations (main-loop thread) ------------------------------------------------ */

static enum vm_run_status ctl_status(void *opaque)
{
    struct machine *m = opaque;
    pthread_mutex_lock(&m->lock);
    enum vm_run_status s = m->state == MACHINE_STOPPED ? VM_STATUS_SHUTDOWN
                         : m->state == MACHINE_PAUSED  ? VM_STATUS_PAUSED
                         : m->guest_suspended          ? VM_STATUS_SUSPENDED
                                                       : VM_STATUS_RUNNING;
    pthread_mutex_unlock(&m->lock);
    return s;
}

/* Guest time stands still while PAUSED: the virtual counter read at the pause is written back
 * at the resume (KVM applies it as the VM's counter offset), as QEMU does for `stop`. */
void machine_counter_freeze_locked(struct machine *m)
{
    m->counter_saved = m->hv.ops->get_reg(m->hv.opaque, 0, HV_REG_CNTVCT,
                                          &m->counter_at_pause) == 0;
}

void machine_counter_thaw_locked(struct machine *m)
{
    if (!m->counter_saved)
        return;
    m->counter_saved = false;
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++)
        if (m->hv.ops->set_reg(m->hv.opaque, i, HV_REG_CNTVCT, m->counter_at_pause))
            break;
}

int machine_pause_locked(struct machine *m)
{
    if (m->state == MACHINE_PAUSED)
        return 0;
    if (m->state != MACHINE_RUNNING)
        return -ESHUTDOWN;
    int rc = vcpus_pause_locked(m, PAUSE_CONTROL);
    if (rc == 0) {
        m->state = MACHINE_PAUSED;
        machine_counter_freeze_locked(m);
    }
    return rc;
}

static int ctl_stop(void *opaque, char *err, size_t errlen)
{
    struct machine *m = opaque;
    pthread_mutex_lock(&m->lock);
    int rc = machine_pause_locked(m);
    bool emit = rc == 0 && m->state == MACHINE_PAUSED;
    pthread_mutex_unlock(&m->lock);
    if (rc) {
        snprintf(err, errlen, "the machine is shutting down");
        return rc;
    }
    if (emit)
        machine_emit_qmp(m, "STOP", NULL);
    return 0;
}

static int ctl_cont(void *opaque, char *err, size_t errlen)
{
    struct machine *m = opaque;
    pthread_mutex_lock(&m->lock);
    bool resumed = false;
    if (m->state == MACHINE_PAUSED) {
        machine_counter_thaw_locked(m);
        m->state = MACHINE_RUNNING;
        vcpus_resume_locked(m);
        resumed = true;
    }
    bool stopped = m->state == MACHINE_STOPPED;
    pthread_mutex_unlock(&m->lock);
    if (stopped) {
        snprintf(err, errlen, "the machine is shutting down");
        return -ESHUTDOWN;
    }
    if (resumed)
        machine_emit_qmp(m, "RESUME", NULL);
    return 0;
}

static int ctl_system_reset(void *opaque, char *err, size_t errlen)
{
    struct machine *m = opaque;
    pthread_mutex_lock(&m->lock);
    bool ok = !m->stop;
    if (ok) {
        m->restart_paused = m->state == MACHINE_PAUSED;
        machine_request_stop_locked(m, true, PSCIVM_EXIT_RESET, "host-qmp-system-reset");
    }
    pthread_mutex_unlock(&m->lock);
    if (!ok) {
        snprintf(err, errlen, "the machine is shutting down");
        return -ESHUTDOWN;
    }
    struct json_object *d = fields_new();
    field_bool(d, "guest", false);
    field_str(d, "reason", "host-qmp-system-reset");
    machine_emit_qmp(m, "RESET", d);
    return 0;
}

static int ctl_system_powerdown(void *opaque, char *err, size_t errlen)
{
    struct machine *m = opaque;
    int rc = board_press_key(m, BOARD_KEY_POWER, err, errlen);
    if (rc == 0)
        machine_emit_qmp(m, "POWERDOWN", NULL);
    return rc;
}

static int ctl_system_wakeup(void *opaque, char *err, size_t errlen)
{
    struct machine *m = opaque;
    pthread_mutex_lock(&m->lock);
    bool suspended = m->guest_suspended && !m->stop;
    if (suspended) {
        m->wakeup_requested = true;
        m->wake_ns = events_monotonic_ns();
        vcpu_kick(&m->vcpus[m->suspended_vcpu]);
    }
    pthread_mutex_unlock(&m->lock);
    if (!suspended) {
        snprintf(err, errlen, "Unable to wake up: guest is not in suspended state");
        return -EINVAL;
    }
    return 0;
}

static int ctl_quit(void *opaque, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct machine *m = opaque;
    machine_request_stop(m, false, PSCIVM_EXIT_SIGNAL, "host-qmp-quit");
    return 0;
}

static const char *psci_state_name(enum psci_cpu_state s)
{
    switch (s) {
    case PSCI_CPU_OFF: return "off";
    case PSCI_CPU_ON_PENDING: return "on-pending";
    case PSCI_CPU_ON: return "on";
    case PSCI_CPU_SUSPENDED: return "suspended";
    }
    return "?";
}

/* The PSCI view of vCPU i (user mode: the core; kernel mode: what pscivm observed). */
static void vcpu_psci_view_locked(struct machine *m, unsigned int i, const char **state,
                                  bool *plugged)
{
    struct psci_vcpu_info info;
    if (m->mode == PSCI_MODE_USER && psci_vcpu_get_info(&m->psci, i, &info) == 0) {
        *state = psci_state_name(info.state);
        *plugged = info.allowed;
    } else {
        *state = m->vcpus[i].kmode_on ? "on" : "off";
        *plugged = true;
    }
}

static int ctl_query_cpus(void *opaque, struct json_object **out, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct machine *m = opaque;
    struct json_object *arr = json_object_new_array();
    pthread_mutex_lock(&m->lock);
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
        const char *state;
        bool plugged;
        vcpu_psci_view_locked(m, i, &state, &plugged);
        char path[48];
        snprintf(path, sizeof(path), "/machine/unattached/device[%u]", i);
        struct json_object *c = json_object_new_object();
        field_int(c, "cpu-index", i);
        field_str(c, "qom-path", path);
        field_int(c, "thread-id", 0);
        field_str(c, "target", "aarch64");
        struct json_object *props = json_object_new_object();
        field_int(props, "core-id", i);
        json_object_object_add(c, "props", props);
        field_str(c, "psci-state", state);
        field_bool(c, "plugged", plugged);
        json_object_array_add(arr, c);
    }
    pthread_mutex_unlock(&m->lock);
    *out = arr;
    return 0;
}

static int ctl_query_psci(void *opaque, struct json_object **out, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct machine *m = opaque;
    struct json_object *o = json_object_new_object();
    field_str(o, "version", psci_version_name(m->opts.psci_version));
    field_str(o, "mode", psci_mode_name(m->mode));
    struct json_object *arr = json_object_new_array();
    pthread_mutex_lock(&m->lock);
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
        const char *state;
        bool plugged;
        vcpu_psci_view_locked(m, i, &state, &plugged);
        struct json_object *c = json_object_new_object();
        field_int(c, "cpu-index", i);
        field_hex(c, "mpidr", m->hv.mpidrs[i]);
        field_str(c, "state", state);
        field_bool(c, "plugged", plugged);
        field_str(c, "cpu-on", plugged ? "allowed" : "denied");
        json_object_array_add(arr, c);
    }
    pthread_mutex_unlock(&m->lock);
    json_object_object_add(o, "cpus", arr);
    *out = o;
    return 0;
}

/* cpu-plug / cpu-unplug: allow or refuse CPU_ON of one vCPU (user mode: the core's policy). */
static int ctl_cpu_plug_common(struct machine *m, unsigned int id, bool plug, char *err,
                               size_t errlen)
{
    if (m->mode != PSCI_MODE_USER) {
        snprintf(err, errlen, "vCPU hot-plug needs PSCI user mode: in kernel mode KVM answers "
                 "CPU_ON itself");
        return -EOPNOTSUPP;
    }
    if (id >= m->hv.nr_vcpus) {
        snprintf(err, errlen, "no vCPU %u: this machine has vCPUs 0..%u (--max-cpus)", id,
                 m->hv.nr_vcpus - 1);
        return -ENODEV;
    }
    if (id == 0) {
        snprintf(err, errlen, "vCPU 0 is the boot vCPU: it cannot be %s",
                 plug ? "plugged" : "unplugged");
        return -EINVAL;
    }
    pthread_mutex_lock(&m->lock);
    struct psci_vcpu_info info;
    int rc = psci_vcpu_get_info(&m->psci, id, &info);
    if (rc == 0 && info.allowed == plug) {
        snprintf(err, errlen, "vCPU %u is already %s", id, plug ? "plugged" : "unplugged");
        rc = -EALREADY;
    } else if (rc == 0 && !plug && info.state != PSCI_CPU_OFF) {
        snprintf(err, errlen, "vCPU %u is online (PSCI state %s): offline it in the guest "
                 "first (echo 0 > /sys/devices/system/cpu/cpu%u/online)", id,
                 psci_state_name(info.state), id);
        rc = -EBUSY;
    } else if (rc == 0) {
        rc = psci_vcpu_set_allowed(&m->psci, id, plug);
        if (rc)
            snprintf(err, errlen, "vCPU %u: %s", id, strerror(-rc));
    } else {
        snprintf(err, errlen, "vCPU %u: %s", id, strerror(-rc));
    }
    pthread_mutex_unlock(&m->lock);
    if (rc == 0) {
        struct json_object *f = fields_new();
        field_int(f, "target", id);
        field_hex(f, "target_mpidr", m->hv.mpidrs[id]);
        machine_emit(m, plug ? "cpu_plug" : "cpu_unplug", -1, f);
    }
    return rc;
}

static int ctl_cpu_plug(void *opaque, unsigned int id, char *err, size_t errlen)
{
    return ctl_cpu_plug_common(opaque, id, true, err, errlen);
}

static int ctl_cpu_unplug(void *opaque, unsigned int id, char *err, size_t errlen)
{
    return ctl_cpu_plug_common(opaque, id, false, err, errlen);
}

static int ctl_snapshot_save(void *opaque, const char *file, const struct vm_snapshot_opts *o,
                             struct json_object **out, char *err, size_t errlen)
{
    return machine_ctl_snapshot_save(opaque, file, o, out, err, errlen);
}

static const struct vm_control_ops machine_control_ops = {
    .status = ctl_status,
    .stop = ctl_stop,
    .cont = ctl_cont,
    .system_reset = ctl_system_reset,
    .system_powerdown = ctl_system_powerdown,
    .system_wakeup = ctl_system_wakeup,
    .quit = ctl_quit,
    .query_cpus = ctl_query_cpus,
    .query_psci = ctl_query_psci,
    .cpu_plug = ctl_cpu_plug,
    .cpu_unplug = ctl_cpu_unplug,
    .snapshot_save = ctl_snapshot_save,
};

struct vm_control machine_control(struct machine *m)
{
    return (struct vm_control){.ops = &machine_control_ops, .opaque = m};
}

/* ---- creation and teardown (host.c calls these around the backend's build) ---------------- */

static void sigusr1_handler(int sig)
{
    (void)sig; /* only interrupts vcpu_run */
}

int machine_init(struct machine *m, const struct run_options *opts, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    m->opts = *opts;
    m->pause_holder = PAUSE_NOBODY;
    m->console_fd = STDOUT_FILENO;
    m->signal_fd = m->timeout_fd = m->tick_fd = m->rtc_timer_fd = m->suspend_save_fd = -1;
    m->wake_spi = BOARD_NO_SPI;
    bus_init(&m->bus);
    m->mem.base = MEMMAP_RAM_BASE;
    m->mem.size = opts->mem_mib << 20;

    /* Signals: SIGINT/SIGTERM are read from a signalfd by the main loop; SIGUSR1 interrupts
     * vcpu_run in vCPU threads (which unblock it). Blocked here so every thread inherits the
     * mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct sigaction sa = {.sa_handler = sigusr1_handler};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_mutex_init(&m->lock, NULL);
    if (!rc)
        rc = pthread_mutex_init(&m->console_lock, NULL);
    if (!rc)
        rc = pthread_cond_init(&m->cond, &ca);
    if (!rc)
        rc = pthread_cond_init(&m->pause_cond, NULL);
    pthread_condattr_destroy(&ca);
    if (rc) {
        snprintf(err, errlen, "initialising locks: %s", strerror(rc));
        return -rc;
    }
    m->sync_ready = true;
    rc = events_init(&m->events, opts->events);
    if (rc) {
        snprintf(err, errlen, "cannot open --events %s: %s", opts->events, strerror(-rc));
        return rc;
    }
    m->events_ready = true;
    m->console_line_buffered = events_on_stdout(&m->events);
    return 0;
}

/* Once the backend knows the vCPUs (hv.nr_vcpus): their control blocks. */
int machine_init_vcpus(struct machine *m, char *err, size_t errlen)
{
    m->vcpus = calloc(m->hv.nr_vcpus, sizeof(*m->vcpus));
    if (!m->vcpus) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
        m->vcpus[i].m = m;
        m->vcpus[i].index = i;
        int rc = pthread_cond_init(&m->vcpus[i].cond, NULL);
        if (rc) {
            snprintf(err, errlen, "initialising vCPU %u: %s", i, strerror(rc));
            return -rc;
        }
        m->nr_vcpu_ctl = i + 1;
    }
    return 0;
}

/* Everything but the backend (host.c releases that first: its I/O thread drives devices). */
void machine_release(struct machine *m)
{
    board_release(m);
    for (unsigned int i = 0; i < m->nr_vcpu_ctl; i++)
        pthread_cond_destroy(&m->vcpus[i].cond);
    free(m->vcpus);
    m->vcpus = NULL;
    if (m->psci_ready)
        psci_machine_release(&m->psci);
    if (m->scratch_ready)
        psci_machine_release(&m->scratch);
    m->psci_ready = m->scratch_ready = false;
    bus_release(&m->bus);
    if (m->events_ready)
        events_release(&m->events);
    m->events_ready = false;
    boot_release(m);
    if (m->sync_ready) {
        pthread_cond_destroy(&m->pause_cond);
        pthread_cond_destroy(&m->cond);
        pthread_mutex_destroy(&m->console_lock);
        pthread_mutex_destroy(&m->lock);
    }
    m->sync_ready = false;
}
