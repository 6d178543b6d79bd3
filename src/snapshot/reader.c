/* reader.c — the snapshot reader: opens a snapshot from a descriptor, a path or memory, indexes
 * its sections with every structural check (bounds against the file size, known tags and
 * versions, order, duplicates) and hands out payloads only after their CRC matched. No length
 * read from the file drives an allocation beyond the file's size and limits.max_load. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "snapshot/format.h"
#include "snapshot/sections.h"

enum key_kind { KEY_NONE, KEY_SINGLE, KEY_INDEX, KEY_NAME, KEY_REPEAT };

struct known_tag {
    const char *tag;
    uint32_t version;      /* highest version read */
    enum key_kind key;
};

static const struct known_tag known_tags[] = {
    {SNAPSHOT_TAG_HEADER, SNAPSHOT_HEADER_VERSION, KEY_SINGLE},
    {SNAPSHOT_TAG_CONFIG, SNAPSHOT_CONFIG_VERSION, KEY_SINGLE},
    {SNAPSHOT_TAG_VCPU, SNAPSHOT_VCPU_VERSION, KEY_INDEX},
    {SNAPSHOT_TAG_VGIC, SNAPSHOT_VGIC_VERSION, KEY_SINGLE},
    {SNAPSHOT_TAG_COUNTER, SNAPSHOT_COUNTER_VERSION, KEY_SINGLE},
    {SNAPSHOT_TAG_PSCI, SNAPSHOT_PSCI_VERSION, KEY_SINGLE},
    {SNAPSHOT_TAG_DEVICE, SNAPSHOT_DEVICE_VERSION, KEY_NAME},
    {SNAPSHOT_TAG_SUSPEND, SNAPSHOT_SUSPEND_VERSION, KEY_SINGLE},
    {SNAPSHOT_TAG_RAM_INDEX, SNAPSHOT_RAM_VERSION, KEY_SINGLE},
    {SNAPSHOT_TAG_RAM_DATA, SNAPSHOT_RAM_VERSION, KEY_SINGLE},
    {SNAPSHOT_TAG_PAD, SNAPSHOT_PAD_VERSION, KEY_REPEAT},
    {SNAPSHOT_TAG_END, SNAPSHOT_END_VERSION, KEY_SINGLE},
};

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* "section 'VCPU' 3 at offset 1234" into buf. */
static const char *name_of(const struct snapshot_section *s, char *buf, size_t len)
{
    snprintf(buf, len, "section '%s'%s%s at offset %llu", s->tag, s->key[0] ? " " : "", s->key,
             (unsigned long long)s->offset);
    return buf;
}

static int rd(struct snapshot_reader *r, uint64_t off, void *buf, size_t n, char *err,
              size_t errlen)
{
    if (off > r->size || n > r->size - off)
        return snapshot_error(err, errlen, -EINVAL, "snapshot: read past the end of the file");
    if (r->mem) {
        memcpy(buf, r->mem + off, n);
        return 0;
    }
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t k = pread(r->fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return snapshot_error(err, errlen, k < 0 ? -errno : -EIO,
                                  "snapshot: reading at offset %llu: %s",
                                  (unsigned long long)off,
                                  k < 0 ? strerror(errno) : "the file shrank");
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static const struct known_tag *lookup(const char *tag)
{
    for (size_t i = 0; i < sizeof(known_tags) / sizeof(known_tags[0]); i++)
        if (memcmp(known_tags[i].tag, tag, 4) == 0)
            return &known_tags[i];
    return NULL;
}

/* The key of a VCPU (its index) or DEVC (its name) section, from the payload's first bytes. */
static int read_key(struct snapshot_reader *r, struct snapshot_section *s, enum key_kind kind,
                    char *err, size_t errlen)
{
    uint8_t b[2 + SNAPSHOT_MAX_NAME];
    char nm[160];
    if (kind == KEY_INDEX) {
        if (s->length < 8)
            return snapshot_error(err, errlen, -EINVAL, "%s: too short (%llu bytes)",
                                  name_of(s, nm, sizeof(nm)), (unsigned long long)s->length);
        int rc = rd(r, s->payload_offset, b, 4, err, errlen);
        if (rc)
            return rc;
        snprintf(s->key, sizeof(s->key), "%u", rd32(b));
        return 0;
    }
    if (s->length < 2)
        return snapshot_error(err, errlen, -EINVAL, "%s: too short (%llu bytes)",
                              name_of(s, nm, sizeof(nm)), (unsigned long long)s->length);
    int rc = rd(r, s->payload_offset, b, 2, err, errlen);
    if (rc)
        return rc;
    size_t n = (size_t)b[0] | (size_t)b[1] << 8;
    if (n == 0 || n > SNAPSHOT_MAX_NAME || n > s->length - 2)
        return snapshot_error(err, errlen, -EINVAL, "%s: bad device name length %zu",
                              name_of(s, nm, sizeof(nm)), n);
    rc = rd(r, s->payload_offset + 2, b + 2, n, err, errlen);
    if (rc)
        return rc;
    if (!snapshot_name_valid((const char *)b + 2, n))
        return snapshot_error(err, errlen, -EINVAL, "%s: invalid device name",
                              name_of(s, nm, sizeof(nm)));
    memcpy(s->key, b + 2, n);
    s->key[n] = '\0';
    return 0;
}

static int add_section(struct snapshot_reader *r, const struct snapshot_section *s,
                       unsigned int *cap, char *err, size_t errlen)
{
    if (r->nr_sections == *cap) {
        unsigned int ncap = *cap ? *cap * 2 : 16;
        struct snapshot_section *p = realloc(r->sections, ncap * sizeof(*p));
        if (!p)
            return snapshot_error(err, errlen, -ENOMEM, "snapshot: out of memory");
        r->sections = p;
        *cap = ncap;
    }
    r->sections[r->nr_sections++] = *s;
    return 0;
}

static int index_sections(struct snapshot_reader *r, char *err, size_t errlen)
{
    uint8_t h[SNAPSHOT_FILE_HEADER_SIZE];
    char nm[160];
    if (r->size < SNAPSHOT_FILE_HEADER_SIZE)
        return snapshot_error(err, errlen, -EINVAL, "snapshot: truncated file header "
                              "(%llu bytes)", (unsigned long long)r->size);
    int rc = rd(r, 0, h, sizeof(h), err, errlen);
    if (rc)
        return rc;
    if (memcmp(h, SNAPSHOT_MAGIC, 8) != 0)
        return snapshot_error(err, errlen, -EINVAL, "snapshot: not a pscivm snapshot (bad magic)");
    r->header.format_version = rd32(h + 8);
    if (r->header.format_version != SNAPSHOT_FORMAT_VERSION)
        return snapshot_error(err, errlen, -EPROTO, "snapshot: format version %u (this pscivm "
                              "reads version %u)", rd32(h + 8), SNAPSHOT_FORMAT_VERSION);
    if (rd32(h + 12) != 0)
        return snapshot_error(err, errlen, -EINVAL, "snapshot: reserved header field is not 0");

    unsigned int cap = 0;
    bool ended = false;
    for (uint64_t off = SNAPSHOT_FILE_HEADER_SIZE; !ended;) {
        if (off == r->size)
            return snapshot_error(err, errlen, -EINVAL, "snapshot: truncated at offset %llu "
                                  "(no END_ section)", (unsigned long long)off);
        if (r->size - off < SNAPSHOT_SECTION_HEADER_SIZE + SNAPSHOT_SECTION_TRAILER_SIZE)
            return snapshot_error(err, errlen, -EINVAL, "snapshot: truncated section header "
                                  "at offset %llu", (unsigned long long)off);
        if (r->nr_sections >= r->limits.max_sections)
            return snapshot_error(err, errlen, -E2BIG, "snapshot: more than %u sections",
                                  r->limits.max_sections);
        uint8_t sh[SNAPSHOT_SECTION_HEADER_SIZE];
        if ((rc = rd(r, off, sh, sizeof(sh), err, errlen)))
            return rc;
        struct snapshot_section s = {.offset = off, .payload_offset = off + sizeof(sh)};
        for (int i = 0; i < 4; i++) {
            char c = (char)sh[i];
            s.tag[i] = c >= 0x21 && c <= 0x7e ? c : '?';
        }
        s.version = rd32(sh + 4);
        s.length = rd64(sh + 8);
        if (memchr(s.tag, '?', 4) && memcmp(s.tag, sh, 4) != 0)
            return snapshot_error(err, errlen, -EINVAL, "%s: invalid tag bytes",
                                  name_of(&s, nm, sizeof(nm)));
        uint64_t room = r->size - off - sizeof(sh) - SNAPSHOT_SECTION_TRAILER_SIZE;
        if (s.length > room)
            return snapshot_error(err, errlen, -EINVAL, "%s: length %llu runs past the end of "
                                  "the file (%llu bytes left: truncated or corrupt)",
                                  name_of(&s, nm, sizeof(nm)), (unsigned long long)s.length,
                                  (unsigned long long)room);
        uint8_t c[4];
        if ((rc = rd(r, s.payload_offset + s.length, c, 4, err, errlen)))
            return rc;
        s.crc = rd32(c);
        off = s.payload_offset + s.length + SNAPSHOT_SECTION_TRAILER_SIZE;

        const struct known_tag *k = lookup(s.tag);
        if (!k) {
            if (s.tag[0] >= 'a' && s.tag[0] <= 'z' && r->nr_sections > 0)
                continue; /* ancillary: skipped */
            return snapshot_error(err, errlen, -EINVAL, "%s: unknown section",
                                  name_of(&s, nm, sizeof(nm)));
        }
        if (s.version == 0 || s.version > k->version)
            return snapshot_error(err, errlen, -EPROTO, "%s: version %u (this pscivm reads up "
                                  "to %u)", name_of(&s, nm, sizeof(nm)), s.version, k->version);
        if (r->nr_sections == 0 && strcmp(s.tag, SNAPSHOT_TAG_HEADER) != 0)
            return snapshot_error(err, errlen, -EINVAL, "%s: the first section must be HEAD",
                                  name_of(&s, nm, sizeof(nm)));
        if (k->key == KEY_INDEX || k->key == KEY_NAME)
            if ((rc = read_key(r, &s, k->key, err, errlen)))
                return rc;
        if (k->key != KEY_REPEAT && snapshot_reader_find_key(r, s.tag, s.key))
            return snapshot_error(err, errlen, -EINVAL, "%s: duplicate section",
                                  name_of(&s, nm, sizeof(nm)));
        if (strcmp(s.tag, SNAPSHOT_TAG_END) == 0) {
            if (s.length != 0)
                return snapshot_error(err, errlen, -EINVAL, "%s: END_ is not empty",
                                      name_of(&s, nm, sizeof(nm)));
            if (off != r->size)
                return snapshot_error(err, errlen, -EINVAL, "snapshot: %llu bytes after END_",
                                      (unsigned long long)(r->size - off));
            ended = true;
        }
        if ((rc = add_section(r, &s, &cap, err, errlen)))
            return rc;
    }
    if (!snapshot_reader_find(r, SNAPSHOT_TAG_RAM_INDEX, 0) !=
        !snapshot_reader_find(r, SNAPSHOT_TAG_RAM_DATA, 0))
        return snapshot_error(err, errlen, -EINVAL, "snapshot: RAMI and RAMD must come together");
    const uint8_t *p;
    size_t len;
    if ((rc = snapshot_reader_load(r, &r->sections[0], &p, &len, err, errlen)))
        return rc;
    uint32_t fv = r->header.format_version;
    rc = snapshot_header_parse(p, len, &r->header, err, errlen);
    r->header.format_version = fv;
    return rc;
}

static int open_common(struct snapshot_reader *r, const struct snapshot_limits *limits,
                       char *err, size_t errlen)
{
    r->limits.max_load = limits ? limits->max_load : SNAPSHOT_DEFAULT_MAX_LOAD;
    r->limits.max_sections = limits ? limits->max_sections : SNAPSHOT_DEFAULT_MAX_SECTIONS;
    int rc = index_sections(r, err, errlen);
    if (rc)
        snapshot_reader_release(r);
    return rc;
}

int snapshot_reader_open_fd(struct snapshot_reader *r, int fd,
                            const struct snapshot_limits *limits, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return snapshot_error(err, errlen, -errno, "snapshot: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return snapshot_error(err, errlen, -EINVAL, "snapshot: not a regular file");
    r->fd = fd;
    r->size = (uint64_t)st.st_size;
    return open_common(r, limits, err, errlen);
}

int snapshot_reader_open_path(struct snapshot_reader *r, const char *path,
                              const struct snapshot_limits *limits, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return snapshot_error(err, errlen, -errno, "snapshot %s: %s", path, strerror(errno));
    int rc = snapshot_reader_open_fd(r, fd, limits, err, errlen);
    if (rc) {
        close(fd);
        return rc;
    }
    r->own_fd = true;
    return 0;
}

int snapshot_reader_open_mem(struct snapshot_reader *r, const void *data, size_t len,
                             const struct snapshot_limits *limits, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    r->mem = data ? data : (const uint8_t *)"";
    r->size = data ? len : 0;
    return open_common(r, limits, err, errlen);
}

void snapshot_reader_release(struct snapshot_reader *r)
{
    for (unsigned int i = 0; i < r->nr_sections; i++)
        free(r->sections[i].loaded);
    free(r->sections);
    if (r->own_fd && r->fd >= 0)
        close(r->fd);
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

const struct snapshot_section *snapshot_reader_find(const struct snapshot_reader *r,
                                                    const char *tag, unsigned int n)
{
    for (unsigned int i = 0; i < r->nr_sections; i++)
        if (strcmp(r->sections[i].tag, tag) == 0 && n-- == 0)
            return &r->sections[i];
    return NULL;
}

unsigned int snapshot_reader_count(const struct snapshot_reader *r, const char *tag)
{
    unsigned int n = 0;
    for (unsigned int i = 0; i < r->nr_sections; i++)
        n += strcmp(r->sections[i].tag, tag) == 0;
    return n;
}

const struct snapshot_section *snapshot_reader_find_key(const struct snapshot_reader *r,
                                                        const char *tag, const char *key)
{
    for (unsigned int i = 0; i < r->nr_sections; i++)
        if (strcmp(r->sections[i].tag, tag) == 0 && strcmp(r->sections[i].key, key) == 0)
            return &r->sections[i];
    return NULL;
}

static struct snapshot_section *mut(struct snapshot_reader *r, const struct snapshot_section *s)
{
    if (!s || s < r->sections || s >= r->sections + r->nr_sections)
        return NULL;
    return &r->sections[s - r->sections];
}

/* Finish a payload CRC with the section header and compare. */
static int check_crc(struct snapshot_reader *r, struct snapshot_section *s, uint32_t crc,
                     char *err, size_t errlen)
{
    uint8_t h[SNAPSHOT_SECTION_HEADER_SIZE];
    int rc = rd(r, s->offset, h, sizeof(h), err, errlen);
    if (rc)
        return rc;
    crc = (uint32_t)crc32(crc, h, sizeof(h));
    if (crc != s->crc) {
        char nm[160];
        return snapshot_error(err, errlen, -EINVAL, "%s: CRC mismatch (stored %08x, computed "
                              "%08x): corrupt", name_of(s, nm, sizeof(nm)), s->crc, crc);
    }
    s->verified = true;
    return 0;
}

static uint32_t crc_buf(uint32_t crc, const uint8_t *p, uint64_t n)
{
    while (n > 0) {
        uInt k = (uInt)(n > (1u << 30) ? (1u << 30) : n);
        crc = (uint32_t)crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}

int snapshot_reader_verify(struct snapshot_reader *r, const struct snapshot_section *cs,
                           char *err, size_t errlen)
{
    struct snapshot_section *s = mut(r, cs);
    if (!s)
        return snapshot_error(err, errlen, -EINVAL, "snapshot: no such section");
    if (s->verified)
        return 0;
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
    if (r->mem)
        return check_crc(r, s, crc_buf(crc, r->mem + s->payload_offset, s->length), err, errlen);
    size_t chunk = 1u << 20;
    uint8_t *buf = malloc(chunk);
    if (!buf)
        return snapshot_error(err, errlen, -ENOMEM, "snapshot: out of memory");
    int rc = 0;
    for (uint64_t done = 0; done < s->length && !rc;) {
        size_t n = s->length - done < chunk ? (size_t)(s->length - done) : chunk;
        rc = rd(r, s->payload_offset + done, buf, n, err, errlen);
        crc = crc_buf(crc, buf, n);
        done += n;
    }
    free(buf);
    return rc ? rc : check_crc(r, s, crc, err, errlen);
}

int snapshot_reader_verify_all(struct snapshot_reader *r, char *err, size_t errlen)
{
    for (unsigned int i = 0; i < r->nr_sections; i++) {
        int rc = snapshot_reader_verify(r, &r->sections[i], err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

int snapshot_reader_load(struct snapshot_reader *r, const struct snapshot_section *cs,
                         const uint8_t **data, size_t *len, char *err, size_t errlen)
{
    struct snapshot_section *s = mut(r, cs);
    char nm[160];
    *data = NULL;
    *len = 0;
    if (!s)
        return snapshot_error(err, errlen, -EINVAL, "snapshot: no such section");
    if (s->length > r->limits.max_load)
        return snapshot_error(err, errlen, -EFBIG, "%s: %llu bytes is more than the limit of "
                              "%llu", name_of(s, nm, sizeof(nm)),
                              (unsigned long long)s->length,
                              (unsigned long long)r->limits.max_load);
    if (r->mem) {
        int rc = snapshot_reader_verify(r, s, err, errlen);
        if (rc)
            return rc;
        *data = r->mem + s->payload_offset;
        *len = (size_t)s->length;
        return 0;
    }
    if (!s->loaded) {
        uint8_t *buf = malloc(s->length ? (size_t)s->length : 1);
        if (!buf)
            return snapshot_error(err, errlen, -ENOMEM, "%s: out of memory",
                                  name_of(s, nm, sizeof(nm)));
        int rc = rd(r, s->payload_offset, buf, (size_t)s->length, err, errlen);
        if (!rc && !s->verified)
            rc = check_crc(r, s, crc_buf((uint32_t)crc32(0L, Z_NULL, 0), buf, s->length), err,
                           errlen);
        if (rc) {
            free(buf);
            return rc;
        }
        s->loaded = buf;
    }
    *data = s->loaded;
    *len = (size_t)s->length;
    return 0;
}

int snapshot_reader_pread(struct snapshot_reader *r, const struct snapshot_section *s,
                          uint64_t off, void *buf, size_t len, char *err, size_t errlen)
{
    if (!mut(r, s) || off > s->length || len > s->length - off)
        return snapshot_error(err, errlen, -EINVAL, "snapshot: read outside section '%s'",
                              s ? s->tag : "?");
    return rd(r, s->payload_offset + off, buf, len, err, errlen);
}
