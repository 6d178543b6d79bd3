/* test_psci_sweep.c — a seeded random sweep of the PSCI core: for every version, 80,000 steps,
 * at least 20,000 of them calls (>= 100,000 calls in all), with arbitrary x0..x3 (x0 biased
 * towards PSCI and SMCCC IDs, half the calls shaped like real ones, the arguments towards
 * MPIDRs, entry points and power states) from random ON vCPUs, AArch64 and AArch32, interleaved with random backend callbacks (start done/failed, woken, refused, system
 * action failed, policy changes, resets) and periodic save/load round trips. After every step:
 * psci_machine_check(), the state change matches the action returned (nothing else moved),
 * and counters never decrease. The seed is fixed so a failure reproduces. */
#include <stdio.h>
#include <stdlib.h>

#include "psci_fixture.h"

#define STEPS_PER_VERSION 80000
#define MIN_CALLS_PER_VERSION 20000 /* 5 versions: >= 100,000 calls */
#define NR 6
static const uint64_t mpidrs[NR] = {0x0, 0x1, 0x2, 0x100, 0x10000, 0x300000000ULL};

static uint64_t rng_state;
static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}
static unsigned int rnd_below(unsigned int n) { return (unsigned int)(rnd() % n); }

static uint64_t rnd_x0(void)
{
    unsigned int k = rnd_below(100);
    uint64_t hi = rnd_below(8) == 0 ? (rnd() << 32) : 0; /* W0 only: junk above */
    if (k < 70)
        return hi | (0x84000000u | (rnd_below(2) ? 0x40000000u : 0) | rnd_below(0x20));
    if (k < 80)
        return hi | (0x80000000u | rnd_below(3));
    return rnd();
}

static uint64_t rnd_arg(void)
{
    static const uint64_t interesting[] = {
        0x40080000ULL, 0x40000000ULL, 0x4FFFFFFCULL, 0x50000000ULL, 0x880000000ULL,
        0x40080001ULL, 0x40080002ULL, 0, 1, 2, 3, 4, 0x80000000ULL, 0xffffffffULL,
        0x00010000, 0x01010000, 0x02010000, 0x03010000, 0x01000000, 0x8400000E, 0xC4000015,
        0x80000000, 0x1000000, 0xffffffffffffffffULL,
    };
    unsigned int k = rnd_below(100);
    if (k < 35)
        return mpidrs[rnd_below(NR)] | (rnd_below(10) == 0 ? 1ULL << rnd_below(64) : 0);
    if (k < 85)
        return interesting[rnd_below(sizeof(interesting) / sizeof(interesting[0]))];
    return rnd();
}

/* Half of the calls are shaped like real ones (valid IDs and mostly valid arguments), so the
 * state machine is driven deep, not just bounced off argument checks. */
static void well_formed(struct psci_call *c)
{
    static const uint32_t fns[] = {0x84000001, 0xC4000001, 0x84000002, 0xC4000003, 0x84000003,
                                   0xC4000004, 0x84000008, 0x84000009, 0xC400000D, 0xC400000E,
                                   0xC4000010, 0xC4000011, 0xC4000012, 0xC4000015, 0x8400000A};
    static const uint64_t states[] = {0x0, 0x00010000, 0x01010000, 0x02010000};
    uint32_t fid = fns[rnd_below(sizeof(fns) / sizeof(fns[0]))];
    c->x[0] = fid;
    c->aarch32 = rnd_below(20) == 0;
    uint64_t entry = 0x40000000ULL + 4 * (uint64_t)rnd_below(0x1000000);
    switch (fid & 0x1f) {
    case 0x01:
        c->x[1] = states[rnd_below(4)];
        c->x[2] = entry;
        break;
    case 0x03: case 0x04: case 0x0d: case 0x10: case 0x11:
        c->x[1] = mpidrs[rnd_below(NR)];
        c->x[2] = (fid & 0x1f) == 0x03 ? entry : (fid & 0x1f) >= 0x10 ? states[rnd_below(4)]
                                                                      : rnd_below(3);
        break;
    case 0x0e:
        c->x[1] = entry;
        break;
    case 0x12:
        c->x[1] = rnd_below(2) ? 0 : 0x80000000u | (uint32_t)rnd();
        break;
    case 0x15:
        c->x[1] = rnd_below(2);
        c->x[2] = rnd_below(8) == 0;
        break;
    default:
        break;
    }
}

struct snap {
    enum psci_cpu_state state[NR];
    uint64_t count[NR], residency[NR];
    uint64_t calls;
};

static void take(const struct psci_machine *m, struct snap *s)
{
    for (unsigned int i = 0; i < NR; i++) {
        struct psci_vcpu_info info;
        assert_int_equal(psci_vcpu_get_info(m, i, &info), 0);
        s->state[i] = info.state;
        s->count[i] = info.suspend_count;
        s->residency[i] = info.suspend_residency_ns;
    }
    s->calls = m->calls;
}

static void assert_monotonic(const struct snap *a, const struct snap *b)
{
    for (unsigned int i = 0; i < NR; i++) {
        assert_true(b->count[i] >= a->count[i]);
        assert_true(b->residency[i] >= a->residency[i]);
    }
    assert_true(b->calls >= a->calls);
}

/* Every vCPU other than `except` (and `except2`) kept its state. */
static void assert_unchanged_but(const struct snap *a, const struct snap *b, int except,
                                 int except2)
{
    for (int i = 0; i < NR; i++)
        if (i != except && i != except2 && a->state[i] != b->state[i])
            fail_msg("vCPU %d changed %s -> %s unexpectedly", i,
                     psci_cpu_state_name(a->state[i]), psci_cpu_state_name(b->state[i]));
}

static void do_call(struct psci_machine *m, unsigned int *counts)
{
    unsigned int on[NR], n = 0;
    for (unsigned int i = 0; i < NR; i++)
        if (m->vcpus != NULL && fx_state(m, i) == PSCI_CPU_ON)
            on[n++] = i;
    if (n == 0)
        return;
    struct psci_call c = {.vcpu = on[rnd_below(n)], .aarch32 = rnd_below(10) == 0};
    c.x[0] = rnd_x0();
    c.x[1] = rnd_arg();
    c.x[2] = rnd_arg();
    c.x[3] = rnd_arg();
    if (rnd_below(2) == 0)
        well_formed(&c);
    struct snap a, b;
    take(m, &a);
    struct psci_result r;
    assert_int_equal(psci_machine_call(m, &c, &r), 0);
    fx_check(m);
    take(m, &b);
    assert_monotonic(&a, &b);
    counts[r.action.kind]++;
    switch (r.action.kind) {
    case PSCI_ACT_NONE:
    case PSCI_ACT_SYSTEM_OFF:
    case PSCI_ACT_SYSTEM_OFF2:
    case PSCI_ACT_SYSTEM_RESET:
    case PSCI_ACT_SYSTEM_RESET2:
        assert_unchanged_but(&a, &b, -1, -1);
        break;
    case PSCI_ACT_CPU_START:
        assert_int_equal(r.x0, SUCCESS);
        assert_true(r.action.target < NR);
        assert_int_equal(a.state[r.action.target], PSCI_CPU_OFF);
        assert_int_equal(b.state[r.action.target], PSCI_CPU_ON_PENDING);
        assert_unchanged_but(&a, &b, (int)r.action.target, -1);
        break;
    case PSCI_ACT_CPU_STOP:
        assert_int_equal(b.state[c.vcpu], PSCI_CPU_OFF);
        assert_unchanged_but(&a, &b, (int)c.vcpu, -1);
        break;
    case PSCI_ACT_CPU_STANDBY:
    case PSCI_ACT_CPU_POWERDOWN:
    case PSCI_ACT_SYSTEM_SUSPEND:
        assert_int_equal(b.state[c.vcpu], PSCI_CPU_SUSPENDED);
        assert_unchanged_but(&a, &b, (int)c.vcpu, -1);
        break;
    default:
        fail_msg("unknown action %d", r.action.kind);
    }
    /* an SMC64 ID from AArch32 is never more than NOT_SUPPORTED */
    if (c.aarch32 && ((uint32_t)c.x[0] & 0x40000000u)) {
        assert_int_equal(r.x0, NOT_SUPPORTED);
        assert_int_equal(r.action.kind, PSCI_ACT_NONE);
    }
}

static void do_backend(struct psci_machine *m)
{
    unsigned int v = rnd_below(NR + 1); /* sometimes out of range */
    struct snap a, b;
    take(m, &a);
    /* mostly report on a vCPU that has something outstanding, as a backend would */
    if (rnd_below(4) != 0)
        for (unsigned int i = 0, start = rnd_below(NR); i < NR; i++) {
            unsigned int j = (start + i) % NR;
            if (a.state[j] == PSCI_CPU_ON_PENDING || a.state[j] == PSCI_CPU_SUSPENDED) {
                v = j;
                break;
            }
        }
    uint64_t x0 = 0;
    int rc = 0;
    enum psci_cpu_state want = PSCI_CPU_OFF;
    switch (rnd_below(7)) {
    case 0: rc = psci_cpu_started(m, v); want = PSCI_CPU_ON; break;
    case 1: rc = psci_cpu_start_failed(m, v); want = PSCI_CPU_OFF; break;
    case 2: case 3: rc = psci_cpu_woken(m, v); want = PSCI_CPU_ON; break;
    case 4:
        rc = psci_system_suspend_refused(m, v, &x0);
        want = PSCI_CPU_ON;
        if (rc == 0)
            assert_int_equal(x0, DENIED);
        break;
    case 5:
        rc = psci_system_action_failed(m, v, &x0);
        want = v < NR ? a.state[v] : PSCI_CPU_OFF;
        if (rc == 0)
            assert_int_equal(x0, INTERNAL_FAILURE);
        break;
    case 6:
        rc = psci_vcpu_set_allowed(m, v, rnd_below(3) != 0);
        want = v < NR ? a.state[v] : PSCI_CPU_OFF;
        break;
    }
    fx_check(m);
    take(m, &b);
    assert_monotonic(&a, &b);
    if (v >= NR) {
        assert_int_equal(rc, -EINVAL);
        assert_unchanged_but(&a, &b, -1, -1);
    } else if (rc == 0) {
        assert_int_equal(b.state[v], want);
        assert_unchanged_but(&a, &b, (int)v, -1);
    } else {
        assert_int_equal(rc, -EINVAL);
        assert_unchanged_but(&a, &b, -1, -1);
    }
}

static void round_trip(struct psci_machine *m)
{
    long need = psci_machine_save(m, NULL, 0);
    assert_true(need > 0);
    uint8_t *buf = malloc((size_t)need);
    assert_int_equal(psci_machine_save(m, buf, (size_t)need), need);
    struct psci_machine n;
    char err[256];
    if (psci_machine_load(&n, buf, (size_t)need, err, sizeof(err)) != 0)
        fail_msg("load of a saved machine failed: %s", err);
    assert_int_equal(psci_machine_set_clock(&n, fx_clock, NULL), 0);
    fx_check(&n);
    psci_machine_release(m);
    *m = n;
    free(buf);
}

static void sweep(uint32_t version, uint64_t seed)
{
    struct psci_config cfg = {
        .version = version, .options = PSCI_OPT_ALL, .nr_vcpus = NR, .mpidrs = mpidrs,
        .boot_vcpu = 0, .ram = fx_ram, .nr_ram = 2, .clock_ns = fx_clock,
    };
    struct psci_machine m;
    assert_int_equal(psci_machine_init(&m, &cfg), 0);
    rng_state = seed;
    unsigned int counts[PSCI_ACT_SYSTEM_SUSPEND + 1] = {0};
    for (unsigned int step = 0; step < STEPS_PER_VERSION; step++) {
        fx_now_ns += rnd_below(1000);
        unsigned int k = rnd_below(1000);
        bool any_on = false;
        for (unsigned int i = 0; i < NR; i++)
            any_on |= fx_state(&m, i) != PSCI_CPU_OFF;
        if (!any_on) {
            psci_machine_reset(&m); /* an all-off machine: the backend powers it up again */
            fx_check(&m);
        } else if (k < 700) {
            do_call(&m, counts);
        } else if (k < 995) {
            do_backend(&m);
        } else {
            struct snap a, b;
            take(&m, &a);
            psci_machine_reset(&m);
            fx_check(&m);
            take(&m, &b);
            assert_monotonic(&a, &b);
        }
        if (step % 2500 == 2499)
            round_trip(&m);
    }
    if (getenv("PSCI_SWEEP_VERBOSE"))
        for (int i = 0; i <= PSCI_ACT_SYSTEM_SUSPEND; i++)
            printf("%s: %s %u\n", psci_version_name(version), psci_action_name(i), counts[i]);
    unsigned int total = 0;
    for (int i = 0; i <= PSCI_ACT_SYSTEM_SUSPEND; i++)
        total += counts[i];
    assert_true(total >= MIN_CALLS_PER_VERSION);
    /* the sweep reached the interesting actions for this version */
    assert_true(counts[PSCI_ACT_CPU_START] > 50);
    assert_true(counts[PSCI_ACT_CPU_STOP] > 50);
    assert_true(counts[PSCI_ACT_CPU_STANDBY] > 10);
    assert_true(counts[PSCI_ACT_CPU_POWERDOWN] > 10);
    assert_true(counts[PSCI_ACT_SYSTEM_RESET] > 10);
    if (version >= PSCI_VERSION_1_1)
        assert_true(counts[PSCI_ACT_SYSTEM_RESET2] > 0);
    if (version >= PSCI_VERSION_1_3)
        assert_true(counts[PSCI_ACT_SYSTEM_OFF2] > 0);
    else
        assert_int_equal(counts[PSCI_ACT_SYSTEM_OFF2], 0);
    if (version < PSCI_VERSION_1_0)
        assert_int_equal(counts[PSCI_ACT_SYSTEM_SUSPEND], 0);
    psci_machine_release(&m);
}

static void test_psci_sweep__v0_2(void **state) { (void)state; sweep(PSCI_VERSION_0_2, 0x5eed0002); }
static void test_psci_sweep__v1_0(void **state) { (void)state; sweep(PSCI_VERSION_1_0, 0x5eed0100); }
static void test_psci_sweep__v1_1(void **state) { (void)state; sweep(PSCI_VERSION_1_1, 0x5eed0101); }
static void test_psci_sweep__v1_2(void **state) { (void)state; sweep(PSCI_VERSION_1_2, 0x5eed0102); }
static void test_psci_sweep__v1_3(void **state) { (void)state; sweep(PSCI_VERSION_1_3, 0x5eed0103); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psci_sweep__v0_2),
        cmocka_unit_test(test_psci_sweep__v1_0),
        cmocka_unit_test(test_psci_sweep__v1_1),
        cmocka_unit_test(test_psci_sweep__v1_2),
        cmocka_unit_test(test_psci_sweep__v1_3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
