/* vcpus.c — the vCPU threads (life cycle drawn in machine.h): start requests, kicks out of
 * vcpu_run, and the pause barrier any holder can take — a vCPU (kernel-mode SYSTEM_SUSPEND
 * checks its peers' power states) or the main loop (QMP stop, reset, snapshots). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "machine/machine.h"
#include "vmm/exit_status.h"

void vcpu_kick(struct vcpu_ctl *v)
{
    struct machine *m = v->m;
    m->hv.ops->vcpu_kick(m->hv.opaque, v->index);
    if (v->thread_live)
        pthread_kill(v->thread, SIGUSR1);
}

/* Someone else holds the pause: wait here (counted in m->paused) until it is released. */
void vcpu_pause_point_locked(struct machine *m, struct vcpu_ctl *v)
{
    while (m->pause_holder != PAUSE_NOBODY && m->pause_holder != (int)v->index && !m->stop) {
        v->in_pause = true;
        m->paused++;
        pthread_cond_broadcast(&m->cond);
        pthread_cond_wait(&m->pause_cond, &m->lock);
        m->paused--;
        v->in_pause = false;
    }
}

static unsigned int live_threads_locked(const struct machine *m)
{
    unsigned int n = 0;
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++)
        n += m->vcpus[i].thread_live;
    return n;
}

int vcpus_pause_locked(struct machine *m, int holder)
{
    if (holder >= 0)
        vcpu_pause_point_locked(m, &m->vcpus[holder]); /* honour another holder first */
    else
        while (m->pause_holder != PAUSE_NOBODY && !m->stop)
            pthread_cond_wait(&m->cond, &m->lock);
    if (m->stop)
        return -ESHUTDOWN;
    m->pause_holder = holder;
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
        if ((int)i == holder)
            continue;
        pthread_cond_signal(&m->vcpus[i].cond); /* a PARKED thread passes its pause point */
        vcpu_kick(&m->vcpus[i]);
    }
    for (;;) {
        unsigned int want = live_threads_locked(m) - (holder >= 0 ? 1 : 0);
        if (m->paused >= want || m->stop)
            break;
        pthread_cond_wait(&m->cond, &m->lock);
    }
    if (m->stop) {
        m->pause_holder = PAUSE_NOBODY;
        pthread_cond_broadcast(&m->pause_cond);
        return -ESHUTDOWN;
    }
    return 0;
}

void vcpus_resume_locked(struct machine *m)
{
    m->pause_holder = PAUSE_NOBODY;
    pthread_cond_broadcast(&m->pause_cond);
    pthread_cond_broadcast(&m->cond); /* another would-be holder may be waiting */
}

void *vcpu_thread(void *arg)
{
    struct vcpu_ctl *v = arg;
    struct machine *m = v->m;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    for (;;) {
        pthread_mutex_lock(&m->lock);
        for (;;) {
            vcpu_pause_point_locked(m, v);
            if (m->stop || v->start_pending || v->state != VCPU_PARKED)
                break;
            pthread_cond_wait(&v->cond, &m->lock);
        }
        if (m->stop) {
            pthread_mutex_unlock(&m->lock);
            break;
        }
        if (v->start_pending)
            power_vcpu_do_start(m, v);
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
                machine_fail(m, "vCPU %u: reading its power state: %s", v->index,
                             strerror(-err));
                break;
            }
        }
        err = m->hv.ops->vcpu_run(m->hv.opaque, v->index, &v->exit);
        if (err == -EINTR) {
            m->hv.ops->vcpu_clear_kick(m->hv.opaque, v->index);
            if (m->mode == PSCI_MODE_KERNEL && (err = kmode_check_power_off(m, v)) < 0) {
                machine_fail(m, "vCPU %u: reading its power state: %s", v->index,
                             strerror(-err));
                break;
            }
            continue;
        }
        if (err) {
            machine_fail(m, "vCPU %u: running it: %s", v->index, strerror(-err));
            break;
        }
        err = exits_dispatch(m, v);
        if (err == -ESHUTDOWN)
            continue;
        if (err) {
            /* exits_dispatch reported what failed. */
            machine_request_stop(m, false, PSCIVM_EXIT_ERROR, "host error");
            break;
        }
    }
    return NULL;
}

int vcpus_start_threads(struct machine *m)
{
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
        struct vcpu_ctl *v = &m->vcpus[i];
        int err = pthread_create(&v->thread, NULL, vcpu_thread, v);
        if (err) {
            machine_fail(m, "creating the thread of vCPU %u: %s", i, strerror(err));
            return -err;
        }
        pthread_mutex_lock(&m->lock);
        v->thread_live = true;
        /* A stop requested before thread_live was set could not signal this thread. */
        if (m->stop)
            vcpu_kick(v);
        pthread_mutex_unlock(&m->lock);
    }
    return 0;
}

void vcpus_join_threads(struct machine *m)
{
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
        struct vcpu_ctl *v = &m->vcpus[i];
        if (!v->thread_live)
            continue;
        pthread_join(v->thread, NULL);
        pthread_mutex_lock(&m->lock);
        v->thread_live = false;
        pthread_mutex_unlock(&m->lock);
    }
}
