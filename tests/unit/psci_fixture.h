/* psci_fixture.h — shared fixture for the PSCI core tests (test_psci_*.c): a small machine with
 * an unusual topology, a fake clock, call helpers that check psci_machine_check() after every
 * step, and the spec's function IDs and return codes written out literally (from DEN0022 and
 * Linux include/uapi/linux/psci.h), so the tests do not borrow the implementation's constants. */
#ifndef PSCIVM_TEST_PSCI_FIXTURE_H
#define PSCIVM_TEST_PSCI_FIXTURE_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "psci/psci.h"

/* Return codes as the 64-bit x0 a guest sees. */
#define R(n) ((uint64_t)(int64_t)(n))
#define SUCCESS R(0)
#define NOT_SUPPORTED R(-1)
#define INVALID_PARAMETERS R(-2)
#define DENIED R(-3)
#define ALREADY_ON R(-4)
#define ON_PENDING R(-5)
#define INTERNAL_FAILURE R(-6)
#define INVALID_ADDRESS R(-9)

/* Function IDs. */
#define F_PSCI_VERSION 0x84000000u
#define F_CPU_SUSPEND 0x84000001u
#define F64_CPU_SUSPEND 0xC4000001u
#define F_CPU_OFF 0x84000002u
#define F_CPU_ON 0x84000003u
#define F64_CPU_ON 0xC4000003u
#define F_AFFINITY_INFO 0x84000004u
#define F64_AFFINITY_INFO 0xC4000004u
#define F_MIGRATE 0x84000005u
#define F64_MIGRATE 0xC4000005u
#define F_MIGRATE_INFO_TYPE 0x84000006u
#define F_MIGRATE_INFO_UP_CPU 0x84000007u
#define F64_MIGRATE_INFO_UP_CPU 0xC4000007u
#define F_SYSTEM_OFF 0x84000008u
#define F_SYSTEM_RESET 0x84000009u
#define F_PSCI_FEATURES 0x8400000Au
#define F_CPU_FREEZE 0x8400000Bu
#define F_CPU_DEFAULT_SUSPEND 0x8400000Cu
#define F64_CPU_DEFAULT_SUSPEND 0xC400000Cu
#define F_NODE_HW_STATE 0x8400000Du
#define F64_NODE_HW_STATE 0xC400000Du
#define F_SYSTEM_SUSPEND 0x8400000Eu
#define F64_SYSTEM_SUSPEND 0xC400000Eu
#define F_SET_SUSPEND_MODE 0x8400000Fu
#define F_STAT_RESIDENCY 0x84000010u
#define F64_STAT_RESIDENCY 0xC4000010u
#define F_STAT_COUNT 0x84000011u
#define F64_STAT_COUNT 0xC4000011u
#define F_SYSTEM_RESET2 0x84000012u
#define F64_SYSTEM_RESET2 0xC4000012u
#define F_MEM_PROTECT 0x84000013u
#define F_MEM_PROTECT_CHECK_RANGE 0x84000014u
#define F64_MEM_PROTECT_CHECK_RANGE 0xC4000014u
#define F_SYSTEM_OFF2 0x84000015u
#define F64_SYSTEM_OFF2 0xC4000015u
#define F64_CLEAN_INV_MEMREGION 0xC4000016u
#define F_CLEAN_INV_MEMREGION_ATTRIBUTES 0x84000017u
#define F_SMCCC_VERSION 0x80000000u
#define F_SMCCC_ARCH_FEATURES 0x80000001u

/* power_state values (original format). */
#define PS_CORE_STANDBY 0x00000000u
#define PS_CORE_POWERDOWN 0x00010000u
#define PS_CLUSTER_POWERDOWN 0x01010000u
#define PS_SYSTEM_POWERDOWN 0x02010000u

/* Topology: vCPU 0..4 = MPIDR 0x0, 0x1, 0x100, 0x10000, 0x100000000 (Aff3 = 1). */
#define FX_NR_VCPUS 5
static const uint64_t fx_mpidrs[FX_NR_VCPUS] = {0x0, 0x1, 0x100, 0x10000, 0x100000000ULL};
static const struct psci_ram_range fx_ram[2] = {
    {0x40000000ULL, 0x10000000ULL},
    {0x880000000ULL, 0x1000ULL},
};
#define GOOD_ENTRY 0x40080000ULL
#define CTX 0x1122334455667788ULL

static uint64_t fx_now_ns;
static uint64_t fx_clock(void *opaque)
{
    (void)opaque;
    return fx_now_ns;
}

static inline void fx_check(const struct psci_machine *m)
{
    const char *why = NULL;
    int rc = psci_machine_check(m, &why);
    if (rc != 0)
        fail_msg("psci_machine_check: %s", why ? why : "(no reason)");
}

static inline void fx_init(struct psci_machine *m, uint32_t version, uint32_t options)
{
    struct psci_config cfg = {
        .version = version,
        .options = options,
        .nr_vcpus = FX_NR_VCPUS,
        .mpidrs = fx_mpidrs,
        .boot_vcpu = 0,
        .ram = fx_ram,
        .nr_ram = 2,
        .clock_ns = fx_clock,
    };
    fx_now_ns = 1000000;
    assert_int_equal(psci_machine_init(m, &cfg), 0);
    fx_check(m);
}

static inline struct psci_result fx_call32(struct psci_machine *m, unsigned int vcpu, bool aarch32,
                                           uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3)
{
    struct psci_call c = {.vcpu = vcpu, .x = {x0, x1, x2, x3}, .aarch32 = aarch32};
    struct psci_result r;
    assert_int_equal(psci_machine_call(m, &c, &r), 0);
    fx_check(m);
    return r;
}

/* An AArch64 call. */
static inline struct psci_result fx_call(struct psci_machine *m, unsigned int vcpu, uint64_t x0,
                                         uint64_t x1, uint64_t x2, uint64_t x3)
{
    return fx_call32(m, vcpu, false, x0, x1, x2, x3);
}

static inline enum psci_cpu_state fx_state(const struct psci_machine *m, unsigned int vcpu)
{
    struct psci_vcpu_info info;
    assert_int_equal(psci_vcpu_get_info(m, vcpu, &info), 0);
    return info.state;
}

/* Bring vCPU `target` ON through CPU_ON from vCPU 0 and the backend's report. */
static inline void fx_power_on(struct psci_machine *m, unsigned int target)
{
    struct psci_result r = fx_call(m, 0, F64_CPU_ON, fx_mpidrs[target], GOOD_ENTRY, 0);
    assert_int_equal(r.x0, SUCCESS);
    assert_int_equal(psci_cpu_started(m, target), 0);
    fx_check(m);
}

static const uint32_t fx_versions[] = {
    PSCI_VERSION_0_2, PSCI_VERSION_1_0, PSCI_VERSION_1_1, PSCI_VERSION_1_2, PSCI_VERSION_1_3,
};
#define FX_NR_VERSIONS 5

#endif /* PSCIVM_TEST_PSCI_FIXTURE_H */
