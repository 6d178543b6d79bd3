/* virtio_driver.h — a tiny virtio driver for unit tests: fake guest RAM, split-ring layout,
 * and register pokes through the virtio-mmio bus callbacks. Static functions, so each test
 * that includes it gets its own copy. */
#ifndef PSCIVM_TEST_VIRTIO_DRIVER_H
#define PSCIVM_TEST_VIRTIO_DRIVER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/guest_mem.h"
#include "devices/virtio_mmio.h"
#include "devices/virtqueue.h"

#define TD_RAM_BASE 0x40000000ull
#define TD_RAM_SIZE (1ull << 20)
#define TD_QSIZE 8u
#define TD_DESC (TD_RAM_BASE + 0x1000)
#define TD_AVAIL (TD_RAM_BASE + 0x2000)
#define TD_USED (TD_RAM_BASE + 0x3000)
#define TD_DATA (TD_RAM_BASE + 0x10000)

struct td_irq {
    int level;
    int raises;
};

static inline int td_irq_set(void *opaque, unsigned int spi, bool level)
{
    (void)spi;
    struct td_irq *r = opaque;
    if (level && !r->level)
        r->raises++;
    r->level = level;
    return 0;
}

static inline void td_mem_init(struct guest_mem *mem)
{
    mem->base = TD_RAM_BASE;
    mem->size = TD_RAM_SIZE;
    mem->host = calloc(1, TD_RAM_SIZE);
}

static inline void *td_ptr(struct guest_mem *mem, uint64_t gpa)
{
    return mem->host + (gpa - mem->base);
}

static inline void td_desc(struct guest_mem *mem, unsigned int i, uint64_t addr, uint32_t len,
                           uint16_t flags, uint16_t next)
{
    uint8_t *d = td_ptr(mem, TD_DESC + 16ull * i);
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

/* Put `head` in the avail ring and bump avail->idx. */
static inline void td_avail(struct guest_mem *mem, uint16_t head)
{
    uint8_t *a = td_ptr(mem, TD_AVAIL);
    uint16_t idx;
    memcpy(&idx, a + 2, 2);
    memcpy(a + 4 + 2 * (idx % TD_QSIZE), &head, 2);
    idx++;
    memcpy(a + 2, &idx, 2);
}

static inline uint16_t td_used_idx(struct guest_mem *mem)
{
    uint16_t v;
    memcpy(&v, (uint8_t *)td_ptr(mem, TD_USED) + 2, 2);
    return v;
}

static inline void td_used_elem(struct guest_mem *mem, unsigned int i, uint32_t *id, uint32_t *len)
{
    uint8_t *e = (uint8_t *)td_ptr(mem, TD_USED) + 4 + 8 * (i % TD_QSIZE);
    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
}

static inline uint32_t td_rd(struct virtio_mmio *vm, uint64_t off)
{
    uint64_t v = 0xdead;
    virtio_mmio_read(vm, off, 4, &v);
    return (uint32_t)v;
}

static inline void td_wr(struct virtio_mmio *vm, uint64_t off, uint32_t v)
{
    virtio_mmio_write(vm, off, 4, v);
}

/* The Linux driver's sequence up to DRIVER_OK with one queue of TD_QSIZE at TD_DESC/AVAIL/USED
 * accepting `features`. Returns the final status register. */
static inline uint32_t td_bring_up(struct virtio_mmio *vm, uint64_t features)
{
    td_wr(vm, VIRTIO_MMIO_STATUS, 0);
    td_wr(vm, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    td_wr(vm, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    td_wr(vm, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    td_wr(vm, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
    td_wr(vm, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    td_wr(vm, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
    td_wr(vm, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                      VIRTIO_STATUS_FEATURES_OK);
    td_wr(vm, VIRTIO_MMIO_QUEUE_SEL, 0);
    td_wr(vm, VIRTIO_MMIO_QUEUE_NUM, TD_QSIZE);
    td_wr(vm, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)TD_DESC);
    td_wr(vm, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(TD_DESC >> 32));
    td_wr(vm, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)TD_AVAIL);
    td_wr(vm, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
    td_wr(vm, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)TD_USED);
    td_wr(vm, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
    td_wr(vm, VIRTIO_MMIO_QUEUE_READY, 1);
    td_wr(vm, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    return td_rd(vm, VIRTIO_MMIO_STATUS);
}

#endif
