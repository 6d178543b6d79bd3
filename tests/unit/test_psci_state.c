/* test_psci_state.c — serialisation of the PSCI core (psci_machine_save/load): round trips,
 * snapshot -> change -> restore -> compare, residency carried across a snapshot, and a loader
 * that refuses every malformed image with a message and leaves its output untouched: truncated
 * at every length, every byte flipped, and (with the CRC recomputed so the semantic checks are
 * reached) every byte mutated, plus targeted bad records. Runs under ASan in make check-unit. */
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include "psci_fixture.h"

#define HDR 24
#define CONFIG_AT HDR
#define MACHINE_AT (CONFIG_AT + 8 + 20 + 2 * 16)
#define VCPU_AT(i) (MACHINE_AT + 8 + 16 + (i) * (8 + 52 + 4 * 16))
#define VCPU_PAYLOAD(i) (VCPU_AT(i) + 8)

static void recrc(uint8_t *buf, size_t len)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, buf, 16);
    crc = crc32(crc, buf + 20, (uInt)(len - 20));
    for (int i = 0; i < 4; i++)
        buf[16 + i] = (uint8_t)(crc >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A machine in as many distinct states as possible. */
static void build_busy(struct psci_machine *m)
{
    fx_init(m, PSCI_VERSION_1_3, PSCI_OPT_ALL);
    fx_power_on(m, 1);
    fx_power_on(m, 2);
    fx_call(m, 1, F_CPU_SUSPEND, PS_CORE_STANDBY, 0, 0);
    fx_now_ns += 4000;
    assert_int_equal(psci_cpu_woken(m, 1), 0);
    fx_call(m, 1, F_CPU_SUSPEND, PS_CLUSTER_POWERDOWN, GOOD_ENTRY + 0x40, CTX); /* SUSPENDED */
    fx_call(m, 2, F_CPU_SUSPEND, PS_CORE_STANDBY, 0, 0);                        /* SUSPENDED */
    assert_int_equal(fx_call(m, 0, F64_CPU_ON, 0x10000, GOOD_ENTRY + 0x80, 77).x0, SUCCESS);
    assert_int_equal(psci_vcpu_set_allowed(m, 4, false), 0);
    fx_call(m, 0, F_SYSTEM_RESET, 0, 0, 0); /* system action pending on vCPU 0 */
    fx_now_ns += 1000;
}

static uint8_t *save_alloc(const struct psci_machine *m, size_t *len)
{
    long need = psci_machine_save(m, NULL, 0);
    assert_true(need > HDR);
    uint8_t *buf = malloc((size_t)need);
    assert_non_null(buf);
    assert_int_equal(psci_machine_save(m, buf, (size_t)need), need);
    *len = (size_t)need;
    return buf;
}

static void assert_same_state(const struct psci_machine *a, const struct psci_machine *b)
{
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->options, b->options);
    assert_int_equal(a->nr_vcpus, b->nr_vcpus);
    assert_int_equal(a->boot_vcpu, b->boot_vcpu);
    assert_int_equal(a->nr_ram, b->nr_ram);
    assert_memory_equal(a->ram, b->ram, a->nr_ram * sizeof(a->ram[0]));
    assert_int_equal(a->system_suspender, b->system_suspender);
    assert_int_equal(a->calls, b->calls);
    for (unsigned int i = 0; i < a->nr_vcpus; i++) {
        struct psci_vcpu_info x, y;
        assert_int_equal(psci_vcpu_get_info(a, i, &x), 0);
        assert_int_equal(psci_vcpu_get_info(b, i, &y), 0);
        assert_int_equal(x.mpidr, y.mpidr);
        assert_int_equal(x.state, y.state);
        assert_int_equal(x.allowed, y.allowed);
        assert_int_equal(x.suspend_count, y.suspend_count);
        assert_int_equal(x.suspend_residency_ns, y.suspend_residency_ns);
    }
}

static void test_psci_state__round_trip(void **state)
{
    (void)state;
    struct psci_machine m, n;
    build_busy(&m);
    size_t len;
    uint8_t *img = save_alloc(&m, &len);
    assert_memory_equal(img, "PSCISTAT", 8);
    char err[256] = "";
    assert_int_equal(psci_machine_load(&n, img, len, err, sizeof(err)), 0);
    fx_check(&n);
    assert_same_state(&m, &n);
    /* byte-identical when saved again (no clock on the loaded machine: residency is frozen) */
    size_t len2;
    uint8_t *img2 = save_alloc(&n, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(img, img2, len);
    /* the outstanding actions survive, so a backend can re-issue them */
    for (unsigned int i = 0; i < FX_NR_VCPUS; i++) {
        struct psci_action x, y;
        assert_int_equal(psci_vcpu_pending_action(&m, i, &x), 0);
        assert_int_equal(psci_vcpu_pending_action(&n, i, &y), 0);
        assert_memory_equal(&x, &y, sizeof(x));
    }
    struct psci_action act;
    assert_int_equal(psci_vcpu_pending_action(&n, 1, &act), 0);
    assert_int_equal(act.kind, PSCI_ACT_CPU_POWERDOWN);
    assert_int_equal(act.entry, GOOD_ENTRY + 0x40);
    assert_int_equal(act.context, CTX & 0xffffffffULL);
    assert_int_equal(act.power_state, PS_CLUSTER_POWERDOWN);
    assert_int_equal(psci_vcpu_pending_action(&n, 2, &act), 0);
    assert_int_equal(act.kind, PSCI_ACT_CPU_STANDBY);
    assert_int_equal(psci_vcpu_pending_action(&n, 3, &act), 0);
    assert_int_equal(act.kind, PSCI_ACT_CPU_START);
    assert_int_equal(act.target, 3);
    assert_int_equal(act.entry, GOOD_ENTRY + 0x80);
    assert_int_equal(act.context, 77);
    assert_int_equal(psci_vcpu_pending_action(&n, 4, &act), 0);
    assert_int_equal(act.kind, PSCI_ACT_NONE);
    assert_int_equal(psci_vcpu_pending_action(&n, FX_NR_VCPUS, &act), -EINVAL);
    /* the restored machine behaves: the pending start completes, the suspends end */
    assert_int_equal(psci_machine_set_clock(&n, fx_clock, NULL), 0);
    assert_int_equal(psci_cpu_started(&n, 3), 0);
    assert_int_equal(psci_cpu_woken(&n, 1), 0);
    assert_int_equal(psci_cpu_woken(&n, 2), 0);
    uint64_t x0;
    assert_int_equal(psci_system_action_failed(&n, 0, &x0), 0);
    fx_check(&n);
    struct psci_vcpu_info info;
    assert_int_equal(psci_vcpu_get_info(&n, 4, &info), 0);
    assert_false(info.allowed);
    free(img);
    free(img2);
    psci_machine_release(&m);
    psci_machine_release(&n);
}

static void test_psci_state__sizing(void **state)
{
    (void)state;
    struct psci_machine m;
    build_busy(&m);
    long need = psci_machine_save(&m, NULL, 0);
    assert_int_equal(need, VCPU_AT(FX_NR_VCPUS));
    uint8_t small[64];
    memset(small, 0xa5, sizeof(small));
    assert_int_equal(psci_machine_save(&m, small, sizeof(small)), need);
    for (size_t i = 0; i < sizeof(small); i++)
        assert_int_equal(small[i], 0xa5); /* nothing written */
    assert_int_equal(psci_machine_save(NULL, NULL, 0), -EINVAL);
    assert_int_equal(psci_machine_save(&m, NULL, 10), -EINVAL);
    psci_machine_release(&m);
}

/* snapshot -> change -> restore -> compare */
static void test_psci_state__snapshot_change_restore(void **state)
{
    (void)state;
    struct psci_machine m, before, restored;
    build_busy(&m);
    size_t len;
    uint8_t *img = save_alloc(&m, &len);
    assert_int_equal(psci_machine_load(&before, img, len, NULL, 0), 0);
    /* change everything that can change */
    assert_int_equal(psci_cpu_started(&m, 3), 0);
    assert_int_equal(psci_cpu_woken(&m, 1), 0);
    assert_int_equal(psci_cpu_woken(&m, 2), 0);
    psci_machine_reset(&m);
    fx_power_on(&m, 1);
    assert_int_equal(psci_vcpu_set_allowed(&m, 4, true), 0);
    /* restore into the same variable after releasing it */
    psci_machine_release(&m);
    assert_int_equal(psci_machine_load(&restored, img, len, NULL, 0), 0);
    fx_check(&restored);
    assert_same_state(&before, &restored);
    free(img);
    psci_machine_release(&before);
    psci_machine_release(&restored);
}

static void test_psci_state__residency_across_snapshot(void **state)
{
    (void)state;
    struct psci_machine m, n;
    fx_init(&m, PSCI_VERSION_1_0, PSCI_OPT_STAT);
    fx_call(&m, 0, F_CPU_SUSPEND, PS_CORE_POWERDOWN, GOOD_ENTRY, 0);
    fx_now_ns += 1000000;
    size_t len;
    uint8_t *img = save_alloc(&m, &len);
    assert_int_equal(psci_machine_load(&n, img, len, NULL, 0), 0);
    fx_now_ns = 5; /* the new host's clock starts elsewhere */
    assert_int_equal(psci_machine_set_clock(&n, fx_clock, NULL), 0);
    fx_now_ns += 500000;
    assert_int_equal(psci_cpu_woken(&n, 0), 0);
    assert_int_equal(fx_call(&n, 0, F_STAT_RESIDENCY, 0, PS_CORE_POWERDOWN, 0).x0, 1500);
    assert_int_equal(psci_machine_set_clock(&n, NULL, NULL), -EINVAL); /* STAT needs a clock */
    free(img);
    psci_machine_release(&m);
    psci_machine_release(&n);
}

/* m must be untouched by a failed load */
static void expect_reject(const uint8_t *img, size_t len, const char *what)
{
    struct psci_machine m;
    memset(&m, 0x5a, sizeof(m));
    struct psci_machine copy = m;
    char err[256] = "";
    int rc = psci_machine_load(&m, img, len, err, sizeof(err));
    if (rc == 0)
        fail_msg("%s: accepted", what);
    if (rc != -EINVAL && rc != -EPROTO && rc != -ERANGE)
        fail_msg("%s: unexpected error %d", what, rc);
    if (err[0] == '\0')
        fail_msg("%s: no message", what);
    assert_memory_equal(&m, &copy, sizeof(m));
}

static void test_psci_state__truncation_everywhere(void **state)
{
    (void)state;
    struct psci_machine m;
    build_busy(&m);
    size_t len;
    uint8_t *img = save_alloc(&m, &len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *t = malloc(cut ? cut : 1);
        memcpy(t, img, cut);
        expect_reject(t, cut, "truncated");
        /* even with the header's length and CRC fixed up to match */
        if (cut >= HDR) {
            put32(t + 12, (uint32_t)cut);
            recrc(t, cut);
            expect_reject(t, cut, "truncated, consistent header");
        }
        free(t);
    }
    /* padded */
    uint8_t *p = calloc(1, len + 1);
    memcpy(p, img, len);
    expect_reject(p, len + 1, "padded");
    free(p);
    free(img);
    psci_machine_release(&m);
}

static void test_psci_state__flip_every_byte(void **state)
{
    (void)state;
    struct psci_machine m;
    build_busy(&m);
    size_t len;
    uint8_t *img = save_alloc(&m, &len);
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    for (size_t i = 0; i < len; i++)
        for (size_t k = 0; k < sizeof(masks); k++) {
            img[i] ^= masks[k];
            expect_reject(img, len, "flipped");
            img[i] ^= masks[k];
        }
    free(img);
    psci_machine_release(&m);
}

/* Mutations that keep the CRC valid reach the semantic checks: each must be refused or yield a
 * machine that passes psci_machine_check(); never a crash (ASan). */
static void test_psci_state__mutate_with_valid_crc(void **state)
{
    (void)state;
    struct psci_machine m;
    build_busy(&m);
    size_t len;
    uint8_t *img = save_alloc(&m, &len);
    static const uint8_t values[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x7f, 0x80, 0xff};
    uint8_t *t = malloc(len);
    unsigned int accepted = 0;
    for (size_t i = 16; i < len; i++) {
        if (i >= 16 && i < 20)
            continue; /* the CRC itself */
        for (size_t k = 0; k < sizeof(values); k++) {
            memcpy(t, img, len);
            if (t[i] == values[k])
                continue;
            t[i] = values[k];
            recrc(t, len);
            struct psci_machine n;
            char err[256];
            if (psci_machine_load(&n, t, len, err, sizeof(err)) == 0) {
                fx_check(&n);
                psci_machine_release(&n);
                accepted++;
            } else {
                assert_true(err[0] != '\0');
            }
        }
    }
    /* statistics, context, allowed ... are free-form: some mutations must load */
    assert_true(accepted > 0);
    free(t);
    free(img);
    psci_machine_release(&m);
}

struct patch_case {
    const char *what;
    size_t offset;
    unsigned int bytes;
    uint64_t value;
    int rc;
};

static void test_psci_state__targeted_rejections(void **state)
{
    (void)state;
    struct psci_machine m;
    build_busy(&m);
    size_t len;
    uint8_t *img = save_alloc(&m, &len);
    const struct patch_case cases[] = {
        {"bad magic", 0, 1, 'X', -EINVAL},
        {"major 2", 8, 2, 2, -EPROTO},
        {"major 0", 8, 2, 0, -EPROTO},
        {"reserved header", 20, 4, 1, -EINVAL},
        {"first record not CONFIG", CONFIG_AT, 2, 3, -EINVAL},
        {"CONFIG overruns", CONFIG_AT + 4, 4, 0x7fffffff, -ERANGE},
        {"CONFIG wrong length", CONFIG_AT + 4, 4, 20, -ERANGE},
        {"version 0.1", CONFIG_AT + 8, 4, 1, -EINVAL},
        {"unknown option", CONFIG_AT + 12, 4, 0x100, -EINVAL},
        {"0 vCPUs", CONFIG_AT + 16, 4, 0, -ERANGE},
        {"too many vCPUs", CONFIG_AT + 16, 4, 513, -ERANGE},
        {"boot vCPU out of range", CONFIG_AT + 20, 4, FX_NR_VCPUS, -EINVAL},
        {"9 RAM ranges", CONFIG_AT + 24, 4, 9, -ERANGE},
        {"empty RAM range", CONFIG_AT + 28 + 8, 8, 0, -EINVAL},
        {"duplicate MACHINE", MACHINE_AT, 2, 1, -EINVAL},
        {"suspender out of range", MACHINE_AT + 8, 4, 9, -EINVAL},
        {"suspender not suspended", MACHINE_AT + 8, 4, 0, -EINVAL},
        {"vCPU index out of range", VCPU_PAYLOAD(1), 4, FX_NR_VCPUS, -ERANGE},
        {"duplicate vCPU record", VCPU_PAYLOAD(1), 4, 0, -EINVAL},
        {"invalid state", VCPU_PAYLOAD(1) + 4, 1, 4, -ERANGE},
        {"invalid allowed flag", VCPU_PAYLOAD(1) + 5, 1, 2, -ERANGE},
        {"invalid suspend kind", VCPU_PAYLOAD(1) + 6, 1, 9, -ERANGE},
        {"pending flag on a suspended vCPU", VCPU_PAYLOAD(1) + 7, 1, 1, -EINVAL},
        {"MPIDR outside mask", VCPU_PAYLOAD(1) + 8, 8, 1ULL << 50, -EINVAL},
        {"duplicate MPIDR", VCPU_PAYLOAD(1) + 8, 8, 0x0, -EINVAL},
        {"power-down with standby state", VCPU_PAYLOAD(1) + 16, 4, 0, -EINVAL},
        {"entry outside RAM", VCPU_PAYLOAD(1) + 24, 8, 0x1000, -EINVAL},
        {"pending start outside RAM", VCPU_PAYLOAD(3) + 24, 8, 0x1000, -EINVAL},
        {"ON with a suspend kind", VCPU_PAYLOAD(0) + 6, 1, 1, -EINVAL},
        {"OFF vCPU suspended kind", VCPU_PAYLOAD(4) + 6, 1, 3, -EINVAL},
        {"system suspend not recorded", VCPU_PAYLOAD(1) + 6, 1, 3, -EINVAL},
        {"wrong slot count", VCPU_PAYLOAD(1) + 48, 4, 5, -ERANGE},
        {"VCPU record wrong length", VCPU_AT(2) + 4, 4, 10, -ERANGE},
        {"record reserved bits", VCPU_AT(2) + 2, 2, 1, -EINVAL},
    };
    uint8_t *t = malloc(len);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        memcpy(t, img, len);
        for (unsigned int b = 0; b < cases[c].bytes; b++)
            t[cases[c].offset + b] = (uint8_t)(cases[c].value >> (8 * b));
        recrc(t, len);
        struct psci_machine n;
        char err[256] = "";
        int rc = psci_machine_load(&n, t, len, err, sizeof(err));
        if (rc != cases[c].rc)
            fail_msg("%s: rc %d (%s), expected %d", cases[c].what, rc, err, cases[c].rc);
        assert_true(strncmp(err, "PSCI state: ", 12) == 0);
    }
    /* a missing vCPU record: drop the last one */
    memcpy(t, img, len);
    size_t short_len = VCPU_AT(FX_NR_VCPUS - 1);
    put32(t + 12, (uint32_t)short_len);
    recrc(t, short_len);
    expect_reject(t, short_len, "missing vCPU record");
    /* an unknown record is skipped */
    uint8_t *u = malloc(len + 12);
    memcpy(u, img, len);
    memcpy(u + len, "\x77\x00\x00\x00\x04\x00\x00\x00\xde\xad\xbe\xef", 12);
    put32(u + 12, (uint32_t)(len + 12));
    recrc(u, len + 12);
    struct psci_machine n;
    assert_int_equal(psci_machine_load(&n, u, len + 12, NULL, 0), 0);
    assert_same_state(&m, &n);
    psci_machine_release(&n);
    /* a minor version bump is accepted */
    memcpy(t, img, len);
    t[10] = 7;
    recrc(t, len);
    assert_int_equal(psci_machine_load(&n, t, len, NULL, 0), 0);
    psci_machine_release(&n);
    /* NULLs */
    assert_int_equal(psci_machine_load(NULL, img, len, NULL, 0), -EINVAL);
    assert_int_equal(psci_machine_load(&n, NULL, 0, NULL, 0), -EINVAL);
    free(u);
    free(t);
    free(img);
    psci_machine_release(&m);
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Does the live core accept `entry` from some caller (AArch64, or AArch32 with Thumb)? */
static bool live_core_accepts(uint32_t fid32, uint32_t fid64, uint64_t x1, uint64_t entry)
{
    bool ok = false;
    for (int a32 = 0; a32 < 2; a32++) {
        struct psci_machine m;
        fx_init(&m, PSCI_VERSION_1_3, PSCI_OPT_ALL);
        struct psci_result r = fx_call32(&m, 0, a32, a32 ? fid32 : fid64, x1, entry, 0);
        ok |= r.action.kind != PSCI_ACT_NONE;
        psci_machine_release(&m);
    }
    return ok;
}

/* The loader used to take any entry point inside RAM, e.g. 2 bytes past a 4-byte boundary,
 * which no CPU_ON or CPU_SUSPEND can produce. Now a pending start and a power-down suspend
 * load exactly when the live core accepts that entry point from some caller. */
static void test_psci_state__entry_points_as_the_live_core_accepts(void **state)
{
    (void)state;
    struct psci_machine m;
    build_busy(&m);
    size_t len;
    uint8_t *img = save_alloc(&m, &len);
    uint8_t *t = malloc(len);
    unsigned int accepted = 0, refused = 0;
    for (uint64_t low = 0; low < 8; low++) {
        uint64_t entry = GOOD_ENTRY + 0x100 + low;
        bool on_ok = live_core_accepts(F_CPU_ON, F64_CPU_ON, 0x1, entry);
        bool pd_ok = live_core_accepts(F_CPU_SUSPEND, F64_CPU_SUSPEND, PS_CORE_POWERDOWN, entry);
        assert_int_equal(on_ok, pd_ok); /* one validation for both */
        assert_int_equal(on_ok, (entry & 3) != 2);
        static const size_t where[] = {VCPU_PAYLOAD(3) + 24 /* ON_PENDING */,
                                       VCPU_PAYLOAD(1) + 24 /* POWERDOWN */};
        for (size_t w = 0; w < 2; w++) {
            memcpy(t, img, len);
            put64(t + where[w], entry);
            recrc(t, len);
            struct psci_machine n;
            char err[256] = "";
            int rc = psci_machine_load(&n, t, len, err, sizeof(err));
            if ((rc == 0) != on_ok)
                fail_msg("entry 0x%llx at %zu: load %d (%s), live core %s",
                         (unsigned long long)entry, where[w], rc, err,
                         on_ok ? "accepts" : "refuses");
            if (rc == 0) {
                fx_check(&n);
                psci_machine_release(&n);
                accepted++;
            } else {
                assert_non_null(strstr(err, "misaligned"));
                refused++;
            }
        }
    }
    assert_true(accepted > 0 && refused > 0);
    free(t);
    free(img);
    psci_machine_release(&m);
}

/* An image may start a counter at UINT64_MAX (nothing in the format forbids it, and a long
 * enough life could get there). The next update used to wrap it to 0, breaking "counters never
 * decrease"; now every counter saturates: statistics, residency (and the residency carried
 * across the snapshot), the per-vCPU sums and the call count. */
static void test_psci_state__counters_at_maximum_saturate(void **state)
{
    (void)state;
    struct psci_machine m;
    build_busy(&m);
    size_t len;
    uint8_t *img = save_alloc(&m, &len);
    const size_t slot2 = VCPU_PAYLOAD(1) + 52 + 16 * 2; /* vCPU 1: cluster power-down */
    put64(img + slot2, UINT64_MAX);                      /* count */
    put64(img + slot2 + 8, UINT64_MAX - 10);             /* residency ns */
    put64(img + VCPU_PAYLOAD(1) + 40, UINT64_MAX - 5);   /* residency of the current suspend */
    put64(img + MACHINE_AT + 8 + 8, UINT64_MAX);         /* calls */
    recrc(img, len);
    struct psci_machine n;
    char err[256] = "";
    assert_int_equal(psci_machine_load(&n, img, len, err, sizeof(err)), 0);
    fx_check(&n);
    assert_int_equal(psci_machine_set_clock(&n, fx_clock, NULL), 0);
    fx_now_ns += 1000;
    uint64_t x0;
    assert_int_equal(psci_system_action_failed(&n, 0, &x0), 0);
    assert_int_equal(psci_cpu_woken(&n, 1), 0); /* accounts the suspend */
    fx_check(&n);
    assert_int_equal(fx_call(&n, 0, F_STAT_COUNT, 0x1, PS_CLUSTER_POWERDOWN, 0).x0, UINT64_MAX);
    assert_int_equal(fx_call(&n, 0, F_STAT_RESIDENCY, 0x1, PS_CLUSTER_POWERDOWN, 0).x0,
                     UINT64_MAX / 1000);
    assert_int_equal(n.calls, UINT64_MAX);
    struct psci_vcpu_info info; /* slot 0 holds 1 completed standby too: the sums saturate */
    assert_int_equal(psci_vcpu_get_info(&n, 1, &info), 0);
    assert_int_equal(info.suspend_count, UINT64_MAX);
    assert_int_equal(info.suspend_residency_ns, UINT64_MAX);
    /* and keep saturating on the next suspend */
    fx_call(&n, 1, F_CPU_SUSPEND, PS_CLUSTER_POWERDOWN, GOOD_ENTRY, 0);
    fx_now_ns += 1000;
    assert_int_equal(psci_cpu_woken(&n, 1), 0);
    assert_int_equal(fx_call(&n, 0, F_STAT_COUNT, 0x1, PS_CLUSTER_POWERDOWN, 0).x0, UINT64_MAX);
    psci_machine_release(&n);
    free(img);
    psci_machine_release(&m);
}

/* Fields the live core always clears (entry/context of a vCPU that does not restart at an
 * entry point, power_state and residency of a vCPU that is not suspended) or always sets (the
 * power_state of a SYSTEM_SUSPEND) used to load with any value: a state no sequence of calls
 * reaches, and one that a save would carry on. */
static void test_psci_state__fields_the_core_clears_must_be_clear(void **state)
{
    (void)state;
    struct psci_machine m;
    build_busy(&m); /* 0 ON (system action pending), 1 POWERDOWN, 2 STANDBY, 3 ON_PENDING, 4 OFF */
    size_t len;
    uint8_t *img = save_alloc(&m, &len);
    const struct patch_case cases[] = {
        {"power_state on an ON vCPU", VCPU_PAYLOAD(0) + 16, 4, PS_CORE_POWERDOWN, -EINVAL},
        {"power_state on a pending start", VCPU_PAYLOAD(3) + 16, 4, PS_CORE_POWERDOWN, -EINVAL},
        {"power_state on an OFF vCPU", VCPU_PAYLOAD(4) + 16, 4, PS_CORE_POWERDOWN, -EINVAL},
        {"entry on an OFF vCPU", VCPU_PAYLOAD(4) + 24, 8, GOOD_ENTRY, -EINVAL},
        {"context on an OFF vCPU", VCPU_PAYLOAD(4) + 32, 8, 1, -EINVAL},
        {"entry on an ON vCPU", VCPU_PAYLOAD(0) + 24, 8, GOOD_ENTRY, -EINVAL},
        {"context on an ON vCPU", VCPU_PAYLOAD(0) + 32, 8, 5, -EINVAL},
        {"entry on a standby vCPU", VCPU_PAYLOAD(2) + 24, 8, GOOD_ENTRY, -EINVAL},
        {"context on a standby vCPU", VCPU_PAYLOAD(2) + 32, 8, 5, -EINVAL},
        {"residency on an ON vCPU", VCPU_PAYLOAD(0) + 40, 8, 1000, -EINVAL},
        {"residency on a pending start", VCPU_PAYLOAD(3) + 40, 8, 1, -EINVAL},
        /* still free: context of a vCPU that restarts, residency of a suspended one */
        {"context of a pending start", VCPU_PAYLOAD(3) + 32, 8, 0xabcdef, 0},
        {"residency of a standby", VCPU_PAYLOAD(2) + 40, 8, 123456, 0},
    };
    uint8_t *t = malloc(len);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        memcpy(t, img, len);
        for (unsigned int b = 0; b < cases[c].bytes; b++)
            t[cases[c].offset + b] = (uint8_t)(cases[c].value >> (8 * b));
        recrc(t, len);
        struct psci_machine n;
        char err[256] = "";
        int rc = psci_machine_load(&n, t, len, err, sizeof(err));
        if (rc != cases[c].rc)
            fail_msg("%s: rc %d (%s), expected %d", cases[c].what, rc, err, cases[c].rc);
        if (rc == 0) {
            fx_check(&n);
            psci_machine_release(&n);
        }
    }
    free(t);
    free(img);
    psci_machine_release(&m);

    /* a SYSTEM_SUSPEND is accounted under the system power-down state and nothing else */
    fx_init(&m, PSCI_VERSION_1_3, PSCI_OPT_ALL);
    assert_int_equal(fx_call(&m, 0, F64_SYSTEM_SUSPEND, GOOD_ENTRY, CTX, 0).action.kind,
                     PSCI_ACT_SYSTEM_SUSPEND);
    img = save_alloc(&m, &len);
    struct psci_machine n;
    assert_int_equal(psci_machine_load(&n, img, len, NULL, 0), 0);
    psci_machine_release(&n);
    put32(img + VCPU_PAYLOAD(0) + 16, PS_CLUSTER_POWERDOWN);
    recrc(img, len);
    char err[256] = "";
    assert_int_equal(psci_machine_load(&n, img, len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "system power-down"));
    free(img);
    psci_machine_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psci_state__round_trip),
        cmocka_unit_test(test_psci_state__sizing),
        cmocka_unit_test(test_psci_state__snapshot_change_restore),
        cmocka_unit_test(test_psci_state__residency_across_snapshot),
        cmocka_unit_test(test_psci_state__truncation_everywhere),
        cmocka_unit_test(test_psci_state__flip_every_byte),
        cmocka_unit_test(test_psci_state__mutate_with_valid_crc),
        cmocka_unit_test(test_psci_state__targeted_rejections),
        cmocka_unit_test(test_psci_state__entry_points_as_the_live_core_accepts),
        cmocka_unit_test(test_psci_state__counters_at_maximum_saturate),
        cmocka_unit_test(test_psci_state__fields_the_core_clears_must_be_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
