/* ioevent.h — guest doorbell writes through KVM ioeventfds (KVM_IOEVENTFD with datamatch): a
 * guest write of a given value to a given address (a virtio QueueNotify register) is absorbed
 * by KVM — no exit to pscivm, the vCPU continues — and signals an eventfd; one I/O thread waits
 * on all of them and calls each one's callback. Hosts without ioeventfd keep the plain
 * MMIO-exit path. */
#ifndef PSCIVM_KVM_IOEVENT_H
#define PSCIVM_KVM_IOEVENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>


#define IOEVENT_MAX 32

struct ioevent_thread {
    int vm_fd;
    int stop_fd;                 /* eventfd that ends the thread */
    int reload_fd;               /* eventfd: an item was added while running */
    int sync_fd;                 /* eventfd: ioevent_drain asks for an acknowledgement */
    pthread_mutex_t sync_lock;
    pthread_cond_t sync_cond;
    uint64_t sync_asked, sync_done;
    unsigned int nr;
    struct {
        int fd;
        uint64_t addr;
        uint32_t data;
        void (*fn)(void *opaque);
        void *opaque;
    } items[IOEVENT_MAX];
    pthread_t thread;
    bool running;
};

int ioevent_init(struct ioevent_thread *t, int vm_fd);
/* Route 4-byte writes of `data` at `addr` to fn(opaque) on the I/O thread. 0, or -errno (e.g.
 * -ENOSYS/-EINVAL when the host cannot; the caller keeps the MMIO path). May be called while
 * the thread runs: it picks the new eventfd up. */
int ioevent_add(struct ioevent_thread *t, uint64_t addr, uint32_t data, void (*fn)(void *opaque),
                void *opaque);
int ioevent_start(struct ioevent_thread *t);
/* Return once every doorbell signalled before the call has been handled (its callback
 * returned): with the vCPUs paused, no request is then in flight (snapshots). 0 or -errno. */
int ioevent_drain(struct ioevent_thread *t);
/* Stop the thread, deassign and close every eventfd. */
void ioevent_release(struct ioevent_thread *t);

#endif
