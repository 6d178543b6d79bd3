/* loop.h — the main loop: one epoll set on one thread (the main thread), with a callback per
 * file descriptor (signalfd, timerfd, the QMP listener and its clients, the console) and a
 * thread-safe wake-up (an eventfd) so other threads (vCPUs) can ask the loop to look at the
 * machine's state. Callbacks run on the loop thread only, one at a time.
 *
 * Usage: loop_init; loop_add(fd, EPOLLIN, cb, opaque) ...; while (!done) loop_run_once(-1);
 * loop_release. A callback may add or remove any fd, including its own. */
#ifndef PSCIVM_UTIL_LOOP_H
#define PSCIVM_UTIL_LOOP_H

#include <stdbool.h>
#include <stdint.h>

/* Called on the loop thread with the epoll events that fired (EPOLLIN, EPOLLHUP ...). */
typedef void (*loop_fn)(void *opaque, int fd, uint32_t events);

struct loop_watch;

struct loop {
    int epfd;
    int wake_fd;                 /* eventfd: loop_wake() */
    loop_fn wake_fn;
    void *wake_opaque;
    struct loop_watch *watches;  /* singly linked; removed entries are freed lazily */
    bool dispatching;
};

/* 0 or -errno. wake_fn (may be NULL) runs on the loop thread after any loop_wake(). */
int loop_init(struct loop *l, loop_fn wake_fn, void *wake_opaque);
void loop_release(struct loop *l);
/* Watch fd for `events` (EPOLLIN ...). 0, -EEXIST when fd is watched already, or -errno. */
int loop_add(struct loop *l, int fd, uint32_t events, loop_fn fn, void *opaque);
/* Change the events of a watched fd. 0 or -errno (-ENOENT: not watched). */
int loop_modify(struct loop *l, int fd, uint32_t events);
/* Stop watching fd (does not close it). Safe from inside any callback. */
void loop_remove(struct loop *l, int fd);
/* Wait up to timeout_ms (-1: no limit) and dispatch what fired. 0, or -errno (EINTR is 0). */
int loop_run_once(struct loop *l, int timeout_ms);
/* Any thread, async-signal-safe: make the loop thread run wake_fn soon. */
void loop_wake(struct loop *l);

#endif
