/* server.h — the QMP control socket: a Unix socket speaking the QEMU Machine Protocol's
 * framing (docs/run.md, "Control socket (QMP)"), plugged into the main loop (util/loop.h).
 *
 * Each client gets the greeting, must send qmp_capabilities, then its commands run on the
 * loop thread (commands.h -> vm_control) and get one reply each, "\r\n"-terminated as QEMU
 * sends them. Input is a stream of JSON objects (json-c's tokener in streaming mode): no
 * newline framing, objects may be split across reads or several may come in one. A parse
 * error gets a GenericError reply ("JSON parse error, ...") and the connection stays; input
 * is then skipped up to the next '{'. As with QEMU, an ASCII control character other than
 * \t \r \n, or a 0xFE/0xFF byte, is always an error and resets the parser: the way for a
 * client to abandon a truncated object.
 *
 * Limits, each dropping only the client concerned: more than QMP_MAX_INPUT bytes without a
 * complete JSON value, more than QMP_MAX_OUTPUT bytes of output it does not read. Beyond
 * QMP_MAX_CLIENTS connections a new client gets an error and is closed.
 *
 * Events: qmp_server_emit() from any thread; they reach every client that negotiated, in
 * the order they were emitted, with a CLOCK_REALTIME timestamp taken at emission. An event
 * emitted while a command runs (STOP from `stop`) is sent before that command's reply. */
#ifndef PSCIVM_QMP_SERVER_H
#define PSCIVM_QMP_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "machine/control.h"
#include "util/unix_listener.h"

struct json_object;
struct loop;
struct qmp_conn;
struct qmp_event;

#define QMP_MAX_CLIENTS 16
#define QMP_MAX_INPUT (64 * 1024)            /* bytes of one incomplete JSON value */
#define QMP_MAX_OUTPUT (4 * 1024 * 1024)     /* unread output of one client */
#define QMP_MAX_QUEUED_EVENTS 1024           /* emitted, not yet sent; more are dropped */

struct qmp_server {
    struct loop *loop;
    struct vm_control ctl;
    struct unix_listener listener;
    int event_fd;              /* eventfd: an event was queued by some thread */
    bool accept_paused;        /* accept() failed for lack of fds: retry when one closes */
    struct qmp_conn *conns;
    unsigned int nr_conns;

    pthread_mutex_t lock;      /* guards the event queue and its counters */
    struct qmp_event *queue_head, *queue_tail;
    unsigned int nr_queued;
    unsigned long events_dropped; /* queue full */
    unsigned int listeners;       /* negotiated clients (read without the lock by emit) */
};

/* Listen on `path` (mode 0600) and watch it in `loop`. An existing socket nobody accepts on
 * (ECONNREFUSED) is stale and replaced; a live one is -EADDRINUSE; any other file at path is
 * -EEXIST and left untouched. `ctl` is copied (its opaque must outlive the server). 0 or
 * -errno with a message in err. Call on the loop thread. */
int qmp_server_init(struct qmp_server *s, const char *path, struct loop *loop,
                    const struct vm_control *ctl, char *err, size_t errlen);

/* Queue an event for every negotiated client: {"event": name, "data": data (omitted when
 * NULL), "timestamp": {"seconds", "microseconds"}}. Any thread, not a signal handler.
 * Ownership of data passes to the server (it is released even on failure). s may be NULL
 * (no --qmp): only releases data. Without a negotiated client the event goes nowhere (0).
 * 0, or -ENOMEM, or -ENOSPC when the queue is full (the event is dropped). */
int qmp_server_emit(struct qmp_server *s, const char *event, struct json_object *data);

/* Send what is queued and pending (waiting at most ~200 ms in total for slow readers), close
 * every client, stop watching, unlink the socket if it is still the one we created. Call on
 * the loop thread once no other thread can emit any more. */
void qmp_server_release(struct qmp_server *s);

#endif
