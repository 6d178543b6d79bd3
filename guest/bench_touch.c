/* bench_touch.c — the guest of bench/snapshot-vm: it writes touch=MiB (bootarg, default 64) of
 * RAM starting 16 MiB above the RAM base with a mix like a real guest's (a third pseudo-random,
 * a third text-like, a third mostly-zero structures), prints "TOUCHED <MiB> <checksum>", then
 * idles in WFI with interrupts masked (no wake source: the vCPU sleeps in the hypervisor) so a
 * snapshot sees exactly that memory plus the payload itself and the device tree. */
#include "rt.h"

#define MIB (1ull << 20)

static u64 rng = 0x9e3779b97f4a7c15ull;

static u64 next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

void payload_main(void)
{
    u64 mib = 64;
    size_t len;
    const char *v = rt_bootarg("touch", &len);
    if (v && !rt_parse_u64(v, len, &mib))
        mib = 64;
    u64 start = machine.ram_base + 16 * MIB;
    u64 room = machine.ram_size > 20 * MIB ? machine.ram_size - 20 * MIB : 0;
    if (mib * MIB > room)
        mib = room / MIB;
    u64 sum = 0;
    for (u64 page = 0; page < mib * MIB / 4096; page++) {
        u64 *p = (u64 *)(start + page * 4096);
        for (u64 k = 0; k < 512; k++) {
            u64 w;
            switch (page % 3) {
            case 0: w = next(); break;                                  /* random */
            case 1: w = 0x2065676170206568ull ^ (next() & 0x0f0f0f0f); break; /* text-like */
            default: w = (k % 8) ? 0 : 0xffff000000000000ull | (next() & 0xffffff8ull);
            }
            p[k] = w;
            sum += w;
        }
    }
    rt_printf("TOUCHED %lu %lx\n", mib, sum);
    for (;;)
        __asm__ volatile("msr daifset, #0xf; wfi" ::: "memory");
}

void secondary_main(u64 context, u64 entry_id, u64 cpu)
{
    (void)context, (void)entry_id, (void)cpu;
    for (;;)
        __asm__ volatile("wfe");
}
