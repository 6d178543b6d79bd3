/* psci_state.c — serialisation of a struct psci_machine for snapshots: a versioned,
 * self-describing little-endian image, and a loader that trusts nothing in it.
 *
 * Image layout (format 1.0):
 *   header (24 bytes): "PSCISTAT" | u16 major (1) | u16 minor (0) | u32 total length |
 *                      u32 CRC-32 (zlib) of the whole image with this field taken as absent |
 *                      u32 reserved (0)
 *   records, each:     u16 tag | u16 reserved (0) | u32 payload length | payload
 *     CONFIG  (1, once, first): u32 version, u32 options, u32 nr_vcpus, u32 boot_vcpu,
 *                               u32 nr_ram, nr_ram x (u64 base, u64 size)
 *     MACHINE (2, once):        i32 system_suspender, u32 reserved, u64 calls
 *     VCPU    (3, one per vCPU): u32 index, u8 state, u8 allowed, u8 suspend kind,
 *                               u8 system action pending, u64 mpidr, u32 power_state,
 *                               u32 reserved, u64 entry, u64 context, u64 residency so far (ns),
 *                               u32 nr_slots (4), nr_slots x (u64 count, u64 residency ns)
 *   Known records must have exactly their length; records with unknown tags are skipped (room
 *   for minor-version additions); a different major version is refused.
 * The clock is not part of the image: call psci_machine_set_clock() after loading. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "psci/psci_private.h"

#define STATE_MAGIC "PSCISTAT"
#define STATE_MAJOR 1u
#define STATE_MINOR 0u
#define HEADER_LEN 24u
#define CRC_OFFSET 16u
#define REC_HDR_LEN 8u
#define TAG_CONFIG 1u
#define TAG_MACHINE 2u
#define TAG_VCPU 3u
#define CONFIG_LEN(nr_ram) (20u + 16u * (nr_ram))
#define MACHINE_LEN 16u
#define VCPU_LEN (52u + 16u * PSCI_NR_STAT_SLOTS)

/* ---- writing --------------------------------------------------------------------------------- */
struct wbuf {
    uint8_t *p;
    size_t off;
};

static void put_le(struct wbuf *w, uint64_t v, unsigned int bytes)
{
    for (unsigned int i = 0; i < bytes; i++)
        w->p[w->off++] = (uint8_t)(v >> (8 * i));
}

static void put_rec(struct wbuf *w, uint16_t tag, uint32_t len)
{
    put_le(w, tag, 2);
    put_le(w, 0, 2);
    put_le(w, len, 4);
}

static uint32_t image_crc(const uint8_t *p, size_t len)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, p, CRC_OFFSET);
    crc = crc32(crc, p + CRC_OFFSET + 4, (uInt)(len - CRC_OFFSET - 4));
    return (uint32_t)crc;
}

long psci_machine_save(const struct psci_machine *m, void *buf, size_t size)
{
    if (m == NULL || m->vcpus == NULL || m->nr_ram > PSCI_MAX_RAM_RANGES ||
        m->nr_vcpus > PSCI_MAX_VCPUS || (buf == NULL && size != 0))
        return -EINVAL;
    size_t need = HEADER_LEN + REC_HDR_LEN + CONFIG_LEN(m->nr_ram) + REC_HDR_LEN + MACHINE_LEN +
                  (size_t)m->nr_vcpus * (REC_HDR_LEN + VCPU_LEN);
    if (buf == NULL || size < need)
        return (long)need;
    struct wbuf w = {buf, 0};
    memcpy(w.p, STATE_MAGIC, 8);
    w.off = 8;
    put_le(&w, STATE_MAJOR, 2);
    put_le(&w, STATE_MINOR, 2);
    put_le(&w, need, 4);
    put_le(&w, 0, 4); /* CRC, filled in below */
    put_le(&w, 0, 4);

    put_rec(&w, TAG_CONFIG, CONFIG_LEN(m->nr_ram));
    put_le(&w, m->version, 4);
    put_le(&w, m->options, 4);
    put_le(&w, m->nr_vcpus, 4);
    put_le(&w, m->boot_vcpu, 4);
    put_le(&w, m->nr_ram, 4);
    for (unsigned int i = 0; i < m->nr_ram; i++) {
        put_le(&w, m->ram[i].base, 8);
        put_le(&w, m->ram[i].size, 8);
    }

    put_rec(&w, TAG_MACHINE, MACHINE_LEN);
    put_le(&w, (uint32_t)m->system_suspender, 4);
    put_le(&w, 0, 4);
    put_le(&w, m->calls, 8);

    for (unsigned int i = 0; i < m->nr_vcpus; i++) {
        const struct psci_vcpu *v = &m->vcpus[i];
        put_rec(&w, TAG_VCPU, VCPU_LEN);
        put_le(&w, i, 4);
        put_le(&w, (uint8_t)v->state, 1);
        put_le(&w, v->allowed, 1);
        put_le(&w, (uint8_t)v->suspend, 1);
        put_le(&w, v->system_action_pending, 1);
        put_le(&w, v->mpidr, 8);
        put_le(&w, v->power_state, 4);
        put_le(&w, 0, 4);
        put_le(&w, v->entry, 8);
        put_le(&w, v->context, 8);
        put_le(&w, v->state == PSCI_CPU_SUSPENDED ? psci_suspend_elapsed_ns(m, v) : 0, 8);
        put_le(&w, PSCI_NR_STAT_SLOTS, 4);
        for (int s = 0; s < PSCI_NR_STAT_SLOTS; s++) {
            put_le(&w, v->stat_count[s], 8);
            put_le(&w, v->stat_residency_ns[s], 8);
        }
    }
    uint32_t crc = image_crc(w.p, need);
    w.off = CRC_OFFSET;
    put_le(&w, crc, 4);
    return (long)need;
}

/* ---- reading --------------------------------------------------------------------------------- */
struct rbuf {
    const uint8_t *p;
    size_t len;
    size_t off;
};

static uint64_t get_le(struct rbuf *r, unsigned int bytes)
{
    uint64_t v = 0;
    for (unsigned int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->off++] << (8 * i);
    return v;
}

__attribute__((format(printf, 4, 5)))
static int load_error(char *err, size_t err_size, int code, const char *fmt, ...)
{
    if (err != NULL && err_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Fields of one VCPU record before they are applied. */
struct vcpu_rec {
    bool seen;
    uint8_t state, allowed, suspend, pending;
    uint64_t mpidr;
    uint32_t power_state;
    uint64_t entry, context, elapsed;
    uint64_t count[PSCI_NR_STAT_SLOTS], residency[PSCI_NR_STAT_SLOTS];
};

static uint64_t dummy_clock(void *opaque)
{
    (void)opaque;
    return 0;
}

int psci_machine_load(struct psci_machine *m, const void *buf, size_t size, char *err,
                      size_t err_size)
{
#define FAIL(code, ...) do { rc = load_error(err, err_size, code, __VA_ARGS__); goto out; } while (0)
    int rc = 0;
    struct vcpu_rec *recs = NULL;
    uint64_t *mpidrs = NULL;
    struct psci_machine tmp = {.vcpus = NULL};
    bool tmp_live = false;

    if (m == NULL || buf == NULL)
        return load_error(err, err_size, -EINVAL, "PSCI state: no machine or no buffer");
    struct rbuf r = {buf, size, 0};
    if (size < HEADER_LEN)
        FAIL(-EINVAL, "PSCI state: truncated header (%zu of %u bytes)", size, HEADER_LEN);
    if (memcmp(r.p, STATE_MAGIC, 8) != 0)
        FAIL(-EINVAL, "PSCI state: bad magic (not a PSCISTAT image)");
    r.off = 8;
    uint32_t major = (uint32_t)get_le(&r, 2);
    uint32_t minor = (uint32_t)get_le(&r, 2);
    uint32_t total = (uint32_t)get_le(&r, 4);
    uint32_t crc = (uint32_t)get_le(&r, 4);
    uint32_t reserved = (uint32_t)get_le(&r, 4);
    if (major != STATE_MAJOR)
        FAIL(-EPROTO, "PSCI state: unsupported format %u.%u (this build reads %u.x)", major,
             minor, STATE_MAJOR);
    if (total != size)
        FAIL(-EINVAL, "PSCI state: image says %u bytes but %zu were given (truncated or padded)",
             total, size);
    if (image_crc(r.p, size) != crc)
        FAIL(-EINVAL, "PSCI state: CRC mismatch (corrupt image)");
    if (reserved != 0)
        FAIL(-EINVAL, "PSCI state: reserved header field is not zero");

    bool have_config = false, have_machine = false;
    uint32_t version = 0, options = 0, nr_vcpus = 0, boot_vcpu = 0, nr_ram = 0;
    struct psci_ram_range ram[PSCI_MAX_RAM_RANGES];
    int32_t suspender = -1;
    uint64_t calls = 0;
    unsigned int nr_seen = 0;

    while (r.off < size) {
        if (size - r.off < REC_HDR_LEN)
            FAIL(-ERANGE, "PSCI state: truncated record header at offset %zu", r.off);
        size_t at = r.off;
        uint32_t tag = (uint32_t)get_le(&r, 2);
        uint32_t rres = (uint32_t)get_le(&r, 2);
        uint32_t len = (uint32_t)get_le(&r, 4);
        if (len > size - r.off)
            FAIL(-ERANGE, "PSCI state: record %u at offset %zu overruns the image (%u bytes)",
                 tag, at, len);
        if (rres != 0)
            FAIL(-EINVAL, "PSCI state: record at offset %zu has non-zero reserved bits", at);
        size_t end = r.off + len;
        if (!have_config && tag != TAG_CONFIG)
            FAIL(-EINVAL, "PSCI state: first record is %u, expected CONFIG", tag);
        switch (tag) {
        case TAG_CONFIG:
            if (have_config)
                FAIL(-EINVAL, "PSCI state: duplicate CONFIG record");
            if (len < 20)
                FAIL(-ERANGE, "PSCI state: CONFIG record too short (%u bytes)", len);
            version = (uint32_t)get_le(&r, 4);
            options = (uint32_t)get_le(&r, 4);
            nr_vcpus = (uint32_t)get_le(&r, 4);
            boot_vcpu = (uint32_t)get_le(&r, 4);
            nr_ram = (uint32_t)get_le(&r, 4);
            if (nr_vcpus < 1 || nr_vcpus > PSCI_MAX_VCPUS)
                FAIL(-ERANGE, "PSCI state: %u vCPUs (must be 1..%d)", nr_vcpus, PSCI_MAX_VCPUS);
            if (nr_ram < 1 || nr_ram > PSCI_MAX_RAM_RANGES)
                FAIL(-ERANGE, "PSCI state: %u RAM ranges (must be 1..%d)", nr_ram,
                     PSCI_MAX_RAM_RANGES);
            if (len != CONFIG_LEN(nr_ram))
                FAIL(-ERANGE, "PSCI state: CONFIG record is %u bytes, expected %u", len,
                     CONFIG_LEN(nr_ram));
            for (uint32_t i = 0; i < nr_ram; i++) {
                ram[i].base = get_le(&r, 8);
                ram[i].size = get_le(&r, 8);
            }
            recs = calloc(nr_vcpus, sizeof(*recs));
            mpidrs = calloc(nr_vcpus, sizeof(*mpidrs));
            if (recs == NULL || mpidrs == NULL)
                FAIL(-ENOMEM, "PSCI state: out of memory for %u vCPUs", nr_vcpus);
            have_config = true;
            break;
        case TAG_MACHINE:
            if (have_machine)
                FAIL(-EINVAL, "PSCI state: duplicate MACHINE record");
            if (len != MACHINE_LEN)
                FAIL(-ERANGE, "PSCI state: MACHINE record is %u bytes, expected %u", len,
                     MACHINE_LEN);
            suspender = (int32_t)(uint32_t)get_le(&r, 4);
            if (get_le(&r, 4) != 0)
                FAIL(-EINVAL, "PSCI state: MACHINE record has non-zero reserved bits");
            calls = get_le(&r, 8);
            have_machine = true;
            break;
        case TAG_VCPU: {
            if (len != VCPU_LEN)
                FAIL(-ERANGE, "PSCI state: VCPU record is %u bytes, expected %u", len, VCPU_LEN);
            uint32_t idx = (uint32_t)get_le(&r, 4);
            if (idx >= nr_vcpus)
                FAIL(-ERANGE, "PSCI state: VCPU record for vCPU %u of %u", idx, nr_vcpus);
            struct vcpu_rec *v = &recs[idx];
            if (v->seen)
                FAIL(-EINVAL, "PSCI state: duplicate VCPU record for vCPU %u", idx);
            v->seen = true;
            nr_seen++;
            v->state = (uint8_t)get_le(&r, 1);
            v->allowed = (uint8_t)get_le(&r, 1);
            v->suspend = (uint8_t)get_le(&r, 1);
            v->pending = (uint8_t)get_le(&r, 1);
            v->mpidr = get_le(&r, 8);
            v->power_state = (uint32_t)get_le(&r, 4);
            uint32_t vres = (uint32_t)get_le(&r, 4);
            v->entry = get_le(&r, 8);
            v->context = get_le(&r, 8);
            v->elapsed = get_le(&r, 8);
            uint32_t slots = (uint32_t)get_le(&r, 4);
            for (int s = 0; s < PSCI_NR_STAT_SLOTS; s++) {
                v->count[s] = get_le(&r, 8);
                v->residency[s] = get_le(&r, 8);
            }
            if (vres != 0)
                FAIL(-EINVAL, "PSCI state: vCPU %u record has non-zero reserved bits", idx);
            if (slots != PSCI_NR_STAT_SLOTS)
                FAIL(-ERANGE, "PSCI state: vCPU %u has %u statistics slots, expected %d", idx,
                     slots, PSCI_NR_STAT_SLOTS);
            if (v->state > PSCI_CPU_SUSPENDED)
                FAIL(-ERANGE, "PSCI state: vCPU %u has invalid state %u", idx, v->state);
            if (v->allowed > 1 || v->pending > 1)
                FAIL(-ERANGE, "PSCI state: vCPU %u has an invalid flag value", idx);
            if (v->suspend > PSCI_SUSPEND_KIND_MAX)
                FAIL(-ERANGE, "PSCI state: vCPU %u has invalid suspend kind %u", idx,
                     v->suspend);
            if (v->state != PSCI_CPU_SUSPENDED && v->elapsed != 0)
                FAIL(-EINVAL, "PSCI state: vCPU %u is not suspended but has a suspend "
                              "residency", idx);
            mpidrs[idx] = v->mpidr;
            break;
        }
        default:
            break; /* unknown record (a later minor version): skip */
        }
        r.off = end;
    }
    if (!have_config)
        FAIL(-EINVAL, "PSCI state: no CONFIG record");
    if (!have_machine)
        FAIL(-EINVAL, "PSCI state: no MACHINE record");
    if (nr_seen != nr_vcpus)
        FAIL(-EINVAL, "PSCI state: %u VCPU records for %u vCPUs", nr_seen, nr_vcpus);

    struct psci_config cfg = {
        .version = version,
        .options = options,
        .nr_vcpus = nr_vcpus,
        .mpidrs = mpidrs,
        .boot_vcpu = boot_vcpu,
        .ram = ram,
        .nr_ram = nr_ram,
        .clock_ns = dummy_clock, /* replaced by psci_machine_set_clock() */
    };
    rc = psci_machine_init(&tmp, &cfg);
    if (rc != 0)
        FAIL(rc, "PSCI state: invalid configuration (version 0x%x, options 0x%x, %u vCPUs, "
                 "boot vCPU %u, %u RAM ranges, or bad/duplicate MPIDR)",
             version, options, nr_vcpus, boot_vcpu, nr_ram);
    tmp_live = true;
    tmp.clock_ns = NULL;
    tmp.clock_opaque = NULL;
    tmp.system_suspender = suspender;
    tmp.calls = calls;
    for (uint32_t i = 0; i < nr_vcpus; i++) {
        struct psci_vcpu *v = &tmp.vcpus[i];
        const struct vcpu_rec *s = &recs[i];
        v->state = (enum psci_cpu_state)s->state;
        v->allowed = s->allowed != 0;
        v->suspend = (enum psci_suspend_kind)s->suspend;
        v->system_action_pending = s->pending != 0;
        v->power_state = s->power_state;
        v->entry = s->entry;
        v->context = s->context;
        v->suspend_carry_ns = v->state == PSCI_CPU_SUSPENDED ? s->elapsed : 0;
        v->suspend_start_ns = 0;
        v->suspend_start_valid = false;
        memcpy(v->stat_count, s->count, sizeof(v->stat_count));
        memcpy(v->stat_residency_ns, s->residency, sizeof(v->stat_residency_ns));
    }
    const char *why = NULL;
    if (psci_machine_check(&tmp, &why) != 0)
        FAIL(-EINVAL, "PSCI state: inconsistent state: %s", why);
    *m = tmp;
    tmp_live = false;
    rc = 0;
out:
    if (tmp_live)
        psci_machine_release(&tmp);
    free(recs);
    free(mpidrs);
    return rc;
#undef FAIL
}
