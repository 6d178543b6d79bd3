/* fuzz_psci_state.c — libFuzzer target for the PSCI state image loader (psci_machine_load,
 * the "PSCISTAT" snapshot image of src/psci/psci_state.c). Each input is loaded twice: as it
 * is (so the header, length and CRC checks are exercised) and with its total-length and CRC-32
 * fields recomputed (so mutations reach the records behind the checksum). A loaded machine
 * must pass psci_machine_check(), save to an image that loads again and saves identically,
 * and survive completing every pending action and a few calls from each vCPU that is ON. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "psci/psci.h"

#define HEADER_LEN 24u
#define LEN_OFFSET 12u
#define CRC_OFFSET 16u

static uint64_t fake_clock(void *opaque)
{
    uint64_t *now = opaque;
    return *now += 1000;
}

static void check(const struct psci_machine *m, const char *when)
{
    const char *why = NULL;
    if (psci_machine_check(m, &why)) {
        fprintf(stderr, "fuzz_psci_state: invariant broken %s: %s\n", when, why);
        abort();
    }
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Save `m` into a malloc'd image; aborts when save fails on a machine that loaded fine. */
static uint8_t *save(const struct psci_machine *m, size_t *len)
{
    long need = psci_machine_save(m, NULL, 0);
    if (need <= 0)
        abort();
    uint8_t *buf = malloc((size_t)need);
    if (!buf || psci_machine_save(m, buf, (size_t)need) != need)
        abort();
    *len = (size_t)need;
    return buf;
}

static void exercise(struct psci_machine *m)
{
    static uint64_t now;
    check(m, "after load");

    /* Round trip: the saved image loads and saves byte for byte the same. */
    size_t len1, len2;
    uint8_t *img1 = save(m, &len1);
    struct psci_machine m2;
    char err[256];
    if (psci_machine_load(&m2, img1, len1, err, sizeof(err))) {
        fprintf(stderr, "fuzz_psci_state: re-load of a saved image failed: %s\n", err);
        abort();
    }
    uint8_t *img2 = save(&m2, &len2);
    if (len1 != len2 || memcmp(img1, img2, len1))
        abort();
    free(img1);
    free(img2);
    psci_machine_release(&m2);

    if (psci_machine_set_clock(m, fake_clock, &now))
        abort();
    /* Carry out what the image left outstanding, then a few calls from every ON vCPU. */
    for (unsigned int v = 0; v < m->nr_vcpus; v++) {
        struct psci_action a;
        if (psci_vcpu_pending_action(m, v, &a))
            abort();
        if (a.kind == PSCI_ACT_CPU_START)
            psci_cpu_started(m, a.target);
        else if (a.kind != PSCI_ACT_NONE)
            psci_cpu_woken(m, v);
        check(m, "after completing a pending action");
    }
    static const uint32_t fids[] = {
        0x84000000u, /* PSCI_VERSION */
        0xc4000004u, /* AFFINITY_INFO (SMC64) */
        0x8400000au, /* PSCI_FEATURES */
        0xc4000010u, /* STAT_RESIDENCY */
        0xc4000003u, /* CPU_ON */
    };
    for (unsigned int v = 0; v < m->nr_vcpus; v++) {
        struct psci_vcpu_info info;
        if (psci_vcpu_get_info(m, v, &info) || info.state != PSCI_CPU_ON)
            continue;
        for (size_t i = 0; i < sizeof(fids) / sizeof(fids[0]); i++) {
            struct psci_call c = {.vcpu = v, .x = {fids[i], info.mpidr, m->ram[0].base, 0}};
            struct psci_result r;
            psci_machine_call(m, &c, &r);
            if (r.action.kind == PSCI_ACT_CPU_START)
                psci_cpu_start_failed(m, r.action.target);
            check(m, "after a call");
        }
    }
}

static void try_load(const uint8_t *data, size_t size)
{
    struct psci_machine m;
    char err[256];
    err[0] = '\0';
    int rc = psci_machine_load(&m, data, size, err, sizeof(err));
    if (rc == 0) {
        exercise(&m);
        psci_machine_release(&m);
    } else if (!err[0]) {
        fprintf(stderr, "fuzz_psci_state: load failed (%d) without a message\n", rc);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    try_load(data, size);
    if (size >= HEADER_LEN && size <= UINT32_MAX) {
        uint8_t *fixed = malloc(size);
        if (!fixed)
            return 0;
        memcpy(fixed, data, size);
        put32(fixed + LEN_OFFSET, (uint32_t)size);
        uLong crc = crc32(0L, Z_NULL, 0);
        crc = crc32(crc, fixed, CRC_OFFSET);
        crc = crc32(crc, fixed + CRC_OFFSET + 4, (uInt)(size - CRC_OFFSET - 4));
        put32(fixed + CRC_OFFSET, (uint32_t)crc);
        try_load(fixed, size);
        free(fixed);
    }
    return 0;
}
