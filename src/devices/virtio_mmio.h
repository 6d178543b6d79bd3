/* virtio_mmio.h — the virtio-mmio transport, version 2 ("modern", virtio 1.x §4.2), for one
 * device behind the MMIO bus. The transport owns the register file, feature negotiation, the
 * device status state machine, the queues and the interrupt; a device model (virtio-blk ...)
 * supplies its ID, features, config space and a queue handler through virtio_dev_ops.
 *
 * Thread-safety: every entry point takes the transport's mutex, so MMIO from any vCPU thread
 * and virtio_mmio_notify() from an ioeventfd thread may race freely. Device callbacks run with
 * the mutex held.
 *
 * Device status (virtio 1.x §3.1), as the driver walks it; writing 0 resets from any state:
 *
 *   RESET(0) --ACK--> ACKNOWLEDGE --DRIVER--> DRIVER --FEATURES_OK*--> FEATURES_OK
 *                                                                           |
 *                                             DRIVER_OK <-------------------+
 *   * FEATURES_OK only sticks when the driver's features are a subset of the device's and
 *     include VERSION_1; otherwise the bit reads back clear (§3.1.1).
 *   Any state --device error--> | DEVICE_NEEDS_RESET (queues stop until the driver writes 0)
 *   Any state --driver--> | FAILED
 *   virtio_mmio_check_invariants() checks the combinations that may be observed.
 *
 * As a `struct device`: each device model declares its ops with VIRTIO_MMIO_DEVICE_OPS(type)
 * (opaque = the transport); node virtio_mmio@BASE { compatible = "virtio,mmio"; reg;
 * interrupts; dma-coherent }. Saved state: the driver-visible registers (status, features and
 * their selectors, queue selector, interrupt status, config generation), each queue's size,
 * ready flag, ring addresses and the device's ring cursors (next avail entry to consume, used
 * index), then the device model's part (virtio_dev_ops.save). Requests are carried out
 * synchronously inside a notify, so no request is ever in flight at a save. The device's
 * identity (ID, offered features, queue count, config size) is saved too and must match the
 * instance restored into. */
#ifndef PSCIVM_VIRTIO_MMIO_H
#define PSCIVM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"
#include "devices/guest_mem.h"
#include "devices/irq.h"
#include "devices/virtqueue.h"

#define VIRTIO_MMIO_MAGIC 0x74726976u  /* "virt" */
#define VIRTIO_MMIO_VERSION 2u
#define VIRTIO_MMIO_VENDOR 0x4d565350u /* "PSVM" */
#define VIRTIO_MMIO_SIZE 0x200u        /* register window (memmap's slot stride) */
#define VIRTIO_MMIO_MAX_QUEUES 4u

/* Register offsets (virtio 1.x §4.2.2). */
enum virtio_mmio_reg {
    VIRTIO_MMIO_MAGIC_VALUE = 0x000,
    VIRTIO_MMIO_VERSION_REG = 0x004,
    VIRTIO_MMIO_DEVICE_ID = 0x008,
    VIRTIO_MMIO_VENDOR_ID = 0x00c,
    VIRTIO_MMIO_DEVICE_FEATURES = 0x010,
    VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014,
    VIRTIO_MMIO_DRIVER_FEATURES = 0x020,
    VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024,
    VIRTIO_MMIO_QUEUE_SEL = 0x030,
    VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034,
    VIRTIO_MMIO_QUEUE_NUM = 0x038,
    VIRTIO_MMIO_QUEUE_READY = 0x044,
    VIRTIO_MMIO_QUEUE_NOTIFY = 0x050,
    VIRTIO_MMIO_INTERRUPT_STATUS = 0x060,
    VIRTIO_MMIO_INTERRUPT_ACK = 0x064,
    VIRTIO_MMIO_STATUS = 0x070,
    VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080,
    VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084,
    VIRTIO_MMIO_QUEUE_DRIVER_LOW = 0x090,
    VIRTIO_MMIO_QUEUE_DRIVER_HIGH = 0x094,
    VIRTIO_MMIO_QUEUE_DEVICE_LOW = 0x0a0,
    VIRTIO_MMIO_QUEUE_DEVICE_HIGH = 0x0a4,
    VIRTIO_MMIO_SHM_SEL = 0x0ac,
    VIRTIO_MMIO_SHM_LEN_LOW = 0x0b0,
    VIRTIO_MMIO_SHM_LEN_HIGH = 0x0b4,
    VIRTIO_MMIO_SHM_BASE_LOW = 0x0b8,
    VIRTIO_MMIO_SHM_BASE_HIGH = 0x0bc,
    VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc,
    VIRTIO_MMIO_CONFIG = 0x100,
};

/* Device status bits (virtio 1.x §2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED 128u

#define VIRTIO_INT_USED_RING 1u
#define VIRTIO_INT_CONFIG 2u

#define VIRTIO_F_VERSION_1 32u   /* feature bit numbers */

struct virtio_mmio;

struct virtio_dev_ops {
    /* Read/write `size` bytes at `offset` of the device config space; offsets beyond the
     * config read as zero and writes there are ignored by the transport. */
    void (*config_read)(void *opaque, uint64_t offset, unsigned int size, uint64_t *value);
    void (*config_write)(void *opaque, uint64_t offset, unsigned int size, uint64_t value);
    /* Process the available buffers of `queue` (use virtio_mmio_pop/push); returns 0 or a
     * negative errno when the queue is broken (the transport then sets NEEDS_RESET). */
    int (*handle_queue)(void *opaque, struct virtio_mmio *vm, unsigned int queue);
    /* Device reset (status written 0). Optional. */
    void (*reset)(void *opaque);
    /* Snapshot of the device model's own state beyond config space and queues (optional: NULL
     * means none). Both run with the transport lock held, after the transport's part. save
     * appends (the writer's sticky error reports failure). restore is called twice on the same
     * bytes: with apply=false it parses and validates only — no side effects, `err` set on
     * failure, the reader left after its part; then, once the transport's state is known good
     * too, with apply=true to install it. A state that passes the first call passes the second. */
    void (*save)(void *opaque, struct blob_writer *w);
    int (*restore)(void *opaque, struct blob_reader *r, bool apply, char *err, size_t errlen);
};

struct virtio_mmio {
    pthread_mutex_t lock;
    const struct virtio_dev_ops *ops;
    void *opaque;
    const struct guest_mem *mem;
    struct irq_line irq;
    uint32_t device_id;
    uint64_t device_features;
    uint64_t driver_features;
    uint32_t device_features_sel;
    uint32_t driver_features_sel;
    uint32_t config_size;
    uint32_t config_generation;
    unsigned int nr_queues;
    uint32_t queue_sel;
    uint32_t status;
    uint32_t interrupt_status;
    bool irq_level;
    struct virtq queues[VIRTIO_MMIO_MAX_QUEUES];
    struct virtq_req req;          /* scratch for the device's handler (under the lock) */
    unsigned long nr_bad_accesses; /* guest accesses refused (log rate limiting is the bus's) */
};

struct virtio_mmio_config {
    uint32_t device_id;
    uint64_t device_features;  /* VIRTIO_F_VERSION_1 is always added */
    unsigned int nr_queues;    /* 1..VIRTIO_MMIO_MAX_QUEUES */
    uint32_t config_size;      /* bytes of device config space */
    const struct virtio_dev_ops *ops;
    void *opaque;
};

/* 0, or -EINVAL for a bad config. */
int virtio_mmio_init(struct virtio_mmio *vm, const struct virtio_mmio_config *cfg,
                     const struct guest_mem *mem, struct irq_line irq);
void virtio_mmio_release(struct virtio_mmio *vm);
/* The register window's bus callbacks: bus_register(bus, base, VIRTIO_MMIO_SIZE,
 * &virtio_mmio_bus_ops, vm, name). */
extern const struct bus_device_ops virtio_mmio_bus_ops;

/* Bus callbacks (also usable directly; take the lock). */
int virtio_mmio_read(void *opaque, uint64_t offset, unsigned int size, uint64_t *value);
int virtio_mmio_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value);

/* QueueNotify from elsewhere (an ioeventfd thread): same as the guest writing `queue` to
 * QueueNotify. Safe from any thread. */
void virtio_mmio_notify(struct virtio_mmio *vm, unsigned int queue);
/* Reset the whole transport and device (machine reset). */
void virtio_mmio_reset(struct virtio_mmio *vm);

/* For device handlers (the lock is held): pop/push on a queue; push raises the used-buffer
 * interrupt when the driver wants one. */
int virtio_mmio_pop(struct virtio_mmio *vm, unsigned int queue, struct virtq_req **req);
int virtio_mmio_push(struct virtio_mmio *vm, unsigned int queue, uint16_t head, uint32_t written);
/* For a device model acting outside a guest access (a key press from the control thread):
 * take the transport's lock, check the driver runs a queue, process a queue as a notify does. */
void virtio_mmio_lock(struct virtio_mmio *vm);
void virtio_mmio_unlock(struct virtio_mmio *vm);
/* Lock held: DRIVER_OK set, DEVICE_NEEDS_RESET clear and `queue` ready. */
bool virtio_mmio_queue_live(const struct virtio_mmio *vm, unsigned int queue);
/* Lock held: virtio_mmio_notify() without taking the lock. */
void virtio_mmio_notify_locked(struct virtio_mmio *vm, unsigned int queue);
/* Whether the driver negotiated feature bit `bit`. */
bool virtio_mmio_has_feature(const struct virtio_mmio *vm, unsigned int bit);

/* Snapshot (see the top of this file). Both take the lock; restore changes nothing on error. */
int virtio_mmio_save(struct virtio_mmio *vm, struct blob_writer *w, char *err, size_t errlen);
int virtio_mmio_restore(struct virtio_mmio *vm, struct blob_reader *r, char *err, size_t errlen);

/* device_ops members shared by every virtio-mmio device model; opaque is the transport. */
void virtio_mmio_dev_reset(void *opaque);
int virtio_mmio_dev_save(void *opaque, struct blob_writer *w, char *err, size_t errlen);
int virtio_mmio_dev_restore(void *opaque, struct blob_reader *r, char *err, size_t errlen);
int virtio_mmio_fdt_node(const struct device *dev, void *fdt, const struct device_fdt_ctx *ctx);
#define VIRTIO_MMIO_DEVICE_OPS(type_)                                     \
    {                                                                     \
        .type = (type_),                                                  \
        .mmio = {.read = virtio_mmio_read, .write = virtio_mmio_write},   \
        .reset = virtio_mmio_dev_reset,                                   \
        .save = virtio_mmio_dev_save,                                     \
        .restore = virtio_mmio_dev_restore,                               \
        .fdt_node = virtio_mmio_fdt_node,                                 \
        .fdt_name = "virtio_mmio",                                        \
    }
/* A device for the transport `vm` with `ops` (made with VIRTIO_MMIO_DEVICE_OPS), its window at
 * `base` (VIRTIO_MMIO_SIZE bytes) and the SPI of the transport's irq line. */
struct device virtio_mmio_device(struct virtio_mmio *vm, const struct device_ops *ops,
                                 const char *name, uint64_t base);

/* Programming-error checks of the status machine; true when consistent. */
bool virtio_mmio_check_invariants(const struct virtio_mmio *vm);

#endif
