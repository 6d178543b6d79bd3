/* qmp_harness.c — the fake machine, the server-on-a-thread and the blocking test client of
 * qmp_harness.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "qmp_harness.h"

/* ---- the fake machine -------------------------------------------------------------------- */

void fake_vm_init(struct fake_vm *vm)
{
    memset(vm, 0, sizeof(*vm));
    pthread_mutex_init(&vm->lock, NULL);
    vm->status = VM_STATUS_RUNNING;
}

void fake_vm_release(struct fake_vm *vm)
{
    pthread_mutex_destroy(&vm->lock);
}

struct vm_control fake_vm_control(struct fake_vm *vm)
{
    return (struct vm_control){.ops = &fake_vm_ops, .opaque = vm};
}

const char *fake_vm_log(struct fake_vm *vm, char *buf, size_t len)
{
    pthread_mutex_lock(&vm->lock);
    snprintf(buf, len, "%s", vm->log);
    pthread_mutex_unlock(&vm->lock);
    return buf;
}

/* Log the call; 0, or the injected failure (consumed). Called with the lock held. */
static int record(struct fake_vm *vm, const char *what, char *err, size_t errlen)
{
    size_t n = strlen(vm->log);
    snprintf(vm->log + n, sizeof(vm->log) - n, "%s;", what);
    int rc = vm->fail_rc;
    if (rc) {
        if (vm->fail_msg)
            snprintf(err, errlen, "%s", vm->fail_msg);
        vm->fail_rc = 0;
        vm->fail_msg = NULL;
    }
    return rc;
}

static void pause_ms(int ms)
{
    if (ms > 0) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static enum vm_run_status f_status(void *opaque)
{
    struct fake_vm *vm = opaque;
    pthread_mutex_lock(&vm->lock);
    enum vm_run_status s = vm->status;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

static int simple(void *opaque, const char *what, enum vm_run_status to, const char *event,
                  char *err, size_t errlen)
{
    struct fake_vm *vm = opaque;
    pause_ms(vm->delay_ms);
    pthread_mutex_lock(&vm->lock);
    int rc = record(vm, what, err, errlen);
    if (!rc)
        vm->status = to;
    struct qmp_server *srv = vm->emit_to;
    pthread_mutex_unlock(&vm->lock);
    if (!rc && srv && event)
        qmp_server_emit(srv, event, NULL);
    return rc;
}

static int f_stop(void *o, char *err, size_t len)
{
    return simple(o, "stop", VM_STATUS_PAUSED, "STOP", err, len);
}
static int f_cont(void *o, char *err, size_t len)
{
    return simple(o, "cont", VM_STATUS_RUNNING, "RESUME", err, len);
}
static int f_system_reset(void *o, char *err, size_t len)
{
    return simple(o, "system_reset", VM_STATUS_RUNNING, NULL, err, len);
}
static int f_system_powerdown(void *o, char *err, size_t len)
{
    return simple(o, "system_powerdown", f_status(o), NULL, err, len);
}
static int f_quit(void *o, char *err, size_t len)
{
    return simple(o, "quit", VM_STATUS_SHUTDOWN, NULL, err, len);
}

static int f_system_wakeup(void *opaque, char *err, size_t errlen)
{
    struct fake_vm *vm = opaque;
    if (f_status(vm) != VM_STATUS_SUSPENDED) {
        snprintf(err, errlen, "the guest is not suspended");
        return -EINVAL;
    }
    return simple(opaque, "system_wakeup", VM_STATUS_RUNNING, NULL, err, errlen);
}

static int f_query_cpus(void *opaque, struct json_object **out, char *err, size_t errlen)
{
    struct fake_vm *vm = opaque;
    pthread_mutex_lock(&vm->lock);
    int rc = record(vm, "query_cpus", err, errlen);
    pthread_mutex_unlock(&vm->lock);
    if (rc)
        return rc;
    *out = json_tokener_parse("[{\"cpu-index\": 0, \"qom-path\": \"/machine/cpu/0\", "
                              "\"thread-id\": 100, \"target\": \"aarch64\", \"props\": "
                              "{\"core-id\": 0}, \"psci-state\": \"on\"}, {\"cpu-index\": 1, "
                              "\"qom-path\": \"/machine/cpu/1\", \"thread-id\": 101, "
                              "\"target\": \"aarch64\", \"props\": {\"core-id\": 1}, "
                              "\"psci-state\": \"off\"}]");
    return 0;
}

static int f_query_psci(void *opaque, struct json_object **out, char *err, size_t errlen)
{
    struct fake_vm *vm = opaque;
    pthread_mutex_lock(&vm->lock);
    int rc = record(vm, "query_psci", err, errlen);
    pthread_mutex_unlock(&vm->lock);
    if (rc)
        return rc;
    *out = json_tokener_parse("{\"version\": \"1.3\", \"mode\": \"user\", \"cpus\": "
                              "[{\"cpu-index\": 0, \"mpidr\": \"0x0\", \"state\": \"on\", "
                              "\"plugged\": true}]}");
    return 0;
}

static int plug(void *opaque, const char *what, unsigned int id, char *err, size_t errlen)
{
    struct fake_vm *vm = opaque;
    char entry[48];
    snprintf(entry, sizeof(entry), "%s %u", what, id);
    pthread_mutex_lock(&vm->lock);
    int rc = record(vm, entry, err, errlen);
    pthread_mutex_unlock(&vm->lock);
    if (!rc && id >= 4) {
        snprintf(err, errlen, "no vCPU %u (the machine has 4)", id);
        rc = -ENOENT;
    }
    return rc;
}

static int f_cpu_plug(void *o, unsigned int id, char *err, size_t len)
{
    return plug(o, "cpu_plug", id, err, len);
}
static int f_cpu_unplug(void *o, unsigned int id, char *err, size_t len)
{
    return plug(o, "cpu_unplug", id, err, len);
}

static int f_snapshot_save(void *opaque, const char *file, const struct vm_snapshot_opts *o,
                           struct json_object **out, char *err, size_t errlen)
{
    struct fake_vm *vm = opaque;
    char entry[128];
    snprintf(entry, sizeof(entry), "snapshot_save %s %d%s", file, (int)o->then,
             o->raw_ram ? " raw" : "");
    pthread_mutex_lock(&vm->lock);
    int rc = record(vm, entry, err, errlen);
    pthread_mutex_unlock(&vm->lock);
    if (!rc) {
        *out = json_object_new_object();
        json_object_object_add(*out, "file", json_object_new_string(file));
    }
    return rc;
}

const struct vm_control_ops fake_vm_ops = {
    .status = f_status,
    .stop = f_stop,
    .cont = f_cont,
    .system_reset = f_system_reset,
    .system_powerdown = f_system_powerdown,
    .system_wakeup = f_system_wakeup,
    .quit = f_quit,
    .query_cpus = f_query_cpus,
    .query_psci = f_query_psci,
    .cpu_plug = f_cpu_plug,
    .cpu_unplug = f_cpu_unplug,
    .snapshot_save = f_snapshot_save,
};

/* ---- the server on its loop thread ------------------------------------------------------- */

static void *loop_thread(void *arg)
{
    struct qmp_harness *h = arg;
    while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE))
        loop_run_once(&h->loop, 100);
    return NULL;
}

int harness_start(struct qmp_harness *h)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->dir, sizeof(h->dir), "/tmp/pscivm-qmp-XXXXXX");
    if (!mkdtemp(h->dir))
        return -errno;
    snprintf(h->path, sizeof(h->path), "%s/qmp.sock", h->dir);
    fake_vm_init(&h->vm);
    h->ctl = fake_vm_control(&h->vm);
    int rc = loop_init(&h->loop, NULL, NULL);
    if (rc)
        return rc;
    char err[256];
    rc = qmp_server_init(&h->srv, h->path, &h->loop, &h->ctl, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "qmp_server_init: %s\n", err);
        loop_release(&h->loop);
        return rc;
    }
    h->vm.emit_to = &h->srv;
    rc = pthread_create(&h->thread, NULL, loop_thread, h);
    return -rc;
}

void harness_join(struct qmp_harness *h)
{
    if (h->joined)
        return;
    __atomic_store_n(&h->stop, 1, __ATOMIC_RELEASE);
    loop_wake(&h->loop);
    pthread_join(h->thread, NULL);
    h->joined = true;
}

void harness_stop(struct qmp_harness *h)
{
    harness_join(h);
    qmp_server_release(&h->srv);
    loop_release(&h->loop);
    fake_vm_release(&h->vm);
    unlink(h->path);
    rmdir(h->dir);
}

/* ---- the test client --------------------------------------------------------------------- */

int tconn_open(struct tconn *t, const char *path)
{
    memset(t, 0, sizeof(*t));
    t->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (t->fd < 0)
        return -errno;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(t->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;
        close(t->fd);
        t->fd = -1;
        return -e;
    }
    t->tok = json_tokener_new();
    return 0;
}

void tconn_close(struct tconn *t)
{
    if (t->fd >= 0)
        close(t->fd);
    if (t->tok)
        json_tokener_free(t->tok);
    t->fd = -1;
    t->tok = NULL;
}

int tconn_send(struct tconn *t, const char *text, size_t len)
{
    while (len) {
        ssize_t n = send(t->fd, text, len, MSG_NOSIGNAL);
        if (n < 0)
            return -errno;
        text += n;
        len -= (size_t)n;
    }
    return 0;
}

int tconn_sends(struct tconn *t, const char *text)
{
    return tconn_send(t, text, strlen(text));
}

struct json_object *tconn_read(struct tconn *t)
{
    for (;;) {
        if (t->off < t->len) {
            struct json_object *o = json_tokener_parse_ex(t->tok, t->buf + t->off,
                                                          (int)(t->len - t->off));
            enum json_tokener_error e = json_tokener_get_error(t->tok);
            if (e == json_tokener_success) {
                t->off += json_tokener_get_parse_end(t->tok);
                return o;
            }
            if (e != json_tokener_continue)
                return NULL;
            t->off = t->len;
        }
        ssize_t n = recv(t->fd, t->buf, sizeof(t->buf), 0);
        if (n <= 0)
            return NULL;
        t->off = 0;
        t->len = (size_t)n;
    }
}

struct json_object *tconn_reply(struct tconn *t)
{
    for (;;) {
        struct json_object *o = tconn_read(t);
        if (!o || !jhas(o, "event"))
            return o;
        json_object_put(o);
    }
}

bool tconn_negotiate(struct tconn *t)
{
    struct json_object *g = tconn_read(t);
    bool ok = g && jhas(g, "QMP");
    json_object_put(g);
    struct json_object *r = tconn_exec(t, "{\"execute\": \"qmp_capabilities\"}");
    ok = ok && r && jhas(r, "return");
    json_object_put(r);
    return ok;
}

struct json_object *tconn_exec(struct tconn *t, const char *request)
{
    if (tconn_sends(t, request))
        return NULL;
    return tconn_reply(t);
}

bool tconn_closed(struct tconn *t)
{
    char buf[4096];
    for (;;) {
        ssize_t n = recv(t->fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n < 0)
            return false; /* timeout */
    }
}

/* ---- JSON helpers ------------------------------------------------------------------------ */

struct json_object *jget(struct json_object *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL;
    for (char *key = strtok_r(buf, ".", &save); key; key = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(o, key, &o))
            return NULL;
    return o;
}

bool jhas(struct json_object *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL;
    for (char *key = strtok_r(buf, ".", &save); key; key = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(o, key, &o))
            return false;
    return true;
}

const char *jstr(struct json_object *o, const char *path)
{
    struct json_object *v = jget(o, path);
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}
