/* test_psci_table.c — the function x version x options table of docs/psci.md, cell by cell:
 * for every PSCI function ID (SMC32 and SMC64, including IDs that do not exist and reserved
 * numbers), every version 0.2..1.3, and options none/all, a fresh machine is called from an
 * AArch64 and an AArch32 caller. Each cell checks: NOT_SUPPORTED (and no state change) when the
 * function is not offered, otherwise the row's expected answer to harmless arguments; and
 * PSCI_FEATURES agrees (>= 1.0), as does psci_function_offered(). */
#include "psci_fixture.h"

#define NEVER 0xffffffffu /* never offered */
#define V02 PSCI_VERSION_0_2
#define V10 PSCI_VERSION_1_0
#define V11 PSCI_VERSION_1_1
#define V13 PSCI_VERSION_1_3
#define X_VERSION 0x5eeeeeeeeeeeeeeeULL /* expected x0 = configured version */

struct row {
    uint32_t fid;
    uint32_t since;
    uint32_t option;
    bool primary;             /* the ID psci_function_offered() is asked about */
    uint64_t x1, x2, x3;
    uint64_t x0;              /* expected when offered */
    enum psci_action_kind action;
    uint64_t features;        /* PSCI_FEATURES(fid) when offered */
};

static const struct row rows[] = {
    {F_PSCI_VERSION, V02, 0, true, 0, 0, 0, X_VERSION, PSCI_ACT_NONE, 0},
    {0xC4000000u, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_CPU_SUSPEND, V02, 0, true, 1, GOOD_ENTRY, 0, INVALID_PARAMETERS, PSCI_ACT_NONE, 0},
    {F64_CPU_SUSPEND, V02, 0, false, 1, GOOD_ENTRY, 0, INVALID_PARAMETERS, PSCI_ACT_NONE, 0},
    {F_CPU_OFF, V02, 0, true, 0, 0, 0, INTERNAL_FAILURE, PSCI_ACT_CPU_STOP, 0},
    {0xC4000002u, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_CPU_ON, V02, 0, true, 0x0, GOOD_ENTRY, 0, ALREADY_ON, PSCI_ACT_NONE, 0},
    {F64_CPU_ON, V02, 0, false, 0x0, GOOD_ENTRY, 0, ALREADY_ON, PSCI_ACT_NONE, 0},
    {F_AFFINITY_INFO, V02, 0, true, 0x0, 0, 0, 0 /* ON */, PSCI_ACT_NONE, 0},
    {F64_AFFINITY_INFO, V02, 0, false, 0x0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_MIGRATE, NEVER, 0, true, 0x1, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F64_MIGRATE, NEVER, 0, false, 0x1, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_MIGRATE_INFO_TYPE, V02, 0, true, 0, 0, 0, 2 /* TOS_MP */, PSCI_ACT_NONE, 0},
    {0xC4000006u, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_MIGRATE_INFO_UP_CPU, NEVER, 0, true, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F64_MIGRATE_INFO_UP_CPU, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_SYSTEM_OFF, V02, 0, true, 0, 0, 0, INTERNAL_FAILURE, PSCI_ACT_SYSTEM_OFF, 0},
    {0xC4000008u, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_SYSTEM_RESET, V02, 0, true, 0, 0, 0, INTERNAL_FAILURE, PSCI_ACT_SYSTEM_RESET, 0},
    {0xC4000009u, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_PSCI_FEATURES, V10, 0, true, F_PSCI_VERSION, 0, 0, 0, PSCI_ACT_NONE, 0},
    {0xC400000Au, NEVER, 0, false, F_PSCI_VERSION, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_CPU_FREEZE, NEVER, 0, true, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {0xC400000Bu, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_CPU_DEFAULT_SUSPEND, NEVER, 0, true, GOOD_ENTRY, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F64_CPU_DEFAULT_SUSPEND, NEVER, 0, false, GOOD_ENTRY, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_NODE_HW_STATE, V10, PSCI_OPT_NODE_HW_STATE, true, 0x0, 0, 0, 0 /* HW_ON */,
     PSCI_ACT_NONE, 0},
    {F64_NODE_HW_STATE, V10, PSCI_OPT_NODE_HW_STATE, false, 0x0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_SYSTEM_SUSPEND, V10, PSCI_OPT_SYSTEM_SUSPEND, true, 0x2, 0, 0, INVALID_ADDRESS,
     PSCI_ACT_NONE, 0},
    {F64_SYSTEM_SUSPEND, V10, PSCI_OPT_SYSTEM_SUSPEND, false, 0x2, 0, 0, INVALID_ADDRESS,
     PSCI_ACT_NONE, 0},
    {F_SET_SUSPEND_MODE, NEVER, 0, true, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {0xC400000Fu, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_STAT_RESIDENCY, V10, PSCI_OPT_STAT, true, 0x0, PS_CORE_STANDBY, 0, 0, PSCI_ACT_NONE, 0},
    {F64_STAT_RESIDENCY, V10, PSCI_OPT_STAT, false, 0x0, PS_CORE_STANDBY, 0, 0, PSCI_ACT_NONE, 0},
    {F_STAT_COUNT, V10, PSCI_OPT_STAT, true, 0x0, PS_CORE_STANDBY, 0, 0, PSCI_ACT_NONE, 0},
    {F64_STAT_COUNT, V10, PSCI_OPT_STAT, false, 0x0, PS_CORE_STANDBY, 0, 0, PSCI_ACT_NONE, 0},
    {F_SYSTEM_RESET2, V11, PSCI_OPT_SYSTEM_RESET2, true, 1, 0, 0, INVALID_PARAMETERS,
     PSCI_ACT_NONE, 0},
    {F64_SYSTEM_RESET2, V11, PSCI_OPT_SYSTEM_RESET2, false, 1, 0, 0, INVALID_PARAMETERS,
     PSCI_ACT_NONE, 0},
    {F_MEM_PROTECT, NEVER, 0, true, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {0xC4000013u, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_MEM_PROTECT_CHECK_RANGE, NEVER, 0, true, GOOD_ENTRY, 4096, 0, 0, PSCI_ACT_NONE, 0},
    {F64_MEM_PROTECT_CHECK_RANGE, NEVER, 0, false, GOOD_ENTRY, 4096, 0, 0, PSCI_ACT_NONE, 0},
    {F_SYSTEM_OFF2, V13, PSCI_OPT_SYSTEM_OFF2, true, 2, 0, 0, INVALID_PARAMETERS, PSCI_ACT_NONE,
     1},
    {F64_SYSTEM_OFF2, V13, PSCI_OPT_SYSTEM_OFF2, false, 2, 0, 0, INVALID_PARAMETERS,
     PSCI_ACT_NONE, 1},
    {0x84000016u, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F64_CLEAN_INV_MEMREGION, NEVER, 0, true, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {F_CLEAN_INV_MEMREGION_ATTRIBUTES, NEVER, 0, true, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {0xC4000017u, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {0x84000018u, NEVER, 0, true, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {0xC400001Fu, NEVER, 0, true, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {0x84000020u, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0},
    {0x84000050u, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0}, /* TRNG_VERSION */
    {0x04000000u, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0}, /* yielding call */
    {0x85000000u, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0}, /* other OEN */
    {0x95c1ba5eu, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0}, /* KVM PSCI 0.1 ID */
    {1337u, NEVER, 0, false, 0, 0, 0, 0, PSCI_ACT_NONE, 0},       /* kvm-unit-tests */
};
#define NR_ROWS (sizeof(rows) / sizeof(rows[0]))

static bool offered(const struct row *r, uint32_t version, uint32_t options, bool aarch32)
{
    if (r->since == NEVER || version < r->since)
        return false;
    if (r->option != 0 && !(options & r->option))
        return false;
    return !(aarch32 && (r->fid & 0x40000000u));
}

static void check_cell(uint32_t version, uint32_t options, const struct row *r, bool aarch32)
{
    struct psci_machine m;
    fx_init(&m, version, options);
    bool on = offered(r, version, options, aarch32);
    struct psci_result res = fx_call32(&m, 0, aarch32, r->fid, r->x1, r->x2, r->x3);
    uint64_t want = !on ? NOT_SUPPORTED : r->x0 == X_VERSION ? version : r->x0;
    if (res.x0 != want)
        fail_msg("fid 0x%08x v%s options 0x%x %s: x0 = 0x%llx, expected 0x%llx", r->fid,
                 psci_version_name(version), options, aarch32 ? "AArch32" : "AArch64",
                 (unsigned long long)res.x0, (unsigned long long)want);
    assert_int_equal(res.action.kind, on ? r->action : PSCI_ACT_NONE);
    if (!on) /* a refused call changes nothing */
        for (unsigned int i = 0; i < FX_NR_VCPUS; i++)
            assert_int_equal(fx_state(&m, i), i == 0 ? PSCI_CPU_ON : PSCI_CPU_OFF);
    psci_machine_release(&m);

    /* PSCI_FEATURES(fid) on a fresh machine. */
    fx_init(&m, version, options);
    res = fx_call32(&m, 0, aarch32, F_PSCI_FEATURES, r->fid, 0, 0);
    if (version < PSCI_VERSION_1_0)
        want = NOT_SUPPORTED; /* PSCI_FEATURES itself does not exist in 0.2 */
    else
        want = on ? r->features : NOT_SUPPORTED;
    if (res.x0 != want)
        fail_msg("PSCI_FEATURES(0x%08x) v%s options 0x%x %s: 0x%llx, expected 0x%llx", r->fid,
                 psci_version_name(version), options, aarch32 ? "AArch32" : "AArch64",
                 (unsigned long long)res.x0, (unsigned long long)want);
    if (r->primary && !aarch32)
        assert_int_equal(psci_function_offered(&m, r->fid), on);
    psci_machine_release(&m);
}

static void run_version(uint32_t version)
{
    static const uint32_t option_sets[] = {0, PSCI_OPT_ALL, PSCI_OPT_SYSTEM_SUSPEND,
                                           PSCI_OPT_SYSTEM_RESET2 | PSCI_OPT_SYSTEM_OFF2,
                                           PSCI_OPT_STAT | PSCI_OPT_NODE_HW_STATE};
    for (size_t o = 0; o < sizeof(option_sets) / sizeof(option_sets[0]); o++)
        for (size_t i = 0; i < NR_ROWS; i++) {
            check_cell(version, option_sets[o], &rows[i], false);
            check_cell(version, option_sets[o], &rows[i], true);
        }
}

static void test_psci_table__v0_2(void **state) { (void)state; run_version(PSCI_VERSION_0_2); }
static void test_psci_table__v1_0(void **state) { (void)state; run_version(PSCI_VERSION_1_0); }
static void test_psci_table__v1_1(void **state) { (void)state; run_version(PSCI_VERSION_1_1); }
static void test_psci_table__v1_2(void **state) { (void)state; run_version(PSCI_VERSION_1_2); }
static void test_psci_table__v1_3(void **state) { (void)state; run_version(PSCI_VERSION_1_3); }

/* SMCCC_VERSION is answered in every version, and PSCI_FEATURES(SMCCC_VERSION) = 0 (>= 1.0). */
static void test_psci_table__smccc(void **state)
{
    (void)state;
    for (int v = 0; v < FX_NR_VERSIONS; v++) {
        struct psci_machine m;
        fx_init(&m, fx_versions[v], 0);
        assert_int_equal(fx_call(&m, 0, F_SMCCC_VERSION, 0, 0, 0).x0, 0x10001);
        assert_int_equal(fx_call32(&m, 0, true, F_SMCCC_VERSION, 0, 0, 0).x0, 0x10001);
        assert_int_equal(fx_call(&m, 0, F_SMCCC_ARCH_FEATURES, F_SMCCC_VERSION, 0, 0).x0, 0);
        assert_int_equal(fx_call(&m, 0, F_SMCCC_ARCH_FEATURES, F_SMCCC_ARCH_FEATURES, 0, 0).x0,
                         0);
        assert_int_equal(fx_call(&m, 0, F_SMCCC_ARCH_FEATURES, 0x80008000u, 0, 0).x0,
                         NOT_SUPPORTED);
        assert_int_equal(fx_call(&m, 0, F_SMCCC_ARCH_FEATURES, F_PSCI_VERSION, 0, 0).x0,
                         NOT_SUPPORTED);
        assert_int_equal(fx_call(&m, 0, 0x80000002u /* SOC_ID */, 0, 0, 0).x0, NOT_SUPPORTED);
        assert_int_equal(fx_call(&m, 0, 0xC0000000u, 0, 0, 0).x0, NOT_SUPPORTED);
        assert_int_equal(fx_call(&m, 0, F_PSCI_FEATURES, F_SMCCC_VERSION, 0, 0).x0,
                         fx_versions[v] >= PSCI_VERSION_1_0 ? 0 : NOT_SUPPORTED);
        assert_int_equal(fx_call(&m, 0, F_PSCI_FEATURES, F_SMCCC_ARCH_FEATURES, 0, 0).x0,
                         NOT_SUPPORTED);
        assert_false(psci_is_psci_function(F_SMCCC_VERSION));
        psci_machine_release(&m);
    }
}

static void test_psci_table__is_psci_function(void **state)
{
    (void)state;
    assert_true(psci_is_psci_function(0x84000000u));
    assert_true(psci_is_psci_function(0x8400001Fu));
    assert_true(psci_is_psci_function(0xC4000000u));
    assert_true(psci_is_psci_function(0xC400001Fu));
    assert_false(psci_is_psci_function(0x84000020u));
    assert_false(psci_is_psci_function(0xC4000020u));
    assert_false(psci_is_psci_function(0x83FFFFFFu));
    assert_false(psci_is_psci_function(0x04000000u));
    assert_false(psci_is_psci_function(0x84010000u));
    assert_false(psci_is_psci_function(0x95c1ba5eu));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psci_table__v0_2),
        cmocka_unit_test(test_psci_table__v1_0),
        cmocka_unit_test(test_psci_table__v1_1),
        cmocka_unit_test(test_psci_table__v1_2),
        cmocka_unit_test(test_psci_table__v1_3),
        cmocka_unit_test(test_psci_table__smccc),
        cmocka_unit_test(test_psci_table__is_psci_function),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
