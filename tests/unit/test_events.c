/* test_events.c — the JSON-lines event stream: one parseable object per line with event, t_ns
 * (monotonic, from the clock), vcpu when given and the extra fields; hex helper; disabled
 * stream is a no-op; concurrent writers never interleave within a line. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "vmm/events.h"

static uint64_t fake_now;
static uint64_t fake_clock(void)
{
    return __atomic_add_fetch(&fake_now, 10, __ATOMIC_SEQ_CST);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_events__lines_and_fields(void **state)
{
    (void)state;
    char path[] = "/tmp/pscivm-test-events-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct events ev;
    assert_int_equal(events_init(&ev, path), 0);
    assert_true(events_enabled(&ev));
    assert_false(events_on_stdout(&ev));
    ev.clock_ns = fake_clock;
    fake_now = 1000;
    struct json_object *f = json_object_new_object();
    json_object_object_add(f, "target", json_object_new_int(3));
    json_object_object_add(f, "entry", events_hex(0x40001000));
    assert_int_equal(events_emit(&ev, "cpu_on", 1, f), 0);
    assert_int_equal(events_emit(&ev, "vm_exit", -1, NULL), 0);
    events_release(&ev);

    char *text = read_file(path);
    char *save = NULL;
    char *line1 = strtok_r(text, "\n", &save);
    char *line2 = strtok_r(NULL, "\n", &save);
    assert_non_null(line1);
    assert_non_null(line2);
    assert_null(strtok_r(NULL, "\n", &save));
    struct json_object *o1 = json_tokener_parse(line1);
    struct json_object *o2 = json_tokener_parse(line2);
    assert_non_null(o1);
    assert_non_null(o2);
    struct json_object *v;
    assert_true(json_object_object_get_ex(o1, "event", &v));
    assert_string_equal(json_object_get_string(v), "cpu_on");
    assert_true(json_object_object_get_ex(o1, "t_ns", &v));
    assert_int_equal(json_object_get_uint64(v), 1010);
    assert_true(json_object_object_get_ex(o1, "vcpu", &v));
    assert_int_equal(json_object_get_int(v), 1);
    assert_true(json_object_object_get_ex(o1, "target", &v));
    assert_int_equal(json_object_get_int(v), 3);
    assert_true(json_object_object_get_ex(o1, "entry", &v));
    assert_string_equal(json_object_get_string(v), "0x40001000");
    assert_false(json_object_object_get_ex(o2, "vcpu", &v));
    assert_true(json_object_object_get_ex(o2, "t_ns", &v));
    assert_int_equal(json_object_get_uint64(v), 1020);
    json_object_put(o1);
    json_object_put(o2);
    free(text);
    unlink(path);
}

static void test_events__disabled_and_bad_path(void **state)
{
    (void)state;
    struct events ev;
    assert_int_equal(events_init(&ev, NULL), 0);
    assert_false(events_enabled(&ev));
    assert_int_equal(events_emit(&ev, "x", 0, json_object_new_object()), 0);
    events_release(&ev);
    assert_int_equal(events_init(&ev, "/nonexistent-dir/events"), -ENOENT);
    assert_int_equal(events_init(&ev, "-"), 0);
    assert_true(events_on_stdout(&ev));
    events_release(&ev);
}

#define WRITERS 4
#define PER_WRITER 200
static struct events shared;

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < PER_WRITER; i++) {
        struct json_object *f = json_object_new_object();
        json_object_object_add(f, "pad", json_object_new_string(
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
        events_emit(&shared, "wakeup", id, f);
    }
    return NULL;
}

static void test_events__concurrent_lines_intact(void **state)
{
    (void)state;
    char path[] = "/tmp/pscivm-test-events-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(events_init(&shared, path), 0);
    pthread_t t[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
    events_release(&shared);
    char *text = read_file(path);
    int lines = 0;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        struct json_object *o = json_tokener_parse(l);
        assert_non_null(o);
        json_object_put(o);
        lines++;
    }
    assert_int_equal(lines, WRITERS * PER_WRITER);
    free(text);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events__lines_and_fields),
        cmocka_unit_test(test_events__disabled_and_bad_path),
        cmocka_unit_test(test_events__concurrent_lines_intact),
    };
    return cmocka_run_group_tests_name("events", tests, NULL, NULL);
}
