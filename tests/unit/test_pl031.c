/* test_pl031.c — the PL031 RTC as the TRM (ARM DDI 0224) and Linux's rtc-pl031 use it, in the
 * spirit of kvm-unit-tests' arm/pl031.c, with an injected wall clock: the ID registers, DR
 * counting with the clock, LR loading it, CR.start, the match interrupt (raised when DR reaches
 * MR, cleared by ICR, masked by IMSC, MIS = RIS & IMSC, the line following MIS), the alarm
 * timer requests (early, late, stale and cancelled calls), read-only registers staying put, bad
 * sizes and offsets refused, reset, and snapshots: time keeps tracking the host clock across a
 * restore, a pending alarm is re-requested or fires if its time passed, hostile states are
 * refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "devices/pl031.h"
#include "device_check.h"

#define S 1000000000ull
#define T0 (1700000000ull * S + S / 2) /* a host wall time in the middle of a second */

static struct {
    uint64_t now;        /* the wall clock, ns */
    uint64_t deadline;   /* last schedule() request (0: cancelled) */
    int requests;
    int level;
    int changes;
} hw;

static struct pl031 rtc;

static uint64_t fake_clock(void *opaque)
{
    assert_ptr_equal(opaque, &hw);
    return hw.now;
}

static void fake_schedule(void *opaque, uint64_t ns)
{
    assert_ptr_equal(opaque, &hw);
    hw.deadline = ns;
    hw.requests++;
}

static int fake_irq(void *opaque, unsigned int spi, bool level)
{
    assert_ptr_equal(opaque, &hw);
    assert_int_equal(spi, 2);
    hw.level = level;
    hw.changes++;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    memset(&hw, 0, sizeof(hw));
    hw.now = T0;
    struct irq_line irq = {.set = fake_irq, .opaque = &hw, .spi = 2};
    return pl031_init(&rtc, &irq, fake_clock, fake_schedule, &hw);
}

static int teardown(void **state)
{
    (void)state;
    pl031_release(&rtc);
    return 0;
}

static uint32_t rd(uint64_t off)
{
    uint64_t v = 0xdeadbeef;
    int rc = pl031_device_ops.mmio.read(&rtc, off, 4, &v);
    if (rc)
        fail_msg("read 0x%03llx: %d", (unsigned long long)off, rc);
    return (uint32_t)v;
}

static void wr(uint64_t off, uint32_t v)
{
    int rc = pl031_device_ops.mmio.write(&rtc, off, 4, v);
    if (rc)
        fail_msg("write 0x%03llx: %d", (unsigned long long)off, rc);
}

static void test_pl031__id_registers(void **state)
{
    (void)state;
    static const uint32_t ids[8] = {0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
    for (unsigned int i = 0; i < 4; i++) {
        assert_int_equal(rd(0xfe0 + 4 * i), ids[i]);
        assert_int_equal(rd(0xff0 + 4 * i), ids[4 + i]);
    }
}

static void test_pl031__data_register_counts_with_the_clock(void **state)
{
    (void)state;
    assert_int_equal(rd(PL031_DR), 1700000000u); /* UTC until LR is loaded */
    hw.now += S / 2 - 1;
    assert_int_equal(rd(PL031_DR), 1700000000u);
    hw.now += 1;
    assert_int_equal(rd(PL031_DR), 1700000001u);
    hw.now += 3 * S;
    assert_int_equal(rd(PL031_DR), 1700000004u);
}

static void test_pl031__load_register(void **state)
{
    (void)state;
    wr(PL031_LR, 1234);
    assert_int_equal(rd(PL031_DR), 1234);
    assert_int_equal(rd(PL031_LR), 1234);
    hw.now += 2 * S;
    assert_int_equal(rd(PL031_DR), 1236);
    assert_int_equal(rd(PL031_LR), 1234); /* LR keeps the value written */
    wr(PL031_LR, 0xffffffff);              /* and the counter wraps */
    hw.now += S;
    assert_int_equal(rd(PL031_DR), 0);
}

static void test_pl031__control_register_start_bit(void **state)
{
    (void)state;
    assert_int_equal(rd(PL031_CR), 0);
    uint32_t dr = rd(PL031_DR);
    hw.now += S;
    assert_int_equal(rd(PL031_DR), dr + 1); /* the counter is free-running */
    wr(PL031_CR, 0xfffffffe);               /* only bit 0 exists */
    assert_int_equal(rd(PL031_CR), 0);
    wr(PL031_CR, 1);
    assert_int_equal(rd(PL031_CR), 1);
    wr(PL031_CR, 0);                         /* cannot be stopped */
    assert_int_equal(rd(PL031_CR), 1);
}

static void test_pl031__match_interrupt_and_clear(void **state)
{
    (void)state;
    wr(PL031_IMSC, 1);
    uint32_t dr = rd(PL031_DR);
    wr(PL031_MR, dr + 10);
    assert_int_equal(rd(PL031_MR), dr + 10);
    assert_int_equal(hw.requests, 1);
    assert_int_equal(hw.deadline, (T0 / S + 10) * S); /* the second DR becomes MR */
    assert_int_equal(rd(PL031_RIS), 0);
    assert_int_equal(hw.level, 0);
    hw.now = hw.deadline;
    pl031_timer_fired(&rtc);
    assert_int_equal(rd(PL031_DR), dr + 10);
    assert_int_equal(rd(PL031_RIS), 1);
    assert_int_equal(rd(PL031_MIS), 1);
    assert_int_equal(hw.level, 1);
    wr(PL031_ICR, 0); /* writing 0 does nothing */
    assert_int_equal(rd(PL031_RIS), 1);
    wr(PL031_ICR, 1);
    assert_int_equal(rd(PL031_RIS), 0);
    assert_int_equal(rd(PL031_MIS), 0);
    assert_int_equal(hw.level, 0);
    assert_int_equal(rd(PL031_ICR), 0); /* write-only */
    /* A second expiry of the same (consumed) alarm is stale. */
    pl031_timer_fired(&rtc);
    assert_int_equal(rd(PL031_RIS), 0);
}

static void test_pl031__mask_gates_the_line(void **state)
{
    (void)state;
    wr(PL031_MR, rd(PL031_DR)); /* equal now: matches at once, no timer */
    assert_int_equal(hw.requests, 0);
    assert_int_equal(rd(PL031_RIS), 1);
    assert_int_equal(rd(PL031_MIS), 0);
    assert_int_equal(hw.level, 0);
    wr(PL031_IMSC, 0xffffffff);
    assert_int_equal(rd(PL031_IMSC), 1);
    assert_int_equal(rd(PL031_MIS), 1);
    assert_int_equal(hw.level, 1);
    wr(PL031_IMSC, 0);
    assert_int_equal(rd(PL031_MIS), 0);
    assert_int_equal(rd(PL031_RIS), 1);
    assert_int_equal(hw.level, 0);
    /* MIS = RIS & IMSC in all four combinations. */
    for (unsigned int ris = 0; ris < 2; ris++)
        for (unsigned int imsc = 0; imsc < 2; imsc++) {
            wr(PL031_ICR, 1);
            if (ris)
                wr(PL031_MR, rd(PL031_DR));
            wr(PL031_IMSC, imsc);
            assert_int_equal(rd(PL031_RIS), ris);
            assert_int_equal(rd(PL031_MIS), ris & imsc);
            assert_int_equal(hw.level, (int)(ris & imsc));
        }
}

static void test_pl031__alarm_timer_early_late_and_cancelled(void **state)
{
    (void)state;
    wr(PL031_IMSC, 1);
    wr(PL031_MR, rd(PL031_DR) + 5);
    uint64_t deadline = hw.deadline;
    /* Early: nothing yet, the same deadline is asked for again. */
    hw.now = deadline - 1;
    pl031_timer_fired(&rtc);
    assert_int_equal(rd(PL031_RIS), 0);
    assert_int_equal(hw.requests, 2);
    assert_int_equal(hw.deadline, deadline);
    /* Late (the host clock jumped past the match second): still raised. */
    hw.now = deadline + 100 * S;
    pl031_timer_fired(&rtc);
    assert_int_equal(rd(PL031_RIS), 1);
    assert_int_equal(hw.level, 1);
    wr(PL031_ICR, 1);
    /* Loading LR moves the alarm: MR 20 s ahead of the new time. */
    wr(PL031_MR, 1000);
    wr(PL031_LR, 980);
    assert_int_equal(hw.deadline, (hw.now / S + 20) * S);
    /* Loading LR = MR matches at once and cancels the request. */
    wr(PL031_LR, 1000);
    assert_int_equal(rd(PL031_RIS), 1);
    assert_int_equal(hw.deadline, 0);
    /* MR in the past: DR reaches it only after wrapping, 2^32 - 1 s away. */
    wr(PL031_ICR, 1);
    wr(PL031_MR, rd(PL031_DR) - 1);
    assert_int_equal(hw.deadline, (hw.now / S + 0xffffffffull) * S);
    pl031_timer_fired(&rtc); /* spurious */
    assert_int_equal(rd(PL031_RIS), 0);
}

static void test_pl031__read_only_registers_stay(void **state)
{
    (void)state;
    uint32_t dr = rd(PL031_DR);
    wr(PL031_DR, 5);
    wr(PL031_RIS, 1);
    wr(PL031_MIS, 1);
    for (unsigned int i = 0; i < 4; i++) {
        wr(0xfe0 + 4 * i, 0xff);
        wr(0xff0 + 4 * i, 0xff);
    }
    assert_int_equal(rd(PL031_DR), dr);
    assert_int_equal(rd(PL031_RIS), 0);
    assert_int_equal(rd(PL031_MIS), 0);
    assert_int_equal(rd(0xfe0), 0x31);
    assert_int_equal(rd(0xffc), 0xb1);
    assert_int_equal(hw.changes, 0);
    assert_int_equal(hw.requests, 0);
}

static void test_pl031__bad_sizes_and_offsets(void **state)
{
    (void)state;
    static const struct { uint64_t off; unsigned int size; } bad[] = {
        {PL031_DR, 1}, {PL031_DR, 2}, {PL031_DR, 8}, {PL031_MR + 1, 4}, {PL031_MR + 2, 2},
        {0x020, 4}, {0x080, 4}, {0xfdc, 4}, {0xffe, 1}, {0x1000, 4}, {~0ull - 3, 4},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 0x1234;
        if (pl031_device_ops.mmio.read(&rtc, bad[i].off, bad[i].size, &v) != -EINVAL)
            fail_msg("read 0x%llx/%u accepted", (unsigned long long)bad[i].off, bad[i].size);
        assert_int_equal(v, 0);
        if (pl031_device_ops.mmio.write(&rtc, bad[i].off, bad[i].size, 0) != -EINVAL)
            fail_msg("write 0x%llx/%u accepted", (unsigned long long)bad[i].off, bad[i].size);
    }
    assert_int_equal(rd(PL031_DR), 1700000000u);
    assert_int_equal(rd(PL031_MR), 0);
}

static void test_pl031__reset_keeps_the_time(void **state)
{
    (void)state;
    struct device dev = pl031_device(&rtc, 0x09010000);
    assert_string_equal(dev.ops->type, "pl031");
    assert_int_equal(dev.size, 0x1000);
    assert_int_equal(dev.spi, 2);
    wr(PL031_LR, 500);
    wr(PL031_CR, 1);
    wr(PL031_IMSC, 1);
    wr(PL031_MR, 500);
    assert_int_equal(hw.level, 1);
    wr(PL031_MR, 600);
    assert_true(hw.deadline != 0);
    device_reset(&dev);
    assert_int_equal(hw.deadline, 0); /* alarm cancelled */
    assert_int_equal(hw.level, 0);
    assert_int_equal(rd(PL031_MR), 0);
    assert_int_equal(rd(PL031_LR), 0);
    assert_int_equal(rd(PL031_CR), 0);
    assert_int_equal(rd(PL031_IMSC), 0);
    assert_int_equal(rd(PL031_RIS), 0);
    assert_int_equal(rd(PL031_DR), 500);
}

static void test_pl031__save_change_restore_tracks_wall_time(void **state)
{
    (void)state;
    struct device dev = pl031_device(&rtc, 0x09010000);
    wr(PL031_CR, 1);
    wr(PL031_LR, 100000);          /* the guest set its clock */
    wr(PL031_IMSC, 1);
    wr(PL031_MR, 100000 + 3600);   /* rtcwake in an hour */
    uint64_t deadline = hw.deadline;
    struct dc_state saved = dc_save(&dev);

    wr(PL031_LR, 7);
    wr(PL031_MR, 7);
    wr(PL031_IMSC, 0);
    device_reset(&dev);

    hw.now += 60 * S;              /* a minute of downtime */
    dc_restore_ok(&dev, &saved);
    assert_int_equal(rd(PL031_DR), 100000 + 60);
    assert_int_equal(rd(PL031_MR), 100000 + 3600);
    assert_int_equal(rd(PL031_LR), 100000);
    assert_int_equal(rd(PL031_CR), 1);
    assert_int_equal(rd(PL031_IMSC), 1);
    assert_int_equal(rd(PL031_RIS), 0);
    assert_int_equal(hw.deadline, deadline); /* the alarm is asked for again */
    assert_int_equal(hw.level, 0);
    hw.now = deadline;
    pl031_timer_fired(&rtc);
    assert_int_equal(hw.level, 1);

    /* Restored after the alarm's time: it fires during the restore. */
    wr(PL031_ICR, 1);
    hw.now = deadline + 2 * 3600 * S;
    dc_restore_ok(&dev, &saved);
    assert_int_equal(rd(PL031_RIS), 1);
    assert_int_equal(hw.level, 1);
    assert_int_equal(hw.deadline, 0);
    free(saved.data);
}

static void test_pl031__restore_drives_the_line_and_cancels(void **state)
{
    (void)state;
    struct device dev = pl031_device(&rtc, 0x09010000);
    wr(PL031_IMSC, 1);
    wr(PL031_MR, rd(PL031_DR));
    assert_int_equal(hw.level, 1);
    struct dc_state raised = dc_save(&dev);
    device_reset(&dev);
    struct dc_state quiet = dc_save(&dev);
    dc_restore_ok(&dev, &raised);
    assert_int_equal(hw.level, 1);
    wr(PL031_MR, rd(PL031_DR) + 50);
    assert_true(hw.deadline != 0);
    dc_restore_ok(&dev, &quiet);
    assert_int_equal(hw.level, 0);
    assert_int_equal(hw.deadline, 0); /* the request made before the restore is dropped */
    free(raised.data);
    free(quiet.data);
}

static void poke(const struct device *dev, void *arg)
{
    (void)dev;
    (void)arg;
    rd(PL031_DR);
    assert_int_equal(rd(PL031_MIS), rd(PL031_RIS) & rd(PL031_IMSC));
    assert_int_equal(hw.level, (int)rd(PL031_MIS));
    pl031_timer_fired(&rtc);
    assert_int_equal(hw.level, (int)rd(PL031_MIS));
}

static void test_pl031__snapshot_contract(void **state)
{
    (void)state;
    struct device dev = pl031_device(&rtc, 0x09010000);
    dc_check_bad_lengths_and_version(&dev);
    wr(PL031_LR, 42);
    wr(PL031_IMSC, 1);
    wr(PL031_MR, 50);
    dc_check_bad_lengths_and_version(&dev);
    dc_check_corruptions(&dev, poke, NULL);
    /* Hostile: an alarm at a second where DR would not equal MR, one without a time, an
     * unarmed alarm with a time, one too far for a nanosecond timer, booleans other than 0/1.
     * Layout: version offset mr lr | started imsc ris armed | alarm_s(8). */
    struct dc_state s = dc_save(&dev);
    assert_int_equal(s.len, 28);
    static const struct { size_t at; uint8_t value; } bad[] = {
        {20, 0x00}, {27, 0x40}, {16, 2}, {17, 0xff}, {18, 3}, {19, 2},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t copy[28];
        memcpy(copy, s.data, s.len);
        copy[bad[i].at] = bad[i].value;
        dc_expect_refused(&dev, &s, copy, s.len, "hostile field at", bad[i].at);
    }
    uint8_t copy[28];
    memcpy(copy, s.data, s.len);
    memset(copy + 20, 0, 8);
    dc_expect_refused(&dev, &s, copy, s.len, "armed alarm at second", 0);
    memcpy(copy, s.data, s.len);
    copy[19] = 0;
    dc_expect_refused(&dev, &s, copy, s.len, "unarmed alarm with a time", 19);
    free(s.data);
}

static void test_pl031__host_clock_by_default(void **state)
{
    (void)state;
    struct pl031 host;
    assert_int_equal(pl031_init(&host, NULL, NULL, NULL, NULL), 0);
    uint64_t v;
    assert_int_equal(pl031_device_ops.mmio.read(&host, PL031_DR, 4, &v), 0);
    uint64_t t = (uint64_t)time(NULL);
    assert_true(v + 2 >= (uint32_t)t && v <= (uint32_t)t + 2);
    /* No irq line and no scheduler: a match still latches RIS. */
    assert_int_equal(pl031_device_ops.mmio.write(&host, PL031_MR, 4, v + 100), 0);
    assert_int_equal(pl031_device_ops.mmio.write(&host, PL031_LR, 4, v + 100), 0);
    assert_int_equal(pl031_device_ops.mmio.read(&host, PL031_RIS, 4, &v), 0);
    assert_int_equal(v, 1);
    pl031_release(&host);
}

#define T(name) cmocka_unit_test_setup_teardown(test_pl031__##name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(id_registers),
        T(data_register_counts_with_the_clock),
        T(load_register),
        T(control_register_start_bit),
        T(match_interrupt_and_clear),
        T(mask_gates_the_line),
        T(alarm_timer_early_late_and_cancelled),
        T(read_only_registers_stay),
        T(bad_sizes_and_offsets),
        T(reset_keeps_the_time),
        T(save_change_restore_tracks_wall_time),
        T(restore_drives_the_line_and_cancels),
        T(snapshot_contract),
        T(host_clock_by_default),
    };
    return cmocka_run_group_tests_name("pl031", tests, NULL, NULL);
}
