/* test_virtio_input.c — the virtio-input power button driven by the fake driver of
 * virtio_driver.h: identity and config space per select/subsel (names, devids, the EV_KEY and
 * EV_SYN bitmaps, empty answers, only select/subsel writable), a key press delivered as four
 * events in order, delivery deferred until buffers arrive, the pending ring's bound and the
 * errors a caller reports (-ENODEV, -EAGAIN, -EINVAL), statusq completion, hostile eventq
 * buffers (too small, read-only, mixed, outside RAM) breaking the queue without a crash, resets
 * emptying the ring, and snapshots carrying the pending events. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "devices/virtio_input.h"
#include "virtio_driver.h"
#include "device_check.h"

#define BUF(i) (TD_DATA + 16ull * (i))
#define SQ_DESC (TD_RAM_BASE + 0x4000)
#define SQ_AVAIL (TD_RAM_BASE + 0x5000)
#define SQ_USED (TD_RAM_BASE + 0x6000)

struct fx {
    struct guest_mem mem;
    struct virtio_input in;
    struct virtio_mmio *vm;
    struct td_irq irq;
    uint16_t next_desc;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    td_mem_init(&f->mem);
    char err[128];
    struct irq_line line = {.set = td_irq_set, .opaque = &f->irq, .spi = 17};
    if (virtio_input_init(&f->in, &f->mem, line, err, sizeof(err)))
        fail_msg("%s", err);
    f->vm = &f->in.transport;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    assert_true(virtio_mmio_check_invariants(f->vm));
    virtio_input_release(&f->in);
    free(f->mem.host);
    free(f);
    return 0;
}

static int setup_running(void **state)
{
    setup(state);
    struct fx *f = *state;
    assert_true(td_bring_up(f->vm, 1ull << VIRTIO_F_VERSION_1) & VIRTIO_STATUS_DRIVER_OK);
    return 0;
}

/* Make descriptor chain `n` buffers long available on eventq and notify. */
static void post(struct fx *f, unsigned int n, uint32_t len, uint16_t flags)
{
    for (unsigned int i = 0; i < n; i++) {
        uint16_t d = f->next_desc++ % TD_QSIZE;
        memset(td_ptr(&f->mem, BUF(d)), 0xee, 16);
        td_desc(&f->mem, d, BUF(d), len, flags, 0);
        td_avail(&f->mem, d);
    }
    td_wr(f->vm, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_INPUT_EVENTQ);
}

static void post_events(struct fx *f, unsigned int n)
{
    post(f, n, 8, VIRTQ_DESC_F_WRITE);
}

/* The event in used entry i (whose buffer is descriptor id). */
static void used_event(struct fx *f, unsigned int i, uint16_t type, uint16_t code, uint32_t value)
{
    uint32_t id, len;
    td_used_elem(&f->mem, i, &id, &len);
    assert_int_equal(len, 8);
    const uint8_t *b = td_ptr(&f->mem, BUF(id));
    uint16_t t = (uint16_t)(b[0] | b[1] << 8), c = (uint16_t)(b[2] | b[3] << 8);
    uint32_t v = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 |
                 (uint32_t)b[7] << 24;
    if (t != type || c != code || v != value)
        fail_msg("used %u: event {%u, %u, %u}, expected {%u, %u, %u}", i, t, c, v, type, code,
                 value);
}

static void expect_press(struct fx *f, unsigned int first, uint16_t code)
{
    used_event(f, first + 0, INPUT_EV_KEY, code, 1);
    used_event(f, first + 1, INPUT_EV_SYN, INPUT_SYN_REPORT, 0);
    used_event(f, first + 2, INPUT_EV_KEY, code, 0);
    used_event(f, first + 3, INPUT_EV_SYN, INPUT_SYN_REPORT, 0);
}

static int press(struct fx *f, uint16_t code)
{
    char err[160] = "";
    int rc = virtio_input_press_key(&f->in, code, err, sizeof(err));
    if (rc && !strstr(err, "virtio-input"))
        fail_msg("press %u: %d without a message ('%s')", code, rc, err);
    return rc;
}

static uint64_t cfg_rd(struct fx *f, uint64_t off, unsigned int size)
{
    uint64_t v = 0xdead;
    assert_int_equal(virtio_mmio_read(f->vm, VIRTIO_MMIO_CONFIG + off, size, &v), 0);
    return v;
}

static void cfg_select(struct fx *f, uint8_t select, uint8_t subsel)
{
    assert_int_equal(virtio_mmio_write(f->vm, VIRTIO_MMIO_CONFIG + 0, 1, select), 0);
    assert_int_equal(virtio_mmio_write(f->vm, VIRTIO_MMIO_CONFIG + 1, 1, subsel), 0);
}

static void test_virtio_input__identity(void **state)
{
    struct fx *f = *state;
    assert_int_equal(td_rd(f->vm, VIRTIO_MMIO_DEVICE_ID), 18);
    td_wr(f->vm, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    assert_int_equal(td_rd(f->vm, VIRTIO_MMIO_DEVICE_FEATURES), 0);
    td_wr(f->vm, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    assert_int_equal(td_rd(f->vm, VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 */
    td_wr(f->vm, VIRTIO_MMIO_QUEUE_SEL, 1);
    assert_int_equal(td_rd(f->vm, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
    td_wr(f->vm, VIRTIO_MMIO_QUEUE_SEL, 2);
    assert_int_equal(td_rd(f->vm, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    struct device dev = virtio_input_device(&f->in, 0x0a000200);
    assert_string_equal(dev.ops->type, "virtio-input");
    assert_int_equal(dev.spi, 17);
    assert_int_equal(dev.size, 0x200);
}

static void expect_config_string(struct fx *f, uint8_t select, const char *s)
{
    cfg_select(f, select, 0);
    assert_int_equal(cfg_rd(f, 2, 1), strlen(s));
    for (size_t i = 0; i < 128; i++)
        if (cfg_rd(f, 8 + i, 1) != (i < strlen(s) ? (uint8_t)s[i] : 0))
            fail_msg("select 0x%x byte %zu", select, i);
}

static void test_virtio_input__config_space(void **state)
{
    struct fx *f = *state;
    assert_int_equal(cfg_rd(f, 2, 1), 0); /* UNSET */
    expect_config_string(f, VIRTIO_INPUT_CFG_ID_NAME, "pscivm power button");
    expect_config_string(f, VIRTIO_INPUT_CFG_ID_SERIAL, "pscivm-power0");
    assert_int_equal(cfg_rd(f, 0, 2), VIRTIO_INPUT_CFG_ID_SERIAL); /* select, subsel read back */

    cfg_select(f, VIRTIO_INPUT_CFG_ID_DEVIDS, 0);
    assert_int_equal(cfg_rd(f, 2, 1), 8);
    assert_int_equal(cfg_rd(f, 8, 2), INPUT_BUS_VIRTUAL);
    assert_int_equal(cfg_rd(f, 8, 8), 0x0001000150530006ull); /* bus, vendor, product, version */
    assert_int_equal(cfg_rd(f, 16, 8), 0);                     /* nothing left of the name */

    cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, INPUT_EV_KEY);
    assert_int_equal(cfg_rd(f, 2, 1), 18);
    for (unsigned int bit = 0; bit < 128 * 8; bit++) {
        bool set = (cfg_rd(f, 8 + bit / 8, 1) >> (bit % 8)) & 1;
        bool want = bit == INPUT_KEY_POWER || bit == INPUT_KEY_SLEEP || bit == INPUT_KEY_WAKEUP;
        if (set != want)
            fail_msg("EV_KEY bitmap bit %u is %d", bit, set);
    }
    assert_int_equal(cfg_rd(f, 8 + 14, 1), 1u << (116 % 8));
    assert_int_equal(cfg_rd(f, 8 + 16, 2), 0xc000);  /* 142, 143 */

    cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, INPUT_EV_SYN);
    assert_int_equal(cfg_rd(f, 2, 1), 1);
    assert_int_equal(cfg_rd(f, 8, 4), 1);

    static const uint8_t empty[][2] = {
        {VIRTIO_INPUT_CFG_EV_BITS, 2 /* EV_REL */}, {VIRTIO_INPUT_CFG_EV_BITS, 0xff},
        {VIRTIO_INPUT_CFG_PROP_BITS, 0}, {VIRTIO_INPUT_CFG_ABS_INFO, 0},
        {VIRTIO_INPUT_CFG_ID_NAME, 1}, {VIRTIO_INPUT_CFG_ID_DEVIDS, 3}, {0x7f, 0},
        {VIRTIO_INPUT_CFG_UNSET, 0},
    };
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        cfg_select(f, empty[i][0], empty[i][1]);
        if (cfg_rd(f, 2, 1) != 0 || cfg_rd(f, 8, 8) != 0)
            fail_msg("select 0x%x subsel 0x%x is not empty", empty[i][0], empty[i][1]);
    }
    /* Only select and subsel are writable; a 2-byte write sets both. */
    assert_int_equal(virtio_mmio_write(f->vm, VIRTIO_MMIO_CONFIG, 2,
                                       VIRTIO_INPUT_CFG_EV_BITS | INPUT_EV_KEY << 8), 0);
    assert_int_equal(virtio_mmio_write(f->vm, VIRTIO_MMIO_CONFIG + 2, 1, 99), 0);
    assert_int_equal(virtio_mmio_write(f->vm, VIRTIO_MMIO_CONFIG + 8, 8, ~0ull), 0);
    assert_int_equal(cfg_rd(f, 2, 1), 18);
    assert_int_equal(cfg_rd(f, 8, 8), 0);
    /* Past the 136-byte config: zero, refused by nobody, ignored. */
    assert_int_equal(cfg_rd(f, 136, 4), 0);
    assert_int_equal(cfg_rd(f, 132, 8), 0);
}

static void test_virtio_input__key_press_is_four_events(void **state)
{
    struct fx *f = *state;
    post_events(f, 4);
    assert_int_equal(td_used_idx(&f->mem), 0);
    assert_int_equal(f->irq.level, 0);
    assert_int_equal(press(f, INPUT_KEY_POWER), 0);
    assert_int_equal(td_used_idx(&f->mem), 4);
    expect_press(f, 0, INPUT_KEY_POWER);
    assert_int_equal(f->irq.level, 1);
    assert_int_equal(td_rd(f->vm, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_USED_RING);
}

static void test_virtio_input__delivery_waits_for_buffers(void **state)
{
    struct fx *f = *state;
    assert_int_equal(press(f, INPUT_KEY_SLEEP), 0);
    assert_int_equal(press(f, INPUT_KEY_WAKEUP), 0);
    assert_int_equal(td_used_idx(&f->mem), 0);
    assert_int_equal(f->irq.level, 0);
    post_events(f, 3);
    assert_int_equal(td_used_idx(&f->mem), 3);
    assert_int_equal(f->irq.level, 1);
    post_events(f, 1);
    expect_press(f, 0, INPUT_KEY_SLEEP);
    post_events(f, 6); /* more buffers than events: two stay with the device */
    assert_int_equal(td_used_idx(&f->mem), 8);
    expect_press(f, 4, INPUT_KEY_WAKEUP);
    assert_int_equal(press(f, INPUT_KEY_POWER), 0); /* lands in the two waiting buffers ... */
    assert_int_equal(td_used_idx(&f->mem), 10);
    post_events(f, 2);                               /* ... and the rest in new ones */
    expect_press(f, 8, INPUT_KEY_POWER);
}

static void test_virtio_input__errors_the_caller_reports(void **state)
{
    struct fx *f = *state;
    assert_int_equal(press(f, INPUT_KEY_POWER), -ENODEV); /* no driver yet */
    td_bring_up(f->vm, 1ull << VIRTIO_F_VERSION_1);
    assert_int_equal(press(f, 30 /* KEY_A */), -EINVAL);
    assert_int_equal(press(f, 0), -EINVAL);
    for (unsigned int i = 0; i < VIRTIO_INPUT_PENDING / 4; i++)
        assert_int_equal(press(f, INPUT_KEY_POWER), 0);
    assert_int_equal(press(f, INPUT_KEY_POWER), -EAGAIN); /* the guest takes nothing */
    post_events(f, 4);
    assert_int_equal(press(f, INPUT_KEY_POWER), 0);        /* room again */
    assert_int_equal(press(f, INPUT_KEY_POWER), -EAGAIN);
    /* Driver gone (status 0): pending events are dropped, presses refused. */
    td_wr(f->vm, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(press(f, INPUT_KEY_POWER), -ENODEV);
    assert_int_equal(f->in.count, 0);
}

static void test_virtio_input__status_queue_is_completed_unread(void **state)
{
    struct fx *f = *state;
    td_wr(f->vm, VIRTIO_MMIO_QUEUE_SEL, VIRTIO_INPUT_STATUSQ);
    td_wr(f->vm, VIRTIO_MMIO_QUEUE_NUM, TD_QSIZE);
    td_wr(f->vm, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)SQ_DESC);
    td_wr(f->vm, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)SQ_AVAIL);
    td_wr(f->vm, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)SQ_USED);
    td_wr(f->vm, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_int_equal(td_rd(f->vm, VIRTIO_MMIO_QUEUE_READY), 1);
    /* Two LED events from the driver (readable), one odd writable buffer. */
    uint8_t *desc = td_ptr(&f->mem, SQ_DESC), *avail = td_ptr(&f->mem, SQ_AVAIL);
    for (uint16_t i = 0; i < 3; i++) {
        uint64_t addr = TD_DATA + 0x800 + 8u * i;
        uint32_t len = 8;
        uint16_t flags = i == 2 ? VIRTQ_DESC_F_WRITE : 0;
        memcpy(desc + 16 * i, &addr, 8);
        memcpy(desc + 16 * i + 8, &len, 4);
        memcpy(desc + 16 * i + 12, &flags, 2);
        memcpy(avail + 4 + 2 * i, &i, 2);
    }
    uint16_t idx = 3;
    memcpy(avail + 2, &idx, 2);
    td_wr(f->vm, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_INPUT_STATUSQ);
    uint16_t used;
    memcpy(&used, (uint8_t *)td_ptr(&f->mem, SQ_USED) + 2, 2);
    assert_int_equal(used, 3);
    uint32_t len;
    memcpy(&len, (uint8_t *)td_ptr(&f->mem, SQ_USED) + 4 + 8 * 2 + 4, 4);
    assert_int_equal(len, 0);
    assert_false(td_rd(f->vm, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(td_used_idx(&f->mem), 0); /* nothing on the eventq */
}

static void expect_broken(struct fx *f, const char *what)
{
    if (!(td_rd(f->vm, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET))
        fail_msg("%s: queue not marked broken", what);
    assert_int_equal(td_used_idx(&f->mem), 0);
    assert_int_equal(td_rd(f->vm, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_CONFIG);
    assert_int_equal(press(f, INPUT_KEY_POWER), -ENODEV);
    /* The driver resets and starts over: nothing stale is delivered. */
    memset(td_ptr(&f->mem, TD_AVAIL), 0, 0x2000);
    memset(td_ptr(&f->mem, TD_USED), 0, 0x1000);
    f->next_desc = 0;
    assert_true(td_bring_up(f->vm, 1ull << VIRTIO_F_VERSION_1) & VIRTIO_STATUS_DRIVER_OK);
    post_events(f, 4);
    assert_int_equal(td_used_idx(&f->mem), 0);
    assert_int_equal(press(f, INPUT_KEY_POWER), 0);
    expect_press(f, 0, INPUT_KEY_POWER);
}

static void test_virtio_input__hostile_buffers(void **state)
{
    struct fx *f = *state;
    static const struct { const char *what; uint32_t len; uint16_t flags; uint64_t addr; } bad[] = {
        {"too small", 7, VIRTQ_DESC_F_WRITE, 0},
        {"empty", 0, VIRTQ_DESC_F_WRITE, 0},
        {"read-only", 8, 0, 0},
        {"outside RAM", 8, VIRTQ_DESC_F_WRITE, TD_RAM_BASE + TD_RAM_SIZE - 4},
        {"huge", 0xffffffffu, VIRTQ_DESC_F_WRITE, TD_RAM_BASE},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(press(f, INPUT_KEY_POWER), 0);
        uint16_t d = f->next_desc++ % TD_QSIZE;
        td_desc(&f->mem, d, bad[i].addr ? bad[i].addr : BUF(d), bad[i].len, bad[i].flags, 0);
        td_avail(&f->mem, d);
        td_wr(f->vm, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_INPUT_EVENTQ);
        expect_broken(f, bad[i].what);
        td_wr(f->vm, VIRTIO_MMIO_STATUS, 0);
        memset(td_ptr(&f->mem, TD_AVAIL), 0, 0x2000);
        memset(td_ptr(&f->mem, TD_USED), 0, 0x1000);
        f->next_desc = 0;
        td_bring_up(f->vm, 1ull << VIRTIO_F_VERSION_1);
    }
    /* A readable header before a writable buffer. */
    assert_int_equal(press(f, INPUT_KEY_POWER), 0);
    td_desc(&f->mem, 0, BUF(0), 8, VIRTQ_DESC_F_NEXT, 1);
    td_desc(&f->mem, 1, BUF(1), 8, VIRTQ_DESC_F_WRITE, 0);
    td_avail(&f->mem, 0);
    f->next_desc = 2;
    td_wr(f->vm, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_INPUT_EVENTQ);
    expect_broken(f, "mixed chain");
}

static void test_virtio_input__event_split_across_descriptors(void **state)
{
    struct fx *f = *state;
    /* VERSION_1 framing is free: 3 + 5 writable bytes hold one event. */
    td_desc(&f->mem, 0, BUF(0), 3, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    td_desc(&f->mem, 1, BUF(0) + 3, 5, VIRTQ_DESC_F_WRITE, 0);
    td_avail(&f->mem, 0);
    f->next_desc = 2;
    assert_int_equal(press(f, INPUT_KEY_WAKEUP), 0);
    assert_int_equal(td_used_idx(&f->mem), 1);
    used_event(f, 0, INPUT_EV_KEY, INPUT_KEY_WAKEUP, 1);
}

static void test_virtio_input__reset_empties_the_ring(void **state)
{
    struct fx *f = *state;
    struct device dev = virtio_input_device(&f->in, 0x0a000000);
    assert_int_equal(press(f, INPUT_KEY_POWER), 0);
    cfg_select(f, VIRTIO_INPUT_CFG_ID_NAME, 0);
    device_reset(&dev);
    assert_int_equal(f->in.count, 0);
    assert_int_equal(cfg_rd(f, 0, 4), 0);
    assert_int_equal(td_rd(f->vm, VIRTIO_MMIO_STATUS), 0);
    assert_int_equal(press(f, INPUT_KEY_POWER), -ENODEV);
}

static void test_virtio_input__save_change_restore_keeps_pending_events(void **state)
{
    struct fx *f = *state;
    struct device dev = virtio_input_device(&f->in, 0x0a000000);
    post_events(f, 2);
    assert_int_equal(press(f, INPUT_KEY_POWER), 0);     /* two delivered, two pending */
    assert_int_equal(press(f, INPUT_KEY_SLEEP), 0);     /* four more pending */
    cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, INPUT_EV_KEY);
    struct dc_state saved = dc_save(&dev);
    uint8_t *ram = malloc(TD_RAM_SIZE);
    memcpy(ram, f->mem.host, TD_RAM_SIZE);
    uint16_t next_desc = f->next_desc;

    post_events(f, 6);
    assert_int_equal(td_used_idx(&f->mem), 8);
    device_reset(&dev);

    memcpy(f->mem.host, ram, TD_RAM_SIZE);
    f->next_desc = next_desc;
    dc_restore_ok(&dev, &saved);
    assert_int_equal(cfg_rd(f, 2, 1), 18);
    assert_int_equal(td_used_idx(&f->mem), 2);
    assert_int_equal(f->irq.level, 1);
    post_events(f, 6);
    assert_int_equal(td_used_idx(&f->mem), 8);
    expect_press(f, 0, INPUT_KEY_POWER);
    expect_press(f, 4, INPUT_KEY_SLEEP);
    free(ram);
    free(saved.data);
}

static void poke(const struct device *dev, void *arg)
{
    struct fx *f = arg;
    (void)dev;
    assert_true(virtio_mmio_check_invariants(f->vm));
    press(f, INPUT_KEY_WAKEUP);
    post_events(f, 1);
    cfg_rd(f, 2, 1);
    assert_true(virtio_mmio_check_invariants(f->vm));
}

static void test_virtio_input__snapshot_contract(void **state)
{
    struct fx *f = *state;
    struct device dev = virtio_input_device(&f->in, 0x0a000000);
    assert_int_equal(press(f, INPUT_KEY_POWER), 0);
    dc_check_bad_lengths_and_version(&dev);
    dc_check_corruptions(&dev, poke, f);
    /* Hostile device-model parts: the model's state follows the transport's (whose length
     * with two queues is 56 + 2 * 31). Layout: version(4) select subsel count | events. */
    struct dc_state s = dc_save(&dev);
    const size_t model = 56 + 2 * 31;
    assert_int_equal(s.len, model + 7 + 4 * 8);
    static const struct { size_t off; uint8_t value; } bad[] = {
        {6, 65}, {6, 5}, {7, 2}, {9, 0x75 /* KEY 117 */}, {11, 2}, {15, 1}, {17, 1}, {19, 1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *copy = malloc(s.len);
        memcpy(copy, s.data, s.len);
        copy[model + bad[i].off] = bad[i].value;
        dc_expect_refused(&dev, &s, copy, s.len, "hostile model byte", bad[i].off);
        free(copy);
    }
    free(s.data);
}

#define T(name) cmocka_unit_test_setup_teardown(test_virtio_input__##name, setup_running, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_virtio_input__identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtio_input__config_space, setup, teardown),
        T(key_press_is_four_events),
        T(delivery_waits_for_buffers),
        cmocka_unit_test_setup_teardown(test_virtio_input__errors_the_caller_reports, setup,
                                        teardown),
        T(status_queue_is_completed_unread),
        T(hostile_buffers),
        T(event_split_across_descriptors),
        T(reset_empties_the_ring),
        T(save_change_restore_keeps_pending_events),
        T(snapshot_contract),
    };
    return cmocka_run_group_tests_name("virtio_input", tests, NULL, NULL);
}
