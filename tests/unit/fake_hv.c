/* fake_hv.c — the scripted hypervisor of fake_hv.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_hv.h"

void fake_hv_init(struct fake_hv *f, unsigned int nr)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    f->nr = nr;
    f->psci_version = f->psci_max = 0x10003; /* PSCI 1.3 */
    for (unsigned int i = 0; i < nr; i++) {
        f->mpidrs[i] = i;
        f->v[i].mp = i == 0 ? HV_MP_RUNNABLE : HV_MP_STOPPED;
    }
}

void fake_hv_release(struct fake_hv *f)
{
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
}

void fake_hv_queue(struct fake_hv *f, unsigned int i, const struct vm_exit *e)
{
    pthread_mutex_lock(&f->lock);
    f->v[i].queue[f->v[i].tail++ % FAKE_MAX_EXITS] = *e;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

bool fake_hv_wait_idle(struct fake_hv *f, unsigned int i, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->lock);
    int rc = 0;
    while (!(f->v[i].in_run && f->v[i].head == f->v[i].tail) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&f->cond, &f->lock, &ts);
    bool ok = f->v[i].in_run && f->v[i].head == f->v[i].tail;
    pthread_mutex_unlock(&f->lock);
    return ok;
}

static int f_run(void *hv, unsigned int i, struct vm_exit *e)
{
    struct fake_hv *f = hv;
    struct fake_vcpu *v = &f->v[i];
    pthread_mutex_lock(&f->lock);
    v->runs++;
    v->in_run = true;
    pthread_cond_broadcast(&f->cond);
    while (!v->kicked && v->head == v->tail)
        pthread_cond_wait(&f->cond, &f->lock);
    v->in_run = false;
    int rc;
    if (v->kicked) {
        rc = -EINTR;
    } else {
        *e = v->queue[v->head++ % FAKE_MAX_EXITS];
        rc = 0;
    }
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static void f_kick(void *hv, unsigned int i)
{
    struct fake_hv *f = hv;
    pthread_mutex_lock(&f->lock);
    f->v[i].kicked = true;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

static void f_clear_kick(void *hv, unsigned int i)
{
    struct fake_hv *f = hv;
    pthread_mutex_lock(&f->lock);
    f->v[i].kicked = false;
    pthread_mutex_unlock(&f->lock);
}

static void count_reg_access(struct fake_hv *f, unsigned int i, bool write)
{
    pthread_mutex_lock(&f->lock);
    if (write)
        f->v[i].set_regs++;
    else
        f->v[i].get_regs++;
    pthread_mutex_unlock(&f->lock);
}

static int f_get_reg(void *hv, unsigned int i, enum hv_reg reg, uint64_t *value)
{
    struct fake_hv *f = hv;
    count_reg_access(f, i, false);
    if (reg == HV_REG_CNTFRQ) {
        *value = FAKE_CNTFRQ;
        return 0;
    }
    if (reg == HV_REG_PSCI_VERSION) {
        *value = f->psci_version;
        return 0;
    }
    pthread_mutex_lock(&f->lock);
    *value = reg == HV_REG_CNTVCT ? f->counter++ : f->v[i].regs[reg];
    pthread_mutex_unlock(&f->lock);
    return (unsigned int)reg < 34 ? 0 : -EINVAL;
}

static int f_set_reg(void *hv, unsigned int i, enum hv_reg reg, uint64_t value)
{
    struct fake_hv *f = hv;
    count_reg_access(f, i, true);
    if ((unsigned int)reg >= 34)
        return -EINVAL;
    pthread_mutex_lock(&f->lock);
    if (reg == HV_REG_CNTVCT)
        f->counter = value;
    else
        f->v[i].regs[reg] = value;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int f_get_mp(void *hv, unsigned int i, enum hv_mp_state *s)
{
    struct fake_hv *f = hv;
    pthread_mutex_lock(&f->lock);
    *s = f->v[i].mp;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int f_set_mp(void *hv, unsigned int i, enum hv_mp_state s)
{
    struct fake_hv *f = hv;
    pthread_mutex_lock(&f->lock);
    f->v[i].mp = s;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int f_reset(void *hv, unsigned int i, bool off)
{
    return f_set_mp(hv, i, off ? HV_MP_STOPPED : HV_MP_RUNNABLE);
}

static int f_start_at(void *hv, unsigned int i, uint64_t entry, uint64_t x0)
{
    struct fake_hv *f = hv;
    pthread_mutex_lock(&f->lock);
    f->v[i].starts++;
    f->v[i].start_entry = entry;
    f->v[i].start_x0 = x0;
    f->v[i].regs[HV_REG_PC] = entry;
    f->v[i].regs[0] = x0;
    f->v[i].mp = HV_MP_RUNNABLE;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int f_dabt(void *hv, unsigned int i)
{
    struct fake_hv *f = hv;
    pthread_mutex_lock(&f->lock);
    f->v[i].dabts++;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int f_irq(void *hv, unsigned int spi, bool level)
{
    struct fake_hv *f = hv;
    if (spi >= 128)
        return -EINVAL;
    pthread_mutex_lock(&f->lock);
    f->irq_level[spi] = level;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int f_stat(void *hv, unsigned int i, enum hv_stat stat, uint64_t *value)
{
    (void)hv;
    (void)i;
    (void)stat;
    (void)value;
    return -ENOENT;
}

/* ---- snapshots ---- */

static int f_reg_list(void *hv, unsigned int i, struct hv_reg_desc **regs, unsigned int *n)
{
    struct fake_hv *f = hv;
    struct hv_reg_desc *d = calloc(36, sizeof(*d));
    if (!d)
        return -ENOMEM;
    unsigned int k = 0;
    for (; k < 34; k++)
        d[k] = (struct hv_reg_desc){FAKE_REG_ID(k), 8};
    d[k++] = (struct hv_reg_desc){FAKE_REG_PSCI, 8};
    if (!f->hide_vec && (!f->vec_needs_feature || (f->v[i].regs[33] & 1)))
        d[k++] = (struct hv_reg_desc){FAKE_REG_VEC, 16};
    *regs = d;
    *n = k;
    return 0;
}

static void *reg_slot(struct fake_hv *f, unsigned int i, uint64_t id, uint32_t size)
{
    if (id >= FAKE_REG_ID(0) && id < FAKE_REG_ID(34) && size == 8)
        return &f->v[i].regs[id - FAKE_REG_ID(0)];
    if (id == FAKE_REG_VEC && size == 16 && !f->hide_vec &&
        (!f->vec_needs_feature || (f->v[i].regs[33] & 1)))
        return f->v[i].vec;
    if (id == FAKE_REG_PSCI && size == 8)
        return &f->psci_version;
    return NULL;
}

static int f_reg_get_raw(void *hv, unsigned int i, uint64_t id, void *buf, uint32_t size)
{
    struct fake_hv *f = hv;
    void *slot = reg_slot(f, i, id, size);
    if (!slot)
        return -ENOENT;
    memcpy(buf, slot, size);
    return 0;
}

static int f_reg_set_raw(void *hv, unsigned int i, uint64_t id, const void *buf, uint32_t size)
{
    struct fake_hv *f = hv;
    void *slot = reg_slot(f, i, id, size);
    if (!slot)
        return -ENOENT;
    if (id == FAKE_REG_PSCI) {
        uint64_t v;
        memcpy(&v, buf, 8);
        if (v > f->psci_max)
            return -EINVAL;
    }
    if (id == FAKE_REG_ID(32) && f->id32_read_only && memcmp(slot, buf, size) != 0)
        return -EINVAL;
    memcpy(slot, buf, size);
    return 0;
}

static bool f_reg_same_for_guest(void *hv, uint64_t id, const void *a, const void *b,
                                 uint32_t size)
{
    struct fake_hv *f = hv;
    uint64_t x, y;
    if (id != FAKE_REG_ID(32) || size != 8)
        return false;
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    return (x & ~f->id32_blind) == (y & ~f->id32_blind);
}

static bool f_reg_untouched(void *hv, uint64_t id, const void *value, uint32_t size)
{
    struct fake_hv *f = hv;
    (void)id;
    const uint8_t *p = value;
    bool zero = true, poison = f->untouched_byte != 0;
    for (uint32_t k = 0; k < size; k++) {
        zero &= p[k] == 0;
        poison &= p[k] == f->untouched_byte;
    }
    return zero || poison;
}

static uint64_t f_reg_id(void *hv, enum hv_reg reg)
{
    (void)hv;
    if (reg == HV_REG_PSCI_VERSION)
        return FAKE_REG_PSCI;
    return (unsigned int)reg < 34 ? FAKE_REG_ID(reg) : 0;
}

static int f_complete(void *hv, unsigned int i, struct vm_exit *e)
{
    struct fake_hv *f = hv;
    f->v[i].completes++;
    e->kind = VM_EXIT_UNKNOWN;
    return 0;
}

static int f_irqchip_save(void *hv, hv_blob_put_fn put, void *ctx, char *err, size_t errlen)
{
    struct fake_hv *f = hv;
    (void)err;
    (void)errlen;
    for (unsigned int k = 0; k < FAKE_GIC_REGS; k++) {
        int rc = put(ctx, 0x10 + k, &f->gic[k], 4);
        if (rc)
            return rc;
    }
    return 0;
}

static int f_irqchip_restore(void *hv, const struct hv_blob *b, unsigned int n, char *err,
                             size_t errlen)
{
    struct fake_hv *f = hv;
    for (unsigned int k = 0; k < n; k++)
        if (b[k].id < 0x10 || b[k].id >= 0x10 + FAKE_GIC_REGS || b[k].size != 4) {
            snprintf(err, errlen, "fake GIC: bad blob 0x%llx", (unsigned long long)b[k].id);
            return -EINVAL;
        }
    for (unsigned int k = 0; k < n; k++)
        memcpy(&f->gic[b[k].id - 0x10], b[k].data, 4);
    return 0;
}

static const struct hv_ops fake_ops = {
    .vcpu_run = f_run,
    .vcpu_kick = f_kick,
    .vcpu_clear_kick = f_clear_kick,
    .get_reg = f_get_reg,
    .set_reg = f_set_reg,
    .get_mp_state = f_get_mp,
    .set_mp_state = f_set_mp,
    .vcpu_reset = f_reset,
    .vcpu_start_at = f_start_at,
    .inject_dabt = f_dabt,
    .irq_line = f_irq,
    .stat_read = f_stat,
    .reg_list = f_reg_list,
    .reg_get_raw = f_reg_get_raw,
    .reg_set_raw = f_reg_set_raw,
    .reg_id = f_reg_id,
    .reg_untouched = f_reg_untouched,
    .reg_same_for_guest = f_reg_same_for_guest,
    .vcpu_complete = f_complete,
    .irqchip_save = f_irqchip_save,
    .irqchip_restore = f_irqchip_restore,
};

struct hv fake_hv_hv(struct fake_hv *f)
{
    return (struct hv){.ops = &fake_ops, .opaque = f, .nr_vcpus = f->nr, .mpidrs = f->mpidrs};
}
