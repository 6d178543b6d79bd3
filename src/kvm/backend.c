/* backend.c — KVM/arm64 behind the neutral hv.h operations: KVM_RUN exits translated into
 * struct vm_exit, neutral register names into KVM register ids, MP states, kicks
 * (immediate_exit; the machine adds the signal), statistics, ioeventfd doorbells, and the
 * snapshot operations (register lists, raw registers, vGIC blobs: vm_state.c, vgic_state.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/backend.h"
#include "kvm/compat.h"

int kvm_backend_init(struct kvm_backend *b, bool open_stats, char *err, size_t errlen)
{
    unsigned int n = b->vm.nr_vcpus;
    b->hvc = calloc(n, sizeof(*b->hvc));
    b->blocking = calloc(n, sizeof(*b->blocking));
    b->mpidrs = calloc(n, sizeof(*b->mpidrs));
    if (!b->hvc || !b->blocking || !b->mpidrs) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (unsigned int i = 0; i < n; i++) {
        b->hvc[i].fd = b->blocking[i].fd = -1;
        b->mpidrs[i] = b->vm.vcpus[i].mpidr;
        if (open_stats &&
            vcpu_stat_open(&b->hvc[i], b->vm.vcpus[i].fd, "hvc_exit_stat") == 0)
            vcpu_stat_open(&b->blocking[i], b->vm.vcpus[i].fd, "blocking");
    }
    int rc = ioevent_init(&b->io, b->vm.vm_fd);
    if (rc) {
        snprintf(err, errlen, "creating the I/O thread's eventfds: %s", strerror(-rc));
        return rc;
    }
    b->io_ready = true;
    return 0;
}

bool kvm_backend_has_stats(const struct kvm_backend *b)
{
    return b->vm.nr_vcpus && b->hvc && b->hvc[0].fd >= 0;
}

int kvm_backend_start_io(struct kvm_backend *b, char *err, size_t errlen)
{
    if (!b->io_ready || b->io.nr == 0)
        return 0;
    int rc = ioevent_start(&b->io);
    if (rc)
        snprintf(err, errlen, "starting the virtio I/O thread: %s", strerror(-rc));
    return rc;
}

void kvm_backend_release(struct kvm_backend *b)
{
    if (b->io_ready)
        ioevent_release(&b->io);
    b->io_ready = false;
    for (unsigned int i = 0; b->hvc && i < b->vm.nr_vcpus; i++) {
        vcpu_stat_close(&b->hvc[i]);
        vcpu_stat_close(&b->blocking[i]);
    }
    free(b->hvc);
    free(b->blocking);
    free(b->mpidrs);
    b->hvc = b->blocking = NULL;
    b->mpidrs = NULL;
    kvm_vm_release(&b->vm);
}

static uint64_t reg_id(enum hv_reg reg)
{
    if (reg == HV_REG_PC)
        return KVM_REG_PC;
    if (reg == HV_REG_CNTVCT)
        return KVM_REG_ARM_TIMER_CNT;
    if (reg == HV_REG_PSCI_VERSION)
        return KVM_REG_ARM_PSCI_VERSION;
    if (reg == HV_REG_CNTFRQ)
        return 0;
    return KVM_REG_X((unsigned int)reg);
}

static void translate_exit(const struct kvm_run *run, struct vm_exit *e)
{
    memset(e, 0, sizeof(*e));
    switch (run->exit_reason) {
    case KVM_EXIT_MMIO:
        e->kind = VM_EXIT_MMIO;
        e->mmio.addr = run->mmio.phys_addr;
        e->mmio.len = run->mmio.len;
        e->mmio.is_write = run->mmio.is_write;
        memcpy(e->mmio.data, run->mmio.data, sizeof(e->mmio.data));
        return;
    case KVM_EXIT_HYPERCALL:
        e->kind = VM_EXIT_HYPERCALL;
        e->hypercall.function = (uint32_t)run->hypercall.nr;
        return;
    case KVM_EXIT_SYSTEM_EVENT: {
        uint64_t flags = run->system_event.ndata ? run->system_event.data[0] : 0;
        e->kind = VM_EXIT_SYSTEM_EVENT;
        e->system.raw_type = run->system_event.type;
        switch (run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
            e->system.type = VM_SYSEV_SHUTDOWN;
            e->system.psci_off2 = flags & KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2;
            break;
        case KVM_SYSTEM_EVENT_RESET:
            e->system.type = VM_SYSEV_RESET;
            e->system.psci_reset2 = flags & KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2;
            break;
        case KVM_SYSTEM_EVENT_SUSPEND: e->system.type = VM_SYSEV_SUSPEND; break;
        case KVM_SYSTEM_EVENT_WAKEUP: e->system.type = VM_SYSEV_WAKEUP; break;
        case KVM_SYSTEM_EVENT_CRASH: e->system.type = VM_SYSEV_CRASH; break;
        default: e->system.type = VM_SYSEV_OTHER; break;
        }
        return;
    }
    case KVM_EXIT_ARM_NISV:
        e->kind = VM_EXIT_NISV;
        e->nisv.ipa = run->arm_nisv.fault_ipa;
        return;
    case KVM_EXIT_FAIL_ENTRY:
        e->kind = VM_EXIT_FAIL;
        e->fail.code = run->fail_entry.hardware_entry_failure_reason;
        e->fail.raw_reason = run->exit_reason;
        return;
    case KVM_EXIT_INTERNAL_ERROR:
        e->kind = VM_EXIT_FAIL;
        e->fail.code = run->internal.suberror;
        e->fail.raw_reason = run->exit_reason;
        return;
    }
    e->kind = VM_EXIT_UNKNOWN;
    e->fail.raw_reason = run->exit_reason;
}

static int hv_vcpu_run(void *hv, unsigned int i, struct vm_exit *e)
{
    struct kvm_backend *b = hv;
    struct kvm_run *run = b->vm.vcpus[i].run;
    /* Complete a handled MMIO read: KVM takes the value from the run page on entry. */
    if (e->kind == VM_EXIT_MMIO && !e->mmio.is_write)
        memcpy(run->mmio.data, e->mmio.data, sizeof(e->mmio.data));
    e->kind = VM_EXIT_UNKNOWN;
    int rc = kvm_vcpu_run(&b->vm, i);
    if (rc == 0)
        translate_exit(run, e);
    return rc;
}

static void hv_vcpu_kick(void *hv, unsigned int i)
{
    struct kvm_backend *b = hv;
    __atomic_store_n(&b->vm.vcpus[i].run->immediate_exit, 1, __ATOMIC_SEQ_CST);
}

static void hv_vcpu_clear_kick(void *hv, unsigned int i)
{
    struct kvm_backend *b = hv;
    __atomic_store_n(&b->vm.vcpus[i].run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

static int hv_get_reg(void *hv, unsigned int i, enum hv_reg reg, uint64_t *value)
{
    struct kvm_backend *b = hv;
    if (reg == HV_REG_CNTFRQ) {
        *value = kvm_counter_frequency();
        return 0;
    }
    return kvm_vcpu_get_reg(&b->vm, i, reg_id(reg), value);
}

static int hv_set_reg(void *hv, unsigned int i, enum hv_reg reg, uint64_t value)
{
    struct kvm_backend *b = hv;
    if (reg == HV_REG_CNTVCT) /* VM-wide, through the counter offset where the host has it */
        return kvm_vm_set_counter(&b->vm, value);
    if (reg == HV_REG_CNTFRQ)
        return -EPERM;
    return kvm_vcpu_set_reg(&b->vm, i, reg_id(reg), value);
}

static int hv_get_mp_state(void *hv, unsigned int i, enum hv_mp_state *state)
{
    struct kvm_backend *b = hv;
    uint32_t mp;
    int rc = kvm_vcpu_get_mp_state(&b->vm, i, &mp);
    if (rc)
        return rc;
    *state = mp == KVM_MP_STATE_RUNNABLE  ? HV_MP_RUNNABLE
           : mp == KVM_MP_STATE_STOPPED   ? HV_MP_STOPPED
           : mp == KVM_MP_STATE_SUSPENDED ? HV_MP_SUSPENDED
                                          : HV_MP_OTHER;
    return 0;
}

static int hv_set_mp_state(void *hv, unsigned int i, enum hv_mp_state state)
{
    struct kvm_backend *b = hv;
    uint32_t mp;
    switch (state) {
    case HV_MP_RUNNABLE: mp = KVM_MP_STATE_RUNNABLE; break;
    case HV_MP_STOPPED: mp = KVM_MP_STATE_STOPPED; break;
    case HV_MP_SUSPENDED: mp = KVM_MP_STATE_SUSPENDED; break;
    default: return -EINVAL;
    }
    return kvm_vcpu_set_mp_state(&b->vm, i, mp);
}

static int hv_vcpu_reset(void *hv, unsigned int i, bool power_off)
{
    struct kvm_backend *b = hv;
    return kvm_vcpu_reset(&b->vm, i, power_off);
}

static int hv_vcpu_start_at(void *hv, unsigned int i, uint64_t entry, uint64_t x0)
{
    struct kvm_backend *b = hv;
    return kvm_vcpu_start_at(&b->vm, i, entry, x0);
}

static int hv_inject_dabt(void *hv, unsigned int i)
{
    struct kvm_backend *b = hv;
    return kvm_vcpu_inject_dabt(&b->vm, i);
}

static int hv_irq_line(void *hv, unsigned int spi, bool level)
{
    struct kvm_backend *b = hv;
    return kvm_vm_irq_line(&b->vm, spi, level);
}

static int hv_notify_add(void *hv, uint64_t addr, uint32_t data, void (*fn)(void *opaque),
                         void *opaque)
{
    struct kvm_backend *b = hv;
    if (!b->io_ready)
        return -ENOSYS;
    return ioevent_add(&b->io, addr, data, fn, opaque);
}

static int hv_stat_read(void *hv, unsigned int i, enum hv_stat stat, uint64_t *value)
{
    struct kvm_backend *b = hv;
    const struct vcpu_stat *st = stat == HV_STAT_HVC ? &b->hvc[i] : &b->blocking[i];
    if (st->fd < 0)
        return -ENOENT;
    return vcpu_stat_read(st, value);
}

/* ---- snapshots (vm_state.c, vgic_state.c) ---- */

static int hv_reg_list(void *hv, unsigned int i, struct hv_reg_desc **regs, unsigned int *n)
{
    struct kvm_backend *b = hv;
    uint64_t *ids;
    unsigned int nr;
    int rc = kvm_vcpu_reg_list(&b->vm, i, &ids, &nr);
    if (rc)
        return rc;
    struct hv_reg_desc *d = calloc(nr ? nr : 1, sizeof(*d));
    if (!d) {
        free(ids);
        return -ENOMEM;
    }
    for (unsigned int k = 0; k < nr; k++)
        d[k] = (struct hv_reg_desc){.id = ids[k], .size = kvm_reg_size(ids[k])};
    free(ids);
    *regs = d;
    *n = nr;
    return 0;
}

static int hv_reg_get_raw(void *hv, unsigned int i, uint64_t id, void *buf, uint32_t size)
{
    struct kvm_backend *b = hv;
    return kvm_vcpu_get_reg_raw(&b->vm, i, id, buf, size);
}

static int hv_reg_set_raw(void *hv, unsigned int i, uint64_t id, const void *buf, uint32_t size)
{
    struct kvm_backend *b = hv;
    return kvm_vcpu_set_reg_raw(&b->vm, i, id, buf, size);
}

static uint64_t hv_reg_id(void *hv, enum hv_reg reg)
{
    (void)hv;
    return reg_id(reg);
}

/* KVM's arm64 register ids (Documentation/virt/kvm/api.rst, "KVM_SET_ONE_REG"): system
 * registers by their op0..op2 encoding, core registers by name where simple. */
static void hv_reg_name(void *hv, uint64_t id, char *buf, size_t len)
{
    (void)hv;
    uint64_t coproc = id & KVM_REG_ARM_COPROC_MASK;
    if (coproc == KVM_REG_ARM64_SYSREG) {
        snprintf(buf, len, "S%u_%u_C%u_C%u_%u",
                 (unsigned)((id & KVM_REG_ARM64_SYSREG_OP0_MASK) >> KVM_REG_ARM64_SYSREG_OP0_SHIFT),
                 (unsigned)((id & KVM_REG_ARM64_SYSREG_OP1_MASK) >> KVM_REG_ARM64_SYSREG_OP1_SHIFT),
                 (unsigned)((id & KVM_REG_ARM64_SYSREG_CRN_MASK) >> KVM_REG_ARM64_SYSREG_CRN_SHIFT),
                 (unsigned)((id & KVM_REG_ARM64_SYSREG_CRM_MASK) >> KVM_REG_ARM64_SYSREG_CRM_SHIFT),
                 (unsigned)((id & KVM_REG_ARM64_SYSREG_OP2_MASK) >> KVM_REG_ARM64_SYSREG_OP2_SHIFT));
    } else if (coproc == KVM_REG_ARM_CORE) {
        uint64_t off = id & 0xffff; /* in 32-bit words of struct kvm_regs */
        if (off < 62 && off % 2 == 0)
            snprintf(buf, len, "X%u", (unsigned)(off / 2));
        else
            snprintf(buf, len, "core+0x%x", (unsigned)off);
    } else if (coproc == KVM_REG_ARM_FW) {
        snprintf(buf, len, "FW 0x%04x", (unsigned)(id & 0xffff));
    } else {
        snprintf(buf, len, "0x%016llx", (unsigned long long)id);
    }
}

/* KVM's reset_unknown() (arch/arm64/kvm/sys_regs.h) stamps this into system registers whose
 * architectural reset value is UNKNOWN; a guest that never wrote one still holds it. */
#define KVM_SYSREG_UNKNOWN_RESET 0x1de7ec7edbadc0deull

static bool hv_reg_untouched(void *hv, uint64_t id, const void *value, uint32_t size)
{
    (void)hv;
    const uint8_t *p = value;
    bool zero = true;
    for (uint32_t k = 0; k < size; k++)
        zero &= p[k] == 0;
    if (zero)
        return true;
    uint64_t v;
    if ((id & KVM_REG_ARM_COPROC_MASK) != KVM_REG_ARM64_SYSREG || size != sizeof(v))
        return false;
    memcpy(&v, value, sizeof(v));
    return v == KVM_SYSREG_UNKNOWN_RESET;
}

/* ID_AA64MMFR2_EL1.NV, bits [27:24]: FEAT_NV/FEAT_NV2, usable only by a guest with EL2
 * (KVM_ARM_VCPU_HAS_EL2, which pscivm never sets). 7.2's KVM reads it as 0 for such a vCPU
 * and takes any value written; 6.12's reports the host's and refuses any other. */
#define KVM_ID_AA64MMFR2_EL1 ARM64_SYS_REG(3, 0, 0, 7, 2)
#define KVM_ID_AA64MMFR2_NV (0xfull << 24)

static bool hv_reg_same_for_guest(void *hv, uint64_t id, const void *a, const void *b,
                                  uint32_t size)
{
    (void)hv;
    uint64_t x, y;
    if (id != KVM_ID_AA64MMFR2_EL1 || size != sizeof(x))
        return false;
    memcpy(&x, a, sizeof(x));
    memcpy(&y, b, sizeof(y));
    return (x & ~KVM_ID_AA64MMFR2_NV) == (y & ~KVM_ID_AA64MMFR2_NV);
}

static int hv_vcpu_complete(void *hv, unsigned int i, struct vm_exit *e)
{
    struct kvm_backend *b = hv;
    bool read = e->kind == VM_EXIT_MMIO && !e->mmio.is_write;
    int rc = kvm_vcpu_complete(&b->vm, i, e->mmio.data, read);
    if (rc == 0)
        e->kind = VM_EXIT_UNKNOWN; /* nothing left for the next vcpu_run to deliver */
    return rc;
}

static int hv_io_quiesce(void *hv)
{
    struct kvm_backend *b = hv;
    return b->io_ready ? ioevent_drain(&b->io) : 0;
}

static int hv_irqchip_save(void *hv, hv_blob_put_fn put, void *ctx, char *err, size_t errlen)
{
    struct kvm_backend *b = hv;
    return kvm_vgic_save(&b->vm, put, ctx, err, errlen);
}

static int hv_irqchip_restore(void *hv, const struct hv_blob *blobs, unsigned int n, char *err,
                              size_t errlen)
{
    struct kvm_backend *b = hv;
    /* struct hv_blob and struct kvm_vgic_record have the same members, in the same order. */
    struct kvm_vgic_record *recs = calloc(n ? n : 1, sizeof(*recs));
    if (!recs)
        return -ENOMEM;
    for (unsigned int k = 0; k < n; k++)
        recs[k] = (struct kvm_vgic_record){blobs[k].id, blobs[k].size, blobs[k].data};
    int rc = kvm_vgic_restore(&b->vm, recs, n, err, errlen);
    free(recs);
    return rc;
}

static const struct hv_ops kvm_hv_ops = {
    .vcpu_run = hv_vcpu_run,
    .vcpu_kick = hv_vcpu_kick,
    .vcpu_clear_kick = hv_vcpu_clear_kick,
    .get_reg = hv_get_reg,
    .set_reg = hv_set_reg,
    .get_mp_state = hv_get_mp_state,
    .set_mp_state = hv_set_mp_state,
    .vcpu_reset = hv_vcpu_reset,
    .vcpu_start_at = hv_vcpu_start_at,
    .inject_dabt = hv_inject_dabt,
    .irq_line = hv_irq_line,
    .notify_add = hv_notify_add,
    .stat_read = hv_stat_read,
    .reg_list = hv_reg_list,
    .reg_get_raw = hv_reg_get_raw,
    .reg_set_raw = hv_reg_set_raw,
    .reg_id = hv_reg_id,
    .reg_name = hv_reg_name,
    .reg_untouched = hv_reg_untouched,
    .reg_same_for_guest = hv_reg_same_for_guest,
    .vcpu_complete = hv_vcpu_complete,
    .io_quiesce = hv_io_quiesce,
    .irqchip_save = hv_irqchip_save,
    .irqchip_restore = hv_irqchip_restore,
};

struct hv kvm_backend_hv(struct kvm_backend *b)
{
    return (struct hv){.ops = &kvm_hv_ops, .opaque = b, .nr_vcpus = b->vm.nr_vcpus,
                       .mpidrs = b->mpidrs};
}
