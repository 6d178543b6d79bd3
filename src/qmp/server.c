/* server.c — the QMP control socket (server.h): the listening socket, one connection per
 * client (greeting, streaming JSON input with QEMU's error recovery, bounded output), and
 * the event queue other threads fill and the loop thread empties.
 *
 * Lifetime of a connection: accepted -> greeting queued -> requests dispatched as they parse
 * -> closed when the client hangs up (after its pending output went out), breaks a limit or
 * a write fails. A connection that must go is only marked `dead` and freed by reap() at the
 * end of the loop callback, so nothing up the stack ever holds a freed connection. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "qmp/commands.h"
#include "qmp/server.h"
#include "util/loop.h"
#include "util/errbuf.h"

#define READ_CHUNK 16384
#define OUTPUT_PAUSE (1024 * 1024) /* stop reading a client's requests while this much of
                                      its output is unsent; resume when it reads */
#define JSON_DEPTH 64
#define RELEASE_DRAIN_MS 200

struct qmp_event {
    struct qmp_event *next;
    size_t len;
    char text[]; /* the serialised event, "\r\n"-terminated */
};

struct qmp_conn {
    struct qmp_conn *next;
    struct qmp_server *srv;
    int fd;
    struct qmp_session session;
    json_tokener *tok;
    size_t pending;  /* bytes fed to the tokener since the last complete value */
    bool recovering; /* after a parse error: skipping to a resynchronisation point */
    bool eof;        /* the client sent EOF: send what is pending, then close */
    bool dead;       /* close at the end of the current callback (reap) */
    uint32_t watched;
    char *out;
    size_t out_off, out_len, out_cap;
};

static char *serialise(struct json_object *o, size_t *len)
{
    const char *s = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t n = strlen(s);
    char *text = malloc(n + 3);
    if (!text)
        return NULL;
    memcpy(text, s, n);
    memcpy(text + n, "\r\n", 3);
    *len = n + 2;
    return text;
}

/* ---- output ------------------------------------------------------------------------------ */

static size_t out_pending(const struct qmp_conn *c)
{
    return c->out_len - c->out_off;
}

static void conn_update_watch(struct qmp_conn *c)
{
    if (c->dead)
        return;
    if (c->eof && !out_pending(c)) {
        c->dead = true; /* said everything it asked for */
        return;
    }
    uint32_t want = 0;
    if (!c->eof && out_pending(c) < OUTPUT_PAUSE)
        want |= EPOLLIN;
    if (out_pending(c))
        want |= EPOLLOUT;
    if (want != c->watched && loop_modify(c->srv->loop, c->fd, want) == 0)
        c->watched = want;
}

static void conn_flush(struct qmp_conn *c)
{
    while (!c->dead && out_pending(c)) {
        ssize_t n = send(c->fd, c->out + c->out_off, out_pending(c), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            c->dead = true; /* EPIPE, ECONNRESET: the client is gone */
            return;
        }
        c->out_off += (size_t)n;
    }
    if (!out_pending(c))
        c->out_off = c->out_len = 0;
    conn_update_watch(c);
}

static void conn_queue(struct qmp_conn *c, const char *text, size_t len)
{
    if (c->dead)
        return;
    if (out_pending(c) + len > QMP_MAX_OUTPUT) {
        c->dead = true; /* it does not read: drop it rather than grow without bound */
        return;
    }
    if (c->out_off && c->out_len + len > c->out_cap) {
        memmove(c->out, c->out + c->out_off, out_pending(c));
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p) {
            c->dead = true;
            return;
        }
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, text, len);
    c->out_len += len;
}

/* Queue one message (consumed) and write what the socket takes now. */
static void conn_send(struct qmp_conn *c, struct json_object *msg)
{
    size_t len;
    char *text = msg ? serialise(msg, &len) : NULL;
    json_object_put(msg);
    if (!text) {
        c->dead = true; /* out of memory: the client would wait for a reply forever */
        return;
    }
    conn_queue(c, text, len);
    free(text);
    conn_flush(c);
}

/* ---- events ------------------------------------------------------------------------------ */

/* Send every queued event to every negotiated client (loop thread). */
static void deliver_events(struct qmp_server *s)
{
    pthread_mutex_lock(&s->lock);
    struct qmp_event *ev = s->queue_head;
    s->queue_head = s->queue_tail = NULL;
    s->nr_queued = 0;
    pthread_mutex_unlock(&s->lock);
    if (!ev)
        return;
    while (ev) {
        struct qmp_event *next = ev->next;
        for (struct qmp_conn *c = s->conns; c; c = c->next)
            if (c->session.negotiated)
                conn_queue(c, ev->text, ev->len);
        free(ev);
        ev = next;
    }
    for (struct qmp_conn *c = s->conns; c; c = c->next)
        conn_flush(c);
}

int qmp_server_emit(struct qmp_server *s, const char *event, struct json_object *data)
{
    if (!s || !__atomic_load_n(&s->listeners, __ATOMIC_ACQUIRE)) {
        json_object_put(data); /* nobody would receive it */
        return 0;
    }
    struct timespec ts;
    long long sec = -1, usec = -1; /* QMP's value when the host time is unavailable */
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0) {
        sec = ts.tv_sec;
        usec = ts.tv_nsec / 1000;
    }
    struct json_object *o = json_object_new_object();
    struct json_object *stamp = json_object_new_object();
    if (!o || !stamp) {
        json_object_put(o);
        json_object_put(stamp);
        json_object_put(data);
        return -ENOMEM;
    }
    json_object_object_add(o, "event", json_object_new_string(event));
    if (data)
        json_object_object_add(o, "data", data);
    json_object_object_add(stamp, "seconds", json_object_new_int64(sec));
    json_object_object_add(stamp, "microseconds", json_object_new_int64(usec));
    json_object_object_add(o, "timestamp", stamp);
    size_t len;
    char *text = serialise(o, &len);
    json_object_put(o);
    struct qmp_event *ev = text ? malloc(sizeof(*ev) + len + 1) : NULL;
    if (!ev) {
        free(text);
        return -ENOMEM;
    }
    ev->next = NULL;
    ev->len = len;
    memcpy(ev->text, text, len + 1);
    free(text);

    pthread_mutex_lock(&s->lock);
    if (s->nr_queued >= QMP_MAX_QUEUED_EVENTS) {
        s->events_dropped++;
        pthread_mutex_unlock(&s->lock);
        free(ev);
        return -ENOSPC;
    }
    if (s->queue_tail)
        s->queue_tail->next = ev;
    else
        s->queue_head = ev;
    s->queue_tail = ev;
    s->nr_queued++;
    pthread_mutex_unlock(&s->lock);

    uint64_t one = 1;
    ssize_t r = write(s->event_fd, &one, sizeof(one));
    (void)r; /* EAGAIN: the counter is already non-zero, the loop will look */
    return 0;
}

/* ---- input ------------------------------------------------------------------------------- */

static void conn_handle(struct qmp_conn *c, struct json_object *request)
{
    struct qmp_server *s = c->srv;
    bool was = c->session.negotiated;
    deliver_events(s); /* emitted before this request: they go first */
    struct json_object *reply = qmp_dispatch(&s->ctl, &c->session, request);
    if (!was && c->session.negotiated)
        __atomic_add_fetch(&s->listeners, 1, __ATOMIC_RELEASE);
    deliver_events(s); /* emitted by the command itself (STOP ...): before its reply */
    conn_send(c, reply);
}

static void parse_error(struct qmp_conn *c, const char *desc)
{
    json_tokener_reset(c->tok);
    c->pending = 0;
    c->recovering = true;
    char msg[160];
    snprintf(msg, sizeof(msg), "JSON parse error, %s", desc);
    deliver_events(c->srv);
    conn_send(c, qmp_error_reply(QMP_ERROR_GENERIC, msg));
}

/* Bytes that are never valid input and force a parser reset (QEMU's json-lexer: ASCII
 * controls other than \t \r \n, and 0xFE/0xFF which UTF-8 never uses). */
static bool is_reset_byte(unsigned char ch)
{
    return (ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') || ch >= 0xfe;
}

/* Where parsing resumes after an error: the '{' that may start the next request, or a reset
 * byte. (QEMU resumes at any structural character, and then usually reports the rest of the
 * broken object as more errors; requests are objects, so pscivm waits for a '{'.) */
static bool is_resync_byte(unsigned char ch)
{
    return ch == '{' || is_reset_byte(ch);
}

static void conn_feed(struct qmp_conn *c, const char *buf, size_t n)
{
    size_t off = 0;
    while (off < n && !c->dead) {
        if (c->recovering) {
            while (off < n && !is_resync_byte((unsigned char)buf[off]))
                off++;
            if (off == n)
                break;
            c->recovering = false;
        }
        size_t end = off;
        while (end < n && !is_reset_byte((unsigned char)buf[end]))
            end++;
        if (end == off) {
            char desc[64];
            snprintf(desc, sizeof(desc), "stray control byte 0x%02x",
                     (unsigned char)buf[off]);
            parse_error(c, desc);
            off++;
            continue;
        }
        struct json_object *obj = json_tokener_parse_ex(c->tok, buf + off, (int)(end - off));
        enum json_tokener_error e = json_tokener_get_error(c->tok);
        size_t used = json_tokener_get_parse_end(c->tok);
        if (e == json_tokener_continue) {
            c->pending += end - off;
            off = end;
            if (c->pending > QMP_MAX_INPUT) {
                char desc[128];
                snprintf(desc, sizeof(desc), "JSON input exceeds %d bytes without a complete "
                         "value; closing the connection", QMP_MAX_INPUT);
                conn_send(c, qmp_error_reply(QMP_ERROR_GENERIC, desc));
                c->dead = true;
            }
            continue;
        }
        if (e != json_tokener_success) {
            parse_error(c, json_tokener_error_desc(e));
            off += used < end - off ? used + 1 : end - off; /* past the offending byte */
            continue;
        }
        off += used ? used : 1;
        c->pending = 0;
        conn_handle(c, obj); /* obj NULL is a JSON null: "must be a JSON object" */
        json_object_put(obj);
    }
}

static void conn_read(struct qmp_conn *c)
{
    char buf[READ_CHUNK];
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
        conn_feed(c, buf, (size_t)n);
    } else if (n == 0) {
        c->eof = true;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        c->dead = true;
    }
}

/* ---- connections ------------------------------------------------------------------------- */

static void conn_free(struct qmp_conn *c)
{
    struct qmp_server *s = c->srv;
    loop_remove(s->loop, c->fd);
    close(c->fd);
    if (c->session.negotiated)
        __atomic_sub_fetch(&s->listeners, 1, __ATOMIC_RELEASE);
    json_tokener_free(c->tok);
    free(c->out);
    free(c);
    s->nr_conns--;
}

/* Free the connections marked dead (end of every loop callback). */
static void reap(struct qmp_server *s)
{
    bool freed = false;
    for (struct qmp_conn **pp = &s->conns; *pp;) {
        struct qmp_conn *c = *pp;
        if (c->dead) {
            *pp = c->next;
            conn_free(c);
            freed = true;
        } else {
            pp = &c->next;
        }
    }
    if (freed && s->accept_paused && loop_modify(s->loop, s->listener.fd, EPOLLIN) == 0)
        s->accept_paused = false;
}

static void conn_cb(void *opaque, int fd, uint32_t events)
{
    struct qmp_conn *c = opaque;
    struct qmp_server *s = c->srv;
    (void)fd;
    if (events & EPOLLOUT)
        conn_flush(c);
    if (!c->dead && !c->eof && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        conn_read(c);
    else if (!c->dead && (events & EPOLLERR))
        c->dead = true;
    if (!c->dead)
        conn_flush(c);
    reap(s);
}

static void refuse(int fd)
{
    char desc[64];
    snprintf(desc, sizeof(desc), "too many QMP clients (%d)", QMP_MAX_CLIENTS);
    struct json_object *r = qmp_error_reply(QMP_ERROR_GENERIC, desc);
    size_t len;
    char *text = r ? serialise(r, &len) : NULL;
    if (text) {
        ssize_t n = send(fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n; /* best effort: the connection closes either way */
    }
    free(text);
    json_object_put(r);
    close(fd);
}

static void accept_one(struct qmp_server *s, int fd)
{
    if (s->nr_conns >= QMP_MAX_CLIENTS) {
        refuse(fd);
        return;
    }
    struct qmp_conn *c = calloc(1, sizeof(*c));
    json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
    if (!c || !tok || loop_add(s->loop, fd, EPOLLIN, conn_cb, c) < 0) {
        free(c);
        if (tok)
            json_tokener_free(tok);
        close(fd);
        return;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
    *c = (struct qmp_conn){.next = s->conns, .srv = s, .fd = fd, .tok = tok, .watched = EPOLLIN};
    s->conns = c;
    s->nr_conns++;
    conn_send(c, qmp_greeting());
}

static void listen_cb(void *opaque, int fd, uint32_t events)
{
    struct qmp_server *s = opaque;
    (void)events;
    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            accept_one(s, cfd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK && loop_modify(s->loop, fd, 0) == 0)
            s->accept_paused = true; /* EMFILE ...: do not spin; retry when a client goes */
        break;
    }
    reap(s);
}

static void event_cb(void *opaque, int fd, uint32_t events)
{
    struct qmp_server *s = opaque;
    uint64_t v;
    (void)events;
    while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
        ;
    deliver_events(s);
    reap(s);
}

int qmp_server_init(struct qmp_server *s, const char *path, struct loop *loop,
                    const struct vm_control *ctl, char *err, size_t errlen)
{
    *s = (struct qmp_server){.loop = loop, .ctl = *ctl, .event_fd = -1};
    int rc = pthread_mutex_init(&s->lock, NULL);
    if (rc)
        return errbuf_fail(err, errlen, -rc, "pthread_mutex_init: %s", strerror(rc));
    s->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->event_fd < 0) {
        rc = errbuf_fail(err, errlen, -errno, "eventfd: %s", strerror(errno));
        goto out_lock;
    }
    rc = unix_listener_init(&s->listener, path, QMP_MAX_CLIENTS, err, errlen);
    if (rc)
        goto out_eventfd;
    rc = loop_add(loop, s->event_fd, EPOLLIN, event_cb, s);
    if (rc == 0) {
        rc = loop_add(loop, s->listener.fd, EPOLLIN, listen_cb, s);
        if (rc == 0)
            return 0;
        loop_remove(loop, s->event_fd);
    }
    errbuf_fail(err, errlen, rc, "cannot watch QMP socket %s: %s", path, strerror(-rc));
    unix_listener_release(&s->listener);
out_eventfd:
    close(s->event_fd);
out_lock:
    pthread_mutex_destroy(&s->lock);
    *s = (struct qmp_server){.listener.fd = -1, .event_fd = -1};
    return rc;
}

/* Give slow readers a short chance to take what is pending (quit's reply, SHUTDOWN). */
static void drain(struct qmp_server *s)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct pollfd pfds[QMP_MAX_CLIENTS];
        struct qmp_conn *who[QMP_MAX_CLIENTS];
        nfds_t n = 0;
        for (struct qmp_conn *c = s->conns; c && n < QMP_MAX_CLIENTS; c = c->next)
            if (!c->dead && out_pending(c)) {
                pfds[n] = (struct pollfd){.fd = c->fd, .events = POLLOUT};
                who[n++] = c;
            }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 +
                       (now.tv_nsec - start.tv_nsec) / 1000000;
        if (!n || elapsed >= RELEASE_DRAIN_MS || poll(pfds, n, RELEASE_DRAIN_MS - elapsed) <= 0)
            return;
        for (nfds_t i = 0; i < n; i++)
            if (pfds[i].revents)
                conn_flush(who[i]);
    }
}

void qmp_server_release(struct qmp_server *s)
{
    if (s->event_fd < 0)
        return; /* never initialised, or released already */
    loop_remove(s->loop, s->listener.fd);
    unix_listener_release(&s->listener);
    deliver_events(s);
    drain(s);
    while (s->conns) {
        struct qmp_conn *c = s->conns;
        s->conns = c->next;
        conn_free(c);
    }
    loop_remove(s->loop, s->event_fd);
    close(s->event_fd);
    for (struct qmp_event *ev = s->queue_head, *next; ev; ev = next) {
        next = ev->next;
        free(ev);
    }
    pthread_mutex_destroy(&s->lock);
    *s = (struct qmp_server){.listener.fd = -1, .event_fd = -1};
}
