/* test_snapshot_format.c — the snapshot file format (src/snapshot/format.h, sections.h,
 * config.h): a round trip of every section kind through a file descriptor; a reader that refuses
 * every truncation, every flipped byte, a wrong magic, a future format or section version,
 * duplicate and unknown sections and oversized lengths with a message naming the section, never
 * a crash (ASan in make check-unit); writer errors on a dead socket and a sealed memfd. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <zlib.h>
#include <cmocka.h>

#include "snapshot_fixture.h"

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* Recompute the CRC of the section whose header is at `off` (payload length from its header). */
static void recrc(uint8_t *buf, size_t off)
{
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--)
        len = len << 8 | buf[off + 8 + i];
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, buf + off + 16, (uInt)len);
    crc = crc32(crc, buf + off, 16);
    put32(buf + off + 16 + len, (uint32_t)crc);
}

/* File offset of the n-th section with this tag in a valid snapshot. */
static size_t section_at(const uint8_t *buf, size_t len, const char *tag, unsigned int n)
{
    struct snapshot_reader r;
    char err[256];
    if (snapshot_reader_open_mem(&r, buf, len, NULL, err, sizeof(err)))
        fail_msg("open: %s", err);
    const struct snapshot_section *s = snapshot_reader_find(&r, tag, n);
    assert_non_null(s);
    size_t off = (size_t)s->offset;
    snapshot_reader_release(&r);
    return off;
}

static void expect_refused(const uint8_t *buf, size_t len, const char *what, const char *needle)
{
    uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees any overread */
    memcpy(copy, buf, len);
    char err[256] = "";
    int rc = snapshot_check_bytes(copy, len, err, sizeof(err));
    if (rc == 0)
        fail_msg("%s: accepted", what);
    if (err[0] == '\0')
        fail_msg("%s: refused (%d) without a message", what, rc);
    if (needle && !strstr(err, needle))
        fail_msg("%s: message '%s' does not mention '%s'", what, err, needle);
    free(copy);
}

static void test_snapshot_format__round_trip_every_section(void **state)
{
    (void)state;
    char err[256];
    uint8_t *ram = malloc(SF_RAM_SIZE), *back = mmap(NULL, SF_RAM_SIZE, PROT_READ | PROT_WRITE,
                                                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    sf_fill_ram(ram, SF_RAM_SIZE, 1);
    char path[] = "/tmp/test_snapshot_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    struct snapshot_writer w;
    assert_int_equal(snapshot_writer_init(&w, fd, err, sizeof(err)), 0);
    sf_write_all(&w, ram, SNAPSHOT_RAM_ZSTD);
    assert_int_equal(snapshot_writer_finish(&w, err, sizeof(err)), 0);
    snapshot_writer_release(&w);
    close(fd);

    struct snapshot_reader r;
    if (snapshot_reader_open_path(&r, path, NULL, err, sizeof(err)))
        fail_msg("open: %s", err);
    assert_int_equal(snapshot_reader_verify_all(&r, err, sizeof(err)), 0);
    struct snapshot_header h = sf_header();
    assert_int_equal(r.header.format_version, SNAPSHOT_FORMAT_VERSION);
    assert_string_equal(r.header.host_release, h.host_release);
    assert_string_equal(r.header.psci_mode, "user");
    assert_string_equal(r.header.pscivm_version, h.pscivm_version);
    assert_int_equal(r.header.psci_version, PSCI_VERSION_1_3);
    assert_int_equal(r.header.created_ns, h.created_ns);
    assert_string_equal(r.sections[0].tag, "HEAD");
    assert_string_equal(r.sections[r.nr_sections - 1].tag, "END_");

    struct snapshot_config c, want;
    sf_config(&want);
    assert_int_equal(snapshot_config_load(&r, &c, err, sizeof(err)), 0);
    assert_int_equal(c.nr_vcpus, SF_NR_VCPUS);
    assert_memory_equal(c.mpidrs, want.mpidrs, sizeof(sf_mpidrs));
    assert_int_equal(c.ram_base, SF_RAM_BASE);
    assert_int_equal(c.ram_size, SF_RAM_SIZE);
    assert_int_equal(c.psci_version, PSCI_VERSION_1_3);
    assert_string_equal(c.psci_mode, "user");
    assert_int_equal(c.nr_devices, 2);
    assert_string_equal(c.devices[1].name, "rtc");
    assert_string_equal(c.devices[1].type, "pl031");
    assert_int_equal(c.devices[1].base, 0x9010000);
    assert_int_equal(c.devices[1].spi, 2);
    assert_int_equal(c.nr_disks, 1);
    assert_string_equal(c.disks[0].path, want.disks[0].path);
    assert_string_equal(c.disks[0].identity, want.disks[0].identity);
    assert_int_equal(c.disks[0].size, 1 << 20);
    assert_string_equal(c.cmdline, want.cmdline);
    assert_string_equal(c.kernel, want.kernel);
    assert_string_equal(c.kernel_identity, want.kernel_identity);
    assert_string_equal(c.initrd, want.initrd);
    assert_string_equal(c.initrd_identity, want.initrd_identity);
    assert_null(c.payload);
    snapshot_config_release(&c);

    const uint8_t *p;
    size_t len;
    assert_int_equal(snapshot_reader_count(&r, SNAPSHOT_TAG_VCPU), SF_NR_VCPUS);
    for (uint32_t i = 0; i < SF_NR_VCPUS; i++) {
        char key[8];
        snprintf(key, sizeof(key), "%u", i);
        const struct snapshot_section *s = snapshot_reader_find_key(&r, "VCPU", key);
        assert_non_null(s);
        assert_int_equal(snapshot_reader_load(&r, s, &p, &len, err, sizeof(err)), 0);
        struct snapshot_vcpu v;
        assert_int_equal(snapshot_vcpu_parse(p, len, &v, err, sizeof(err)), 0);
        assert_int_equal(v.index, i);
        assert_int_equal(v.mp_state, i);
        assert_int_equal(v.regs.count, 4);
        struct snapshot_record reg;
        for (uint64_t k = 0; snapshot_records_next(&v.regs, &reg); k++) {
            assert_int_equal(reg.id, 0x6030000000100000ull + k * 2);
            assert_int_equal(reg.size, k == 3 ? 16 : 8);
            assert_int_equal(reg.data[reg.size - 1], 0x10 * i + k);
        }
    }
    const struct snapshot_section *s = snapshot_reader_find(&r, "VGIC", 0);
    assert_int_equal(snapshot_reader_load(&r, s, &p, &len, err, sizeof(err)), 0);
    struct snapshot_records blobs;
    assert_int_equal(snapshot_vgic_parse(p, len, &blobs, err, sizeof(err)), 0);
    assert_int_equal(blobs.count, 3);
    struct snapshot_record rec;
    for (uint64_t k = 0; snapshot_records_next(&blobs, &rec); k++) {
        assert_int_equal(rec.id, 0x100 + k);
        assert_memory_equal(rec.data, sf_vgic_blob[k], 24);
    }
    s = snapshot_reader_find(&r, "CNTR", 0);
    assert_int_equal(snapshot_reader_load(&r, s, &p, &len, err, sizeof(err)), 0);
    struct snapshot_counter cnt;
    assert_int_equal(snapshot_counter_parse(p, len, &cnt, err, sizeof(err)), 0);
    assert_int_equal(cnt.cntvct, 123456789);
    assert_int_equal(cnt.offset, 42);
    assert_int_equal(cnt.frequency_hz, 62500000);
    struct psci_machine m;
    assert_int_equal(snapshot_psci_load(&r, &m, err, sizeof(err)), 0);
    assert_int_equal(m.nr_vcpus, SF_NR_VCPUS);
    assert_int_equal(psci_find_vcpu(&m, 0x100), 1);
    psci_machine_release(&m);
    struct sf_dev d1 = {0}, d2 = {0}, d3 = {0};
    struct device dev1 = sf_device(&d1, "uart"), dev2 = sf_device(&d2, "rtc"),
                  dev3 = sf_device(&d3, "missing");
    assert_int_equal(snapshot_device_restore(&r, &dev1, err, sizeof(err)), 0);
    assert_int_equal(snapshot_device_restore(&r, &dev2, err, sizeof(err)), 0);
    assert_int_equal(d1.value, 0xdeadbeef);
    assert_int_equal(d2.value, 7);
    assert_int_equal(snapshot_device_restore(&r, &dev3, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "missing"));
    assert_int_equal(snapshot_ram_fill(&r, back, SF_RAM_SIZE, err, sizeof(err)), 0);
    assert_memory_equal(back, ram, SF_RAM_SIZE);
    snapshot_reader_release(&r);
    unlink(path);
    munmap(back, SF_RAM_SIZE);
    free(ram);
}

static void test_snapshot_format__check_bytes_accepts_both_encodings(void **state)
{
    (void)state;
    char err[256] = "";
    for (int enc = 0; enc < 2; enc++) {
        size_t len;
        uint8_t *buf = sf_build((enum snapshot_ram_encoding)enc, &len);
        if (snapshot_check_bytes(buf, len, err, sizeof(err)))
            fail_msg("encoding %d: %s", enc, err);
        free(buf);
    }
}

static void test_snapshot_format__truncation_everywhere(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    for (size_t cut = 0; cut < len; cut++)
        expect_refused(buf, cut, "truncated", NULL);
    /* one byte more is refused too */
    uint8_t *more = calloc(1, len + 1);
    memcpy(more, buf, len);
    expect_refused(more, len + 1, "trailing byte", "after END_");
    free(more);
    free(buf);
}

static void test_snapshot_format__flip_every_byte(void **state)
{
    (void)state;
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    for (int enc = 0; enc < 2; enc++) {
        size_t len;
        uint8_t *buf = sf_build((enum snapshot_ram_encoding)enc, &len);
        size_t data = section_at(buf, len, "RAMD", 0), data_end = section_at(buf, len, "RAMI", 0);
        for (size_t i = 0; i < len; i++)
            for (size_t k = 0; k < sizeof(masks); k++) {
                /* raw page data is large and uniform: one mask, every 97th byte (and its ends) */
                if (enc == SNAPSHOT_RAM_RAW && i > data + 32 && i + 32 < data_end &&
                    (k > 0 || i % 97))
                    continue;
                buf[i] ^= masks[k];
                expect_refused(buf, len, "flipped", NULL);
                buf[i] ^= masks[k];
            }
        free(buf);
    }
}

static void test_snapshot_format__bad_magic_and_versions(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    char err[256];
    buf[0] = 'X';
    expect_refused(buf, len, "magic", "bad magic");
    buf[0] = 'P';
    put32(buf + 8, SNAPSHOT_FORMAT_VERSION + 1);
    assert_int_equal(snapshot_check_bytes(buf, len, err, sizeof(err)), -EPROTO);
    assert_non_null(strstr(err, "format version 2"));
    put32(buf + 8, SNAPSHOT_FORMAT_VERSION);
    put32(buf + 12, 1);
    expect_refused(buf, len, "reserved", "reserved");
    put32(buf + 12, 0);
    /* a future section version, CRC fixed up: refused with the section's name */
    size_t at = section_at(buf, len, "CNTR", 0);
    put32(buf + at + 4, 2);
    recrc(buf, at);
    assert_int_equal(snapshot_check_bytes(buf, len, err, sizeof(err)), -EPROTO);
    assert_non_null(strstr(err, "'CNTR'"));
    assert_non_null(strstr(err, "version 2"));
    put32(buf + at + 4, 0);
    recrc(buf, at);
    expect_refused(buf, len, "version 0", "'CNTR'");
    put32(buf + at + 4, 1);
    recrc(buf, at);
    assert_int_equal(snapshot_check_bytes(buf, len, err, sizeof(err)), 0);
    /* unknown tags: upper case refused, lower case (ancillary) skipped */
    memcpy(buf + at, "CNTX", 4);
    recrc(buf, at);
    expect_refused(buf, len, "unknown tag", "unknown section");
    memcpy(buf + at, "cntr", 4);
    recrc(buf, at);
    assert_int_equal(snapshot_check_bytes(buf, len, err, sizeof(err)), 0);
    memcpy(buf + at, "CN\001R", 4);
    recrc(buf, at);
    expect_refused(buf, len, "unprintable tag", "invalid tag");
    free(buf);
}

/* Rename section `from` (n-th) to `to`, CRC fixed: a duplicate when `to` exists already. */
static void expect_duplicate(const char *from, unsigned int n, const char *to, const char *key)
{
    size_t len;
    uint8_t *buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    size_t at = section_at(buf, len, from, n);
    memcpy(buf + at, to, 4);
    recrc(buf, at);
    char what[64];
    snprintf(what, sizeof(what), "duplicate %s", to);
    expect_refused(buf, len, what, "duplicate section");
    expect_refused(buf, len, what, key);
    free(buf);
}

static void test_snapshot_format__duplicates(void **state)
{
    (void)state;
    expect_duplicate("CNTR", 0, "CONF", "'CONF'");
    expect_duplicate("VGIC", 0, "HEAD", "'HEAD'");
    /* same vCPU index twice, same device name twice */
    size_t len;
    uint8_t *buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    size_t at = section_at(buf, len, "VCPU", 1);
    put32(buf + at + 16, 0);
    recrc(buf, at);
    expect_refused(buf, len, "duplicate vCPU", "'VCPU' 0");
    free(buf);
    buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    at = section_at(buf, len, "DEVC", 1);
    assert_memory_equal(buf + at + 18, "rtc", 3);
    memcpy(buf + at + 16, "\004\000uar", 5); /* "rtc" (3) -> "uart" (4): the state shifts */
    buf[at + 21] = 't';
    recrc(buf, at);
    expect_refused(buf, len, "duplicate device", "'DEVC' uart");
    expect_refused(buf, len, "duplicate device", "duplicate section");
    free(buf);
    /* HEAD must come first, END_ last */
    buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    memcpy(buf + 16, "CNTR", 4);
    recrc(buf, 16);
    expect_refused(buf, len, "no HEAD", "first section must be HEAD");
    free(buf);
}

static void test_snapshot_format__oversized_lengths(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    size_t at = section_at(buf, len, "CONF", 0);
    static const uint64_t huge[] = {UINT64_MAX, UINT64_MAX - 3, 1ull << 62, 1ull << 40};
    for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, buf, len);
        put64(copy + at + 8, huge[i]);
        expect_refused(copy, len, "huge length", "runs past the end");
        free(copy);
    }
    /* a section within the file but larger than the reader's limit */
    char err[256];
    struct snapshot_reader r;
    struct snapshot_limits lim = {.max_load = 64, .max_sections = 100}; /* HEAD fits */
    assert_int_equal(snapshot_reader_open_mem(&r, buf, len, &lim, err, sizeof(err)), 0);
    const uint8_t *p;
    size_t n;
    assert_int_equal(snapshot_reader_load(&r, snapshot_reader_find(&r, "CONF", 0), &p, &n, err,
                                          sizeof(err)), -EFBIG);
    assert_non_null(strstr(err, "'CONF'"));
    snapshot_reader_release(&r);
    /* too many sections */
    lim = (struct snapshot_limits){.max_load = 1 << 20, .max_sections = 3};
    assert_int_equal(snapshot_reader_open_mem(&r, buf, len, &lim, err, sizeof(err)), -E2BIG);
    free(buf);
}

static void test_snapshot_format__bad_contents_with_valid_crc(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    /* a vCPU register with size 0; a vCPU index the configuration does not have */
    size_t at = section_at(buf, len, "VCPU", 0);
    put32(buf + at + 16 + 8 + 8, 0);
    recrc(buf, at);
    expect_refused(buf, len, "register size 0", "bad size");
    free(buf);
    buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    at = section_at(buf, len, "VCPU", 1);
    put32(buf + at + 16, 5);
    recrc(buf, at);
    expect_refused(buf, len, "vCPU 5", "has 2 vCPUs");
    free(buf);
    /* JSON that is not an object; a PSCI image that does not load; a counter frequency of 0 */
    buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    at = section_at(buf, len, "CONF", 0);
    buf[at + 16] = '[';
    recrc(buf, at);
    expect_refused(buf, len, "bad JSON", "'CONF'");
    free(buf);
    buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    at = section_at(buf, len, "PSCI", 0);
    buf[at + 16] ^= 1;
    recrc(buf, at);
    expect_refused(buf, len, "bad PSCI image", "'PSCI'");
    free(buf);
    buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    at = section_at(buf, len, "CNTR", 0);
    put32(buf + at + 16 + 32, 0);
    recrc(buf, at);
    expect_refused(buf, len, "frequency 0", "frequency");
    free(buf);
}

static void test_snapshot_format__large_sections_are_backpatched(void **state)
{
    (void)state;
    char err[256];
    int fd = memfd_create("snap", MFD_CLOEXEC);
    size_t big = 3u << 20;
    uint8_t *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 7 + (i >> 12));
    struct snapshot_writer w;
    struct snapshot_header h = sf_header();
    assert_int_equal(snapshot_writer_init(&w, fd, err, sizeof(err)), 0);
    snapshot_header_put(&w, &h);
    snapshot_writer_begin(&w, "vgic", 1); /* ancillary, unknown: fine for the format */
    for (size_t off = 0; off < big; off += 100000)
        snapshot_writer_write(&w, data + off, big - off < 100000 ? big - off : 100000);
    snapshot_writer_end(&w);
    assert_int_equal(snapshot_writer_finish(&w, err, sizeof(err)), 0);
    snapshot_writer_release(&w);
    struct snapshot_reader r;
    assert_int_equal(snapshot_reader_open_fd(&r, fd, NULL, err, sizeof(err)), 0);
    assert_int_equal(snapshot_reader_verify_all(&r, err, sizeof(err)), 0);
    assert_int_equal(r.nr_sections, 2); /* the ancillary section is skipped */
    snapshot_reader_release(&r);
    free(data);
    close(fd);
}

static void test_snapshot_format__writer_errors(void **state)
{
    (void)state;
    char err[256] = "";
    struct snapshot_header h = sf_header();
    struct snapshot_writer w;
    size_t big = 2u << 20;
    uint8_t *data = calloc(1, big);
    /* a socket whose peer is gone: EPIPE, not a signal */
    signal(SIGPIPE, SIG_IGN);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    assert_int_equal(snapshot_writer_init(&w, sv[0], err, sizeof(err)), 0);
    snapshot_header_put(&w, &h);
    snapshot_writer_section(&w, "PAD_", 1, data, big);
    assert_int_equal(snapshot_writer_finish(&w, err, sizeof(err)), -EPIPE);
    assert_non_null(strstr(err, "PAD_"));
    snapshot_writer_release(&w);
    close(sv[0]);
    /* a memfd that cannot grow past 64 KiB: the "disk" is full */
    int fd = memfd_create("full", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_int_equal(ftruncate(fd, 65536), 0);
    assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), 0);
    assert_int_equal(snapshot_writer_init(&w, fd, err, sizeof(err)), 0);
    snapshot_header_put(&w, &h);
    snapshot_writer_section(&w, "PAD_", 1, data, big);
    assert_int_equal(snapshot_writer_finish(&w, err, sizeof(err)), -EPERM);
    snapshot_writer_release(&w);
    close(fd);
    /* a pipe cannot take a backpatched section larger than the buffer */
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    assert_int_equal(fcntl(pfd[1], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(snapshot_writer_init(&w, pfd[1], err, sizeof(err)), 0);
    snapshot_writer_begin(&w, "PAD_", 1);
    snapshot_writer_write(&w, data, 1000);
    assert_int_equal(snapshot_writer_end(&w), 0); /* still in the buffer: patched there */
    snapshot_writer_begin(&w, "PAD_", 1);
    snapshot_writer_write(&w, data, big); /* the pipe fills: EAGAIN */
    assert_true(snapshot_writer_end(&w) < 0);
    snapshot_writer_release(&w);
    close(pfd[0]);
    close(pfd[1]);
    /* misuse is an error, not a crash */
    fd = memfd_create("misuse", MFD_CLOEXEC);
    assert_int_equal(snapshot_writer_init(&w, fd, err, sizeof(err)), 0);
    assert_int_equal(snapshot_writer_write(&w, data, 1), -EINVAL);
    snapshot_writer_release(&w);
    assert_int_equal(write(fd, "x", 1), 1);
    assert_int_equal(snapshot_writer_init(&w, fd, err, sizeof(err)), -EINVAL); /* offset > 0 */
    snapshot_writer_release(&w);
    close(fd);
    free(data);
}

/* With the CRC recomputed, every decoder sees every single-byte mutation of its payload: each
 * is refused with a message or accepted as a valid snapshot, never a crash or an overread. */
static void test_snapshot_format__mutate_with_valid_crc(void **state)
{
    (void)state;
    static const uint8_t values[] = {0x00, 0xff, 0x80};
    size_t len;
    uint8_t *buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    struct snapshot_reader r;
    char err[256];
    assert_int_equal(snapshot_reader_open_mem(&r, buf, len, NULL, err, sizeof(err)), 0);
    unsigned int refused = 0, accepted = 0;
    for (unsigned int i = 0; i < r.nr_sections; i++) {
        const struct snapshot_section *s = &r.sections[i];
        if (!strcmp(s->tag, "RAMD"))
            continue; /* its chunks have their own CRCs (test_snapshot_ram) */
        for (uint64_t k = 0; k < s->length; k++)
            for (size_t v = 0; v < sizeof(values); v++) {
                uint8_t *copy = malloc(len);
                memcpy(copy, buf, len);
                uint8_t *b = copy + s->payload_offset + k;
                *b = *b == values[v] ? (uint8_t)(values[v] + 1) : values[v];
                recrc(copy, (size_t)s->offset);
                err[0] = '\0';
                if (snapshot_check_bytes(copy, len, err, sizeof(err)) == 0) {
                    accepted++;
                } else {
                    if (err[0] == '\0')
                        fail_msg("section %s byte %llu: refused without a message", s->tag,
                                 (unsigned long long)k);
                    refused++;
                }
                free(copy);
            }
    }
    assert_true(refused > 0 && accepted > 0); /* register values, blobs, RAM bytes are free */
    snapshot_reader_release(&r);

    /* targeted: a RAM extent outside RAM, a chunk claiming more pages, a RAM size unlike CONF */
    size_t at = section_at(buf, len, "RAMI", 0);
    put64(buf + at + 16 + 40, SF_RAM_SIZE / 4096);
    recrc(buf, at);
    expect_refused(buf, len, "extent outside RAM", "'RAMI'");
    free(buf);
    buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    assert_int_equal(snapshot_reader_open_mem(&r, buf, len, NULL, err, sizeof(err)), 0);
    struct snapshot_ram_info info;
    assert_int_equal(snapshot_ram_info(&r, &info, err, sizeof(err)), 0);
    snapshot_reader_release(&r);
    size_t chunk0 = at + 16 + 40 + 16 * info.nr_extents;
    put32(buf + chunk0 + 8, 3); /* 4 pages -> 3: sums no longer match */
    recrc(buf, at);
    expect_refused(buf, len, "chunk page count", "'RAMI'");
    free(buf);
    buf = sf_build(SNAPSHOT_RAM_ZSTD, &len);
    put64(buf + at + 16, SF_RAM_SIZE * 2);
    recrc(buf, at);
    expect_refused(buf, len, "RAM size", "configuration has");
    free(buf);
}

/* SUSP: one entry per suspended vCPU; every malformed payload refused with its reason. */
static void test_snapshot_format__suspend_section(void **state)
{
    (void)state;
    uint8_t p[4 + 3 * 24] = {0};
    struct snapshot_suspended out[4];
    unsigned int n = 0;
    char err[256] = "";
    put32(p, 2);
    put32(p + 4, 1);
    put32(p + 8, SNAPSHOT_SUSPEND_POWERDOWN);
    p[12] = 0x10; /* entry 0x10 */
    put32(p + 28, 0);
    put32(p + 32, SNAPSHOT_SUSPEND_STANDBY);
    assert_int_equal(snapshot_suspend_parse(p, 52, 2, out, 4, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].vcpu, 1);
    assert_int_equal(out[0].entry, 0x10);
    assert_int_equal(out[1].kind, SNAPSHOT_SUSPEND_STANDBY);
    /* vCPU out of range, length mismatch, too many, zero, duplicate, unknown kind. */
    assert_int_equal(snapshot_suspend_parse(p, 52, 1, out, 4, &n, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "vCPU 1"));
    assert_int_equal(snapshot_suspend_parse(p, 51, 2, out, 4, &n, err, sizeof(err)), -EINVAL);
    assert_int_equal(snapshot_suspend_parse(p, 52, 2, out, 1, &n, err, sizeof(err)), -EINVAL);
    put32(p, 0);
    assert_int_equal(snapshot_suspend_parse(p, 4, 2, out, 4, &n, err, sizeof(err)), -EINVAL);
    put32(p, 2);
    put32(p + 28, 1);
    assert_int_equal(snapshot_suspend_parse(p, 52, 2, out, 4, &n, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "twice"));
    put32(p + 28, 0);
    put32(p + 32, 9);
    assert_int_equal(snapshot_suspend_parse(p, 52, 2, out, 4, &n, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unknown suspend kind"));
    /* SYSTEM_SUSPEND with another suspended vCPU: impossible (the others must be off). */
    put32(p + 32, SNAPSHOT_SUSPEND_SYSTEM);
    assert_int_equal(snapshot_suspend_parse(p, 52, 2, out, 4, &n, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "SYSTEM_SUSPEND"));
    put32(p, 1);
    assert_int_equal(snapshot_suspend_parse(p, 28, 2, out, 4, &n, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_format__round_trip_every_section),
        cmocka_unit_test(test_snapshot_format__check_bytes_accepts_both_encodings),
        cmocka_unit_test(test_snapshot_format__truncation_everywhere),
        cmocka_unit_test(test_snapshot_format__flip_every_byte),
        cmocka_unit_test(test_snapshot_format__bad_magic_and_versions),
        cmocka_unit_test(test_snapshot_format__duplicates),
        cmocka_unit_test(test_snapshot_format__oversized_lengths),
        cmocka_unit_test(test_snapshot_format__bad_contents_with_valid_crc),
        cmocka_unit_test(test_snapshot_format__mutate_with_valid_crc),
        cmocka_unit_test(test_snapshot_format__large_sections_are_backpatched),
        cmocka_unit_test(test_snapshot_format__writer_errors),
        cmocka_unit_test(test_snapshot_format__suspend_section),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
