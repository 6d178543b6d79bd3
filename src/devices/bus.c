/* bus.c — the MMIO bus: a sorted array of non-overlapping regions, filled before vCPUs run and
 * read lock-free afterwards (see bus.h). Lookups are a binary search. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"

void bus_init(struct bus *bus)
{
    memset(bus, 0, sizeof(*bus));
}

void bus_release(struct bus *bus)
{
    free(bus->regions);
    memset(bus, 0, sizeof(*bus));
}

/* Last byte of [base, base + size); the caller has checked that it does not wrap. */
static uint64_t region_last(const struct bus_region *r)
{
    return r->base + (r->size - 1);
}

int bus_register(struct bus *bus, uint64_t base, uint64_t size, const struct bus_device_ops *ops,
                 void *opaque, const char *name)
{
    if (size == 0 || ops == NULL || base + (size - 1) < base)
        return -EINVAL;
    uint64_t last = base + (size - 1);
    unsigned int pos = 0;
    while (pos < bus->nr && bus->regions[pos].base < base)
        pos++;
    /* Overlap with the neighbours on either side of the insertion point. */
    if (pos > 0 && region_last(&bus->regions[pos - 1]) >= base)
        return -EEXIST;
    if (pos < bus->nr && bus->regions[pos].base <= last)
        return -EEXIST;
    if (bus->nr == bus->cap) {
        unsigned int cap = bus->cap ? bus->cap * 2 : 8;
        struct bus_region *r = realloc(bus->regions, cap * sizeof(*r));
        if (!r)
            return -ENOMEM;
        bus->regions = r;
        bus->cap = cap;
    }
    memmove(&bus->regions[pos + 1], &bus->regions[pos], (bus->nr - pos) * sizeof(*bus->regions));
    bus->regions[pos] = (struct bus_region){
        .base = base, .size = size, .ops = ops, .opaque = opaque, .name = name ? name : "?",
    };
    bus->nr++;
    return 0;
}

/* The region containing addr, or NULL. */
static const struct bus_region *bus_find(const struct bus *bus, uint64_t addr)
{
    unsigned int lo = 0, hi = bus->nr;
    while (lo < hi) {
        unsigned int mid = lo + (hi - lo) / 2;
        const struct bus_region *r = &bus->regions[mid];
        if (addr < r->base)
            hi = mid;
        else if (addr > region_last(r))
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

static bool valid_size(unsigned int size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

/* Resolve an access: -ENOENT when nothing is at addr, -EINVAL for a bad size or a straddle. */
static int bus_resolve(const struct bus *bus, uint64_t addr, unsigned int size,
                       const struct bus_region **out)
{
    const struct bus_region *r = bus_find(bus, addr);
    if (!r)
        return -ENOENT;
    if (!valid_size(size) || addr - r->base > r->size - size || size > r->size)
        return -EINVAL;
    *out = r;
    return 0;
}

int bus_read(const struct bus *bus, uint64_t addr, unsigned int size, uint64_t *value)
{
    const struct bus_region *r;
    *value = 0;
    int err = bus_resolve(bus, addr, size, &r);
    if (err)
        return err;
    if (!r->ops->read)
        return -EINVAL;
    return r->ops->read(r->opaque, addr - r->base, size, value);
}

int bus_write(const struct bus *bus, uint64_t addr, unsigned int size, uint64_t value)
{
    const struct bus_region *r;
    int err = bus_resolve(bus, addr, size, &r);
    if (err)
        return err;
    if (!r->ops->write)
        return -EINVAL;
    return r->ops->write(r->opaque, addr - r->base, size, value);
}

const char *bus_region_name(const struct bus *bus, uint64_t addr)
{
    const struct bus_region *r = bus_find(bus, addr);
    return r ? r->name : NULL;
}
