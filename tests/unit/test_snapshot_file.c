/* test_snapshot_file.c — atomic snapshot files (src/snapshot/file.h): a process that dies at
 * every stage of a save (before writing, mid-write, after the writer finished, before commit)
 * leaves the previous snapshot at the path intact and readable; abort and release remove the
 * temporary file; commit replaces the old snapshot; a full "disk" fails the save. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "snapshot/file.h"
#include "snapshot_fixture.h"

static char dir[] = "/tmp/test_snapshot_file_XXXXXX";
static char path[64];

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/vm.snap", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
    return 0;
}

static unsigned int count_tmp(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    unsigned int n = 0;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static void remove_tmp(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) {
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
}

/* Save a snapshot whose CNTR says `tag`; stop after `stage` steps (0..4: create, header,
 * half the sections, finish, commit) as a crash would: _exit without cleaning up. */
static void save(uint64_t tag, int stage)
{
    char err[256];
    struct snapshot_file f;
    struct snapshot_writer w;
    uint8_t *ram = malloc(SF_RAM_SIZE);
    sf_fill_ram(ram, SF_RAM_SIZE, (uint32_t)tag);
    if (snapshot_file_create(&f, path, err, sizeof(err)))
        fail_msg("create: %s", err);
    if (stage == 0)
        _exit(0);
    assert_int_equal(snapshot_writer_init(&w, f.fd, err, sizeof(err)), 0);
    struct snapshot_header h = sf_header();
    snapshot_header_put(&w, &h);
    struct snapshot_counter c = {.cntvct = tag, .frequency_hz = 1};
    snapshot_counter_put(&w, &c);
    if (stage == 1)
        _exit(0);
    snapshot_ram_save(&w, ram, SF_RAM_SIZE, NULL, NULL);
    if (stage == 2)
        _exit(0); /* part of it still in the writer's buffer */
    assert_int_equal(snapshot_writer_finish(&w, err, sizeof(err)), 0);
    if (stage == 3)
        _exit(0);
    if (snapshot_file_commit(&f, err, sizeof(err)))
        fail_msg("commit: %s", err);
    snapshot_writer_release(&w);
    snapshot_file_release(&f);
    free(ram);
}

static uint64_t saved_tag(void)
{
    char err[256];
    struct snapshot_reader r;
    if (snapshot_reader_open_path(&r, path, NULL, err, sizeof(err)))
        fail_msg("open %s: %s", path, err);
    assert_int_equal(snapshot_reader_verify_all(&r, err, sizeof(err)), 0);
    const uint8_t *p;
    size_t len;
    struct snapshot_counter c;
    assert_int_equal(snapshot_reader_load(&r, snapshot_reader_find(&r, "CNTR", 0), &p, &len, err,
                                          sizeof(err)), 0);
    assert_int_equal(snapshot_counter_parse(p, len, &c, err, sizeof(err)), 0);
    snapshot_reader_release(&r);
    return c.cntvct;
}

static void test_snapshot_file__crash_at_every_stage_keeps_the_old_snapshot(void **state)
{
    (void)state;
    save(1, 4);
    assert_int_equal(saved_tag(), 1);
    assert_int_equal(count_tmp(), 0);
    for (int stage = 0; stage < 4; stage++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            save(100 + (uint64_t)stage, stage); /* exits */
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(saved_tag(), 1);
        assert_int_equal(count_tmp(), 1); /* the crash left its temporary file */
        remove_tmp();
    }
    save(2, 4);
    assert_int_equal(saved_tag(), 2);
    assert_int_equal(count_tmp(), 0);
}

static void test_snapshot_file__abort_and_release_clean_up(void **state)
{
    (void)state;
    char err[256];
    save(5, 4);
    struct snapshot_file f;
    assert_int_equal(snapshot_file_create(&f, path, err, sizeof(err)), 0);
    assert_int_equal(write(f.fd, "garbage", 7), 7);
    assert_int_equal(count_tmp(), 1);
    snapshot_file_abort(&f);
    assert_int_equal(count_tmp(), 0);
    snapshot_file_abort(&f); /* twice is fine */
    assert_int_equal(snapshot_file_commit(&f, err, sizeof(err)), -EINVAL);
    snapshot_file_release(&f);
    assert_int_equal(snapshot_file_create(&f, path, err, sizeof(err)), 0);
    snapshot_file_release(&f); /* release without commit aborts */
    assert_int_equal(count_tmp(), 0);
    assert_int_equal(saved_tag(), 5);
    /* a directory that does not exist */
    assert_true(snapshot_file_create(&f, "/nonexistent-dir/x.snap", err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "nonexistent"));
    assert_int_equal(snapshot_file_create(&f, "", err, sizeof(err)), -EINVAL);
}

/* Writes fail (a sealed file stands in for a full disk): the caller aborts, nothing changes. */
static void test_snapshot_file__full_disk_keeps_the_old_snapshot(void **state)
{
    (void)state;
    char err[256];
    save(7, 4);
    struct snapshot_file f;
    assert_int_equal(snapshot_file_create(&f, path, err, sizeof(err)), 0);
    int sealed = memfd_create("full", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_int_equal(ftruncate(sealed, 8192), 0);
    assert_int_equal(fcntl(sealed, F_ADD_SEALS, F_SEAL_GROW), 0);
    assert_true(dup2(sealed, f.fd) == f.fd); /* the snapshot's fd now hits the limit */
    close(sealed);
    struct snapshot_writer w;
    assert_int_equal(snapshot_writer_init(&w, f.fd, err, sizeof(err)), 0);
    uint8_t *ram = malloc(SF_RAM_SIZE);
    sf_fill_ram(ram, SF_RAM_SIZE, 3);
    struct snapshot_header h = sf_header();
    snapshot_header_put(&w, &h);
    struct snapshot_ram_options opt = {.encoding = SNAPSHOT_RAM_RAW};
    snapshot_ram_save(&w, ram, SF_RAM_SIZE, &opt, NULL);
    assert_true(snapshot_writer_finish(&w, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "writing section"));
    snapshot_writer_release(&w);
    snapshot_file_abort(&f);
    snapshot_file_release(&f);
    free(ram);
    assert_int_equal(count_tmp(), 0);
    assert_int_equal(saved_tag(), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_file__crash_at_every_stage_keeps_the_old_snapshot),
        cmocka_unit_test(test_snapshot_file__abort_and_release_clean_up),
        cmocka_unit_test(test_snapshot_file__full_disk_keeps_the_old_snapshot),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
