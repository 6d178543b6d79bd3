/* test_snapshot_ram.c — guest RAM in snapshots (src/snapshot/ram.h): zero pages are skipped,
 * sparse patterns (none, all, alternating, single pages at the ends, chunk boundaries) survive
 * raw and zstd round trips through fill and mmap, raw page data is page-aligned in the file,
 * fill leaves unsaved pages untouched, and corrupt chunks or a mismatched RAM size are refused. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "snapshot_fixture.h"

#define NPAGES 300u
#define SIZE (NPAGES * 4096ull)

typedef bool (*pattern_fn)(size_t page);
static bool pat_none(size_t i) { (void)i; return false; }
static bool pat_all(size_t i) { (void)i; return true; }
static bool pat_odd(size_t i) { return i % 2; }
static bool pat_ends(size_t i) { return i == 0 || i == NPAGES - 1; }
static bool pat_runs(size_t i) { return (i / 37) % 3 == 1 || i == 255 || i == 256; }

static void make_ram(uint8_t *ram, pattern_fn pat, uint32_t seed)
{
    memset(ram, 0, SIZE);
    for (size_t i = 0; i < NPAGES; i++) {
        if (!pat(i))
            continue;
        uint8_t *p = ram + i * 4096;
        for (size_t k = 0; k < 4096; k++) {
            seed = seed * 1664525u + 1013904223u;
            p[k] = (i & 2) ? (uint8_t)("guest memory "[k % 13]) : (uint8_t)(seed >> 24);
        }
        p[4095] |= 1; /* never a zero page */
    }
}

/* Write a snapshot holding only RAM to a temporary file; returns its fd. */
static int save_ram(const uint8_t *ram, enum snapshot_ram_encoding enc, uint32_t chunk,
                    struct snapshot_ram_info *info)
{
    char err[256];
    char path[] = "/tmp/test_snapshot_ram_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    struct snapshot_writer w;
    struct snapshot_header h = sf_header();
    assert_int_equal(snapshot_writer_init(&w, fd, err, sizeof(err)), 0);
    snapshot_header_put(&w, &h);
    struct snapshot_ram_options opt = {.encoding = enc, .pages_per_chunk = chunk};
    snapshot_ram_save(&w, ram, SIZE, &opt, info);
    if (snapshot_writer_finish(&w, err, sizeof(err)))
        fail_msg("save: %s", err);
    snapshot_writer_release(&w);
    return fd;
}

static uint8_t *zeroed(void)
{
    void *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    return p;
}

static void test_snapshot_ram__patterns_round_trip(void **state)
{
    (void)state;
    static const pattern_fn pats[] = {pat_none, pat_all, pat_odd, pat_ends, pat_runs};
    static const uint32_t chunks[] = {1, 3, 256, 4096};
    char err[256];
    uint8_t *ram = malloc(SIZE);
    for (size_t p = 0; p < sizeof(pats) / sizeof(pats[0]); p++) {
        make_ram(ram, pats[p], (uint32_t)p);
        size_t want = 0;
        for (size_t i = 0; i < NPAGES; i++)
            want += pats[p](i);
        for (int enc = 0; enc < 2; enc++)
            for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
                struct snapshot_ram_info info;
                int fd = save_ram(ram, (enum snapshot_ram_encoding)enc, chunks[c], &info);
                assert_int_equal(info.saved_pages, want);
                assert_int_equal(info.ram_size, SIZE);
                if (enc == SNAPSHOT_RAM_RAW)
                    assert_int_equal(info.data_bytes, want * 4096);
                struct snapshot_reader r;
                if (snapshot_reader_open_fd(&r, fd, NULL, err, sizeof(err)))
                    fail_msg("open: %s", err);
                struct snapshot_ram_info got;
                assert_int_equal(snapshot_ram_info(&r, &got, err, sizeof(err)), 0);
                assert_memory_equal(&got, &info, sizeof(got));
                uint8_t *back = zeroed();
                if (snapshot_ram_fill(&r, back, SIZE, err, sizeof(err)))
                    fail_msg("pattern %zu enc %d chunk %u: %s", p, enc, chunks[c], err);
                assert_memory_equal(back, ram, SIZE);
                munmap(back, SIZE);
                assert_int_equal(snapshot_reader_verify_all(&r, err, sizeof(err)), 0);
                snapshot_reader_release(&r);
                close(fd);
            }
    }
    free(ram);
}

static void test_snapshot_ram__fill_leaves_unsaved_pages_alone(void **state)
{
    (void)state;
    char err[256];
    uint8_t *ram = malloc(SIZE);
    make_ram(ram, pat_odd, 9);
    int fd = save_ram(ram, SNAPSHOT_RAM_ZSTD, 0, NULL);
    struct snapshot_reader r;
    assert_int_equal(snapshot_reader_open_fd(&r, fd, NULL, err, sizeof(err)), 0);
    uint8_t *back = zeroed();
    memset(back, 0xee, SIZE); /* not zeroed: the even pages must keep 0xee */
    assert_int_equal(snapshot_ram_fill(&r, back, SIZE, err, sizeof(err)), 0);
    for (size_t i = 0; i < NPAGES; i++) {
        if (i % 2)
            assert_memory_equal(back + i * 4096, ram + i * 4096, 4096);
        else
            assert_int_equal(back[i * 4096 + 100], 0xee);
    }
    /* another RAM size is refused */
    assert_int_equal(snapshot_ram_fill(&r, back, SIZE - 4096, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "bytes"));
    /* zstd cannot be mapped */
    struct snapshot_ram_run *runs;
    size_t nr;
    assert_int_equal(snapshot_ram_plan(&r, SIZE, &runs, &nr, err, sizeof(err)), -EOPNOTSUPP);
    munmap(back, SIZE);
    snapshot_reader_release(&r);
    close(fd);
    free(ram);
}

static void test_snapshot_ram__raw_is_mappable(void **state)
{
    (void)state;
    char err[256];
    uint8_t *ram = malloc(SIZE);
    make_ram(ram, pat_runs, 3);
    int fd = save_ram(ram, SNAPSHOT_RAM_RAW, 0, NULL);
    struct snapshot_reader r;
    assert_int_equal(snapshot_reader_open_fd(&r, fd, NULL, err, sizeof(err)), 0);
    const struct snapshot_section *d = snapshot_reader_find(&r, "RAMD", 0);
    assert_int_equal(d->payload_offset % 4096, 0);
    struct snapshot_ram_run *runs;
    size_t nr;
    assert_int_equal(snapshot_ram_plan(&r, SIZE, &runs, &nr, err, sizeof(err)), 0);
    assert_true(nr > 1);
    uint64_t pages = 0;
    for (size_t i = 0; i < nr; i++) {
        assert_int_equal(runs[i].file_offset % 4096, 0);
        assert_int_equal(runs[i].guest_offset % 4096, 0);
        assert_int_equal(runs[i].length % 4096, 0);
        uint8_t *page = malloc(4096);
        assert_int_equal(pread(fd, page, 4096, (off_t)runs[i].file_offset), 4096);
        assert_memory_equal(page, ram + runs[i].guest_offset, 4096);
        free(page);
        pages += runs[i].length / 4096;
    }
    free(runs);
    uint8_t *back = zeroed();
    assert_int_equal(snapshot_ram_map(&r, back, SIZE, err, sizeof(err)), 0);
    assert_memory_equal(back, ram, SIZE);
    /* private: writing the guest's copy does not change the file */
    back[37 * 4096] ^= 0xff;
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, (off_t)d->payload_offset), 1);
    assert_int_equal(b, ram[37 * 4096]);
    assert_int_equal(snapshot_ram_map(&r, back + 1, SIZE, err, sizeof(err)), -EINVAL);
    munmap(back, SIZE);
    snapshot_reader_release(&r);
    /* a memory reader has no file to map */
    off_t size = lseek(fd, 0, SEEK_END);
    uint8_t *bytes = malloc((size_t)size);
    assert_int_equal(pread(fd, bytes, (size_t)size, 0), size);
    assert_int_equal(snapshot_reader_open_mem(&r, bytes, (size_t)size, NULL, err, sizeof(err)),
                     0);
    assert_int_equal(snapshot_ram_plan(&r, SIZE, &runs, &nr, err, sizeof(err)), -EOPNOTSUPP);
    snapshot_reader_release(&r);
    free(bytes);
    close(fd);
    free(ram);
    (void)pages;
}

/* Corrupt one byte of RAMD (fixing nothing): fill refuses with the chunk named. */
static void test_snapshot_ram__corrupt_chunk_refused(void **state)
{
    (void)state;
    char err[256];
    uint8_t *ram = malloc(SIZE);
    make_ram(ram, pat_all, 4);
    for (int enc = 0; enc < 2; enc++) {
        int fd = save_ram(ram, (enum snapshot_ram_encoding)enc, 16, NULL);
        struct snapshot_reader r;
        assert_int_equal(snapshot_reader_open_fd(&r, fd, NULL, err, sizeof(err)), 0);
        const struct snapshot_section *d = snapshot_reader_find(&r, "RAMD", 0);
        uint64_t at = d->payload_offset + d->length / 2;
        snapshot_reader_release(&r);
        uint8_t b;
        assert_int_equal(pread(fd, &b, 1, (off_t)at), 1);
        b ^= 0x10;
        assert_int_equal(pwrite(fd, &b, 1, (off_t)at), 1);
        assert_int_equal(snapshot_reader_open_fd(&r, fd, NULL, err, sizeof(err)), 0);
        uint8_t *back = zeroed();
        assert_int_equal(snapshot_ram_fill(&r, back, SIZE, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "RAMD"));
        assert_non_null(strstr(err, "chunk"));
        assert_int_equal(snapshot_reader_verify_all(&r, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "CRC mismatch"));
        munmap(back, SIZE);
        snapshot_reader_release(&r);
        close(fd);
    }
    free(ram);
}

static void test_snapshot_ram__bad_options(void **state)
{
    (void)state;
    char err[256];
    uint8_t *ram = calloc(1, SIZE);
    int fd = memfd_create("x", MFD_CLOEXEC);
    struct snapshot_writer w;
    assert_int_equal(snapshot_writer_init(&w, fd, err, sizeof(err)), 0);
    assert_int_equal(snapshot_ram_save(&w, ram, SIZE - 1, NULL, NULL), -EINVAL);
    snapshot_writer_release(&w);
    close(fd);
    fd = memfd_create("x", MFD_CLOEXEC);
    assert_int_equal(snapshot_writer_init(&w, fd, err, sizeof(err)), 0);
    struct snapshot_ram_options opt = {.pages_per_chunk = SNAPSHOT_RAM_MAX_CHUNK + 1};
    assert_int_equal(snapshot_ram_save(&w, ram, SIZE, &opt, NULL), -EINVAL);
    snapshot_writer_release(&w);
    close(fd);
    free(ram);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_ram__patterns_round_trip),
        cmocka_unit_test(test_snapshot_ram__fill_leaves_unsaved_pages_alone),
        cmocka_unit_test(test_snapshot_ram__raw_is_mappable),
        cmocka_unit_test(test_snapshot_ram__corrupt_chunk_refused),
        cmocka_unit_test(test_snapshot_ram__bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
