/* test_file_image.c — boot files copied into guest RAM at power-on and at every reset
 * (src/vmm/file_image.c): an unchanged file copies the same bytes every time; a file truncated,
 * grown or rewritten in place since it was opened (even with its size and mtime put back) gives
 * -ESTALE and a message naming it, never SIGBUS (the copy reads, it never maps); open errors
 * name the file. These pin the fix for resets that re-read the kernel and initrd through
 * private mappings: a truncated file killed pscivm with SIGBUS, a rewritten one was loaded with
 * the old size and layout. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/file_image.h"

#define LEN 8192

struct fx {
    char path[64];
    uint8_t data[LEN];
    struct file_image img;
};

/* A LEN-byte file whose mtime is put in the past (2001), so that any write now is visible in
 * the mtime even on file systems with coarse timestamps. */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    for (size_t i = 0; i < LEN; i++)
        f->data[i] = (uint8_t)(i * 13 + 7);
    snprintf(f->path, sizeof(f->path), "/tmp/pscivm-test-file-XXXXXX");
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, f->data, LEN), LEN);
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    assert_int_equal(futimens(fd, old), 0);
    close(fd);
    char err[256] = "";
    int r = file_image_init(&f->img, "initrd", f->path, 1 << 20, err, sizeof(err));
    if (r)
        fail_msg("file_image_init: %d %s", r, err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    file_image_release(&f->img);
    file_image_release(&f->img); /* twice is harmless */
    unlink(f->path);
    free(f);
    return 0;
}

/* Timestamps come from a coarse clock (one tick is up to 10 ms): wait until it has moved past
 * the ctime recorded at open, so that the next inode change is visible in the ctime. */
static void wait_past_recorded_ctime(const struct fx *f)
{
    for (int i = 0; i < 2000; i++) {
        struct timespec now;
        assert_int_equal(clock_gettime(CLOCK_REALTIME_COARSE, &now), 0);
        if (now.tv_sec > f->img.ctime.tv_sec ||
            (now.tv_sec == f->img.ctime.tv_sec && now.tv_nsec > f->img.ctime.tv_nsec))
            return;
        usleep(1000);
    }
    fail_msg("the coarse clock did not move past the file's ctime in 2 s");
}

static void expect_stale(struct fx *f, const char *how)
{
    uint8_t *buf = malloc(LEN);
    char err[512] = "";
    int r = file_image_copy(&f->img, buf, LEN, err, sizeof(err));
    if (r != -ESTALE || !strstr(err, "changed since pscivm started") || !strstr(err, f->path) ||
        !strstr(err, "initrd") || (how && !strstr(err, how)))
        fail_msg("expected -ESTALE mentioning '%s': %d '%s'", how ? how : "", r, err);
    char err2[512] = "";
    assert_int_equal(file_image_check(&f->img, err2, sizeof(err2)), -ESTALE);
    free(buf);
}

static void test_file_image__unchanged_copies_the_same_bytes(void **state)
{
    struct fx *f = *state;
    assert_int_equal(f->img.size, LEN);
    uint8_t *buf = malloc(LEN);
    char err[256] = "";
    for (int round = 0; round < 3; round++) { /* power-on, then two resets */
        memset(buf, 0, LEN);
        assert_int_equal(file_image_copy(&f->img, buf, LEN, err, sizeof(err)), 0);
        assert_memory_equal(buf, f->data, LEN);
    }
    assert_int_equal(file_image_check(&f->img, err, sizeof(err)), 0);
    /* a prefix, and nothing */
    memset(buf, 0, LEN);
    assert_int_equal(file_image_copy(&f->img, buf, 100, err, sizeof(err)), 0);
    assert_memory_equal(buf, f->data, 100);
    assert_int_equal(buf[100], 0);
    assert_int_equal(file_image_copy(&f->img, buf, 0, err, sizeof(err)), 0);
    /* more than the file */
    assert_int_equal(file_image_copy(&f->img, buf, LEN + 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, f->path));
    /* reading does not change what is checked (atime is not part of the identity) */
    assert_int_equal(file_image_copy(&f->img, buf, LEN, err, sizeof(err)), 0);
    free(buf);
}

static void test_file_image__truncated_is_estale_not_sigbus(void **state)
{
    struct fx *f = *state;
    assert_int_equal(truncate(f->path, 100), 0);
    expect_stale(f, "size 8192 -> 100 bytes");
    assert_int_equal(truncate(f->path, 0), 0);
    expect_stale(f, "size 8192 -> 0 bytes");
    /* grown back to the old size: the mtime (and ctime) still tell */
    assert_int_equal(truncate(f->path, LEN), 0);
    expect_stale(f, "modified");
}

static void test_file_image__grown_is_estale(void **state)
{
    struct fx *f = *state;
    int fd = open(f->path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "more", 4), 4);
    close(fd);
    expect_stale(f, "size 8192 -> 8196 bytes");
}

static void test_file_image__rewritten_in_place_is_estale(void **state)
{
    struct fx *f = *state;
    wait_past_recorded_ctime(f);
    int fd = open(f->path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "NEW KERNEL", 10, 0), 10);
    expect_stale(f, "modified");
    /* the mtime put back, as cp -p or rsync -t do: the ctime still tells */
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    assert_int_equal(futimens(fd, old), 0);
    close(fd);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_size, LEN);
    assert_int_equal(st.st_mtim.tv_sec, f->img.mtime.tv_sec);
    expect_stale(f, "inode changed");
}

static void test_file_image__replaced_is_estale(void **state)
{
    struct fx *f = *state;
    char other[64];
    snprintf(other, sizeof(other), "/tmp/pscivm-test-file-XXXXXX");
    int fd = mkstemp(other);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, f->data, LEN), LEN);
    close(fd);
    wait_past_recorded_ctime(f);
    assert_int_equal(rename(other, f->path), 0); /* unlinks the open inode: its ctime moves */
    expect_stale(f, NULL);
}

static void test_file_image__open_errors_name_the_file(void **state)
{
    (void)state;
    struct file_image img;
    char err[256] = "";
    assert_int_equal(file_image_init(&img, "initrd", "/nonexistent/initrd", 1 << 20, err,
                                     sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/initrd"));
    assert_non_null(strstr(err, "initrd"));
    file_image_release(&img); /* closed after a failure */
    assert_int_equal(file_image_init(&img, "initrd", "/tmp", 1 << 20, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "not a regular file"));

    char path[64];
    snprintf(path, sizeof(path), "/tmp/pscivm-test-file-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "0123456789", 10), 10);
    close(fd);
    assert_int_equal(file_image_init(&img, "initrd", path, 9, err, sizeof(err)), -EFBIG);
    assert_non_null(strstr(err, path));
    assert_int_equal(file_image_init(&img, "initrd", path, 10, err, sizeof(err)), 0);
    file_image_release(&img);
    char byte;
    assert_int_equal(file_image_copy(&img, &byte, 1, err, sizeof(err)), -EBADF);
    /* an empty file is fine: nothing to copy */
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(file_image_init(&img, "initrd", path, 10, err, sizeof(err)), 0);
    assert_int_equal(img.size, 0);
    assert_int_equal(file_image_copy(&img, NULL, 0, err, sizeof(err)), 0);
    file_image_release(&img);
    unlink(path);
    /* a zeroed struct is a closed one */
    struct file_image zero;
    memset(&zero, 0, sizeof(zero));
    file_image_release(&zero);
}

#define T(name) cmocka_unit_test_setup_teardown(test_file_image__##name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(unchanged_copies_the_same_bytes),
        T(truncated_is_estale_not_sigbus),
        T(grown_is_estale),
        T(rewritten_in_place_is_estale),
        T(replaced_is_estale),
        cmocka_unit_test(test_file_image__open_errors_name_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
