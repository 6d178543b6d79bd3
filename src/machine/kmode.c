/* kmode.c — kernel PSCI mode: KVM answers PSCI itself, and pscivm observes and checks.
 *
 * Observing CPU_ON / CPU_OFF done inside KVM: KVM's PSCI never exits for them: a vCPU that
 * calls CPU_OFF goes to HV_MP_STOPPED and sleeps inside vcpu_run; a CPU_ON from another vCPU
 * wakes it there. pscivm still reports both as events:
 *  - OFF: every tick (run.c, 1 ms) the main loop reads the HVC counter of each vCPU believed
 *    on (statistics read without disturbing the vCPU); when it moved, the vCPU made a
 *    hypercall (CPU_OFF among them), so the main loop kicks it out of vcpu_run once the count
 *    settled and the vCPU is not blocked (a kick would end an in-kernel CPU_SUSPEND early) and
 *    the vCPU's own thread reads its MP state and reports cpu_off when it is STOPPED. Hosts
 *    without statistics: blind kicks every KMODE_BLIND_KICK_NS.
 *  - ON: the thread of a vCPU seen STOPPED does not re-enter vcpu_run; it polls its MP state
 *    every KMODE_POLL_NS and reports cpu_on when it turned RUNNABLE, then runs it. The vCPU
 *    cannot execute before it is seen on, so no CPU_ON is missed; the event carries
 *    "source": "kvm" instead of entry/context (KVM applies those at the next run).
 *  An OFF period shorter than a tick could go unseen (both its events are then missing, never
 *  just one); Linux's hotplug keeps a CPU off far longer.
 *
 * SYSTEM_SUSPEND exits: KVM left x0..x2 untouched and checked nothing. The scratch core
 * validates entry/context and supplies the PSCI return values; pscivm checks that every other
 * vCPU is stopped (their threads are paused so their MP states can be read). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "machine/machine.h"
#include "vmm/policy.h"

#define KMODE_BLIND_KICK_NS (5 * 1000 * 1000)
#define KMODE_POLL_NS (1 * 1000 * 1000)

static void kmode_emit(struct machine *m, struct vcpu_ctl *v, bool on)
{
    struct json_object *f = fields_new();
    field_str(f, "source", "kvm");
    if (on) {
        field_int(f, "target", v->index);
        field_hex(f, "target_mpidr", m->hv.mpidrs[v->index]);
        field_int(f, "result", 0);
    }
    /* The caller of CPU_ON is not known in kernel mode: the event has no "vcpu" field. */
    machine_emit(m, on ? "cpu_on" : "cpu_off", on ? -1 : (int)v->index, f);
}

int kmode_check_power_off(struct machine *m, struct vcpu_ctl *v)
{
    if (!v->kmode_on)
        return 0;
    enum hv_mp_state mp;
    int err = m->hv.ops->get_mp_state(m->hv.opaque, v->index, &mp);
    if (err)
        return err;
    if (mp == HV_MP_STOPPED) {
        v->kmode_on = false;
        /* A system event stops every vCPU inside KVM too: that is reported as the system
         * event, not as a CPU_OFF. */
        pthread_mutex_lock(&m->lock);
        bool stopping = m->stop;
        pthread_mutex_unlock(&m->lock);
        if (!stopping)
            kmode_emit(m, v, false);
    }
    return 0;
}

static void timespec_add_ns(struct timespec *ts, long ns)
{
    ts->tv_nsec += ns;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int kmode_wait_power_on(struct machine *m, struct vcpu_ctl *v)
{
    for (;;) {
        enum hv_mp_state mp;
        int err = m->hv.ops->get_mp_state(m->hv.opaque, v->index, &mp);
        if (err)
            return err;
        if (mp != HV_MP_STOPPED)
            break;
        pthread_mutex_lock(&m->lock);
        vcpu_pause_point_locked(m, v);
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

void kmode_watch_locked(struct machine *m, uint64_t now_ns)
{
    bool blind_due = now_ns - m->kmode_last_blind_ns >= KMODE_BLIND_KICK_NS;
    bool blind_used = false;
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
        struct vcpu_ctl *v = &m->vcpus[i];
        if (!v->kmode_on || v->state != VCPU_RUNNING || v->in_pause)
            continue;
        uint64_t hvc, blocking = 0;
        if (m->hv.ops->stat_read(m->hv.opaque, i, HV_STAT_HVC, &hvc) == 0) {
            if (hvc != v->hvc_seen) {
                v->hvc_seen = hvc;
                v->hvc_unchecked = true;
            } else if (v->hvc_unchecked &&
                       (m->hv.ops->stat_read(m->hv.opaque, i, HV_STAT_BLOCKING, &blocking) != 0 ||
                        !blocking)) {
                v->hvc_unchecked = false;
                vcpu_kick(v);
            }
        } else if (blind_due) {
            blind_used = true;
            vcpu_kick(v);
        }
    }
    if (blind_used)
        m->kmode_last_blind_ns = now_ns;
}

int kmode_handle_system_suspend(struct machine *m, struct vcpu_ctl *v)
{
    struct psci_call call = {.vcpu = 0};
    int err = m->hv.ops->get_reg(m->hv.opaque, v->index, HV_REG_X(0), &call.x[0]);
    call.x[0] = (uint32_t)call.x[0]; /* the function ID is W0 */
    if (!err)
        err = power_get_args(m, v, call.x);
    if (err)
        return err;

    pthread_mutex_lock(&m->lock);
    bool others_off = true;
    err = vcpus_pause_locked(m, (int)v->index);
    for (unsigned int i = 0; i < m->hv.nr_vcpus && !err; i++) {
        enum hv_mp_state mp;
        if (i == v->index)
            continue;
        err = m->hv.ops->get_mp_state(m->hv.opaque, i, &mp);
        if (!err && mp != HV_MP_STOPPED)
            others_off = false;
    }
    if (err != -ESHUTDOWN)
        vcpus_resume_locked(m);
    if (err) {
        pthread_mutex_unlock(&m->lock);
        if (err != -ESHUTDOWN)
            fprintf(stderr, "pscivm: SYSTEM_SUSPEND: reading the vCPUs' power states: %s\n",
                    strerror(-err));
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
    field_str(f, "outcome", !accepted ? "rejected" : d == SUSPEND_DENY ? "denied"
                            : d == SUSPEND_EXIT ? "exit" : "suspended");
    if (!accepted || d == SUSPEND_DENY)
        field_int(f, "result", (int64_t)x0);
    if (!accepted || d == SUSPEND_DENY || d == SUSPEND_EXIT)
        machine_emit(m, "system_suspend", (int)v->index, f);
    if (!accepted || d == SUSPEND_DENY)
        return power_set_result(m, v, x0, call.x);
    if (d == SUSPEND_EXIT) {
        power_suspend_exit(m, v);
        return 0;
    }
    return power_down_and_resume(m, v, res.action.entry, res.action.context, &m->scratch, 0, f);
}
