/* pl031.c — ARM PL031 real-time clock (see pl031.h for the registers, time and alarm model). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libfdt.h>

#include "devices/pl031.h"

#define NS_PER_S 1000000000ull
#define PL031_STATE_VERSION 1u

static const uint8_t pl031_id[8] = {
    0x31, 0x10, 0x14, 0x00, /* PeriphID0-3: part 0x031, designer 0x41 (ARM), revision 1 */
    0x0d, 0xf0, 0x05, 0xb1, /* PCellID0-3: the PrimeCell preamble */
};

uint64_t pl031_host_clock(void *opaque)
{
    (void)opaque;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t host_seconds(const struct pl031 *rtc)
{
    return rtc->clock(rtc->opaque) / NS_PER_S;
}

static uint32_t rtc_value(const struct pl031 *rtc, uint64_t now_s)
{
    return rtc->tick_offset + (uint32_t)now_s;
}

static void update_irq(struct pl031 *rtc)
{
    bool level = rtc->ris && rtc->imsc;
    if (level != rtc->irq_level) {
        rtc->irq_level = level;
        irq_line_set(&rtc->irq, level);
    }
}

static void cancel_alarm(struct pl031 *rtc)
{
    if (!rtc->alarm_armed)
        return;
    rtc->alarm_armed = false;
    rtc->alarm_s = 0;
    if (rtc->schedule)
        rtc->schedule(rtc->opaque, 0);
}

/* DR reached MR: latch the raw status and drive the line. */
static void match(struct pl031 *rtc)
{
    cancel_alarm(rtc);
    rtc->ris = true;
    update_irq(rtc);
}

/* Ask for a call when the host clock reaches alarm_s. */
static void request_timer(struct pl031 *rtc)
{
    if (rtc->schedule)
        rtc->schedule(rtc->opaque, rtc->alarm_s * NS_PER_S);
}

/* MR or the RTC value changed: match now, or wait for the second DR equals MR. */
static void arm_alarm(struct pl031 *rtc)
{
    uint64_t now_s = host_seconds(rtc);
    uint32_t ticks = rtc->mr - rtc_value(rtc, now_s); /* wraps like the counter */
    if (ticks == 0) {
        match(rtc);
        return;
    }
    rtc->alarm_armed = true;
    rtc->alarm_s = now_s + ticks;
    request_timer(rtc);
}

static void reset_locked(struct pl031 *rtc)
{
    cancel_alarm(rtc);
    rtc->mr = rtc->lr = 0;
    rtc->started = rtc->imsc = rtc->ris = false;
    update_irq(rtc);
}

int pl031_init(struct pl031 *rtc, const struct irq_line *irq, pl031_clock_fn clock,
               pl031_schedule_fn schedule, void *opaque)
{
    memset(rtc, 0, sizeof(*rtc));
    int err = pthread_mutex_init(&rtc->lock, NULL);
    if (err)
        return -err;
    if (irq)
        rtc->irq = *irq;
    rtc->clock = clock ? clock : pl031_host_clock;
    rtc->schedule = schedule;
    rtc->opaque = opaque;
    return 0;
}

void pl031_release(struct pl031 *rtc)
{
    pthread_mutex_destroy(&rtc->lock);
}

void pl031_reset(struct pl031 *rtc)
{
    pthread_mutex_lock(&rtc->lock);
    reset_locked(rtc);
    pthread_mutex_unlock(&rtc->lock);
}

void pl031_timer_fired(struct pl031 *rtc)
{
    pthread_mutex_lock(&rtc->lock);
    if (rtc->alarm_armed) {
        if (host_seconds(rtc) >= rtc->alarm_s)
            match(rtc);
        else
            request_timer(rtc); /* early (or the host clock went back): wait again */
    }
    pthread_mutex_unlock(&rtc->lock);
}

static bool valid_access(uint64_t offset, unsigned int size)
{
    return size == 4 && (offset & 3) == 0 && offset < PL031_WINDOW_SIZE;
}

static int pl031_read(void *opaque, uint64_t offset, unsigned int size, uint64_t *value)
{
    struct pl031 *rtc = opaque;
    *value = 0;
    if (!valid_access(offset, size))
        return -EINVAL;
    if (offset >= PL031_PERIPH_ID0) {
        *value = pl031_id[(offset - PL031_PERIPH_ID0) / 4];
        return 0;
    }
    int ret = 0;
    pthread_mutex_lock(&rtc->lock);
    switch (offset) {
    case PL031_DR: *value = rtc_value(rtc, host_seconds(rtc)); break;
    case PL031_MR: *value = rtc->mr; break;
    case PL031_LR: *value = rtc->lr; break;
    case PL031_CR: *value = rtc->started; break;
    case PL031_IMSC: *value = rtc->imsc; break;
    case PL031_RIS: *value = rtc->ris; break;
    case PL031_MIS: *value = rtc->ris && rtc->imsc; break;
    case PL031_ICR: break; /* write-only: reads zero */
    default: ret = -EINVAL; break;
    }
    pthread_mutex_unlock(&rtc->lock);
    return ret;
}

static int pl031_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
    struct pl031 *rtc = opaque;
    if (!valid_access(offset, size))
        return -EINVAL;
    if (offset >= PL031_PERIPH_ID0)
        return 0; /* ID registers are read-only */
    uint32_t v = (uint32_t)value;
    int ret = 0;
    pthread_mutex_lock(&rtc->lock);
    switch (offset) {
    case PL031_MR:
        rtc->mr = v;
        arm_alarm(rtc);
        break;
    case PL031_LR:
        rtc->lr = v;
        rtc->tick_offset += v - rtc_value(rtc, host_seconds(rtc));
        arm_alarm(rtc);
        break;
    case PL031_CR:
        rtc->started |= v & 1;
        break;
    case PL031_IMSC:
        rtc->imsc = v & 1;
        update_irq(rtc);
        break;
    case PL031_ICR:
        if (v & 1)
            rtc->ris = false;
        update_irq(rtc);
        break;
    case PL031_DR:
    case PL031_RIS:
    case PL031_MIS:
        break; /* read-only: ignored */
    default:
        ret = -EINVAL;
        break;
    }
    pthread_mutex_unlock(&rtc->lock);
    return ret;
}

/* ---- the device interface ------------------------------------------------------------------ */

static void pl031_dev_reset(void *opaque)
{
    pl031_reset(opaque);
}

/* State v1: tick_offset mr lr (u32), started imsc ris alarm_armed (bool), alarm_s (u64: the
 * host second the alarm waits for, 0 when none). */
static int pl031_save(void *opaque, struct blob_writer *w, char *err, size_t errlen)
{
    struct pl031 *rtc = opaque;
    pthread_mutex_lock(&rtc->lock);
    blob_put_u32(w, PL031_STATE_VERSION);
    blob_put_u32(w, rtc->tick_offset);
    blob_put_u32(w, rtc->mr);
    blob_put_u32(w, rtc->lr);
    blob_put_bool(w, rtc->started);
    blob_put_bool(w, rtc->imsc);
    blob_put_bool(w, rtc->ris);
    blob_put_bool(w, rtc->alarm_armed);
    blob_put_u64(w, rtc->alarm_s);
    pthread_mutex_unlock(&rtc->lock);
    if (blob_writer_error(w)) {
        snprintf(err, errlen, "saving the RTC state: out of memory");
        return blob_writer_error(w);
    }
    return 0;
}

static int pl031_restore(void *opaque, struct blob_reader *r, char *err, size_t errlen)
{
    struct pl031 *rtc = opaque;
    uint32_t version, tick_offset, mr, lr;
    bool started, imsc, ris, armed;
    uint64_t alarm_s;
    blob_get_u32(r, &version);
    if (!blob_reader_error(r) && version != PL031_STATE_VERSION)
        return device_state_error(err, errlen, "state version %u, this pscivm reads %u",
                                  version, PL031_STATE_VERSION);
    blob_get_u32(r, &tick_offset);
    blob_get_u32(r, &mr);
    blob_get_u32(r, &lr);
    blob_get_bool(r, &started);
    blob_get_bool(r, &imsc);
    blob_get_bool(r, &ris);
    blob_get_bool(r, &armed);
    blob_get_u64(r, &alarm_s);
    if (blob_reader_error(r))
        return device_state_error(err, errlen, "state truncated or malformed at byte %zu",
                                  r->pos);
    if (blob_reader_finish(r))
        return device_state_error(err, errlen, "%zu unexpected bytes after the state",
                                  blob_reader_remaining(r));
    /* A pending alarm waits for the host second at which DR equals MR, and that second must
     * be expressible in the nanoseconds the owner's timer takes. */
    if (armed ? (uint32_t)(tick_offset + (uint32_t)alarm_s) != mr || alarm_s == 0 ||
                    alarm_s > UINT64_MAX / NS_PER_S
              : alarm_s != 0)
        return device_state_error(err, errlen, "alarm at host second %llu does not match "
                                  "MR 0x%08x (offset 0x%08x, %s)", (unsigned long long)alarm_s,
                                  mr, tick_offset, armed ? "armed" : "not armed");

    pthread_mutex_lock(&rtc->lock);
    rtc->tick_offset = tick_offset;
    rtc->mr = mr;
    rtc->lr = lr;
    rtc->started = started;
    rtc->imsc = imsc;
    rtc->ris = ris;
    rtc->alarm_armed = armed;
    rtc->alarm_s = alarm_s;
    /* Drive the line to the restored level, then settle the alarm against today's clock. */
    rtc->irq_level = ris && imsc;
    irq_line_set(&rtc->irq, rtc->irq_level);
    if (!armed) {
        if (rtc->schedule)
            rtc->schedule(rtc->opaque, 0); /* drop a request made before the restore */
    } else if (host_seconds(rtc) >= alarm_s) {
        match(rtc); /* its time passed while the machine was saved */
    } else {
        request_timer(rtc);
    }
    pthread_mutex_unlock(&rtc->lock);
    return 0;
}

static int pl031_fdt_node(const struct device *dev, void *fdt, const struct device_fdt_ctx *ctx)
{
    static const char compat[] = "arm,pl031\0arm,primecell";
    int rc = device_fdt_begin(fdt, dev, compat, sizeof(compat));
    if (!rc)
        rc = fdt_property_u32(fdt, "clocks", ctx->apb_pclk_phandle);
    if (!rc)
        rc = fdt_property_string(fdt, "clock-names", "apb_pclk");
    if (!rc)
        rc = fdt_end_node(fdt);
    return rc;
}

const struct device_ops pl031_device_ops = {
    .type = PL031_TYPE,
    .mmio = {.read = pl031_read, .write = pl031_write},
    .reset = pl031_dev_reset,
    .save = pl031_save,
    .restore = pl031_restore,
    .fdt_node = pl031_fdt_node,
    .fdt_name = "pl031",
    .fdt_needs_apb_pclk = true,
};

struct device pl031_device(struct pl031 *rtc, uint64_t base)
{
    return (struct device){
        .ops = &pl031_device_ops, .opaque = rtc, .name = "rtc",
        .base = base, .size = PL031_WINDOW_SIZE, .spi = rtc->irq.spi,
    };
}
