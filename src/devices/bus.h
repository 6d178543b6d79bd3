/* bus.h — the MMIO bus every device sits on. Regions are registered before vCPUs run and
 * never overlap; lookups from vCPU threads are then lock-free. Devices lock themselves. */
#ifndef PSCIVM_BUS_H
#define PSCIVM_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct bus_device_ops {
    /* `offset` is relative to the region's base; `size` is 1, 2, 4 or 8. Return 0, or a
     * negative errno when the access is invalid for the device (the bus then logs it and the
     * access reads as zero / the write is ignored). */
    int (*read)(void *opaque, uint64_t offset, unsigned int size, uint64_t *value);
    int (*write)(void *opaque, uint64_t offset, unsigned int size, uint64_t value);
};

struct bus_region {
    uint64_t base;
    uint64_t size;
    const struct bus_device_ops *ops;
    void *opaque;
    const char *name;
};

struct bus {
    struct bus_region *regions; /* sorted by base */
    unsigned int nr;
    unsigned int cap;
};

void bus_init(struct bus *bus);
void bus_release(struct bus *bus);
/* 0; -EINVAL for size 0, a range that wraps, or NULL ops; -EEXIST when it overlaps a
 * registered region; -ENOMEM. */
int bus_register(struct bus *bus, uint64_t base, uint64_t size, const struct bus_device_ops *ops,
                 void *opaque, const char *name);
/* 0 when a device handled it; -ENOENT when no region covers [addr, addr+size); -EINVAL for a
 * bad size or an access straddling a region's end; otherwise the device's error. */
int bus_read(const struct bus *bus, uint64_t addr, unsigned int size, uint64_t *value);
int bus_write(const struct bus *bus, uint64_t addr, unsigned int size, uint64_t value);
/* Name of the region containing addr (for log messages), or NULL. */
const char *bus_region_name(const struct bus *bus, uint64_t addr);

#endif
