/* client.c — the QMP client and the `pscivm ctl` command line (client.h). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "qmp/client.h"
#include "qmp/commands.h"
#include "util/errbuf.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- reading messages -------------------------------------------------------------------- */

/* A complete message from the bytes already read: 1 (*msg set), 0 (need more), -EPROTO. */
static int parse_buffered(struct qmp_client *c, struct json_object **msg, char *err,
                          size_t errlen)
{
    while (c->off < c->len) {
        struct json_object *o = json_tokener_parse_ex(c->tok, c->buf + c->off,
                                                      (int)(c->len - c->off));
        enum json_tokener_error e = json_tokener_get_error(c->tok);
        if (e == json_tokener_continue) {
            c->off = c->len;
            return 0;
        }
        if (e != json_tokener_success)
            return errbuf_fail(err, errlen, -EPROTO, "the server sent invalid JSON (%s)",
                               json_tokener_error_desc(e));
        size_t used = json_tokener_get_parse_end(c->tok);
        c->off += used ? used : 1;
        if (!json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            return errbuf_fail(err, errlen, -EPROTO, "the server sent a JSON value that is not an "
                               "object");
        }
        *msg = o;
        return 1;
    }
    return 0;
}

int qmp_client_read(struct qmp_client *c, int timeout_ms, struct json_object **msg,
                    char *err, size_t errlen)
{
    *msg = NULL;
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    for (;;) {
        int rc = parse_buffered(c, msg, err, errlen);
        if (rc)
            return rc < 0 ? rc : 0;
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            if (left <= 0)
                return errbuf_fail(err, errlen, -ETIMEDOUT,
                                   "no message from the server within %d ms", timeout_ms);
            wait = (int)left;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        rc = poll(&p, 1, wait);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return errbuf_fail(err, errlen, -errno, "poll: %s", strerror(errno));
        if (rc == 0)
            continue; /* the deadline check above reports it */
        ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == ECONNRESET)
            n = 0; /* the server went away: the end of the stream */
        if (n < 0)
            return errbuf_fail(err, errlen, -errno, "reading from the QMP socket: %s",
                               strerror(errno));
        if (n == 0)
            return 0;
        c->off = 0;
        c->len = (size_t)n;
    }
}

int qmp_client_send(struct qmp_client *c, const void *data, size_t len, char *err,
                    size_t errlen)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errbuf_fail(err, errlen, -errno, "writing to the QMP socket: %s",
                               strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- connecting and executing ------------------------------------------------------------ */

int qmp_client_init(struct qmp_client *c, const char *path, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->reply_timeout_ms = -1;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return errbuf_fail(err, errlen, -ENAMETOOLONG, "cannot connect to %s: %s", path,
                           strerror(ENAMETOOLONG));
    memcpy(addr.sun_path, path, strlen(path) + 1);
    c->tok = json_tokener_new();
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = 0;
    if (!c->tok)
        rc = errbuf_fail(err, errlen, -ENOMEM, "out of memory");
    else if (c->fd < 0)
        rc = errbuf_fail(err, errlen, -errno, "socket(AF_UNIX): %s", strerror(errno));
    else if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        rc = errbuf_fail(err, errlen, -errno, "cannot connect to %s: %s", path, strerror(errno));
    if (rc)
        goto out;
    char why[200];
    rc = qmp_client_read(c, QMP_CLIENT_GREETING_MS, &c->greeting, why, sizeof(why));
    if (rc == -ETIMEDOUT)
        rc = errbuf_fail(err, errlen, rc, "%s: no QMP greeting within %d s", path,
                         QMP_CLIENT_GREETING_MS / 1000);
    else if (rc)
        rc = errbuf_fail(err, errlen, rc, "%s: %s", path, why);
    else if (!c->greeting)
        rc = errbuf_fail(err, errlen, -ECONNRESET,
                         "%s: the server closed the connection before its greeting", path);
    else if (!json_object_object_get_ex(c->greeting, "QMP", NULL))
        rc = errbuf_fail(err, errlen, -EPROTO, "%s: not a QMP greeting: %s", path,
                         json_object_to_json_string_ext(c->greeting, JSON_C_TO_STRING_PLAIN));
    if (rc == 0)
        return 0;
out:
    qmp_client_release(c);
    return rc;
}

void qmp_client_release(struct qmp_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    if (c->tok)
        json_tokener_free(c->tok);
    json_object_put(c->greeting);
    c->fd = -1;
    c->tok = NULL;
    c->greeting = NULL;
}

int qmp_client_execute(struct qmp_client *c, const char *command, struct json_object *args,
                       struct json_object **ret, char *err, size_t errlen)
{
    *ret = NULL;
    unsigned int id = ++c->next_id;
    struct json_object *req = json_object_new_object();
    if (!req) {
        json_object_put(args);
        return errbuf_fail(err, errlen, -ENOMEM, "out of memory");
    }
    json_object_object_add(req, "execute", json_object_new_string(command));
    if (args)
        json_object_object_add(req, "arguments", args);
    json_object_object_add(req, "id", json_object_new_int64(id));
    const char *text = json_object_to_json_string_ext(
        req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    int rc = qmp_client_send(c, text, strlen(text), err, errlen);
    if (rc == 0)
        rc = qmp_client_send(c, "\n", 1, err, errlen);
    json_object_put(req);
    if (rc)
        return rc;
    for (;;) {
        struct json_object *msg;
        rc = qmp_client_read(c, c->reply_timeout_ms, &msg, err, errlen);
        if (rc)
            return rc;
        if (!msg)
            return errbuf_fail(err, errlen, -ECONNRESET, "the server closed the connection before "
                               "answering %s", command);
        struct json_object *v, *e;
        /* Our reply: our id, or no id at all (errors found before the server saw it). */
        bool ours = json_object_object_get_ex(msg, "id", &v)
                        ? json_object_is_type(v, json_type_int) &&
                              json_object_get_int64(v) == (int64_t)id
                        : !json_object_object_get_ex(msg, "event", NULL);
        if (ours && json_object_object_get_ex(msg, "return", &v)) {
            *ret = json_object_get(v);
            json_object_put(msg);
            return 0;
        }
        if (ours && json_object_object_get_ex(msg, "error", &e)) {
            const char *desc = json_object_object_get_ex(e, "desc", &v)
                                   ? json_object_get_string(v) : "error without a desc";
            rc = errbuf_fail(err, errlen, -EREMOTEIO, "%s", desc);
            json_object_put(msg);
            return rc;
        }
        json_object_put(msg); /* an event, or somebody else's reply */
    }
}

int qmp_client_negotiate(struct qmp_client *c, char *err, size_t errlen)
{
    struct json_object *ret;
    int rc = qmp_client_execute(c, "qmp_capabilities", NULL, &ret, err, errlen);
    json_object_put(ret);
    return rc;
}

int qmp_client_shell(struct qmp_client *c, int in_fd,
                     void (*fn)(void *opaque, struct json_object *msg), void *opaque,
                     char *err, size_t errlen)
{
    if (c->greeting)
        fn(opaque, c->greeting);
    bool input = true;
    for (;;) {
        struct json_object *msg;
        int rc;
        while ((rc = parse_buffered(c, &msg, err, errlen)) > 0) {
            fn(opaque, msg);
            json_object_put(msg);
        }
        if (rc < 0)
            return rc;
        struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN}, {.fd = in_fd, .events = POLLIN}};
        if (poll(p, input ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return errbuf_fail(err, errlen, -errno, "poll: %s", strerror(errno));
        }
        if (input && p[1].revents) {
            char buf[4096];
            ssize_t n = read(in_fd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0 && qmp_client_send(c, buf, (size_t)n, err, errlen) == 0)
                continue;
            input = false; /* EOF, a read error or the server stopped reading */
            shutdown(c->fd, SHUT_WR);
        }
        if (p[0].revents) {
            ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n == 0 || (n < 0 && errno == ECONNRESET))
                return 0;
            if (n < 0)
                return errbuf_fail(err, errlen, -errno, "reading from the QMP socket: %s",
                                   strerror(errno));
            c->off = 0;
            c->len = (size_t)n;
        }
    }
}

/* ---- command-line arguments -------------------------------------------------------------- */

/* The JSON value `text` stands for, if it is JSON: true with *out set (NULL is JSON null). */
static bool parse_json_value(const char *text, struct json_object **out)
{
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return false;
    size_t len = strlen(text);
    /* len + 1: the terminating NUL ends a number ("42" alone would wait for more digits). */
    struct json_object *o = json_tokener_parse_ex(tok, text, (int)len + 1);
    bool ok = json_tokener_get_error(tok) == json_tokener_success &&
              json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(o);
        return false;
    }
    *out = o;
    return true;
}

/* Whether `command` takes a vCPU id, so that a bare number means {"id": N}. */
static bool takes_bare_id(const char *command)
{
    const struct qmp_command *cmd = qmp_command_find(command);
    return cmd && cmd->args && cmd->args[0].name && !strcmp(cmd->args[0].name, "id") &&
           cmd->args[0].type == QMP_ARG_INT && !cmd->args[1].name;
}

int qmp_client_parse_args(const char *command, int argc, char *const argv[],
                          struct json_object **args, char *err, size_t errlen)
{
    *args = NULL;
    if (argc <= 0)
        return 0;
    struct json_object *o = json_object_new_object();
    if (!o)
        return errbuf_fail(err, errlen, -ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < argc && !rc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        struct json_object *value = NULL;
        char key[128];
        if (!eq) {
            if (!takes_bare_id(command) || !parse_json_value(a, &value) ||
                !json_object_is_type(value, json_type_int)) {
                json_object_put(value);
                rc = errbuf_fail(err, errlen, -EINVAL, "argument '%s' is not KEY=VALUE%s", a,
                                 takes_bare_id(command) ? " nor a vCPU index" : "");
                break;
            }
            snprintf(key, sizeof(key), "id");
        } else {
            if (eq == a || (size_t)(eq - a) >= sizeof(key)) {
                rc = errbuf_fail(err, errlen, -EINVAL,
                                 "argument '%s': the key before '=' must be 1 to %zu characters",
                                 a, sizeof(key) - 1);
                break;
            }
            memcpy(key, a, (size_t)(eq - a));
            key[eq - a] = '\0';
            if (!parse_json_value(eq + 1, &value))
                value = json_object_new_string(eq + 1);
        }
        if (json_object_object_get_ex(o, key, NULL)) {
            json_object_put(value);
            rc = errbuf_fail(err, errlen, -EINVAL, "argument '%s' given twice", key);
            break;
        }
        json_object_object_add(o, key, value);
    }
    if (rc) {
        json_object_put(o);
        return rc;
    }
    *args = o;
    return 0;
}

int qmp_ctl_options_parse(struct qmp_ctl_options *o, int argc, char *const argv[], char *err,
                          size_t errlen)
{
    *o = (struct qmp_ctl_options){.mode = QMP_CTL_EXECUTE};
    bool raw = false;
    int i = 1;
    /* Options before PATH and right after it; everything after COMMAND is ARGS. */
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            o->mode = QMP_CTL_HELP;
            return 0;
        } else if (!strcmp(a, "--raw")) {
            raw = true;
        } else if (a[0] == '-' && a[1]) {
            return errbuf_fail(err, errlen, -EINVAL, "unknown option '%s'", a);
        } else if (!o->path) {
            o->path = a;
        } else {
            o->command = a;
            i++;
            break;
        }
    }
    if (!o->path)
        return errbuf_fail(err, errlen, -EINVAL, "missing PATH (the socket given to run --qmp)");
    if (raw) {
        if (o->command)
            return errbuf_fail(err, errlen, -EINVAL, "--raw takes no COMMAND (it reads JSON from "
                               "stdin)");
        o->mode = QMP_CTL_RAW;
        return 0;
    }
    if (!o->command)
        return errbuf_fail(err, errlen, -EINVAL, "missing COMMAND (or --raw)");
    if (!strcmp(o->command, "events")) {
        if (i < argc)
            return errbuf_fail(err, errlen, -EINVAL, "events takes no arguments");
        o->mode = QMP_CTL_EVENTS;
        return 0;
    }
    return qmp_client_parse_args(o->command, argc - i, argv + i, &o->args, err, errlen);
}

void qmp_ctl_options_release(struct qmp_ctl_options *o)
{
    json_object_put(o->args);
    o->args = NULL;
}
