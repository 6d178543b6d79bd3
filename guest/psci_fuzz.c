/* psci_fuzz.c — guest-driven PSCI fuzzing (issue 12): every vCPU that is on makes random PSCI
 * calls (random function IDs with the valid ones weighted up, random x1–x3, random upper halves
 * for SMC32), interleaved with CPU_ON storms (any CPU powers on any other), CPU_OFF of itself,
 * power-down and standby CPU_SUSPEND, SYSTEM_SUSPEND attempts, and MMIO writes to the devices and
 * to unmapped addresses, until `calls=N` calls have been made in total (default 100000). Then
 * everybody stops and the boot CPU checks its own bookkeeping against PSCI:
 *
 *   - every CPU_ON that returned SUCCESS started its target exactly once (starts == successes);
 *   - a CPU is on iff it started more often than it called CPU_OFF (never by more than one),
 *     and AFFINITY_INFO(level 0) says ON for exactly those and OFF for the others;
 *   - no call returned what PSCI does not allow (see check_result()), no terminal call happened
 *     (the payload never lets one through: SYSTEM_OFF/RESET become PSCI_FEATURES of themselves,
 *     RESET2 and OFF2 get reserved types), and every suspend came back to its resume point.
 *
 * TAP on the UART, a last line `# psci-fuzz verdict: PASS|FAIL calls=... ...`, then SYSTEM_OFF
 * (exit 0: the lab checks the verdict and pscivm's exit status). Needs user PSCI mode (pscivm's
 * core; KVM's in-kernel PSCI treats every CPU_SUSPEND as a WFI) and is written for
 * `--on-suspend deny` (a SYSTEM_SUSPEND that is accepted also resumes correctly: the timer is
 * armed). Bootargs: calls=N, seed=S; mmio=off leaves the MMIO out (for plain QEMU, which
 * aborts accesses to unmapped addresses where pscivm ignores them).
 * Only the boot CPU prints; the others report through single-writer mailbox words (MMU off:
 * no atomics, see rt.h). */
#include "rt.h"
#include "vmm/memmap.h"

#define PS_POWERDOWN (1u << 16)
#define TIMEOUT_MS 10000
#define MAX_ERRORS 8

enum phase { PHASE_RUN = 0, PHASE_STOP = 1 };

/* Per-CPU mailbox. Every word is written by the CPU it belongs to only (the boot CPU reads). */
struct cpu_book {
    volatile u64 starts;                    /* entries into secondary_main (boot CPU: 1) */
    volatile u64 offs;                      /* CPU_OFF calls made (none returned) */
    volatile u64 calls;                     /* HVCs made */
    volatile u64 on_success[RT_MAX_CPUS];   /* CPU_ON SUCCESS this CPU got, per target */
    volatile u64 suspends, resumes;         /* power-down CPU_SUSPEND / SYSTEM_SUSPEND */
    volatile u64 mmio;                      /* MMIO accesses */
    volatile u64 errors;
    volatile u64 err_fid[MAX_ERRORS], err_a1[MAX_ERRORS], err_ret[MAX_ERRORS],
        err_what[MAX_ERRORS];
    volatile u64 stopped;                   /* == starts once it saw PHASE_STOP */
    u64 rng;
} __attribute__((aligned(64)));

static struct cpu_book book[RT_MAX_CPUS];
static volatile u64 phase;
static u64 target_calls = 100000;
static u64 seed = 0x5eed;
static bool mmio_on = true;                 /* mmio=off: plain QEMU aborts unmapped accesses */
static s64 version;
static int boot_cpu;
static u64 fn_calls[32];                    /* boot CPU only: per PSCI function number */

enum what { W_BAD_RESULT = 1, W_VERSION, W_OFF_RETURNED, W_BAD_ENTRY_STARTED, W_UNKNOWN_TARGET,
            W_RESET2, W_OFF2, W_SELF_ON };
static const char *const what_names[] = {
    "?", "result outside PSCI's return codes", "PSCI_VERSION changed", "CPU_OFF returned",
    "CPU_ON SUCCESS with an invalid entry point", "CPU_ON SUCCESS for a CPU not in the DT",
    "SYSTEM_RESET2 with a reserved type not refused", "SYSTEM_OFF2 with a reserved type not "
    "refused", "CPU_ON of the caller itself not ALREADY_ON",
};

/* ---- randomness: xorshift64*, one generator per CPU ------------------------------------------- */
static u64 rnd(struct cpu_book *b)
{
    u64 x = b->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}
static u64 below(struct cpu_book *b, u64 n) { return rnd(b) % n; }

static void record(struct cpu_book *b, enum what what, u64 fid, u64 a1, s64 ret)
{
    u64 n = b->errors;
    if (n < MAX_ERRORS) {
        b->err_fid[n] = fid;
        b->err_a1[n] = a1;
        b->err_ret[n] = (u64)ret;
        b->err_what[n] = what;
    }
    rt_write_once(&b->errors, n + 1);
}

static int cpu_of_mpidr(u64 mpidr)
{
    for (unsigned i = 0; i < machine.nr_cpus; i++)
        if (machine.mpidr[i] == (mpidr & RT_MPIDR_MASK))
            return (int)i;
    return -1;
}

static bool is_smc64(u64 fid) { return (fid & 0x40000000u) != 0; }
/* A PSCI function number when W0 is in one of PSCI's ranges, else -1. */
static int psci_fn(u64 fid)
{
    u32 w = (u32)fid;
    if ((w & ~0x1fu) == 0x84000000u || (w & ~0x1fu) == 0xC4000000u)
        return (int)(w & 0x1f);
    return -1;
}

static s64 call(struct cpu_book *b, u64 fid, u64 a1, u64 a2, u64 a3)
{
    rt_write_once(&b->calls, b->calls + 1);
    return psci_call(fid, a1, a2, a3);
}

/* A call that may power the CPU down (it then resumes at resume_entry) or block until an
 * interrupt: the CPU's virtual timer is armed first, so it always comes back. */
static s64 suspend_call(struct cpu_book *b, int cpu, u64 fid, u64 a1, u64 a2, u64 a3)
{
    rt_write_once(&b->calls, b->calls + 1);
    timer_arm_ms(1 + below(b, 3));
    s64 r = rt_suspend_call(&rt_resume_ctx[cpu], fid, a1, a2, a3);
    bool resumed = rt_resume_ctx[cpu].resumed;
    timer_disarm();
    if (resumed) {
        gic_init_cpu(); /* pscivm re-initialises a vCPU that resumes from power-down */
        rt_write_once(&b->resumes, b->resumes + 1);
    }
    gic_ack_all();
    return r;
}

/* Results PSCI allows: a PSCI error code, or a non-negative value (versions, states, counts). */
static void check_result(struct cpu_book *b, u64 fid, u64 a1, s64 r)
{
    int fn = psci_fn(fid);
    if (fn < 0)
        return; /* not PSCI: KVM's own SMCCC services answer */
    if (r < PSCI_INVALID_ADDRESS)
        record(b, W_BAD_RESULT, fid, a1, r);
    if (fn == FN_VERSION && !is_smc64(fid) && r != version)
        record(b, W_VERSION, fid, a1, r);
}

/* Entry points for CPU_ON: mostly valid ones, sometimes outside RAM or misaligned. */
static u64 random_entry(struct cpu_book *b, bool *valid)
{
    u64 k = below(b, 10);
    *valid = k < 8;
    if (k < 4)
        return (u64)secondary_entry_a;
    if (k < 8)
        return (u64)secondary_entry_b;
    if (k == 8)
        return machine.ram_base + machine.ram_size + (below(b, 64) << 12);
    return (u64)secondary_entry_a + 1 + below(b, 3);
}

static u64 random_mpidr(struct cpu_book *b)
{
    u64 k = below(b, 8);
    if (k < 6)
        return machine.mpidr[below(b, machine.nr_cpus)];
    if (k == 6)
        return machine.mpidr[0] | (below(b, 4) << 8) | (below(b, 2) << 24); /* absent / bad */
    return rnd(b);
}

static void cpu_on(struct cpu_book *b, int self, u64 fid, u64 mpidr, u64 entry, bool valid,
                   u64 ctx)
{
    s64 r = call(b, fid, mpidr, entry, ctx);
    check_result(b, fid, mpidr, r);
    u64 target_mpidr = is_smc64(fid) ? mpidr : (u32)mpidr;
    int t = cpu_of_mpidr(target_mpidr);
    if (r == PSCI_SUCCESS) {
        if (!valid)
            record(b, W_BAD_ENTRY_STARTED, fid, mpidr, r);
        if (t < 0 || (target_mpidr & ~RT_MPIDR_MASK))
            record(b, W_UNKNOWN_TARGET, fid, mpidr, r);
        else
            rt_write_once(&b->on_success[t], b->on_success[t] + 1);
    } else if (t == self && valid && !(target_mpidr & ~RT_MPIDR_MASK) && r != PSCI_ALREADY_ON) {
        record(b, W_SELF_ON, fid, mpidr, r);
    }
}

/* A CPU_ON of every CPU (ON ones answer ALREADY_ON / ON_PENDING), conventions mixed. */
static void cpu_on_storm(struct cpu_book *b, int self)
{
    for (unsigned t = 0; t < machine.nr_cpus; t++) {
        bool smc64 = below(b, 2);
        u64 fid = smc64 ? PSCI_FN64(FN_CPU_ON) : PSCI_FN(FN_CPU_ON);
        u64 hi = smc64 ? 0 : (rnd(b) & 0xffffffff00000000ULL); /* SMC32: ignored halves */
        bool valid = true;
        u64 entry = below(b, 2) ? (u64)secondary_entry_a : (u64)secondary_entry_b;
        cpu_on(b, self, fid, machine.mpidr[t] | hi, entry | (smc64 ? 0 : hi), valid,
               rnd(b));
    }
}

/* MMIO: device registers that cannot start DMA (virtio QueueReady is never set, so no queue is
 * ever live; the UART's scratch/IER, the RTC's match/mask) and unmapped addresses below 4 GiB
 * (not the GIC: the in-kernel vGIC is not ours to scribble on). */
static void mmio_poke(struct cpu_book *b)
{
    static const u64 virtio_regs[] = {0x014, 0x020, 0x024, 0x030, 0x038, 0x050, 0x064, 0x070,
                                      0x080, 0x084, 0x090, 0x094, 0x0a0, 0x0a4, 0x100, 0x108};
    static const u64 unmapped[] = {0x00000000, 0x04000000, 0x09002000, 0x09030000,
                                   0x0A004000, 0x0C000000, 0x10000000, 0x3FFFF000};
    u64 k = below(b, 8), addr;
    u64 v = rnd(b);
    switch (k) {
    case 0: /* UART scratch register (7), or IER (1) with its four defined bits */
        if (below(b, 2)) {
            addr = MEMMAP_UART_BASE + 7;
            *(volatile unsigned char *)addr = (unsigned char)v;
        } else {
            addr = MEMMAP_UART_BASE + 1;
            *(volatile unsigned char *)addr = (unsigned char)(v & 0x0f);
        }
        break;
    case 1: /* PL031: match (0x04), interrupt mask (0x10), clear (0x1c) */
        addr = MEMMAP_RTC_BASE + (u64[]){0x04, 0x10, 0x1c}[below(b, 3)];
        *(volatile u32 *)addr = (u32)v;
        break;
    case 2: case 3: case 4: /* a virtio-mmio slot's register */
        addr = MEMMAP_VIRTIO_BASE + below(b, MEMMAP_VIRTIO_SLOTS) * MEMMAP_VIRTIO_STRIDE +
               virtio_regs[below(b, sizeof(virtio_regs) / sizeof(virtio_regs[0]))];
        *(volatile u32 *)addr = (u32)v;
        break;
    case 5: /* a listed unmapped page */
        addr = unmapped[below(b, sizeof(unmapped) / sizeof(unmapped[0]))] + (below(b, 1024) << 2);
        *(volatile u32 *)addr = (u32)v;
        break;
    case 6: /* a read somewhere unmapped between the devices and RAM */
        addr = 0x0A004000 + (below(b, (0x40000000 - 0x0A004000) >> 2) << 2);
        (void)*(volatile u32 *)addr;
        break;
    default: /* 64-bit write into the unmapped hole */
        addr = 0x20000000 + (below(b, 1 << 20) << 3);
        *(volatile u64 *)addr = v;
        break;
    }
    rt_write_once(&b->mmio, b->mmio + 1);
}

/* One random PSCI (or SMCCC) call, its arguments shaped so that nothing terminal happens. */
static void random_call(struct cpu_book *b, int self)
{
    u64 k = below(b, 100), fid;
    if (k < 75) { /* a PSCI ID, SMC32 or SMC64; functions 0..0x17 are real, 0x18..0x1f not */
        u64 fn = below(b, 4) ? below(b, 0x18) : below(b, 0x20);
        fid = below(b, 2) ? PSCI_FN64(fn) : PSCI_FN(fn);
    } else if (k < 90) {
        fid = (u32)rnd(b);
    } else {
        fid = 0x80000000u | below(b, 0x10); /* SMCCC arch calls (KVM answers) */
    }
    if (below(b, 4) == 0)
        fid |= rnd(b) & 0xffffffff00000000ULL; /* W0 only: the upper half is ignored */
    u64 a1 = below(b, 3) ? random_mpidr(b) : rnd(b);
    u64 a2 = rnd(b), a3 = rnd(b);
    if (below(b, 4) == 0) {
        a1 = below(b, 16);
        a2 = below(b, 16);
    }
    int fn = psci_fn(fid);
    if (self == boot_cpu && fn >= 0)
        fn_calls[fn]++;
    s64 r;
    switch (fn) {
    case FN_CPU_SUSPEND: /* random power_state; resumes (power-down) or returns (standby) */
        if (below(b, 2))
            a1 = (u64[]){0, PS_POWERDOWN, PS_POWERDOWN | 1u << 24, PS_POWERDOWN | 2u << 24,
                         3u << 24, PS_POWERDOWN | 1}[below(b, 6)];
        r = suspend_call(b, self, fid, a1, (u64)resume_entry, a3);
        break;
    case FN_CPU_DEFAULT_SUSPEND: /* entry, context; not offered by pscivm */
        r = suspend_call(b, self, fid, (u64)resume_entry, a2, a3);
        break;
    case FN_CPU_FREEZE:
        r = suspend_call(b, self, fid, a1, a2, a3);
        break;
    case FN_SYSTEM_SUSPEND: /* others are on: DENIED; alone: --on-suspend decides */
        r = suspend_call(b, self, fid, (u64)resume_entry, a2, a3);
        break;
    case FN_CPU_ON: {
        bool valid;
        u64 entry = random_entry(b, &valid);
        if (!is_smc64(fid))
            entry |= rnd(b) & 0xffffffff00000000ULL;
        cpu_on(b, self, fid, a1, entry, valid, a3);
        return;
    }
    case FN_CPU_OFF: /* SMC32: only the counted one (fuzz_loop); SMC64 does not exist */
    case FN_SYSTEM_OFF:
    case FN_SYSTEM_RESET: { /* terminal: ask PSCI_FEATURES about it instead */
        if (fn == FN_CPU_OFF && is_smc64(fid)) {
            r = call(b, fid, a1, a2, a3);
            if (r != PSCI_NOT_SUPPORTED)
                record(b, W_BAD_RESULT, fid, a1, r);
            return;
        }
        u64 ffid = PSCI_FN(FN_FEATURES);
        r = call(b, ffid, fid & 0xffffffff, a2, a3);
        check_result(b, ffid, fid, r);
        return;
    }
    case FN_SYSTEM_RESET2: { /* reserved types only: 1 .. 0x7fffffff */
        u64 type = 1 + below(b, 0x7fffffff);
        a1 = is_smc64(fid) ? type : (a1 & 0xffffffff00000000ULL) | type;
        r = call(b, fid, a1, a2, a3);
        if (r != PSCI_INVALID_PARAMS && r != PSCI_NOT_SUPPORTED)
            record(b, W_RESET2, fid, a1, r);
        break;
    }
    case FN_SYSTEM_OFF2: { /* reserved types only: >= 2 */
        u64 type = 2 + below(b, 0xfffffffd);
        a1 = is_smc64(fid) ? type : (a1 & 0xffffffff00000000ULL) | type;
        r = call(b, fid, a1, a2, a3);
        if (r != PSCI_INVALID_PARAMS && r != PSCI_NOT_SUPPORTED)
            record(b, W_OFF2, fid, a1, r);
        break;
    }
    default:
        r = call(b, fid, a1, a2, a3);
        break;
    }
    check_result(b, fid, a1, r);
}

static u64 total_calls(void)
{
    u64 n = 0;
    for (unsigned i = 0; i < machine.nr_cpus; i++)
        n += rt_read_once(&book[i].calls);
    return n;
}

/* The loop every CPU runs while PHASE_RUN; secondaries may power themselves off. */
static void fuzz_loop(int self)
{
    struct cpu_book *b = &book[self];
    for (u64 iter = 1; rt_read_once(&phase) == PHASE_RUN; iter++) {
        u64 k = below(b, 1000);
        if (k < 4 && self != boot_cpu) {
            /* CPU_OFF: counted before the call, which must not return. */
            rt_write_once(&b->offs, b->offs + 1);
            u64 fid = PSCI_FN(FN_CPU_OFF) | (rnd(b) & 0xffffffff00000000ULL); /* SMC32 only */
            s64 r = call(b, fid, rnd(b), rnd(b), rnd(b));
            rt_write_once(&b->offs, b->offs - 1);
            record(b, W_OFF_RETURNED, fid, 0, r);
        } else if (k < 12) {
            u64 ctx = rnd(b);
            rt_write_once(&b->suspends, b->suspends + 1);
            s64 r = suspend_call(b, self, PSCI_FN64(FN_CPU_SUSPEND), PS_POWERDOWN,
                                 (u64)resume_entry, ctx);
            if (r != PSCI_SUCCESS)
                record(b, W_BAD_RESULT, PSCI_FN64(FN_CPU_SUSPEND), PS_POWERDOWN, r);
        } else if (k < 40 && mmio_on) {
            mmio_poke(b);
        } else if (k < 60) {
            cpu_on_storm(b, self);
        } else {
            random_call(b, self);
        }
        if (self == boot_cpu && (iter & 63) == 0 && total_calls() >= target_calls)
            rt_write_once(&phase, PHASE_STOP);
    }
}

void secondary_main(u64 context, u64 entry_id, u64 cpu)
{
    (void)context, (void)entry_id;
    struct cpu_book *b = &book[cpu];
    if (!b->rng)
        b->rng = seed ^ (0x9E3779B97F4A7C15ULL * (cpu + 1));
    gic_init_cpu();
    rt_write_once(&b->starts, b->starts + 1);
    fuzz_loop((int)cpu);
    rt_write_once(&b->stopped, b->starts);
    for (;;) {
        __asm__ volatile("dsb sy; wfi" ::: "memory");
        gic_ack_all();
    }
}

static u64 successes_for(unsigned t)
{
    u64 n = 0;
    for (unsigned c = 0; c < machine.nr_cpus; c++)
        n += rt_read_once(&book[c].on_success[t]);
    return n;
}
static bool started_all(unsigned t)
{
    return t == (unsigned)boot_cpu || rt_read_once(&book[t].starts) == successes_for(t);
}
static bool settled(unsigned t)
{
    struct cpu_book *b = &book[t];
    u64 starts = rt_read_once(&b->starts), offs = rt_read_once(&b->offs);
    if (starts > offs) /* on: it has seen the stop */
        return rt_read_once(&b->stopped) == starts;
    s64 r = psci_call(PSCI_FN64(FN_AFFINITY_INFO), machine.mpidr[t], 0, 0);
    return r == AFF_OFF; /* off: its CPU_OFF has been carried out */
}

void payload_main(void)
{
    size_t len;
    const char *v;
    if ((v = rt_bootarg("calls", &len)) && (!rt_parse_u64(v, len, &target_calls) ||
                                            target_calls == 0)) {
        tap_diag("bad calls= bootarg; using 100000");
        target_calls = 100000;
    }
    if ((v = rt_bootarg("seed", &len)) && !rt_parse_u64(v, len, &seed))
        tap_diag("bad seed= bootarg; using 0x5eed");
    mmio_on = !rt_bootarg_is("mmio", "off");
    boot_cpu = rt_this_cpu();
    version = psci_call(PSCI_FN(FN_VERSION), 0, 0, 0);
    tap_diag("psci-fuzz: %u CPUs, PSCI 0x%lx, %lu calls, seed 0x%lx", machine.nr_cpus,
             (u64)version, target_calls, seed);
    if (version < 0x10000) {
        tap_result(false, NULL, "psci-fuzz needs PSCI >= 1.0 (got 0x%lx)", (u64)version);
        tap_finish();
    }
    gic_init_distributor();
    gic_init_cpu();
    struct cpu_book *b = &book[boot_cpu];
    b->rng = seed ^ (0x9E3779B97F4A7C15ULL * (boot_cpu + 1));
    rt_write_once(&b->starts, 1);
    u64 t0 = rt_now();
    fuzz_loop(boot_cpu);
    u64 ms = rt_ticks_to_ns(rt_now() - t0) / 1000000;
    rt_write_once(&b->stopped, 1);

    /* Quiesce: every CPU_ON that succeeded has started its CPU, and every CPU has stopped
     * fuzzing or is off. Checked in passes until one finds everything settled and nothing
     * changed since the previous pass (a CPU checked early can be powered on by one checked
     * later that had not stopped yet). */
    bool quiet = false;
    u64 prev = ~0ULL, end = rt_now() + rt_ms_to_ticks(TIMEOUT_MS);
    while (!quiet && rt_now() < end) {
        bool all = true;
        u64 sum = 0;
        for (unsigned t = 0; t < machine.nr_cpus; t++) {
            all = all && started_all(t) && (t == (unsigned)boot_cpu || settled(t));
            sum = sum * 31 + book[t].starts * 7 + book[t].offs * 3 + successes_for(t);
        }
        quiet = all && sum == prev;
        prev = sum;
        if (!quiet)
            rt_delay_ms(1);
    }
    for (unsigned t = 0; !quiet && t < machine.nr_cpus; t++)
        tap_diag("cpu %u: CPU_ON successes %lu, starts %lu, offs %lu, stopped %lu", t,
                 successes_for(t), book[t].starts, book[t].offs, book[t].stopped);
    tap_result(quiet, NULL, "every CPU_ON that returned SUCCESS started its CPU, and every CPU "
               "stopped or is off");
    u64 calls = total_calls(), ons = 0, offs = 0, susp = 0, res = 0, mmio = 0, errors = 0;
    unsigned on_now = 0;
    bool agree = true;
    for (unsigned t = 0; t < machine.nr_cpus; t++) {
        struct cpu_book *c = &book[t];
        ons += successes_for(t);
        offs += c->offs;
        susp += c->suspends;
        res += c->resumes;
        mmio += c->mmio;
        errors += c->errors;
        bool on = c->starts > c->offs;
        on_now += on;
        s64 aff = psci_call(PSCI_FN64(FN_AFFINITY_INFO), machine.mpidr[t], 0, 0);
        bool ok = c->starts - c->offs <= 1 && aff == (on ? AFF_ON : AFF_OFF) &&
                  (t != (unsigned)boot_cpu || on);
        agree &= ok;
        tap_result(ok, NULL, "cpu %u: bookkeeping (starts %lu, offs %lu: %s) agrees with "
                   "AFFINITY_INFO (%ld)", t, c->starts, c->offs, on ? "on" : "off", aff);
        for (u64 e = 0; e < c->errors && e < MAX_ERRORS; e++)
            tap_diag("cpu %u: %s: fid 0x%lx x1 0x%lx -> %ld", t,
                     what_names[c->err_what[e] < 9 ? c->err_what[e] : 0], c->err_fid[e],
                     c->err_a1[e], (s64)c->err_ret[e]);
    }
    tap_result(errors == 0, NULL, "no PSCI call answered what PSCI does not allow (%lu errors)",
               errors);
    tap_result(calls >= target_calls, NULL, "%lu PSCI calls made (wanted %lu)", calls,
               target_calls);
    rt_printf("# per PSCI function (boot CPU's random calls):");
    for (unsigned f = 0; f < 32; f++)
        rt_printf(" %u:%lu", f, fn_calls[f]);
    rt_printf("\n");
    bool pass = quiet && agree && errors == 0 && calls >= target_calls;
    rt_printf("# psci-fuzz verdict: %s calls=%lu cpus=%u cpu_on_success=%lu cpu_off=%lu "
              "powerdowns=%lu resumes=%lu mmio=%lu on_at_end=%u errors=%lu ms=%lu\n",
              pass ? "PASS" : "FAIL", calls, machine.nr_cpus, ons, offs, susp, res, mmio,
              on_now, errors, ms);
    tap_finish();
}
