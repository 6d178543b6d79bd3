/* power.c — the power bridge between the PSCI core and the backend: user-mode PSCI calls
 * (every call answered by src/psci, its actions carried out on vCPU threads), the system power
 * policy (off, off2, reset, reset2, suspend) for both modes, suspend and wake-up with the wake
 * source named, and start requests (boot, CPU_ON, restart). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>

#include <json-c/json.h>

#include "machine/machine.h"
#include "vmm/exit_status.h"
#include "vmm/policy.h"

/* ---- registers of a PSCI call ------------------------------------------------------------
 * Each register access is one ONE_REG ioctl, on the path of every forwarded call, so user mode
 * touches only what the call needs:
 *  - arguments: only the x1..x<n> that psci_call_nr_args() names (PSCI_VERSION none,
 *    PSCI_FEATURES x1, CPU_ON x1..x3 ...); the rest of psci_call.x stays 0, which gives the core
 *    the same answer (tests/unit/test_psci_args.c). The SMC32 narrowing of arguments is the
 *    core's and happens on these values as before;
 *  - result: x0 only. x1..x3 are left as the caller had them. SMCCC (Arm DEN0028, v1.2 and
 *    later) on registers a call does not return anything in: "Unused result and scratch
 *    registers can leak information after an SMC or HVC call. An implementation can mitigate
 *    this risk by either preserving the register state over the call, or returning a constant
 *    value, such as zero" [wording as quoted in issue 12; the DEN0028 text itself was not at
 *    hand — the same rule is stated by TF-A Tests' docs/change-log.rst (v2.2, "Relax SMC calls
 *    tests") and checked by its tftf/tests/runtime_services/generic/generic_smc.c
 *    (smc32_fast), which accepts x1..x7 either preserved or zeroed after PSCI_VERSION; TF-A
 *    itself preserves them (advisory TFV-8)]. Preserving leaks nothing: the registers hold what
 *    the caller put there. Kernel mode differs: KVM answers with smccc_set_retval(vcpu, x0, 0, 0, 0), zeroing
 *    x1..x3, and kernel mode's own answers (power_set_result) keep doing the same. */

/* Fetch x1..x<n> (n <= 3) into x[1..n]; x[n+1..3] are not touched. */
static int get_args(struct machine *m, struct vcpu_ctl *v, uint64_t x[4], unsigned int n)
{
    for (unsigned int r = 1; r <= n && r <= 3; r++) {
        int err = m->hv.ops->get_reg(m->hv.opaque, v->index, HV_REG_X(r), &x[r]);
        if (err) {
            fprintf(stderr, "pscivm: vCPU %u: reading x%u: %s\n", v->index, r, strerror(-err));
            return err;
        }
    }
    return 0;
}

static int set_x0(struct machine *m, struct vcpu_ctl *v, uint64_t x0)
{
    int err = m->hv.ops->set_reg(m->hv.opaque, v->index, HV_REG_X(0), x0);
    if (err)
        fprintf(stderr, "pscivm: vCPU %u: writing the PSCI result: %s\n", v->index,
                strerror(-err));
    return err;
}

/* Which device woke the guest: the first interrupt line raised since it suspended. */
static const char *wake_source_locked(const struct machine *m)
{
    if (m->wakeup_requested)
        return "qmp";
    return board_irq_source_name(m, m->wake_spi);
}

/* The wakeup event (and QMP WAKEUP for SYSTEM_SUSPEND), sent once the vCPU is ready to run at
 * its resume point: latency_us is from the wake request (interrupt raised, system_wakeup) to
 * here, absent when the guest's own timer woke it. */
static void emit_wakeup(struct machine *m, struct vcpu_ctl *v, const struct power_wake *w)
{
    struct json_object *f = fields_new();
    field_str(f, "source", w->source);
    if (w->request_ns) {
        uint64_t now = events_monotonic_ns();
        field_int(f, "latency_us", now > w->request_ns ? (int64_t)((now - w->request_ns) / 1000) : 0);
    }
    machine_emit(m, "wakeup", (int)v->index, f);
    if (w->system) {
        struct json_object *d = fields_new();
        field_str(d, "source", w->source);
        machine_emit_qmp(m, "WAKEUP", d);
    }
}

int power_wait_for_wakeup(struct machine *m, struct vcpu_ctl *v, struct json_object *suspend_ev,
                          struct power_wake *w)
{
    bool system = suspend_ev != NULL;
    pthread_mutex_lock(&m->lock);
    v->state = VCPU_SUSPENDED;
    m->wake_spi = BOARD_NO_SPI;
    m->wake_ns = 0;
    if (system) {
        m->guest_suspended = true;
        m->suspended_vcpu = v->index;
        m->wakeup_requested = false;
    }
    pthread_mutex_unlock(&m->lock);
    /* Announced only now that system_wakeup is accepted: a client that acts on the event
     * cannot find the guest "not suspended". */
    if (system) {
        machine_emit(m, "system_suspend", (int)v->index, suspend_ev);
        machine_emit_qmp(m, "SUSPEND", NULL);
        power_suspend_save_arm(m, true);
    }
    int err = m->hv.ops->set_mp_state(m->hv.opaque, v->index, HV_MP_SUSPENDED);
    bool woken = false;
    while (!err && !woken) {
        err = m->hv.ops->vcpu_run(m->hv.opaque, v->index, &v->exit);
        if (err == -EINTR) {
            m->hv.ops->vcpu_clear_kick(m->hv.opaque, v->index);
            pthread_mutex_lock(&m->lock);
            vcpu_pause_point_locked(m, v);
            bool stop = m->stop;
            woken = system && m->wakeup_requested;
            pthread_mutex_unlock(&m->lock);
            err = stop ? -ESHUTDOWN : 0;
            continue;
        }
        if (err)
            break;
        if (v->exit.kind == VM_EXIT_SYSTEM_EVENT && v->exit.system.type == VM_SYSEV_WAKEUP) {
            woken = true;
            break;
        }
        if (v->exit.kind == VM_EXIT_MMIO) { /* cannot happen while suspended; be safe */
            err = exits_dispatch(m, v);
            continue;
        }
        fprintf(stderr, "pscivm: vCPU %u: unexpected exit %d while suspended\n", v->index,
                (int)v->exit.kind);
        err = -EPROTO;
    }
    if (woken)
        err = m->hv.ops->set_mp_state(m->hv.opaque, v->index, HV_MP_RUNNABLE);
    pthread_mutex_lock(&m->lock);
    *w = (struct power_wake){.source = wake_source_locked(m), .system = system};
    w->request_ns = __atomic_load_n(&m->wake_ns, __ATOMIC_SEQ_CST);
    if (!m->wakeup_requested && m->wake_spi == BOARD_NO_SPI)
        w->request_ns = 0;
    v->state = VCPU_RUNNING;
    v->resume_kind = VCPU_RESUME_NONE;
    if (system) {
        m->guest_suspended = false;
        m->wakeup_requested = false;
    }
    pthread_mutex_unlock(&m->lock);
    if (system)
        power_suspend_save_arm(m, false);
    return err;
}

void power_suspend_save_arm(struct machine *m, bool arm)
{
    unsigned int delay_s;
    if (m->suspend_save_fd < 0 || !policy_suspend_save(&m->opts, &delay_s))
        return;
    /* 1 ns: "at once" (a zero it_value would disarm the timer). */
    struct itimerspec its = {.it_value = {.tv_sec = delay_s, .tv_nsec = delay_s ? 0 : 1}};
    if (!arm)
        its.it_value = (struct timespec){0, 0};
    timerfd_settime(m->suspend_save_fd, 0, &its, NULL);
}

/* ---- system power transitions (both modes) ------------------------------------------------ */

#define SYSTEM_TYPE_UNKNOWN UINT64_MAX /* kernel-mode SYSTEM_OFF2: type not recoverable */

static void system_request(struct machine *m, struct vcpu_ctl *v, enum system_request req,
                           uint64_t type, uint64_t cookie)
{
    struct policy_decision d = policy_system_request(&m->opts, req);
    struct json_object *f = NULL;
    if (req == SYSTEM_REQ_OFF2) {
        /* Kernel mode: KVM zeroed x1 before the exit; the event says so (type_read false). */
        f = fields_new();
        if (type != SYSTEM_TYPE_UNKNOWN)
            field_int(f, "type", (int64_t)type);
        else
            field_bool(f, "type_read", false);
        m->off2_type = type == SYSTEM_TYPE_UNKNOWN ? MACHINE_OFF2_TYPE_UNKNOWN : type;
    } else if (req == SYSTEM_REQ_RESET2) {
        f = fields_new();
        field_hex(f, "type", type);
        field_hex(f, "cookie", cookie);
    }
    machine_emit(m, d.reason, (int)v->index, f);
    /* QEMU's view: a reset that restarts is RESET; anything that ends the process SHUTDOWN. */
    bool reset = req == SYSTEM_REQ_RESET || req == SYSTEM_REQ_RESET2;
    struct json_object *q = fields_new();
    field_bool(q, "guest", true);
    field_str(q, "reason", reset ? "guest-reset"
                           : req == SYSTEM_REQ_OFF2 ? "guest-hibernate" : "guest-shutdown");
    machine_emit_qmp(m, d.restart ? "RESET" : "SHUTDOWN", q);
    pthread_mutex_lock(&m->lock);
    v->state = VCPU_PARKED;
    machine_request_stop_locked(m, d.restart, d.exit_status, d.reason);
    pthread_mutex_unlock(&m->lock);
}

int power_handle_system_event(struct machine *m, struct vcpu_ctl *v)
{
    const struct vm_exit *e = &v->exit;
    uint64_t x1 = 0, x2 = 0;
    int err;
    switch (e->system.type) {
    case VM_SYSEV_SHUTDOWN:
        /* KVM has already overwritten x0..x3 for OFF2, so the hibernate type (0 or 1, both
         * HIBERNATE_OFF) is not known here: no type field. */
        system_request(m, v, e->system.psci_off2 ? SYSTEM_REQ_OFF2 : SYSTEM_REQ_OFF,
                       SYSTEM_TYPE_UNKNOWN, 0);
        return 0;
    case VM_SYSEV_RESET:
        if (!e->system.psci_reset2) {
            system_request(m, v, SYSTEM_REQ_RESET, 0, 0);
            return 0;
        }
        /* KVM wrote only x0, so x1/x2 still hold reset_type and cookie. */
        err = m->hv.ops->get_reg(m->hv.opaque, v->index, HV_REG_X(1), &x1);
        if (!err)
            err = m->hv.ops->get_reg(m->hv.opaque, v->index, HV_REG_X(2), &x2);
        if (err) {
            fprintf(stderr, "pscivm: vCPU %u: reading SYSTEM_RESET2's arguments: %s\n",
                    v->index, strerror(-err));
            return err;
        }
        system_request(m, v, SYSTEM_REQ_RESET2, (uint32_t)x1, x2);
        return 0;
    case VM_SYSEV_SUSPEND:
        return kmode_handle_system_suspend(m, v);
    case VM_SYSEV_WAKEUP:
        /* A wake-up outside power_wait_for_wakeup(): nothing is suspended by us; resume. */
        machine_emit(m, "wakeup", (int)v->index, NULL);
        return m->hv.ops->set_mp_state(m->hv.opaque, v->index, HV_MP_RUNNABLE);
    case VM_SYSEV_CRASH:
        fprintf(stderr, "pscivm: vCPU %u: guest reported a crash\n", v->index);
        machine_request_stop(m, false, PSCIVM_EXIT_GUEST_DEAD, "guest crash");
        return 0;
    case VM_SYSEV_OTHER:
        break;
    }
    fprintf(stderr, "pscivm: vCPU %u: unknown system event type %u\n", v->index,
            e->system.raw_type);
    return -EPROTO;
}

/* ---- user mode: every PSCI call answered by the core ------------------------------------- */

static bool all_vcpus_off_locked(struct machine *m)
{
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
        struct psci_vcpu_info info;
        if (psci_vcpu_get_info(&m->psci, i, &info) == 0 && info.state != PSCI_CPU_OFF)
            return false;
    }
    return true;
}

/* Resume after a power-down (CPU_SUSPEND power-down, SYSTEM_SUSPEND: suspend_ev holds the
 * system_suspend event's fields): wait for the wake-up, tell the core, restart at
 * entry/context. */
int power_down_and_resume(struct machine *m, struct vcpu_ctl *v, uint64_t entry,
                          uint64_t context, struct psci_machine *core, unsigned int core_vcpu,
                          struct json_object *suspend_ev)
{
    struct power_wake w;
    pthread_mutex_lock(&m->lock);
    v->resume_kind = suspend_ev ? VCPU_RESUME_SYSTEM : VCPU_RESUME_POWERDOWN;
    v->resume_entry = entry;
    v->resume_context = context;
    pthread_mutex_unlock(&m->lock);
    int err = power_wait_for_wakeup(m, v, suspend_ev, &w);
    if (err)
        return err;
    pthread_mutex_lock(&m->lock);
    psci_cpu_woken(core, core_vcpu);
    pthread_mutex_unlock(&m->lock);
    err = m->hv.ops->vcpu_start_at(m->hv.opaque, v->index, entry, context);
    if (err) {
        fprintf(stderr, "pscivm: vCPU %u: resuming at 0x%" PRIx64 ": %s\n", v->index, entry,
                strerror(-err));
        return err;
    }
    emit_wakeup(m, v, &w);
    struct json_object *f = fields_new();
    field_hex(f, "entry", entry);
    field_hex(f, "context", context);
    machine_emit(m, "cpu_resume", (int)v->index, f);
    return 0;
}

/* --on-suspend exit: the guest is suspended (its state left as it asked); end pscivm with
 * PSCIVM_EXIT_SUSPEND so that an orchestrator can handle the suspend itself. */
void power_suspend_exit(struct machine *m, struct vcpu_ctl *v)
{
    machine_emit_qmp(m, "SUSPEND", NULL);
    struct json_object *q = fields_new();
    field_bool(q, "guest", true);
    field_str(q, "reason", "guest-suspend"); /* pscivm's: QEMU has no such end */
    machine_emit_qmp(m, "SHUTDOWN", q);
    pthread_mutex_lock(&m->lock);
    v->state = VCPU_PARKED;
    machine_request_stop_locked(m, false, PSCIVM_EXIT_SUSPEND, "system_suspend");
    pthread_mutex_unlock(&m->lock);
}

static void emit_refused_cpu_on(struct machine *m, struct vcpu_ctl *v, const struct psci_call *c,
                                uint64_t x0)
{
    struct json_object *f = fields_new();
    pthread_mutex_lock(&m->lock);
    int t = psci_find_vcpu(&m->psci, c->x[1] & PSCI_MPIDR_AFF_MASK);
    pthread_mutex_unlock(&m->lock);
    if (t >= 0 && (c->x[1] & ~PSCI_MPIDR_AFF_MASK) == 0)
        field_int(f, "target", t);
    field_hex(f, "target_mpidr", c->x[1]);
    field_hex(f, "entry", c->x[2]);
    field_hex(f, "context", c->x[3]);
    field_int(f, "result", (int64_t)x0);
    machine_emit(m, "cpu_on", (int)v->index, f);
}

static int user_system_suspend(struct machine *m, struct vcpu_ctl *v,
                               const struct psci_action *a)
{
    /* The core only hands this over when every other vCPU is OFF. */
    enum suspend_decision d = policy_system_suspend(&m->opts, true);
    struct json_object *f = fields_new();
    field_hex(f, "entry", a->entry);
    field_hex(f, "context", a->context);
    field_str(f, "outcome", d == SUSPEND_DENY ? "denied" : d == SUSPEND_EXIT ? "exit" : "suspended");
    if (d == SUSPEND_DENY) {
        uint64_t x0 = 0;
        pthread_mutex_lock(&m->lock);
        psci_system_suspend_refused(&m->psci, v->index, &x0);
        pthread_mutex_unlock(&m->lock);
        field_int(f, "result", (int64_t)x0);
        machine_emit(m, "system_suspend", (int)v->index, f);
        return set_x0(m, v, x0);
    }
    if (d == SUSPEND_EXIT) {
        machine_emit(m, "system_suspend", (int)v->index, f);
        power_suspend_exit(m, v);
        return 0;
    }
    return power_down_and_resume(m, v, a->entry, a->context, &m->psci, v->index, f);
}

int power_handle_psci_user(struct machine *m, struct vcpu_ctl *v)
{
    struct psci_call call = {.vcpu = v->index};
    call.x[0] = v->exit.hypercall.function; /* the function ID is W0 */
    pthread_mutex_lock(&m->lock);
    unsigned int nr_args = psci_call_nr_args(&m->psci, (uint32_t)call.x[0], call.aarch32);
    pthread_mutex_unlock(&m->lock);
    int err = get_args(m, v, call.x, nr_args);
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
            machine_request_stop_locked(m, false, PSCIVM_EXIT_GUEST_DEAD, "all vCPUs off");
    }
    machine_assert_invariants_locked(m);
    pthread_mutex_unlock(&m->lock);
    if (rc) {
        fprintf(stderr, "pscivm: vCPU %u: PSCI call 0x%" PRIx64 " from a vCPU the core sees as "
                "not on\n", v->index, call.x[0]);
        return set_x0(m, v, res.x0);
    }

    struct json_object *f;
    switch (a->kind) {
    case PSCI_ACT_NONE:
        if (psci_fid_is_cpu_on((uint32_t)call.x[0]))
            emit_refused_cpu_on(m, v, &call, res.x0);
        return set_x0(m, v, res.x0);
    case PSCI_ACT_CPU_START:
        f = fields_new();
        field_int(f, "target", a->target);
        field_hex(f, "target_mpidr", m->hv.mpidrs[a->target]);
        field_hex(f, "entry", a->entry);
        field_hex(f, "context", a->context);
        field_int(f, "result", (int64_t)res.x0);
        machine_emit(m, "cpu_on", (int)v->index, f);
        return set_x0(m, v, res.x0);
    case PSCI_ACT_CPU_STOP:
        machine_emit(m, "cpu_off", (int)v->index, NULL);
        return 0;
    case PSCI_ACT_CPU_STANDBY:
    case PSCI_ACT_CPU_POWERDOWN: {
        bool down = a->kind == PSCI_ACT_CPU_POWERDOWN;
        f = fields_new();
        field_hex(f, "power_state", a->power_state);
        field_str(f, "kind", down ? "powerdown" : "standby");
        machine_emit(m, "cpu_suspend", (int)v->index, f);
        if (down)
            return power_down_and_resume(m, v, a->entry, a->context, &m->psci, v->index, NULL);
        err = set_x0(m, v, res.x0);
        struct power_wake w;
        pthread_mutex_lock(&m->lock);
        v->resume_kind = VCPU_RESUME_STANDBY;
        pthread_mutex_unlock(&m->lock);
        if (!err)
            err = power_wait_for_wakeup(m, v, NULL, &w);
        if (!err) {
            emit_wakeup(m, v, &w);
            pthread_mutex_lock(&m->lock);
            psci_cpu_woken(&m->psci, v->index);
            pthread_mutex_unlock(&m->lock);
            machine_emit(m, "cpu_resume", (int)v->index, NULL);
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
    case PSCI_ACT_SYSTEM_SUSPEND:
        return user_system_suspend(m, v, a);
    }
    return set_x0(m, v, res.x0);
}

/* Kernel mode's SYSTEM_SUSPEND check answers as KVM answers everything else in that mode,
 * smccc_set_retval(vcpu, x0, 0, 0, 0): x0, and x1..x3 zeroed. `args` holds x0..x3 as read by
 * power_get_args(): registers already zero are not written again. */
int power_set_result(struct machine *m, struct vcpu_ctl *v, uint64_t x0, const uint64_t args[4])
{
    int err = set_x0(m, v, x0);
    for (unsigned int r = 1; r <= 3 && !err; r++) {
        if (args[r] == 0)
            continue;
        err = m->hv.ops->set_reg(m->hv.opaque, v->index, HV_REG_X(r), 0);
        if (err)
            fprintf(stderr, "pscivm: vCPU %u: clearing x%u: %s\n", v->index, r, strerror(-err));
    }
    return err;
}

/* All of x1..x3 (kernel mode zeroes those that are not, so it must know them). */
int power_get_args(struct machine *m, struct vcpu_ctl *v, uint64_t x[4])
{
    return get_args(m, v, x, 3);
}

void power_vcpu_do_start(struct machine *m, struct vcpu_ctl *v)
{
    uint64_t entry = v->start_entry, context = v->start_context;
    bool cpu_on = v->start_is_cpu_on;
    v->start_pending = false;
    v->start_is_cpu_on = false;
    pthread_mutex_unlock(&m->lock);
    int err = m->hv.ops->vcpu_start_at(m->hv.opaque, v->index, entry, context);
    pthread_mutex_lock(&m->lock);
    if (err) {
        fprintf(stderr, "pscivm: vCPU %u: starting it at 0x%" PRIx64 ": %s\n", v->index, entry,
                strerror(-err));
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

static uint64_t clock_ns(void *opaque)
{
    (void)opaque;
    return events_monotonic_ns();
}

int power_setup_cores(struct machine *m, char *err, size_t errlen)
{
    struct psci_ram_range ram = {.base = m->mem.base, .size = m->mem.size};
    struct psci_config cfg = {
        .version = m->opts.psci_version,
        .options = PSCI_OPT_ALL,
        .nr_vcpus = m->hv.nr_vcpus,
        .mpidrs = m->hv.mpidrs,
        .boot_vcpu = 0,
        .ram = &ram,
        .nr_ram = 1,
        .clock_ns = clock_ns,
    };
    int rc;
    if (m->mode == PSCI_MODE_USER) {
        rc = psci_machine_init(&m->psci, &cfg);
        m->psci_ready = !rc;
        /* CPU_ON policy: kept across psci_machine_reset, so it holds after a guest reset. */
        for (unsigned int i = 0; !rc && i < m->opts.nr_deny_cpu_on; i++) {
            rc = psci_vcpu_set_allowed(&m->psci, m->opts.deny_cpu_on[i], false);
            if (rc) {
                snprintf(err, errlen, "--deny-cpu-on: vCPU %u: %s", m->opts.deny_cpu_on[i],
                         strerror(-rc));
                return rc;
            }
        }
        /* --max-cpus: vCPUs cpus..max-1 exist but are not plugged (CPU_ON refused). */
        for (unsigned int i = m->opts.cpus; !rc && i < m->hv.nr_vcpus; i++)
            rc = psci_vcpu_set_allowed(&m->psci, i, false);
    } else {
        cfg.nr_vcpus = 1;
        rc = psci_machine_init(&m->scratch, &cfg);
        m->scratch_ready = !rc;
    }
    if (rc)
        snprintf(err, errlen, "PSCI core initialisation: %s", strerror(-rc));
    return rc;
}
