/* fuzz_pl031.c — libFuzzer target for the PL031 RTC's MMIO registers: guest reads and writes
 * of any size at any offset of its window (through the bus) against a wall clock the input
 * moves (forwards by milliseconds to hours, or set anywhere in CLOCK_REALTIME's signed 64-bit
 * range), the owner's timer firing, resets and snapshot round trips. The interrupt line must
 * always be at the level the device says it drives.
 * Operations (one byte, op % 6): 0 access (fuzz_mmio.h, op >> 3 as its flags), 1 clock +=
 * u32 ms, 2 clock = u64 & INT64_MAX, 3 timer fired, 4 reset, 5 snapshot round trip. */
#include <stdio.h>
#include <stdlib.h>

#include "devices/pl031.h"
#include "fuzz_mmio.h"

#define RTC_BASE 0x09010000ull

struct fake_host {
    uint64_t now;      /* ns since the epoch */
    uint64_t deadline; /* last schedule() request, 0: none */
};

static uint64_t fake_clock(void *opaque)
{
    return ((struct fake_host *)opaque)->now;
}

static void fake_schedule(void *opaque, uint64_t ns)
{
    ((struct fake_host *)opaque)->deadline = ns;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in;
    fi_init(&in, data, size);
    struct fake_host host = {.now = 1764806400ull * 1000000000ull}; /* 2025-12-04 */
    struct fm_irq irq = {0};
    struct irq_line line = {.set = fm_irq_set, .opaque = &irq, .spi = 2};
    struct pl031 rtc;
    if (pl031_init(&rtc, &line, fake_clock, fake_schedule, &host))
        abort();
    struct device dev = pl031_device(&rtc, RTC_BASE);
    struct bus bus;
    bus_init(&bus);
    if (device_register(&bus, &dev))
        abort();
    while (!fi_done(&in)) {
        uint8_t op = fi_u8(&in);
        switch (op % 6) {
        case 0:
            fm_access(&bus, &dev, &in, (uint8_t)(op >> 3));
            break;
        case 1:
            host.now += (uint64_t)fi_u32(&in) * 1000000ull;
            host.now &= INT64_MAX;
            break;
        case 2:
            host.now = fi_u64(&in) & INT64_MAX;
            break;
        case 3:
            pl031_timer_fired(&rtc);
            break;
        case 4:
            pl031_reset(&rtc);
            break;
        case 5:
            /* Restoring an alarm that is already due raises its match (by design: it came
             * due while the machine was saved), so the round trip is checked on a settled
             * device: the owner's timer runs first. */
            pl031_timer_fired(&rtc);
            fm_snapshot(&dev);
            break;
        }
        if (irq.level != rtc.irq_level || rtc.irq_level != (rtc.ris && rtc.imsc)) {
            fprintf(stderr, "fuzz_pl031: line %d, device drives %d, RIS %d IMSC %d after op "
                            "%u\n", irq.level, rtc.irq_level, rtc.ris, rtc.imsc, op % 6);
            abort();
        }
    }
    bus_release(&bus);
    pl031_release(&rtc);
    return 0;
}
