/* gic.c — the guest's interrupt sources: the EL1 virtual timer (INTID 27) and a wake-up SGI
 * (INTID 0) that idle CPUs wait for in WFI, both group 1, enabled, priority 0x80, PMR 0xff. Interrupts stay masked in PSTATE (DAIF):
 * the pending timer interrupt only has to *wake* a WFI (standby / power-down CPU_SUSPEND,
 * SYSTEM_SUSPEND), which it does regardless of PSTATE masks; it is never taken (an idle CPU
 * acknowledges its SGIs through ICC_IAR1_EL1 instead). */
#include "rt.h"

#define GICD_CTLR 0x0000
#define GICD_CTLR_RWP (1u << 31)
#define GICR_WAKER 0x0014
#define GICR_TYPER 0x0008
#define GICR_STRIDE 0x20000
#define GICR_SGI 0x10000
#define GICR_IGROUPR0 0x0080
#define GICR_ISENABLER0 0x0100
#define GICR_ICPENDR0 0x0280
#define GICR_IPRIORITYR 0x0400

#define ICC_SRE_EL1 S3_0_C12_C12_5
#define ICC_PMR_EL1 S3_0_C4_C6_0
#define ICC_IGRPEN1_EL1 S3_0_C12_C12_7
#define ICC_IAR1_EL1 S3_0_C12_C12_0
#define ICC_EOIR1_EL1 S3_0_C12_C12_1
#define ICC_SGI1R_EL1 S3_0_C12_C11_5

static inline u32 rd32(u64 a) { return *(volatile u32 *)a; }
static inline void wr32(u64 a, u32 v) { *(volatile u32 *)a = v; }

static void wait_clear(u64 addr, u32 mask)
{
    for (unsigned i = 0; i < 1000000 && (rd32(addr) & mask); i++)
        rt_cpu_relax();
}

void gic_init_distributor(void)
{
    /* ARE (bit 4), EnableGrp1 (bit 1), EnableGrp0 (bit 0) for a single security state. */
    wr32(machine.gicd + GICD_CTLR, (1u << 4) | (1u << 1) | (1u << 0));
    wait_clear(machine.gicd + GICD_CTLR, GICD_CTLR_RWP);
}

/* This CPU's redistributor: the frame whose GICR_TYPER affinity matches MPIDR_EL1. */
static u64 my_redist(void)
{
    u64 mpidr = rt_read_sysreg(mpidr_el1);
    u32 aff = (u32)(((mpidr >> 32) & 0xff) << 24 | (mpidr & 0xffffff));
    u64 rd = machine.gicr;
    for (unsigned i = 0; i < 256; i++, rd += GICR_STRIDE) {
        u32 typer_lo = rd32(rd + GICR_TYPER), typer_hi = rd32(rd + GICR_TYPER + 4);
        if (typer_hi == aff)
            return rd;
        if (typer_lo & (1u << 4)) /* Last */
            break;
    }
    return 0;
}

void gic_init_cpu(void)
{
    u64 rd = my_redist();
    if (!rd) {
        tap_diag("cpu %d: no GICv3 redistributor matches MPIDR", rt_this_cpu());
        return;
    }
    wr32(rd + GICR_WAKER, rd32(rd + GICR_WAKER) & ~(1u << 1)); /* ProcessorSleep = 0 */
    wait_clear(rd + GICR_WAKER, 1u << 2);                       /* ChildrenAsleep */
    u64 sgi = rd + GICR_SGI;
    static const unsigned intids[] = {RT_VTIMER_INTID, RT_WAKE_SGI};
    for (unsigned i = 0; i < 2; i++) {
        unsigned id = intids[i];
        wr32(sgi + GICR_IGROUPR0, rd32(sgi + GICR_IGROUPR0) | (1u << id));
        u64 prio = sgi + GICR_IPRIORITYR + (id & ~3u);
        unsigned shift = 8 * (id & 3);
        wr32(prio, (rd32(prio) & ~(0xffu << shift)) | (0x80u << shift));
        wr32(sgi + GICR_ISENABLER0, 1u << id);
    }
    rt_write_sysreg(ICC_SRE_EL1, rt_read_sysreg(ICC_SRE_EL1) | 1);
    rt_isb();
    rt_write_sysreg(ICC_PMR_EL1, 0xff);
    rt_write_sysreg(ICC_IGRPEN1_EL1, 1);
    rt_isb();
}

void gic_send_wake(u64 mpidr)
{
    u64 aff0 = mpidr & 0xff;
    u64 v = (1ull << (aff0 & 15)) | (((mpidr >> 8) & 0xff) << 16) | ((u64)RT_WAKE_SGI << 24) |
            (((mpidr >> 16) & 0xff) << 32) | ((aff0 >> 4) << 44) | (((mpidr >> 32) & 0xff) << 48);
    rt_dsb();
    rt_write_sysreg(ICC_SGI1R_EL1, v);
    rt_isb();
}

void gic_ack_all(void)
{
    for (unsigned i = 0; i < 64; i++) {
        u64 id = rt_read_sysreg(ICC_IAR1_EL1) & 0xffffff;
        if (id >= 1020)
            return;
        rt_write_sysreg(ICC_EOIR1_EL1, id);
        rt_isb();
    }
}

void timer_arm_ms(u64 ms)
{
    rt_write_sysreg(cntv_ctl_el0, 0);
    rt_write_sysreg(cntv_cval_el0, rt_now() + rt_ms_to_ticks(ms));
    rt_write_sysreg(cntv_ctl_el0, 1); /* ENABLE, not masked */
    rt_isb();
}

bool timer_fired(void)
{
    rt_isb();
    return (rt_read_sysreg(cntv_ctl_el0) & 5) == 5; /* ENABLE and ISTATUS */
}

void timer_disarm(void)
{
    rt_write_sysreg(cntv_ctl_el0, 0);
    rt_isb();
    u64 rd = my_redist();
    if (rd)
        wr32(rd + GICR_SGI + GICR_ICPENDR0, 1u << RT_VTIMER_INTID);
    rt_dsb();
}
