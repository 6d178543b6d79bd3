/* psci_main.c — the PSCI front end: the table of PSCI functions (which exist, since which
 * version, under which IDs, behind which option), PSCI_FEATURES, the SMCCC architecture calls
 * that may reach us, and psci_machine_call(), which narrows the arguments of SMC32 calls and
 * dispatches to the per-group handlers (psci_on.c, psci_off.c, psci_suspend.c, psci_system.c,
 * psci_affinity.c, psci_stat.c). */
#include <errno.h>
#include <string.h>

#include "psci/psci_private.h"

/* One row per PSCI function number (DEN0022 table 5.1 / psci-kvm.md §1.2). `option` 0 means
 * offered whenever the version has it; `implemented` false means always NOT_SUPPORTED.
 * `nr_args` is how many argument registers (x1..x<nr_args>) psci_machine_call() reads for the
 * function: what psci_call_nr_args() tells a backend to fetch. It must match the arguments the
 * case for the function in psci_machine_call() passes on (test_psci_args.c checks both ways);
 * unimplemented functions read none (they only answer NOT_SUPPORTED). */
struct psci_fn_desc {
    uint32_t since;
    bool has_smc32;
    bool has_smc64;
    bool implemented;
    uint32_t option;
    uint8_t nr_args;
};

#define FN(num, since_, s32, s64, impl, opt, args) [num] = {since_, s32, s64, impl, opt, args}
static const struct psci_fn_desc psci_fns[PSCI_FN_NUM_MASK + 1] = {
    FN(PSCI_FN_PSCI_VERSION, PSCI_VERSION_0_2, true, false, true, 0, 0),
    FN(PSCI_FN_CPU_SUSPEND, PSCI_VERSION_0_2, true, true, true, 0, 3),
    FN(PSCI_FN_CPU_OFF, PSCI_VERSION_0_2, true, false, true, 0, 0),
    FN(PSCI_FN_CPU_ON, PSCI_VERSION_0_2, true, true, true, 0, 3),
    FN(PSCI_FN_AFFINITY_INFO, PSCI_VERSION_0_2, true, true, true, 0, 2),
    FN(PSCI_FN_MIGRATE, PSCI_VERSION_0_2, true, true, false, 0, 0),
    FN(PSCI_FN_MIGRATE_INFO_TYPE, PSCI_VERSION_0_2, true, false, true, 0, 0),
    FN(PSCI_FN_MIGRATE_INFO_UP_CPU, PSCI_VERSION_0_2, true, true, false, 0, 0),
    FN(PSCI_FN_SYSTEM_OFF, PSCI_VERSION_0_2, true, false, true, 0, 0),
    FN(PSCI_FN_SYSTEM_RESET, PSCI_VERSION_0_2, true, false, true, 0, 0),
    FN(PSCI_FN_PSCI_FEATURES, PSCI_VERSION_1_0, true, false, true, 0, 1),
    FN(PSCI_FN_CPU_FREEZE, PSCI_VERSION_1_0, true, false, false, 0, 0),
    FN(PSCI_FN_CPU_DEFAULT_SUSPEND, PSCI_VERSION_1_0, true, true, false, 0, 0),
    FN(PSCI_FN_NODE_HW_STATE, PSCI_VERSION_1_0, true, true, true, PSCI_OPT_NODE_HW_STATE, 2),
    FN(PSCI_FN_SYSTEM_SUSPEND, PSCI_VERSION_1_0, true, true, true, PSCI_OPT_SYSTEM_SUSPEND, 2),
    FN(PSCI_FN_SET_SUSPEND_MODE, PSCI_VERSION_1_0, true, false, false, 0, 0),
    FN(PSCI_FN_STAT_RESIDENCY, PSCI_VERSION_1_0, true, true, true, PSCI_OPT_STAT, 2),
    FN(PSCI_FN_STAT_COUNT, PSCI_VERSION_1_0, true, true, true, PSCI_OPT_STAT, 2),
    FN(PSCI_FN_SYSTEM_RESET2, PSCI_VERSION_1_1, true, true, true, PSCI_OPT_SYSTEM_RESET2, 2),
    FN(PSCI_FN_MEM_PROTECT, PSCI_VERSION_1_1, true, false, false, 0, 0),
    FN(PSCI_FN_MEM_PROTECT_CHECK_RANGE, PSCI_VERSION_1_1, true, true, false, 0, 0),
    FN(PSCI_FN_SYSTEM_OFF2, PSCI_VERSION_1_3, true, true, true, PSCI_OPT_SYSTEM_OFF2, 2),
    FN(PSCI_FN_CLEAN_INV_MEMREGION, PSCI_VERSION_1_3, false, true, false, 0, 0),
    FN(PSCI_FN_CLEAN_INV_MEMREGION_ATTRIBUTES, PSCI_VERSION_1_3, true, false, false, 0, 0),
};
#undef FN

bool psci_fid_offered(const struct psci_machine *m, uint32_t fid, bool aarch32)
{
    if (!psci_is_psci_function(fid))
        return false;
    const struct psci_fn_desc *d = &psci_fns[fid & PSCI_FN_NUM_MASK];
    bool smc64 = (fid & PSCI_FN_SMC64) != 0;
    if (!d->implemented || d->since == 0 || m->version < d->since)
        return false;
    if (d->option != 0 && (m->options & d->option) == 0)
        return false;
    if (smc64)
        return d->has_smc64 && !aarch32;
    return d->has_smc32;
}

const struct psci_fid_range psci_fid_ranges[PSCI_NR_FID_RANGES] = {
    {PSCI_FN(0), PSCI_FN_NUM_MASK + 1},
    {PSCI_FN64(0), PSCI_FN_NUM_MASK + 1},
};

bool psci_fid_is_cpu_on(uint32_t function_id)
{
    return function_id == PSCI_FN(PSCI_FN_CPU_ON) || function_id == PSCI_FN64(PSCI_FN_CPU_ON);
}

bool psci_function_offered(const struct psci_machine *m, uint32_t function_id)
{
    if (m == NULL)
        return false;
    /* "Any of its IDs": the SMC32 ID answers for the function unless it only has SMC64. */
    uint32_t num = function_id & PSCI_FN_NUM_MASK;
    if (!psci_is_psci_function(function_id))
        return false;
    return psci_fid_offered(m, PSCI_FN(num), false) || psci_fid_offered(m, PSCI_FN64(num), false);
}

/* PSCI_FEATURES (DEN0022 §5.15): NOT_SUPPORTED for anything not offered to this caller
 * (including SMC64 IDs asked by an AArch32 caller), else the feature flags: CPU_SUSPEND ->
 * original power_state format, platform-coordinated only (0); SYSTEM_OFF2 -> supported
 * hibernate types (bit 0 HIBERNATE_OFF); every other offered function -> 0. SMCCC_VERSION is
 * answered 0 so that guests discover SMCCC 1.1 (psci-kvm.md §10.1; TF-A psci_features()). */
uint64_t psci_features(const struct psci_machine *m, uint32_t fid, bool aarch32)
{
    if (fid == SMCCC_VERSION_FID)
        return PSCI_X0(PSCI_RET_SUCCESS);
    if (!psci_fid_offered(m, fid, aarch32))
        return PSCI_X0(PSCI_RET_NOT_SUPPORTED);
    switch (fid & PSCI_FN_NUM_MASK) {
    case PSCI_FN_CPU_SUSPEND:
        return PSCI_FEATURES_CPU_SUSPEND_FLAGS;
    case PSCI_FN_SYSTEM_OFF2:
        return PSCI_OFF2_TYPE_HIBERNATE_OFF;
    default:
        return PSCI_X0(PSCI_RET_SUCCESS);
    }
}

/* SMCCC architecture calls (OEN 0). With KVM's SMCCC filter these never reach userspace (the
 * range 0x80000000-0x8000FFFF is reserved to KVM, psci-kvm.md §5.2); answered here anyway so a
 * backend may pass any call through: SMCCC_VERSION -> 1.1; SMCCC_ARCH_FEATURES -> 0 for
 * SMCCC_VERSION and SMCCC_ARCH_FEATURES (as TF-A does), NOT_SUPPORTED otherwise (we model no
 * Spectre workaround: KVM answers those); every other ID -> NOT_SUPPORTED. */
static uint64_t smccc_arch_call(uint32_t fid, uint32_t arg)
{
    switch (fid) {
    case SMCCC_VERSION_FID:
        return SMCCC_VERSION_1_1;
    case SMCCC_ARCH_FEATURES_FID:
        if (arg == SMCCC_VERSION_FID || arg == SMCCC_ARCH_FEATURES_FID)
            return PSCI_X0(PSCI_RET_SUCCESS);
        return PSCI_X0(PSCI_RET_NOT_SUPPORTED);
    default:
        return PSCI_X0(PSCI_RET_NOT_SUPPORTED);
    }
}

/* Argument registers smccc_arch_call() uses: SMCCC_ARCH_FEATURES reads W1, nothing else does. */
static unsigned int smccc_arch_nr_args(uint32_t fid)
{
    return fid == SMCCC_ARCH_FEATURES_FID ? 1 : 0;
}

unsigned int psci_call_nr_args(const struct psci_machine *m, uint32_t function_id, bool aarch32)
{
    if (m == NULL)
        return 0;
    if (!psci_is_psci_function(function_id))
        return smccc_arch_nr_args(function_id);
    if (!psci_fid_offered(m, function_id, aarch32))
        return 0;
    return psci_fns[function_id & PSCI_FN_NUM_MASK].nr_args;
}

static void set_x0(struct psci_result *res, int64_t value)
{
    res->x0 = (uint64_t)value;
}

int psci_machine_call(struct psci_machine *m, const struct psci_call *call,
                      struct psci_result *result)
{
    if (result == NULL)
        return -EINVAL;
    memset(result, 0, sizeof(*result));
    result->action.kind = PSCI_ACT_NONE;
    result->x0 = PSCI_X0(PSCI_RET_INTERNAL_FAILURE);
    if (m == NULL || m->vcpus == NULL || call == NULL || call->vcpu >= m->nr_vcpus ||
        m->vcpus[call->vcpu].state != PSCI_CPU_ON)
        return -EINVAL;
    m->calls = psci_add_sat(m->calls, 1);

    /* SMCCC: the function ID is W0. SMC32 calls (and every AArch32 call) use only the low 32
     * bits of x1..x3 (DEN0028 §2.5; KVM kvm_psci_narrow_to_32bit, TF-A psci_smc_handler). */
    uint32_t fid = (uint32_t)call->x[0];
    bool smc64 = (fid & PSCI_FN_SMC64) != 0;
    uint64_t a1 = call->x[1], a2 = call->x[2], a3 = call->x[3];
    if (!smc64 || call->aarch32) {
        a1 = (uint32_t)a1;
        a2 = (uint32_t)a2;
        a3 = (uint32_t)a3;
    }

    if (!psci_is_psci_function(fid)) {
        result->x0 = smccc_arch_call(fid, (uint32_t)a1);
        return 0;
    }
    if (!psci_fid_offered(m, fid, call->aarch32)) {
        result->x0 = PSCI_X0(PSCI_RET_NOT_SUPPORTED);
        return 0;
    }

    switch (fid & PSCI_FN_NUM_MASK) {
    case PSCI_FN_PSCI_VERSION:
        result->x0 = m->version;
        break;
    case PSCI_FN_CPU_SUSPEND:
        /* power_state is a 32-bit parameter in both conventions (TF-A casts x1). */
        psci_do_cpu_suspend(m, call, (uint32_t)a1, a2, a3, result);
        break;
    case PSCI_FN_CPU_OFF:
        psci_do_cpu_off(m, call, result);
        break;
    case PSCI_FN_CPU_ON:
        psci_do_cpu_on(m, call, a1, a2, a3, result);
        break;
    case PSCI_FN_AFFINITY_INFO:
        set_x0(result, psci_affinity_info(m, a1, (uint32_t)a2));
        break;
    case PSCI_FN_MIGRATE_INFO_TYPE:
        result->x0 = PSCI_TOS_MP;
        break;
    case PSCI_FN_SYSTEM_OFF:
        psci_do_system_off(m, call, result);
        break;
    case PSCI_FN_SYSTEM_RESET:
        psci_do_system_reset(m, call, result);
        break;
    case PSCI_FN_PSCI_FEATURES:
        result->x0 = psci_features(m, (uint32_t)a1, call->aarch32);
        break;
    case PSCI_FN_NODE_HW_STATE:
        set_x0(result, psci_node_hw_state(m, a1, (uint32_t)a2));
        break;
    case PSCI_FN_SYSTEM_SUSPEND:
        psci_do_system_suspend(m, call, a1, a2, result);
        break;
    case PSCI_FN_STAT_RESIDENCY:
        result->x0 = psci_stat_residency(m, a1, (uint32_t)a2);
        break;
    case PSCI_FN_STAT_COUNT:
        result->x0 = psci_stat_count(m, a1, (uint32_t)a2);
        break;
    case PSCI_FN_SYSTEM_RESET2:
        psci_do_system_reset2(m, call, (uint32_t)a1, a2, result);
        break;
    case PSCI_FN_SYSTEM_OFF2:
        psci_do_system_off2(m, call, (uint32_t)a1, a2, result);
        break;
    default:
        /* psci_fid_offered() admits only the functions handled above. */
        result->x0 = PSCI_X0(PSCI_RET_NOT_SUPPORTED);
        break;
    }
    return 0;
}
