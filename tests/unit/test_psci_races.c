/* test_psci_races.c — orderings a multi-threaded backend can produce around the PSCI core:
 * concurrent CPU_ONs to one target, CPU_ON racing the target's start, late and duplicated
 * completion reports, SYSTEM_SUSPEND while another vCPU is ON_PENDING, policy changes while a
 * start is pending, and a reset with actions outstanding. The core is serialised by the backend
 * (one lock around each call), so each race is a particular interleaving of calls. */
#include "psci_fixture.h"

static struct psci_machine M;

static void start_all_but(unsigned int target)
{
    for (unsigned int i = 1; i < FX_NR_VCPUS; i++)
        if (i != target)
            fx_power_on(&M, i);
}

/* Every ON vCPU sends CPU_ON to the same target, in each rotation: exactly one SUCCESS, the
 * rest ON_PENDING (before the start completes) or ALREADY_ON (after). */
static void test_psci_races__two_cpu_ons_one_target(void **state)
{
    (void)state;
    for (unsigned int complete_after = 0; complete_after < FX_NR_VCPUS; complete_after++) {
        fx_init(&M, PSCI_VERSION_1_3, 0);
        start_all_but(1);
        unsigned int callers[] = {0, 2, 3, 4};
        int successes = 0, pending = 0, already = 0;
        for (unsigned int k = 0; k < 4; k++) {
            if (k == complete_after && fx_state(&M, 1) == PSCI_CPU_ON_PENDING)
                assert_int_equal(psci_cpu_started(&M, 1), 0);
            struct psci_result r =
                fx_call(&M, callers[(k + complete_after) % 4], F64_CPU_ON, 0x1, GOOD_ENTRY, k);
            if (r.x0 == SUCCESS) {
                successes++;
                assert_int_equal(r.action.kind, PSCI_ACT_CPU_START);
            } else if (r.x0 == ON_PENDING) {
                pending++;
            } else if (r.x0 == ALREADY_ON) {
                already++;
            } else {
                fail_msg("unexpected x0 0x%llx", (unsigned long long)r.x0);
            }
        }
        assert_int_equal(successes, 1);
        assert_int_equal(successes + pending + already, 4);
        psci_machine_release(&M);
    }
}

static void test_psci_races__cpu_on_while_start_completes(void **state)
{
    (void)state;
    fx_init(&M, PSCI_VERSION_1_1, 0);
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x1, GOOD_ENTRY, 0).x0, SUCCESS);
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x1, GOOD_ENTRY, 0).x0, ON_PENDING);
    assert_int_equal(psci_cpu_started(&M, 1), 0);
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x1, GOOD_ENTRY, 0).x0, ALREADY_ON);
    /* a start that fails rolls back to OFF, and a new CPU_ON succeeds */
    assert_int_equal(fx_call(&M, 1, F64_CPU_ON, 0x100, GOOD_ENTRY, 0).x0, SUCCESS);
    assert_int_equal(psci_cpu_start_failed(&M, 2), 0);
    fx_check(&M);
    assert_int_equal(fx_state(&M, 2), PSCI_CPU_OFF);
    assert_int_equal(fx_call(&M, 0, F64_AFFINITY_INFO, 0x100, 0, 0).x0, 1);
    assert_int_equal(fx_call(&M, 1, F64_CPU_ON, 0x100, GOOD_ENTRY, 0).x0, SUCCESS);
    psci_machine_release(&M);
}

static void test_psci_races__late_and_duplicate_reports(void **state)
{
    (void)state;
    fx_init(&M, PSCI_VERSION_1_3, PSCI_OPT_ALL);
    /* duplicate started */
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x1, GOOD_ENTRY, 0).x0, SUCCESS);
    assert_int_equal(psci_cpu_started(&M, 1), 0);
    assert_int_equal(psci_cpu_started(&M, 1), -EINVAL);
    assert_int_equal(psci_cpu_start_failed(&M, 1), -EINVAL); /* failure after success */
    fx_check(&M);
    assert_int_equal(fx_state(&M, 1), PSCI_CPU_ON);
    /* duplicate woken counts once */
    fx_call(&M, 1, F_CPU_SUSPEND, PS_CORE_STANDBY, 0, 0);
    assert_int_equal(psci_cpu_woken(&M, 1), 0);
    assert_int_equal(psci_cpu_woken(&M, 1), -EINVAL);
    fx_check(&M);
    assert_int_equal(fx_call(&M, 0, F_STAT_COUNT, 0x1, PS_CORE_STANDBY, 0).x0, 1);
    /* started for a vCPU that went OFF -> ON_PENDING -> OFF (failed) */
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x100, GOOD_ENTRY, 0).x0, SUCCESS);
    assert_int_equal(psci_cpu_start_failed(&M, 2), 0);
    assert_int_equal(psci_cpu_started(&M, 2), -EINVAL);
    assert_int_equal(fx_state(&M, 2), PSCI_CPU_OFF);
    /* late woken after the vCPU was reset */
    fx_call(&M, 1, F_CPU_SUSPEND, PS_CORE_POWERDOWN, GOOD_ENTRY, 0);
    psci_machine_reset(&M);
    assert_int_equal(psci_cpu_woken(&M, 1), -EINVAL);
    fx_check(&M);
    assert_int_equal(fx_call(&M, 0, F_STAT_COUNT, 0x1, PS_CORE_POWERDOWN, 0).x0, 0);
    psci_machine_release(&M);
}

static void test_psci_races__system_suspend_vs_pending(void **state)
{
    (void)state;
    fx_init(&M, PSCI_VERSION_1_0, PSCI_OPT_SYSTEM_SUSPEND);
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x10000, GOOD_ENTRY, 0).x0, SUCCESS);
    struct psci_result r = fx_call(&M, 0, F64_SYSTEM_SUSPEND, GOOD_ENTRY, 0, 0);
    assert_int_equal(r.x0, DENIED);
    assert_int_equal(r.action.kind, PSCI_ACT_NONE);
    assert_int_equal(M.system_suspender, -1);
    /* once the pending start fails, the caller is the last one on */
    assert_int_equal(psci_cpu_start_failed(&M, 3), 0);
    r = fx_call(&M, 0, F64_SYSTEM_SUSPEND, GOOD_ENTRY, 0, 0);
    assert_int_equal(r.action.kind, PSCI_ACT_SYSTEM_SUSPEND);
    /* while suspended nobody else can be on; reports for others are rejected */
    assert_int_equal(psci_cpu_started(&M, 3), -EINVAL);
    assert_int_equal(psci_cpu_woken(&M, 0), 0);
    fx_check(&M);
    psci_machine_release(&M);
}

static void test_psci_races__policy_change_while_pending(void **state)
{
    (void)state;
    for (int v = 0; v < FX_NR_VERSIONS; v++) {
        fx_init(&M, fx_versions[v], 0);
        uint64_t denied = fx_versions[v] >= PSCI_VERSION_1_2 ? DENIED : INTERNAL_FAILURE;
        assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x1, GOOD_ENTRY, 0).x0, SUCCESS);
        assert_int_equal(psci_vcpu_set_allowed(&M, 1, false), 0);
        fx_check(&M);
        assert_int_equal(fx_state(&M, 1), PSCI_CPU_ON_PENDING); /* unchanged */
        assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x1, GOOD_ENTRY, 0).x0, denied);
        assert_int_equal(psci_cpu_started(&M, 1), 0); /* the accepted start completes */
        assert_int_equal(fx_state(&M, 1), PSCI_CPU_ON);
        assert_int_equal(fx_call(&M, 1, F_CPU_OFF, 0, 0, 0).action.kind, PSCI_ACT_CPU_STOP);
        assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x1, GOOD_ENTRY, 0).x0, denied);
        assert_int_equal(fx_state(&M, 1), PSCI_CPU_OFF);
        psci_machine_release(&M);
    }
}

static void test_psci_races__reset_with_pending_actions(void **state)
{
    (void)state;
    fx_init(&M, PSCI_VERSION_1_3, PSCI_OPT_ALL);
    fx_power_on(&M, 1);
    fx_power_on(&M, 2);
    assert_int_equal(fx_call(&M, 0, F64_CPU_ON, 0x10000, GOOD_ENTRY, 0).x0, SUCCESS);
    fx_call(&M, 1, F_CPU_SUSPEND, PS_CORE_POWERDOWN, GOOD_ENTRY, 0);
    fx_call(&M, 2, F_CPU_SUSPEND, PS_CORE_STANDBY, 0, 0);
    assert_int_equal(fx_call(&M, 0, F_SYSTEM_RESET, 0, 0, 0).action.kind, PSCI_ACT_SYSTEM_RESET);
    psci_machine_reset(&M);
    fx_check(&M);
    assert_int_equal(fx_state(&M, 0), PSCI_CPU_ON);
    for (unsigned int i = 1; i < FX_NR_VCPUS; i++)
        assert_int_equal(fx_state(&M, i), PSCI_CPU_OFF);
    uint64_t x0;
    assert_int_equal(psci_cpu_started(&M, 3), -EINVAL);
    assert_int_equal(psci_cpu_woken(&M, 1), -EINVAL);
    assert_int_equal(psci_cpu_woken(&M, 2), -EINVAL);
    assert_int_equal(psci_system_action_failed(&M, 0, &x0), -EINVAL);
    /* reset in the middle of a SYSTEM_SUSPEND */
    fx_power_on(&M, 4);
    assert_int_equal(fx_call(&M, 0, F_CPU_OFF, 0, 0, 0).action.kind, PSCI_ACT_CPU_STOP);
    assert_int_equal(fx_call(&M, 4, F_SYSTEM_SUSPEND, GOOD_ENTRY, 0, 0).action.kind,
                     PSCI_ACT_SYSTEM_SUSPEND);
    psci_machine_reset(&M);
    fx_check(&M);
    assert_int_equal(M.system_suspender, -1);
    assert_int_equal(psci_system_suspend_refused(&M, 4, &x0), -EINVAL);
    assert_int_equal(fx_state(&M, 0), PSCI_CPU_ON);
    psci_machine_release(&M);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psci_races__two_cpu_ons_one_target),
        cmocka_unit_test(test_psci_races__cpu_on_while_start_completes),
        cmocka_unit_test(test_psci_races__late_and_duplicate_reports),
        cmocka_unit_test(test_psci_races__system_suspend_vs_pending),
        cmocka_unit_test(test_psci_races__policy_change_while_pending),
        cmocka_unit_test(test_psci_races__reset_with_pending_actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
