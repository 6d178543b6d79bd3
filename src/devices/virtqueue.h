/* virtqueue.h — split virtqueues (virtio 1.x §2.7) walked by a device with full validation.
 * Everything the guest wrote (ring indices, descriptor indices, addresses, lengths, flags) is
 * untrusted: a malformed queue makes virtq_pop() fail with -EINVAL and the caller marks the
 * device DEVICE_NEEDS_RESET; no guest input can make pscivm touch memory outside guest RAM or
 * loop forever (a chain is at most `size` descriptors long). Not thread-safe: the transport
 * serialises all calls for one queue. */
#ifndef PSCIVM_VIRTQUEUE_H
#define PSCIVM_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/guest_mem.h"

#define VIRTQ_MAX_SIZE 256u          /* QueueNumMax we offer; a power of two */

#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u

/* Configuration written by the driver through the transport, plus the device's ring cursor. */
struct virtq {
    uint16_t size;        /* QueueNum: a power of two, 1..VIRTQ_MAX_SIZE */
    bool ready;           /* QueueReady */
    uint64_t desc_gpa;    /* descriptor table, 16-byte aligned */
    uint64_t avail_gpa;   /* driver area, 2-byte aligned */
    uint64_t used_gpa;    /* device area, 4-byte aligned */
    uint16_t last_avail;  /* next avail ring entry the device will consume */
    uint16_t used_idx;    /* device's copy of used->idx */
};

/* One guest buffer of a request, already translated and bounds-checked. */
struct virtq_seg {
    uint8_t *host;
    uint32_t len;
    bool writable;        /* device-writable (VIRTQ_DESC_F_WRITE) */
};

/* A popped descriptor chain: all device-readable segments first, then all writable ones. */
struct virtq_req {
    uint16_t head;
    unsigned int nr_segs;
    unsigned int nr_readable;   /* segs[0 .. nr_readable) are readable, the rest writable */
    uint64_t readable_len;
    uint64_t writable_len;
    struct virtq_seg segs[VIRTQ_MAX_SIZE];
};

/* Reset the queue to its power-on state (size VIRTQ_MAX_SIZE, not ready, addresses 0). */
void virtq_init(struct virtq *vq);
/* Check the driver's configuration when it sets QueueReady: size a power of two within
 * limits, areas aligned and entirely inside guest RAM. 0 or -EINVAL. */
int virtq_validate(const struct virtq *vq, const struct guest_mem *mem);
/* Take the next available chain. 1 = `req` filled, 0 = nothing available, -EINVAL = the
 * queue is broken (bad avail idx, descriptor index out of range, chain longer than the queue,
 * buffer outside RAM, a readable descriptor after a writable one, unsupported indirect). */
int virtq_pop(struct virtq *vq, const struct guest_mem *mem, struct virtq_req *req);
/* Return chain `head` to the driver with `written` bytes written by the device. 0 or -EINVAL. */
int virtq_push(struct virtq *vq, const struct guest_mem *mem, uint16_t head, uint32_t written);
/* Whether the driver wants an interrupt now (VIRTQ_AVAIL_F_NO_INTERRUPT clear). */
bool virtq_should_notify(const struct virtq *vq, const struct guest_mem *mem);

/* Copy up to `len` bytes of the request's readable bytes starting at `offset`; returns the
 * number copied. Same for writing into the writable bytes. */
uint64_t virtq_req_read(const struct virtq_req *req, uint64_t offset, void *buf, uint64_t len);
uint64_t virtq_req_write(const struct virtq_req *req, uint64_t offset, const void *buf,
                         uint64_t len);

#endif
