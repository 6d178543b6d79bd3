/* ioevent.c — KVM ioeventfds for virtio QueueNotify and the I/O thread serving them (see
 * ioevent.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm/compat.h"
#include "kvm/ioevent.h"

int ioevent_init(struct ioevent_thread *t, int vm_fd)
{
    memset(t, 0, sizeof(*t));
    t->vm_fd = vm_fd;
    t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return t->stop_fd < 0 ? -errno : 0;
}

static int assign(struct ioevent_thread *t, unsigned int i, bool deassign)
{
    struct kvm_ioeventfd ioe = {
        .datamatch = t->items[i].queue,
        .addr = t->items[i].addr,
        .len = 4,
        .fd = t->items[i].fd,
        .flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0),
    };
    return ioctl(t->vm_fd, KVM_IOEVENTFD, &ioe) < 0 ? -errno : 0;
}

int ioevent_add(struct ioevent_thread *t, uint64_t addr, uint32_t queue, struct virtio_mmio *dev)
{
    if (t->nr == IOEVENT_MAX || t->running)
        return -ENOSPC;
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    unsigned int i = t->nr;
    t->items[i].fd = fd;
    t->items[i].addr = addr;
    t->items[i].queue = queue;
    t->items[i].dev = dev;
    int err = assign(t, i, false);
    if (err) {
        close(fd);
        return err;
    }
    t->nr++;
    return 0;
}

static void *ioevent_main(void *arg)
{
    struct ioevent_thread *t = arg;
    struct pollfd p[IOEVENT_MAX + 1];
    for (unsigned int i = 0; i < t->nr; i++)
        p[i] = (struct pollfd){.fd = t->items[i].fd, .events = POLLIN};
    p[t->nr] = (struct pollfd){.fd = t->stop_fd, .events = POLLIN};
    for (;;) {
        if (poll(p, t->nr + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "pscivm: virtio I/O thread: poll: %s\n", strerror(errno));
            return NULL;
        }
        if (p[t->nr].revents)
            return NULL;
        for (unsigned int i = 0; i < t->nr; i++) {
            if (!p[i].revents)
                continue;
            uint64_t count;
            if (read(t->items[i].fd, &count, sizeof(count)) == (ssize_t)sizeof(count))
                virtio_mmio_notify(t->items[i].dev, t->items[i].queue);
        }
    }
}

int ioevent_start(struct ioevent_thread *t)
{
    if (t->nr == 0)
        return 0;
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
    t->stop_fd = -1;
}
