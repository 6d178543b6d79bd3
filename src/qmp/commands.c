/* commands.c — the QMP command table, the argument checks and the dispatcher (commands.h).
 * Messages follow QEMU's wording (qapi/qmp-dispatch.c, the QObject input visitor,
 * monitor/qmp-cmds-control.c) so that QMP tooling and people who know QMP feel at home. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "machine/control.h"
#include "qmp/commands.h"

#ifndef PSCIVM_VERSION
#define PSCIVM_VERSION "unknown"
#endif

const char *qmp_error_class_name(enum qmp_error_class c)
{
    return c == QMP_ERROR_COMMAND_NOT_FOUND ? "CommandNotFound" : "GenericError";
}

static int fail(struct qmp_call *call, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct qmp_call *call, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->err, sizeof(call->err), fmt, ap);
    va_end(ap);
    return rc;
}

/* A vm_control operation's result: its message, or strerror when it left none. */
static int op_result(struct qmp_call *call, int rc)
{
    if (rc < 0 && !call->err[0])
        snprintf(call->err, sizeof(call->err), "%s", strerror(-rc));
    return rc < 0 ? rc : 0;
}

/* ---- the handlers ---------------------------------------------------------------------- */

static int cmd_qmp_capabilities(struct qmp_call *call)
{
    /* QEMU's order: the enum values (the visitor), then the negotiation state, then
     * whether the capabilities asked for are offered (pscivm offers none). */
    struct json_object *enable = NULL;
    size_t n = 0;
    if (json_object_object_get_ex(call->args, "enable", &enable))
        n = json_object_array_length(enable);
    for (size_t i = 0; i < n; i++) {
        const char *cap = json_object_get_string(json_object_array_get_idx(enable, i));
        if (strcmp(cap, "oob"))
            return fail(call, -EINVAL, "Parameter 'enable[%zu]' does not accept value '%s'", i,
                        cap);
    }
    if (call->session->negotiated) {
        call->err_class = QMP_ERROR_COMMAND_NOT_FOUND;
        return fail(call, -EALREADY, "Capabilities negotiation is already complete, "
                                     "command ignored");
    }
    if (n)
        return fail(call, -EINVAL, "Capability oob not available");
    call->session->negotiated = true;
    return 0;
}

static struct json_object *version_info(void)
{
    struct json_object *triple = json_object_new_object();
    json_object_object_add(triple, "major", json_object_new_int(0));
    json_object_object_add(triple, "minor", json_object_new_int(0));
    json_object_object_add(triple, "micro", json_object_new_int(0));
    struct json_object *v = json_object_new_object();
    json_object_object_add(v, "qemu", triple);
    json_object_object_add(v, "package", json_object_new_string("pscivm " PSCIVM_VERSION));
    return v;
}

static int cmd_query_version(struct qmp_call *call)
{
    call->ret = version_info();
    return 0;
}

static int cmd_query_commands(struct qmp_call *call)
{
    call->ret = json_object_new_array();
    for (const struct qmp_command *c = qmp_commands; c->name; c++) {
        if (!qmp_command_available(c, call->ctl))
            continue;
        struct json_object *info = json_object_new_object();
        json_object_object_add(info, "name", json_object_new_string(c->name));
        json_object_array_add(call->ret, info);
    }
    return 0;
}

static int cmd_query_status(struct qmp_call *call)
{
    enum vm_run_status st = call->ctl->ops->status(call->ctl->opaque);
    call->ret = json_object_new_object();
    json_object_object_add(call->ret, "running", json_object_new_boolean(st == VM_STATUS_RUNNING));
    json_object_object_add(call->ret, "status", json_object_new_string(vm_run_status_name(st)));
    return 0;
}

#define SIMPLE_OP(fn_name, op)                                                              \
    static int fn_name(struct qmp_call *call)                                               \
    {                                                                                       \
        return op_result(call, call->ctl->ops->op(call->ctl->opaque, call->err,            \
                                                  sizeof(call->err)));                     \
    }
SIMPLE_OP(cmd_stop, stop)
SIMPLE_OP(cmd_cont, cont)
SIMPLE_OP(cmd_system_reset, system_reset)
SIMPLE_OP(cmd_system_powerdown, system_powerdown)
SIMPLE_OP(cmd_system_wakeup, system_wakeup)
SIMPLE_OP(cmd_quit, quit)
#undef SIMPLE_OP

static int cmd_query_cpus_fast(struct qmp_call *call)
{
    int rc = call->ctl->ops->query_cpus(call->ctl->opaque, &call->ret, call->err,
                                        sizeof(call->err));
    if (rc == 0 && !call->ret)
        call->ret = json_object_new_array();
    return op_result(call, rc);
}

static int cmd_query_psci(struct qmp_call *call)
{
    return op_result(call, call->ctl->ops->query_psci(call->ctl->opaque, &call->ret, call->err,
                                                      sizeof(call->err)));
}

/* The "id" argument of cpu-plug/cpu-unplug: its type is checked already, its range here. */
static int vcpu_id(struct qmp_call *call, unsigned int *id)
{
    struct json_object *v;
    json_object_object_get_ex(call->args, "id", &v);
    int64_t n = json_object_get_int64(v);
    if (n < 0 || n > UINT_MAX)
        return fail(call, -EINVAL, "Parameter 'id' expects a vCPU index");
    *id = (unsigned int)n;
    return 0;
}

static int cmd_cpu_plug(struct qmp_call *call)
{
    unsigned int id = 0;
    int rc = vcpu_id(call, &id);
    if (rc)
        return rc;
    return op_result(call, call->ctl->ops->cpu_plug(call->ctl->opaque, id, call->err,
                                                    sizeof(call->err)));
}

static int cmd_cpu_unplug(struct qmp_call *call)
{
    unsigned int id = 0;
    int rc = vcpu_id(call, &id);
    if (rc)
        return rc;
    return op_result(call, call->ctl->ops->cpu_unplug(call->ctl->opaque, id, call->err,
                                                      sizeof(call->err)));
}

static int cmd_snapshot_save(struct qmp_call *call)
{
    struct json_object *v;
    json_object_object_get_ex(call->args, "file", &v);
    const char *file = json_object_get_string(v);
    if (!file || !*file)
        return fail(call, -EINVAL, "Parameter 'file' expects a file path");
    enum vm_snapshot_then then = VM_SNAPSHOT_CONTINUE;
    if (json_object_object_get_ex(call->args, "then", &v)) {
        const char *t = json_object_get_string(v);
        if (!strcmp(t, "stop"))
            then = VM_SNAPSHOT_STOP;
        else if (!strcmp(t, "quit"))
            then = VM_SNAPSHOT_QUIT;
        else if (strcmp(t, "continue"))
            return fail(call, -EINVAL, "Parameter 'then' does not accept value '%s'", t);
    }
    struct vm_snapshot_opts o = {.then = then};
    if (json_object_object_get_ex(call->args, "ram-encoding", &v)) {
        const char *e = json_object_get_string(v);
        if (!strcmp(e, "raw"))
            o.raw_ram = true;
        else if (strcmp(e, "zstd"))
            return fail(call, -EINVAL, "Parameter 'ram-encoding' does not accept value '%s'", e);
    }
    return op_result(call, call->ctl->ops->snapshot_save(call->ctl->opaque, file, &o,
                                                         &call->ret, call->err,
                                                         sizeof(call->err)));
}

/* ---- the table --------------------------------------------------------------------------- */

static const struct qmp_arg_spec capabilities_args[] = {
    {"enable", QMP_ARG_STRING_LIST, true},
    {NULL, QMP_ARG_INT, false},
};
static const struct qmp_arg_spec cpu_id_args[] = {
    {"id", QMP_ARG_INT, false},
    {NULL, QMP_ARG_INT, false},
};

static const struct qmp_arg_spec snapshot_save_args[] = {
    {"file", QMP_ARG_STRING, false},
    {"then", QMP_ARG_STRING, true},
    {"ram-encoding", QMP_ARG_STRING, true},
    {NULL, QMP_ARG_INT, false},
};

const struct qmp_command qmp_commands[] = {
    {"qmp_capabilities", capabilities_args, QMP_OP_NONE, cmd_qmp_capabilities,
     "leave capabilities negotiation (first command of every connection)"},
    {"query-version", NULL, QMP_OP_NONE, cmd_query_version,
     "{\"qemu\": {\"major\", \"minor\", \"micro\"}, \"package\": \"pscivm VERSION\"}"},
    {"query-commands", NULL, QMP_OP_NONE, cmd_query_commands, "[{\"name\": COMMAND} ...]"},
    {"query-status", NULL, QMP_OP_STATUS, cmd_query_status,
     "{\"running\": bool, \"status\": \"running|paused|suspended|shutdown\"}"},
    {"stop", NULL, QMP_OP_STOP, cmd_stop, "pause every vCPU (event STOP)"},
    {"cont", NULL, QMP_OP_CONT, cmd_cont, "let paused vCPUs run again (event RESUME)"},
    {"system_reset", NULL, QMP_OP_SYSTEM_RESET, cmd_system_reset,
     "reset the machine as a guest SYSTEM_RESET would (event RESET)"},
    {"system_powerdown", NULL, QMP_OP_SYSTEM_POWERDOWN, cmd_system_powerdown,
     "press the power button (event POWERDOWN)"},
    {"system_wakeup", NULL, QMP_OP_SYSTEM_WAKEUP, cmd_system_wakeup,
     "wake a guest in SYSTEM_SUSPEND (an error otherwise; event WAKEUP)"},
    {"quit", NULL, QMP_OP_QUIT, cmd_quit, "end pscivm (event SHUTDOWN)"},
    {"query-cpus-fast", NULL, QMP_OP_QUERY_CPUS, cmd_query_cpus_fast,
     "[{\"cpu-index\", \"qom-path\", \"thread-id\", \"target\", \"props\", \"psci-state\"}]"},
    {"query-psci", NULL, QMP_OP_QUERY_PSCI, cmd_query_psci,
     "{\"version\", \"mode\", \"cpus\": [{\"cpu-index\", \"mpidr\", \"state\", \"plugged\"}]}"},
    {"cpu-plug", cpu_id_args, QMP_OP_CPU_PLUG, cmd_cpu_plug,
     "{\"id\": N}: allow PSCI CPU_ON of vCPU N"},
    {"cpu-unplug", cpu_id_args, QMP_OP_CPU_UNPLUG, cmd_cpu_unplug,
     "{\"id\": N}: refuse PSCI CPU_ON of vCPU N again (it must be off)"},
    {"snapshot-save", snapshot_save_args, QMP_OP_SNAPSHOT_SAVE, cmd_snapshot_save,
     "{\"file\": PATH, \"then\": \"continue|stop|quit\", \"ram-encoding\": \"zstd|raw\"}: "
     "save the VM to PATH atomically (event snapshot_save); then run on (default), stay "
     "paused, or end pscivm (exit 9); RAM zstd-compressed (default) or raw (mapped by restore)"},
    {NULL, NULL, QMP_OP_NONE, NULL, NULL},
};

const struct qmp_command *qmp_command_find(const char *name)
{
    for (const struct qmp_command *c = qmp_commands; c->name; c++)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

bool qmp_command_available(const struct qmp_command *cmd, const struct vm_control *ctl)
{
    const struct vm_control_ops *o = ctl->ops;
    switch (cmd->op) {
    case QMP_OP_NONE:
        return true;
    case QMP_OP_STATUS:
        return o->status;
    case QMP_OP_STOP:
        return o->stop;
    case QMP_OP_CONT:
        return o->cont;
    case QMP_OP_SYSTEM_RESET:
        return o->system_reset;
    case QMP_OP_SYSTEM_POWERDOWN:
        return o->system_powerdown;
    case QMP_OP_SYSTEM_WAKEUP:
        return o->system_wakeup;
    case QMP_OP_QUIT:
        return o->quit;
    case QMP_OP_QUERY_CPUS:
        return o->query_cpus;
    case QMP_OP_QUERY_PSCI:
        return o->query_psci;
    case QMP_OP_CPU_PLUG:
        return o->cpu_plug;
    case QMP_OP_CPU_UNPLUG:
        return o->cpu_unplug;
    case QMP_OP_SNAPSHOT_SAVE:
        return o->snapshot_save;
    }
    return false;
}

/* ---- checking a request ------------------------------------------------------------------ */

/* The arguments against the schema, in QEMU's order: declared members (missing, wrong
 * type), then members nobody declared. */
static int check_args(const struct qmp_command *cmd, struct qmp_call *call)
{
    static const struct qmp_arg_spec none[] = {{NULL, QMP_ARG_INT, false}};
    const struct qmp_arg_spec *specs = cmd->args ? cmd->args : none;
    for (const struct qmp_arg_spec *a = specs; a->name; a++) {
        struct json_object *v;
        if (!json_object_object_get_ex(call->args, a->name, &v)) {
            if (a->optional)
                continue;
            return fail(call, -EINVAL, "Parameter '%s' is missing", a->name);
        }
        if (a->type == QMP_ARG_INT) {
            if (!json_object_is_type(v, json_type_int))
                return fail(call, -EINVAL, "Invalid parameter type for '%s', expected: integer",
                            a->name);
            continue;
        }
        if (a->type == QMP_ARG_STRING) {
            if (!json_object_is_type(v, json_type_string))
                return fail(call, -EINVAL, "Invalid parameter type for '%s', expected: string",
                            a->name);
            continue;
        }
        if (!json_object_is_type(v, json_type_array))
            return fail(call, -EINVAL, "Invalid parameter type for '%s', expected: array",
                        a->name);
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
                return fail(call, -EINVAL,
                            "Invalid parameter type for '%s[%zu]', expected: string", a->name, i);
    }
    json_object_object_foreach(call->args, key, val) {
        (void)val;
        bool known = false;
        for (const struct qmp_arg_spec *a = specs; a->name && !known; a++)
            known = !strcmp(a->name, key);
        if (!known)
            return fail(call, -EINVAL, "Parameter '%s' is unexpected", key);
    }
    return 0;
}

/* The request's members (qmp_dispatch_check_obj): sets *name and *args. */
static int check_request(struct json_object *req, struct qmp_call *call, const char **name,
                         struct json_object **args)
{
    if (!json_object_is_type(req, json_type_object))
        return fail(call, -EINVAL, "QMP input must be a JSON object");
    *name = NULL;
    *args = NULL;
    json_object_object_foreach(req, key, val) {
        if (!strcmp(key, "execute")) {
            if (!json_object_is_type(val, json_type_string))
                return fail(call, -EINVAL, "QMP input member 'execute' must be a string");
            *name = json_object_get_string(val);
        } else if (!strcmp(key, "arguments")) {
            if (!json_object_is_type(val, json_type_object))
                return fail(call, -EINVAL, "QMP input member 'arguments' must be an object");
            *args = val;
        } else if (strcmp(key, "id")) {
            return fail(call, -EINVAL, "QMP input member '%s' is unexpected", key);
        }
    }
    if (!*name)
        return fail(call, -EINVAL, "QMP input lacks member 'execute'");
    return 0;
}

static int execute(struct qmp_call *call, struct json_object *req)
{
    const char *name = NULL;
    struct json_object *args = NULL;
    int rc = check_request(req, call, &name, &args);
    if (rc)
        return rc;
    if (!call->session->negotiated && strcmp(name, "qmp_capabilities")) {
        call->err_class = QMP_ERROR_COMMAND_NOT_FOUND;
        return fail(call, -ENOENT, "Expecting capabilities negotiation with 'qmp_capabilities'");
    }
    const struct qmp_command *cmd = qmp_command_find(name);
    if (!cmd || !qmp_command_available(cmd, call->ctl)) {
        call->err_class = QMP_ERROR_COMMAND_NOT_FOUND;
        return fail(call, -ENOENT, "The command %s has not been found", name);
    }
    struct json_object *empty = NULL;
    if (!args)
        args = empty = json_object_new_object();
    if (!args)
        return fail(call, -ENOMEM, "out of memory");
    call->args = args;
    rc = check_args(cmd, call);
    if (rc == 0)
        rc = cmd->fn(call);
    call->args = NULL;
    json_object_put(empty);
    return rc;
}

struct json_object *qmp_error_reply(enum qmp_error_class cls, const char *desc)
{
    struct json_object *e = json_object_new_object();
    struct json_object *r = json_object_new_object();
    if (!e || !r) {
        json_object_put(e);
        json_object_put(r);
        return NULL;
    }
    json_object_object_add(e, "class", json_object_new_string(qmp_error_class_name(cls)));
    json_object_object_add(e, "desc", json_object_new_string(desc));
    json_object_object_add(r, "error", e);
    return r;
}

struct json_object *qmp_dispatch(const struct vm_control *ctl, struct qmp_session *session,
                                 struct json_object *request)
{
    struct qmp_call call = {.ctl = ctl, .session = session, .err_class = QMP_ERROR_GENERIC};
    int rc = execute(&call, request);
    struct json_object *reply;
    if (rc < 0) {
        json_object_put(call.ret);
        reply = qmp_error_reply(call.err_class, call.err[0] ? call.err : strerror(-rc));
    } else {
        reply = json_object_new_object();
        if (reply)
            json_object_object_add(reply, "return",
                                   call.ret ? call.ret : json_object_new_object());
        else
            json_object_put(call.ret);
    }
    struct json_object *id;
    if (reply && json_object_is_type(request, json_type_object) &&
        json_object_object_get_ex(request, "id", &id))
        json_object_object_add(reply, "id", json_object_get(id));
    return reply;
}

struct json_object *qmp_greeting(void)
{
    struct json_object *qmp = json_object_new_object();
    json_object_object_add(qmp, "version", version_info());
    json_object_object_add(qmp, "capabilities", json_object_new_array());
    struct json_object *g = json_object_new_object();
    json_object_object_add(g, "QMP", qmp);
    return g;
}
