/* ioevent.h — virtio queue notifications through KVM ioeventfds (KVM_IOEVENTFD with
 * datamatch): a guest write of queue index q to a device's QueueNotify register is absorbed by
 * KVM — no exit to pscivm, the vCPU continues — and signals an eventfd; one I/O thread waits on
 * all of them and runs the queue (virtio_mmio_notify, which takes the device's lock). Hosts
 * without ioeventfd keep the plain MMIO-exit path (the bus delivers QueueNotify writes too). */
#ifndef PSCIVM_KVM_IOEVENT_H
#define PSCIVM_KVM_IOEVENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio_mmio.h"

#define IOEVENT_MAX 32

struct ioevent_thread {
    int vm_fd;
    int stop_fd;                 /* eventfd that ends the thread */
    unsigned int nr;
    struct {
        int fd;
        uint64_t addr;
        uint32_t queue;
        struct virtio_mmio *dev;
    } items[IOEVENT_MAX];
    pthread_t thread;
    bool running;
};

int ioevent_init(struct ioevent_thread *t, int vm_fd);
/* Route 4-byte writes of `queue` at `addr` to dev's queue. 0, or -errno (e.g. -ENOSYS/-EINVAL
 * when the host cannot; the caller keeps the MMIO path and need not report it). */
int ioevent_add(struct ioevent_thread *t, uint64_t addr, uint32_t queue, struct virtio_mmio *dev);
int ioevent_start(struct ioevent_thread *t);
/* Stop the thread, deassign and close every eventfd. */
void ioevent_release(struct ioevent_thread *t);

#endif
