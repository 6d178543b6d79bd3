/* test_bus.c — the MMIO bus: registration rejects empty, wrapping and overlapping ranges;
 * lookups route each access to the right device with a region-relative offset; accesses that
 * miss every region, have a bad size or straddle a region's end are refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "devices/bus.h"

struct rec {
    uint64_t last_offset;
    unsigned int last_size;
    uint64_t last_value;
    int calls;
};

static int rec_read(void *opaque, uint64_t offset, unsigned int size, uint64_t *value)
{
    struct rec *r = opaque;
    r->last_offset = offset;
    r->last_size = size;
    r->calls++;
    *value = 0xab00 + offset;
    return 0;
}

static int rec_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
    struct rec *r = opaque;
    r->last_offset = offset;
    r->last_size = size;
    r->last_value = value;
    r->calls++;
    return 0;
}

static const struct bus_device_ops rec_ops = {.read = rec_read, .write = rec_write};

static void test_bus__register_rejects_bad_and_overlapping(void **state)
{
    (void)state;
    struct bus bus;
    struct rec r = {0};
    bus_init(&bus);
    assert_int_equal(bus_register(&bus, 0x1000, 0x100, &rec_ops, &r, "a"), 0);
    assert_int_equal(bus_register(&bus, 0x3000, 0x100, &rec_ops, &r, "b"), 0);
    static const struct {
        uint64_t base, size;
        int expect;
    } cases[] = {
        {0x2000, 0, -EINVAL},                  /* empty */
        {UINT64_MAX - 0xf, 0x20, -EINVAL},     /* wraps */
        {0x1000, 0x100, -EEXIST},              /* identical */
        {0x10ff, 0x1, -EEXIST},                /* last byte of a */
        {0x0f00, 0x101, -EEXIST},              /* reaches a's first byte */
        {0x1080, 0x2000, -EEXIST},             /* spans into b */
        {0x0000, 0x10000, -EEXIST},            /* covers both */
        {0x2fff, 0x2, -EEXIST},                /* first byte of b */
        {0x1100, 0x1f00, 0},                   /* exactly the gap */
        {0x0f00, 0x100, 0},                    /* just below a */
        {UINT64_MAX - 0xf, 0x10, 0},           /* up to the top of the address space */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(bus_register(&bus, cases[i].base, cases[i].size, &rec_ops, &r, "x"),
                         cases[i].expect);
    assert_int_equal(bus_register(&bus, 0x9000, 0x10, NULL, &r, "null ops"), -EINVAL);
    assert_int_equal(bus.nr, 5);
    for (unsigned int i = 1; i < bus.nr; i++)
        assert_true(bus.regions[i - 1].base + bus.regions[i - 1].size <= bus.regions[i].base);
    bus_release(&bus);
}

static void test_bus__routes_accesses(void **state)
{
    (void)state;
    struct bus bus;
    struct rec a = {0}, b = {0};
    bus_init(&bus);
    /* Registered out of order: the bus keeps them sorted. */
    assert_int_equal(bus_register(&bus, 0x9000000, 0x1000, &rec_ops, &b, "uart"), 0);
    assert_int_equal(bus_register(&bus, 0x8000000, 0x10000, &rec_ops, &a, "gic"), 0);
    uint64_t v = 0;
    assert_int_equal(bus_read(&bus, 0x9000005, 1, &v), 0);
    assert_int_equal(b.last_offset, 5);
    assert_int_equal(v, 0xab05);
    assert_int_equal(bus_write(&bus, 0x800fff8, 8, 0x1122334455667788ULL), 0);
    assert_int_equal(a.last_offset, 0xfff8);
    assert_int_equal(a.last_size, 8);
    assert_int_equal(a.last_value, 0x1122334455667788ULL);
    assert_string_equal(bus_region_name(&bus, 0x9000fff), "uart");
    assert_null(bus_region_name(&bus, 0x9001000));
    bus_release(&bus);
}

static void test_bus__refuses_bad_accesses(void **state)
{
    (void)state;
    struct bus bus;
    struct rec r = {0};
    bus_init(&bus);
    assert_int_equal(bus_register(&bus, 0x1000, 0x100, &rec_ops, &r, "a"), 0);
    static const struct {
        uint64_t addr;
        unsigned int size;
        int expect;
    } cases[] = {
        {0x0fff, 1, -ENOENT}, {0x1100, 4, -ENOENT}, {0, 8, -ENOENT},
        {0x10fe, 4, -EINVAL}, /* straddles the end */
        {0x1000, 3, -EINVAL}, {0x1000, 0, -EINVAL}, {0x1000, 16, -EINVAL},
        {0x10fc, 4, 0}, {0x10ff, 1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 0x5555;
        r.calls = 0;
        assert_int_equal(bus_read(&bus, cases[i].addr, cases[i].size, &v), cases[i].expect);
        if (cases[i].expect) {
            assert_int_equal(v, 0); /* failed reads are zero */
            assert_int_equal(r.calls, 0);
        }
        assert_int_equal(bus_write(&bus, cases[i].addr, cases[i].size, 1), cases[i].expect);
    }
    bus_release(&bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bus__register_rejects_bad_and_overlapping),
        cmocka_unit_test(test_bus__routes_accesses),
        cmocka_unit_test(test_bus__refuses_bad_accesses),
    };
    return cmocka_run_group_tests_name("bus", tests, NULL, NULL);
}
