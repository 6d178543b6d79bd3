/* test_qmp_client.c — the QMP client behind `pscivm ctl`: its argument syntax (KEY=VALUE
 * with JSON values, bare vCPU ids), its command line, and its conversations with the real
 * server on a socket (greeting, negotiation, replies and errors, events skipped or read,
 * the raw shell), plus what it says when the other end is missing or is not QMP. */
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
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "qmp/client.h"
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

static const char *plain(struct json_object *o)
{
    return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
}

/* Parse ARGS given as a NULL-terminated list; the arguments as JSON text, or the error. */
static int args_of(const char *command, char *out, size_t outlen, ...)
{
    char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, outlen);
    for (char *a; argc < 15 && (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    struct json_object *args;
    char err[256];
    int rc = qmp_client_parse_args(command, argc, argv, &args, err, sizeof(err));
    snprintf(out, outlen, "%s", rc ? err : args ? plain(args) : "(none)");
    json_object_put(args);
    return rc;
}

static void test_qmp_client__args(void **state)
{
    (void)state;
    char out[512];
    assert_int_equal(args_of("stop", out, sizeof(out), NULL), 0);
    assert_string_equal(out, "(none)");
    assert_int_equal(args_of("x", out, sizeof(out), "n=2", "b=true", "z=null", "s=hello",
                             "q=\"2\"", "o={\"a\": [1, 2]}", "e=", "eq=a=b", "f=1.5",
                             "w= 7 ", "t=tru", NULL), 0);
    assert_string_equal(out, "{\"n\":2,\"b\":true,\"z\":null,\"s\":\"hello\",\"q\":\"2\","
                             "\"o\":{\"a\":[1,2]},\"e\":\"\",\"eq\":\"a=b\",\"f\":1.5,\"w\":7,"
                             "\"t\":\"tru\"}");
    /* A bare number is the vCPU id for cpu-plug / cpu-unplug only. */
    assert_int_equal(args_of("cpu-plug", out, sizeof(out), "2", NULL), 0);
    assert_string_equal(out, "{\"id\":2}");
    assert_int_equal(args_of("cpu-unplug", out, sizeof(out), "id=3", NULL), 0);
    assert_string_equal(out, "{\"id\":3}");
    assert_int_equal(args_of("cpu-plug", out, sizeof(out), "two", NULL), -EINVAL);
    assert_string_equal(out, "argument 'two' is not KEY=VALUE nor a vCPU index");
    assert_int_equal(args_of("stop", out, sizeof(out), "2", NULL), -EINVAL);
    assert_string_equal(out, "argument '2' is not KEY=VALUE");
    assert_int_equal(args_of("cpu-plug", out, sizeof(out), "2", "id=3", NULL), -EINVAL);
    assert_string_equal(out, "argument 'id' given twice");
    assert_int_equal(args_of("x", out, sizeof(out), "=3", NULL), -EINVAL);
    assert_non_null(strstr(out, "key before '='"));
}

static int ctl_parse(struct qmp_ctl_options *o, char *err, ...)
{
    char *argv[16] = {(char *)"ctl"};
    int argc = 1;
    va_list ap;
    va_start(ap, err);
    for (char *a; argc < 15 && (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    return qmp_ctl_options_parse(o, argc, argv, err, 256);
}

static void test_qmp_client__ctl_command_line(void **state)
{
    (void)state;
    struct qmp_ctl_options o;
    char err[256];
    assert_int_equal(ctl_parse(&o, err, "--help", NULL), 0);
    assert_int_equal(o.mode, QMP_CTL_HELP);
    assert_int_equal(ctl_parse(&o, err, "/s", "-h", NULL), 0);
    assert_int_equal(o.mode, QMP_CTL_HELP);

    assert_int_equal(ctl_parse(&o, err, "/s", "cpu-plug", "2", NULL), 0);
    assert_int_equal(o.mode, QMP_CTL_EXECUTE);
    assert_string_equal(o.path, "/s");
    assert_string_equal(o.command, "cpu-plug");
    assert_string_equal(plain(o.args), "{\"id\":2}");
    qmp_ctl_options_release(&o);
    /* After COMMAND nothing is an option: "-1" is the (bad) id, for the server to refuse. */
    assert_int_equal(ctl_parse(&o, err, "/s", "cpu-unplug", "-1", NULL), 0);
    assert_string_equal(plain(o.args), "{\"id\":-1}");
    qmp_ctl_options_release(&o);
    assert_int_equal(ctl_parse(&o, err, "/s", "query-status", NULL), 0);
    assert_null(o.args);

    assert_int_equal(ctl_parse(&o, err, "/s", "events", NULL), 0);
    assert_int_equal(o.mode, QMP_CTL_EVENTS);
    assert_int_equal(ctl_parse(&o, err, "--raw", "/s", NULL), 0);
    assert_int_equal(o.mode, QMP_CTL_RAW);
    assert_int_equal(ctl_parse(&o, err, "/s", "--raw", NULL), 0);
    assert_int_equal(o.mode, QMP_CTL_RAW);

    assert_int_equal(ctl_parse(&o, err, NULL), -EINVAL);
    assert_non_null(strstr(err, "missing PATH"));
    assert_int_equal(ctl_parse(&o, err, "/s", NULL), -EINVAL);
    assert_non_null(strstr(err, "missing COMMAND"));
    assert_int_equal(ctl_parse(&o, err, "/s", "--raw", "stop", NULL), -EINVAL);
    assert_non_null(strstr(err, "--raw takes no COMMAND"));
    assert_int_equal(ctl_parse(&o, err, "--json", "/s", "stop", NULL), -EINVAL);
    assert_string_equal(err, "unknown option '--json'");
    assert_int_equal(ctl_parse(&o, err, "/s", "events", "x=1", NULL), -EINVAL);
    assert_int_equal(ctl_parse(&o, err, "/s", "stop", "now", NULL), -EINVAL);
    qmp_ctl_options_release(&o);
}

static void test_qmp_client__execute(void **state)
{
    (void)state;
    struct qmp_client c;
    char err[256];
    assert_int_equal(qmp_client_init(&c, h.path, err, sizeof(err)), 0);
    c.reply_timeout_ms = 5000;
    assert_non_null(jget(c.greeting, "QMP.version"));
    struct json_object *ret;
    /* Before negotiation: the server's error comes back as -EREMOTEIO. */
    assert_int_equal(qmp_client_execute(&c, "query-status", NULL, &ret, err, sizeof(err)),
                     -EREMOTEIO);
    assert_string_equal(err, "Expecting capabilities negotiation with 'qmp_capabilities'");
    assert_int_equal(qmp_client_negotiate(&c, err, sizeof(err)), 0);
    assert_int_equal(qmp_client_execute(&c, "query-status", NULL, &ret, err, sizeof(err)), 0);
    assert_string_equal(plain(ret), "{\"running\":true,\"status\":\"running\"}");
    json_object_put(ret);
    /* stop: the STOP event arrives before the reply and is skipped. */
    assert_int_equal(qmp_client_execute(&c, "stop", NULL, &ret, err, sizeof(err)), 0);
    assert_string_equal(plain(ret), "{}");
    json_object_put(ret);

    struct json_object *args;
    char *argv[] = {(char *)"2", NULL};
    assert_int_equal(qmp_client_parse_args("cpu-plug", 1, argv, &args, err, sizeof(err)), 0);
    assert_int_equal(qmp_client_execute(&c, "cpu-plug", args, &ret, err, sizeof(err)), 0);
    json_object_put(ret);
    char log[256];
    assert_string_equal(fake_vm_log(&h.vm, log, sizeof(log)), "stop;cpu_plug 2;");
    args = json_tokener_parse("{\"id\": 9}");
    assert_int_equal(qmp_client_execute(&c, "cpu-unplug", args, &ret, err, sizeof(err)),
                     -EREMOTEIO);
    assert_string_equal(err, "no vCPU 9 (the machine has 4)");
    assert_int_equal(qmp_client_execute(&c, "nope", NULL, &ret, err, sizeof(err)), -EREMOTEIO);
    assert_string_equal(err, "The command nope has not been found");
    assert_null(ret);
    qmp_client_release(&c);
}

static void test_qmp_client__events(void **state)
{
    (void)state;
    struct qmp_client c;
    char err[256];
    assert_int_equal(qmp_client_init(&c, h.path, err, sizeof(err)), 0);
    assert_int_equal(qmp_client_negotiate(&c, err, sizeof(err)), 0);
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "source", json_object_new_string("qmp"));
    assert_int_equal(qmp_server_emit(&h.srv, "WAKEUP", d), 0);
    assert_int_equal(qmp_server_emit(&h.srv, "POWERDOWN", NULL), 0);
    struct json_object *m;
    assert_int_equal(qmp_client_read(&c, 5000, &m, err, sizeof(err)), 0);
    assert_string_equal(jstr(m, "event"), "WAKEUP");
    assert_string_equal(jstr(m, "data.source"), "qmp");
    json_object_put(m);
    assert_int_equal(qmp_client_read(&c, 5000, &m, err, sizeof(err)), 0);
    assert_string_equal(jstr(m, "event"), "POWERDOWN");
    json_object_put(m);
    assert_int_equal(qmp_client_read(&c, 50, &m, err, sizeof(err)), -ETIMEDOUT);
    /* The server goes away (the VM ended): end of stream. */
    harness_join(&h);
    qmp_server_release(&h.srv);
    assert_int_equal(qmp_client_read(&c, 5000, &m, err, sizeof(err)), 0);
    assert_null(m);
    qmp_client_release(&c);
}

struct collected {
    int n;
    char text[8][512];
};

static void collect(void *opaque, struct json_object *msg)
{
    struct collected *col = opaque;
    if (col->n < 8)
        snprintf(col->text[col->n++], sizeof(col->text[0]), "%s", plain(msg));
}

static void test_qmp_client__shell(void **state)
{
    (void)state;
    struct qmp_client c;
    char err[256];
    assert_int_equal(qmp_client_init(&c, h.path, err, sizeof(err)), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    const char *in = "{\"execute\": \"qmp_capabilities\"}\n"
                     "{\"execute\": \"query-status\", \"id\": 1}\n"
                     "{oops}\n"
                     "{\"execute\": \"cpu-plug\", \"arguments\": {\"id\": 3}, \"id\": 2}\n";
    assert_int_equal(write(p[1], in, strlen(in)), (ssize_t)strlen(in));
    close(p[1]);
    struct collected col = {0};
    assert_int_equal(qmp_client_shell(&c, p[0], collect, &col, err, sizeof(err)), 0);
    close(p[0]);
    assert_int_equal(col.n, 5);
    assert_non_null(strstr(col.text[0], "\"QMP\""));
    assert_string_equal(col.text[1], "{\"return\":{}}");
    assert_string_equal(col.text[2], "{\"return\":{\"running\":true,\"status\":\"running\"},"
                                     "\"id\":1}");
    assert_non_null(strstr(col.text[3], "JSON parse error"));
    assert_string_equal(col.text[4], "{\"return\":{},\"id\":2}");
    qmp_client_release(&c);
}

static void test_qmp_client__cannot_connect(void **state)
{
    (void)state;
    struct qmp_client c;
    char err[256];
    char path[96];
    snprintf(path, sizeof(path), "%s/none", h.dir);
    assert_int_equal(qmp_client_init(&c, path, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, strerror(ENOENT)));
    /* A socket file nobody listens on. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(qmp_client_init(&c, path, err, sizeof(err)), -ECONNREFUSED);
    assert_non_null(strstr(err, path));
    close(fd);
    unlink(path);
}

/* A server that is not QMP: says `text` (NULL: nothing) and hangs up. */
struct impostor {
    int listen_fd;
    const char *text;
};

static void *impostor_thread(void *arg)
{
    struct impostor *im = arg;
    int fd = accept(im->listen_fd, NULL, NULL);
    if (fd >= 0) {
        if (im->text && write(fd, im->text, strlen(im->text)) < 0)
            perror("impostor write");
        close(fd);
    }
    return NULL;
}

static int impostor_says(const char *path, const char *text, char *err)
{
    struct impostor im = {.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0), .text = text};
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    unlink(path);
    assert_int_equal(bind(im.listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(im.listen_fd, 1), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, impostor_thread, &im), 0);
    struct qmp_client c;
    int rc = qmp_client_init(&c, path, err, 256);
    pthread_join(th, NULL);
    close(im.listen_fd);
    unlink(path);
    return rc;
}

static void test_qmp_client__not_qmp(void **state)
{
    (void)state;
    char path[96], err[256];
    snprintf(path, sizeof(path), "%s/other", h.dir);
    assert_int_equal(impostor_says(path, "{\"hello\": 1}\r\n", err), -EPROTO);
    assert_non_null(strstr(err, "not a QMP greeting"));
    assert_int_equal(impostor_says(path, "SSH-2.0-OpenSSH\r\n", err), -EPROTO);
    assert_non_null(strstr(err, "invalid JSON"));
    assert_int_equal(impostor_says(path, NULL, err), -ECONNRESET);
    assert_non_null(strstr(err, "closed the connection before its greeting"));
    assert_non_null(strstr(err, path));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qmp_client__args),
        cmocka_unit_test(test_qmp_client__ctl_command_line),
        T(test_qmp_client__execute),
        T(test_qmp_client__events),
        T(test_qmp_client__shell),
        T(test_qmp_client__cannot_connect),
        T(test_qmp_client__not_qmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
