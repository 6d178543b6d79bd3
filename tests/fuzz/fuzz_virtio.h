/* fuzz_virtio.h — what the virtio fuzz targets share: a small fake guest RAM, an interrupt
 * recorder, and an interpreter that turns fuzz input into what a hostile driver can do —
 * register reads and writes on the virtio-mmio window, arbitrary guest memory contents,
 * descriptors, avail ring entries, notifies, resets and snapshot round trips. After every
 * operation the transport's invariants must hold. Static functions: include once per target.
 *
 * Operation encoding (one byte `op`, then its operands; see fv_step):
 *   op % 10 == 0  read   u16 offset, size from op >> 4
 *              1  write  u16 offset, u32 value, size from op >> 4
 *              2  poke   u16 guest offset, u8 length, bytes
 *              3  desc   u8 index, u16 addr (RAM offset; op & 0x80: u64 raw gpa), u32 len,
 *                        u16 flags, u16 next
 *              4  avail  u16 head (queue op >> 7)
 *              5  notify queue u8
 *              6  reset  the whole transport (machine reset)
 *              7  snapshot save, then restore into the same device (must succeed, same bytes)
 *              8  bring  up queue (op >> 7) at the standard layout with FV_QSIZE entries
 *              9  device-specific (the target's fv_device_op)
 * A target's first input byte, bit 0 set, brings the device up to DRIVER_OK first. */
#ifndef PSCIVM_FUZZ_VIRTIO_H
#define PSCIVM_FUZZ_VIRTIO_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/guest_mem.h"
#include "devices/virtio_mmio.h"
#include "devices/virtqueue.h"
#include "fuzz_input.h"

#define FV_RAM_BASE 0x40000000ull
#define FV_RAM_SIZE 0x10000ull
#define FV_QSIZE 16u
/* Per queue q: descriptors at 0x1000 * (1 + 3q), avail +0x1000, used +0x2000. */
#define FV_DESC(q) (FV_RAM_BASE + 0x1000ull * (1 + 3 * (q)))
#define FV_AVAIL(q) (FV_DESC(q) + 0x1000)
#define FV_USED(q) (FV_DESC(q) + 0x2000)
#define FV_DATA (FV_RAM_BASE + 0x8000)

struct fv_irq {
    int level;
};

static inline int fv_irq_set(void *opaque, unsigned int spi, bool level)
{
    (void)spi;
    ((struct fv_irq *)opaque)->level = level;
    return 0;
}

static inline uint8_t *fv_ptr(struct guest_mem *mem, uint64_t gpa)
{
    return mem->host + (gpa - mem->base);
}

static inline void fv_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void fv_wr(struct virtio_mmio *vm, uint64_t off, uint32_t v)
{
    virtio_mmio_write(vm, off, 4, v);
}

static inline void fv_check(const struct virtio_mmio *vm, const char *after)
{
    if (!virtio_mmio_check_invariants(vm)) {
        fprintf(stderr, "fuzz_virtio: transport invariants broken after %s\n", after);
        abort();
    }
}

/* Queue q at the standard layout, FV_QSIZE entries, ready. */
static inline void fv_queue_up(struct virtio_mmio *vm, unsigned int q)
{
    fv_wr(vm, VIRTIO_MMIO_QUEUE_SEL, q);
    fv_wr(vm, VIRTIO_MMIO_QUEUE_NUM, FV_QSIZE);
    fv_wr(vm, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)FV_DESC(q));
    fv_wr(vm, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(FV_DESC(q) >> 32));
    fv_wr(vm, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)FV_AVAIL(q));
    fv_wr(vm, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(FV_AVAIL(q) >> 32));
    fv_wr(vm, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)FV_USED(q));
    fv_wr(vm, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(FV_USED(q) >> 32));
    fv_wr(vm, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* The Linux driver's sequence to DRIVER_OK, accepting every offered feature, all queues up. */
static inline void fv_bring_up(struct virtio_mmio *vm)
{
    uint64_t lo = 0, hi = 0;
    fv_wr(vm, VIRTIO_MMIO_STATUS, 0);
    fv_wr(vm, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    fv_wr(vm, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    fv_wr(vm, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    virtio_mmio_read(vm, VIRTIO_MMIO_DEVICE_FEATURES, 4, &lo);
    fv_wr(vm, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    virtio_mmio_read(vm, VIRTIO_MMIO_DEVICE_FEATURES, 4, &hi);
    fv_wr(vm, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    fv_wr(vm, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)lo);
    fv_wr(vm, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    fv_wr(vm, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)hi);
    fv_wr(vm, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                      VIRTIO_STATUS_FEATURES_OK);
    for (unsigned int q = 0; q < vm->nr_queues; q++)
        fv_queue_up(vm, q);
    fv_wr(vm, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

/* Save the transport (and device) and restore it into itself: must succeed and save the
 * same bytes again. */
static inline void fv_snapshot(struct virtio_mmio *vm)
{
    struct blob_writer w1, w2;
    char err[256];
    blob_writer_init(&w1);
    blob_writer_init(&w2);
    if (virtio_mmio_save(vm, &w1, err, sizeof(err))) {
        fprintf(stderr, "fuzz_virtio: save failed: %s\n", err);
        abort();
    }
    struct blob_reader r;
    blob_reader_init(&r, w1.data, w1.len);
    if (virtio_mmio_restore(vm, &r, err, sizeof(err))) {
        fprintf(stderr, "fuzz_virtio: restoring its own save failed: %s\n", err);
        abort();
    }
    if (virtio_mmio_save(vm, &w2, err, sizeof(err)) || w1.len != w2.len ||
        memcmp(w1.data, w2.data, w1.len)) {
        fprintf(stderr, "fuzz_virtio: save after restore differs\n");
        abort();
    }
    blob_writer_release(&w1);
    blob_writer_release(&w2);
}

typedef void (*fv_device_fn)(void *dev, struct fuzz_input *in, uint8_t op);

/* Interpret the whole input against transport `vm` over guest RAM `mem`. */
static inline void fv_run(struct virtio_mmio *vm, struct guest_mem *mem,
                          struct fuzz_input *in, fv_device_fn device_op, void *dev)
{
    if (fi_u8(in) & 1)
        fv_bring_up(vm);
    fv_check(vm, "bring-up");
    while (!fi_done(in)) {
        uint8_t op = fi_u8(in);
        unsigned int size = fi_access_size((uint8_t)(op >> 4));
        const char *what = "?";
        switch (op % 10) {
        case 0: {
            uint64_t v;
            virtio_mmio_read(vm, fi_u16(in) % (VIRTIO_MMIO_SIZE + 8), size, &v);
            what = "read";
            break;
        }
        case 1: {
            uint64_t off = fi_u16(in) % (VIRTIO_MMIO_SIZE + 8);
            virtio_mmio_write(vm, off, size, fi_u32(in));
            what = "write";
            break;
        }
        case 2: {
            uint64_t off = fi_u16(in) % FV_RAM_SIZE;
            size_t len = fi_u8(in);
            if (len > FV_RAM_SIZE - off)
                len = (size_t)(FV_RAM_SIZE - off);
            fi_bytes(in, mem->host + off, len);
            what = "guest memory write";
            break;
        }
        case 3: {
            unsigned int q = (op >> 6) & 1, i = fi_u8(in) % FV_QSIZE;
            uint64_t addr = op & 0x80 ? fi_u64(in) : FV_RAM_BASE + fi_u16(in) % FV_RAM_SIZE;
            uint32_t len = fi_u32(in);
            uint16_t flags = fi_u16(in), next = fi_u16(in);
            uint8_t *d = fv_ptr(mem, FV_DESC(q) + 16ull * i);
            for (int b = 0; b < 8; b++)
                d[b] = (uint8_t)(addr >> (8 * b));
            for (int b = 0; b < 4; b++)
                d[8 + b] = (uint8_t)(len >> (8 * b));
            fv_put16(d + 12, flags);
            fv_put16(d + 14, next);
            what = "descriptor write";
            break;
        }
        case 4: {
            unsigned int q = op >> 7;
            uint8_t *a = fv_ptr(mem, FV_AVAIL(q));
            uint16_t idx = (uint16_t)(a[2] | a[3] << 8);
            fv_put16(a + 4 + 2 * (idx % FV_QSIZE), fi_u16(in));
            fv_put16(a + 2, (uint16_t)(idx + 1));
            what = "avail entry";
            break;
        }
        case 5:
            virtio_mmio_notify(vm, fi_u8(in) % (VIRTIO_MMIO_MAX_QUEUES + 1));
            what = "notify";
            break;
        case 6:
            virtio_mmio_reset(vm);
            what = "reset";
            break;
        case 7:
            fv_snapshot(vm);
            what = "snapshot";
            break;
        case 8:
            fv_queue_up(vm, (op >> 7) % vm->nr_queues);
            what = "queue bring-up";
            break;
        case 9:
            if (device_op)
                device_op(dev, in, op);
            what = "device operation";
            break;
        }
        fv_check(vm, what);
    }
}

#endif
