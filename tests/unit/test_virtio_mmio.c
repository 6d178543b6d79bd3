/* test_virtio_mmio.c — the virtio-mmio v2 transport: register file, feature negotiation,
 * status machine and reset, queue set-up checks, notifications and the interrupt line, with a
 * dummy device whose handler records calls. Invariants are checked after every scenario.
 * Snapshots: save -> change -> restore (RAM too) continues the rings exactly where they were;
 * the device.h contract checks; a state of another device or a ready queue outside RAM is
 * refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "virtio_driver.h"
#include "device_check.h"

struct dummy {
    uint8_t config[12];
    int handled;
    int resets;
    int result;      /* what handle_queue returns */
    bool echo;       /* pop + push every request */
};

static void dummy_config_read(void *opaque, uint64_t off, unsigned int size, uint64_t *value)
{
    struct dummy *d = opaque;
    *value = 0;
    memcpy(value, d->config + off, size);
}

static void dummy_config_write(void *opaque, uint64_t off, unsigned int size, uint64_t value)
{
    struct dummy *d = opaque;
    memcpy(d->config + off, &value, size);
}

static int dummy_handle(void *opaque, struct virtio_mmio *vm, unsigned int queue)
{
    struct dummy *d = opaque;
    d->handled++;
    if (!d->echo)
        return d->result;
    struct virtq_req *req;
    int r;
    while ((r = virtio_mmio_pop(vm, queue, &req)) > 0)
        virtio_mmio_push(vm, queue, req->head, 0);
    return r;
}

static void dummy_reset(void *opaque)
{
    ((struct dummy *)opaque)->resets++;
}

static const struct virtio_dev_ops dummy_ops = {
    .config_read = dummy_config_read,
    .config_write = dummy_config_write,
    .handle_queue = dummy_handle,
    .reset = dummy_reset,
};

#define DUMMY_FEATURES ((1ull << 3) | (1ull << 40))
#define ALL_FEATURES (DUMMY_FEATURES | (1ull << VIRTIO_F_VERSION_1))

struct fx {
    struct guest_mem mem;
    struct virtio_mmio vm;
    struct dummy dev;
    struct td_irq irq;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    td_mem_init(&f->mem);
    memcpy(f->dev.config, "ABCDEFGHIJKL", 12);
    struct virtio_mmio_config cfg = {
        .device_id = 42,
        .device_features = DUMMY_FEATURES,
        .nr_queues = 1,
        .config_size = sizeof(f->dev.config),
        .ops = &dummy_ops,
        .opaque = &f->dev,
    };
    struct irq_line line = {.set = td_irq_set, .opaque = &f->irq, .spi = 16};
    assert_int_equal(virtio_mmio_init(&f->vm, &cfg, &f->mem, line), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    assert_true(virtio_mmio_check_invariants(&f->vm));
    virtio_mmio_release(&f->vm);
    free(f->mem.host);
    free(f);
    return 0;
}

static void test_virtio_mmio__identity_registers(void **state)
{
    struct fx *f = *state;
    static const struct { uint64_t off; uint32_t value; } regs[] = {
        {VIRTIO_MMIO_MAGIC_VALUE, 0x74726976},
        {VIRTIO_MMIO_VERSION_REG, 2},
        {VIRTIO_MMIO_DEVICE_ID, 42},
        {VIRTIO_MMIO_VENDOR_ID, VIRTIO_MMIO_VENDOR},
        {VIRTIO_MMIO_QUEUE_NUM_MAX, VIRTQ_MAX_SIZE},
        {VIRTIO_MMIO_QUEUE_READY, 0},
        {VIRTIO_MMIO_STATUS, 0},
        {VIRTIO_MMIO_INTERRUPT_STATUS, 0},
        {VIRTIO_MMIO_CONFIG_GENERATION, 0},
        {VIRTIO_MMIO_SHM_LEN_LOW, 0xffffffff},
        {VIRTIO_MMIO_SHM_LEN_HIGH, 0xffffffff},
        {VIRTIO_MMIO_QUEUE_NOTIFY, 0},   /* write-only: reads zero */
        {0x0f0, 0},                      /* reserved */
    };
    for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
        if (td_rd(&f->vm, regs[i].off) != regs[i].value)
            fail_msg("register 0x%03llx: 0x%x", (unsigned long long)regs[i].off,
                     td_rd(&f->vm, regs[i].off));
}

static void test_virtio_mmio__feature_windows(void **state)
{
    struct fx *f = *state;
    td_wr(&f->vm, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)ALL_FEATURES);
    td_wr(&f->vm, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)(ALL_FEATURES >> 32));
    td_wr(&f->vm, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_DEVICE_FEATURES), 0);
}

static void test_virtio_mmio__features_ok_needs_subset_with_version_1(void **state)
{
    struct fx *f = *state;
    static const struct { uint64_t features; bool accepted; } cases[] = {
        {ALL_FEATURES, true},
        {1ull << VIRTIO_F_VERSION_1, true},
        {DUMMY_FEATURES, false},                          /* legacy driver */
        {ALL_FEATURES | (1ull << 7), false},              /* not offered */
        {(1ull << VIRTIO_F_VERSION_1) | (1ull << 63), false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t status = td_bring_up(&f->vm, cases[i].features);
        bool ok = status & VIRTIO_STATUS_FEATURES_OK;
        if (ok != cases[i].accepted)
            fail_msg("case %zu: status 0x%x", i, status);
        assert_int_equal(virtio_mmio_has_feature(&f->vm, 3), ok && (cases[i].features & 8));
        assert_true(virtio_mmio_check_invariants(&f->vm));
    }
}

static void test_virtio_mmio__features_frozen_after_features_ok(void **state)
{
    struct fx *f = *state;
    td_bring_up(&f->vm, 1ull << VIRTIO_F_VERSION_1);
    td_wr(&f->vm, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    td_wr(&f->vm, VIRTIO_MMIO_DRIVER_FEATURES, 1u << 3);
    assert_false(virtio_mmio_has_feature(&f->vm, 3));
}

static void test_virtio_mmio__register_access_must_be_aligned_words(void **state)
{
    struct fx *f = *state;
    uint64_t v;
    assert_int_equal(virtio_mmio_read(&f->vm, VIRTIO_MMIO_MAGIC_VALUE, 2, &v), -EINVAL);
    assert_int_equal(v, 0);
    assert_int_equal(virtio_mmio_read(&f->vm, VIRTIO_MMIO_MAGIC_VALUE + 1, 4, &v), -EINVAL);
    assert_int_equal(virtio_mmio_read(&f->vm, 0, 8, &v), -EINVAL);
    assert_int_equal(virtio_mmio_write(&f->vm, VIRTIO_MMIO_STATUS, 1, 1), -EINVAL);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_STATUS), 0);
    assert_int_equal(virtio_mmio_read(&f->vm, VIRTIO_MMIO_SIZE - 2, 4, &v), -EINVAL);
    assert_int_equal(virtio_mmio_read(&f->vm, VIRTIO_MMIO_SIZE, 1, &v), -EINVAL);
    assert_int_equal(virtio_mmio_read(&f->vm, 0x100, 3, &v), -EINVAL);
}

static void test_virtio_mmio__config_space_sizes(void **state)
{
    struct fx *f = *state;
    uint64_t v;
    assert_int_equal(virtio_mmio_read(&f->vm, 0x100, 1, &v), 0);
    assert_int_equal(v, 'A');
    assert_int_equal(virtio_mmio_read(&f->vm, 0x102, 2, &v), 0);
    assert_int_equal(v, 'C' | ('D' << 8));
    assert_int_equal(virtio_mmio_read(&f->vm, 0x104, 8, &v), 0);
    assert_memory_equal(&v, "EFGHIJKL", 8);
    /* Beyond the device's config: zero, writes ignored. */
    assert_int_equal(virtio_mmio_read(&f->vm, 0x10a, 4, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(virtio_mmio_write(&f->vm, 0x10c, 4, 0x1234), 0);
    assert_int_equal(virtio_mmio_write(&f->vm, 0x100, 1, 'z'), 0);
    assert_int_equal(f->dev.config[0], 'z');
}

static void test_virtio_mmio__notify_only_after_driver_ok(void **state)
{
    struct fx *f = *state;
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(f->dev.handled, 0);
    td_bring_up(&f->vm, ALL_FEATURES);
    assert_int_equal(f->dev.handled, 1); /* DRIVER_OK processes what was queued before */
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    virtio_mmio_notify(&f->vm, 0);
    assert_int_equal(f->dev.handled, 3);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_NOTIFY, 1);   /* no such queue */
    virtio_mmio_notify(&f->vm, 7);
    assert_int_equal(f->dev.handled, 3);
}

static void test_virtio_mmio__used_buffer_interrupt_and_ack(void **state)
{
    struct fx *f = *state;
    f->dev.echo = true;
    td_bring_up(&f->vm, ALL_FEATURES);
    td_desc(&f->mem, 0, TD_DATA, 4, 0, 0);
    td_avail(&f->mem, 0);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(td_used_idx(&f->mem), 1);
    assert_int_equal(f->irq.level, 1);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_USED_RING);
    td_wr(&f->vm, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_USED_RING);
    assert_int_equal(f->irq.level, 0);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}

static void test_virtio_mmio__broken_queue_sets_needs_reset(void **state)
{
    struct fx *f = *state;
    f->dev.echo = true;
    td_bring_up(&f->vm, ALL_FEATURES);
    td_desc(&f->mem, 0, TD_DATA, 4, VIRTQ_DESC_F_NEXT, 0); /* loop */
    td_avail(&f->mem, 0);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    uint32_t status = td_rd(&f->vm, VIRTIO_MMIO_STATUS);
    assert_true(status & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_CONFIG);
    assert_int_equal(f->irq.level, 1);
    /* Stopped: further notifications are ignored; the driver cannot clear the bit. */
    int before = f->dev.handled;
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(f->dev.handled, before);
    td_wr(&f->vm, VIRTIO_MMIO_STATUS, status & ~VIRTIO_STATUS_NEEDS_RESET);
    assert_true(td_rd(&f->vm, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    /* Reset recovers. */
    td_wr(&f->vm, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_STATUS), 0);
    assert_int_equal(f->irq.level, 0);
}

static void test_virtio_mmio__bad_queue_layout_is_not_made_ready(void **state)
{
    struct fx *f = *state;
    td_wr(&f->vm, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_SEL, 0);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_NUM, 5); /* not a power of two */
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)TD_DESC);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)TD_AVAIL);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)TD_USED);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_true(td_rd(&f->vm, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_virtio_mmio__queue_registers_locked_while_ready(void **state)
{
    struct fx *f = *state;
    td_bring_up(&f->vm, ALL_FEATURES);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1234);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_NUM, 3);
    assert_int_equal(f->vm.queues[0].desc_gpa, TD_DESC);
    assert_int_equal(f->vm.queues[0].size, TD_QSIZE);
    /* Selecting a queue that does not exist: reads zero, writes ignored. */
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_SEL, 3);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_QUEUE_READY), 0);
}

static void test_virtio_mmio__status_zero_resets_everything(void **state)
{
    struct fx *f = *state;
    f->dev.echo = true;
    td_bring_up(&f->vm, ALL_FEATURES);
    td_desc(&f->mem, 0, TD_DATA, 4, 0, 0);
    td_avail(&f->mem, 0);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(f->irq.level, 1);
    int resets = f->dev.resets;
    td_wr(&f->vm, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(f->dev.resets, resets + 1);
    assert_int_equal(f->irq.level, 0);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    assert_false(virtio_mmio_has_feature(&f->vm, VIRTIO_F_VERSION_1));
    assert_int_equal(f->vm.queues[0].last_avail, 0);
    /* A fresh bring-up on the same rings works again from index 0. */
    memset(td_ptr(&f->mem, TD_AVAIL), 0, 0x2000);
    td_bring_up(&f->vm, ALL_FEATURES);
    td_avail(&f->mem, 0);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(td_used_idx(&f->mem), 1);
    virtio_mmio_reset(&f->vm);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_STATUS), 0);
}

static void test_virtio_mmio__init_rejects_bad_config(void **state)
{
    struct fx *f = *state;
    struct virtio_mmio vm;
    struct irq_line line = {0};
    struct virtio_mmio_config cfg = {.device_id = 1, .nr_queues = 0, .ops = &dummy_ops};
    assert_int_equal(virtio_mmio_init(&vm, &cfg, &f->mem, line), -EINVAL);
    cfg.nr_queues = VIRTIO_MMIO_MAX_QUEUES + 1;
    assert_int_equal(virtio_mmio_init(&vm, &cfg, &f->mem, line), -EINVAL);
    cfg.nr_queues = 1;
    cfg.config_size = 0x101;
    assert_int_equal(virtio_mmio_init(&vm, &cfg, &f->mem, line), -EINVAL);
    cfg.config_size = 0;
    cfg.ops = NULL;
    assert_int_equal(virtio_mmio_init(&vm, &cfg, &f->mem, line), -EINVAL);
}

static const struct device_ops dummy_device_ops = VIRTIO_MMIO_DEVICE_OPS("dummy");

/* Submit one 4-byte buffer in descriptor `desc` and notify. */
static void submit_one(struct fx *f, uint16_t desc)
{
    td_desc(&f->mem, desc, TD_DATA + 16u * desc, 4, 0, 0);
    td_avail(&f->mem, desc);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static void test_virtio_mmio__save_change_restore_continues_the_rings(void **state)
{
    struct fx *f = *state;
    f->dev.echo = true;
    struct device dev = virtio_mmio_device(&f->vm, &dummy_device_ops, "dummy", 0x0a000000);
    assert_int_equal(dev.spi, 16);
    assert_int_equal(dev.size, 0x200);
    td_bring_up(&f->vm, ALL_FEATURES);
    submit_one(f, 0);
    submit_one(f, 1);
    assert_int_equal(td_used_idx(&f->mem), 2);
    td_wr(&f->vm, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    td_wr(&f->vm, VIRTIO_MMIO_QUEUE_SEL, 0);
    assert_int_equal(f->irq.level, 1); /* used-buffer interrupt not yet acknowledged */
    struct dc_state saved = dc_save(&dev);
    uint8_t *ram = malloc(TD_RAM_SIZE);
    memcpy(ram, f->mem.host, TD_RAM_SIZE);

    /* Change: more requests, acknowledge, then a driver reset. */
    submit_one(f, 2);
    td_wr(&f->vm, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_USED_RING);
    td_wr(&f->vm, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(f->irq.level, 0);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_QUEUE_READY), 0);

    /* Restore device and RAM, as a snapshot restore does. */
    memcpy(f->mem.host, ram, TD_RAM_SIZE);
    dc_restore_ok(&dev, &saved);
    assert_int_equal(f->irq.level, 1);
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_USED_RING);
    assert_true(td_rd(&f->vm, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
    assert_true(virtio_mmio_has_feature(&f->vm, 3));
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)(ALL_FEATURES >> 32));
    assert_int_equal(td_rd(&f->vm, VIRTIO_MMIO_QUEUE_READY), 1);
    assert_true(virtio_mmio_check_invariants(&f->vm));
    /* The next request is taken from avail entry 2 and completes as used entry 2. */
    submit_one(f, 5);
    assert_int_equal(td_used_idx(&f->mem), 3);
    uint32_t id, len;
    td_used_elem(&f->mem, 2, &id, &len);
    assert_int_equal(id, 5);
    free(ram);
    free(saved.data);
}

static void notify_and_check(const struct device *dev, void *arg)
{
    struct fx *f = arg;
    (void)dev;
    assert_true(virtio_mmio_check_invariants(&f->vm));
    submit_one(f, 3);
    td_wr(&f->vm, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    td_rd(&f->vm, VIRTIO_MMIO_QUEUE_READY);
    assert_true(virtio_mmio_check_invariants(&f->vm));
}

static void test_virtio_mmio__snapshot_contract(void **state)
{
    struct fx *f = *state;
    f->dev.echo = true;
    struct device dev = virtio_mmio_device(&f->vm, &dummy_device_ops, "dummy", 0x0a000000);
    dc_check_bad_lengths_and_version(&dev); /* fresh, before the driver */
    td_bring_up(&f->vm, ALL_FEATURES);
    submit_one(f, 0);
    dc_check_bad_lengths_and_version(&dev);
    dc_check_corruptions(&dev, notify_and_check, f);
}

static void test_virtio_mmio__restore_refuses_hostile_states(void **state)
{
    struct fx *f = *state;
    struct device dev = virtio_mmio_device(&f->vm, &dummy_device_ops, "dummy", 0x0a000000);
    td_bring_up(&f->vm, ALL_FEATURES);
    struct dc_state s = dc_save(&dev);
    /* Layout: version id features(8) nr_queues config_size driver_features(8) dsel drsel
     * qsel status istatus generation | size(2) ready desc(8) avail(8) used(8) ... */
    enum { ID = 4, NRQ = 16, CFG = 20, DRVF = 24, STATUS = 44, ISTATUS = 48, Q0 = 56,
           Q0_DESC = Q0 + 3, Q0_USED = Q0 + 19 };
    static const struct { size_t at; uint8_t value; } bad[] = {
        {ID, 43}, {NRQ, 2}, {CFG, 13}, {DRVF + 4, 0}, {DRVF + 7, 0x80}, {STATUS + 1, 1},
        {ISTATUS, 4}, {Q0_DESC + 7, 0x10}, {Q0_DESC, 0x08}, {Q0_USED + 3, 0x80}, {Q0 + 2, 2},
        {Q0, 3},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t copy[256];
        assert_true(s.len <= sizeof(copy));
        memcpy(copy, s.data, s.len);
        copy[bad[i].at] = bad[i].value;
        dc_expect_refused(&dev, &s, copy, s.len, "hostile field at", bad[i].at);
    }
    /* A state of another device type. */
    struct virtio_mmio other;
    struct dummy other_dev = {0};
    struct virtio_mmio_config cfg = {.device_id = 7, .device_features = DUMMY_FEATURES,
                                     .nr_queues = 1, .config_size = 12, .ops = &dummy_ops,
                                     .opaque = &other_dev};
    assert_int_equal(virtio_mmio_init(&other, &cfg, &f->mem, (struct irq_line){0}), 0);
    struct device odev = virtio_mmio_device(&other, &dummy_device_ops, "other", 0x0a000200);
    char err[256];
    assert_int_equal(dc_restore_bytes(&odev, s.data, s.len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "different device"));
    virtio_mmio_release(&other);
    free(s.data);
}

#define T(name) cmocka_unit_test_setup_teardown(test_virtio_mmio__##name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(identity_registers),
        T(feature_windows),
        T(features_ok_needs_subset_with_version_1),
        T(features_frozen_after_features_ok),
        T(register_access_must_be_aligned_words),
        T(config_space_sizes),
        T(notify_only_after_driver_ok),
        T(used_buffer_interrupt_and_ack),
        T(broken_queue_sets_needs_reset),
        T(bad_queue_layout_is_not_made_ready),
        T(queue_registers_locked_while_ready),
        T(status_zero_resets_everything),
        T(init_rejects_bad_config),
        T(save_change_restore_continues_the_rings),
        T(snapshot_contract),
        T(restore_refuses_hostile_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
