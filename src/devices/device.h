/* device.h — the one interface every MMIO device offers the machine: its register window on the
 * bus, machine reset, snapshot save/restore and its device-tree node. A device model keeps its
 * own init/release and device-specific entry points (uart16550_receive, pl031_timer_fired ...);
 * everything the machine does to *all* devices goes through `struct device`:
 *
 *   struct device dev = pl031_device(&rtc, MEMMAP_RTC_BASE);   // ops + opaque + placement
 *   device_register(&bus, &dev);                                // MMIO window
 *   fdt_params.devices = table;                                 // DT node, in table order
 *   device_reset(&dev);  device_save(&dev, &w, ...);  device_restore(&dev, &r, ...);
 *
 * Ops tables are `const` and shared by every instance of a type; per-instance data lives behind
 * `opaque`. A NULL hook means the device does not support that operation (device_save/restore
 * then fail with -EOPNOTSUPP; a device without fdt_node gets no node).
 *
 * Snapshot contract (what every save/restore implements):
 *  - save appends the device's *state* (not its configuration) to the writer, starting with a
 *    32-bit state version of its own; it takes the device's lock, so it may run while vCPUs are
 *    paused but other threads (console input, a key press) are live.
 *  - restore reads exactly one device's state: the reader must hold that and nothing more
 *    (trailing bytes are refused). It validates *everything* — version, every field's range,
 *    that the state fits this instance's configuration — before changing anything: on error the
 *    device is unchanged and `err` says what was wrong. On success the device continues as if
 *    it had never stopped, and its interrupt line is driven to the restored level. */
#ifndef PSCIVM_DEVICE_H
#define PSCIVM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "util/blob.h"

/* Interrupt specifier cells (dt-bindings/interrupt-controller/arm-gic.h). */
#define DT_GIC_SPI 0u
#define DT_GIC_PPI 1u
#define DT_IRQ_TYPE_LEVEL_HIGH 4u

struct device;

/* What a node may reference that fdt.c creates. */
struct device_fdt_ctx {
    uint32_t gic_phandle;      /* the interrupt controller (also the root's interrupt-parent) */
    uint32_t apb_pclk_phandle; /* the fixed 24 MHz "apb_pclk" AMBA PrimeCells name as a clock */
};

struct device_ops {
    const char *type;          /* "uart16550", "virtio-blk", "pl031", "virtio-input" */
    /* The register window's callbacks (offsets relative to device.base; see bus.h). */
    struct bus_device_ops mmio;
    /* Machine reset: back to the power-on state. */
    void (*reset)(void *opaque);
    /* See the snapshot contract above. 0 or a negative errno with `err` set. */
    int (*save)(void *opaque, struct blob_writer *w, char *err, size_t errlen);
    int (*restore)(void *opaque, struct blob_reader *r, char *err, size_t errlen);
    /* Emit the device's node with libfdt's sequential-write calls (fdt_begin_node ..
     * fdt_end_node) at the current position; 0 or a negative libfdt error. */
    int (*fdt_node)(const struct device *dev, void *fdt, const struct device_fdt_ctx *ctx);
    const char *fdt_name;      /* node name before the '@': "uart" -> uart@9000000 */
    bool fdt_needs_apb_pclk;   /* the node references ctx->apb_pclk_phandle */
};

/* One device instance placed in the machine. */
struct device {
    const struct device_ops *ops;
    void *opaque;              /* handed to every op */
    const char *name;          /* for messages and the bus ("rtc", "virtio-blk" ...) */
    uint64_t base, size;       /* register window */
    unsigned int spi;          /* GIC SPI of its (level-high) interrupt */
};

/* Register the device's window on the bus (bus_register's errors: -EEXIST on overlap ...). */
int device_register(struct bus *bus, const struct device *dev);
void device_reset(const struct device *dev);
/* The ops' save/restore with the device's name in front of any message; -EOPNOTSUPP when the
 * device has no such hook. */
int device_save(const struct device *dev, struct blob_writer *w, char *err, size_t errlen);
int device_restore(const struct device *dev, struct blob_reader *r, char *err, size_t errlen);

/* Helpers for fdt_node implementations and fdt.c. */
/* "/<fdt_name>@<base>" (e.g. for /chosen's stdout-path); -ENOSPC when it does not fit. */
int device_fdt_path(const struct device *dev, char *buf, size_t len);
/* Begin "<fdt_name>@<base>" and write the properties every device node starts with:
 * compatible (a NUL-separated list of `compat_len` bytes, including the last NUL), reg
 * <base size> in 2+2 cells, interrupts <GIC_SPI spi LEVEL_HIGH>. The caller adds its own
 * properties and calls fdt_end_node(). 0 or a negative libfdt error. */
int device_fdt_begin(void *fdt, const struct device *dev, const char *compat, size_t compat_len);

/* Message helper for restore implementations: formats into err and returns -EINVAL. */
int device_state_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
