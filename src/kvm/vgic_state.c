/* vgic_state.c — save and restore of the in-kernel vGICv3 through its device attributes
 * (Documentation/virt/kvm/devices/arm-vgic-v3.rst): distributor registers (GRP_DIST_REGS),
 * each vCPU's redistributor SGI/PPI registers (GRP_REDIST_REGS), each vCPU's CPU interface
 * system registers (GRP_CPU_SYSREGS) and the SPIs' input line levels (GRP_LEVEL_INFO; the
 * pending state read through ISPENDR is the latch only). No ITS and hence no LPIs: there are no
 * pending tables to flush (KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES) and GICR_PROPBASER/PENDBASER
 * are not needed.
 *
 * One table lists every register in restore order: GICD_IIDR first (the document asks for it
 * before anything else), GICD_CTLR, configuration (groups, trigger modes, priorities, routing)
 * before line levels, pending, active and enable bits; then per vCPU the redistributor in the
 * same order; then per vCPU ICC_SRE_EL1 and ICC_CTLR_EL1 before the registers whose meaning
 * they define (priority bits for the APRs), as QEMU does. Save walks the same table, leaving
 * out a register the host refuses (-ENXIO / -EINVAL: not implemented there), so a restore writes
 * only what was read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm/vm.h"

#define REC_GROUP_SHIFT 56
#define REC_VCPU_SHIFT 32
#define GIC_NR_SPI_REGS(nr) ((nr) / 32)  /* 32-interrupt words including SGIs/PPIs */

#define SYSREG(op0, op1, crn, crm, op2) \
    (((op0) << 14) | ((op1) << 11) | ((crn) << 7) | ((crm) << 3) | (op2))

struct vgic_reg {
    uint32_t group;
    unsigned int vcpu;
    uint32_t offset;   /* register offset, sysreg encoding or vINTID (level info) */
    uint32_t size;     /* 4 or 8 */
};

static uint64_t rec_id(const struct vgic_reg *r)
{
    return ((uint64_t)r->group << REC_GROUP_SHIFT) | ((uint64_t)r->vcpu << REC_VCPU_SHIFT) |
           r->offset;
}

/* The mpidr field of an attribute: Aff3..Aff0 packed into bits 63:32. */
static uint64_t attr_mpidr(const struct kvm_vm *vm, unsigned int vcpu)
{
    uint64_t m = vm->vcpus[vcpu].mpidr;
    uint64_t packed = (((m >> 32) & 0xff) << 24) | (m & 0xffffff);
    return packed << KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT;
}

static uint64_t attr_of(const struct kvm_vm *vm, const struct vgic_reg *r)
{
    switch (r->group) {
    case KVM_DEV_ARM_VGIC_GRP_DIST_REGS:
        return r->offset;
    case KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO:
        return attr_mpidr(vm, 0) |
               ((uint64_t)VGIC_LEVEL_INFO_LINE_LEVEL << KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT) |
               r->offset;
    default:
        return attr_mpidr(vm, r->vcpu) | r->offset;
    }
}

struct vgic_table {
    struct vgic_reg *regs;
    unsigned int n, cap;
};

static int add(struct vgic_table *t, uint32_t group, unsigned int vcpu, uint32_t offset,
               uint32_t size)
{
    if (t->n == t->cap) {
        unsigned int cap = t->cap ? t->cap * 2 : 256;
        struct vgic_reg *r = realloc(t->regs, cap * sizeof(*r));
        if (!r)
            return -ENOMEM;
        t->regs = r;
        t->cap = cap;
    }
    t->regs[t->n++] = (struct vgic_reg){group, vcpu, offset, size};
    return 0;
}

/* Distributor / redistributor register offsets (GICv3 architecture specification). */
#define GICD_CTLR 0x0000
#define GICD_IIDR 0x0008
#define GICD_IGROUPR 0x0080
#define GICD_ISENABLER 0x0100
#define GICD_ISPENDR 0x0200
#define GICD_ISACTIVER 0x0300
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR 0x0c00
#define GICD_IGRPMODR 0x0d00
#define GICD_IROUTER 0x6000
#define GICR_CTLR 0x0000
#define GICR_SGI 0x10000
#define GICR_IGROUPR0 (GICR_SGI + 0x0080)
#define GICR_ISENABLER0 (GICR_SGI + 0x0100)
#define GICR_ISPENDR0 (GICR_SGI + 0x0200)
#define GICR_ISACTIVER0 (GICR_SGI + 0x0300)
#define GICR_IPRIORITYR0 (GICR_SGI + 0x0400)
#define GICR_ICFGR0 (GICR_SGI + 0x0c00)
#define GICR_ICFGR1 (GICR_SGI + 0x0c04)

static int build_table(const struct kvm_vm *vm, unsigned int nr_irqs, struct vgic_table *t)
{
    const uint32_t D = KVM_DEV_ARM_VGIC_GRP_DIST_REGS, R = KVM_DEV_ARM_VGIC_GRP_REDIST_REGS,
                   C = KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, L = KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO;
    unsigned int words = GIC_NR_SPI_REGS(nr_irqs);
    int rc = add(t, D, 0, GICD_IIDR, 4);
    rc = rc ? rc : add(t, D, 0, GICD_CTLR, 4);
    for (unsigned int w = 1; !rc && w < words; w++) {
        rc = add(t, D, 0, GICD_IGROUPR + 4 * w, 4);
        rc = rc ? rc : add(t, D, 0, GICD_IGRPMODR + 4 * w, 4);
    }
    for (unsigned int w = 2; !rc && w < 2 * words; w++)   /* 16 interrupts per ICFGR */
        rc = add(t, D, 0, GICD_ICFGR + 4 * w, 4);
    for (unsigned int w = 8; !rc && w < 8 * words; w++)   /* 4 interrupts per IPRIORITYR */
        rc = add(t, D, 0, GICD_IPRIORITYR + 4 * w, 4);
    for (unsigned int irq = 32; !rc && irq < nr_irqs; irq++) {
        rc = add(t, D, 0, GICD_IROUTER + 8 * irq, 4);
        rc = rc ? rc : add(t, D, 0, GICD_IROUTER + 8 * irq + 4, 4);
    }
    for (unsigned int w = 1; !rc && w < words; w++)
        rc = add(t, L, 0, 32 * w, 4);
    for (unsigned int w = 1; !rc && w < words; w++)
        rc = add(t, D, 0, GICD_ISPENDR + 4 * w, 4);
    for (unsigned int w = 1; !rc && w < words; w++)
        rc = add(t, D, 0, GICD_ISACTIVER + 4 * w, 4);
    for (unsigned int w = 1; !rc && w < words; w++)
        rc = add(t, D, 0, GICD_ISENABLER + 4 * w, 4);
    for (unsigned int v = 0; !rc && v < vm->nr_vcpus; v++) {
        rc = add(t, R, v, GICR_CTLR, 4);
        rc = rc ? rc : add(t, R, v, GICR_IGROUPR0, 4);
        rc = rc ? rc : add(t, R, v, GICR_ICFGR0, 4);
        rc = rc ? rc : add(t, R, v, GICR_ICFGR1, 4);
        for (unsigned int w = 0; !rc && w < 8; w++)
            rc = add(t, R, v, GICR_IPRIORITYR0 + 4 * w, 4);
        rc = rc ? rc : add(t, R, v, GICR_ISPENDR0, 4);
        rc = rc ? rc : add(t, R, v, GICR_ISACTIVER0, 4);
        rc = rc ? rc : add(t, R, v, GICR_ISENABLER0, 4);
    }
    static const uint32_t icc[] = {
        SYSREG(3, 0, 12, 12, 5), /* ICC_SRE_EL1 */
        SYSREG(3, 0, 12, 12, 4), /* ICC_CTLR_EL1 */
        SYSREG(3, 0, 4, 6, 0),   /* ICC_PMR_EL1 */
        SYSREG(3, 0, 12, 8, 3),  /* ICC_BPR0_EL1 */
        SYSREG(3, 0, 12, 12, 3), /* ICC_BPR1_EL1 */
        SYSREG(3, 0, 12, 8, 4), SYSREG(3, 0, 12, 8, 5), SYSREG(3, 0, 12, 8, 6),
        SYSREG(3, 0, 12, 8, 7),  /* ICC_AP0R0..3_EL1 */
        SYSREG(3, 0, 12, 9, 0), SYSREG(3, 0, 12, 9, 1), SYSREG(3, 0, 12, 9, 2),
        SYSREG(3, 0, 12, 9, 3),  /* ICC_AP1R0..3_EL1 */
        SYSREG(3, 0, 12, 12, 6), /* ICC_IGRPEN0_EL1 */
        SYSREG(3, 0, 12, 12, 7), /* ICC_IGRPEN1_EL1 */
    };
    for (unsigned int v = 0; !rc && v < vm->nr_vcpus; v++)
        for (unsigned int k = 0; !rc && k < sizeof(icc) / sizeof(icc[0]); k++)
            rc = add(t, C, v, icc[k], 8);
    return rc;
}

static int vgic_nr_irqs(const struct kvm_vm *vm, unsigned int *nr)
{
    uint32_t v = 0;
    struct kvm_device_attr a = {.group = KVM_DEV_ARM_VGIC_GRP_NR_IRQS,
                                .addr = (uint64_t)(uintptr_t)&v};
    if (ioctl(vm->gic_fd, KVM_GET_DEVICE_ATTR, &a) < 0)
        return -errno;
    if (v < 64 || v > 1024 || v % 32)
        return -ERANGE;
    *nr = v;
    return 0;
}

static int access(const struct kvm_vm *vm, const struct vgic_reg *r, void *val, bool write)
{
    struct kvm_device_attr a = {.group = r->group, .attr = attr_of(vm, r),
                                .addr = (uint64_t)(uintptr_t)val};
    return ioctl(vm->gic_fd, write ? KVM_SET_DEVICE_ATTR : KVM_GET_DEVICE_ATTR, &a) < 0 ? -errno
                                                                                         : 0;
}

static const char *group_name(uint32_t g)
{
    switch (g) {
    case KVM_DEV_ARM_VGIC_GRP_DIST_REGS: return "distributor";
    case KVM_DEV_ARM_VGIC_GRP_REDIST_REGS: return "redistributor";
    case KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS: return "CPU interface";
    case KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO: return "line level";
    }
    return "?";
}

static int prepare(const struct kvm_vm *vm, struct vgic_table *t, char *err, size_t errlen)
{
    unsigned int nr = 0;
    int rc = vgic_nr_irqs(vm, &nr);
    if (rc) {
        snprintf(err, errlen, "vGICv3: reading NR_IRQS: %s", strerror(-rc));
        return rc;
    }
    rc = build_table(vm, nr, t);
    if (rc)
        snprintf(err, errlen, "vGICv3: out of memory");
    return rc;
}

int kvm_vgic_save(struct kvm_vm *vm, kvm_vgic_put_fn put, void *ctx, char *err, size_t errlen)
{
    struct vgic_table t = {0};
    int rc = prepare(vm, &t, err, errlen);
    for (unsigned int i = 0; !rc && i < t.n; i++) {
        uint64_t val = 0;
        rc = access(vm, &t.regs[i], &val, false);
        if (rc == -ENXIO || rc == -EINVAL) { /* not implemented by this host: left out */
            rc = 0;
            continue;
        }
        if (rc) {
            snprintf(err, errlen, "vGICv3: reading %s register 0x%x (vCPU %u): %s",
                     group_name(t.regs[i].group), t.regs[i].offset, t.regs[i].vcpu,
                     strerror(-rc));
            break;
        }
        rc = put(ctx, rec_id(&t.regs[i]), &val, t.regs[i].size);
        if (rc)
            snprintf(err, errlen, "vGICv3: storing its state: %s", strerror(-rc));
    }
    free(t.regs);
    return rc;
}

int kvm_vgic_restore(struct kvm_vm *vm, const struct kvm_vgic_record *recs, unsigned int n,
                     char *err, size_t errlen)
{
    struct vgic_table t = {0};
    int rc = prepare(vm, &t, err, errlen);
    int *where = rc ? NULL : calloc(t.n ? t.n : 1, sizeof(int));
    if (!rc && !where) {
        snprintf(err, errlen, "vGICv3: out of memory");
        rc = -ENOMEM;
    }
    for (unsigned int k = 0; !rc && k < t.n; k++)
        where[k] = -1;
    /* Every record must be a register of this machine's vGIC, with its size. */
    for (unsigned int j = 0; !rc && j < n; j++) {
        unsigned int k = 0;
        while (k < t.n && rec_id(&t.regs[k]) != recs[j].id)
            k++;
        if (k == t.n || recs[j].size != t.regs[k].size) {
            snprintf(err, errlen, "vGIC state: record 0x%016llx (%u bytes) is not a register "
                     "of this machine's vGICv3 (%u vCPUs)", (unsigned long long)recs[j].id,
                     recs[j].size, vm->nr_vcpus);
            rc = -EINVAL;
        } else {
            where[k] = (int)j;
        }
    }
    for (unsigned int k = 0; !rc && k < t.n; k++) {
        if (where[k] < 0)
            continue; /* not saved (the source host did not implement it): keep the reset value */
        uint64_t val = 0;
        memcpy(&val, recs[where[k]].data, t.regs[k].size);
        rc = access(vm, &t.regs[k], &val, true);
        if (rc)
            snprintf(err, errlen, "vGICv3: writing %s register 0x%x (vCPU %u) = 0x%llx: %s",
                     group_name(t.regs[k].group), t.regs[k].offset, t.regs[k].vcpu,
                     (unsigned long long)val, strerror(-rc));
    }
    free(where);
    free(t.regs);
    return rc;
}
