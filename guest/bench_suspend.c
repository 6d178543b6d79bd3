/* bench_suspend.c — SYSTEM_SUSPEND wake-up latency payload for bench/suspend-wake: N times
 * (bootarg cycles=N, default 50) it arms its virtual timer 1 ms ahead and calls SYSTEM_SUSPEND
 * with resume_entry as the entry point; the timer interrupt wakes it, and resume_entry's first
 * instruction reads CNTVCT. Latency = that reading minus the timer's compare value: from the
 * moment the wake interrupt fires to the guest's first instruction at its resume entry, on the
 * guest's own clock. Prints min, median, max and the cycle count on one line, then SYSTEM_OFF. */
#include "rt.h"

#define MAX_CYCLES 1000

static u64 lat_ns[MAX_CYCLES];

static void sort_u64(u64 *a, u64 n)
{
    for (u64 i = 1; i < n; i++) {
        u64 v = a[i], j = i;
        for (; j > 0 && a[j - 1] > v; j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
}

void payload_main(void)
{
    u64 n = 50;
    size_t len;
    const char *v = rt_bootarg("cycles", &len);
    if (v && (!rt_parse_u64(v, len, &n) || n == 0 || n > MAX_CYCLES)) {
        tap_diag("bad cycles= bootarg (1..%u); using 50", MAX_CYCLES);
        n = 50;
    }
    gic_init_distributor();
    u64 done = 0, failed = 0;
    for (u64 i = 0; i < n; i++) {
        gic_init_cpu(); /* the vCPU is re-initialised on every resume */
        struct resume_ctx *ctx = &rt_resume_ctx[0];
        ctx->resumed = 0;
        timer_arm_ms(1);
        u64 cval = rt_read_sysreg(cntv_cval_el0);
        s64 r = rt_suspend_call(ctx, PSCI_FN64(FN_SYSTEM_SUSPEND), (u64)resume_entry, i, 0);
        timer_disarm();
        if (r != 0 || !ctx->resumed || ctx->got_ctx != i) {
            failed++;
            rt_printf("# cycle %lu: SYSTEM_SUSPEND returned %ld (resumed %lu, context 0x%lx)\n", i,
                      r, ctx->resumed, ctx->got_ctx);
            continue;
        }
        u64 t = ctx->got_cntvct;
        lat_ns[done++] = t > cval ? rt_ticks_to_ns(t - cval) : 0;
    }
    sort_u64(lat_ns, done);
    rt_printf("bench suspend-wake: cycles=%lu failed=%lu min_ns=%lu median_ns=%lu max_ns=%lu "
              "freq=%lu\n", done, failed, done ? lat_ns[0] : 0, done ? lat_ns[done / 2] : 0,
              done ? lat_ns[done - 1] : 0, rt_freq());
    psci_system_off();
}

void secondary_main(u64 context, u64 entry_id, u64 cpu)
{
    (void)context, (void)entry_id, (void)cpu;
    for (;;)
        __asm__ volatile("wfe");
}
