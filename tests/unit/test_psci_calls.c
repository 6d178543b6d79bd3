/* test_psci_calls.c — the semantics of each PSCI call, written from DEN0022 and docs/psci.md:
 * argument validation and its order, results, actions and state changes for CPU_ON, CPU_OFF,
 * CPU_SUSPEND, AFFINITY_INFO, SYSTEM_OFF/RESET/RESET2/OFF2, SYSTEM_SUSPEND, PSCI_STAT_* and
 * NODE_HW_STATE, and SMCCC register-width rules (SMC32 narrowing, AArch32 callers, W0). */
#include "psci_fixture.h"

static struct psci_machine M;

static void setup_v(uint32_t version) { fx_init(&M, version, PSCI_OPT_ALL); }
static void teardown(void) { psci_machine_release(&M); }

/* ---- CPU_ON ---------------------------------------------------------------------------------- */
static void test_psci_calls__cpu_on_success(void **state)
{
    (void)state;
    for (int v = 0; v < FX_NR_VERSIONS; v++) {
        setup_v(fx_versions[v]);
        struct psci_result r = fx_call(&M, 0, F64_CPU_ON, 0x100, GOOD_ENTRY, CTX);
        assert_int_equal(r.x0, SUCCESS);
        assert_int_equal(r.action.kind, PSCI_ACT_CPU_START);
        assert_int_equal(r.action.target, 2);
        assert_int_equal(r.action.entry, GOOD_ENTRY);
        assert_int_equal(r.action.context, CTX);
        assert_int_equal(fx_state(&M, 2), PSCI_CPU_ON_PENDING);
        assert_int_equal(psci_cpu_started(&M, 2), 0);
        fx_check(&M);
        assert_int_equal(fx_state(&M, 2), PSCI_CPU_ON);
        /* the started vCPU can call in turn, e.g. start vCPU 4 (Aff3 = 1) */
        r = fx_call(&M, 2, F64_CPU_ON, 0x100000000ULL, GOOD_ENTRY, 7);
        assert_int_equal(r.x0, SUCCESS);
        assert_int_equal(r.action.target, 4);
        teardown();
    }
}

static void test_psci_calls__cpu_on_invalid_target(void **state)
{
    (void)state;
    static const uint64_t bad[] = {0x2, 0x200, 0x1000000 /* bit 24 */, 0x80000000ULL,
                                   0x10000000000ULL /* bit 40 */, 0x8000000000000001ULL,
                                   0x200000000ULL, 0xffffffffffffffffULL};
    for (int v = 0; v < FX_NR_VERSIONS; v++) {
        setup_v(fx_versions[v]);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            struct psci_result r = fx_call(&M, 0, F64_CPU_ON, bad[i], GOOD_ENTRY, 0);
            assert_int_equal(r.x0, INVALID_PARAMETERS);
            assert_int_equal(r.action.kind, PSCI_ACT_NONE);
        }
        for (unsigned int i = 1; i < FX_NR_VCPUS; i++)
            assert_int_equal(fx_state(&M, i), PSCI_CPU_OFF);
        teardown();
    }
}

struct entry_case {
    uint64_t entry;
    bool aarch32;
    bool ok;
};

static void test_psci_calls__cpu_on_entry(void **state)
{
    (void)state;
    static const struct entry_case cases[] = {
        {GOOD_ENTRY, false, true},
        {0x40000000ULL, false, true},              /* first byte of RAM */
        {0x4FFFFFFCULL, false, true},              /* last word of RAM */
        {0x880000FFCULL, false, true},             /* second range */
        {0x3FFFFFFCULL, false, false},             /* just below RAM */
        {0x50000000ULL, false, false},             /* just past RAM */
        {0x880001000ULL, false, false},
        {0, false, false},
        {0xFFFFFFFFFFFFFFFCULL, false, false},
        {GOOD_ENTRY + 2, false, false},            /* misaligned */
        {GOOD_ENTRY + 1, false, false},            /* no Thumb in AArch64 */
        {GOOD_ENTRY + 1, true, true},              /* AArch32 Thumb */
        {GOOD_ENTRY + 3, true, true},              /* Thumb, halfword aligned */
        {GOOD_ENTRY + 2, true, false},             /* A32, misaligned */
        {GOOD_ENTRY, true, true},                  /* A32 */
        {0x3FFFFFFFULL, true, false},              /* Thumb below RAM */
    };
    for (int v = 0; v < FX_NR_VERSIONS; v++) {
        uint64_t bad = fx_versions[v] >= PSCI_VERSION_1_0 ? INVALID_ADDRESS : INVALID_PARAMETERS;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            setup_v(fx_versions[v]);
            /* entries above 4 GiB need SMC64 (AArch64 callers only) */
            uint32_t fid = cases[i].entry > 0xffffffffULL ? F64_CPU_ON : F_CPU_ON;
            struct psci_result r =
                fx_call32(&M, 0, cases[i].aarch32, fid, 0x1, cases[i].entry, 0);
            if (r.x0 != (cases[i].ok ? SUCCESS : bad))
                fail_msg("v%s entry 0x%llx %s: x0 0x%llx", psci_version_name(fx_versions[v]),
                         (unsigned long long)cases[i].entry, cases[i].aarch32 ? "A32" : "A64",
                         (unsigned long long)r.x0);
            assert_int_equal(fx_state(&M, 1), cases[i].ok ? PSCI_CPU_ON_PENDING : PSCI_CPU_OFF);
            teardown();
        }
    }
}

static void test_psci_calls__cpu_on_policy(void **state)
{
    (void)state;
    for (int v = 0; v < FX_NR_VERSIONS; v++) {
        setup_v(fx_versions[v]);
        uint64_t denied = fx_versions[v] >= PSCI_VERSION_1_2 ? DENIED : INTERNAL_FAILURE;
        assert_int_equal(psci_vcpu_set_allowed(&M, 1, false), 0);
        struct psci_result r = fx_call(&M, 0, F64_CPU_ON, 0x1, GOOD_ENTRY, 0);
        assert_int_equal(r.x0, denied);
        assert_int_equal(r.action.kind, PSCI_ACT_NONE);
        assert_int_equal(fx_state(&M, 1), PSCI_CPU_OFF);
        struct psci_vcpu_info info;
        assert_int_equal(psci_vcpu_get_info(&M, 1, &info), 0);
        assert_false(info.allowed);
        /* allowed again: works */
        assert_int_equal(psci_vcpu_set_allowed(&M, 1, true), 0);
        assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x1, GOOD_ENTRY, 0).x0, SUCCESS);
        teardown();
    }
}

/* Validation order: parameters (target, then entry), then policy, then state. */
static void test_psci_calls__cpu_on_check_order(void **state)
{
    (void)state;
    setup_v(PSCI_VERSION_1_3);
    fx_power_on(&M, 1);
    assert_int_equal(psci_vcpu_set_allowed(&M, 1, false), 0);
    assert_int_equal(psci_vcpu_set_allowed(&M, 2, false), 0);
    /* bad target and bad entry: INVALID_PARAMETERS */
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x2, 3, 0).x0, INVALID_PARAMETERS);
    /* denied + ON + bad entry: INVALID_ADDRESS */
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x1, 3, 0).x0, INVALID_ADDRESS);
    /* denied + OFF + bad entry: INVALID_ADDRESS */
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x100, 3, 0).x0, INVALID_ADDRESS);
    /* denied + ON: DENIED (policy before state) */
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x1, GOOD_ENTRY, 0).x0, DENIED);
    /* allowed + ON + bad entry: INVALID_ADDRESS (entry before state) */
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x0, 3, 0).x0, INVALID_ADDRESS);
    teardown();
}

static void test_psci_calls__cpu_on_target_state(void **state)
{
    (void)state;
    for (int v = 0; v < FX_NR_VERSIONS; v++) {
        setup_v(fx_versions[v]);
        fx_power_on(&M, 1);
        /* ON (self and other) */
        assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x0, GOOD_ENTRY, 0).x0, ALREADY_ON);
        assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x1, GOOD_ENTRY, 0).x0, ALREADY_ON);
        /* SUSPENDED counts as on */
        assert_int_equal(fx_call(&M, 1, F_CPU_SUSPEND, PS_CORE_STANDBY, 0, 0).action.kind,
                         PSCI_ACT_CPU_STANDBY);
        assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x1, GOOD_ENTRY, 0).x0, ALREADY_ON);
        /* ON_PENDING */
        assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x100, GOOD_ENTRY, 0).x0, SUCCESS);
        struct psci_result r = fx_call(&M, 0, F64_CPU_ON, 0x100, GOOD_ENTRY + 4, 9);
        assert_int_equal(r.x0, ON_PENDING);
        assert_int_equal(r.action.kind, PSCI_ACT_NONE);
        teardown();
    }
}

/* SMC32 uses only the low 32 bits of x1..x3; SMC64 uses all 64. AArch32 callers use 32. */
static void test_psci_calls__cpu_on_register_width(void **state)
{
    (void)state;
    setup_v(PSCI_VERSION_1_1);
    struct psci_result r = fx_call(&M, 0, F_CPU_ON, 0xFFFFFFFF00000001ULL,
                                   0xABCD000000000000ULL | GOOD_ENTRY, CTX);
    assert_int_equal(r.x0, SUCCESS);
    assert_int_equal(r.action.target, 1);
    assert_int_equal(r.action.entry, GOOD_ENTRY);
    assert_int_equal(r.action.context, CTX & 0xffffffffULL);
    /* SMC64: the same high bits are significant */
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0xFFFFFFFF00000100ULL, GOOD_ENTRY, 0).x0,
                     INVALID_PARAMETERS);
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x100, 0xABCD000000000000ULL | GOOD_ENTRY, 0).x0,
                     INVALID_ADDRESS);
    r = fx_call(&M, 0, F64_CPU_ON, 0x100, GOOD_ENTRY, CTX);
    assert_int_equal(r.action.context, CTX);
    /* AArch32 caller with SMC32 ID: narrowed as well */
    r = fx_call32(&M, 0, true, F_CPU_ON, 0x100000000ULL | 0x10000, GOOD_ENTRY | 1, CTX);
    assert_int_equal(r.x0, SUCCESS);
    assert_int_equal(r.action.target, 3);
    assert_int_equal(r.action.entry, GOOD_ENTRY | 1);
    assert_int_equal(r.action.context, CTX & 0xffffffffULL);
    /* W0 only: high bits of x0 are ignored */
    assert_int_equal(fx_call(&M, 0, 0xFFFFFFFF00000000ULL | F_PSCI_VERSION, 0, 0, 0).x0,
                     PSCI_VERSION_1_1);
    teardown();
}

/* ---- CPU_OFF --------------------------------------------------------------------------------- */
static void test_psci_calls__cpu_off(void **state)
{
    (void)state;
    for (int v = 0; v < FX_NR_VERSIONS; v++) {
        setup_v(fx_versions[v]);
        fx_power_on(&M, 3);
        struct psci_result r = fx_call(&M, 3, F_CPU_OFF, 0, 0, 0);
        assert_int_equal(r.action.kind, PSCI_ACT_CPU_STOP);
        assert_int_equal(fx_state(&M, 3), PSCI_CPU_OFF);
        assert_int_equal(fx_call(&M, 0, F64_AFFINITY_INFO, 0x10000, 0, 0).x0, 1 /* OFF */);
        /* an OFF vCPU cannot call */
        struct psci_call c = {.vcpu = 3, .x = {F_PSCI_VERSION}};
        assert_int_equal(psci_machine_call(&M, &c, &r), -EINVAL);
        assert_int_equal(r.x0, INTERNAL_FAILURE);
        /* it can be started again */
        fx_power_on(&M, 3);
        /* the last vCPU on may power itself off */
        assert_int_equal(fx_call(&M, 3, F_CPU_OFF, 0, 0, 0).action.kind, PSCI_ACT_CPU_STOP);
        assert_int_equal(fx_call(&M, 0, F_CPU_OFF, 0, 0, 0).action.kind, PSCI_ACT_CPU_STOP);
        for (unsigned int i = 0; i < FX_NR_VCPUS; i++)
            assert_int_equal(fx_state(&M, i), PSCI_CPU_OFF);
        teardown();
    }
}

/* ---- CPU_SUSPEND ----------------------------------------------------------------------------- */
struct pstate_case {
    uint32_t power_state;
    enum psci_action_kind action; /* PSCI_ACT_NONE = INVALID_PARAMETERS */
};

static void test_psci_calls__cpu_suspend_power_states(void **state)
{
    (void)state;
    static const struct pstate_case cases[] = {
        {0x00000000, PSCI_ACT_CPU_STANDBY},   {0x00010000, PSCI_ACT_CPU_POWERDOWN},
        {0x01010000, PSCI_ACT_CPU_POWERDOWN}, {0x02010000, PSCI_ACT_CPU_POWERDOWN},
        {0x03010000, PSCI_ACT_NONE}, /* level 3 */
        {0x01000000, PSCI_ACT_NONE}, /* standby above the core */
        {0x02000000, PSCI_ACT_NONE},
        {0x00000001, PSCI_ACT_NONE}, /* StateID != 0 */
        {0x00018000, PSCI_ACT_NONE},
        {0x00020000, PSCI_ACT_NONE}, /* bit 17 */
        {0x00800000, PSCI_ACT_NONE}, /* bit 23 */
        {0x04000000, PSCI_ACT_NONE}, /* bit 26 */
        {0x40000000, PSCI_ACT_NONE}, /* bit 30 (extended-format StateType) */
        {0x80000000, PSCI_ACT_NONE}, /* bit 31 */
        {0xFFFFFFFF, PSCI_ACT_NONE},
    };
    for (int v = 0; v < FX_NR_VERSIONS; v++)
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
            for (int w = 0; w < 2; w++) {
                setup_v(fx_versions[v]);
                struct psci_result r = fx_call(&M, 0, w ? F64_CPU_SUSPEND : F_CPU_SUSPEND,
                                               cases[i].power_state, GOOD_ENTRY, CTX);
                assert_int_equal(r.action.kind, cases[i].action);
                if (cases[i].action == PSCI_ACT_NONE) {
                    assert_int_equal(r.x0, INVALID_PARAMETERS);
                    assert_int_equal(fx_state(&M, 0), PSCI_CPU_ON);
                } else {
                    assert_int_equal(r.action.power_state, cases[i].power_state);
                    assert_int_equal(fx_state(&M, 0), PSCI_CPU_SUSPENDED);
                }
                teardown();
            }
}

static void test_psci_calls__cpu_suspend_standby(void **state)
{
    (void)state;
    setup_v(PSCI_VERSION_1_0);
    /* standby ignores entry and context, even invalid ones */
    struct psci_result r = fx_call(&M, 0, F_CPU_SUSPEND, PS_CORE_STANDBY, 3, 5);
    assert_int_equal(r.x0, SUCCESS);
    assert_int_equal(r.action.kind, PSCI_ACT_CPU_STANDBY);
    assert_int_equal(fx_state(&M, 0), PSCI_CPU_SUSPENDED);
    fx_now_ns += 2000;
    assert_int_equal(psci_cpu_woken(&M, 0), 0);
    fx_check(&M);
    assert_int_equal(fx_state(&M, 0), PSCI_CPU_ON);
    struct psci_vcpu_info info;
    assert_int_equal(psci_vcpu_get_info(&M, 0, &info), 0);
    assert_int_equal(info.suspend_count, 1);
    assert_int_equal(info.suspend_residency_ns, 2000);
    teardown();
}

static void test_psci_calls__cpu_suspend_powerdown(void **state)
{
    (void)state;
    for (int v = 0; v < FX_NR_VERSIONS; v++) {
        setup_v(fx_versions[v]);
        uint64_t bad = fx_versions[v] >= PSCI_VERSION_1_0 ? INVALID_ADDRESS : INVALID_PARAMETERS;
        assert_int_equal(fx_call(&M, 0, F64_CPU_SUSPEND, PS_CORE_POWERDOWN, 0x10, CTX).x0, bad);
        assert_int_equal(fx_call(&M, 0, F64_CPU_SUSPEND, PS_CORE_POWERDOWN, GOOD_ENTRY + 2, 0).x0,
                         bad);
        assert_int_equal(fx_state(&M, 0), PSCI_CPU_ON);
        struct psci_result r = fx_call(&M, 0, F64_CPU_SUSPEND, PS_CLUSTER_POWERDOWN, GOOD_ENTRY,
                                       CTX);
        assert_int_equal(r.action.kind, PSCI_ACT_CPU_POWERDOWN);
        assert_int_equal(r.action.entry, GOOD_ENTRY);
        assert_int_equal(r.action.context, CTX);
        assert_int_equal(r.action.power_state, PS_CLUSTER_POWERDOWN);
        assert_int_equal(fx_state(&M, 0), PSCI_CPU_SUSPENDED);
        assert_int_equal(psci_cpu_woken(&M, 0), 0);
        assert_int_equal(fx_state(&M, 0), PSCI_CPU_ON);
        /* SMC32: the context is narrowed */
        r = fx_call(&M, 0, F_CPU_SUSPEND, PS_CORE_POWERDOWN, GOOD_ENTRY, CTX);
        assert_int_equal(r.action.context, CTX & 0xffffffffULL);
        assert_int_equal(psci_cpu_woken(&M, 0), 0);
        /* AArch32 Thumb entry */
        r = fx_call32(&M, 0, true, F_CPU_SUSPEND, PS_CORE_POWERDOWN, GOOD_ENTRY | 1, 0);
        assert_int_equal(r.action.kind, PSCI_ACT_CPU_POWERDOWN);
        assert_int_equal(r.action.entry, GOOD_ENTRY | 1);
        teardown();
    }
}

/* ---- AFFINITY_INFO --------------------------------------------------------------------------- */
/* Machine state for the query tests: v0 ON, v1 OFF, v2 (0x100) ON_PENDING, v3 (0x10000)
 * SUSPENDED in standby, v4 (Aff3 = 1) OFF. */
static void setup_query_machine(void)
{
    setup_v(PSCI_VERSION_1_3);
    fx_power_on(&M, 3);
    assert_int_equal(fx_call(&M, 3, F_CPU_SUSPEND, PS_CORE_STANDBY, 0, 0).action.kind,
                     PSCI_ACT_CPU_STANDBY);
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x100, GOOD_ENTRY, 0).x0, SUCCESS);
}

struct query_case {
    uint64_t target;
    uint64_t level;
    uint64_t x0;
};

static void test_psci_calls__affinity_info(void **state)
{
    (void)state;
    static const struct query_case cases[] = {
        {0x0, 0, 0},          {0x1, 0, 1},         {0x100, 0, 2},
        {0x10000, 0, 0},      {0x100000000ULL, 0, 1},
        {0x2, 0, INVALID_PARAMETERS},              {0x1000000, 0, INVALID_PARAMETERS},
        {0x10000000000ULL, 0, INVALID_PARAMETERS}, {0x0, 4, INVALID_PARAMETERS},
        {0x0, 0xffffffff, INVALID_PARAMETERS},
        /* level 1: Aff3.Aff2.Aff1 */
        {0x1, 1, 0},          {0x1ff, 1, 2},       {0x100000000ULL, 1, 1},
        {0x10001, 1, 0},      {0x200, 1, INVALID_PARAMETERS},
        /* level 2: Aff3.Aff2 */
        {0xffff, 2, 0},       {0x10000, 2, 0},     {0x1000ff, 1, INVALID_PARAMETERS},
        {0x20000, 2, INVALID_PARAMETERS},          {0x1000000ffULL, 2, 1},
        /* level 3: Aff3 */
        {0x0, 3, 0},          {0xffffff, 3, 0},    {0x100ffffffULL, 3, 1},
        {0x200000000ULL, 3, INVALID_PARAMETERS},
    };
    setup_query_machine();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t got = fx_call(&M, 0, F64_AFFINITY_INFO, cases[i].target, cases[i].level, 0).x0;
        if (got != cases[i].x0)
            fail_msg("AFFINITY_INFO(0x%llx, %llu) = 0x%llx, expected 0x%llx",
                     (unsigned long long)cases[i].target, (unsigned long long)cases[i].level,
                     (unsigned long long)got, (unsigned long long)cases[i].x0);
    }
    /* a cluster with one pending and no on member is ON_PENDING; ON wins over pending */
    assert_int_equal(psci_cpu_started(&M, 2), 0);
    assert_int_equal(fx_call(&M, 0, F64_AFFINITY_INFO, 0x100, 0, 0).x0, 0);
    /* SMC32 narrows the target */
    assert_int_equal(fx_call(&M, 0, F_AFFINITY_INFO, 0xFFFFFFFF00000001ULL, 0, 0).x0, 1);
    teardown();
}

/* ---- NODE_HW_STATE --------------------------------------------------------------------------- */
static void test_psci_calls__node_hw_state(void **state)
{
    (void)state;
    static const struct query_case cases[] = {
        {0x0, 0, 0 /* HW_ON */},       {0x1, 0, 1 /* HW_OFF: powered down */},
        {0x100, 0, 0 /* pending */},   {0x10000, 0, 2 /* HW_STANDBY */},
        {0x100000000ULL, 0, 1},
        {0x1, 1, 0},                   {0x10000, 1, 2},   {0x100000000ULL, 1, 1},
        {0x100, 1, 0},                 {0x10000, 2, 0},
        {0x2, 0, INVALID_PARAMETERS},  {0x101, 1, INVALID_PARAMETERS}, /* target must exist */
        {0x1000000, 0, INVALID_PARAMETERS},
        {0x0, 3, INVALID_PARAMETERS},  {0x0, 0xffffffff, INVALID_PARAMETERS},
    };
    setup_query_machine();
    fx_power_on(&M, 1);
    assert_int_equal(fx_call(&M, 1, F_CPU_SUSPEND, PS_CORE_POWERDOWN, GOOD_ENTRY, 0).action.kind,
                     PSCI_ACT_CPU_POWERDOWN);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t got = fx_call(&M, 0, F64_NODE_HW_STATE, cases[i].target, cases[i].level, 0).x0;
        if (got != cases[i].x0)
            fail_msg("NODE_HW_STATE(0x%llx, %llu) = 0x%llx, expected 0x%llx",
                     (unsigned long long)cases[i].target, (unsigned long long)cases[i].level,
                     (unsigned long long)got, (unsigned long long)cases[i].x0);
    }
    teardown();
}

/* ---- SYSTEM_OFF / SYSTEM_RESET --------------------------------------------------------------- */
static void test_psci_calls__system_off_reset(void **state)
{
    (void)state;
    static const struct {
        uint32_t fid;
        enum psci_action_kind kind;
    } cases[] = {{F_SYSTEM_OFF, PSCI_ACT_SYSTEM_OFF}, {F_SYSTEM_RESET, PSCI_ACT_SYSTEM_RESET}};
    for (int v = 0; v < FX_NR_VERSIONS; v++)
        for (size_t i = 0; i < 2; i++) {
            setup_v(fx_versions[v]);
            fx_power_on(&M, 1);
            struct psci_result r = fx_call(&M, 1, cases[i].fid, 0, 0, 0);
            assert_int_equal(r.action.kind, cases[i].kind);
            assert_int_equal(r.x0, INTERNAL_FAILURE);
            /* nothing moves until the backend acts */
            assert_int_equal(fx_state(&M, 0), PSCI_CPU_ON);
            assert_int_equal(fx_state(&M, 1), PSCI_CPU_ON);
            uint64_t x0 = 0;
            assert_int_equal(psci_system_action_failed(&M, 0, &x0), -EINVAL); /* not the caller */
            assert_int_equal(psci_system_action_failed(&M, 1, &x0), 0);
            assert_int_equal(x0, INTERNAL_FAILURE);
            assert_int_equal(psci_system_action_failed(&M, 1, &x0), -EINVAL); /* duplicate */
            fx_check(&M);
            /* again, and this time the backend resets */
            fx_call(&M, 1, cases[i].fid, 0, 0, 0);
            psci_machine_reset(&M);
            fx_check(&M);
            assert_int_equal(fx_state(&M, 0), PSCI_CPU_ON);
            assert_int_equal(fx_state(&M, 1), PSCI_CPU_OFF);
            assert_int_equal(psci_system_action_failed(&M, 1, &x0), -EINVAL);
            teardown();
        }
}

/* ---- SYSTEM_RESET2 --------------------------------------------------------------------------- */
static void test_psci_calls__system_reset2(void **state)
{
    (void)state;
    static const struct {
        uint32_t type;
        bool ok;
    } types[] = {{0, true}, {1, false}, {2, false}, {0x7fffffff, false},
                 {0x80000000u, true}, {0x80000001u, true}, {0xffffffffu, true}};
    setup_v(PSCI_VERSION_1_1);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        for (int w = 0; w < 2; w++) {
            struct psci_result r = fx_call(&M, 0, w ? F64_SYSTEM_RESET2 : F_SYSTEM_RESET2,
                                           types[i].type, 0xAAAABBBBCCCCDDDDULL, 0);
            if (!types[i].ok) {
                assert_int_equal(r.x0, INVALID_PARAMETERS);
                assert_int_equal(r.action.kind, PSCI_ACT_NONE);
                continue;
            }
            assert_int_equal(r.action.kind, PSCI_ACT_SYSTEM_RESET2);
            assert_int_equal(r.x0, INTERNAL_FAILURE);
            assert_int_equal(r.action.type, types[i].type);
            assert_int_equal(r.action.cookie, w ? 0xAAAABBBBCCCCDDDDULL : 0xCCCCDDDDULL);
            uint64_t x0;
            assert_int_equal(psci_system_action_failed(&M, 0, &x0), 0);
        }
    teardown();
}

/* ---- SYSTEM_OFF2 ----------------------------------------------------------------------------- */
static void test_psci_calls__system_off2(void **state)
{
    (void)state;
    static const struct {
        uint32_t fid;
        uint64_t type, cookie;
        bool ok;
    } cases[] = {
        {F64_SYSTEM_OFF2, 1, 0, true},      {F64_SYSTEM_OFF2, 0, 0, true},
        {F_SYSTEM_OFF2, 1, 0, true},        {F_SYSTEM_OFF2, 0, 0, true},
        {F64_SYSTEM_OFF2, 1, 1, false},     {F64_SYSTEM_OFF2, 0, 1, false},
        {F64_SYSTEM_OFF2, 2, 0, false},     {F64_SYSTEM_OFF2, 0x80000000u, 0, false},
        {F64_SYSTEM_OFF2, 1, 0x100000000ULL, false},
        {F_SYSTEM_OFF2, 1, 0x100000000ULL, true}, /* SMC32: cookie's low 32 bits are 0 */
        {F_SYSTEM_OFF2, 3, 0, false},
    };
    setup_v(PSCI_VERSION_1_3);
    assert_int_equal(fx_call(&M, 0, F_PSCI_FEATURES, F64_SYSTEM_OFF2, 0, 0).x0, 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct psci_result r = fx_call(&M, 0, cases[i].fid, cases[i].type, cases[i].cookie, 0);
        if (!cases[i].ok) {
            assert_int_equal(r.x0, INVALID_PARAMETERS);
            assert_int_equal(r.action.kind, PSCI_ACT_NONE);
            continue;
        }
        assert_int_equal(r.action.kind, PSCI_ACT_SYSTEM_OFF2);
        assert_int_equal(r.action.type, cases[i].type);
        assert_int_equal(r.x0, INTERNAL_FAILURE);
        uint64_t x0;
        assert_int_equal(psci_system_action_failed(&M, 0, &x0), 0);
        assert_int_equal(x0, INTERNAL_FAILURE);
    }
    teardown();
}

/* ---- SYSTEM_SUSPEND -------------------------------------------------------------------------- */
static void test_psci_calls__system_suspend(void **state)
{
    (void)state;
    for (int v = 1; v < FX_NR_VERSIONS; v++) {
        setup_v(fx_versions[v]);
        /* bad entry alone: INVALID_ADDRESS */
        assert_int_equal(fx_call(&M, 0, F64_SYSTEM_SUSPEND, 0x1000, 0, 0).x0, INVALID_ADDRESS);
        /* another vCPU ON: DENIED, even with a bad entry (DENIED is checked first) */
        fx_power_on(&M, 4);
        assert_int_equal(fx_call(&M, 0, F64_SYSTEM_SUSPEND, GOOD_ENTRY, 0, 0).x0, DENIED);
        assert_int_equal(fx_call(&M, 0, F64_SYSTEM_SUSPEND, 0x1000, 0, 0).x0, DENIED);
        /* another SUSPENDED: DENIED */
        fx_call(&M, 4, F_CPU_SUSPEND, PS_CORE_STANDBY, 0, 0);
        assert_int_equal(fx_call(&M, 0, F64_SYSTEM_SUSPEND, GOOD_ENTRY, 0, 0).x0, DENIED);
        assert_int_equal(psci_cpu_woken(&M, 4), 0);
        assert_int_equal(fx_call(&M, 4, F_CPU_OFF, 0, 0, 0).action.kind, PSCI_ACT_CPU_STOP);
        /* every other vCPU OFF: accepted, from a non-boot vCPU too */
        fx_power_on(&M, 2);
        assert_int_equal(fx_call(&M, 0, F_CPU_OFF, 0, 0, 0).action.kind, PSCI_ACT_CPU_STOP);
        struct psci_result r = fx_call(&M, 2, F_SYSTEM_SUSPEND, GOOD_ENTRY, CTX, 0);
        assert_int_equal(r.action.kind, PSCI_ACT_SYSTEM_SUSPEND);
        assert_int_equal(r.action.entry, GOOD_ENTRY);
        assert_int_equal(r.action.context, CTX & 0xffffffffULL);
        assert_int_equal(fx_state(&M, 2), PSCI_CPU_SUSPENDED);
        assert_int_equal(M.system_suspender, 2);
        struct psci_action act;
        assert_int_equal(psci_vcpu_pending_action(&M, 2, &act), 0);
        assert_int_equal(act.kind, PSCI_ACT_SYSTEM_SUSPEND);
        assert_int_equal(act.entry, GOOD_ENTRY);
        assert_int_equal(act.context, CTX & 0xffffffffULL);
        fx_now_ns += 3000000;
        assert_int_equal(psci_cpu_woken(&M, 2), 0);
        fx_check(&M);
        assert_int_equal(M.system_suspender, -1);
        assert_int_equal(fx_state(&M, 2), PSCI_CPU_ON);
        assert_int_equal(fx_call(&M, 2, F64_STAT_COUNT, 0x100, PS_SYSTEM_POWERDOWN, 0).x0, 1);
        assert_int_equal(fx_call(&M, 2, F64_STAT_RESIDENCY, 0x100, PS_SYSTEM_POWERDOWN, 0).x0,
                         3000);
        /* refused by the backend: back ON with DENIED, not counted */
        r = fx_call(&M, 2, F64_SYSTEM_SUSPEND, GOOD_ENTRY, CTX, 0);
        assert_int_equal(r.action.context, CTX);
        uint64_t x0 = 0;
        assert_int_equal(psci_system_suspend_refused(&M, 2, &x0), 0);
        fx_check(&M);
        assert_int_equal(x0, DENIED);
        assert_int_equal(fx_state(&M, 2), PSCI_CPU_ON);
        assert_int_equal(M.system_suspender, -1);
        assert_int_equal(fx_call(&M, 2, F64_STAT_COUNT, 0x100, PS_SYSTEM_POWERDOWN, 0).x0, 1);
        assert_int_equal(psci_system_suspend_refused(&M, 2, &x0), -EINVAL);
        teardown();
    }
}

/* ---- PSCI_STAT_* ----------------------------------------------------------------------------- */
static void test_psci_calls__stat(void **state)
{
    (void)state;
    setup_v(PSCI_VERSION_1_0);
    fx_power_on(&M, 1);
    static const uint32_t states[] = {PS_CORE_STANDBY, PS_CORE_POWERDOWN, PS_CLUSTER_POWERDOWN,
                                      PS_SYSTEM_POWERDOWN};
    /* vCPU 1 enters state i (i + 1) times, each for (i + 1) * 1500 ns */
    for (unsigned int i = 0; i < 4; i++)
        for (unsigned int n = 0; n <= i; n++) {
            fx_call(&M, 1, F_CPU_SUSPEND, states[i], GOOD_ENTRY, 0);
            fx_now_ns += (i + 1) * 1500;
            assert_int_equal(psci_cpu_woken(&M, 1), 0);
        }
    for (unsigned int i = 0; i < 4; i++) {
        assert_int_equal(fx_call(&M, 0, F_STAT_COUNT, 0x1, states[i], 0).x0, i + 1);
        assert_int_equal(fx_call(&M, 0, F64_STAT_RESIDENCY, 0x1, states[i], 0).x0,
                         (i + 1) * (i + 1) * 1500 / 1000);
        assert_int_equal(fx_call(&M, 0, F64_STAT_COUNT, 0x0, states[i], 0).x0, 0);
    }
    /* a suspend in progress is not counted yet */
    fx_call(&M, 1, F_CPU_SUSPEND, PS_CORE_STANDBY, 0, 0);
    fx_now_ns += 1000000;
    assert_int_equal(fx_call(&M, 0, F_STAT_COUNT, 0x1, PS_CORE_STANDBY, 0).x0, 1);
    /* invalid target or power_state: 0 */
    assert_int_equal(fx_call(&M, 0, F64_STAT_COUNT, 0x2, PS_CORE_STANDBY, 0).x0, 0);
    assert_int_equal(fx_call(&M, 0, F64_STAT_COUNT, 0x1000001, PS_CORE_STANDBY, 0).x0, 0);
    assert_int_equal(fx_call(&M, 0, F64_STAT_COUNT, 0x1, 0x1, 0).x0, 0);
    assert_int_equal(fx_call(&M, 0, F64_STAT_RESIDENCY, 0x1, 0x03010000, 0).x0, 0);
    assert_int_equal(fx_call(&M, 0, F64_STAT_RESIDENCY, 0x2, PS_CORE_POWERDOWN, 0).x0, 0);
    struct psci_vcpu_info info;
    assert_int_equal(psci_vcpu_get_info(&M, 1, &info), 0);
    assert_int_equal(info.suspend_count, 10);
    assert_int_equal(info.suspend_residency_ns, (1 + 4 + 9 + 16) * 1500);
    /* statistics survive a reset */
    psci_machine_reset(&M);
    fx_check(&M);
    assert_int_equal(fx_call(&M, 0, F_STAT_COUNT, 0x1, PS_SYSTEM_POWERDOWN, 0).x0, 4);
    teardown();
}

/* ---- misc ------------------------------------------------------------------------------------ */
static void test_psci_calls__migrate_info_type(void **state)
{
    (void)state;
    for (int v = 0; v < FX_NR_VERSIONS; v++) {
        setup_v(fx_versions[v]);
        assert_int_equal(fx_call(&M, 0, F_MIGRATE_INFO_TYPE, 0, 0, 0).x0, 2);
        assert_int_equal(fx_call(&M, 0, F_MIGRATE, 0x1, 0, 0).x0, NOT_SUPPORTED);
        assert_int_equal(fx_call(&M, 0, F64_MIGRATE_INFO_UP_CPU, 0, 0, 0).x0, NOT_SUPPORTED);
        teardown();
    }
}

static void test_psci_calls__features_flags(void **state)
{
    (void)state;
    setup_v(PSCI_VERSION_1_3);
    assert_int_equal(fx_call(&M, 0, F_PSCI_FEATURES, F_CPU_SUSPEND, 0, 0).x0, 0);
    assert_int_equal(fx_call(&M, 0, F_PSCI_FEATURES, F64_CPU_SUSPEND, 0, 0).x0, 0);
    assert_int_equal(fx_call(&M, 0, F_PSCI_FEATURES, F_PSCI_FEATURES, 0, 0).x0, 0);
    assert_int_equal(fx_call(&M, 0, F_PSCI_FEATURES, F_SYSTEM_OFF2, 0, 0).x0, 1);
    assert_int_equal(fx_call(&M, 0, F_PSCI_FEATURES, F_SMCCC_VERSION, 0, 0).x0, 0);
    /* the argument is W1: high bits ignored */
    assert_int_equal(fx_call(&M, 0, F_PSCI_FEATURES, 0xFFFFFFFF00000000ULL | F64_CPU_ON, 0, 0).x0,
                     0);
    /* AArch32 callers: SMC64 IDs are not supported */
    assert_int_equal(fx_call32(&M, 0, true, F_PSCI_FEATURES, F64_CPU_ON, 0, 0).x0, NOT_SUPPORTED);
    assert_int_equal(fx_call32(&M, 0, true, F_PSCI_FEATURES, F_CPU_ON, 0, 0).x0, 0);
    assert_int_equal(fx_call32(&M, 0, true, F64_CPU_ON, 0x1, GOOD_ENTRY, 0).x0, NOT_SUPPORTED);
    assert_int_equal(fx_state(&M, 1), PSCI_CPU_OFF);
    teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psci_calls__cpu_on_success),
        cmocka_unit_test(test_psci_calls__cpu_on_invalid_target),
        cmocka_unit_test(test_psci_calls__cpu_on_entry),
        cmocka_unit_test(test_psci_calls__cpu_on_policy),
        cmocka_unit_test(test_psci_calls__cpu_on_check_order),
        cmocka_unit_test(test_psci_calls__cpu_on_target_state),
        cmocka_unit_test(test_psci_calls__cpu_on_register_width),
        cmocka_unit_test(test_psci_calls__cpu_off),
        cmocka_unit_test(test_psci_calls__cpu_suspend_power_states),
        cmocka_unit_test(test_psci_calls__cpu_suspend_standby),
        cmocka_unit_test(test_psci_calls__cpu_suspend_powerdown),
        cmocka_unit_test(test_psci_calls__affinity_info),
        cmocka_unit_test(test_psci_calls__node_hw_state),
        cmocka_unit_test(test_psci_calls__system_off_reset),
        cmocka_unit_test(test_psci_calls__system_reset2),
        cmocka_unit_test(test_psci_calls__system_off2),
        cmocka_unit_test(test_psci_calls__system_suspend),
        cmocka_unit_test(test_psci_calls__stat),
        cmocka_unit_test(test_psci_calls__migrate_info_type),
        cmocka_unit_test(test_psci_calls__features_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
