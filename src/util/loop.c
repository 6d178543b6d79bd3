/* loop.c — epoll main loop with per-fd callbacks and an eventfd wake-up (see loop.h). */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/loop.h"

struct loop_watch {
    struct loop_watch *next;
    int fd;
    bool removed;
    loop_fn fn;
    void *opaque;
};

static struct loop_watch *find(struct loop *l, int fd)
{
    for (struct loop_watch *w = l->watches; w; w = w->next)
        if (w->fd == fd && !w->removed)
            return w;
    return NULL;
}

static void sweep(struct loop *l)
{
    struct loop_watch **pp = &l->watches;
    while (*pp) {
        struct loop_watch *w = *pp;
        if (w->removed) {
            *pp = w->next;
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

int loop_init(struct loop *l, loop_fn wake_fn, void *wake_opaque)
{
    *l = (struct loop){.epfd = -1, .wake_fd = -1, .wake_fn = wake_fn, .wake_opaque = wake_opaque};
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0)
        return -errno;
    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wake_fd < 0) {
        int e = errno;
        close(l->epfd);
        l->epfd = -1;
        return -e;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &ev) < 0) {
        int e = errno;
        loop_release(l);
        return -e;
    }
    return 0;
}

void loop_release(struct loop *l)
{
    for (struct loop_watch *w = l->watches; w; w = w->next)
        w->removed = true;
    sweep(l);
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    if (l->epfd >= 0)
        close(l->epfd);
    l->wake_fd = l->epfd = -1;
}

int loop_add(struct loop *l, int fd, uint32_t events, loop_fn fn, void *opaque)
{
    if (fd < 0 || !fn)
        return -EINVAL;
    if (find(l, fd))
        return -EEXIST;
    struct loop_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    *w = (struct loop_watch){.fd = fd, .fn = fn, .opaque = opaque, .next = l->watches};
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        free(w);
        return -e;
    }
    l->watches = w;
    return 0;
}

int loop_modify(struct loop *l, int fd, uint32_t events)
{
    struct loop_watch *w = find(l, fd);
    if (!w)
        return -ENOENT;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void loop_remove(struct loop *l, int fd)
{
    struct loop_watch *w = find(l, fd);
    if (!w)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    w->removed = true; /* freed after dispatch: a pending event may still point at it */
    if (!l->dispatching)
        sweep(l);
}

int loop_run_once(struct loop *l, int timeout_ms)
{
    struct epoll_event evs[16];
    int n = epoll_wait(l->epfd, evs, 16, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    l->dispatching = true;
    for (int i = 0; i < n; i++) {
        struct loop_watch *w = evs[i].data.ptr;
        if (!w) {
            uint64_t v;
            while (read(l->wake_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
                ;
            if (l->wake_fn)
                l->wake_fn(l->wake_opaque, l->wake_fd, evs[i].events);
            continue;
        }
        if (!w->removed)
            w->fn(w->opaque, w->fd, evs[i].events);
    }
    l->dispatching = false;
    sweep(l);
    return 0;
}

void loop_wake(struct loop *l)
{
    uint64_t one = 1;
    ssize_t r = write(l->wake_fd, &one, sizeof(one));
    (void)r; /* EAGAIN: the counter is already non-zero, the loop will wake */
}
