/* psci_conformance.c — the guest-side PSCI conformance suite. Runs on the boot CPU, drives the
 * secondaries through per-CPU mailboxes, and checks every row of docs/psci.md for the configured
 * version from inside the guest, printing TAP on the UART. Expected values are computed from
 * the version and the mode (bootargs psci-mode=user|kernel, expect-version=X.Y, psci-options=),
 * with KVM's in-kernel behaviour encoded explicitly for kernel mode (psci-kvm.md §3.3): no
 * ON_PENDING, CPU_SUSPEND = WFI + SUCCESS (power-down returns like standby), no entry-point or
 * power_state validation, STAT/NODE_HW_STATE not offered. deny-cpus=LIST names the CPUs pscivm
 * refuses to power on (--deny-cpu-on). test=NAME selects a run; see
 * guest/README.md for the list (terminal ones end the VM through RESET2/OFF2). */
#include "rt.h"

#define TIMEOUT_MS 10000u       /* generous: nested KVM under QEMU TCG is slow */
#define CTX_MAGIC 0x5eed000000000000ull
#define PS_STANDBY 0x0u          /* original format: core standby */
#define PS_POWERDOWN (1u << 16)  /* core power-down; | level << 24 for cluster/system */

/* ---- configuration from the bootargs ------------------------------------------------------- */
enum { OPT_SUSPEND = 1, OPT_RESET2 = 2, OPT_OFF2 = 4, OPT_STAT = 8, OPT_NODE_HW = 16 };
static bool kmode;              /* psci-mode=kernel: KVM's in-kernel PSCI answers */
static u64 version;             /* expected PSCI version */
static unsigned opts;           /* optional functions pscivm offers (user mode) */
static int boot;                /* index of the boot CPU */
static bool denied[RT_MAX_CPUS];/* deny-cpus=: CPU_ON of these is refused by policy */

/* ---- mailboxes: one per CPU; the boot CPU writes cmd*, the CPU itself everything else -------
 *
 *   boot CPU                                   secondary (idle in WFI while done_seq == cmd_seq)
 *   cmd, a[] = ...; cmd_seq++; SGI  ------->   run cmd; ret = result; done_seq = cmd_seq
 *   wait until done_seq == cmd_seq  <-------
 *
 * Invariant (mbox_idle(), checked before every post): a command is only posted to a CPU whose
 * previous command is done, so cmd/a[] never change under a running command. CMD_OFF reports
 * done *before* calling CPU_OFF (which must not return); a secondary entering from CPU_ON
 * marks everything done, since nothing from an earlier life can still be pending. */
enum cmd { CMD_CALL = 1, CMD_OFF, CMD_RACE, CMD_POWERDOWN };
struct mbox {
    volatile u64 boots;                         /* times the CPU entered secondary_main */
    volatile u64 ctx, entry, daif, el, sctlr;   /* what the last CPU_ON delivered */
    volatile u64 racing;                        /* round the CPU is waiting to race in */
    volatile u64 done_seq, ret, off_returned;
    volatile u64 cmd_seq, cmd, a[4];
} __attribute__((aligned(64)));
static struct mbox mb[RT_MAX_CPUS];
static volatile u64 race_go;

void secondary_main(u64 context, u64 entry_id, u64 cpu)
{
    struct mbox *m = &mb[cpu];
    m->ctx = context;
    m->entry = entry_id;
    m->daif = rt_read_sysreg(daif);
    m->el = rt_read_sysreg(CurrentEL);
    m->sctlr = rt_read_sysreg(sctlr_el1);
    m->done_seq = rt_read_once(&m->cmd_seq); /* nothing from an earlier life is pending */
    gic_init_cpu();
    rt_write_once(&m->boots, m->boots + 1);
    for (;;) {
        u64 seq = rt_read_once(&m->cmd_seq);
        if (seq == m->done_seq) {
            /* Idle in WFI (not a WFE spin, which keeps the vCPU trapping and steals host CPU
             * from the boot CPU): the boot CPU sends the wake-up SGI after posting a command;
             * it stays pending until acknowledged, so a command posted just before the WFI
             * is not missed. */
            __asm__ volatile("dsb sy; wfi" ::: "memory");
            gic_ack_all();
            continue;
        }
        s64 r = 0;
        switch (m->cmd) {
        case CMD_CALL:
            r = psci_call(m->a[0], m->a[1], m->a[2], m->a[3]);
            break;
        case CMD_OFF:
            rt_write_once(&m->done_seq, seq);
            r = psci_call(PSCI_FN(FN_CPU_OFF), 0, 0, 0);
            rt_write_once(&m->off_returned, 1);
            break;
        case CMD_RACE:
            rt_write_once(&m->racing, m->a[3]);
            while (rt_read_once(&race_go) != m->a[3])
                rt_cpu_relax();
            r = psci_call(PSCI_FN64(FN_CPU_ON), m->a[0], m->a[1], m->a[2]);
            break;
        case CMD_POWERDOWN: /* a[0] = context id, a[1] = wake-up delay in ms */
            timer_arm_ms(m->a[1]);
            r = rt_suspend_call(&rt_resume_ctx[cpu], PSCI_FN64(FN_CPU_SUSPEND), PS_POWERDOWN,
                                (u64)resume_entry, m->a[0]);
            timer_disarm();
            gic_init_cpu(); /* pscivm re-initialises a vCPU that resumes from power-down */
            break;
        }
        m->ret = (u64)r;
        rt_write_once(&m->done_seq, seq);
    }
}

static bool wait_value(volatile u64 *p, u64 value, unsigned ms)
{
    u64 end = rt_now() + rt_ms_to_ticks(ms);
    while (rt_read_once(p) != value) {
        if (rt_now() > end)
            return false;
        rt_cpu_relax();
    }
    return true;
}

static bool mbox_idle(const struct mbox *m) { return m->done_seq == m->cmd_seq; }

/* Post a command to CPU i; with `wait`, wait for its completion and return its result. */
static bool cpu_cmd(int i, enum cmd cmd, u64 a0, u64 a1, u64 a2, u64 a3, bool wait, s64 *ret)
{
    struct mbox *m = &mb[i];
    if (!mbox_idle(m)) {
        tap_result(false, NULL, "cpu %d is still busy with command %lu: not posting %d", i,
                   (u64)m->cmd, cmd);
        return false;
    }
    m->cmd = cmd;
    m->a[0] = a0, m->a[1] = a1, m->a[2] = a2, m->a[3] = a3;
    u64 seq = m->cmd_seq + 1;
    rt_write_once(&m->cmd_seq, seq);
    gic_send_wake(machine.mpidr[i]);
    if (!wait)
        return true;
    if (!wait_value(&m->done_seq, seq, TIMEOUT_MS))
        return false;
    if (ret)
        *ret = (s64)rt_read_once(&m->ret);
    return true;
}

/* ---- expectations -------------------------------------------------------------------------- */
static const char *const fn_names[32] = {
    "PSCI_VERSION", "CPU_SUSPEND", "CPU_OFF", "CPU_ON", "AFFINITY_INFO", "MIGRATE",
    "MIGRATE_INFO_TYPE", "MIGRATE_INFO_UP_CPU", "SYSTEM_OFF", "SYSTEM_RESET", "PSCI_FEATURES",
    "CPU_FREEZE", "CPU_DEFAULT_SUSPEND", "NODE_HW_STATE", "SYSTEM_SUSPEND", "SET_SUSPEND_MODE",
    "PSCI_STAT_RESIDENCY", "PSCI_STAT_COUNT", "SYSTEM_RESET2", "MEM_PROTECT",
    "MEM_PROTECT_CHECK_RANGE", "SYSTEM_OFF2", "CLEAN_INV_MEMREGION",
    "CLEAN_INV_MEMREGION_ATTRIBUTES", "fn24", "fn25", "fn26", "fn27", "fn28", "fn29", "fn30",
    "fn31",
};

#define V02 0x2u
#define V10 0x10000u
#define V11 0x10001u
#define V12 0x10002u
#define V13 0x10003u

static u32 fn_since(unsigned n)
{
    if (n <= 9)
        return V02;
    if (n <= 17)
        return V10;
    if (n <= 20)
        return V11;
    return V13;
}

static bool fn_has64(unsigned n)
{
    static const u32 has64 = (1u << 1) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 7) |
                             (1u << 12) | (1u << 13) | (1u << 14) | (1u << 16) | (1u << 17) |
                             (1u << 18) | (1u << 20) | (1u << 21) | (1u << 22);
    return n < 32 && (has64 >> n) & 1;
}

static bool fn_has32(unsigned n) { return n <= 23 && n != FN_CLEAN_INV_MEMREGION; }

/* Is function n offered under this ID (SMC64 or SMC32) in this configuration? */
static bool offered(unsigned n, bool smc64)
{
    if (n > 23 || version < fn_since(n) || (smc64 ? !fn_has64(n) : !fn_has32(n)))
        return false;
    switch (n) {
    case FN_VERSION: case FN_CPU_SUSPEND: case FN_CPU_OFF: case FN_CPU_ON:
    case FN_AFFINITY_INFO: case FN_MIGRATE_INFO_TYPE: case FN_SYSTEM_OFF: case FN_SYSTEM_RESET:
    case FN_FEATURES:
        return true;
    case FN_SYSTEM_SUSPEND:      /* pscivm enables KVM_CAP_ARM_SYSTEM_SUSPEND in kernel mode */
        return kmode || (opts & OPT_SUSPEND);
    case FN_SYSTEM_RESET2:
        return kmode || (opts & OPT_RESET2);
    case FN_SYSTEM_OFF2:
        return kmode || (opts & OPT_OFF2);
    case FN_STAT_RESIDENCY: case FN_STAT_COUNT:
        return !kmode && (opts & OPT_STAT);
    case FN_NODE_HW_STATE:
        return !kmode && (opts & OPT_NODE_HW);
    default:                     /* MIGRATE, MIGRATE_INFO_UP_CPU, CPU_FREEZE, ... */
        return false;
    }
}

static s64 expected_features(unsigned n, bool smc64)
{
    if (!offered(n, smc64))
        return PSCI_NOT_SUPPORTED;
    if (n == FN_SYSTEM_OFF2)
        return 1;                /* HIBERNATE_OFF supported */
    return 0;                    /* CPU_SUSPEND: original format, platform-coordinated */
}

static u32 fid(unsigned n, bool smc64) { return smc64 ? PSCI_FN64(n) : PSCI_FN(n); }
static const char *conv(bool smc64) { return smc64 ? "SMC64" : "SMC32"; }
/* Entry-point errors: INVALID_ADDRESS from 1.0, INVALID_PARAMETERS in 0.2 (docs/psci.md). */
static s64 bad_entry_error(void) { return version >= V10 ? PSCI_INVALID_ADDRESS : PSCI_INVALID_PARAMS; }

#define GARBAGE 0xdeadbeef00000000ull

static u64 bad_entry(void) { return machine.ram_base + machine.ram_size + 0x1000; }
/* CPU_ON of a CPU the policy denies: DENIED from 1.2 (which added it to CPU_ON's returns);
 * below 1.2 the only fitting return is INTERNAL_FAILURE (psci.h, docs/psci.md). */
static s64 denied_error(void) { return version >= V12 ? PSCI_DENIED : PSCI_INTERNAL_FAILURE; }
/* A secondary the suite may power on (not the boot CPU, not denied). */
static bool may_start(unsigned i) { return (int)i != boot && !denied[i]; }
static bool aff3_zero(u64 mpidr) { return (mpidr >> 32) == 0; }

/* An MPIDR no CPU has (only Aff0 differs from CPU 0's). */
static u64 absent_mpidr(void)
{
    for (u64 aff0 = 0xff;; aff0--) {
        u64 cand = (machine.mpidr[0] & ~0xffull) | aff0;
        bool used = false;
        for (unsigned i = 0; i < machine.nr_cpus; i++)
            used |= machine.mpidr[i] == cand;
        if (!used)
            return cand;
    }
}

/* ---- CPU bring-up helpers ------------------------------------------------------------------ */
static bool cpu_is_on[RT_MAX_CPUS];

static bool wait_started(int i, u64 old_boots)
{
    return wait_value(&mb[i].boots, old_boots + 1, TIMEOUT_MS);
}

/* Expected AFFINITY_INFO at `level` for the affinity instance containing `mpidr`. */
static s64 expected_affinity(u64 mpidr, unsigned level)
{
    static const u64 masks[4] = {0xff00ffffffull, 0xff00ffff00ull, 0xff00ff0000ull, 0xff00000000ull};
    bool found = false;
    for (unsigned i = 0; i < machine.nr_cpus; i++) {
        if ((machine.mpidr[i] & masks[level]) != (mpidr & masks[level]))
            continue;
        found = true;
        if (cpu_is_on[i])
            return AFF_ON;
    }
    return found ? AFF_OFF : PSCI_INVALID_PARAMS;
}

/* Poll AFFINITY_INFO(level 0) of CPU i until it reports `want`; intermediate values must be in
 * `allowed_mask` (bit per AFF_* value). Returns the last value seen. */
static s64 poll_affinity(int i, s64 want, unsigned allowed_mask, bool *bad_intermediate)
{
    u64 end = rt_now() + rt_ms_to_ticks(TIMEOUT_MS);
    s64 r;
    *bad_intermediate = false;
    for (;;) {
        r = psci_call(PSCI_FN64(FN_AFFINITY_INFO), machine.mpidr[i], 0, 0);
        if (r == want || rt_now() > end)
            return r;
        if (r < 0 || r > 2 || !((allowed_mask >> r) & 1))
            *bad_intermediate = true;
        rt_delay_ms(1);
    }
}

/* CPU_ON CPU i (which must be off) with the given convention and check it starts where and how
 * it was asked to. `garbage` puts junk into the upper halves of SMC32 arguments. */
static bool start_cpu(int i, bool smc64, bool use_b, bool garbage)
{
    u64 ctx = smc64 ? CTX_MAGIC | 0x10000ull * (u64)i | 0x42 : 0xc0de0000u | (u32)i;
    u64 entry = (u64)(use_b ? secondary_entry_b : secondary_entry_a);
    u64 hi = garbage ? GARBAGE : 0;
    u64 old = rt_read_once(&mb[i].boots);
    s64 r = psci_call(fid(FN_CPU_ON, smc64), hi | machine.mpidr[i], hi | entry, hi | ctx);
    bool ok = tap_ret(r, PSCI_SUCCESS, "CPU_ON %s%s cpu %d (mpidr 0x%lx)", conv(smc64),
                      garbage ? " with garbage in the upper 32 bits of x1-x3" : "", i,
                      machine.mpidr[i]);
    if (!ok)
        return false;
    /* Right after SUCCESS: KVM's CPU_ON is synchronous (ON); pscivm's may still be pending. */
    s64 a = psci_call(PSCI_FN64(FN_AFFINITY_INFO), machine.mpidr[i], 0, 0);
    if (kmode)
        tap_ret(a, AFF_ON, "AFFINITY_INFO cpu %d right after CPU_ON is ON (kernel: synchronous)", i);
    else
        tap_result(a == AFF_ON || a == AFF_ON_PENDING, NULL,
                   "AFFINITY_INFO cpu %d right after CPU_ON is ON or ON_PENDING (got %ld)", i, a);
    if (!tap_result(wait_started(i, old), NULL, "cpu %d reached its entry point", i))
        return false;
    cpu_is_on[i] = true;
    tap_eq(mb[i].ctx, smc64 ? ctx : (u32)ctx, "cpu %d got its context id in x0%s", i,
           smc64 ? "" : " (low 32 bits only)");
    tap_eq(mb[i].entry, use_b ? 2 : 1, "cpu %d started at the requested entry point", i);
    tap_eq(mb[i].el, 1u << 2, "cpu %d started in EL1", i);
    tap_eq(mb[i].daif & 0x3c0, 0x3c0, "cpu %d started with D, A, I, F masked", i);
    tap_eq(mb[i].sctlr & 5, 0, "cpu %d started with MMU and data cache off", i);
    bool bad;
    s64 aff = poll_affinity(i, AFF_ON, kmode ? 0 : 1u << AFF_ON_PENDING, &bad);
    tap_result(aff == AFF_ON && !bad, NULL,
               "AFFINITY_INFO cpu %d is ON (0) once it runs%s (got %ld)", i,
               kmode ? "" : ", only ON_PENDING before", aff);
    return true;
}

static bool stop_cpu(int i)
{
    u64 seq = mb[i].cmd_seq + 1;
    rt_write_once(&mb[i].off_returned, 0);  /* boot CPU writes it only while i waits */
    cpu_cmd(i, CMD_OFF, 0, 0, 0, 0, false, NULL);
    if (!tap_result(wait_value(&mb[i].done_seq, seq, TIMEOUT_MS), NULL, "cpu %d took CPU_OFF", i))
        return false;
    bool bad;
    s64 aff = poll_affinity(i, AFF_OFF, 1u << AFF_ON, &bad);
    tap_ret(aff, AFF_OFF, "AFFINITY_INFO cpu %d is OFF after CPU_OFF", i);
    tap_result(!bad, NULL, "AFFINITY_INFO cpu %d was only ON on the way to OFF", i);
    rt_delay_ms(20);
    tap_eq(rt_read_once(&mb[i].off_returned), 0, "CPU_OFF on cpu %d did not return", i);
    cpu_is_on[i] = aff != AFF_OFF;
    return aff == AFF_OFF;
}

/* ---- test groups --------------------------------------------------------------------------- */
static void test_version(void)
{
    tap_result(machine.psci_hvc, NULL, "device tree psci node has method = \"hvc\"");
    s64 v = psci_call(PSCI_FN(FN_VERSION), 0, 0, 0);
    tap_eq((u64)v, version, "PSCI_VERSION is %lu.%lu", version >> 16, version & 0xffff);
    v = psci_call(GARBAGE | PSCI_FN(FN_VERSION), 0, 0, 0);
    tap_eq((u64)v, version, "function ID is W0: PSCI_VERSION with garbage in x0[63:32]");
    tap_ret(psci_call(PSCI_FN64(FN_VERSION), 0, 0, 0), PSCI_NOT_SUPPORTED,
            "PSCI_VERSION has no SMC64 ID (0xC4000000)");
    tap_ret(psci_call(PSCI_FN(FN_MIGRATE_INFO_TYPE), 0, 0, 0), 2,
            "MIGRATE_INFO_TYPE is 2 (no Trusted OS needing migration)");
}

static void test_features(void)
{
    if (version < V10) {
        tap_ret(psci_call(PSCI_FN(FN_FEATURES), PSCI_FN(FN_VERSION), 0, 0), PSCI_NOT_SUPPORTED,
                "PSCI_FEATURES is NOT_SUPPORTED in PSCI 0.2");
        return;
    }
    for (unsigned n = 0; n < 32; n++)
        for (int s = 0; s < 2; s++)
            tap_ret(psci_call(PSCI_FN(FN_FEATURES), fid(n, s), 0, 0), expected_features(n, s),
                    "PSCI_FEATURES(%s %s 0x%x)", fn_names[n], conv(s), fid(n, s));
    tap_ret(psci_call(PSCI_FN(FN_FEATURES), SMCCC_VERSION_FID, 0, 0), 0,
            "PSCI_FEATURES(SMCCC_VERSION) is 0");
    tap_ret(psci_call(PSCI_FN(FN_FEATURES), GARBAGE | PSCI_FN64(FN_CPU_ON), 0, 0), 0,
            "PSCI_FEATURES reads only W1 (garbage in x1[63:32])");
    tap_ret(psci_call(PSCI_FN(FN_FEATURES), 0x84000020u, 0, 0), PSCI_NOT_SUPPORTED,
            "PSCI_FEATURES(0x84000020, outside PSCI) is NOT_SUPPORTED");
    tap_eq((u64)psci_call(SMCCC_VERSION_FID, 0, 0, 0), 0x10001, "SMCCC_VERSION is 1.1");
}

/* x1..x3 after calls that return only x0. SMCCC lets an implementation either preserve them
 * or return a constant such as zero in them (docs/psci.md, "Argument and result registers"):
 * pscivm's user mode preserves them, KVM (kernel mode) zeroes them with smccc_set_retval(), and
 * QEMU's TCG PSCI preserves them. So either passes, register by register; any other value
 * (something leaked in) fails. The line says which was seen. Nothing else in this suite looks
 * at x1..x3 after a call. */
static void check_result_regs(const char *what, u64 f, u64 a1, u64 a2, u64 a3)
{
    const u64 a[4] = {f, a1, a2, a3};
    u64 r[4];
    psci_call_regs(f, a1, a2, a3, r);
    bool ok = true, kept = true, zero = true;
    for (int i = 1; i <= 3; i++) {
        ok = ok && (r[i] == a[i] || r[i] == 0);
        kept = kept && r[i] == a[i];
        zero = zero && r[i] == 0;
    }
    tap_result(ok, NULL, "x1..x3 after %s are as passed or zero (%s: 0x%lx 0x%lx 0x%lx)", what,
               kept ? "preserved" : zero ? "zeroed" : ok ? "some preserved, some zeroed" : "changed",
               r[1], r[2], r[3]);
}

static void test_result_registers(void)
{
    check_result_regs("PSCI_VERSION", PSCI_FN(FN_VERSION), GARBAGE | 1, GARBAGE | 2, GARBAGE | 3);
    if (version >= V10)
        check_result_regs("PSCI_FEATURES", PSCI_FN(FN_FEATURES), PSCI_FN(FN_VERSION),
                          GARBAGE | 2, GARBAGE | 3);
    check_result_regs("AFFINITY_INFO", PSCI_FN64(FN_AFFINITY_INFO), machine.mpidr[boot], 0,
                      GARBAGE | 3);
    check_result_regs("an unknown PSCI function", PSCI_FN(0x1f), GARBAGE | 1, GARBAGE | 2,
                      GARBAGE | 3);
}

/* Every function that is not offered answers NOT_SUPPORTED when called. The arguments are
 * chosen so that a wrongly offered function fails visibly with a different error instead of
 * acting. Functions whose wrongful success would end the run are left to test_dangerous(). */
static bool dangerous(unsigned n)
{
    return n == FN_CPU_OFF || n == FN_SYSTEM_OFF || n == FN_SYSTEM_RESET || n == FN_CPU_FREEZE;
}

static void call_not_offered(bool want_dangerous)
{
    for (unsigned n = 0; n < 32; n++) {
        if (dangerous(n) != want_dangerous)
            continue;
        for (int s = 0; s < 2; s++) {
            if (offered(n, s))
                continue;
            u64 a1 = 1, a2 = 1, a3 = 0; /* misaligned entry / reserved type / cookie 1 */
            if (n == FN_SYSTEM_OFF2)
                a1 = 2;
            tap_ret(psci_call(fid(n, s), a1, a2, a3), PSCI_NOT_SUPPORTED,
                    "%s %s (0x%x) not offered: call returns NOT_SUPPORTED", fn_names[n], conv(s),
                    fid(n, s));
        }
    }
}

static void test_unknown_ids(void)
{
    static const u32 ids[] = {
        0x84000020u, /* OEN 4 beyond PSCI's 0x00-0x1F */
        0xC4000020u, 0x82000000u, /* SiP */
        0x83000001u, /* OEM */
        0x04000000u, /* yielding call */
        1337u,       /* kvm-unit-tests' invalid function */
        0x95c1ba61u, /* KVM's PSCI 0.1 MIGRATE ID: not PSCI for a 0.2+ guest */
    };
    for (unsigned i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        tap_ret(psci_call(ids[i], 0, 0, 0), PSCI_NOT_SUPPORTED,
                "unknown function ID 0x%x returns NOT_SUPPORTED", ids[i]);
}

static void test_affinity_matrix(const char *when)
{
    for (unsigned i = 0; i < machine.nr_cpus; i++) {
        for (unsigned level = 0; level <= 3; level++) {
            bool smc64 = level & 1;
            tap_ret(psci_call(fid(FN_AFFINITY_INFO, smc64), machine.mpidr[i], level, 0),
                    expected_affinity(machine.mpidr[i], level),
                    "AFFINITY_INFO %s cpu %u level %u (%s)", conv(smc64), i, level, when);
        }
        if (aff3_zero(machine.mpidr[i]))
            tap_ret(psci_call(PSCI_FN(FN_AFFINITY_INFO), GARBAGE | machine.mpidr[i], GARBAGE, 0),
                    expected_affinity(machine.mpidr[i], 0),
                    "AFFINITY_INFO SMC32 cpu %u with garbage in x1/x2[63:32] (%s)", i, when);
    }
}

static void test_affinity_errors(void)
{
    u64 me = machine.mpidr[boot];
    tap_ret(psci_call(PSCI_FN64(FN_AFFINITY_INFO), me, 4, 0), PSCI_INVALID_PARAMS,
            "AFFINITY_INFO lowest level 4 is INVALID_PARAMETERS");
    tap_ret(psci_call(PSCI_FN64(FN_AFFINITY_INFO), me | (1ull << 24), 0, 0), PSCI_INVALID_PARAMS,
            "AFFINITY_INFO target with bit 24 set (outside Aff fields) is INVALID_PARAMETERS");
    tap_ret(psci_call(PSCI_FN64(FN_AFFINITY_INFO), absent_mpidr(), 0, 0), PSCI_INVALID_PARAMS,
            "AFFINITY_INFO of a non-existent MPIDR 0x%lx is INVALID_PARAMETERS", absent_mpidr());
    u64 far_cluster = (me & ~0xff00ull) | 0xfe00;
    tap_ret(psci_call(PSCI_FN64(FN_AFFINITY_INFO), far_cluster, 1, 0),
            expected_affinity(far_cluster, 1),
            "AFFINITY_INFO level 1 of a cluster with no CPU (0x%lx)", far_cluster);
}

static void test_cpu_on_errors(int off_cpu)
{
    u64 entry = (u64)secondary_entry_a;
    tap_ret(psci_call(PSCI_FN64(FN_CPU_ON), machine.mpidr[boot], entry, 0), PSCI_ALREADY_ON,
            "CPU_ON of the calling CPU is ALREADY_ON");
    tap_ret(psci_call(PSCI_FN64(FN_CPU_ON), absent_mpidr(), entry, 0), PSCI_INVALID_PARAMS,
            "CPU_ON of a non-existent MPIDR is INVALID_PARAMETERS");
    tap_ret(psci_call(PSCI_FN64(FN_CPU_ON), machine.mpidr[boot] | (1ull << 24), entry, 0),
            PSCI_INVALID_PARAMS, "CPU_ON target with bit 24 set is INVALID_PARAMETERS");
    tap_ret(psci_call(PSCI_FN64(FN_CPU_ON), machine.mpidr[boot] | (0x7full << 32), entry, 0),
            PSCI_INVALID_PARAMS, "CPU_ON target with an absent Aff3 is INVALID_PARAMETERS");
    if (off_cpu < 0 || kmode)
        return; /* kernel mode: see test_kernel_bad_entry(), run last */
    tap_ret(psci_call(PSCI_FN64(FN_CPU_ON), machine.mpidr[off_cpu], bad_entry(), 0),
            bad_entry_error(), "CPU_ON cpu %d with an entry point outside RAM", off_cpu);
    tap_ret(psci_call(PSCI_FN64(FN_CPU_ON), machine.mpidr[off_cpu], entry + 2, 0),
            bad_entry_error(), "CPU_ON cpu %d with a misaligned entry point", off_cpu);
    tap_ret(psci_call(PSCI_FN64(FN_AFFINITY_INFO), machine.mpidr[off_cpu], 0, 0), AFF_OFF,
            "cpu %d still OFF after the refused CPU_ONs", off_cpu);
}

/* deny-cpus=: CPU_ON of a denied CPU is refused whatever the convention and whoever else is
 * on, and the CPU stays OFF (it never runs: its boot count stays 0). */
static void test_cpu_on_denied(const char *when)
{
    for (unsigned i = 0; i < machine.nr_cpus; i++) {
        if (!denied[i])
            continue;
        for (int s = 1; s >= 0; s--)
            tap_ret(psci_call(fid(FN_CPU_ON, s), machine.mpidr[i], (u64)secondary_entry_a, 0x5),
                    denied_error(), "CPU_ON %s of denied cpu %u is %s (%s)", conv(s), i,
                    psci_ret_name(denied_error()), when);
        tap_ret(psci_call(PSCI_FN64(FN_AFFINITY_INFO), machine.mpidr[i], 0, 0), AFF_OFF,
                "AFFINITY_INFO of denied cpu %u is OFF after the refused CPU_ON (%s)", i, when);
        rt_delay_ms(20); /* a wrongly started CPU would have entered by now */
        tap_eq(rt_read_once(&mb[i].boots), 0, "denied cpu %u never started (%s)", i, when);
    }
}

static void test_cpu_on_all(void)
{
    unsigned k = 0;
    for (unsigned i = 0; i < machine.nr_cpus; i++) {
        if (!may_start(i))
            continue;
        /* Cycle through SMC64, SMC32, SMC32 with garbage upper halves. */
        unsigned variant = k++ % 3;
        if (start_cpu((int)i, variant == 0, variant == 1, variant == 2))
            tap_ret(psci_call(PSCI_FN64(FN_CPU_ON), machine.mpidr[i], (u64)secondary_entry_a, 0),
                    PSCI_ALREADY_ON, "CPU_ON of running cpu %u is ALREADY_ON", i);
    }
}

static void test_cpu_off_all(void)
{
    for (unsigned i = 0; i < machine.nr_cpus; i++)
        if ((int)i != boot && cpu_is_on[i])
            stop_cpu((int)i);
}

/* Several CPUs CPU_ON one target at once: exactly one SUCCESS; the others ALREADY_ON, or
 * ON_PENDING while the start is in flight (user mode only: KVM's CPU_ON is synchronous). The
 * target starts exactly once, with the winner's context id. */
static void test_cpu_on_race(void)
{
    int target = -1, startable = 0;
    for (unsigned i = 0; i < machine.nr_cpus; i++)
        if (may_start(i))
            target = (int)i, startable++;
    if (startable < 2) {
        tap_result(true, NULL, "CPU_ON race # SKIP needs 2 secondaries that may be powered on");
        return;
    }
    u64 entry = (u64)secondary_entry_a;
    for (u64 round = 1; round <= 4; round++) {
        if (cpu_is_on[target] && !stop_cpu(target))
            return;
        int racers[RT_MAX_CPUS], nr = 0;
        for (unsigned i = 0; i < machine.nr_cpus; i++)
            if ((int)i != boot && (int)i != target && cpu_is_on[i])
                racers[nr++] = (int)i;
        u64 go = rt_read_once(&race_go) + 1;
        for (int r = 0; r < nr; r++)
            cpu_cmd(racers[r], CMD_RACE, machine.mpidr[target], entry,
                    0xace00000u | (u32)(round << 8) | (u32)racers[r], go, false, NULL);
        bool ready = true;
        for (int r = 0; r < nr; r++)
            ready &= wait_value(&mb[racers[r]].racing, go, TIMEOUT_MS);
        u64 old = rt_read_once(&mb[target].boots);
        rt_write_once(&race_go, go);
        s64 mine = psci_call(PSCI_FN64(FN_CPU_ON), machine.mpidr[target], entry,
                             0xace00000u | (u32)(round << 8) | (u32)boot);
        unsigned success = 0, bad = 0;
        u64 winner_ctx = mine == PSCI_SUCCESS ? 0xace00000u | (u32)(round << 8) | (u32)boot : 0;
        char detail[96];
        int dl = rt_snprintf(detail, sizeof(detail), "cpu%d:%ld", boot, mine);
        success += mine == PSCI_SUCCESS;
        bad += mine != PSCI_SUCCESS && mine != PSCI_ALREADY_ON && (kmode || mine != PSCI_ON_PENDING);
        for (int r = 0; r < nr; r++) {
            struct mbox *m = &mb[racers[r]];
            s64 res = PSCI_INTERNAL_FAILURE;
            if (wait_value(&m->done_seq, m->cmd_seq, TIMEOUT_MS))
                res = (s64)rt_read_once(&m->ret);
            else
                ready = false;
            if (res == PSCI_SUCCESS)
                winner_ctx = 0xace00000u | (u32)(round << 8) | (u32)racers[r];
            success += res == PSCI_SUCCESS;
            bad += res != PSCI_SUCCESS && res != PSCI_ALREADY_ON && (kmode || res != PSCI_ON_PENDING);
            if (dl < (int)sizeof(detail))
                dl += rt_snprintf(detail + dl, sizeof(detail) - (size_t)dl, " cpu%d:%ld", racers[r], res);
        }
        tap_diag("race %lu results (cpu:return): %s", round, detail);
        tap_result(ready && success == 1 && bad == 0, detail,
                   "race %lu: %d CPUs CPU_ON cpu %d: one SUCCESS, the rest ALREADY_ON%s", round,
                   nr + 1, target, kmode ? "" : " or ON_PENDING");
        bool started = wait_started(target, old);
        tap_result(started, NULL, "race %lu: cpu %d started", round, target);
        if (started) {
            cpu_is_on[target] = true;
            rt_delay_ms(20);
            tap_eq(rt_read_once(&mb[target].boots), old + 1, "race %lu: cpu %d started exactly once", round, target);
            tap_eq(mb[target].ctx, winner_ctx, "race %lu: cpu %d got the winner's context id", round, target);
        }
    }
}

/* ---- suspend ------------------------------------------------------------------------------- */
#define STANDBY_TIMER_MS 100u
/* Calls allowed to cover STANDBY_TIMER_MS. User mode: pscivm holds the vCPU in
 * KVM_MP_STATE_SUSPENDED, which only an interrupt ends. Kernel mode: KVM's standby is a WFI that
 * also ends when the VMM kicks the vCPU thread out of KVM_RUN; pscivm does not kick a vCPU
 * blocked in KVM (an earlier backend did, ~1 ms after each hypercall: 11-51 calls measured).
 * Both measure 1 call. A standby that does not block at all needs ~1000 calls (one HVC round
 * trip is ~100 us in the nested lab, far less on hardware). */
#define STANDBY_MAX_CALLS 20u

/* Standby CPU_SUSPEND until the wake-up timer has fired. A standby may end early on any wake-up
 * event, spurious ones included (KVM implements it as WFI, and WFI may complete early), so the
 * call is repeated; an implementation that does not block at all needs far more calls to
 * cover STANDBY_TIMER_MS than STANDBY_MAX_CALLS allows. `hi` goes into x1-x3[63:32].
 * Returns SUCCESS or the first other result; *calls = calls made. */
static s64 standby_until_timer(u64 fid_, u64 hi, unsigned *calls)
{
    s64 r = PSCI_SUCCESS;
    *calls = 0;
    timer_arm_ms(STANDBY_TIMER_MS);
    while (r == PSCI_SUCCESS && !timer_fired() && *calls < 10000) {
        r = psci_call(fid_, hi | PS_STANDBY, hi, hi);
        (*calls)++;
    }
    timer_disarm();
    return r;
}

static void test_cpu_suspend(void)
{
    /* Standby: returns SUCCESS after the wake-up interrupt (both modes). */
    u64 stat0 = 0;
    if (offered(FN_STAT_COUNT, true))
        stat0 = (u64)psci_call(PSCI_FN64(FN_STAT_COUNT), machine.mpidr[boot], PS_STANDBY, 0);
    unsigned calls;
    s64 r = standby_until_timer(PSCI_FN64(FN_CPU_SUSPEND), 0, &calls);
    tap_ret(r, PSCI_SUCCESS, "CPU_SUSPEND SMC64 standby returns SUCCESS");
    tap_result(r == PSCI_SUCCESS && calls <= STANDBY_MAX_CALLS, NULL,
               "CPU_SUSPEND standby blocks until the wake-up timer (%u calls for %u ms, at most %u)",
               calls, STANDBY_TIMER_MS, STANDBY_MAX_CALLS);
    if (offered(FN_STAT_COUNT, true))
        tap_eq((u64)psci_call(PSCI_FN64(FN_STAT_COUNT), machine.mpidr[boot], PS_STANDBY, 0),
               stat0 + calls, "PSCI_STAT_COUNT(standby) counted each standby");

    r = standby_until_timer(PSCI_FN(FN_CPU_SUSPEND), GARBAGE, &calls);
    tap_result(r == PSCI_SUCCESS && calls <= STANDBY_MAX_CALLS, NULL,
               "CPU_SUSPEND SMC32 standby with garbage in x1-x3[63:32] returns SUCCESS and blocks (got %s, %u calls)",
               psci_ret_name(r), calls);

    /* Power-down at levels 0 (core), 1 (cluster), 2 (system): pscivm resumes at the entry point
     * with the context id (a deeper level than the others allow is demoted, still a power-down
     * for this core); KVM treats every power-down as standby and returns SUCCESS in place. */
    struct resume_ctx *rc = &rt_resume_ctx[boot];
    u64 ctx = CTX_MAGIC | 0xd0;
    for (u32 level = 0; level <= 2; level++) {
        u32 ps = PS_POWERDOWN | level << 24;
        timer_arm_ms(20);
        r = rt_suspend_call(rc, PSCI_FN64(FN_CPU_SUSPEND), ps, (u64)resume_entry, ctx + level);
        timer_disarm();
        gic_init_cpu(); /* pscivm re-initialises the vCPU on resume */
        if (kmode) {
            tap_result(r == PSCI_SUCCESS && !rc->resumed, NULL,
                       "CPU_SUSPEND power-down 0x%x returns SUCCESS like standby (kernel: WFI) (got %ld, resumed %lu)",
                       ps, r, rc->resumed);
            continue;
        }
        tap_result(rc->resumed, NULL, "CPU_SUSPEND power-down 0x%x resumed at the entry point (returned %ld)",
                   ps, r);
        if (rc->resumed) {
            tap_eq(rc->got_ctx, ctx + level, "power-down 0x%x resume: x0 = context id", ps);
            tap_eq(rc->got_el, 1u << 2, "power-down 0x%x resume: EL1", ps);
            tap_eq(rc->got_daif & 0x3c0, 0x3c0, "power-down 0x%x resume: D, A, I, F masked", ps);
            tap_eq(rc->got_sctlr & 5, 0, "power-down 0x%x resume: MMU and data cache off", ps);
        }
    }
    if (offered(FN_STAT_COUNT, true)) {
        tap_eq((u64)psci_call(PSCI_FN(FN_STAT_COUNT), machine.mpidr[boot], PS_POWERDOWN, 0), 1,
               "PSCI_STAT_COUNT(core power-down) is 1");
        tap_result(psci_call(PSCI_FN64(FN_STAT_RESIDENCY), machine.mpidr[boot], PS_POWERDOWN, 0) > 0,
                   NULL, "PSCI_STAT_RESIDENCY(core power-down) is > 0 us");
        tap_eq((u64)psci_call(PSCI_FN64(FN_STAT_COUNT), absent_mpidr(), PS_STANDBY, 0), 0,
               "PSCI_STAT_COUNT of a non-existent MPIDR is 0");
        tap_eq((u64)psci_call(PSCI_FN64(FN_STAT_RESIDENCY), machine.mpidr[boot], 1u << 20, 0), 0,
               "PSCI_STAT_RESIDENCY of an invalid power_state is 0");
    }

    /* Invalid power_state / entry: pscivm validates; KVM never does (WFI + SUCCESS). */
    static const struct { u32 ps; const char *what; } bad_states[] = {
        {1u << 20, "reserved bit 20"},
        {0x1u, "standby StateID 1 (only StateID 0 is defined)"},
        {1u << 24, "standby at power level 1"},
        {PS_POWERDOWN | (3u << 24), "power-down at power level 3"},
    };
    for (unsigned i = 0; i < sizeof(bad_states) / sizeof(bad_states[0]); i++) {
        timer_arm_ms(20);
        r = rt_suspend_call(rc, PSCI_FN64(FN_CPU_SUSPEND), bad_states[i].ps, (u64)resume_entry, ctx);
        timer_disarm();
        gic_init_cpu();
        tap_ret(r, kmode ? PSCI_SUCCESS : PSCI_INVALID_PARAMS,
                "CPU_SUSPEND power_state 0x%x (%s)%s", bad_states[i].ps, bad_states[i].what,
                kmode ? ": KVM does not validate (WFI, SUCCESS)" : "");
    }
    timer_arm_ms(20);
    r = rt_suspend_call(rc, PSCI_FN64(FN_CPU_SUSPEND), PS_POWERDOWN, bad_entry(), ctx);
    timer_disarm();
    gic_init_cpu();
    tap_ret(r, kmode ? PSCI_SUCCESS : bad_entry_error(),
            "CPU_SUSPEND power-down with an entry point outside RAM%s",
            kmode ? ": KVM ignores the entry point (WFI, SUCCESS)" : "");
}

/* Power-down CPU_SUSPEND on a secondary, woken by its own timer; while it is suspended
 * AFFINITY_INFO still reports it ON (a suspended core is logically on — true at every moment
 * of the call, so the check is deterministic). */
static void test_secondary_powerdown(void)
{
    for (unsigned i = 0; i < machine.nr_cpus; i++) {
        if ((int)i == boot || !cpu_is_on[i])
            continue;
        u64 ctx = CTX_MAGIC | 0xd100 | i;
        struct mbox *m = &mb[i];
        cpu_cmd((int)i, CMD_POWERDOWN, ctx, 100, 0, 0, false, NULL);
        rt_delay_ms(30);
        tap_ret(psci_call(PSCI_FN64(FN_AFFINITY_INFO), machine.mpidr[i], 0, 0), AFF_ON,
                "AFFINITY_INFO of cpu %u during its power-down CPU_SUSPEND is ON", i);
        bool done = wait_value(&m->done_seq, m->cmd_seq, TIMEOUT_MS);
        struct resume_ctx *rc = &rt_resume_ctx[i];
        s64 r = (s64)rt_read_once(&m->ret);
        u64 resumed = rt_read_once(&rc->resumed);
        if (kmode)
            tap_result(done && r == PSCI_SUCCESS && !resumed, NULL,
                       "cpu %u power-down CPU_SUSPEND returns SUCCESS in place (kernel: WFI)", i);
        else
            tap_result(done && resumed && rt_read_once(&rc->got_ctx) == ctx, NULL,
                       "cpu %u power-down CPU_SUSPEND resumed at the entry point with its context id (done %d, resumed %lu, x0 0x%lx)",
                       i, done, resumed, rt_read_once(&rc->got_ctx));
        break; /* one secondary is enough */
    }
}

/* Calls made by a secondary: CPU_ON of the boot CPU is ALREADY_ON; SYSTEM_SUSPEND is DENIED
 * (the boot CPU is on). Its entry is a CPU_ON entry, so a wrongly accepted suspend would show
 * up as a fresh boot instead of crashing. */
static void test_calls_from_secondary(void)
{
    int c = -1;
    for (unsigned i = 0; i < machine.nr_cpus && c < 0; i++)
        if ((int)i != boot && cpu_is_on[i])
            c = (int)i;
    if (c < 0)
        return;
    s64 r = PSCI_INTERNAL_FAILURE;
    bool done = cpu_cmd(c, CMD_CALL, PSCI_FN64(FN_CPU_ON), machine.mpidr[boot],
                        (u64)secondary_entry_a, 0, true, &r);
    tap_result(done && r == PSCI_ALREADY_ON, NULL, "cpu %d: CPU_ON of the boot CPU is ALREADY_ON (got %s)",
               c, psci_ret_name(r));
    for (unsigned i = 0; i < machine.nr_cpus; i++) {
        if (!denied[i])
            continue;
        r = PSCI_SUCCESS;
        done = cpu_cmd(c, CMD_CALL, PSCI_FN64(FN_CPU_ON), machine.mpidr[i],
                       (u64)secondary_entry_a, 0, true, &r);
        tap_result(done && r == denied_error(), NULL, "cpu %d: CPU_ON of denied cpu %u is %s (got %s)",
                   c, i, psci_ret_name(denied_error()), psci_ret_name(r));
    }
    if (!offered(FN_SYSTEM_SUSPEND, true))
        return;
    u64 old = rt_read_once(&mb[c].boots);
    timer_arm_ms(50); /* the boot CPU's timer: wakes nobody but costs nothing */
    done = cpu_cmd(c, CMD_CALL, PSCI_FN64(FN_SYSTEM_SUSPEND), (u64)secondary_entry_b, 0x77, 0,
                   true, &r);
    timer_disarm();
    tap_result(done && r == PSCI_DENIED && rt_read_once(&mb[c].boots) == old, NULL,
               "cpu %d: SYSTEM_SUSPEND while the boot CPU is on is DENIED (got %s)", c,
               psci_ret_name(r));
}

static void test_system_suspend_denied(void)
{
    if (!offered(FN_SYSTEM_SUSPEND, true))
        return; /* NOT_SUPPORTED is checked by call_not_offered() */
    bool others_on = false;
    for (unsigned i = 0; i < machine.nr_cpus; i++)
        others_on |= (int)i != boot && cpu_is_on[i];
    if (!others_on)
        return; /* nothing to deny it: it would really suspend */
    struct resume_ctx *rc = &rt_resume_ctx[boot];
    for (int s = 1; s >= 0; s--) {
        u64 hi = s ? 0 : GARBAGE;
        timer_arm_ms(20);
        s64 r = rt_suspend_call(rc, fid(FN_SYSTEM_SUSPEND, s), hi | (u64)resume_entry,
                                hi | 0x5u, 0);
        timer_disarm();
        gic_init_cpu();
        tap_result(r == PSCI_DENIED && !rc->resumed, NULL,
                   "SYSTEM_SUSPEND %s%s while other CPUs are on is DENIED (got %s, resumed %lu)",
                   conv(s), s ? "" : " with garbage in x1/x2[63:32]", psci_ret_name(r), rc->resumed);
    }
}

static void test_system_suspend_bad_entry(void)
{
    if (!offered(FN_SYSTEM_SUSPEND, true) || kmode)
        return; /* kernel mode: what pscivm does with a bad entry is its own policy */
    timer_arm_ms(20);
    s64 r = rt_suspend_call(&rt_resume_ctx[boot], PSCI_FN64(FN_SYSTEM_SUSPEND), bad_entry(), 0, 0);
    timer_disarm();
    gic_init_cpu();
    tap_ret(r, bad_entry_error(), "SYSTEM_SUSPEND with an entry point outside RAM (others off)");
}

/* ---- system functions (non-terminal checks only) ----------------------------------------- */
static void test_reset2_off2(void)
{
    if (offered(FN_SYSTEM_RESET2, true)) {
        static const u32 types[] = {1, 2, 0x7fffffffu};
        for (unsigned i = 0; i < 3; i++)
            for (int s = 0; s < 2; s++)
                tap_ret(psci_call(fid(FN_SYSTEM_RESET2, s), types[i], 0, 0), PSCI_INVALID_PARAMS,
                        "SYSTEM_RESET2 %s reserved architectural type 0x%x", conv(s), types[i]);
        tap_ret(psci_call(PSCI_FN(FN_SYSTEM_RESET2), GARBAGE | 1, GARBAGE, 0), PSCI_INVALID_PARAMS,
                "SYSTEM_RESET2 SMC32 type 1 with garbage in x1/x2[63:32] is INVALID_PARAMETERS");
    }
    if (offered(FN_SYSTEM_OFF2, true)) {
        static const struct { u32 type; u64 cookie; } bad[] = {
            {2, 0}, {0x80000001u, 0}, {1, 1}, {0, 1}, {1, 0x100000000ull},
        };
        for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            if (bad[i].cookie >> 32)
                tap_ret(psci_call(PSCI_FN64(FN_SYSTEM_OFF2), bad[i].type, bad[i].cookie, 0),
                        PSCI_INVALID_PARAMS, "SYSTEM_OFF2 SMC64 type %u cookie 0x%lx", bad[i].type,
                        bad[i].cookie);
            else
                for (int s = 0; s < 2; s++)
                    tap_ret(psci_call(fid(FN_SYSTEM_OFF2, s), bad[i].type, bad[i].cookie, 0),
                            PSCI_INVALID_PARAMS, "SYSTEM_OFF2 %s type 0x%x cookie %lu", conv(s),
                            bad[i].type, bad[i].cookie);
        }
        tap_ret(psci_call(PSCI_FN(FN_SYSTEM_OFF2), GARBAGE | 2, GARBAGE, 0), PSCI_INVALID_PARAMS,
                "SYSTEM_OFF2 SMC32 type 2 with garbage in x1/x2[63:32] is INVALID_PARAMETERS");
        tap_ret(psci_call(PSCI_FN(FN_SYSTEM_OFF2), GARBAGE | 1, GARBAGE | 1, 0), PSCI_INVALID_PARAMS,
                "SYSTEM_OFF2 SMC32 cookie 1 with garbage in x2[63:32] is INVALID_PARAMETERS");
    }
}

static void test_node_hw_state(void)
{
    if (!offered(FN_NODE_HW_STATE, true))
        return;
    tap_ret(psci_call(PSCI_FN64(FN_NODE_HW_STATE), machine.mpidr[boot], 0, 0), 0,
            "NODE_HW_STATE of the calling CPU is HW_ON");
    for (unsigned i = 0; i < machine.nr_cpus; i++)
        if ((int)i != boot)
            tap_ret(psci_call(PSCI_FN(FN_NODE_HW_STATE), machine.mpidr[i], 0, 0),
                    cpu_is_on[i] ? 0 : 1, "NODE_HW_STATE cpu %u level 0", i);
    tap_ret(psci_call(PSCI_FN64(FN_NODE_HW_STATE), absent_mpidr(), 0, 0), PSCI_INVALID_PARAMS,
            "NODE_HW_STATE of a non-existent MPIDR is INVALID_PARAMETERS");
}

/* Kernel mode: KVM does not validate CPU_ON's entry point, so CPU_ON with an entry outside RAM
 * returns SUCCESS and the target is lost (it faults forever with VBAR_EL1 = 0). Run last; the
 * final SYSTEM_OFF stops it. */
static void test_kernel_bad_entry(int off_cpu)
{
    if (!kmode || off_cpu < 0)
        return;
    tap_ret(psci_call(PSCI_FN64(FN_CPU_ON), machine.mpidr[off_cpu], bad_entry(), 0), PSCI_SUCCESS,
            "CPU_ON cpu %d with an entry point outside RAM: KVM does not validate (SUCCESS)", off_cpu);
    tap_ret(psci_call(PSCI_FN64(FN_AFFINITY_INFO), machine.mpidr[off_cpu], 0, 0), AFF_ON,
            "AFFINITY_INFO cpu %d is ON after the unvalidated CPU_ON", off_cpu);
}

/* ---- terminal / special selections ---------------------------------------------------------- */
static void run_terminal(const char *name, u64 f, u64 a1, u64 a2)
{
    tap_diag("%s: calling 0x%lx(0x%lx, 0x%lx); the VM must end now", name, f, a1, a2);
    s64 r = psci_call(f, a1, a2, 0);
    tap_result(false, NULL, "%s returned %s (%ld) instead of ending the VM", name, psci_ret_name(r), r);
}

static void run_system_suspend(void)
{
    tap_ret(psci_call(PSCI_FN(FN_FEATURES), PSCI_FN64(FN_SYSTEM_SUSPEND), 0, 0), 0,
            "PSCI_FEATURES(SYSTEM_SUSPEND SMC64) is 0");
    struct resume_ctx *rc = &rt_resume_ctx[boot];
    u64 ctx = CTX_MAGIC | 0x5505;
    bool deny = rt_bootarg_is("expect-suspend", "deny");
    u64 t0 = rt_now();
    timer_arm_ms(50);
    s64 r = rt_suspend_call(rc, PSCI_FN64(FN_SYSTEM_SUSPEND), (u64)resume_entry, ctx, 0);
    u64 elapsed_ms = rt_ticks_to_ns(rt_now() - t0) / 1000000;
    timer_disarm();
    gic_init_cpu();
    if (deny) {
        tap_result(r == PSCI_DENIED && !rc->resumed, NULL,
                   "SYSTEM_SUSPEND refused by policy: DENIED (got %s, resumed %lu)", psci_ret_name(r),
                   rc->resumed);
        return;
    }
    tap_result(rc->resumed, NULL, "SYSTEM_SUSPEND resumed at the entry point (returned %s)",
               rc->resumed ? "-" : psci_ret_name(r));
    if (!rc->resumed)
        return;
    tap_eq(rc->got_ctx, ctx, "SYSTEM_SUSPEND resume: x0 = context id");
    tap_eq(rc->got_el, 1u << 2, "SYSTEM_SUSPEND resume: EL1");
    tap_eq(rc->got_daif & 0x3c0, 0x3c0, "SYSTEM_SUSPEND resume: D, A, I, F masked");
    tap_eq(rc->got_sctlr & 5, 0, "SYSTEM_SUSPEND resume: MMU and data cache off");
    tap_result(elapsed_ms + 5 >= 50, NULL, "SYSTEM_SUSPEND lasted until the wake-up timer (%lu ms)",
               elapsed_ms);
    tap_ret(psci_call(PSCI_FN64(FN_AFFINITY_INFO), machine.mpidr[boot], 0, 0), AFF_ON,
            "the resumed CPU is ON");
}

/* ---- main ---------------------------------------------------------------------------------- */
static void parse_config(void)
{
    size_t len;
    const char *v;
    kmode = rt_bootarg_is("psci-mode", "kernel");
    version = (u64)psci_call(PSCI_FN(FN_VERSION), 0, 0, 0);
    if ((v = rt_bootarg("expect-version", &len))) {
        if (len == 3 && v[1] == '.' && v[0] >= '0' && v[0] <= '9' && v[2] >= '0' && v[2] <= '9')
            version = ((u64)(v[0] - '0') << 16) | (u64)(v[2] - '0');
        else
            tap_diag("bad expect-version; expecting what PSCI_VERSION reports");
    }
    opts = OPT_SUSPEND | OPT_RESET2 | OPT_OFF2 | OPT_STAT | OPT_NODE_HW;
    if ((v = rt_bootarg("psci-options", &len))) {
        static const struct { const char *name; unsigned bit; } names[] = {
            {"system-suspend", OPT_SUSPEND}, {"system-reset2", OPT_RESET2},
            {"system-off2", OPT_OFF2}, {"stat", OPT_STAT}, {"node-hw-state", OPT_NODE_HW},
            {"all", OPT_SUSPEND | OPT_RESET2 | OPT_OFF2 | OPT_STAT | OPT_NODE_HW}, {"none", 0},
        };
        opts = 0;
        for (size_t i = 0; i < len;) {
            size_t j = i;
            while (j < len && v[j] != ',')
                j++;
            bool known = false;
            for (unsigned k = 0; k < sizeof(names) / sizeof(names[0]); k++)
                if (strlen(names[k].name) == j - i && !strncmp(names[k].name, v + i, j - i))
                    opts |= names[k].bit, known = true;
            if (!known)
                tap_diag("unknown psci-options entry ignored");
            i = j + 1;
        }
    }
    if ((v = rt_bootarg("deny-cpus", &len))) {
        for (size_t i = 0; i < len;) {
            size_t j = i;
            unsigned n = 0;
            while (j < len && v[j] >= '0' && v[j] <= '9' && n < 1000)
                n = n * 10 + (unsigned)(v[j++] - '0');
            bool good = j > i && (j == len || v[j] == ',') && n < machine.nr_cpus && (int)n != boot;
            if (!good) { /* a wrong list would silently test the wrong thing: fail visibly */
                tap_result(false, NULL, "deny-cpus: entry at offset %lu is not a secondary CPU "
                           "index below %u", (u64)i, machine.nr_cpus);
                break;
            }
            denied[n] = true;
            i = j + 1;
        }
    }
    tap_diag("pscivm PSCI conformance: mode %s, expected PSCI %lu.%lu, %u CPUs, boot cpu %d",
             kmode ? "kernel" : "user", version >> 16, version & 0xffff, machine.nr_cpus, boot);
    tap_diag("bootargs: %s", machine.bootargs);
}

/* Each group is announced with the guest time it starts at, so slow hosts can be diagnosed. */
#define GROUP(call)                                                                         \
    do {                                                                                    \
        tap_diag("t=%lu ms: %s", rt_ticks_to_ns(rt_now() - t0) / 1000000, #call);            \
        call;                                                                               \
    } while (0)

static void run_all(void)
{
    int off_cpu = -1; /* a secondary that is off and may be started */
    for (unsigned i = 0; i < machine.nr_cpus && off_cpu < 0; i++)
        if (may_start(i))
            off_cpu = (int)i;
    u64 t0 = rt_now();
    GROUP(test_version());
    GROUP(test_features());
    GROUP(test_result_registers());
    GROUP(test_unknown_ids());
    GROUP(call_not_offered(false));
    GROUP(test_affinity_matrix("secondaries off"));
    GROUP(test_affinity_errors());
    GROUP(test_cpu_on_errors(off_cpu));
    GROUP(test_system_suspend_bad_entry());
    GROUP(test_node_hw_state());
    GROUP(test_cpu_suspend());
    GROUP(test_cpu_on_denied("secondaries off"));
    GROUP(test_cpu_on_all());
    GROUP(test_cpu_on_denied("others on"));
    GROUP(test_affinity_matrix("all CPUs on"));
    GROUP(test_node_hw_state());
    GROUP(test_secondary_powerdown());
    GROUP(test_system_suspend_denied());
    GROUP(test_calls_from_secondary());
    GROUP(test_reset2_off2());
    GROUP(test_cpu_on_race());
    GROUP(test_cpu_off_all());
    GROUP(test_affinity_matrix("secondaries off again"));
    GROUP(call_not_offered(true));
    GROUP(test_kernel_bad_entry(off_cpu));
    tap_diag("t=%lu ms: done", rt_ticks_to_ns(rt_now() - t0) / 1000000);
}

void payload_main(void)
{
    boot = rt_this_cpu();
    if (boot < 0) {
        tap_result(false, NULL, "boot CPU's MPIDR 0x%lx is listed in /cpus",
                   rt_read_sysreg(mpidr_el1));
        return;
    }
    cpu_is_on[boot] = true;
    parse_config();
    gic_init_distributor();
    gic_init_cpu();

    size_t len;
    const char *t = rt_bootarg("test", &len);
    char name[32] = "all";
    if (t && len < sizeof(name)) {
        memcpy(name, t, len);
        name[len] = 0;
    }
    if (!strcmp(name, "all"))
        run_all();
    else if (!strcmp(name, "system-suspend"))
        run_system_suspend();
    else if (!strcmp(name, "reset2-warm"))
        run_terminal(name, PSCI_FN64(FN_SYSTEM_RESET2), 0, 0);
    else if (!strcmp(name, "reset2-vendor"))
        run_terminal(name, PSCI_FN64(FN_SYSTEM_RESET2), 0x80001234u, 0xc00c1e);
    else if (!strcmp(name, "reset2-smc32"))
        run_terminal(name, PSCI_FN(FN_SYSTEM_RESET2), GARBAGE, GARBAGE | 0x1234);
    else if (!strcmp(name, "system-reset"))
        run_terminal(name, PSCI_FN(FN_SYSTEM_RESET), 0, 0);
    else if (!strcmp(name, "off2-hibernate"))
        run_terminal(name, PSCI_FN64(FN_SYSTEM_OFF2), 1, 0);
    else if (!strcmp(name, "off2-zero"))
        run_terminal(name, PSCI_FN(FN_SYSTEM_OFF2), 0, 0);
    else if (!strcmp(name, "off2-smc32"))
        run_terminal(name, PSCI_FN(FN_SYSTEM_OFF2), GARBAGE | 1, GARBAGE);
    else if (!strcmp(name, "system-off"))
        psci_system_off();
    else
        tap_result(false, NULL, "unknown test selection test=%s", name);
}
