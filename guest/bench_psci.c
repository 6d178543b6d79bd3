/* bench_psci.c — PSCI round-trip benchmark payload for bench/psci-roundtrip: makes N
 * PSCI_VERSION calls (bootarg calls=N, default 100000), prints the elapsed virtual-counter
 * ticks, CNTFRQ, ns per call and calls per second on one line, then SYSTEM_OFF. */
#include "rt.h"

void payload_main(void)
{
    u64 n = 100000;
    size_t len;
    const char *v = rt_bootarg("calls", &len);
    if (v && (!rt_parse_u64(v, len, &n) || n == 0)) {
        tap_diag("bad calls= bootarg; using 100000");
        n = 100000;
    }
    s64 version = psci_call(PSCI_FN(FN_VERSION), 0, 0, 0);
    u64 t0 = rt_now();
    for (u64 i = 0; i < n; i++)
        psci_call(PSCI_FN(FN_VERSION), 0, 0, 0);
    u64 ticks = rt_now() - t0;
    u64 ns = rt_ticks_to_ns(ticks);
    u64 per_call = ns / n;
    u64 per_s = ns ? n * 1000000000ull / ns : 0;
    rt_printf("bench psci-version: psci=0x%lx calls=%lu ticks=%lu freq=%lu ns=%lu ns_per_call=%lu "
              "calls_per_s=%lu\n",
              (u64)version, n, ticks, rt_freq(), ns, per_call, per_s);
    psci_system_off();
}

void secondary_main(u64 context, u64 entry_id, u64 cpu)
{
    (void)context, (void)entry_id, (void)cpu;
    for (;;)
        __asm__ volatile("wfe");
}
