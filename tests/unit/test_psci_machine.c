/* test_psci_machine.c — the PSCI core's host-facing API: configuration validation in
 * psci_machine_init(), version parsing and names, inspection, policy, backend callbacks with
 * wrong arguments, psci_machine_call() misuse, reset, and that psci_machine_check() detects
 * each kind of corrupted state (so the invariant checks used by every other test can fail). */
#include "psci_fixture.h"
#include "psci/psci_private.h"

static void test_psci_machine__init_rejects_bad_config(void **state)
{
    (void)state;
    static const uint64_t dup[3] = {0x1, 0x2, 0x1};
    static const uint64_t wide[2] = {0x0, 0x1000000};
    static const struct psci_ram_range empty[1] = {{0x40000000, 0}};
    static const struct psci_ram_range wrap[1] = {{0xfffffffffffff000ULL, 0x2000}};
    const struct psci_config good = {
        .version = PSCI_VERSION_1_3, .options = PSCI_OPT_ALL, .nr_vcpus = FX_NR_VCPUS,
        .mpidrs = fx_mpidrs, .boot_vcpu = 0, .ram = fx_ram, .nr_ram = 2, .clock_ns = fx_clock,
    };
    struct psci_config bad[16];
    int n = 0;
    bad[n] = good; bad[n++].version = PSCI_VERSION(0, 1);
    bad[n] = good; bad[n++].version = PSCI_VERSION(1, 4);
    bad[n] = good; bad[n++].version = PSCI_VERSION(2, 0);
    bad[n] = good; bad[n++].options = 1u << 5;
    bad[n] = good; bad[n++].nr_vcpus = 0;
    bad[n] = good; bad[n++].nr_vcpus = PSCI_MAX_VCPUS + 1;
    bad[n] = good; bad[n++].mpidrs = NULL;
    bad[n] = good; bad[n].mpidrs = dup; bad[n++].nr_vcpus = 3;
    bad[n] = good; bad[n].mpidrs = wide; bad[n++].nr_vcpus = 2;
    bad[n] = good; bad[n++].boot_vcpu = FX_NR_VCPUS;
    bad[n] = good; bad[n++].ram = NULL;
    bad[n] = good; bad[n++].nr_ram = 0;
    bad[n] = good; bad[n++].nr_ram = PSCI_MAX_RAM_RANGES + 1;
    bad[n] = good; bad[n].ram = empty; bad[n++].nr_ram = 1;
    bad[n] = good; bad[n].ram = wrap; bad[n++].nr_ram = 1;
    bad[n] = good; bad[n++].clock_ns = NULL; /* statistics need a clock */
    for (int i = 0; i < n; i++) {
        struct psci_machine m;
        if (psci_machine_init(&m, &bad[i]) != -EINVAL)
            fail_msg("bad config %d accepted", i);
    }
    struct psci_machine m;
    assert_int_equal(psci_machine_init(&m, &good), 0);
    psci_machine_release(&m);
    struct psci_config noclock = good;
    noclock.options = PSCI_OPT_ALL & ~PSCI_OPT_STAT;
    noclock.clock_ns = NULL;
    noclock.boot_vcpu = 4;
    assert_int_equal(psci_machine_init(&m, &noclock), 0);
    fx_check(&m);
    assert_int_equal(fx_state(&m, 4), PSCI_CPU_ON);
    assert_int_equal(fx_state(&m, 0), PSCI_CPU_OFF);
    psci_machine_release(&m);
    psci_machine_release(NULL);
}

static void test_psci_machine__versions(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint32_t version;
    } ok[] = {{"0.2", 0x2}, {"1.0", 0x10000}, {"1.1", 0x10001}, {"1.2", 0x10002},
              {"1.3", 0x10003}};
    static const char *const bad[] = {"", "0.1", "1.4", "1", "1.", "01.0", "1.0 ", "x", "2.0"};
    for (size_t i = 0; i < 5; i++) {
        uint32_t v = 0;
        assert_int_equal(psci_version_parse(ok[i].text, &v), 0);
        assert_int_equal(v, ok[i].version);
        assert_string_equal(psci_version_name(v), ok[i].text);
        assert_true(psci_version_is_supported(v));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t v = 0;
        assert_int_equal(psci_version_parse(bad[i], &v), -EINVAL);
    }
    assert_int_equal(psci_version_parse(NULL, NULL), -EINVAL);
    assert_string_equal(psci_version_name(0x1), "?");
    assert_false(psci_version_is_supported(0x1));
    assert_false(psci_version_is_supported(0x10004));
}

static void test_psci_machine__names(void **state)
{
    (void)state;
    assert_string_equal(psci_cpu_state_name(PSCI_CPU_OFF), "off");
    assert_string_equal(psci_cpu_state_name(PSCI_CPU_ON_PENDING), "on-pending");
    assert_string_equal(psci_cpu_state_name(PSCI_CPU_ON), "on");
    assert_string_equal(psci_cpu_state_name(PSCI_CPU_SUSPENDED), "suspended");
    assert_string_equal(psci_cpu_state_name((enum psci_cpu_state)9), "?");
    for (int k = PSCI_ACT_NONE; k <= PSCI_ACT_SYSTEM_SUSPEND; k++)
        assert_string_not_equal(psci_action_name((enum psci_action_kind)k), "?");
    assert_string_equal(psci_action_name(PSCI_ACT_SYSTEM_OFF2), "system-off2");
    assert_string_equal(psci_action_name((enum psci_action_kind)99), "?");
}

static void test_psci_machine__inspection_and_policy(void **state)
{
    (void)state;
    struct psci_machine m;
    fx_init(&m, PSCI_VERSION_1_2, 0);
    for (unsigned int i = 0; i < FX_NR_VCPUS; i++) {
        assert_int_equal(psci_find_vcpu(&m, fx_mpidrs[i]), (int)i);
        struct psci_vcpu_info info;
        assert_int_equal(psci_vcpu_get_info(&m, i, &info), 0);
        assert_int_equal(info.mpidr, fx_mpidrs[i]);
        assert_true(info.allowed);
        assert_int_equal(info.suspend_count, 0);
    }
    assert_int_equal(psci_find_vcpu(&m, 0x2), -1);
    assert_int_equal(psci_find_vcpu(&m, 0x1000000), -1);
    assert_int_equal(psci_find_vcpu(&m, 0x8000000000000000ULL), -1);
    struct psci_vcpu_info info;
    assert_int_equal(psci_vcpu_get_info(&m, FX_NR_VCPUS, &info), -EINVAL);
    assert_int_equal(psci_vcpu_set_allowed(&m, FX_NR_VCPUS, false), -EINVAL);
    /* policy never changes state: deny the ON boot vCPU and a pending one */
    assert_int_equal(fx_call(&m, 0, F64_CPU_ON, 0x1, GOOD_ENTRY, 0).x0, SUCCESS);
    assert_int_equal(psci_vcpu_set_allowed(&m, 0, false), 0);
    assert_int_equal(psci_vcpu_set_allowed(&m, 1, false), 0);
    fx_check(&m);
    assert_int_equal(fx_state(&m, 0), PSCI_CPU_ON);
    assert_int_equal(fx_state(&m, 1), PSCI_CPU_ON_PENDING);
    /* policy survives reset; the boot vCPU still comes up */
    psci_machine_reset(&m);
    fx_check(&m);
    assert_int_equal(psci_vcpu_get_info(&m, 1, &info), 0);
    assert_false(info.allowed);
    assert_int_equal(fx_state(&m, 0), PSCI_CPU_ON);
    assert_int_equal(fx_state(&m, 1), PSCI_CPU_OFF);
    psci_machine_release(&m);
}

static void test_psci_machine__call_misuse(void **state)
{
    (void)state;
    struct psci_machine m;
    fx_init(&m, PSCI_VERSION_1_0, 0);
    struct psci_result r;
    struct psci_call c = {.vcpu = FX_NR_VCPUS, .x = {F_PSCI_VERSION}};
    assert_int_equal(psci_machine_call(&m, &c, &r), -EINVAL);
    assert_int_equal(r.x0, INTERNAL_FAILURE);
    assert_int_equal(r.action.kind, PSCI_ACT_NONE);
    c.vcpu = 1; /* OFF */
    c.x[0] = F_SYSTEM_OFF;
    assert_int_equal(psci_machine_call(&m, &c, &r), -EINVAL);
    assert_int_equal(r.action.kind, PSCI_ACT_NONE);
    assert_int_equal(psci_machine_call(&m, NULL, &r), -EINVAL);
    assert_int_equal(psci_machine_call(&m, &c, NULL), -EINVAL);
    assert_int_equal(m.calls, 0);
    fx_call(&m, 0, F_PSCI_VERSION, 0, 0, 0);
    assert_int_equal(m.calls, 1);
    fx_check(&m);
    psci_machine_release(&m);
}

static void test_psci_machine__callbacks_reject_wrong_state(void **state)
{
    (void)state;
    struct psci_machine m;
    fx_init(&m, PSCI_VERSION_1_3, PSCI_OPT_ALL);
    uint64_t x0;
    for (unsigned int v = 0; v <= FX_NR_VCPUS; v++) {
        assert_int_equal(psci_cpu_started(&m, v), -EINVAL);
        assert_int_equal(psci_cpu_start_failed(&m, v), -EINVAL);
        assert_int_equal(psci_cpu_woken(&m, v), -EINVAL);
        assert_int_equal(psci_system_suspend_refused(&m, v, &x0), -EINVAL);
        assert_int_equal(psci_system_action_failed(&m, v, &x0), -EINVAL);
    }
    /* CPU_SUSPEND standby cannot be "refused" as a SYSTEM_SUSPEND */
    fx_call(&m, 0, F_CPU_SUSPEND, PS_CORE_STANDBY, 0, 0);
    assert_int_equal(psci_system_suspend_refused(&m, 0, &x0), -EINVAL);
    assert_int_equal(fx_state(&m, 0), PSCI_CPU_SUSPENDED);
    fx_check(&m);
    assert_int_equal(psci_cpu_woken(&m, 0), 0);
    psci_machine_release(&m);
}

/* Corrupt one field at a time: psci_machine_check() must notice each. */
static void test_psci_machine__check_detects_corruption(void **state)
{
    (void)state;
    for (int k = 0; k < 14; k++) {
        struct psci_machine m;
        fx_init(&m, PSCI_VERSION_1_3, PSCI_OPT_ALL);
        struct psci_vcpu *v = m.vcpus;
        switch (k) {
        case 0: v[1].state = (enum psci_cpu_state)7; break;
        case 1: v[1].mpidr = v[2].mpidr; break;
        case 2: v[1].mpidr = 1ULL << 60; break;
        case 3: v[0].state = PSCI_CPU_SUSPENDED; break;          /* no suspend kind */
        case 4: v[0].suspend = PSCI_SUSPEND_STANDBY; break;      /* kind while ON */
        case 5: v[1].state = PSCI_CPU_ON_PENDING; v[1].entry = 0x10; break;
        case 6: m.system_suspender = 0; break;                   /* caller not suspended */
        case 7: v[0].state = PSCI_CPU_SUSPENDED; v[0].suspend = PSCI_SUSPEND_SYSTEM;
                v[0].entry = GOOD_ENTRY; break;                  /* not recorded */
        case 8: v[0].state = PSCI_CPU_SUSPENDED; v[0].suspend = PSCI_SUSPEND_SYSTEM;
                v[0].entry = GOOD_ENTRY; m.system_suspender = 0;
                v[2].state = PSCI_CPU_ON; break;                 /* other vCPU on */
        case 9: v[1].system_action_pending = true; break;        /* on an OFF vCPU */
        case 10: m.version = 0x10004; break;
        case 11: m.boot_vcpu = FX_NR_VCPUS; break;
        case 12: v[0].state = PSCI_CPU_SUSPENDED; v[0].suspend = PSCI_SUSPEND_POWERDOWN;
                 v[0].power_state = PS_CORE_STANDBY; v[0].entry = GOOD_ENTRY; break;
        case 13: m.system_suspender = FX_NR_VCPUS; break;
        }
        const char *why = NULL;
        if (psci_machine_check(&m, &why) != -EUCLEAN)
            fail_msg("corruption %d not detected", k);
        assert_non_null(why);
        psci_machine_release(&m);
    }
    assert_int_equal(psci_machine_check(NULL, NULL), -EUCLEAN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psci_machine__init_rejects_bad_config),
        cmocka_unit_test(test_psci_machine__versions),
        cmocka_unit_test(test_psci_machine__names),
        cmocka_unit_test(test_psci_machine__inspection_and_policy),
        cmocka_unit_test(test_psci_machine__call_misuse),
        cmocka_unit_test(test_psci_machine__callbacks_reject_wrong_state),
        cmocka_unit_test(test_psci_machine__check_detects_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
