/* qmp_harness.h — shared by the QMP tests: a fake machine behind struct vm_control that
 * records every operation, a QMP server on a real socket in a temporary directory with the
 * loop running on its own thread, and a minimal blocking test client (independent of
 * src/qmp/client.c, so the server's tests do not rely on the code they would check). */
#ifndef PSCIVM_TESTS_QMP_HARNESS_H
#define PSCIVM_TESTS_QMP_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "machine/control.h"
#include "qmp/server.h"
#include "util/loop.h"

struct json_object;

/* ---- the fake machine ---- */
struct fake_vm {
    pthread_mutex_t lock;
    enum vm_run_status status;
    char log[2048];       /* "stop;cont;cpu_plug 2;" ... */
    int fail_rc;          /* when non-zero, the next operation fails with it ... */
    const char *fail_msg; /* ... and this message (NULL: leaves err empty) */
    int delay_ms;         /* every operation sleeps this long first */
    struct qmp_server *emit_to; /* stop/cont emit STOP/RESUME here, as the machine does */
};
void fake_vm_init(struct fake_vm *vm);
void fake_vm_release(struct fake_vm *vm);
struct vm_control fake_vm_control(struct fake_vm *vm);
/* The log so far (copied under the lock into buf). */
const char *fake_vm_log(struct fake_vm *vm, char *buf, size_t len);
extern const struct vm_control_ops fake_vm_ops;

/* ---- the server on its loop thread ---- */
struct qmp_harness {
    char dir[64];
    char path[128];
    struct loop loop;
    struct qmp_server srv;
    struct fake_vm vm;
    struct vm_control ctl;
    pthread_t thread;
    int stop;
    bool joined;
};
/* 0 or -errno; asserts nothing (tests assert on the result). */
int harness_start(struct qmp_harness *h);
/* Stop the loop thread (the server stays up, nothing is served any more). */
void harness_join(struct qmp_harness *h);
/* harness_join, then release the server, the loop, the fake machine and the directory. */
void harness_stop(struct qmp_harness *h);

/* ---- a blocking test client ---- */
struct tconn {
    int fd;
    void *tok; /* json_tokener */
    char buf[65536];
    size_t off, len;
};
/* Connect (5 s receive timeout). 0 or -errno. */
int tconn_open(struct tconn *t, const char *path);
void tconn_close(struct tconn *t);
/* Send bytes as they are. 0 or -errno. */
int tconn_send(struct tconn *t, const char *text, size_t len);
int tconn_sends(struct tconn *t, const char *text);
/* The next JSON message (caller puts), or NULL on EOF, timeout or bad JSON. */
struct json_object *tconn_read(struct tconn *t);
/* The next message that is not an event. */
struct json_object *tconn_reply(struct tconn *t);
/* Read the greeting and negotiate; true when both went as expected. */
bool tconn_negotiate(struct tconn *t);
/* Send one request and return its reply (skipping events). */
struct json_object *tconn_exec(struct tconn *t, const char *request);
/* True when the server closed the connection (EOF or reset) within 5 s. */
bool tconn_closed(struct tconn *t);

/* JSON helpers for assertions. */
const char *jstr(struct json_object *o, const char *path); /* "error.desc": NULL if absent */
bool jhas(struct json_object *o, const char *path);
struct json_object *jget(struct json_object *o, const char *path);

#endif
