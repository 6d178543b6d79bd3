/* run.c — the main loop of one machine: an epoll loop (util/loop.h) on the main thread serving
 * SIGINT/SIGTERM (signalfd), --timeout (timerfd), the kernel-mode observation tick (timerfd),
 * the RTC alarm (timerfd), the save of a suspended guest (timerfd, --on-suspend save),
 * the QMP control socket and its clients, and wake-ups from vCPU threads (stop requests). Each
 * boot: reset, start the vCPU threads, serve the loop until a stop request, join; a reset
 * request restarts in-process. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "machine/machine.h"
#include "machine/snapshot.h"
#include "machine/seccomp_filter.h"
#include "vmm/sanitizer.h"
#include "qmp/server.h"
#include "vmm/exit_status.h"
#include "vmm/policy.h"
#include "vmm/vmdir.h"

#define KMODE_WATCH_NS (1 * 1000 * 1000)

static void on_signal(void *opaque, int fd, uint32_t events)
{
    (void)events;
    struct machine *m = opaque;
    struct signalfd_siginfo si;
    if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
        return;
    machine_request_stop(m, false, PSCIVM_EXIT_SIGNAL, si.ssi_signo == SIGINT ? "SIGINT"
                                                                             : "SIGTERM");
}

static void on_timeout(void *opaque, int fd, uint32_t events)
{
    (void)events;
    struct machine *m = opaque;
    uint64_t n;
    if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
        return;
    pthread_mutex_lock(&m->lock);
    /* A pending restart does not absorb the timeout (the timerfd fires once). */
    if (!m->stop || m->stop_restart) {
        fprintf(stderr, "pscivm: --timeout %u s expired, stopping the guest\n",
                m->opts.timeout_s);
        machine_request_stop_locked(m, false, PSCIVM_EXIT_TIMEOUT, "timeout");
    }
    pthread_mutex_unlock(&m->lock);
}

static void on_tick(void *opaque, int fd, uint32_t events)
{
    (void)events;
    struct machine *m = opaque;
    uint64_t n;
    if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
        return;
    pthread_mutex_lock(&m->lock);
    if (!m->stop && m->state == MACHINE_RUNNING)
        kmode_watch_locked(m, events_monotonic_ns());
    pthread_mutex_unlock(&m->lock);
}

static int timer_fd(clockid_t clock, const struct itimerspec *its, int flags)
{
    int fd = timerfd_create(clock, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (timerfd_settime(fd, flags, its, NULL) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* --on-suspend save=PATH / save-after=: the guest has been suspended long enough. */
static void on_suspend_save(void *opaque, int fd, uint32_t events)
{
    (void)events;
    uint64_t n;
    if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
        return;
    machine_suspend_save(opaque);
}

static void on_rtc(void *opaque, int fd, uint32_t events)
{
    (void)fd;
    (void)events;
    board_rtc_timer(opaque);
}

/* The loop's file descriptors: signals, timeout, kernel-mode tick, QMP. */
static int loop_setup(struct machine *m, char *err, size_t errlen)
{
    int rc = loop_init(&m->loop, NULL, NULL);
    if (rc) {
        snprintf(err, errlen, "creating the main loop: %s", strerror(-rc));
        return rc;
    }
    m->loop_ready = true;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    m->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (m->signal_fd < 0 || loop_add(&m->loop, m->signal_fd, EPOLLIN, on_signal, m)) {
        snprintf(err, errlen, "signalfd: %s", strerror(errno));
        return -EIO;
    }
    if (m->opts.timeout_s) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        struct itimerspec its = {.it_value = {.tv_sec = now.tv_sec + m->opts.timeout_s,
                                              .tv_nsec = now.tv_nsec}};
        m->timeout_fd = timer_fd(CLOCK_MONOTONIC, &its, TFD_TIMER_ABSTIME);
        if (m->timeout_fd < 0 || loop_add(&m->loop, m->timeout_fd, EPOLLIN, on_timeout, m)) {
            snprintf(err, errlen, "timerfd (--timeout): %s", strerror(errno));
            return -EIO;
        }
    }
    if (m->mode == PSCI_MODE_KERNEL) {
        struct itimerspec its = {.it_value = {.tv_nsec = KMODE_WATCH_NS},
                                 .it_interval = {.tv_nsec = KMODE_WATCH_NS}};
        m->tick_fd = timer_fd(CLOCK_MONOTONIC, &its, 0);
        if (m->tick_fd < 0 || loop_add(&m->loop, m->tick_fd, EPOLLIN, on_tick, m)) {
            snprintf(err, errlen, "timerfd (kernel-mode tick): %s", strerror(errno));
            return -EIO;
        }
    }
    unsigned int delay_s;
    if (policy_suspend_save(&m->opts, &delay_s)) {
        if (!machine_snapshot_supported(m)) {
            snprintf(err, errlen, "--on-suspend %s: this hypervisor backend cannot save "
                     "snapshots", m->opts.on_suspend == ON_SUSPEND_SAVE ? "save=" : "save-after=");
            return -EOPNOTSUPP;
        }
        /* A directory that cannot take the file is said now, not when the guest sleeps. */
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s", m->opts.suspend_file);
        char *slash = strrchr(dir, '/');
        if (!slash)
            snprintf(dir, sizeof(dir), ".");
        else if (slash == dir)
            dir[1] = '\0';
        else
            *slash = '\0';
        if (access(dir, W_OK | X_OK) != 0) {
            int e = errno;
            snprintf(err, errlen, "--on-suspend: the snapshot cannot be written in %.200s: %s",
                     dir, strerror(e));
            return -e;
        }
        struct itimerspec off = {{0, 0}, {0, 0}};
        m->suspend_save_fd = timer_fd(CLOCK_MONOTONIC, &off, 0);
        if (m->suspend_save_fd < 0 ||
            loop_add(&m->loop, m->suspend_save_fd, EPOLLIN, on_suspend_save, m)) {
            snprintf(err, errlen, "timerfd (--on-suspend save): %s", strerror(errno));
            return -EIO;
        }
    }
    if (m->rtc_timer_fd >= 0 && loop_add(&m->loop, m->rtc_timer_fd, EPOLLIN, on_rtc, m)) {
        snprintf(err, errlen, "watching the RTC timer: %s", strerror(errno));
        return -EIO;
    }
    if (m->opts.qmp) {
        m->qmp = calloc(1, sizeof(*m->qmp));
        if (!m->qmp)
            return -ENOMEM;
        struct vm_control ctl = machine_control(m);
        rc = qmp_server_init(m->qmp, m->opts.qmp, &m->loop, &ctl, err, errlen);
        if (rc) {
            free(m->qmp);
            m->qmp = NULL;
            return rc;
        }
    }
    return 0;
}

static void loop_teardown(struct machine *m)
{
    if (m->qmp) {
        qmp_server_release(m->qmp);
        free(m->qmp);
        m->qmp = NULL;
    }
    if (m->loop_ready)
        loop_release(&m->loop);
    m->loop_ready = false;
    int *fds[] = {&m->signal_fd, &m->timeout_fd, &m->tick_fd, &m->suspend_save_fd};
    for (unsigned int i = 0; i < 4; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

/* Power-on / reset state of everything: vCPUs, PSCI core, devices, RAM contents. */
static int machine_reset(struct machine *m, bool first, char *err, size_t errlen)
{
    if (!first) {
        for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
            int rc = m->hv.ops->vcpu_reset(m->hv.opaque, i, i != 0);
            if (rc) {
                snprintf(err, errlen, "resetting vCPU %u: %s", i, strerror(-rc));
                return rc;
            }
        }
        if (m->psci_ready)
            psci_machine_reset(&m->psci);
        board_reset(m);
    }
    bool resume = first && m->restored; /* the snapshot set vCPUs, devices and RAM */
    if (!resume) {
        int rc = boot_load_images(m, err, errlen);
        if (rc)
            return rc;
    }
    pthread_mutex_lock(&m->lock);
    m->stop = m->stop_restart = false;
    m->paused = 0;
    m->guest_suspended = m->wakeup_requested = false;
    m->counter_saved = resume && m->restart_paused; /* cont resumes the saved counter */
    if (m->restart_paused) {
        m->pause_holder = PAUSE_CONTROL; /* the vCPUs wait at their first pause point */
        m->state = MACHINE_PAUSED;
    } else {
        m->pause_holder = PAUSE_NOBODY;
        m->state = MACHINE_RUNNING;
    }
    m->restart_paused = false;
    for (unsigned int i = 0; resume && i < m->hv.nr_vcpus; i++) {
        m->vcpus[i].in_pause = false;
        m->hv.ops->vcpu_clear_kick(m->hv.opaque, i);
    }
    for (unsigned int i = 0; !resume && i < m->hv.nr_vcpus; i++) {
        struct vcpu_ctl *v = &m->vcpus[i];
        /* Kernel mode: every thread runs; KVM keeps secondaries STOPPED. */
        v->state = (m->mode == PSCI_MODE_KERNEL && i != 0) ? VCPU_RUNNING : VCPU_PARKED;
        v->start_pending = i == 0;
        v->start_is_cpu_on = false;
        v->start_entry = m->entry_gpa;
        v->start_context = m->dtb_gpa;
        v->kmode_on = false;
        v->in_pause = false;
        m->hv.ops->vcpu_clear_kick(m->hv.opaque, i);
    }
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static void emit_vm_start(struct machine *m)
{
    struct json_object *f = fields_new();
    field_str(f, "mode", psci_mode_name(m->mode));
    field_str(f, "psci", psci_version_name(m->opts.psci_version));
    field_str(f, "host_kernel", m->host.release);
    field_int(f, "cpus", m->opts.cpus);
    if (m->hv.nr_vcpus != m->opts.cpus)
        field_int(f, "max_cpus", m->hv.nr_vcpus);
    field_int(f, "mem_mib", (int64_t)m->opts.mem_mib);
    if (m->restore_path)
        field_str(f, "restored", m->restore_path);
    if (m->vm) {
        field_str(f, "vm", m->vm->path);
        field_str(f, "hibernation", m->vm_hib == MACHINE_VM_RESUME ? "resume"
                                    : m->vm_hib == MACHINE_VM_DISCARDED ? "discarded" : "none");
    }
    machine_emit(m, "vm_start", -1, f);
    /* A snapshot saved while vCPUs were suspended: the restore woke them. */
    for (unsigned int i = 0; m->restored && i < m->hv.nr_vcpus; i++) {
        struct vcpu_ctl *v = &m->vcpus[i];
        if (v->woken_by_restore == VCPU_RESUME_NONE)
            continue;
        f = fields_new();
        field_str(f, "source", "restore");
        machine_emit(m, "wakeup", (int)i, f);
        if (v->woken_by_restore == VCPU_RESUME_SYSTEM) {
            struct json_object *d = fields_new();
            field_str(d, "source", "restore");
            machine_emit_qmp(m, "WAKEUP", d);
        }
        f = NULL;
        if (v->woken_by_restore != VCPU_RESUME_STANDBY) {
            f = fields_new();
            field_hex(f, "entry", v->resume_entry);
            field_hex(f, "context", v->resume_context);
        }
        machine_emit(m, "cpu_resume", (int)i, f);
        v->woken_by_restore = VCPU_RESUME_NONE;
    }
    if (m->vm_hib == MACHINE_VM_DISCARDED) {
        char when[32];
        time_t t = (time_t)m->vm_discarded_time;
        struct tm tm;
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        f = fields_new();
        field_str(f, "dir", m->vm->path);
        field_str(f, "hibernated_at", when);
        machine_emit(m, "hibernation_discarded", -1, f);
    }
}

/* Ends that QMP clients learn from SHUTDOWN (guest-initiated ones were sent already). */
static void emit_host_shutdown(struct machine *m)
{
    const char *reason = NULL;
    if (m->exit_status == PSCIVM_EXIT_SIGNAL)
        reason = strcmp(m->exit_reason, "host-qmp-quit") ? "host-signal" : "host-qmp-quit";
    else if (m->exit_status == PSCIVM_EXIT_SAVED) /* snapshot-save then=quit */
        reason = "host-qmp-quit";
    else if (m->exit_status == PSCIVM_EXIT_TIMEOUT || m->exit_status == PSCIVM_EXIT_ERROR ||
             m->exit_status == PSCIVM_EXIT_GUEST_DEAD)
        reason = m->exit_status == PSCIVM_EXIT_GUEST_DEAD ? "guest-panic" : "host-error";
    if (!reason)
        return;
    struct json_object *d = fields_new();
    field_bool(d, "guest", m->exit_status == PSCIVM_EXIT_GUEST_DEAD);
    field_str(d, "reason", reason);
    machine_emit_qmp(m, "SHUTDOWN", d);
}

/* The last host resource is made (loop, timers, QMP socket, console thread): from here on
 * pscivm only uses what it has, so the allow-list goes in, on every thread (the console reader
 * and the I/O thread exist; vCPU threads, started next, inherit it). */
static int sandbox_enter(struct machine *m, char *err, size_t errlen)
{
    if (!m->sandbox)
        return 0;
    int rc = seccomp_filter_load(m->sandbox, err, errlen);
    if (rc)
        return rc;
    if (m->sanitizer_selftest) {
        fprintf(stderr, "pscivm: sanitizer self-test: '%s' under --seccomp %s\n",
                m->sanitizer_selftest, run_seccomp_name(m->sandbox->mode));
        rc = sanitizer_selftest(m->sanitizer_selftest); /* a sanitizer build ends here */
        fprintf(stderr, "pscivm: sanitizer self-test: %s (not a sanitizer build, or not address "
                "or undefined)\n", strerror(-rc));
    }
    if (!m->sandbox_selftest)
        return 0;
    fprintf(stderr, "pscivm: seccomp self-test: calling socket(AF_INET), which is not on the "
            "allow-list\n");
    rc = seccomp_filter_selftest(); /* under --seccomp kill this does not return */
    fprintf(stderr, "pscivm: seccomp self-test: socket(AF_INET) returned %s (--seccomp %s)\n",
            rc ? strerror(-rc) : "a descriptor", run_seccomp_name(m->sandbox->mode));
    return 0;
}

int machine_run(struct machine *m)
{
    char err[320];
    m->signal_fd = m->timeout_fd = m->tick_fd = m->suspend_save_fd = -1;
    int rc = loop_setup(m, err, sizeof(err));
    if (rc == 0)
        rc = board_console_start(m, err, sizeof(err));
    if (rc == 0)
        rc = sandbox_enter(m, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "pscivm: %s\n", err);
        loop_teardown(m);
        return PSCIVM_EXIT_ERROR;
    }
    emit_vm_start(m);
    for (bool first = true;; first = false) {
        if (!first && !m->boot_loaded) {
            /* Restored: boot from the files the snapshot names, if they are unchanged. */
            rc = m->boot_unavailable[0] ? -ESTALE : boot_load_sources(m, err, sizeof(err));
            if (rc) {
                fprintf(stderr, "pscivm: the guest asked for a reset, but %s: exiting as "
                        "--on-reset exit would\n", m->boot_unavailable[0] ? m->boot_unavailable
                                                                        : err);
                pthread_mutex_lock(&m->lock);
                m->stop = false;
                machine_request_stop_locked(m, false, PSCIVM_EXIT_RESET, "reset after restore");
                pthread_mutex_unlock(&m->lock);
                break;
            }
            m->boot_loaded = true;
        }
        rc = machine_reset(m, first, err, sizeof(err));
        if (rc) {
            fprintf(stderr, "pscivm: %s\n", err);
            pthread_mutex_lock(&m->lock);
            machine_request_stop_locked(m, false, PSCIVM_EXIT_ERROR, "host error");
            pthread_mutex_unlock(&m->lock);
            break;
        }
        vcpus_start_threads(m);
        int wait_ms = -1; /* no limit, unless a partial console line waits (board.c) */
        for (;;) {
            pthread_mutex_lock(&m->lock);
            bool stop = m->stop;
            pthread_mutex_unlock(&m->lock);
            if (stop)
                break;
            rc = loop_run_once(&m->loop, wait_ms);
            if (rc) {
                machine_fail(m, "main loop: %s", strerror(-rc));
                break;
            }
            wait_ms = board_console_tick(m);
        }
        vcpus_join_threads(m);
        if (!m->stop_restart)
            break;
        fprintf(stderr, "pscivm: %s, restarting\n", strcmp(m->exit_reason, "host-qmp-system-reset")
                ? "guest requested a reset" : "reset requested (QMP system_reset)");
    }
    board_console_flush(m);
    if (m->vm && machine_vm_finish(m, err, sizeof(err))) {
        fprintf(stderr, "pscivm: %s: %s\n", m->exit_status == PSCIVM_EXIT_HIBERNATE
                ? "the guest hibernated but its record could not be written (the next start "
                  "cannot check the machine): exit 1" : "clearing the hibernation record", err);
        m->exit_status = PSCIVM_EXIT_ERROR;
    }
    emit_host_shutdown(m);
    struct json_object *f = fields_new();
    field_int(f, "status", m->exit_status);
    field_str(f, "reason", m->exit_reason);
    machine_emit(m, "vm_exit", -1, f);
    loop_teardown(m); /* the QMP server sends what is queued before it closes */
    return m->exit_status;
}
