/* client.h — a small QMP client (what `pscivm ctl` is made of): connect to a QMP socket,
 * read the greeting, negotiate, execute commands, read events, or relay raw JSON (a QMP
 * shell). Also the `pscivm ctl` command line, parsed here so that it is unit-tested on any
 * host (src/vmm/cmd_ctl.c only prints). Works with QEMU's QMP sockets as well.
 *
 * Blocking I/O on one socket; never prints (the caller does, from the messages it gets). */
#ifndef PSCIVM_QMP_CLIENT_H
#define PSCIVM_QMP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct json_tokener;

#define QMP_CLIENT_GREETING_MS 5000 /* a socket that says nothing is not a QMP server */

struct qmp_client {
    int fd;
    struct json_tokener *tok;
    char buf[16384];             /* bytes read, parsed from off to len */
    size_t off, len;
    unsigned int next_id;        /* ids of our requests, to match their replies */
    int reply_timeout_ms;        /* how long execute waits for a reply; -1 (default): ever */
    struct json_object *greeting;
};

/* Connect to the socket at `path` and read the greeting. 0, or -errno with a message naming
 * path (-ETIMEDOUT: no greeting; -EPROTO: not QMP). */
int qmp_client_init(struct qmp_client *c, const char *path, char *err, size_t errlen);
void qmp_client_release(struct qmp_client *c);

/* Execute `command` with `args` (an object or NULL; ownership taken) and wait for its reply,
 * skipping events. 0 with *ret the "return" value (caller puts); -EREMOTEIO when the server
 * answered an error (its desc in err); other -errno for the connection. */
int qmp_client_execute(struct qmp_client *c, const char *command, struct json_object *args,
                       struct json_object **ret, char *err, size_t errlen);

/* qmp_capabilities. 0, or as qmp_client_execute. */
int qmp_client_negotiate(struct qmp_client *c, char *err, size_t errlen);

/* The next message (a reply or an event; caller puts). timeout_ms < 0: no limit. 0 with *msg
 * NULL at end of stream; -ETIMEDOUT; -EPROTO when the server sent something that is not a
 * JSON object; -errno. */
int qmp_client_read(struct qmp_client *c, int timeout_ms, struct json_object **msg,
                    char *err, size_t errlen);

/* Send bytes as they are. 0 or -errno. */
int qmp_client_send(struct qmp_client *c, const void *data, size_t len, char *err,
                    size_t errlen);

/* QMP shell: hand the greeting, then every message the server sends, to fn (which must not
 * keep msg), while relaying everything readable on in_fd to the server verbatim. At EOF on
 * in_fd, half-close the socket and go on until the server closes. 0 or -errno. */
int qmp_client_shell(struct qmp_client *c, int in_fd,
                     void (*fn)(void *opaque, struct json_object *msg), void *opaque,
                     char *err, size_t errlen);

/* A command's ARGS: "key=value" pairs, value taken as JSON when it is JSON (numbers,
 * true/false/null, "quoted strings", objects, arrays), else as a string; a bare integer means
 * "id" for commands whose argument is a vCPU id (cpu-plug 2). *args is NULL without ARGS.
 * 0 or -EINVAL with a message. */
int qmp_client_parse_args(const char *command, int argc, char *const argv[],
                          struct json_object **args, char *err, size_t errlen);

/* The `pscivm ctl` command line (argv[0] is "ctl"):
 *   ctl [--raw] PATH [--raw] [COMMAND [ARGS...]]      ctl --help
 * COMMAND "events" means: print events until the socket closes. */
enum qmp_ctl_mode {
    QMP_CTL_HELP,    /* --help */
    QMP_CTL_EXECUTE, /* PATH COMMAND [ARGS] */
    QMP_CTL_EVENTS,  /* PATH events */
    QMP_CTL_RAW,     /* PATH --raw */
};
struct qmp_ctl_options {
    enum qmp_ctl_mode mode;
    const char *path;
    const char *command;
    struct json_object *args; /* owned: qmp_ctl_options_release */
};
/* 0 or -EINVAL with a message (a usage error: exit status 2). */
int qmp_ctl_options_parse(struct qmp_ctl_options *o, int argc, char *const argv[], char *err,
                          size_t errlen);
void qmp_ctl_options_release(struct qmp_ctl_options *o);

#endif
