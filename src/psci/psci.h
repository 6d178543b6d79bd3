/* psci.h — the PSCI firmware model: pscivm's host-independent implementation of Arm DEN0022
 * (PSCI 0.2, 1.0, 1.1, 1.2, 1.3) as seen by a guest calling HVC/SMC.
 *
 * Pure C: no KVM headers, no I/O, no threads, no allocation after psci_machine_init(). The
 * backend hands in the calling vCPU and its x0..x3 (only the argument registers
 * psci_call_nr_args() names are looked at); the core returns either a value for x0 or an
 * *action* the backend must carry out (start a vCPU, stop the caller, suspend it, power the
 * system off ...). No PSCI function returns anything in x1..x3: whether the backend leaves them
 * as the caller had them or zeroes them is its choice, SMCCC allows both (docs/psci.md,
 * "Argument and result registers"). The backend reports back when an action completed or failed, and the
 * core moves the per-vCPU state machine on (or rolls it back).
 *
 * Thread-safety contract: a struct psci_machine is NOT internally locked. The backend must
 * serialise every call that takes a machine (one mutex around each call is enough). No call
 * blocks or sleeps, and each is O(number of vCPUs), so holding a lock across it is cheap.
 * Blocking (standby, a stopped vCPU waiting for CPU_ON) happens in the backend, outside the lock.
 *
 * PSCI return codes (PSCI_RET_*) are part of this interface only as values the core writes into
 * x0; nothing outside src/psci/ interprets them.
 */
#ifndef PSCIVM_PSCI_H
#define PSCIVM_PSCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- versions ------------------------------------------------------------------------------ */
#define PSCI_VERSION(maj, min) ((uint32_t)(((maj) << 16) | (min)))
#define PSCI_VERSION_0_2 PSCI_VERSION(0, 2)
#define PSCI_VERSION_1_0 PSCI_VERSION(1, 0)
#define PSCI_VERSION_1_1 PSCI_VERSION(1, 1)
#define PSCI_VERSION_1_2 PSCI_VERSION(1, 2)
#define PSCI_VERSION_1_3 PSCI_VERSION(1, 3)

/* Parse "0.2", "1.0" ... "1.3" into a version; returns 0 or -EINVAL. */
int psci_version_parse(const char *text, uint32_t *version);
/* "1.3" etc. for a supported version, "?" otherwise (static storage). */
const char *psci_version_name(uint32_t version);
bool psci_version_is_supported(uint32_t version);

/* ---- optional functions ---------------------------------------------------------------------
 * Each optional function is offered only when its bit is set AND the configured version has it
 * (SYSTEM_SUSPEND, STAT_*, NODE_HW_STATE >= 1.0; SYSTEM_RESET2 >= 1.1; SYSTEM_OFF2 >= 1.3). */
enum psci_option {
    PSCI_OPT_SYSTEM_SUSPEND = 1u << 0,
    PSCI_OPT_SYSTEM_RESET2 = 1u << 1,
    PSCI_OPT_SYSTEM_OFF2 = 1u << 2,
    PSCI_OPT_STAT = 1u << 3,          /* PSCI_STAT_RESIDENCY and PSCI_STAT_COUNT */
    PSCI_OPT_NODE_HW_STATE = 1u << 4,
};
#define PSCI_OPT_ALL                                                                     \
    (PSCI_OPT_SYSTEM_SUSPEND | PSCI_OPT_SYSTEM_RESET2 | PSCI_OPT_SYSTEM_OFF2 | PSCI_OPT_STAT | \
     PSCI_OPT_NODE_HW_STATE)

#define PSCI_MAX_VCPUS 512
#define PSCI_MAX_RAM_RANGES 8
#define PSCI_MPIDR_AFF_MASK 0xff00ffffffULL /* Aff3 | Aff2 | Aff1 | Aff0 */

struct psci_ram_range {
    uint64_t base;
    uint64_t size;
};

/* Static description of the machine, copied by psci_machine_init(). */
struct psci_config {
    uint32_t version;           /* PSCI_VERSION_x_y */
    uint32_t options;           /* enum psci_option bits */
    unsigned int nr_vcpus;      /* 1 .. PSCI_MAX_VCPUS */
    const uint64_t *mpidrs;     /* nr_vcpus affinity values (only PSCI_MPIDR_AFF_MASK bits) */
    unsigned int boot_vcpu;     /* the vCPU that is ON at power-on/reset; all others are OFF */
    const struct psci_ram_range *ram; /* valid entry points live here; 1..PSCI_MAX_RAM_RANGES */
    unsigned int nr_ram;
    /* Monotonic clock in ns for residency statistics; may be NULL when PSCI_OPT_STAT is unset. */
    uint64_t (*clock_ns)(void *opaque);
    void *clock_opaque;
};

/* ---- per-vCPU power state machine -----------------------------------------------------------
 *
 *                 CPU_ON accepted (other vCPU)
 *        +-----+ --------------------------------> +------------+
 *        | OFF |                                   | ON_PENDING |
 *        +-----+ <-------------------------------- +------------+
 *          ^  ^      psci_cpu_start_failed()             |
 *          |  |                                          | psci_cpu_started()
 *  CPU_OFF |  |   system reset / off (all vCPUs)         v
 *          |  +------------------------------------- +------+
 *          +-------------------------------------------|  ON  |<-------------------+
 *                                                      +------+                    |
 *                     CPU_SUSPEND / SYSTEM_SUSPEND accepted |                      | psci_cpu_woken()
 *                                                           v                      |
 *                                                    +-----------+                 |
 *                                                    | SUSPENDED |-----------------+
 *                                                    +-----------+
 *  psci_machine_reset(): every vCPU -> OFF, then the boot vCPU -> ON.
 *  Invariants (psci_machine_check()): exactly the states above; a SUSPENDED vCPU has a valid
 *  suspend kind; while a SYSTEM_SUSPEND is in progress its caller is the only vCPU not OFF; a
 *  pending start has an entry point inside guest RAM, aligned as CPU_ON requires; counters
 *  never decrease.
 */
enum psci_cpu_state {
    PSCI_CPU_OFF = 0,
    PSCI_CPU_ON_PENDING = 1,
    PSCI_CPU_ON = 2,
    PSCI_CPU_SUSPENDED = 3,
};
const char *psci_cpu_state_name(enum psci_cpu_state state);

/* What the backend must do after a call. */
enum psci_action_kind {
    PSCI_ACT_NONE = 0,      /* write result.x0 and resume the caller */
    PSCI_ACT_CPU_START,     /* write result.x0 to the caller and resume it; start vCPU `target`
                               at `entry` with x0 = `context` (EL as caller, MMU off, DAIF masked),
                               then report psci_cpu_started()/psci_cpu_start_failed(target) */
    PSCI_ACT_CPU_STOP,      /* the caller is now OFF: stop running it until a later CPU_START */
    PSCI_ACT_CPU_STANDBY,   /* block the caller until a wake-up event (interrupt), then report
                               psci_cpu_woken() and resume it with x0 = result.x0 (SUCCESS) */
    PSCI_ACT_CPU_POWERDOWN, /* block the caller until a wake-up event, then report
                               psci_cpu_woken() and restart it at `entry` with x0 = `context`
                               (as for CPU_START: MMU off, DAIF masked) */
    PSCI_ACT_SYSTEM_OFF,    /* power the machine off */
    PSCI_ACT_SYSTEM_OFF2,   /* power off for hibernation; `type` = hibernate type (0 or 1) */
    PSCI_ACT_SYSTEM_RESET,  /* cold reset */
    PSCI_ACT_SYSTEM_RESET2, /* `type` = reset type, `cookie` as given */
    PSCI_ACT_SYSTEM_SUSPEND,/* suspend to RAM: every other vCPU is OFF; block the caller until a
                               wake-up, then psci_cpu_woken() and restart it at `entry` with
                               x0 = `context`; or refuse with psci_system_suspend_refused() */
};
const char *psci_action_name(enum psci_action_kind kind);

struct psci_action {
    enum psci_action_kind kind;
    unsigned int target;    /* CPU_START: the vCPU index to start */
    uint64_t entry;         /* CPU_START, CPU_POWERDOWN, SYSTEM_SUSPEND */
    uint64_t context;       /* idem: value for x0 on entry */
    uint32_t power_state;   /* CPU_STANDBY, CPU_POWERDOWN: the guest's power_state */
    uint32_t type;          /* SYSTEM_OFF2: hibernate type; SYSTEM_RESET2: reset type */
    uint64_t cookie;        /* SYSTEM_RESET2 */
};

struct psci_result {
    uint64_t x0;            /* value for the caller's x0 when it resumes (the only result) */
    struct psci_action action;
};

/* The calling context of one PSCI call. */
struct psci_call {
    unsigned int vcpu;      /* index of the calling vCPU */
    uint64_t x[4];          /* x0 (function ID) .. x3 as the guest left them */
    bool aarch32;           /* the caller runs AArch32 (SMC64 function IDs are refused) */
};

/* Per-vCPU statistics (PSCI_STAT_*) and bookkeeping, readable by the backend. */
struct psci_vcpu_info {
    uint64_t mpidr;
    enum psci_cpu_state state;
    bool allowed;                 /* CPU_ON policy: may be powered on */
    uint64_t suspend_count;       /* completed CPU_SUSPEND/SYSTEM_SUSPEND entries */
    uint64_t suspend_residency_ns;/* both summed over the power states; like every counter of
                                     the core they saturate at UINT64_MAX, never wrap */
};

struct psci_vcpu; /* private */

struct psci_machine {
    /* Configuration (copied). */
    uint32_t version;
    uint32_t options;
    unsigned int nr_vcpus;
    unsigned int boot_vcpu;
    struct psci_ram_range ram[PSCI_MAX_RAM_RANGES];
    unsigned int nr_ram;
    uint64_t (*clock_ns)(void *opaque);
    void *clock_opaque;
    /* State. */
    struct psci_vcpu *vcpus;      /* nr_vcpus entries, allocated by psci_machine_init() */
    int system_suspender;         /* vCPU in SYSTEM_SUSPEND, or -1 */
    uint64_t calls;               /* total calls handled */
};

/* Validate `config` and set up `m` with the boot vCPU ON and the others OFF, every vCPU
 * allowed. Returns 0, -EINVAL (bad config: version, counts, duplicate/invalid MPIDR, empty
 * RAM range) or -ENOMEM. */
int psci_machine_init(struct psci_machine *m, const struct psci_config *config);
void psci_machine_release(struct psci_machine *m);

/* Set (or replace) the residency clock, e.g. after psci_machine_load(), which cannot restore a
 * function pointer. Suspends in progress keep the residency they had accumulated when saved and
 * count on from this clock's current reading. Returns 0, or -EINVAL when PSCI_OPT_STAT is set
 * and clock_ns is NULL. */
int psci_machine_set_clock(struct psci_machine *m, uint64_t (*clock_ns)(void *opaque),
                           void *opaque);

/* Cold reset: every vCPU OFF, the boot vCPU ON, statistics kept, policy kept. */
void psci_machine_reset(struct psci_machine *m);

/* Handle one PSCI call. Always fills *result (unknown IDs give NOT_SUPPORTED). Returns 0, or
 * -EINVAL when call->vcpu is out of range or is not ON (a backend bug; result is then NONE with
 * x0 = INTERNAL_FAILURE). Function IDs outside PSCI's ranges are answered NOT_SUPPORTED too, so
 * the backend may pass any SMCCC call through it. */
int psci_machine_call(struct psci_machine *m, const struct psci_call *call,
                      struct psci_result *result);

/* How many argument registers, x1..xN (N = 0..3), psci_machine_call() reads for `function_id`
 * (W0) from a caller of this width under m's version and options: PSCI_VERSION 0,
 * PSCI_FEATURES 1, AFFINITY_INFO, NODE_HW_STATE, SYSTEM_SUSPEND, STAT_*, SYSTEM_RESET2 and
 * SYSTEM_OFF2 2, CPU_ON and CPU_SUSPEND 3, CPU_OFF, MIGRATE_INFO_TYPE, SYSTEM_OFF and
 * SYSTEM_RESET 0; SMCCC_ARCH_FEATURES 1; 0 for every ID the call would only answer
 * NOT_SUPPORTED (unknown, unimplemented, not offered at this version/options/width). A
 * backend may fetch just these and pass zeros in the rest of psci_call.x[1..3]: the result is
 * the same as with the guest's values there (tests/unit/test_psci_args.c). Derived from the
 * dispatcher's own function table, so it follows the version and options. */
unsigned int psci_call_nr_args(const struct psci_machine *m, uint32_t function_id, bool aarch32);

/* True when `function_id` is in one of PSCI's ranges (0x84000000-0x8400001F,
 * 0xC4000000-0xC400001F), i.e. when psci_machine_call() is the right handler for it. */
bool psci_is_psci_function(uint32_t function_id);

/* ---- completion callbacks from the backend --------------------------------------------------
 * Each returns 0, or -EINVAL when the vCPU is out of range or not in the state the callback
 * expects (a late or duplicated report: nothing changes). */
int psci_cpu_started(struct psci_machine *m, unsigned int vcpu);      /* ON_PENDING -> ON */
int psci_cpu_start_failed(struct psci_machine *m, unsigned int vcpu); /* ON_PENDING -> OFF */
int psci_cpu_woken(struct psci_machine *m, unsigned int vcpu);        /* SUSPENDED -> ON */
/* The backend (policy) refused a SYSTEM_SUSPEND it was handed: caller SUSPENDED -> ON, and
 * *x0 receives the value the guest must see (DENIED). */
int psci_system_suspend_refused(struct psci_machine *m, unsigned int vcpu, uint64_t *x0);
/* A system action (OFF, OFF2, RESET, RESET2) was not carried out and the caller is resumed:
 * *x0 receives INTERNAL_FAILURE, as KVM does. */
int psci_system_action_failed(struct psci_machine *m, unsigned int vcpu, uint64_t *x0);

/* ---- CPU_ON policy (vCPU hot-add) ------------------------------------------------------------
 * A denied vCPU cannot be powered on: CPU_ON answers DENIED (>= 1.2) or INTERNAL_FAILURE (< 1.2).
 * Changing the policy never changes the current state of a vCPU. */
int psci_vcpu_set_allowed(struct psci_machine *m, unsigned int vcpu, bool allowed);

/* ---- inspection ------------------------------------------------------------------------------ */
int psci_vcpu_get_info(const struct psci_machine *m, unsigned int vcpu,
                       struct psci_vcpu_info *info);
/* The action still outstanding for a vCPU, e.g. to re-issue it after psci_machine_load():
 * ON_PENDING -> CPU_START {target = vcpu, entry, context}; SUSPENDED -> CPU_STANDBY
 * {power_state}, CPU_POWERDOWN {entry, context, power_state} or SYSTEM_SUSPEND {entry,
 * context}; OFF/ON -> NONE. Returns 0, or -EINVAL when vcpu is out of range. */
int psci_vcpu_pending_action(const struct psci_machine *m, unsigned int vcpu,
                             struct psci_action *action);
/* Index of the vCPU with this MPIDR affinity, or -1. */
int psci_find_vcpu(const struct psci_machine *m, uint64_t mpidr);
/* True when the PSCI function (any of its SMC32/SMC64 IDs) is offered to the guest. Only PSCI
 * IDs count: SMCCC_VERSION and other non-PSCI IDs give false. */
bool psci_function_offered(const struct psci_machine *m, uint32_t function_id);

/* The SMCCC function-ID ranges of PSCI (SMC32 and SMC64), which a backend forwards to the
 * core (KVM's SMCCC filter). */
struct psci_fid_range {
    uint32_t base;
    uint32_t nr;
};
#define PSCI_NR_FID_RANGES 2
extern const struct psci_fid_range psci_fid_ranges[PSCI_NR_FID_RANGES];
/* True for CPU_ON's SMC32 and SMC64 IDs (the backend reports refused CPU_ONs as events). */
bool psci_fid_is_cpu_on(uint32_t function_id);

/* Check every invariant of the state machine. Returns 0, or -EUCLEAN and (if non-NULL) a static
 * description of the first violation in *why. Used by the tests after every call. */
int psci_machine_check(const struct psci_machine *m, const char **why);

/* ---- serialisation ---------------------------------------------------------------------------
 * A versioned, self-describing binary image of the complete state (configuration included) for
 * snapshots. psci_machine_save() writes at most `size` bytes and returns the length needed
 * (call with buf = NULL, size = 0 to size the buffer), or a negative errno.
 * psci_machine_load() builds a fresh machine from an image: it rejects truncated, corrupt or
 * incompatible input with -EINVAL / -EPROTO / -ERANGE and, when `err` is non-NULL, a
 * human-readable reason in err[0..err_size). `m` is untouched on failure. */
long psci_machine_save(const struct psci_machine *m, void *buf, size_t size);
int psci_machine_load(struct psci_machine *m, const void *buf, size_t size, char *err,
                      size_t err_size);

#endif /* PSCIVM_PSCI_H */
