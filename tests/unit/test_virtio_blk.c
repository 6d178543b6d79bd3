/* test_virtio_blk.c — virtio-blk on a temporary raw image: negotiation and config, read/write
 * reaching the file byte for byte, flush, get-id, read-only disks, bad requests (IOERR/UNSUPP)
 * and broken chains (DEVICE_NEEDS_RESET), plus the --disk syntax. Snapshots: a restored device
 * continues its ring; the snapshot contract checks hold; a disk of another size or mode is
 * refused. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/virtio_blk.h"
#include "virtio_driver.h"
#include "device_check.h"

#define SECTORS 16
#define HDR (TD_DATA)
#define BUF (TD_DATA + 0x1000)
#define STATUS (TD_DATA + 0x8000)
#define BLK_FEATURES ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_BLK_F_FLUSH) | \
                      (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_SEG_MAX))

struct fx {
    struct guest_mem mem;
    struct virtio_blk blk;
    struct td_irq irq;
    char path[64];
    uint16_t next_used;
};

static int make_image(char *path, size_t pathlen)
{
    snprintf(path, pathlen, "/tmp/pscivm-test-blk-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t sector[512];
    for (int s = 0; s < SECTORS; s++) {
        memset(sector, 'a' + s, sizeof(sector));
        assert_int_equal(write(fd, sector, sizeof(sector)), sizeof(sector));
    }
    assert_int_equal(write(fd, "tail", 4), 4); /* a partial sector does not count */
    close(fd);
    return 0;
}

static int setup_common(void **state, bool ro)
{
    struct fx *f = calloc(1, sizeof(*f));
    td_mem_init(&f->mem);
    make_image(f->path, sizeof(f->path));
    char err[256];
    struct irq_line line = {.set = td_irq_set, .opaque = &f->irq, .spi = 16};
    int r = virtio_blk_init(&f->blk, f->path, ro, "pscivm-disk0", &f->mem, line, err, sizeof(err));
    if (r)
        fail_msg("%s", err);
    uint64_t features = BLK_FEATURES | (ro ? 1ull << VIRTIO_BLK_F_RO : 0);
    assert_true(td_bring_up(&f->blk.transport, features) & VIRTIO_STATUS_DRIVER_OK);
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_common(state, false); }
static int setup_ro(void **state) { return setup_common(state, true); }

static int teardown(void **state)
{
    struct fx *f = *state;
    assert_true(virtio_mmio_check_invariants(&f->blk.transport));
    virtio_blk_release(&f->blk);
    unlink(f->path);
    free(f->mem.host);
    free(f);
    return 0;
}

static void put_hdr(struct fx *f, uint32_t type, uint64_t sector)
{
    uint8_t *h = td_ptr(&f->mem, HDR);
    memset(h, 0, 16);
    memcpy(h, &type, 4);
    memcpy(h + 8, &sector, 8);
}

/* Submit header + one data buffer (len may be 0) + status; returns the status byte, and the
 * used length through *used_len. */
static int submit(struct fx *f, uint32_t type, uint64_t sector, uint32_t len, bool data_writable,
                  uint32_t *used_len)
{
    put_hdr(f, type, sector);
    *(uint8_t *)td_ptr(&f->mem, STATUS) = 0xee;
    unsigned int i = 0;
    td_desc(&f->mem, i, HDR, 16, VIRTQ_DESC_F_NEXT, 1), i++;
    if (len) {
        td_desc(&f->mem, i, BUF, len, VIRTQ_DESC_F_NEXT | (data_writable ? VIRTQ_DESC_F_WRITE : 0),
                (uint16_t)(i + 1));
        i++;
    }
    td_desc(&f->mem, i, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    td_avail(&f->mem, 0);
    td_wr(&f->blk.transport, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(td_used_idx(&f->mem), (uint16_t)(f->next_used + 1));
    uint32_t id;
    td_used_elem(&f->mem, f->next_used, &id, used_len);
    assert_int_equal(id, 0);
    f->next_used++;
    td_wr(&f->blk.transport, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_USED_RING);
    return *(uint8_t *)td_ptr(&f->mem, STATUS);
}

static void read_file(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static void test_virtio_blk__config_and_features(void **state)
{
    struct fx *f = *state;
    uint64_t v;
    virtio_mmio_read(&f->blk.transport, 0x100, 8, &v);
    assert_int_equal(v, SECTORS);
    virtio_mmio_read(&f->blk.transport, 0x100 + 20, 4, &v);
    assert_int_equal(v, 512);
    virtio_mmio_read(&f->blk.transport, 0x100 + 12, 4, &v);
    assert_int_equal(v, VIRTQ_MAX_SIZE - 2);
    assert_int_equal(td_rd(&f->blk.transport, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
    td_wr(&f->blk.transport, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint32_t lo = td_rd(&f->blk.transport, VIRTIO_MMIO_DEVICE_FEATURES);
    assert_int_equal(lo, (uint32_t)BLK_FEATURES);
    assert_false(lo & (1u << VIRTIO_BLK_F_RO));
}

static void test_virtio_blk__read_sectors(void **state)
{
    struct fx *f = *state;
    uint32_t used;
    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 3, 1024, true, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 1025);
    uint8_t *buf = td_ptr(&f->mem, BUF);
    assert_int_equal(buf[0], 'd');
    assert_int_equal(buf[511], 'd');
    assert_int_equal(buf[512], 'e');
    assert_int_equal(buf[1023], 'e');
}

static void test_virtio_blk__write_reaches_file(void **state)
{
    struct fx *f = *state;
    uint8_t *buf = td_ptr(&f->mem, BUF);
    for (int i = 0; i < 1536; i++)
        buf[i] = (uint8_t)(i * 7 + 1);
    uint32_t used;
    assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, 14, 1024, false, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 1);
    assert_int_equal(submit(f, VIRTIO_BLK_T_FLUSH, 0, 0, false, &used), VIRTIO_BLK_S_OK);
    uint8_t back[1024];
    read_file(f->path, 14 * 512, back, sizeof(back));
    assert_memory_equal(back, buf, sizeof(back));
    uint8_t before[1];
    read_file(f->path, 13 * 512 + 511, before, 1);
    assert_int_equal(before[0], 'a' + 13);
}

static void test_virtio_blk__header_split_across_descriptors(void **state)
{
    struct fx *f = *state;
    put_hdr(f, VIRTIO_BLK_T_IN, 1);
    td_desc(&f->mem, 0, HDR, 5, VIRTQ_DESC_F_NEXT, 1);
    td_desc(&f->mem, 1, HDR + 5, 11, VIRTQ_DESC_F_NEXT, 2);
    td_desc(&f->mem, 2, BUF, 300, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
    td_desc(&f->mem, 3, BUF + 300, 213, VIRTQ_DESC_F_WRITE, 0); /* 212 data + status */
    td_avail(&f->mem, 0);
    td_wr(&f->blk.transport, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(td_used_idx(&f->mem), 1);
    uint8_t *buf = td_ptr(&f->mem, BUF);
    assert_int_equal(buf[0], 'b');
    assert_int_equal(buf[511], 'b');
    assert_int_equal(buf[512], VIRTIO_BLK_S_OK);
}

static void test_virtio_blk__bad_requests_get_ioerr_or_unsupp(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *what;
        uint32_t type;
        uint64_t sector;
        uint32_t len;
        bool writable;
        uint8_t status;
    } cases[] = {
        {"read past the end", VIRTIO_BLK_T_IN, SECTORS - 1, 1024, true, VIRTIO_BLK_S_IOERR},
        {"read far past the end", VIRTIO_BLK_T_IN, UINT64_MAX, 512, true, VIRTIO_BLK_S_IOERR},
        {"write past the end", VIRTIO_BLK_T_OUT, SECTORS, 512, false, VIRTIO_BLK_S_IOERR},
        {"partial sector read", VIRTIO_BLK_T_IN, 0, 100, true, VIRTIO_BLK_S_IOERR},
        {"partial sector write", VIRTIO_BLK_T_OUT, 0, 513, false, VIRTIO_BLK_S_IOERR},
        {"read into readable buffer", VIRTIO_BLK_T_IN, 0, 512, false, VIRTIO_BLK_S_IOERR},
        {"write from writable buffer", VIRTIO_BLK_T_OUT, 0, 512, true, VIRTIO_BLK_S_IOERR},
        {"discard", 11, 0, 16, false, VIRTIO_BLK_S_UNSUPP},
        {"unknown type", 0x55, 0, 0, false, VIRTIO_BLK_S_UNSUPP},
        {"read of nothing", VIRTIO_BLK_T_IN, SECTORS, 0, true, VIRTIO_BLK_S_OK},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t used;
        int st = submit(f, cases[i].type, cases[i].sector, cases[i].len, cases[i].writable, &used);
        if (st != cases[i].status)
            fail_msg("%s: status %d", cases[i].what, st);
        if (st != VIRTIO_BLK_S_OK && used != 1)
            fail_msg("%s: used length %u", cases[i].what, used);
    }
    uint8_t first[1];
    read_file(f->path, 0, first, 1);
    assert_int_equal(first[0], 'a');
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* The capacity is fixed at open. Another process truncating the image used to go unnoticed:
 * a guest write below the old size but past the new end regrew the file (pwrite extends), a
 * read there came back short. Now such requests complete with IOERR and the file keeps the
 * size the other process gave it. */
static void test_virtio_blk__file_truncated_by_another_process(void **state)
{
    struct fx *f = *state;
    memset(td_ptr(&f->mem, BUF), 'W', 1024);
    uint32_t used;
    assert_int_equal(truncate(f->path, 8 * 512), 0);
    static const struct {
        const char *what;
        uint32_t type;
        uint64_t sector;
        uint32_t len;
        uint8_t status;
    } cases[] = {
        {"write past the new end", VIRTIO_BLK_T_OUT, 10, 512, VIRTIO_BLK_S_IOERR},
        {"write at the new end", VIRTIO_BLK_T_OUT, 8, 512, VIRTIO_BLK_S_IOERR},
        {"write across the new end", VIRTIO_BLK_T_OUT, 7, 1024, VIRTIO_BLK_S_IOERR},
        {"read past the new end", VIRTIO_BLK_T_IN, 8, 512, VIRTIO_BLK_S_IOERR},
        {"read across the new end", VIRTIO_BLK_T_IN, 7, 1024, VIRTIO_BLK_S_IOERR},
        {"write of the last sector left", VIRTIO_BLK_T_OUT, 7, 512, VIRTIO_BLK_S_OK},
        {"read of the last sector left", VIRTIO_BLK_T_IN, 7, 512, VIRTIO_BLK_S_OK},
        {"read of nothing at the new end", VIRTIO_BLK_T_IN, 8, 0, VIRTIO_BLK_S_OK},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool in = cases[i].type == VIRTIO_BLK_T_IN;
        int st = submit(f, cases[i].type, cases[i].sector, cases[i].len, in, &used);
        if (st != cases[i].status)
            fail_msg("%s: status %d", cases[i].what, st);
        if (file_size(f->path) != 8 * 512)
            fail_msg("%s: the file is now %lld bytes", cases[i].what,
                     (long long)file_size(f->path));
    }
    uint8_t back[512];
    read_file(f->path, 7 * 512, back, sizeof(back));
    assert_memory_equal(back, td_ptr(&f->mem, BUF), sizeof(back)); /* the write that fit */
    /* a partial last sector does not count: writing it whole would grow the file */
    assert_int_equal(truncate(f->path, 8 * 512 + 100), 0);
    assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, 8, 512, false, &used), VIRTIO_BLK_S_IOERR);
    assert_int_equal(file_size(f->path), 8 * 512 + 100);
    /* grown back by its owner: the whole capacity works again */
    assert_int_equal(truncate(f->path, SECTORS * 512), 0);
    assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, SECTORS - 1, 512, false, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(file_size(f->path), SECTORS * 512);
    /* never past the capacity of open, even if the file grew beyond it */
    assert_int_equal(truncate(f->path, (SECTORS + 4) * 512), 0);
    assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, SECTORS, 512, false, &used), VIRTIO_BLK_S_IOERR);
}

static void test_virtio_blk__get_id(void **state)
{
    struct fx *f = *state;
    memset(td_ptr(&f->mem, BUF), 0xff, 64);
    uint32_t used;
    assert_int_equal(submit(f, VIRTIO_BLK_T_GET_ID, 0, 20, true, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 21);
    uint8_t expect[20] = "pscivm-disk0";
    assert_memory_equal(td_ptr(&f->mem, BUF), expect, 20);
    /* A short buffer gets a truncated id. */
    memset(td_ptr(&f->mem, BUF), 0xff, 64);
    assert_int_equal(submit(f, VIRTIO_BLK_T_GET_ID, 0, 6, true, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 7);
    assert_memory_equal(td_ptr(&f->mem, BUF), "pscivm", 6);
    assert_int_equal(*(uint8_t *)td_ptr(&f->mem, BUF + 6), 0xff);
}

static void test_virtio_blk__read_only_disk(void **state)
{
    struct fx *f = *state;
    td_wr(&f->blk.transport, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    assert_true(td_rd(&f->blk.transport, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << VIRTIO_BLK_F_RO));
    memset(td_ptr(&f->mem, BUF), 'Z', 512);
    uint32_t used;
    assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, 0, 512, false, &used), VIRTIO_BLK_S_IOERR);
    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 2, 512, true, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(*(uint8_t *)td_ptr(&f->mem, BUF), 'c');
    assert_int_equal(submit(f, VIRTIO_BLK_T_FLUSH, 0, 0, false, &used), VIRTIO_BLK_S_OK);
    uint8_t first[1];
    read_file(f->path, 0, first, 1);
    assert_int_equal(first[0], 'a');
}

static void test_virtio_blk__chain_without_status_breaks_queue(void **state)
{
    struct fx *f = *state;
    put_hdr(f, VIRTIO_BLK_T_IN, 0);
    td_desc(&f->mem, 0, HDR, 16, 0, 0);
    td_avail(&f->mem, 0);
    td_wr(&f->blk.transport, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_true(td_rd(&f->blk.transport, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(td_used_idx(&f->mem), 0);
}

static void test_virtio_blk__short_header_breaks_queue(void **state)
{
    struct fx *f = *state;
    td_desc(&f->mem, 0, HDR, 8, VIRTQ_DESC_F_NEXT, 1);
    td_desc(&f->mem, 1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    td_avail(&f->mem, 0);
    td_wr(&f->blk.transport, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_true(td_rd(&f->blk.transport, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_virtio_blk__hostile_buffer_outside_ram(void **state)
{
    struct fx *f = *state;
    put_hdr(f, VIRTIO_BLK_T_IN, 0);
    td_desc(&f->mem, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    td_desc(&f->mem, 1, TD_RAM_BASE + TD_RAM_SIZE - 256, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
    td_desc(&f->mem, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    td_avail(&f->mem, 0);
    td_wr(&f->blk.transport, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_true(td_rd(&f->blk.transport, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_virtio_blk__parse_spec(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        int ret;
        const char *path;
        bool ro;
    } cases[] = {
        {"disk.img", 0, "disk.img", false},
        {"/a/b.raw,ro", 0, "/a/b.raw", true},
        {"",  -EINVAL, NULL, false},
        {",ro", -EINVAL, NULL, false},
        {"x.img,rw", -EINVAL, NULL, false},
        {"x.img,", -EINVAL, NULL, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path;
        bool ro;
        char err[128] = "";
        int r = virtio_blk_parse_spec(cases[i].spec, &path, &ro, err, sizeof(err));
        if (r != cases[i].ret)
            fail_msg("'%s': %d", cases[i].spec, r);
        if (r == 0) {
            assert_string_equal(path, cases[i].path);
            assert_int_equal(ro, cases[i].ro);
            free(path);
        } else {
            assert_non_null(strstr(err, "disk"));
        }
    }
}

static void test_virtio_blk__open_errors_name_the_file(void **state)
{
    struct fx *f = *state;
    struct virtio_blk other;
    char err[256];
    struct irq_line line = {0};
    assert_int_equal(virtio_blk_init(&other, "/nonexistent/disk.img", false, "x", &f->mem, line,
                                     err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/disk.img"));
    /* The fixture holds the image read-write: a second writer is refused. */
    assert_int_equal(virtio_blk_init(&other, f->path, false, "x", &f->mem, line, err, sizeof(err)),
                     -EBUSY);
    assert_non_null(strstr(err, f->path));
    assert_int_equal(virtio_blk_init(&other, "/dev", true, "x", &f->mem, line, err, sizeof(err)) < 0,
                     true);
}

static void test_virtio_blk__save_change_restore(void **state)
{
    struct fx *f = *state;
    struct device dev = virtio_blk_device(&f->blk, 0x0a000200);
    assert_string_equal(dev.ops->type, "virtio-blk");
    assert_string_equal(dev.name, "virtio-blk");
    assert_int_equal(dev.base, 0x0a000200);
    uint32_t used;
    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 1, 512, true, &used), VIRTIO_BLK_S_OK);
    struct dc_state saved = dc_save(&dev);
    uint8_t *ram = malloc(TD_RAM_SIZE);
    memcpy(ram, f->mem.host, TD_RAM_SIZE);
    uint16_t next_used = f->next_used;

    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 2, 512, true, &used), VIRTIO_BLK_S_OK);
    device_reset(&dev);
    assert_int_equal(td_rd(&f->blk.transport, VIRTIO_MMIO_STATUS), 0);

    memcpy(f->mem.host, ram, TD_RAM_SIZE);
    f->next_used = next_used;
    dc_restore_ok(&dev, &saved);
    assert_true(td_rd(&f->blk.transport, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 4, 512, true, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(td_used_idx(&f->mem), 2);
    assert_int_equal(*(uint8_t *)td_ptr(&f->mem, BUF), 'e');
    free(ram);
    free(saved.data);
}

static void test_virtio_blk__snapshot_contract(void **state)
{
    struct fx *f = *state;
    struct device dev = virtio_blk_device(&f->blk, 0x0a000000);
    uint32_t used;
    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 1, 512, true, &used), VIRTIO_BLK_S_OK);
    dc_check_bad_lengths_and_version(&dev);
    dc_check_corruptions(&dev, NULL, NULL);
}

static void test_virtio_blk__restore_refuses_another_disk(void **state)
{
    struct fx *f = *state;
    struct device dev = virtio_blk_device(&f->blk, 0x0a000000);
    struct dc_state s = dc_save(&dev);
    char path[64], err[256];
    make_image(path, sizeof(path));
    struct irq_line line = {0};
    struct virtio_blk other;
    /* Same size, opened read-only: it offers VIRTIO_BLK_F_RO, another feature set. */
    assert_int_equal(virtio_blk_init(&other, path, true, "x", &f->mem, line, err, sizeof(err)), 0);
    struct device odev = virtio_blk_device(&other, 0x0a000200);
    assert_int_equal(dc_restore_bytes(&odev, s.data, s.len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "different device"));
    virtio_blk_release(&other);
    /* Read-write, one sector more. */
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    uint8_t sector[512] = {0};
    assert_int_equal(write(fd, sector, sizeof(sector)), sizeof(sector));
    close(fd);
    assert_int_equal(virtio_blk_init(&other, path, false, "x", &f->mem, line, err, sizeof(err)), 0);
    assert_int_equal(dc_restore_bytes(&odev, s.data, s.len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "16 sectors"));
    assert_non_null(strstr(err, "17"));
    virtio_blk_release(&other);
    unlink(path);
    free(s.data);
}

#define T(name) cmocka_unit_test_setup_teardown(test_virtio_blk__##name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(config_and_features),
        T(read_sectors),
        T(write_reaches_file),
        T(header_split_across_descriptors),
        T(bad_requests_get_ioerr_or_unsupp),
        T(file_truncated_by_another_process),
        T(get_id),
        cmocka_unit_test_setup_teardown(test_virtio_blk__read_only_disk, setup_ro, teardown),
        T(chain_without_status_breaks_queue),
        T(short_header_breaks_queue),
        T(hostile_buffer_outside_ram),
        cmocka_unit_test(test_virtio_blk__parse_spec),
        T(open_errors_name_the_file),
        T(save_change_restore),
        T(snapshot_contract),
        T(restore_refuses_another_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
