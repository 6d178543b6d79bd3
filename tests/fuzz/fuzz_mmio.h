/* fuzz_mmio.h — shared by the UART and PL031 fuzz targets: a bus with one device on it, guest
 * accesses decoded from the input (any size, offsets inside the window and a little beyond
 * it), and the snapshot round trip every device must pass (save, restore into itself, save
 * the same bytes). Static functions: include once per target. */
#ifndef PSCIVM_FUZZ_MMIO_H
#define PSCIVM_FUZZ_MMIO_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/device.h"
#include "fuzz_input.h"

struct fm_irq {
    int level;
};

static inline int fm_irq_set(void *opaque, unsigned int spi, bool level)
{
    (void)spi;
    ((struct fm_irq *)opaque)->level = level;
    return 0;
}

/* A guest read or write (op bit 0: write) of 1/2/4/8 bytes (op bits 1-2) at an offset from
 * the input: mostly the first 32 bytes of the window (op bit 3), anywhere in it, or up to 16
 * bytes past its end (the bus refuses those). */
static inline void fm_access(const struct bus *bus, const struct device *dev,
                             struct fuzz_input *in, uint8_t op)
{
    unsigned int size = fi_access_size((uint8_t)(op >> 1));
    uint16_t raw = fi_u16(in);
    uint64_t off = op & 8 ? raw % 32u : raw % (dev->size + 16);
    if (op & 1) {
        uint64_t v = size == 8 ? fi_u64(in) : fi_u32(in);
        bus_write(bus, dev->base + off, size, v);
    } else {
        uint64_t v = 0;
        bus_read(bus, dev->base + off, size, &v);
    }
}

static inline void fm_snapshot(const struct device *dev)
{
    struct blob_writer w1, w2;
    char err[256];
    blob_writer_init(&w1);
    blob_writer_init(&w2);
    if (device_save(dev, &w1, err, sizeof(err))) {
        fprintf(stderr, "fuzz_mmio: save failed: %s\n", err);
        abort();
    }
    struct blob_reader r;
    blob_reader_init(&r, w1.data, w1.len);
    if (device_restore(dev, &r, err, sizeof(err))) {
        fprintf(stderr, "fuzz_mmio: restoring its own save failed: %s\n", err);
        abort();
    }
    if (device_save(dev, &w2, err, sizeof(err)) || w1.len != w2.len ||
        memcmp(w1.data, w2.data, w1.len)) {
        fprintf(stderr, "fuzz_mmio: save after restore differs\n");
        abort();
    }
    blob_writer_release(&w1);
    blob_writer_release(&w2);
}

#endif
