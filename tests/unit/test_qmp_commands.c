/* test_qmp_commands.c — the QMP dispatcher without sockets: greeting shape, negotiation
 * required (and only once), QEMU's request-shape and argument messages (missing, wrong type,
 * unexpected), unknown commands, `id` echoed whatever its type, and every command's success
 * and error replies against a fake machine that records the operations it was asked for. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "qmp/commands.h"
#include "qmp_harness.h"

static struct fake_vm vm;
static struct vm_control ctl;
static struct qmp_session session;

static int setup(void **state)
{
    (void)state;
    fake_vm_init(&vm);
    ctl = fake_vm_control(&vm);
    session = (struct qmp_session){.negotiated = true};
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_vm_release(&vm);
    return 0;
}

/* Dispatch one request given as JSON text; the reply (caller puts). */
static struct json_object *run(const char *request)
{
    enum json_tokener_error e;
    struct json_object *req = json_tokener_parse_verbose(request, &e);
    assert_int_equal(e, json_tokener_success);
    struct json_object *reply = qmp_dispatch(&ctl, &session, req);
    json_object_put(req);
    assert_non_null(reply);
    return reply;
}

static void expect_error(const char *request, const char *cls, const char *desc)
{
    struct json_object *r = run(request);
    if (!jstr(r, "error.desc") || strcmp(jstr(r, "error.desc"), desc))
        fail_msg("%s: expected error \"%s\", got %s", request, desc,
                 json_object_to_json_string(r));
    assert_string_equal(jstr(r, "error.class"), cls);
    assert_false(jhas(r, "return"));
    json_object_put(r);
}

static void expect_generic(const char *request, const char *desc)
{
    expect_error(request, "GenericError", desc);
}

/* The reply's "return", as plain JSON text, checked against `expected`. */
static void expect_return(const char *request, const char *expected)
{
    struct json_object *r = run(request);
    struct json_object *ret = jget(r, "return");
    if (!jhas(r, "return"))
        fail_msg("%s: expected a return, got %s", request, json_object_to_json_string(r));
    assert_false(jhas(r, "error"));
    assert_string_equal(json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PLAIN), expected);
    json_object_put(r);
}

static const char *log_of(void)
{
    static char buf[2048];
    return fake_vm_log(&vm, buf, sizeof(buf));
}

static void test_qmp_commands__greeting(void **state)
{
    (void)state;
    struct json_object *g = qmp_greeting();
    assert_true(json_object_is_type(jget(g, "QMP.version.qemu.major"), json_type_int));
    assert_true(json_object_is_type(jget(g, "QMP.version.qemu.minor"), json_type_int));
    assert_true(json_object_is_type(jget(g, "QMP.version.qemu.micro"), json_type_int));
    assert_non_null(strstr(jstr(g, "QMP.version.package"), "pscivm"));
    struct json_object *caps = jget(g, "QMP.capabilities");
    assert_true(json_object_is_type(caps, json_type_array));
    assert_int_equal(json_object_array_length(caps), 0);
    json_object_put(g);
}

static void test_qmp_commands__negotiation_required(void **state)
{
    (void)state;
    session.negotiated = false;
    struct json_object *r = run("{\"execute\": \"query-status\", \"id\": 7}");
    assert_string_equal(jstr(r, "error.class"), "CommandNotFound");
    assert_string_equal(jstr(r, "error.desc"),
                        "Expecting capabilities negotiation with 'qmp_capabilities'");
    assert_int_equal(json_object_get_int(jget(r, "id")), 7);
    json_object_put(r);
    expect_error("{\"execute\": \"no-such\"}", "CommandNotFound",
                 "Expecting capabilities negotiation with 'qmp_capabilities'");
    assert_string_equal(log_of(), ""); /* nothing reached the machine */
    expect_return("{\"execute\": \"qmp_capabilities\"}", "{}");
    assert_true(session.negotiated);
    expect_error("{\"execute\": \"qmp_capabilities\"}", "CommandNotFound",
                 "Capabilities negotiation is already complete, command ignored");
    expect_return("{\"execute\": \"query-status\"}", "{\"running\":true,\"status\":\"running\"}");
}

static void test_qmp_commands__capabilities_enable(void **state)
{
    (void)state;
    session.negotiated = false;
    expect_generic("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}",
                   "Capability oob not available");
    expect_generic("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"x\"]}}",
                   "Parameter 'enable[0]' does not accept value 'x'");
    expect_generic("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": \"oob\"}}",
                   "Invalid parameter type for 'enable', expected: array");
    expect_generic("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [1]}}",
                   "Invalid parameter type for 'enable[0]', expected: string");
    expect_generic("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"oob\": true}}",
                   "Parameter 'oob' is unexpected");
    assert_false(session.negotiated);
    expect_return("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": []}}", "{}");
    assert_true(session.negotiated);
}

static void test_qmp_commands__request_shape(void **state)
{
    (void)state;
    static const char *not_objects[] = {"42", "[]", "null", "\"query-status\"", "true"};
    for (size_t i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++) {
        struct json_object *r = run(not_objects[i]);
        assert_string_equal(jstr(r, "error.desc"), "QMP input must be a JSON object");
        assert_false(jhas(r, "id"));
        json_object_put(r);
    }
    expect_generic("{\"id\": 1}", "QMP input lacks member 'execute'");
    expect_generic("{\"execute\": 1}", "QMP input member 'execute' must be a string");
    expect_generic("{\"execute\": \"stop\", \"arguments\": []}",
                   "QMP input member 'arguments' must be an object");
    expect_generic("{\"execute\": \"stop\", \"foo\": 1}", "QMP input member 'foo' is unexpected");
    expect_generic("{\"exec-oob\": \"stop\"}", "QMP input member 'exec-oob' is unexpected");
    /* The id comes back even when the request is malformed. */
    struct json_object *r = run("{\"id\": \"abc\", \"execute\": 5}");
    assert_string_equal(jstr(r, "id"), "abc");
    json_object_put(r);
    assert_string_equal(log_of(), "");
}

static void test_qmp_commands__unknown_command(void **state)
{
    (void)state;
    struct json_object *r = run("{\"execute\": \"human-monitor-command\", \"id\": [1, 2]}");
    assert_string_equal(jstr(r, "error.class"), "CommandNotFound");
    assert_string_equal(jstr(r, "error.desc"),
                        "The command human-monitor-command has not been found");
    assert_string_equal(json_object_to_json_string_ext(jget(r, "id"), JSON_C_TO_STRING_PLAIN),
                        "[1,2]");
    json_object_put(r);
}

static void test_qmp_commands__id_echoed(void **state)
{
    (void)state;
    static const char *ids[] = {"1", "\"x\"", "{\"a\":[1,null]}", "null", "-5", "1.5", "true"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char req[128];
        snprintf(req, sizeof(req), "{\"execute\": \"query-status\", \"id\": %s}", ids[i]);
        struct json_object *r = run(req);
        assert_true(jhas(r, "return"));
        assert_true(jhas(r, "id"));
        assert_string_equal(json_object_to_json_string_ext(jget(r, "id"), JSON_C_TO_STRING_PLAIN),
                            ids[i]);
        json_object_put(r);
    }
    struct json_object *r = run("{\"execute\": \"query-status\"}");
    assert_false(jhas(r, "id"));
    json_object_put(r);
}

static void test_qmp_commands__query_version_and_commands(void **state)
{
    (void)state;
    struct json_object *r = run("{\"execute\": \"query-version\"}");
    assert_true(json_object_is_type(jget(r, "return.qemu.major"), json_type_int));
    assert_true(json_object_is_type(jget(r, "return.qemu.minor"), json_type_int));
    assert_true(json_object_is_type(jget(r, "return.qemu.micro"), json_type_int));
    assert_non_null(jstr(r, "return.package"));
    json_object_put(r);
    expect_return("{\"execute\": \"query-commands\"}",
                  "[{\"name\":\"qmp_capabilities\"},{\"name\":\"query-version\"},"
                  "{\"name\":\"query-commands\"},{\"name\":\"query-status\"},{\"name\":\"stop\"},"
                  "{\"name\":\"cont\"},{\"name\":\"system_reset\"},"
                  "{\"name\":\"system_powerdown\"},{\"name\":\"system_wakeup\"},"
                  "{\"name\":\"quit\"},{\"name\":\"query-cpus-fast\"},{\"name\":\"query-psci\"},"
                  "{\"name\":\"cpu-plug\"},{\"name\":\"cpu-unplug\"},{\"name\":\"snapshot-save\"}]");
}

/* A machine without an operation has no such command: not listed, CommandNotFound. */
static void test_qmp_commands__missing_op_means_no_command(void **state)
{
    (void)state;
    struct vm_control_ops ops = fake_vm_ops;
    ops.cpu_plug = NULL;
    ops.cpu_unplug = NULL;
    ops.system_wakeup = NULL;
    struct vm_control partial = {.ops = &ops, .opaque = &vm};
    struct json_object *req = json_tokener_parse("{\"execute\": \"query-commands\"}");
    struct json_object *r = qmp_dispatch(&partial, &session, req);
    const char *text = json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN);
    assert_null(strstr(text, "cpu-plug"));
    assert_null(strstr(text, "system_wakeup"));
    assert_non_null(strstr(text, "\"stop\""));
    json_object_put(r);
    json_object_put(req);
    req = json_tokener_parse("{\"execute\": \"cpu-plug\", \"arguments\": {\"id\": 1}}");
    r = qmp_dispatch(&partial, &session, req);
    assert_string_equal(jstr(r, "error.class"), "CommandNotFound");
    assert_string_equal(jstr(r, "error.desc"), "The command cpu-plug has not been found");
    json_object_put(r);
    json_object_put(req);
}

static void test_qmp_commands__query_status(void **state)
{
    (void)state;
    static const struct {
        enum vm_run_status st;
        const char *json;
    } cases[] = {
        {VM_STATUS_RUNNING, "{\"running\":true,\"status\":\"running\"}"},
        {VM_STATUS_PAUSED, "{\"running\":false,\"status\":\"paused\"}"},
        {VM_STATUS_SUSPENDED, "{\"running\":false,\"status\":\"suspended\"}"},
        {VM_STATUS_SHUTDOWN, "{\"running\":false,\"status\":\"shutdown\"}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vm.status = cases[i].st;
        expect_return("{\"execute\": \"query-status\"}", cases[i].json);
    }
}

static void test_qmp_commands__simple_ops(void **state)
{
    (void)state;
    expect_return("{\"execute\": \"stop\"}", "{}");
    assert_int_equal(vm.status, VM_STATUS_PAUSED);
    expect_return("{\"execute\": \"cont\", \"arguments\": {}}", "{}");
    expect_return("{\"execute\": \"system_reset\"}", "{}");
    expect_return("{\"execute\": \"system_powerdown\"}", "{}");
    expect_return("{\"execute\": \"quit\"}", "{}");
    assert_string_equal(log_of(), "stop;cont;system_reset;system_powerdown;quit;");
    /* Commands without arguments refuse any. */
    expect_generic("{\"execute\": \"stop\", \"arguments\": {\"now\": true}}",
                   "Parameter 'now' is unexpected");
    assert_string_equal(log_of(), "stop;cont;system_reset;system_powerdown;quit;");
}

static void test_qmp_commands__op_errors(void **state)
{
    (void)state;
    vm.fail_rc = -EBUSY;
    vm.fail_msg = "vCPU 2 did not stop within 1 s";
    expect_generic("{\"execute\": \"stop\", \"id\": 3}", "vCPU 2 did not stop within 1 s");
    vm.fail_rc = -EIO; /* no message: strerror */
    expect_generic("{\"execute\": \"system_reset\"}", strerror(EIO));
    vm.fail_rc = -EINVAL;
    vm.fail_msg = "no PSCI in this mode";
    expect_generic("{\"execute\": \"query-psci\"}", "no PSCI in this mode");
    vm.fail_rc = -ENOMEM;
    vm.fail_msg = "out of memory";
    expect_generic("{\"execute\": \"query-cpus-fast\"}", "out of memory");
}

static void test_qmp_commands__system_wakeup(void **state)
{
    (void)state;
    expect_generic("{\"execute\": \"system_wakeup\"}", "the guest is not suspended");
    vm.status = VM_STATUS_SUSPENDED;
    expect_return("{\"execute\": \"system_wakeup\"}", "{}");
    assert_string_equal(log_of(), "system_wakeup;");
}

static void test_qmp_commands__queries(void **state)
{
    (void)state;
    struct json_object *r = run("{\"execute\": \"query-cpus-fast\", \"id\": \"q\"}");
    assert_int_equal(json_object_array_length(jget(r, "return")), 2);
    assert_string_equal(
        jstr(json_object_array_get_idx(jget(r, "return"), 1), "psci-state"), "off");
    assert_string_equal(jstr(r, "id"), "q");
    json_object_put(r);
    r = run("{\"execute\": \"query-psci\"}");
    assert_string_equal(jstr(r, "return.version"), "1.3");
    assert_string_equal(jstr(r, "return.mode"), "user");
    json_object_put(r);
}

static void test_qmp_commands__cpu_plug_arguments(void **state)
{
    (void)state;
    expect_return("{\"execute\": \"cpu-plug\", \"arguments\": {\"id\": 2}}", "{}");
    expect_return("{\"execute\": \"cpu-unplug\", \"arguments\": {\"id\": 3}}", "{}");
    assert_string_equal(log_of(), "cpu_plug 2;cpu_unplug 3;");
    expect_generic("{\"execute\": \"cpu-plug\"}", "Parameter 'id' is missing");
    expect_generic("{\"execute\": \"cpu-plug\", \"arguments\": {}}", "Parameter 'id' is missing");
    expect_generic("{\"execute\": \"cpu-plug\", \"arguments\": {\"x\": 1}}",
                   "Parameter 'id' is missing");
    expect_generic("{\"execute\": \"cpu-plug\", \"arguments\": {\"id\": \"2\"}}",
                   "Invalid parameter type for 'id', expected: integer");
    expect_generic("{\"execute\": \"cpu-unplug\", \"arguments\": {\"id\": 1.5}}",
                   "Invalid parameter type for 'id', expected: integer");
    expect_generic("{\"execute\": \"cpu-unplug\", \"arguments\": {\"id\": null}}",
                   "Invalid parameter type for 'id', expected: integer");
    expect_generic("{\"execute\": \"cpu-plug\", \"arguments\": {\"id\": -1}}",
                   "Parameter 'id' expects a vCPU index");
    expect_generic("{\"execute\": \"cpu-plug\", \"arguments\": {\"id\": 4294967296}}",
                   "Parameter 'id' expects a vCPU index");
    expect_generic("{\"execute\": \"cpu-plug\", \"arguments\": {\"id\": 1, \"force\": true}}",
                   "Parameter 'force' is unexpected");
    assert_string_equal(log_of(), "cpu_plug 2;cpu_unplug 3;"); /* no bad call got through */
    struct json_object *r =
        run("{\"execute\": \"cpu-plug\", \"arguments\": {\"id\": 9}, \"id\": 1}");
    assert_string_equal(jstr(r, "error.desc"), "no vCPU 9 (the machine has 4)");
    assert_int_equal(json_object_get_int(jget(r, "id")), 1);
    json_object_put(r);
}

static void test_qmp_commands__snapshot_save_arguments(void **state)
{
    (void)state;
    expect_return("{\"execute\": \"snapshot-save\", \"arguments\": {\"file\": \"/s\"}}",
                  "{\"file\":\"\\/s\"}");
    expect_return("{\"execute\": \"snapshot-save\", \"arguments\": {\"file\": \"/t\", "
                  "\"then\": \"quit\"}}", "{\"file\":\"\\/t\"}");
    assert_string_equal(log_of(), "snapshot_save /s 0;snapshot_save /t 2;");
    expect_generic("{\"execute\": \"snapshot-save\"}", "Parameter 'file' is missing");
    expect_generic("{\"execute\": \"snapshot-save\", \"arguments\": {\"file\": 3}}",
                   "Invalid parameter type for 'file', expected: string");
    expect_generic("{\"execute\": \"snapshot-save\", \"arguments\": {\"file\": \"\"}}",
                   "Parameter 'file' expects a file path");
    expect_generic("{\"execute\": \"snapshot-save\", \"arguments\": {\"file\": \"/s\", "
                   "\"then\": \"later\"}}", "Parameter 'then' does not accept value 'later'");
    assert_string_equal(log_of(), "snapshot_save /s 0;snapshot_save /t 2;");
}

static void test_qmp_commands__table(void **state)
{
    (void)state;
    size_t n = 0;
    for (const struct qmp_command *c = qmp_commands; c->name; c++, n++) {
        assert_ptr_equal(qmp_command_find(c->name), c);
        assert_non_null(c->help);
    }
    assert_int_equal(n, 15);
    assert_null(qmp_command_find("query-cpus"));
    assert_string_equal(qmp_error_class_name(QMP_ERROR_GENERIC), "GenericError");
    assert_string_equal(qmp_error_class_name(QMP_ERROR_COMMAND_NOT_FOUND), "CommandNotFound");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_qmp_commands__greeting),
        T(test_qmp_commands__snapshot_save_arguments),
        T(test_qmp_commands__negotiation_required),
        T(test_qmp_commands__capabilities_enable),
        T(test_qmp_commands__request_shape),
        T(test_qmp_commands__unknown_command),
        T(test_qmp_commands__id_echoed),
        T(test_qmp_commands__query_version_and_commands),
        T(test_qmp_commands__missing_op_means_no_command),
        T(test_qmp_commands__query_status),
        T(test_qmp_commands__simple_ops),
        T(test_qmp_commands__op_errors),
        T(test_qmp_commands__system_wakeup),
        T(test_qmp_commands__queries),
        T(test_qmp_commands__cpu_plug_arguments),
        T(test_qmp_commands__table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
