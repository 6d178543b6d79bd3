/* test_qmp_server.c — the QMP socket end to end: a real Unix socket in a temporary
 * directory, the loop on its own thread, a fake machine. Framing (greeting, "\r\n", objects
 * split or pipelined), negotiation, parse errors and recovery, the input and output limits,
 * many clients at once and the client cap, a client gone mid-command, events from another
 * thread (timestamp, order, only to negotiated clients, before the reply of the command that
 * caused them), half-close, and the socket file rules (0600, stale reused, live and
 * non-socket refused and untouched, release unlinks only its own socket). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "qmp_harness.h"

static struct qmp_harness h;

static int setup(void **state)
{
    (void)state;
    return harness_start(&h) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    harness_stop(&h);
    return 0;
}

static void open_negotiated(struct tconn *t)
{
    assert_int_equal(tconn_open(t, h.path), 0);
    assert_true(tconn_negotiate(t));
}

static void expect_status(struct tconn *t, const char *status)
{
    struct json_object *r = tconn_exec(t, "{\"execute\": \"query-status\"}");
    const char *got = jstr(r, "return.status");
    if (!got || strcmp(got, status))
        fail_msg("expected status %s, got %s", status,
                 r ? json_object_to_json_string(r) : "nothing");
    json_object_put(r);
}

/* r is an error reply whose desc contains `part`. */
static void expect_desc(struct json_object *r, const char *part)
{
    const char *desc = jstr(r, "error.desc");
    if (!desc || !strstr(desc, part))
        fail_msg("expected an error with \"%s\", got %s", part,
                 r ? json_object_to_json_string(r) : "nothing");
}

static void test_qmp_server__greeting_and_crlf(void **state)
{
    (void)state;
    struct tconn t;
    assert_int_equal(tconn_open(&t, h.path), 0);
    char buf[1024];
    ssize_t n = recv(t.fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 2);
    buf[n] = '\0';
    assert_memory_equal(buf + n - 2, "\r\n", 2);
    assert_null(memchr(buf, '\n', (size_t)n - 1)); /* one line */
    struct json_object *g = json_tokener_parse(buf);
    assert_non_null(jget(g, "QMP.version.qemu.major"));
    assert_int_equal(json_object_array_length(jget(g, "QMP.capabilities")), 0);
    json_object_put(g);
    assert_int_equal(tconn_sends(&t, "{\"execute\":\"qmp_capabilities\",\"id\":1}"), 0);
    n = recv(t.fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "{\"return\":{},\"id\":1}\r\n");
    tconn_close(&t);
}

static void test_qmp_server__negotiation_required(void **state)
{
    (void)state;
    struct tconn t;
    assert_int_equal(tconn_open(&t, h.path), 0);
    json_object_put(tconn_read(&t));
    struct json_object *r = tconn_exec(&t, "{\"execute\": \"stop\", \"id\": \"s\"}");
    assert_string_equal(jstr(r, "error.class"), "CommandNotFound");
    assert_string_equal(jstr(r, "error.desc"),
                        "Expecting capabilities negotiation with 'qmp_capabilities'");
    assert_string_equal(jstr(r, "id"), "s");
    json_object_put(r);
    char log[256];
    assert_string_equal(fake_vm_log(&h.vm, log, sizeof(log)), "");
    r = tconn_exec(&t, "{\"execute\": \"qmp_capabilities\"}");
    assert_true(jhas(r, "return"));
    json_object_put(r);
    r = tconn_exec(&t, "{\"execute\": \"qmp_capabilities\"}");
    assert_string_equal(jstr(r, "error.desc"),
                        "Capabilities negotiation is already complete, command ignored");
    json_object_put(r);
    tconn_close(&t);
}

static void test_qmp_server__split_and_pipelined(void **state)
{
    (void)state;
    struct tconn t;
    open_negotiated(&t);
    /* One object a byte at a time. */
    const char *req = "{\"execute\": \"query-status\", \"id\": 10}";
    for (const char *p = req; *p; p++) {
        assert_int_equal(tconn_send(&t, p, 1), 0);
        usleep(200);
    }
    struct json_object *r = tconn_reply(&t);
    assert_int_equal(json_object_get_int(jget(r, "id")), 10);
    json_object_put(r);
    /* Three in one write, no separators, then a single-quoted one (QEMU accepts those). */
    assert_int_equal(tconn_sends(&t, "{\"execute\":\"query-status\",\"id\":1}"
                                     "{\"execute\":\"query-version\",\"id\":2}"
                                     "{\"execute\":\"nope\",\"id\":3}\r\n"
                                     "{'execute': 'query-status', 'id': 4}"), 0);
    for (int id = 1; id <= 4; id++) {
        r = tconn_reply(&t);
        assert_non_null(r);
        assert_int_equal(json_object_get_int(jget(r, "id")), id);
        assert_true(jhas(r, id == 3 ? "error" : "return"));
        json_object_put(r);
    }
    tconn_close(&t);
}

static void test_qmp_server__parse_errors_keep_the_connection(void **state)
{
    (void)state;
    struct tconn t;
    open_negotiated(&t);
    struct json_object *r = tconn_exec(&t, "{ \"execute\": }");
    expect_desc(r, "JSON parse error, ");
    assert_string_equal(jstr(r, "error.class"), "GenericError");
    assert_false(jhas(r, "id"));
    json_object_put(r);
    expect_status(&t, "running");

    /* A lone control byte is an error (QEMU's documented way to reset its parser). */
    r = tconn_exec(&t, "\x04");
    expect_desc(r, "JSON parse error, stray control byte 0x04");
    json_object_put(r);
    /* Invalid UTF-8: one error for the object, the next request is served. */
    r = tconn_exec(&t, "{\"execute\": \"st\xc3\x28op\"}");
    expect_desc(r, "JSON parse error");
    json_object_put(r);
    expect_status(&t, "running");

    /* Truncated JSON, then the reset byte, then valid JSON: one error, then the reply. */
    assert_int_equal(tconn_sends(&t, "{\"execute\": \"query-sta"), 0);
    usleep(20000);
    r = tconn_exec(&t, "\xff{\"execute\": \"query-status\", \"id\": 99}");
    expect_desc(r, "JSON parse error");
    json_object_put(r);
    r = tconn_reply(&t);
    assert_int_equal(json_object_get_int(jget(r, "id")), 99);
    assert_string_equal(jstr(r, "return.status"), "running");
    json_object_put(r);

    /* Too deep: errors, then a reset byte brings the parser back. */
    char deep[256];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    deep[200] = '\0';
    assert_int_equal(tconn_sends(&t, deep), 0);
    assert_int_equal(tconn_sends(&t, "\x1b{\"execute\": \"query-status\", \"id\": 7}"), 0);
    int errors = 0;
    for (;;) {
        r = tconn_reply(&t);
        assert_non_null(r);
        if (jhas(r, "return")) {
            assert_int_equal(json_object_get_int(jget(r, "id")), 7);
            json_object_put(r);
            break;
        }
        errors++;
        json_object_put(r);
    }
    assert_true(errors >= 1);
    tconn_close(&t);
}

static void test_qmp_server__big_request_within_limit(void **state)
{
    (void)state;
    struct tconn t;
    open_negotiated(&t);
    size_t n = 60 * 1024;
    char *req = malloc(n + 64);
    int off = sprintf(req, "{\"execute\": \"query-status\", \"id\": \"");
    memset(req + off, 'x', n);
    strcpy(req + off + n, "\"}");
    struct json_object *r = tconn_exec(&t, req);
    assert_non_null(r);
    assert_int_equal(strlen(jstr(r, "id")), n);
    json_object_put(r);
    free(req);
    tconn_close(&t);
}

static void test_qmp_server__oversized_input_drops_client(void **state)
{
    (void)state;
    struct tconn t;
    open_negotiated(&t);
    size_t n = QMP_MAX_INPUT + 8192;
    char *junk = malloc(n);
    memcpy(junk, "{\"execute\": \"", 13);
    memset(junk + 13, 'a', n - 13);
    tconn_send(&t, junk, n); /* may fail midway: the server hangs up */
    free(junk);
    assert_true(tconn_closed(&t));
    tconn_close(&t);
    /* The server still serves the next client, and the machine was never involved. */
    open_negotiated(&t);
    expect_status(&t, "running");
    tconn_close(&t);
    char log[256];
    assert_string_equal(fake_vm_log(&h.vm, log, sizeof(log)), "");
}

#define MANY 6

static void test_qmp_server__many_clients_and_events(void **state)
{
    (void)state;
    struct tconn t[MANY], shy;
    for (int i = 0; i < MANY; i++)
        open_negotiated(&t[i]);
    assert_int_equal(tconn_open(&shy, h.path), 0); /* never negotiates before the event */
    json_object_put(tconn_read(&shy));
    for (int i = MANY - 1; i >= 0; i--) {
        char req[64];
        snprintf(req, sizeof(req), "{\"execute\": \"query-status\", \"id\": %d}", i);
        struct json_object *r = tconn_exec(&t[i], req);
        assert_int_equal(json_object_get_int(jget(r, "id")), i);
        json_object_put(r);
    }
    struct json_object *data = json_object_new_object();
    json_object_object_add(data, "guest", json_object_new_boolean(1));
    json_object_object_add(data, "reason", json_object_new_string("guest-reset"));
    assert_int_equal(qmp_server_emit(&h.srv, "RESET", data), 0);
    for (int i = 0; i < MANY; i++) {
        struct json_object *ev = tconn_read(&t[i]);
        assert_string_equal(jstr(ev, "event"), "RESET");
        assert_string_equal(jstr(ev, "data.reason"), "guest-reset");
        json_object_put(ev);
    }
    /* The client that had not negotiated got nothing: its next message is the reply. */
    struct json_object *r = tconn_exec(&shy, "{\"execute\": \"qmp_capabilities\", \"id\": 5}");
    assert_int_equal(json_object_get_int(jget(r, "id")), 5);
    json_object_put(r);
    for (int i = 0; i < MANY; i++)
        tconn_close(&t[i]);
    tconn_close(&shy);
}

static void test_qmp_server__client_cap(void **state)
{
    (void)state;
    static struct tconn t[QMP_MAX_CLIENTS];
    for (int i = 0; i < QMP_MAX_CLIENTS; i++) {
        assert_int_equal(tconn_open(&t[i], h.path), 0);
        struct json_object *g = tconn_read(&t[i]);
        assert_true(jhas(g, "QMP"));
        json_object_put(g);
    }
    struct tconn extra;
    assert_int_equal(tconn_open(&extra, h.path), 0);
    struct json_object *r = tconn_read(&extra);
    assert_string_equal(jstr(r, "error.desc"), "too many QMP clients (16)");
    json_object_put(r);
    assert_true(tconn_closed(&extra));
    tconn_close(&extra);
    /* One leaves: a newcomer is served again (once the server noticed). */
    tconn_close(&t[0]);
    bool served = false;
    for (int tries = 0; tries < 50 && !served; tries++) {
        assert_int_equal(tconn_open(&extra, h.path), 0);
        struct json_object *g = tconn_read(&extra);
        served = jhas(g, "QMP");
        json_object_put(g);
        if (!served) {
            tconn_close(&extra);
            usleep(20000);
        }
    }
    assert_true(served);
    tconn_close(&extra);
    for (int i = 1; i < QMP_MAX_CLIENTS; i++)
        tconn_close(&t[i]);
}

static void test_qmp_server__client_gone_mid_command(void **state)
{
    (void)state;
    h.vm.delay_ms = 100; /* the client is gone before the reply is written */
    struct tconn t;
    open_negotiated(&t);
    assert_int_equal(tconn_sends(&t, "{\"execute\": \"stop\"}{\"execute\": \"query-status\"}"), 0);
    tconn_close(&t);
    usleep(300000);
    open_negotiated(&t);
    h.vm.delay_ms = 0;
    expect_status(&t, "paused"); /* the command ran; the server carried on */
    tconn_close(&t);
    char log[256];
    assert_string_equal(fake_vm_log(&h.vm, log, sizeof(log)), "stop;");
}

static void *emitter(void *arg)
{
    (void)arg;
    qmp_server_emit(&h.srv, "SUSPEND", NULL);
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "vcpu", json_object_new_int(0));
    json_object_object_add(d, "target", json_object_new_int(1));
    qmp_server_emit(&h.srv, "cpu_on", d);
    return NULL;
}

static void test_qmp_server__event_from_another_thread(void **state)
{
    (void)state;
    struct tconn t;
    open_negotiated(&t);
    time_t before = time(NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, emitter, NULL), 0);
    pthread_join(th, NULL);
    struct json_object *ev = tconn_read(&t);
    assert_string_equal(jstr(ev, "event"), "SUSPEND");
    assert_false(jhas(ev, "data")); /* no data: no member, as QEMU */
    int64_t sec = json_object_get_int64(jget(ev, "timestamp.seconds"));
    int64_t usec = json_object_get_int64(jget(ev, "timestamp.microseconds"));
    assert_true(sec >= before && sec <= time(NULL));
    assert_true(usec >= 0 && usec < 1000000);
    json_object_put(ev);
    ev = tconn_read(&t);
    assert_string_equal(jstr(ev, "event"), "cpu_on");
    assert_int_equal(json_object_get_int(jget(ev, "data.target")), 1);
    assert_true(jhas(ev, "timestamp.seconds"));
    json_object_put(ev);
    tconn_close(&t);
}

/* STOP, emitted by the machine inside `stop`, arrives before the reply (as in QEMU). */
static void test_qmp_server__event_before_reply(void **state)
{
    (void)state;
    struct tconn t;
    open_negotiated(&t);
    assert_int_equal(tconn_sends(&t, "{\"execute\": \"stop\", \"id\": 1}"), 0);
    struct json_object *m = tconn_read(&t);
    assert_string_equal(jstr(m, "event"), "STOP");
    json_object_put(m);
    m = tconn_read(&t);
    assert_true(jhas(m, "return"));
    json_object_put(m);
    m = tconn_exec(&t, "{\"execute\": \"cont\", \"id\": 2}");
    assert_int_equal(json_object_get_int(jget(m, "id")), 2); /* RESUME skipped by exec */
    json_object_put(m);
    tconn_close(&t);
}

static void test_qmp_server__emit_without_listeners_or_server(void **state)
{
    (void)state;
    assert_int_equal(qmp_server_emit(&h.srv, "STOP", json_object_new_object()), 0);
    assert_int_equal(qmp_server_emit(NULL, "STOP", json_object_new_object()), 0);
    assert_int_equal(h.srv.nr_queued, 0); /* nobody negotiated: nothing kept */
}

static void test_qmp_server__slow_reader_dropped(void **state)
{
    (void)state;
    struct tconn slow, fine;
    open_negotiated(&slow);
    char *big = malloc(65537);
    memset(big, 'e', 65536);
    big[65536] = '\0';
    for (int i = 0; i < (QMP_MAX_OUTPUT / 65536) + 16; i++) {
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "pad", json_object_new_string(big));
        assert_int_equal(qmp_server_emit(&h.srv, "cpu_off", d), 0);
    }
    free(big);
    assert_true(tconn_closed(&slow)); /* reads what was sent, then EOF */
    tconn_close(&slow);
    open_negotiated(&fine);
    expect_status(&fine, "running");
    tconn_close(&fine);
}

static void test_qmp_server__half_close_gets_every_reply(void **state)
{
    (void)state;
    struct tconn t;
    assert_int_equal(tconn_open(&t, h.path), 0);
    assert_int_equal(tconn_sends(&t, "{\"execute\": \"qmp_capabilities\"}\n"
                                     "{\"execute\": \"query-status\", \"id\": 1}\n"
                                     "{\"execute\": \"query-commands\", \"id\": 2}\n"), 0);
    shutdown(t.fd, SHUT_WR);
    int replies = 0;
    struct json_object *m;
    while ((m = tconn_read(&t))) {
        replies += jhas(m, "return");
        json_object_put(m);
    }
    assert_int_equal(replies, 3);
    tconn_close(&t);
}

/* quit's reply goes out, and so does what is queued when the server is released. */
static void test_qmp_server__quit_and_release_flush(void **state)
{
    (void)state;
    struct tconn t;
    open_negotiated(&t);
    struct json_object *r = tconn_exec(&t, "{\"execute\": \"quit\", \"id\": \"q\"}");
    assert_true(jhas(r, "return"));
    assert_string_equal(jstr(r, "id"), "q");
    json_object_put(r);
    harness_join(&h); /* the machine's loop has ended */
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "guest", json_object_new_boolean(0));
    json_object_object_add(d, "reason", json_object_new_string("host-qmp-quit"));
    assert_int_equal(qmp_server_emit(&h.srv, "SHUTDOWN", d), 0);
    qmp_server_release(&h.srv);
    struct json_object *ev = tconn_read(&t);
    assert_string_equal(jstr(ev, "event"), "SHUTDOWN");
    assert_string_equal(jstr(ev, "data.reason"), "host-qmp-quit");
    json_object_put(ev);
    assert_true(tconn_closed(&t));
    tconn_close(&t);
    struct stat st;
    assert_int_equal(lstat(h.path, &st), -1); /* unlinked */
}

/* ---- the socket file -------------------------------------------------------------------- */

static void test_qmp_server__socket_mode_0600(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(lstat(h.path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
}

static int bound_socket(const char *path, bool listening)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    if (listening)
        assert_int_equal(listen(fd, 1), 0);
    return fd;
}

static void test_qmp_server__path_rules(void **state)
{
    (void)state;
    char dir[] = "/tmp/pscivm-qmp-path-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/s", dir);
    struct loop loop;
    assert_int_equal(loop_init(&loop, NULL, NULL), 0);
    struct fake_vm vm;
    fake_vm_init(&vm);
    struct vm_control ctl = fake_vm_control(&vm);
    struct qmp_server s;
    char err[256];

    /* A live server's socket: refused, still there. */
    int live = bound_socket(path, true);
    assert_int_equal(qmp_server_init(&s, path, &loop, &ctl, err, sizeof(err)), -EADDRINUSE);
    assert_non_null(strstr(err, path));
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    close(live);

    /* Now stale (nobody accepts): reused. */
    assert_int_equal(qmp_server_init(&s, path, &loop, &ctl, err, sizeof(err)), 0);
    /* Somebody replaces the socket file: release leaves theirs alone. */
    assert_int_equal(unlink(path), 0);
    FILE *f = fopen(path, "w");
    fputs("theirs", f);
    fclose(f);
    qmp_server_release(&s);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));

    /* A regular file: refused, untouched. */
    assert_int_equal(qmp_server_init(&s, path, &loop, &ctl, err, sizeof(err)), -EEXIST);
    assert_non_null(strstr(err, "not a socket"));
    char buf[16] = "";
    f = fopen(path, "r");
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "theirs");
    unlink(path);

    /* A bound socket that never listened is stale too. */
    int dead = bound_socket(path, false);
    assert_int_equal(qmp_server_init(&s, path, &loop, &ctl, err, sizeof(err)), 0);
    close(dead);
    qmp_server_release(&s);
    assert_int_equal(lstat(path, &st), -1);

    /* Too long, and a directory that does not exist. */
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(qmp_server_init(&s, longp, &loop, &ctl, err, sizeof(err)), -ENAMETOOLONG);
    assert_int_equal(qmp_server_init(&s, "/nonexistent-dir/qmp", &loop, &ctl, err, sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err, "/nonexistent-dir/qmp"));

    fake_vm_release(&vm);
    loop_release(&loop);
    rmdir(dir);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_qmp_server__greeting_and_crlf),
        T(test_qmp_server__negotiation_required),
        T(test_qmp_server__split_and_pipelined),
        T(test_qmp_server__parse_errors_keep_the_connection),
        T(test_qmp_server__big_request_within_limit),
        T(test_qmp_server__oversized_input_drops_client),
        T(test_qmp_server__many_clients_and_events),
        T(test_qmp_server__client_cap),
        T(test_qmp_server__client_gone_mid_command),
        T(test_qmp_server__event_from_another_thread),
        T(test_qmp_server__event_before_reply),
        T(test_qmp_server__emit_without_listeners_or_server),
        T(test_qmp_server__slow_reader_dropped),
        T(test_qmp_server__half_close_gets_every_reply),
        T(test_qmp_server__quit_and_release_flush),
        T(test_qmp_server__socket_mode_0600),
        cmocka_unit_test(test_qmp_server__path_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
