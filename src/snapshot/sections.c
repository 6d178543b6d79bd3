/* sections.c — encoders and validating decoders of the small snapshot sections (HEAD, CNTR,
 * VCPU, VGIC, PSCI, DEVC; see sections.h), and the glue to the PSCI core's image and to
 * struct device's save/restore. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device.h"
#include "psci/psci.h"
#include "snapshot/sections.h"
#include "util/blob.h"

bool snapshot_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > SNAPSHOT_MAX_NAME)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* A u16-framed string of 1..SNAPSHOT_MAX_NAME printable ASCII bytes into out. */
static int get_str(struct blob_reader *b, char out[SNAPSHOT_MAX_NAME + 1], const char *what,
                   char *err, size_t errlen)
{
    uint16_t n;
    if (blob_get_u16(b, &n) || n == 0 || n > SNAPSHOT_MAX_NAME ||
        blob_get_bytes(b, out, n))
        return snapshot_error(err, errlen, -EINVAL, "section 'HEAD': bad %s", what);
    out[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (out[i] < 0x20 || out[i] > 0x7e)
            return snapshot_error(err, errlen, -EINVAL, "section 'HEAD': %s is not printable",
                                  what);
    return 0;
}

static bool str_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SNAPSHOT_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

int snapshot_header_put(struct snapshot_writer *w, const struct snapshot_header *h)
{
    if (!str_ok(h->host_release) || !str_ok(h->psci_mode) || !str_ok(h->pscivm_version)) {
        return snapshot_writer_fail(w, -EINVAL, "section 'HEAD': empty, too long or "
                                    "unprintable string");
    }
    snapshot_writer_begin(w, SNAPSHOT_TAG_HEADER, SNAPSHOT_HEADER_VERSION);
    snapshot_writer_put_u32(w, h->psci_version);
    snapshot_writer_put_u64(w, h->created_ns);
    snapshot_writer_put_str(w, h->host_release);
    snapshot_writer_put_str(w, h->psci_mode);
    snapshot_writer_put_str(w, h->pscivm_version);
    return snapshot_writer_end(w);
}

int snapshot_header_parse(const uint8_t *p, size_t len, struct snapshot_header *h, char *err,
                          size_t errlen)
{
    struct blob_reader b;
    struct snapshot_header t = {0};
    blob_reader_init(&b, p, len);
    blob_get_u32(&b, &t.psci_version);
    blob_get_u64(&b, &t.created_ns);
    int rc = get_str(&b, t.host_release, "host kernel release", err, errlen);
    if (!rc)
        rc = get_str(&b, t.psci_mode, "PSCI mode", err, errlen);
    if (!rc)
        rc = get_str(&b, t.pscivm_version, "pscivm version", err, errlen);
    if (rc)
        return rc;
    if (blob_reader_finish(&b))
        return snapshot_error(err, errlen, -EINVAL, "section 'HEAD': trailing bytes");
    if (strcmp(t.psci_mode, "user") != 0 && strcmp(t.psci_mode, "kernel") != 0)
        return snapshot_error(err, errlen, -EINVAL, "section 'HEAD': PSCI mode '%s' is neither "
                              "user nor kernel", t.psci_mode);
    if (!psci_version_is_supported(t.psci_version))
        return snapshot_error(err, errlen, -EINVAL, "section 'HEAD': unsupported PSCI version "
                              "0x%x", t.psci_version);
    t.format_version = h->format_version;
    *h = t;
    return 0;
}

int snapshot_counter_put(struct snapshot_writer *w, const struct snapshot_counter *c)
{
    snapshot_writer_begin_sized(w, SNAPSHOT_TAG_COUNTER, SNAPSHOT_COUNTER_VERSION, 36);
    snapshot_writer_put_u64(w, c->cntvct);
    snapshot_writer_put_u64(w, c->offset);
    snapshot_writer_put_u64(w, c->host_monotonic_ns);
    snapshot_writer_put_u64(w, c->host_realtime_ns);
    snapshot_writer_put_u32(w, c->frequency_hz);
    return snapshot_writer_end(w);
}

int snapshot_counter_parse(const uint8_t *p, size_t len, struct snapshot_counter *c, char *err,
                           size_t errlen)
{
    struct blob_reader b;
    struct snapshot_counter t;
    blob_reader_init(&b, p, len);
    blob_get_u64(&b, &t.cntvct);
    blob_get_u64(&b, &t.offset);
    blob_get_u64(&b, &t.host_monotonic_ns);
    blob_get_u64(&b, &t.host_realtime_ns);
    blob_get_u32(&b, &t.frequency_hz);
    if (blob_reader_finish(&b))
        return snapshot_error(err, errlen, -EINVAL, "section 'CNTR': %zu bytes, expected 36",
                              len);
    if (t.frequency_hz == 0)
        return snapshot_error(err, errlen, -EINVAL, "section 'CNTR': counter frequency is 0");
    *c = t;
    return 0;
}

/* ---- SUSP ---- */

int snapshot_suspend_put(struct snapshot_writer *w, const struct snapshot_suspended *s,
                         unsigned int n)
{
    snapshot_writer_begin_sized(w, SNAPSHOT_TAG_SUSPEND, SNAPSHOT_SUSPEND_VERSION,
                                4 + 24ull * n);
    snapshot_writer_put_u32(w, n);
    for (unsigned int i = 0; i < n; i++) {
        snapshot_writer_put_u32(w, s[i].vcpu);
        snapshot_writer_put_u32(w, s[i].kind);
        snapshot_writer_put_u64(w, s[i].entry);
        snapshot_writer_put_u64(w, s[i].context);
    }
    return snapshot_writer_end(w);
}

int snapshot_suspend_parse(const uint8_t *p, size_t len, uint32_t nr_vcpus,
                           struct snapshot_suspended *out, unsigned int max, unsigned int *n,
                           char *err, size_t errlen)
{
    struct blob_reader b;
    uint32_t count = 0;
    blob_reader_init(&b, p, len);
    blob_get_u32(&b, &count);
    if (blob_reader_error(&b) || count == 0 || count > max || len != 4 + 24ull * count)
        return snapshot_error(err, errlen, -EINVAL, "section 'SUSP': %zu bytes for %u "
                              "suspended vCPUs (1 to %u, 24 bytes each)", len, count, max);
    bool system = false;
    for (uint32_t i = 0; i < count; i++) {
        struct snapshot_suspended *e = &out[i];
        blob_get_u32(&b, &e->vcpu);
        blob_get_u32(&b, &e->kind);
        blob_get_u64(&b, &e->entry);
        blob_get_u64(&b, &e->context);
        if (e->kind < SNAPSHOT_SUSPEND_STANDBY || e->kind > SNAPSHOT_SUSPEND_SYSTEM)
            return snapshot_error(err, errlen, -EINVAL, "section 'SUSP': vCPU %u: unknown "
                                  "suspend kind %u", e->vcpu, e->kind);
        if (nr_vcpus && e->vcpu >= nr_vcpus)
            return snapshot_error(err, errlen, -EINVAL, "section 'SUSP': vCPU %u, the "
                                  "configuration has %u vCPUs", e->vcpu, nr_vcpus);
        for (uint32_t k = 0; k < i; k++)
            if (out[k].vcpu == e->vcpu)
                return snapshot_error(err, errlen, -EINVAL, "section 'SUSP': vCPU %u twice",
                                      e->vcpu);
        system |= e->kind == SNAPSHOT_SUSPEND_SYSTEM;
    }
    if (system && count != 1)
        return snapshot_error(err, errlen, -EINVAL, "section 'SUSP': a SYSTEM_SUSPEND with %u "
                              "other suspended vCPUs (every other vCPU must be off)", count - 1);
    if (blob_reader_finish(&b))
        return snapshot_error(err, errlen, -EINVAL, "section 'SUSP': trailing bytes");
    *n = count;
    return 0;
}

/* ---- records ---- */

int snapshot_records_next(struct snapshot_records *it, struct snapshot_record *rec)
{
    struct blob_reader b;
    if (it->pos >= it->len)
        return 0;
    blob_reader_init(&b, it->p + it->pos, it->len - it->pos);
    blob_get_u64(&b, &rec->id);
    blob_get_u32(&b, &rec->size);
    if (blob_reader_error(&b) || rec->size > blob_reader_remaining(&b))
        return 0; /* cannot happen on a parsed list */
    rec->data = it->p + it->pos + 12;
    it->pos += 12 + (size_t)rec->size;
    return 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Validate a record list: framing, sizes 1..max, unique ids. */
static int parse_records(const uint8_t *p, size_t len, uint32_t max, struct snapshot_records *it,
                         const char *what, char *err, size_t errlen)
{
    size_t n = 0;
    for (size_t pos = 0; pos < len; n++) {
        if (len - pos < 12)
            return snapshot_error(err, errlen, -EINVAL, "%s: truncated record %zu", what, n);
        uint32_t size = (uint32_t)p[pos + 8] | (uint32_t)p[pos + 9] << 8 |
                        (uint32_t)p[pos + 10] << 16 | (uint32_t)p[pos + 11] << 24;
        if (size == 0 || size > max || size > len - pos - 12)
            return snapshot_error(err, errlen, -EINVAL, "%s: record %zu has a bad size %u", what,
                                  n, size);
        pos += 12 + size;
    }
    uint64_t *ids = malloc((n ? n : 1) * sizeof(*ids));
    if (!ids)
        return snapshot_error(err, errlen, -ENOMEM, "%s: out of memory", what);
    struct snapshot_records t = {.p = p, .len = len};
    struct snapshot_record rec;
    for (size_t i = 0; snapshot_records_next(&t, &rec); i++)
        ids[i] = rec.id;
    qsort(ids, n, sizeof(*ids), cmp_u64);
    int rc = 0;
    for (size_t i = 1; i < n && !rc; i++)
        if (ids[i] == ids[i - 1])
            rc = snapshot_error(err, errlen, -EINVAL, "%s: duplicate id 0x%llx", what,
                                (unsigned long long)ids[i]);
    free(ids);
    if (!rc)
        *it = (struct snapshot_records){.p = p, .len = len, .count = (unsigned int)n};
    return rc;
}

static int put_record(struct snapshot_writer *w, uint64_t id, const void *data, uint32_t size)
{
    snapshot_writer_put_u64(w, id);
    snapshot_writer_put_u32(w, size);
    return snapshot_writer_write(w, data, size);
}

int snapshot_vcpu_begin(struct snapshot_writer *w, uint32_t index, uint32_t mp_state)
{
    snapshot_writer_begin(w, SNAPSHOT_TAG_VCPU, SNAPSHOT_VCPU_VERSION);
    snapshot_writer_put_u32(w, index);
    return snapshot_writer_put_u32(w, mp_state);
}

int snapshot_vcpu_put_reg(struct snapshot_writer *w, uint64_t id, const void *value,
                          uint32_t size)
{
    if (size == 0 || size > SNAPSHOT_MAX_REG_SIZE) {
        return snapshot_writer_fail(w, -EINVAL, "section 'VCPU': register 0x%llx has size %u",
                                    (unsigned long long)id, size);
    }
    return put_record(w, id, value, size);
}

int snapshot_vcpu_parse(const uint8_t *p, size_t len, struct snapshot_vcpu *v, char *err,
                        size_t errlen)
{
    if (len < 8)
        return snapshot_error(err, errlen, -EINVAL, "section 'VCPU': truncated");
    struct snapshot_vcpu t;
    t.index = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    t.mp_state = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                 (uint32_t)p[7] << 24;
    if (t.index >= PSCI_MAX_VCPUS)
        return snapshot_error(err, errlen, -EINVAL, "section 'VCPU': index %u out of range",
                              t.index);
    char what[32];
    snprintf(what, sizeof(what), "section 'VCPU' %u", t.index);
    int rc = parse_records(p + 8, len - 8, SNAPSHOT_MAX_REG_SIZE, &t.regs, what, err, errlen);
    if (!rc)
        *v = t;
    return rc;
}

int snapshot_vgic_begin(struct snapshot_writer *w)
{
    return snapshot_writer_begin(w, SNAPSHOT_TAG_VGIC, SNAPSHOT_VGIC_VERSION);
}

int snapshot_vgic_put(struct snapshot_writer *w, uint64_t id, const void *data, uint32_t size)
{
    if (size == 0) {
        return snapshot_writer_fail(w, -EINVAL, "section 'VGIC': blob 0x%llx is empty",
                                    (unsigned long long)id);
    }
    return put_record(w, id, data, size);
}

int snapshot_vgic_parse(const uint8_t *p, size_t len, struct snapshot_records *blobs, char *err,
                        size_t errlen)
{
    return parse_records(p, len, UINT32_MAX, blobs, "section 'VGIC'", err, errlen);
}

/* ---- PSCI ---- */

int snapshot_psci_save(struct snapshot_writer *w, const struct psci_machine *m, char *err,
                       size_t errlen)
{
    long need = psci_machine_save(m, NULL, 0);
    if (need < 0)
        return snapshot_error(err, errlen, (int)need, "PSCI core: cannot save its state");
    uint8_t *buf = malloc((size_t)need);
    if (!buf)
        return snapshot_error(err, errlen, -ENOMEM, "PSCI core: out of memory");
    long got = psci_machine_save(m, buf, (size_t)need);
    int rc = got == need ? snapshot_writer_section(w, SNAPSHOT_TAG_PSCI, SNAPSHOT_PSCI_VERSION,
                                                   buf, (size_t)need)
                         : -EIO;
    free(buf);
    if (rc == -EIO)
        return snapshot_error(err, errlen, rc, "PSCI core: image size changed while saving");
    return snapshot_writer_status(w, err, errlen);
}

int snapshot_psci_load(struct snapshot_reader *r, struct psci_machine *m, char *err,
                       size_t errlen)
{
    const struct snapshot_section *s = snapshot_reader_find(r, SNAPSHOT_TAG_PSCI, 0);
    if (!s)
        return snapshot_error(err, errlen, -ENOENT, "snapshot: no PSCI section");
    const uint8_t *p;
    size_t len;
    int rc = snapshot_reader_load(r, s, &p, &len, err, errlen);
    if (rc)
        return rc;
    char why[200] = "";
    rc = psci_machine_load(m, p, len, why, sizeof(why));
    if (rc)
        return snapshot_error(err, errlen, rc, "section 'PSCI': %s", why);
    return 0;
}

/* ---- DEVC ---- */

int snapshot_device_put(struct snapshot_writer *w, const char *name, const void *state,
                        size_t len)
{
    if (!snapshot_name_valid(name, strlen(name))) {
        return snapshot_writer_fail(w, -EINVAL, "section 'DEVC': invalid device name");
    }
    snapshot_writer_begin_sized(w, SNAPSHOT_TAG_DEVICE, SNAPSHOT_DEVICE_VERSION,
                                2 + strlen(name) + len);
    snapshot_writer_put_str(w, name);
    snapshot_writer_write(w, state, len);
    return snapshot_writer_end(w);
}

int snapshot_device_save(struct snapshot_writer *w, const struct device *dev, char *err,
                         size_t errlen)
{
    struct blob_writer b;
    blob_writer_init(&b);
    int rc = device_save(dev, &b, err, errlen);
    if (!rc)
        rc = blob_writer_error(&b);
    if (rc) {
        blob_writer_release(&b);
        return rc == -ENOMEM ? snapshot_error(err, errlen, rc, "%s: out of memory", dev->name)
                             : rc;
    }
    snapshot_device_put(w, dev->name, b.data, b.len);
    blob_writer_release(&b);
    return snapshot_writer_status(w, err, errlen);
}

int snapshot_device_parse(const uint8_t *p, size_t len, char name[SNAPSHOT_MAX_NAME + 1],
                          const uint8_t **state, size_t *state_len, char *err, size_t errlen)
{
    size_t n = len >= 2 ? ((size_t)p[0] | (size_t)p[1] << 8) : 0;
    if (n == 0 || n > SNAPSHOT_MAX_NAME || n > len - 2 ||
        !snapshot_name_valid((const char *)p + 2, n))
        return snapshot_error(err, errlen, -EINVAL, "section 'DEVC': bad device name");
    memcpy(name, p + 2, n);
    name[n] = '\0';
    *state = p + 2 + n;
    *state_len = len - 2 - n;
    return 0;
}

int snapshot_device_restore(struct snapshot_reader *r, const struct device *dev, char *err,
                            size_t errlen)
{
    const struct snapshot_section *s = snapshot_reader_find_key(r, SNAPSHOT_TAG_DEVICE,
                                                                dev->name);
    if (!s)
        return snapshot_error(err, errlen, -ENOENT, "snapshot: no state for device '%s'",
                              dev->name);
    const uint8_t *p, *state;
    size_t len, state_len;
    char name[SNAPSHOT_MAX_NAME + 1];
    int rc = snapshot_reader_load(r, s, &p, &len, err, errlen);
    if (!rc)
        rc = snapshot_device_parse(p, len, name, &state, &state_len, err, errlen);
    if (rc)
        return rc;
    struct blob_reader b;
    blob_reader_init(&b, state, state_len);
    return device_restore(dev, &b, err, errlen);
}
