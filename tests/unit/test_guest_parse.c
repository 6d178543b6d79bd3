/* test_guest_parse.c — the guest payloads' bootarg number parser (guest/lib/parse.h, compiled
 * here from the same header the payloads use): decimal and 0x hex, digits only, and no silent
 * wrap past 64 bits ("calls=18446744073709551617" used to run 1 call). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../guest/lib/parse.h"

static void test_guest_parse__numbers(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
        uint64_t v;
    } cases[] = {
        {"0", true, 0},
        {"100000", true, 100000},
        {"0x10", true, 16},
        {"0XfF", true, 255},
        {"18446744073709551615", true, UINT64_MAX},
        {"0xffffffffffffffff", true, UINT64_MAX},
        {"000000000000000000000000000001", true, 1},
        {"18446744073709551616", false, 0},  /* 2^64 */
        {"18446744073709551617", false, 0},  /* wrapped to 1 before */
        {"99999999999999999999", false, 0},
        {"0x10000000000000000", false, 0},
        {"0x1ffffffffffffffff", false, 0},
        {"", false, 0},
        {"0x", false, 0},
        {" 1", false, 0},
        {"-1", false, 0},
        {"+1", false, 0},
        {"1 ", false, 0},
        {"12a", false, 0},
        {"0xg", false, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 0x5a5a;
        bool ok = rt_parse_u64(cases[i].s, strlen(cases[i].s), &v);
        if (ok != cases[i].ok || (ok && v != cases[i].v))
            fail_msg("'%s': %s %llu", cases[i].s, ok ? "accepted" : "refused",
                     (unsigned long long)v);
        if (!ok && v != 0x5a5a)
            fail_msg("'%s': output written on failure", cases[i].s);
    }
    /* only len bytes count (bootargs are not NUL-terminated values) */
    uint64_t v;
    assert_true(rt_parse_u64("123 calls=9", 3, &v));
    assert_int_equal(v, 123);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guest_parse__numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
