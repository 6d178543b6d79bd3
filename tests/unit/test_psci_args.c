/* test_psci_args.c — psci_call_nr_args(), the number of argument registers a backend has to
 * fetch for a call (user mode reads only those, one KVM_GET_ONE_REG each), against what
 * psci_machine_call() really reads. For every function ID the core knows (both widths, the
 * reserved numbers, SMCCC IDs, unknown IDs), every version, options all and none, AArch64 and
 * AArch32 callers, and machine states with vCPUs on, off, pending, suspended and with
 * statistics:
 *  - never beyond the count: with arguments x1..xN drawn from values that steer the handlers
 *    down their paths, poison in x(N+1)..x3 gives the same x0, the same action and the same
 *    saved state as zeros there (zeros are what a backend that did not fetch them passes);
 *  - never more than needed, and the check above can fail: with N - 1 the same search finds a
 *    call whose result changes, i.e. register N is read (a count one too low would make the
 *    core act on a zero instead of the guest's value);
 *  - the counts the docs list, and 0 for whatever only gets NOT_SUPPORTED. */
#include <stdio.h>
#include <stdlib.h>

#include "psci_fixture.h"

#define IMG_MAX 4096

/* Arguments for x1..xN: MPIDRs of vCPUs in every state (0 on, 1 off or on, 2 off or pending,
 * 0x100000000 Aff3 = 1, narrowed to 0 by SMC32), levels 1, 2 and 4, a valid entry point, a
 * power-down power_state, and upper-half garbage whose low half is a vendor reset type and
 * SMCCC_VERSION's ID. */
static const uint64_t arg_values[] = {
    0, 1, 2, 4, GOOD_ENTRY, PS_CORE_POWERDOWN, 0x100000000ULL, 0xffffffff80000000ULL,
};
#define NR_ARG_VALUES (sizeof(arg_values) / sizeof(arg_values[0]))

/* Poison for the registers beyond the count: garbage whose low half is SMCCC_VERSION's ID (a
 * function PSCI_FEATURES and SMCCC_ARCH_FEATURES know, an invalid level, power_state, MPIDR
 * and cookie), 1 (a valid MPIDR, level and type) and a valid entry point. */
static const uint64_t poisons[] = {0xdead000080000000ULL, 1, GOOD_ENTRY};
#define NR_POISONS (sizeof(poisons) / sizeof(poisons[0]))

/* Function IDs: all of PSCI's (SMC32 and SMC64, 0x00-0x1F), the SMCCC architecture calls, and
 * IDs next to them that are no PSCI function. */
static uint32_t fids[2 * 32 + 8];
static unsigned int nr_fids;

static void fids_init(void)
{
    static const uint32_t others[] = {F_SMCCC_VERSION, F_SMCCC_ARCH_FEATURES, 0x80000002u,
                                      0x84000020u,     0xC4000020u,           0x85000000u,
                                      0x95c1ba60u,     1337u};
    nr_fids = 0;
    for (uint32_t n = 0; n < 32; n++) {
        fids[nr_fids++] = 0x84000000u + n;
        fids[nr_fids++] = 0xC4000000u + n;
    }
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        fids[nr_fids++] = others[i];
}

/* ---- machine states, as images to start every call from --------------------------------- */

#define NR_STATES 2
struct base {
    uint8_t img[IMG_MAX];
    size_t len;
};

static void save_base(const struct psci_machine *m, struct base *b)
{
    long len = psci_machine_save(m, b->img, sizeof(b->img));
    assert_true(len > 0 && (size_t)len <= sizeof(b->img));
    b->len = (size_t)len;
}

/* State 0: just reset (vCPU 0 on, the others off; SYSTEM_SUSPEND can be accepted).
 * State 1: vCPU 0 on after a completed standby (statistics, >= 1.0 with STAT), vCPU 1 on,
 * vCPU 2 on-pending, vCPU 3 suspended in power-down, vCPU 4 off. */
static void bases_init(struct base bases[NR_STATES], uint32_t version, uint32_t options)
{
    struct psci_machine m;
    fx_init(&m, version, options);
    save_base(&m, &bases[0]);

    struct psci_result r = fx_call(&m, 0, F_CPU_SUSPEND, PS_CORE_STANDBY, 0, 0);
    assert_int_equal(r.action.kind, PSCI_ACT_CPU_STANDBY);
    fx_now_ns += 5000000; /* 5 ms: a residency of 5000 us */
    assert_int_equal(psci_cpu_woken(&m, 0), 0);
    fx_power_on(&m, 1);
    r = fx_call(&m, 0, F64_CPU_ON, fx_mpidrs[2], GOOD_ENTRY, 0);
    assert_int_equal(r.action.kind, PSCI_ACT_CPU_START);
    fx_power_on(&m, 3);
    r = fx_call(&m, 3, F64_CPU_SUSPEND, PS_CORE_POWERDOWN, GOOD_ENTRY, CTX);
    assert_int_equal(r.action.kind, PSCI_ACT_CPU_POWERDOWN);
    fx_check(&m);
    save_base(&m, &bases[1]);
    psci_machine_release(&m);
}

/* ---- one call from a saved state --------------------------------------------------------- */

struct outcome {
    int rc;
    struct psci_result r;
    uint8_t img[IMG_MAX];
    size_t len;
};

static void run_call(const struct base *b, const struct psci_call *c, struct outcome *o)
{
    struct psci_machine m;
    char err[160];
    if (psci_machine_load(&m, b->img, b->len, err, sizeof(err)) != 0)
        fail_msg("loading the base state: %s", err);
    assert_int_equal(psci_machine_set_clock(&m, fx_clock, NULL), 0);
    o->rc = psci_machine_call(&m, c, &o->r);
    long len = psci_machine_save(&m, o->img, sizeof(o->img));
    assert_true(len > 0 && (size_t)len <= sizeof(o->img));
    o->len = (size_t)len;
    psci_machine_release(&m);
}

static bool same_outcome(const struct outcome *a, const struct outcome *b)
{
    const struct psci_action *x = &a->r.action, *y = &b->r.action;
    return a->rc == b->rc && a->r.x0 == b->r.x0 && x->kind == y->kind && x->target == y->target &&
           x->entry == y->entry && x->context == y->context && x->power_state == y->power_state &&
           x->type == y->type && x->cookie == y->cookie && a->len == b->len &&
           memcmp(a->img, b->img, a->len) == 0;
}

/* Does psci_machine_call() read past x`n` for `fid`? Tries every state and every choice of
 * x1..xn from arg_values, each once with zeros and once per poison in x(n+1)..x3; true (with
 * the first difference described in why) when a poison changed the outcome. */
static bool reads_beyond(const struct base bases[NR_STATES], uint32_t fid, bool aarch32,
                         unsigned int n, char *why, size_t whylen)
{
    if (n >= 3)
        return false; /* nothing beyond x3 to poison */
    unsigned int tuples = 1;
    for (unsigned int k = 0; k < n; k++)
        tuples *= NR_ARG_VALUES;
    struct outcome *zero = malloc(sizeof(*zero)), *poisoned = malloc(sizeof(*poisoned));
    assert_non_null(zero);
    assert_non_null(poisoned);
    bool found = false;
    for (unsigned int s = 0; s < NR_STATES && !found; s++) {
        for (unsigned int t = 0; t < tuples && !found; t++) {
            struct psci_call c = {.vcpu = 0, .x = {fid, 0, 0, 0}, .aarch32 = aarch32};
            for (unsigned int k = 0, rest = t; k < n; k++, rest /= NR_ARG_VALUES)
                c.x[1 + k] = arg_values[rest % NR_ARG_VALUES];
            run_call(&bases[s], &c, zero);
            for (unsigned int p = 0; p < NR_POISONS && !found; p++) {
                struct psci_call q = c;
                for (unsigned int k = n + 1; k <= 3; k++)
                    q.x[k] = poisons[p];
                run_call(&bases[s], &q, poisoned);
                if (!same_outcome(zero, poisoned)) {
                    bool x0_kind = zero->r.x0 != poisoned->r.x0 ||
                                   zero->r.action.kind != poisoned->r.action.kind;
                    snprintf(why, whylen,
                             "state %u, x1..x3 = %#llx %#llx %#llx: x0 %#llx action %s "
                             "with zeros past x%u, x0 %#llx action %s with them poisoned%s",
                             s, (unsigned long long)q.x[1], (unsigned long long)q.x[2],
                             (unsigned long long)q.x[3], (unsigned long long)zero->r.x0,
                             psci_action_name(zero->r.action.kind), n,
                             (unsigned long long)poisoned->r.x0,
                             psci_action_name(poisoned->r.action.kind),
                             x0_kind ? "" : " (the action's fields or the state after differ)");
                    found = true;
                }
            }
        }
    }
    free(zero);
    free(poisoned);
    return found;
}

/* ---- tests ------------------------------------------------------------------------------- */

static const uint32_t option_sets[] = {0, PSCI_OPT_ALL};

/* Calls one of `check` per (version, options, width, function ID) with the base states and the
 * count psci_call_nr_args() gives. */
static void for_every_call(void (*check)(const struct base *, uint32_t, bool, unsigned int,
                                         const char *))
{
    fids_init();
    struct base *bases = calloc(NR_STATES, sizeof(*bases));
    assert_non_null(bases);
    for (unsigned int v = 0; v < FX_NR_VERSIONS; v++) {
        for (unsigned int o = 0; o < 2; o++) {
            bases_init(bases, fx_versions[v], option_sets[o]);
            struct psci_machine m;
            fx_init(&m, fx_versions[v], option_sets[o]);
            for (int w = 0; w < 2; w++) {
                for (unsigned int f = 0; f < nr_fids; f++) {
                    unsigned int n = psci_call_nr_args(&m, fids[f], w == 1);
                    if (n > 3)
                        fail_msg("psci_call_nr_args(%#x) = %u", fids[f], n);
                    char where[96];
                    snprintf(where, sizeof(where), "PSCI %s, options %#x, %s caller, ID %#x",
                             psci_version_name(fx_versions[v]), option_sets[o],
                             w ? "AArch32" : "AArch64", fids[f]);
                    check(bases, fids[f], w == 1, n, where);
                }
            }
            psci_machine_release(&m);
        }
    }
    free(bases);
}

static void check_never_beyond(const struct base *bases, uint32_t fid, bool aarch32,
                               unsigned int n, const char *where)
{
    char why[256];
    if (reads_beyond(bases, fid, aarch32, n, why, sizeof(why)))
        fail_msg("%s: psci_call_nr_args() says %u but the call reads more: %s", where, n, why);
}

/* The core never reads an argument register beyond the count. */
static void test_psci_args__never_beyond_the_count(void **state)
{
    (void)state;
    for_every_call(check_never_beyond);
}

static unsigned int nr_tight;

static void check_tight(const struct base *bases, uint32_t fid, bool aarch32, unsigned int n,
                        const char *where)
{
    char why[256];
    if (n == 0)
        return;
    if (!reads_beyond(bases, fid, aarch32, n - 1, why, sizeof(why)))
        fail_msg("%s: psci_call_nr_args() says %u, but no call reads x%u", where, n, n);
    nr_tight++;
}

/* Each counted register is read: with one fewer the search above finds a difference. This is
 * also the proof that the search can fail. */
static void test_psci_args__every_counted_register_is_read(void **state)
{
    (void)state;
    nr_tight = 0;
    for_every_call(check_tight);
    /* 1.3, options all, AArch64 alone has 17 IDs with arguments. */
    assert_true(nr_tight >= 17);
}

/* The counts as documented (psci.h, docs/psci.md, docs/perf.md), and 0 for what is only
 * answered NOT_SUPPORTED. */
static void test_psci_args__counts(void **state)
{
    (void)state;
    struct psci_machine m;
    fx_init(&m, PSCI_VERSION_1_3, PSCI_OPT_ALL);
    static const struct {
        uint32_t fid;
        unsigned int n;
    } want[] = {
        {F_PSCI_VERSION, 0},          {F_CPU_SUSPEND, 3},        {F64_CPU_SUSPEND, 3},
        {F_CPU_OFF, 0},               {F_CPU_ON, 3},             {F64_CPU_ON, 3},
        {F_AFFINITY_INFO, 2},         {F64_AFFINITY_INFO, 2},    {F_MIGRATE, 0},
        {F64_MIGRATE, 0},             {F_MIGRATE_INFO_TYPE, 0},  {F_MIGRATE_INFO_UP_CPU, 0},
        {F64_MIGRATE_INFO_UP_CPU, 0}, {F_SYSTEM_OFF, 0},         {F_SYSTEM_RESET, 0},
        {F_PSCI_FEATURES, 1},         {F_CPU_FREEZE, 0},         {F_CPU_DEFAULT_SUSPEND, 0},
        {F64_CPU_DEFAULT_SUSPEND, 0}, {F_NODE_HW_STATE, 2},      {F64_NODE_HW_STATE, 2},
        {F_SYSTEM_SUSPEND, 2},        {F64_SYSTEM_SUSPEND, 2},   {F_SET_SUSPEND_MODE, 0},
        {F_STAT_RESIDENCY, 2},        {F64_STAT_RESIDENCY, 2},   {F_STAT_COUNT, 2},
        {F64_STAT_COUNT, 2},          {F_SYSTEM_RESET2, 2},      {F64_SYSTEM_RESET2, 2},
        {F_MEM_PROTECT, 0},           {F_MEM_PROTECT_CHECK_RANGE, 0},
        {F64_MEM_PROTECT_CHECK_RANGE, 0},                        {F_SYSTEM_OFF2, 2},
        {F64_SYSTEM_OFF2, 2},         {F64_CLEAN_INV_MEMREGION, 0},
        {F_CLEAN_INV_MEMREGION_ATTRIBUTES, 0},                   {0xC4000000u, 0},
        {0xC400000Au, 0},             {0x8400001Fu, 0},          {F_SMCCC_VERSION, 0},
        {F_SMCCC_ARCH_FEATURES, 1},   {0x80000002u, 0},          {1337u, 0},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        unsigned int n = psci_call_nr_args(&m, want[i].fid, false);
        if (n != want[i].n)
            fail_msg("ID %#x: %u argument registers, expected %u", want[i].fid, n, want[i].n);
    }
    /* Not offered to this caller: nothing to read. */
    assert_int_equal(psci_call_nr_args(&m, F64_CPU_ON, true), 0);
    assert_int_equal(psci_call_nr_args(&m, F_CPU_ON, true), 3);
    assert_int_equal(psci_call_nr_args(NULL, F_CPU_ON, false), 0);
    psci_machine_release(&m);

    fx_init(&m, PSCI_VERSION_1_1, PSCI_OPT_ALL & ~PSCI_OPT_SYSTEM_SUSPEND);
    assert_int_equal(psci_call_nr_args(&m, F64_SYSTEM_OFF2, false), 0);   /* since 1.3 */
    assert_int_equal(psci_call_nr_args(&m, F64_SYSTEM_SUSPEND, false), 0); /* option off */
    assert_int_equal(psci_call_nr_args(&m, F64_SYSTEM_RESET2, false), 2);
    psci_machine_release(&m);

    fx_init(&m, PSCI_VERSION_0_2, PSCI_OPT_ALL);
    assert_int_equal(psci_call_nr_args(&m, F_PSCI_FEATURES, false), 0); /* since 1.0 */
    assert_int_equal(psci_call_nr_args(&m, F_STAT_COUNT, false), 0);
    assert_int_equal(psci_call_nr_args(&m, F64_CPU_ON, false), 3);
    psci_machine_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psci_args__counts),
        cmocka_unit_test(test_psci_args__never_beyond_the_count),
        cmocka_unit_test(test_psci_args__every_counted_register_is_read),
    };
    return cmocka_run_group_tests_name("psci_args", tests, NULL, NULL);
}
