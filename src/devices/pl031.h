/* pl031.h — ARM PrimeCell PL031 real-time clock (ARM DDI 0224), the RTC Linux's rtc-pl031
 * driver (Debian: RTC_DRV_PL031=y) reads the time from and sets wake-up alarms on.
 *
 * Registers (32-bit, aligned accesses only; anything else is refused with -EINVAL):
 *   0x000 DR    RO  RTC value: tick_offset + host wall-clock seconds (mod 2^32)
 *   0x004 MR    RW  match value: when DR reaches it, RIS is set
 *   0x008 LR    RW  writing loads DR (tick_offset changes); reads the last value written
 *   0x00C CR    RW  bit 0 start: reads 0 after reset until written 1; later writes do nothing
 *   0x010 IMSC  RW  bit 0: interrupt enabled ("mask set")
 *   0x014 RIS   RO  bit 0: match happened (latched until ICR)
 *   0x018 MIS   RO  RIS & IMSC — the level driven on the interrupt line (level-high SPI)
 *   0x01C ICR   WO  writing bit 0 = 1 clears RIS; reads zero
 *   0xFE0..0xFEC PeriphID0-3 = 0x31 0x10 0x14 0x00, 0xFF0..0xFFC PCellID0-3 = 0x0D 0xF0 0x05
 *   0xB1 (Linux's AMBA bus matches the driver on them)
 * Writes to read-only registers are ignored; other offsets are refused (-EINVAL).
 *
 * Time: the 1 Hz counter is free-running (as the TRM says: it cannot be loaded; LR only moves
 * the offset), so DR counts from power-on whether or not CR.start is set — as on QEMU. It is the
 * host's wall clock (CLOCK_REALTIME, or the owner's clock callback) plus a 32-bit offset, which
 * is 0 at init: the guest sees UTC until it loads LR.
 *
 * Alarm: MR or LR written -> if DR == MR now, RIS is set at once; otherwise the device asks its
 * owner, through `schedule(opaque, realtime_ns)`, to call pl031_timer_fired() at the host time
 * DR reaches MR (0 cancels a request). A call that comes early is harmless (it asks again); a
 * late one — the host clock jumped, or the machine was stopped — still raises the match, so a
 * guest's `rtcwake` alarm fires even if its second was skipped. Whether the guest is running or
 * suspended is the owner's concern: the device just drives its line.
 *
 * Reset (machine reset): MR, LR, CR, IMSC, RIS cleared, alarm cancelled, line low; the time
 * (tick_offset) survives, like a battery-backed RTC.
 *
 * Snapshot (device.h): tick_offset relative to host wall time — so after a restore the guest's
 * RTC shows the current wall time, having advanced by the downtime — MR, LR, CR, IMSC, RIS and
 * the pending alarm; an alarm whose time passed while the machine was saved fires on restore.
 *
 * Thread-safety: every entry point takes the device's mutex; `schedule` and the irq line's set
 * are called with it held and must not call back into the device. */
#ifndef PSCIVM_PL031_H
#define PSCIVM_PL031_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/irq.h"

#define PL031_TYPE "pl031"
#define PL031_WINDOW_SIZE 0x1000u

enum pl031_reg {
    PL031_DR = 0x000,
    PL031_MR = 0x004,
    PL031_LR = 0x008,
    PL031_CR = 0x00c,
    PL031_IMSC = 0x010,
    PL031_RIS = 0x014,
    PL031_MIS = 0x018,
    PL031_ICR = 0x01c,
    PL031_PERIPH_ID0 = 0xfe0,
    PL031_PCELL_ID0 = 0xff0,
};

/* Host wall-clock time in nanoseconds since the Unix epoch. */
typedef uint64_t (*pl031_clock_fn)(void *opaque);
/* Call pl031_timer_fired() at (or after) wall-clock time `realtime_ns`; 0 cancels. A new
 * request replaces the previous one. */
typedef void (*pl031_schedule_fn)(void *opaque, uint64_t realtime_ns);

struct pl031 {
    pthread_mutex_t lock;
    struct irq_line irq;
    pl031_clock_fn clock;
    pl031_schedule_fn schedule;
    void *opaque;              /* for clock and schedule */
    uint32_t tick_offset;      /* DR - host seconds, mod 2^32 */
    uint32_t mr, lr;
    bool started;              /* CR bit 0 */
    bool imsc, ris;
    bool alarm_armed;          /* waiting for DR to reach MR ... */
    uint64_t alarm_s;          /* ... at this host second */
    bool irq_level;            /* level last driven */
};

/* `clock` NULL: the host's CLOCK_REALTIME. `schedule` NULL: no alarm timer (the match is still
 * raised when MR is written equal to DR, and on pl031_timer_fired()). 0 or a negative errno. */
int pl031_init(struct pl031 *rtc, const struct irq_line *irq, pl031_clock_fn clock,
               pl031_schedule_fn schedule, void *opaque);
void pl031_release(struct pl031 *rtc);
void pl031_reset(struct pl031 *rtc);
/* The owner's timer for the last schedule() request expired. */
void pl031_timer_fired(struct pl031 *rtc);

/* CLOCK_REALTIME in ns (the default clock). */
uint64_t pl031_host_clock(void *opaque);

extern const struct device_ops pl031_device_ops;
/* The RTC as a device with its window at `base` (PL031_WINDOW_SIZE bytes) and the SPI of the
 * irq line it was initialised with. */
struct device pl031_device(struct pl031 *rtc, uint64_t base);

#endif
