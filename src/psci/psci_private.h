/* psci_private.h — internals of the PSCI firmware model shared by the files of src/psci/: the per-vCPU
 * record, function IDs and return codes, power_state decoding, and the internal functions
 * grouped by the file that defines them (as TF-A lib/psci/psci_private.h does). Nothing outside
 * src/psci/ includes this file. */
#ifndef PSCIVM_PSCI_PRIVATE_H
#define PSCIVM_PSCI_PRIVATE_H

#include "psci/psci.h"

/* ---- return codes (DEN0022 §5.2.2; Linux include/uapi/linux/psci.h) ------------------------- */
#define PSCI_RET_SUCCESS 0
#define PSCI_RET_NOT_SUPPORTED (-1)
#define PSCI_RET_INVALID_PARAMETERS (-2)
#define PSCI_RET_DENIED (-3)
#define PSCI_RET_ALREADY_ON (-4)
#define PSCI_RET_ON_PENDING (-5)
#define PSCI_RET_INTERNAL_FAILURE (-6)
#define PSCI_RET_NOT_PRESENT (-7)
#define PSCI_RET_DISABLED (-8)
#define PSCI_RET_INVALID_ADDRESS (-9)

/* A return code as the 64-bit x0 the guest sees (sign-extended). */
#define PSCI_X0(ret) ((uint64_t)(int64_t)(ret))

/* AFFINITY_INFO results. */
#define PSCI_AFF_ON 0
#define PSCI_AFF_OFF 1
#define PSCI_AFF_ON_PENDING 2
/* NODE_HW_STATE results. */
#define PSCI_HW_ON 0
#define PSCI_HW_OFF 1
#define PSCI_HW_STANDBY 2
/* MIGRATE_INFO_TYPE: Trusted OS not present or does not require migration. */
#define PSCI_TOS_MP 2

/* ---- function IDs ---------------------------------------------------------------------------- */
#define PSCI_FN_BASE 0x84000000u
#define PSCI_FN_SMC64 0x40000000u /* SMCCC calling-convention bit 30 */
#define PSCI_FN_NUM_MASK 0x1fu
#define PSCI_FN(n) (PSCI_FN_BASE + (n))
#define PSCI_FN64(n) (PSCI_FN_BASE + PSCI_FN_SMC64 + (n))

enum psci_fn_num {
    PSCI_FN_PSCI_VERSION = 0x00,
    PSCI_FN_CPU_SUSPEND = 0x01,
    PSCI_FN_CPU_OFF = 0x02,
    PSCI_FN_CPU_ON = 0x03,
    PSCI_FN_AFFINITY_INFO = 0x04,
    PSCI_FN_MIGRATE = 0x05,
    PSCI_FN_MIGRATE_INFO_TYPE = 0x06,
    PSCI_FN_MIGRATE_INFO_UP_CPU = 0x07,
    PSCI_FN_SYSTEM_OFF = 0x08,
    PSCI_FN_SYSTEM_RESET = 0x09,
    PSCI_FN_PSCI_FEATURES = 0x0a,
    PSCI_FN_CPU_FREEZE = 0x0b,
    PSCI_FN_CPU_DEFAULT_SUSPEND = 0x0c,
    PSCI_FN_NODE_HW_STATE = 0x0d,
    PSCI_FN_SYSTEM_SUSPEND = 0x0e,
    PSCI_FN_SET_SUSPEND_MODE = 0x0f,
    PSCI_FN_STAT_RESIDENCY = 0x10,
    PSCI_FN_STAT_COUNT = 0x11,
    PSCI_FN_SYSTEM_RESET2 = 0x12,
    PSCI_FN_MEM_PROTECT = 0x13,
    PSCI_FN_MEM_PROTECT_CHECK_RANGE = 0x14,
    PSCI_FN_SYSTEM_OFF2 = 0x15,
    PSCI_FN_CLEAN_INV_MEMREGION = 0x16,
    PSCI_FN_CLEAN_INV_MEMREGION_ATTRIBUTES = 0x17,
};

/* SMCCC architecture calls (DEN0028, OEN 0). */
#define SMCCC_VERSION_FID 0x80000000u
#define SMCCC_ARCH_FEATURES_FID 0x80000001u
#define SMCCC_VERSION_1_1 0x10001u

/* Feature flags returned by PSCI_FEATURES. */
#define PSCI_FEATURES_CPU_SUSPEND_FLAGS 0u /* original power_state format, no OSI */
#define PSCI_OFF2_TYPE_HIBERNATE_OFF 1u    /* SYSTEM_OFF2 type (bit 0); 0 is an alias (F.b) */

/* SYSTEM_RESET2 reset types. */
#define PSCI_RESET2_TYPE_WARM 0u
#define PSCI_RESET2_TYPE_VENDOR 0x80000000u

/* ---- power_state (original format, DEN0022 §5.4.2) -------------------------------------------
 * StateID bits[15:0], StateType bit 16 (0 standby, 1 power-down), PowerLevel bits[25:24]; all
 * other bits must be zero. pscivm's power domain tree has three levels: 0 = core, 1 = cluster
 * (vCPUs sharing Aff3.Aff2.Aff1), 2 = system. Valid states, each with StateID 0:
 *   0x00000000 core standby          (stat slot 0)
 *   0x00010000 core power-down       (stat slot 1)
 *   0x01010000 cluster power-down    (stat slot 2)
 *   0x02010000 system power-down     (stat slot 3; SYSTEM_SUSPEND is accounted here too)
 */
#define PSCI_PSTATE_ID_MASK 0xffffu
#define PSCI_PSTATE_TYPE_POWERDOWN (1u << 16)
#define PSCI_PSTATE_LEVEL_SHIFT 24
#define PSCI_PSTATE_LEVEL_MASK (3u << PSCI_PSTATE_LEVEL_SHIFT)
#define PSCI_PSTATE_VALID_BITS (PSCI_PSTATE_ID_MASK | PSCI_PSTATE_TYPE_POWERDOWN | PSCI_PSTATE_LEVEL_MASK)
#define PSCI_MAX_PWR_LEVEL 2u
#define PSCI_NR_STAT_SLOTS 4
#define PSCI_PSTATE_SYSTEM_POWERDOWN (PSCI_PSTATE_TYPE_POWERDOWN | (2u << PSCI_PSTATE_LEVEL_SHIFT))

/* How a SUSPENDED vCPU is suspended. */
enum psci_suspend_kind {
    PSCI_SUSPEND_NONE = 0,     /* not suspended */
    PSCI_SUSPEND_STANDBY = 1,  /* CPU_SUSPEND standby: resumes after the call */
    PSCI_SUSPEND_POWERDOWN = 2,/* CPU_SUSPEND power-down: restarts at entry */
    PSCI_SUSPEND_SYSTEM = 3,   /* SYSTEM_SUSPEND: restarts at entry */
};
#define PSCI_SUSPEND_KIND_MAX PSCI_SUSPEND_SYSTEM

struct psci_vcpu {
    uint64_t mpidr;
    enum psci_cpu_state state;
    bool allowed;                 /* CPU_ON policy */
    bool system_action_pending;   /* issued SYSTEM_OFF/OFF2/RESET/RESET2, not yet resolved */
    enum psci_suspend_kind suspend;
    uint32_t power_state;         /* STANDBY/POWERDOWN: the accepted power_state */
    uint64_t entry;               /* ON_PENDING, POWERDOWN, SYSTEM: where it (re)starts */
    uint64_t context;             /* idem: x0 on entry */
    /* Residency of the current suspend: carry_ns already elapsed (from a restored image) plus
     * clock - start_ns once start_valid. */
    uint64_t suspend_start_ns;
    uint64_t suspend_carry_ns;
    bool suspend_start_valid;
    uint64_t stat_count[PSCI_NR_STAT_SLOTS];
    uint64_t stat_residency_ns[PSCI_NR_STAT_SLOTS];
};

/* Counters (calls, statistics, residency) saturate at UINT64_MAX instead of wrapping: they
 * never decrease, whatever a restored image started them at. */
static inline uint64_t psci_add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- psci_common.c --------------------------------------------------------------------------- */
bool psci_entry_in_ram(const struct psci_machine *m, uint64_t addr);
/* 0, or the PSCI error for a bad entry point (INVALID_ADDRESS >= 1.0, INVALID_PARAMETERS 0.2). */
int psci_validate_entry(const struct psci_machine *m, uint64_t entry, bool aarch32);
/* Index of the vCPU whose affinity is exactly `mpidr` (no bits outside the mask), or -1. */
int psci_mpidr_to_index(const struct psci_machine *m, uint64_t mpidr);
/* Stat slot of a valid power_state, or -1 when the power_state is not one we accept. */
int psci_pstate_slot(uint32_t power_state);
uint64_t psci_now_ns(const struct psci_machine *m);
/* Start/stop residency accounting of vCPU `v` entering/leaving a suspend. */
void psci_suspend_begin(struct psci_machine *m, struct psci_vcpu *v, enum psci_suspend_kind kind,
                        uint32_t power_state, uint64_t entry, uint64_t context);
uint64_t psci_suspend_elapsed_ns(const struct psci_machine *m, const struct psci_vcpu *v);
void psci_suspend_clear(struct psci_vcpu *v);

/* ---- psci_main.c ----------------------------------------------------------------------------- */
/* True when `fid` is offered to a caller of this width (SMC64 IDs never to AArch32). */
bool psci_fid_offered(const struct psci_machine *m, uint32_t fid, bool aarch32);
uint64_t psci_features(const struct psci_machine *m, uint32_t fid, bool aarch32);

/* ---- psci_on.c ------------------------------------------------------------------------------- */
void psci_do_cpu_on(struct psci_machine *m, const struct psci_call *call, uint64_t target,
                    uint64_t entry, uint64_t context, struct psci_result *res);

/* ---- psci_off.c ------------------------------------------------------------------------------ */
void psci_do_cpu_off(struct psci_machine *m, const struct psci_call *call,
                     struct psci_result *res);

/* ---- psci_suspend.c -------------------------------------------------------------------------- */
void psci_do_cpu_suspend(struct psci_machine *m, const struct psci_call *call,
                         uint32_t power_state, uint64_t entry, uint64_t context,
                         struct psci_result *res);
void psci_do_system_suspend(struct psci_machine *m, const struct psci_call *call, uint64_t entry,
                            uint64_t context, struct psci_result *res);

/* ---- psci_affinity.c ------------------------------------------------------------------------- */
int64_t psci_affinity_info(const struct psci_machine *m, uint64_t target, uint32_t level);
int64_t psci_node_hw_state(const struct psci_machine *m, uint64_t target, uint32_t level);

/* ---- psci_system.c --------------------------------------------------------------------------- */
void psci_do_system_off(struct psci_machine *m, const struct psci_call *call,
                        struct psci_result *res);
void psci_do_system_reset(struct psci_machine *m, const struct psci_call *call,
                          struct psci_result *res);
void psci_do_system_reset2(struct psci_machine *m, const struct psci_call *call, uint32_t type,
                           uint64_t cookie, struct psci_result *res);
void psci_do_system_off2(struct psci_machine *m, const struct psci_call *call, uint32_t type,
                         uint64_t cookie, struct psci_result *res);

/* ---- psci_stat.c ----------------------------------------------------------------------------- */
uint64_t psci_stat_residency(const struct psci_machine *m, uint64_t target, uint32_t power_state);
uint64_t psci_stat_count(const struct psci_machine *m, uint64_t target, uint32_t power_state);
void psci_stat_account(struct psci_machine *m, struct psci_vcpu *v);

#endif /* PSCIVM_PSCI_PRIVATE_H */
