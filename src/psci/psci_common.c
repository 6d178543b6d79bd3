/* psci_common.c — the PSCI model's life cycle and shared helpers: machine init/release/reset,
 * MPIDR lookup, entry-point and power_state validation, residency bookkeeping, policy,
 * inspection, and psci_machine_check(), the invariant checker for the state machine drawn in
 * psci.h. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psci/psci_private.h"

/* ---- names and versions ---------------------------------------------------------------------- */
static const uint32_t supported_versions[] = {
    PSCI_VERSION_0_2, PSCI_VERSION_1_0, PSCI_VERSION_1_1, PSCI_VERSION_1_2, PSCI_VERSION_1_3,
};
static const char *const version_names[] = {"0.2", "1.0", "1.1", "1.2", "1.3"};

bool psci_version_is_supported(uint32_t version)
{
    for (size_t i = 0; i < sizeof(supported_versions) / sizeof(supported_versions[0]); i++)
        if (supported_versions[i] == version)
            return true;
    return false;
}

const char *psci_version_name(uint32_t version)
{
    for (size_t i = 0; i < sizeof(supported_versions) / sizeof(supported_versions[0]); i++)
        if (supported_versions[i] == version)
            return version_names[i];
    return "?";
}

int psci_version_parse(const char *text, uint32_t *version)
{
    if (text == NULL || version == NULL)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(supported_versions) / sizeof(supported_versions[0]); i++) {
        if (strcmp(text, version_names[i]) == 0) {
            *version = supported_versions[i];
            return 0;
        }
    }
    return -EINVAL;
}

const char *psci_cpu_state_name(enum psci_cpu_state state)
{
    switch (state) {
    case PSCI_CPU_OFF: return "off";
    case PSCI_CPU_ON_PENDING: return "on-pending";
    case PSCI_CPU_ON: return "on";
    case PSCI_CPU_SUSPENDED: return "suspended";
    }
    return "?";
}

const char *psci_action_name(enum psci_action_kind kind)
{
    switch (kind) {
    case PSCI_ACT_NONE: return "none";
    case PSCI_ACT_CPU_START: return "cpu-start";
    case PSCI_ACT_CPU_STOP: return "cpu-stop";
    case PSCI_ACT_CPU_STANDBY: return "cpu-standby";
    case PSCI_ACT_CPU_POWERDOWN: return "cpu-powerdown";
    case PSCI_ACT_SYSTEM_OFF: return "system-off";
    case PSCI_ACT_SYSTEM_OFF2: return "system-off2";
    case PSCI_ACT_SYSTEM_RESET: return "system-reset";
    case PSCI_ACT_SYSTEM_RESET2: return "system-reset2";
    case PSCI_ACT_SYSTEM_SUSPEND: return "system-suspend";
    }
    return "?";
}

/* ---- init / release / reset ------------------------------------------------------------------ */
int psci_machine_init(struct psci_machine *m, const struct psci_config *config)
{
    if (m == NULL || config == NULL)
        return -EINVAL;
    memset(m, 0, sizeof(*m));
    m->system_suspender = -1;
    if (!psci_version_is_supported(config->version) || (config->options & ~PSCI_OPT_ALL) != 0)
        return -EINVAL;
    if (config->nr_vcpus < 1 || config->nr_vcpus > PSCI_MAX_VCPUS || config->mpidrs == NULL ||
        config->boot_vcpu >= config->nr_vcpus)
        return -EINVAL;
    if (config->ram == NULL || config->nr_ram < 1 || config->nr_ram > PSCI_MAX_RAM_RANGES)
        return -EINVAL;
    for (unsigned int i = 0; i < config->nr_ram; i++) {
        const struct psci_ram_range *r = &config->ram[i];
        if (r->size == 0 || r->base + (r->size - 1) < r->base)
            return -EINVAL;
    }
    if ((config->options & PSCI_OPT_STAT) && config->clock_ns == NULL)
        return -EINVAL;
    for (unsigned int i = 0; i < config->nr_vcpus; i++) {
        if (config->mpidrs[i] & ~PSCI_MPIDR_AFF_MASK)
            return -EINVAL;
        for (unsigned int j = 0; j < i; j++)
            if (config->mpidrs[j] == config->mpidrs[i])
                return -EINVAL;
    }
    struct psci_vcpu *vcpus = calloc(config->nr_vcpus, sizeof(*vcpus));
    if (vcpus == NULL)
        return -ENOMEM;
    m->version = config->version;
    m->options = config->options;
    m->nr_vcpus = config->nr_vcpus;
    m->boot_vcpu = config->boot_vcpu;
    memcpy(m->ram, config->ram, config->nr_ram * sizeof(m->ram[0]));
    m->nr_ram = config->nr_ram;
    m->clock_ns = config->clock_ns;
    m->clock_opaque = config->clock_opaque;
    m->vcpus = vcpus;
    for (unsigned int i = 0; i < m->nr_vcpus; i++) {
        vcpus[i].mpidr = config->mpidrs[i];
        vcpus[i].allowed = true;
    }
    psci_machine_reset(m);
    return 0;
}

void psci_machine_release(struct psci_machine *m)
{
    if (m == NULL)
        return;
    free(m->vcpus);
    m->vcpus = NULL;
    m->nr_vcpus = 0;
}

int psci_machine_set_clock(struct psci_machine *m, uint64_t (*clock_ns)(void *opaque),
                           void *opaque)
{
    if (m == NULL || ((m->options & PSCI_OPT_STAT) && clock_ns == NULL))
        return -EINVAL;
    /* Fold what the old clock measured into the carry, then restart on the new clock. */
    for (unsigned int i = 0; i < m->nr_vcpus; i++) {
        struct psci_vcpu *v = &m->vcpus[i];
        if (v->state != PSCI_CPU_SUSPENDED)
            continue;
        v->suspend_carry_ns = psci_suspend_elapsed_ns(m, v);
        v->suspend_start_valid = false;
    }
    m->clock_ns = clock_ns;
    m->clock_opaque = opaque;
    uint64_t now = psci_now_ns(m);
    for (unsigned int i = 0; i < m->nr_vcpus; i++) {
        struct psci_vcpu *v = &m->vcpus[i];
        if (v->state == PSCI_CPU_SUSPENDED && clock_ns != NULL) {
            v->suspend_start_ns = now;
            v->suspend_start_valid = true;
        }
    }
    return 0;
}

static void vcpu_power_off(struct psci_vcpu *v)
{
    v->state = PSCI_CPU_OFF;
    v->system_action_pending = false;
    v->entry = 0;
    v->context = 0;
    psci_suspend_clear(v);
}

void psci_machine_reset(struct psci_machine *m)
{
    assert(m != NULL && m->vcpus != NULL);
    for (unsigned int i = 0; i < m->nr_vcpus; i++)
        vcpu_power_off(&m->vcpus[i]);
    m->system_suspender = -1;
    m->vcpus[m->boot_vcpu].state = PSCI_CPU_ON;
}

/* ---- helpers --------------------------------------------------------------------------------- */
bool psci_is_psci_function(uint32_t function_id)
{
    return (function_id & ~(PSCI_FN_SMC64 | PSCI_FN_NUM_MASK)) == PSCI_FN_BASE;
}

bool psci_entry_in_ram(const struct psci_machine *m, uint64_t addr)
{
    for (unsigned int i = 0; i < m->nr_ram; i++)
        if (addr >= m->ram[i].base && addr - m->ram[i].base < m->ram[i].size)
            return true;
    return false;
}

/* Entry points (CPU_ON, CPU_SUSPEND power-down, SYSTEM_SUSPEND). An AArch64 entry must be
 * 4-byte aligned; an AArch32 caller's entry with bit 0 set selects Thumb state at address
 * entry & ~1 (2-byte aligned by construction), otherwise A32 needs 4-byte alignment. The
 * address must lie in guest RAM. DEN0022 added INVALID_ADDRESS in 1.0 (CPU_ON, CPU_SUSPEND,
 * SYSTEM_SUSPEND); 0.2 lists only INVALID_PARAMETERS for a bad argument, so that is what a 0.2
 * guest sees. [spec, from memory; TF-A psci_validate_entry_point() returns INVALID_ADDRESS.] */
int psci_validate_entry(const struct psci_machine *m, uint64_t entry, bool aarch32)
{
    uint64_t addr = entry;
    bool ok;
    if (aarch32 && (entry & 1))
        addr = entry & ~1ULL;
    ok = (addr & (aarch32 && (entry & 1) ? 1 : 3)) == 0 && psci_entry_in_ram(m, addr);
    if (ok)
        return 0;
    return m->version >= PSCI_VERSION_1_0 ? PSCI_RET_INVALID_ADDRESS : PSCI_RET_INVALID_PARAMETERS;
}

int psci_mpidr_to_index(const struct psci_machine *m, uint64_t mpidr)
{
    if (mpidr & ~PSCI_MPIDR_AFF_MASK)
        return -1;
    for (unsigned int i = 0; i < m->nr_vcpus; i++)
        if (m->vcpus[i].mpidr == mpidr)
            return (int)i;
    return -1;
}

int psci_find_vcpu(const struct psci_machine *m, uint64_t mpidr)
{
    if (m == NULL || m->vcpus == NULL)
        return -1;
    return psci_mpidr_to_index(m, mpidr);
}

int psci_pstate_slot(uint32_t power_state)
{
    if ((power_state & ~PSCI_PSTATE_VALID_BITS) != 0 || (power_state & PSCI_PSTATE_ID_MASK) != 0)
        return -1;
    uint32_t level = (power_state & PSCI_PSTATE_LEVEL_MASK) >> PSCI_PSTATE_LEVEL_SHIFT;
    if (!(power_state & PSCI_PSTATE_TYPE_POWERDOWN))
        return level == 0 ? 0 : -1; /* standby only at the core level */
    if (level > PSCI_MAX_PWR_LEVEL)
        return -1;
    return 1 + (int)level;
}

uint64_t psci_now_ns(const struct psci_machine *m)
{
    return m->clock_ns != NULL ? m->clock_ns(m->clock_opaque) : 0;
}

void psci_suspend_begin(struct psci_machine *m, struct psci_vcpu *v, enum psci_suspend_kind kind,
                        uint32_t power_state, uint64_t entry, uint64_t context)
{
    v->state = PSCI_CPU_SUSPENDED;
    v->suspend = kind;
    v->power_state = power_state;
    v->entry = entry;
    v->context = context;
    v->suspend_carry_ns = 0;
    v->suspend_start_valid = m->clock_ns != NULL;
    v->suspend_start_ns = psci_now_ns(m);
}

uint64_t psci_suspend_elapsed_ns(const struct psci_machine *m, const struct psci_vcpu *v)
{
    uint64_t elapsed = v->suspend_carry_ns;
    if (v->suspend_start_valid && m->clock_ns != NULL) {
        uint64_t now = psci_now_ns(m);
        if (now > v->suspend_start_ns)
            elapsed = psci_add_sat(elapsed, now - v->suspend_start_ns);
    }
    return elapsed;
}

void psci_suspend_clear(struct psci_vcpu *v)
{
    v->suspend = PSCI_SUSPEND_NONE;
    v->power_state = 0;
    v->suspend_start_ns = 0;
    v->suspend_carry_ns = 0;
    v->suspend_start_valid = false;
}

/* ---- policy and inspection ------------------------------------------------------------------- */
int psci_vcpu_set_allowed(struct psci_machine *m, unsigned int vcpu, bool allowed)
{
    if (m == NULL || vcpu >= m->nr_vcpus)
        return -EINVAL;
    m->vcpus[vcpu].allowed = allowed;
    return 0;
}

int psci_vcpu_pending_action(const struct psci_machine *m, unsigned int vcpu,
                             struct psci_action *action)
{
    if (m == NULL || action == NULL || vcpu >= m->nr_vcpus)
        return -EINVAL;
    const struct psci_vcpu *v = &m->vcpus[vcpu];
    memset(action, 0, sizeof(*action));
    action->kind = PSCI_ACT_NONE;
    if (v->state == PSCI_CPU_ON_PENDING) {
        action->kind = PSCI_ACT_CPU_START;
        action->target = vcpu;
    } else if (v->state == PSCI_CPU_SUSPENDED) {
        action->kind = v->suspend == PSCI_SUSPEND_STANDBY     ? PSCI_ACT_CPU_STANDBY
                       : v->suspend == PSCI_SUSPEND_POWERDOWN ? PSCI_ACT_CPU_POWERDOWN
                                                              : PSCI_ACT_SYSTEM_SUSPEND;
        if (v->suspend != PSCI_SUSPEND_SYSTEM)
            action->power_state = v->power_state;
    } else {
        return 0;
    }
    if (action->kind != PSCI_ACT_CPU_STANDBY) {
        action->entry = v->entry;
        action->context = v->context;
    }
    return 0;
}

int psci_vcpu_get_info(const struct psci_machine *m, unsigned int vcpu,
                       struct psci_vcpu_info *info)
{
    if (m == NULL || info == NULL || vcpu >= m->nr_vcpus)
        return -EINVAL;
    const struct psci_vcpu *v = &m->vcpus[vcpu];
    memset(info, 0, sizeof(*info));
    info->mpidr = v->mpidr;
    info->state = v->state;
    info->allowed = v->allowed;
    for (int s = 0; s < PSCI_NR_STAT_SLOTS; s++) {
        info->suspend_count = psci_add_sat(info->suspend_count, v->stat_count[s]);
        info->suspend_residency_ns = psci_add_sat(info->suspend_residency_ns,
                                                  v->stat_residency_ns[s]);
    }
    return 0;
}

/* ---- invariants ------------------------------------------------------------------------------
 * Checked after every step by the tests (the monotonicity of counters, which needs history, is
 * checked by the tests themselves):
 *  I1 configuration is one psci_machine_init() accepts;
 *  I2 every state is one of the four in the drawing; MPIDRs are valid and distinct;
 *  I3 SUSPENDED <=> a suspend kind is recorded; STANDBY/POWERDOWN carry a valid power_state of
 *     their type; POWERDOWN/SYSTEM carry an entry point psci_validate_entry() can accept;
 *  I4 ON_PENDING carries an entry point psci_validate_entry() can accept;
 *  I5 system_suspender is -1 or the one vCPU in a SYSTEM suspend, and then every other vCPU is
 *     OFF; no vCPU is in a SYSTEM suspend otherwise;
 *  I6 a pending system action (OFF/OFF2/RESET/RESET2 handed to the backend) belongs to an ON vCPU;
 *  I7 what the transitions clear stays clear: entry and context are 0 unless the vCPU restarts
 *     at an entry point (ON_PENDING, POWERDOWN, SYSTEM), power_state and the residency of the
 *     current suspend are 0 unless SUSPENDED, and a SYSTEM suspend has the system power-down
 *     power_state it is accounted under.
 */
/* An entry point psci_validate_entry() accepts from some caller: inside guest RAM and 4-byte
 * aligned (AArch64, A32), or with bit 0 set (Thumb, AArch32 callers only: the address is entry
 * & ~1, 2-byte aligned by construction). The caller's width is not recorded, so a state can
 * only be held to the union: what no caller can pass is entry & 3 == 2. */
static bool entry_reachable(const struct psci_machine *m, uint64_t entry)
{
    if ((entry & 3) == 2)
        return false;
    return psci_entry_in_ram(m, entry & ~1ULL);
}

static int fail(const char **why, const char *msg)
{
    if (why != NULL)
        *why = msg;
    return -EUCLEAN;
}

int psci_machine_check(const struct psci_machine *m, const char **why)
{
    if (m == NULL || m->vcpus == NULL)
        return fail(why, "machine not initialised");
    if (!psci_version_is_supported(m->version))
        return fail(why, "unsupported PSCI version");
    if (m->options & ~PSCI_OPT_ALL)
        return fail(why, "unknown option bits");
    if (m->nr_vcpus < 1 || m->nr_vcpus > PSCI_MAX_VCPUS || m->boot_vcpu >= m->nr_vcpus)
        return fail(why, "vCPU count or boot vCPU out of range");
    if (m->nr_ram < 1 || m->nr_ram > PSCI_MAX_RAM_RANGES)
        return fail(why, "RAM range count out of range");
    for (unsigned int i = 0; i < m->nr_ram; i++)
        if (m->ram[i].size == 0 || m->ram[i].base + (m->ram[i].size - 1) < m->ram[i].base)
            return fail(why, "empty or wrapping RAM range");
    if (m->system_suspender < -1 || m->system_suspender >= (int)m->nr_vcpus)
        return fail(why, "system_suspender out of range");
    for (unsigned int i = 0; i < m->nr_vcpus; i++) {
        const struct psci_vcpu *v = &m->vcpus[i];
        if (v->mpidr & ~PSCI_MPIDR_AFF_MASK)
            return fail(why, "MPIDR with bits outside the affinity mask");
        for (unsigned int j = 0; j < i; j++)
            if (m->vcpus[j].mpidr == v->mpidr)
                return fail(why, "duplicate MPIDR");
        bool restarts = v->state == PSCI_CPU_ON_PENDING ||
                        (v->state == PSCI_CPU_SUSPENDED && v->suspend != PSCI_SUSPEND_STANDBY);
        if (!restarts && (v->entry != 0 || v->context != 0))
            return fail(why, "entry point or context recorded on a vCPU that does not restart "
                             "at one");
        if (v->state != PSCI_CPU_SUSPENDED &&
            (v->power_state != 0 || v->suspend_carry_ns != 0 || v->suspend_start_valid))
            return fail(why, "power_state or residency recorded on a vCPU that is not "
                             "suspended");
        switch (v->state) {
        case PSCI_CPU_OFF:
        case PSCI_CPU_ON:
            if (v->suspend != PSCI_SUSPEND_NONE)
                return fail(why, "suspend kind recorded on a vCPU that is not suspended");
            break;
        case PSCI_CPU_ON_PENDING:
            if (v->suspend != PSCI_SUSPEND_NONE)
                return fail(why, "suspend kind recorded on a vCPU that is not suspended");
            if (!entry_reachable(m, v->entry))
                return fail(why, "pending start with an entry point outside guest RAM or "
                                 "misaligned");
            break;
        case PSCI_CPU_SUSPENDED:
            switch (v->suspend) {
            case PSCI_SUSPEND_STANDBY:
                if (psci_pstate_slot(v->power_state) != 0)
                    return fail(why, "standby with a power_state that is not standby");
                break;
            case PSCI_SUSPEND_POWERDOWN:
                if (psci_pstate_slot(v->power_state) < 1)
                    return fail(why, "power-down with a power_state that is not power-down");
                if (!entry_reachable(m, v->entry))
                    return fail(why, "power-down with an entry point outside guest RAM or "
                                     "misaligned");
                break;
            case PSCI_SUSPEND_SYSTEM:
                if (m->system_suspender != (int)i)
                    return fail(why, "system suspend not recorded as the system suspender");
                if (v->power_state != PSCI_PSTATE_SYSTEM_POWERDOWN)
                    return fail(why, "system suspend not accounted as system power-down");
                if (!entry_reachable(m, v->entry))
                    return fail(why, "system suspend with an entry point outside guest RAM or "
                                     "misaligned");
                break;
            default:
                return fail(why, "suspended vCPU without a valid suspend kind");
            }
            break;
        default:
            return fail(why, "invalid vCPU state");
        }
        if (v->system_action_pending && v->state != PSCI_CPU_ON)
            return fail(why, "system action pending on a vCPU that is not on");
    }
    if (m->system_suspender >= 0) {
        const struct psci_vcpu *s = &m->vcpus[m->system_suspender];
        if (s->state != PSCI_CPU_SUSPENDED || s->suspend != PSCI_SUSPEND_SYSTEM)
            return fail(why, "system suspender is not in a system suspend");
        for (unsigned int i = 0; i < m->nr_vcpus; i++)
            if ((int)i != m->system_suspender && m->vcpus[i].state != PSCI_CPU_OFF)
                return fail(why, "another vCPU is not off during a system suspend");
    }
    return 0;
}
