/* ioevent.c — KVM ioeventfds for guest doorbells (virtio QueueNotify) and the I/O thread
 * serving them (see ioevent.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "kvm/compat.h"

#include "kvm/ioevent.h"

int ioevent_init(struct ioevent_thread *t, int vm_fd)
{
    memset(t, 0, sizeof(*t));
    t->stop_fd = t->reload_fd = -1;
    t->vm_fd = vm_fd;
    t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t->reload_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t->sync_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&t->sync_lock, NULL);
    pthread_cond_init(&t->sync_cond, NULL);
    t->sync_asked = t->sync_done = 0;
    if (t->stop_fd < 0 || t->reload_fd < 0 || t->sync_fd < 0) {
        int e = errno;
        ioevent_release(t);
        return -e;
    }
    return 0;
}

static int assign(struct ioevent_thread *t, unsigned int i, bool deassign)
{
    struct kvm_ioeventfd ioe = {
        .datamatch = t->items[i].data,
        .addr = t->items[i].addr,
        .len = 4,
        .fd = t->items[i].fd,
        .flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0),
    };
    return ioctl(t->vm_fd, KVM_IOEVENTFD, &ioe) < 0 ? -errno : 0;
}

int ioevent_add(struct ioevent_thread *t, uint64_t addr, uint32_t data, void (*fn)(void *opaque),
                void *opaque)
{
    if (t->nr == IOEVENT_MAX)
        return -ENOSPC;
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    unsigned int i = t->nr;
    t->items[i].fd = fd;
    t->items[i].addr = addr;
    t->items[i].data = data;
    t->items[i].fn = fn;
    t->items[i].opaque = opaque;
    int err = assign(t, i, false);
    if (err) {
        close(fd);
        return err;
    }
    __atomic_store_n(&t->nr, t->nr + 1, __ATOMIC_RELEASE);
    if (t->running) { /* make the thread rebuild its poll set */
        uint64_t one = 1;
        if (write(t->reload_fd, &one, sizeof(one)) < 0) {
            /* cannot fail short of a counter overflow */
        }
    }
    return 0;
}

static void *ioevent_main(void *arg)
{
    struct ioevent_thread *t = arg;
    struct pollfd p[IOEVENT_MAX + 3];
    for (;;) {
        unsigned int nr = __atomic_load_n(&t->nr, __ATOMIC_ACQUIRE);
        for (unsigned int i = 0; i < nr; i++)
            p[i] = (struct pollfd){.fd = t->items[i].fd, .events = POLLIN};
        p[nr] = (struct pollfd){.fd = t->stop_fd, .events = POLLIN};
        p[nr + 1] = (struct pollfd){.fd = t->reload_fd, .events = POLLIN};
        p[nr + 2] = (struct pollfd){.fd = t->sync_fd, .events = POLLIN};
        if (poll(p, nr + 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            return NULL; /* cannot happen with valid fds; the MMIO path still works */
        }
        if (p[nr].revents)
            return NULL;
        uint64_t count;
        if (p[nr + 1].revents && read(t->reload_fd, &count, sizeof(count)) < 0)
            continue;
        /* Doorbells signalled before a drain request are ready in this same poll (eventfds
         * are level-triggered), so acknowledging after handling them is enough. */
        uint64_t asked = 0;
        if (p[nr + 2].revents) {
            pthread_mutex_lock(&t->sync_lock);
            asked = t->sync_asked;
            pthread_mutex_unlock(&t->sync_lock);
            if (read(t->sync_fd, &count, sizeof(count)) < 0) {
                /* nonblocking: a concurrent read is impossible, nothing to do */
            }
        }
        for (unsigned int i = 0; i < nr; i++) {
            if (p[i].revents &&
                read(t->items[i].fd, &count, sizeof(count)) == (ssize_t)sizeof(count))
                t->items[i].fn(t->items[i].opaque);
        }
        if (asked) {
            pthread_mutex_lock(&t->sync_lock);
            t->sync_done = asked;
            pthread_cond_broadcast(&t->sync_cond);
            pthread_mutex_unlock(&t->sync_lock);
        }
    }
}

int ioevent_drain(struct ioevent_thread *t)
{
    if (!t->running)
        return 0;
    pthread_mutex_lock(&t->sync_lock);
    uint64_t want = ++t->sync_asked;
    pthread_mutex_unlock(&t->sync_lock);
    uint64_t one = 1;
    if (write(t->sync_fd, &one, sizeof(one)) < 0)
        return -errno;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5; /* the thread answers within one poll round unless it is gone */
    int rc = 0;
    pthread_mutex_lock(&t->sync_lock);
    while (t->sync_done < want && rc == 0)
        rc = pthread_cond_timedwait(&t->sync_cond, &t->sync_lock, &until);
    pthread_mutex_unlock(&t->sync_lock);
    return t->sync_done >= want ? 0 : -ETIMEDOUT;
}

int ioevent_start(struct ioevent_thread *t)
{
    int err = pthread_create(&t->thread, NULL, ioevent_main, t);
    if (err)
        return -err;
    t->running = true;
    return 0;
}

void ioevent_release(struct ioevent_thread *t)
{
    if (t->running) {
        uint64_t one = 1;
        if (write(t->stop_fd, &one, sizeof(one)) < 0) {
            /* an eventfd write of 1 cannot fail short of a counter overflow */
        }
        pthread_join(t->thread, NULL);
        t->running = false;
    }
    for (unsigned int i = 0; i < t->nr; i++) {
        assign(t, i, true);
        close(t->items[i].fd);
    }
    t->nr = 0;
    if (t->stop_fd >= 0)
        close(t->stop_fd);
    if (t->reload_fd >= 0)
        close(t->reload_fd);
    if (t->sync_fd >= 0)
        close(t->sync_fd);
    t->stop_fd = t->reload_fd = t->sync_fd = -1;
    pthread_cond_destroy(&t->sync_cond);
    pthread_mutex_destroy(&t->sync_lock);
}
