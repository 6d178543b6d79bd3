/* commands.h — the QMP command table and dispatcher: one parsed request in, one reply out.
 *
 * qmp_dispatch() checks a request the way QEMU does (a JSON object with a string "execute",
 * an object "arguments", any "id"; nothing else), refuses everything but qmp_capabilities
 * until the session negotiated, looks the command up, checks its arguments against the
 * table's schema (missing, wrong type, unexpected — QEMU's messages), then calls the
 * vm_control operation (control.h). A command whose operation the machine left NULL does
 * not exist: it is absent from query-commands and answers CommandNotFound.
 *
 * No I/O here: the server (server.c) frames and sends; unit tests call qmp_dispatch
 * directly. Runs on the main-loop thread only. */
#ifndef PSCIVM_QMP_COMMANDS_H
#define PSCIVM_QMP_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct vm_control;

/* The error classes pscivm sends (QEMU's QapiErrorClass names). */
enum qmp_error_class {
    QMP_ERROR_GENERIC,           /* "GenericError" */
    QMP_ERROR_COMMAND_NOT_FOUND, /* "CommandNotFound" */
};
const char *qmp_error_class_name(enum qmp_error_class c);

/* One connection's protocol state. */
struct qmp_session {
    bool negotiated; /* qmp_capabilities succeeded: commands run, events are delivered */
};

/* Argument types the schema knows (QAPI's names in the messages: "integer", "array"). */
enum qmp_arg_type {
    QMP_ARG_INT,         /* a JSON integer (int64) */
    QMP_ARG_STRING_LIST, /* a JSON array of strings */
    QMP_ARG_STRING,      /* a JSON string */
};

struct qmp_arg_spec {
    const char *name; /* NULL ends the list */
    enum qmp_arg_type type;
    bool optional;
};

/* One command being executed: what the handler gets and fills in. */
struct qmp_call {
    const struct vm_control *ctl;
    struct qmp_session *session;
    struct json_object *args;       /* checked against the schema; never NULL */
    struct json_object *ret;        /* set by the handler on success (NULL: {}) */
    enum qmp_error_class err_class; /* set by the handler on failure (default generic) */
    char err[256];                  /* the error's "desc" on failure */
};

/* The vm_control operation a command needs (NULL there: the command does not exist). */
enum qmp_op {
    QMP_OP_NONE, QMP_OP_STATUS, QMP_OP_STOP, QMP_OP_CONT, QMP_OP_SYSTEM_RESET,
    QMP_OP_SYSTEM_POWERDOWN, QMP_OP_SYSTEM_WAKEUP, QMP_OP_QUIT, QMP_OP_QUERY_CPUS,
    QMP_OP_QUERY_PSCI, QMP_OP_CPU_PLUG, QMP_OP_CPU_UNPLUG,
    QMP_OP_SNAPSHOT_SAVE,
};

struct qmp_command {
    const char *name;
    const struct qmp_arg_spec *args; /* NULL: takes no arguments */
    enum qmp_op op;
    int (*fn)(struct qmp_call *call); /* 0, or -errno with call->err set */
    const char *help;                 /* one line, for `pscivm ctl --help` */
};

/* The table, in query-commands order; NULL-terminated by name. */
extern const struct qmp_command qmp_commands[];

/* The command called `name`, or NULL. Ignores whether the machine offers it. */
const struct qmp_command *qmp_command_find(const char *name);

/* Whether `ctl` offers `cmd` (its operation is not NULL). */
bool qmp_command_available(const struct qmp_command *cmd, const struct vm_control *ctl);

/* Execute one request (any JSON value a client sent; NULL is JSON null) and return the
 * reply: {"return": ...} or {"error": {"class", "desc"}}, plus the request's "id" when it
 * had one. The caller owns the reply. NULL only when out of memory. */
struct json_object *qmp_dispatch(const struct vm_control *ctl, struct qmp_session *session,
                                 struct json_object *request);

/* {"error": {"class", "desc"}} without an id (parse errors, limits). NULL: out of memory. */
struct json_object *qmp_error_reply(enum qmp_error_class cls, const char *desc);

/* The greeting {"QMP": {"version": <query-version>, "capabilities": []}}. */
struct json_object *qmp_greeting(void);

#endif
