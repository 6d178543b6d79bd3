/* device.c — the generic half of the device interface (see device.h): bus registration,
 * messages prefixed with the device's name, and the device-tree boilerplate every node shares. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libfdt.h>

#include "devices/device.h"

int device_register(struct bus *bus, const struct device *dev)
{
    return bus_register(bus, dev->base, dev->size, &dev->ops->mmio, dev->opaque, dev->name);
}

void device_reset(const struct device *dev)
{
    if (dev->ops->reset)
        dev->ops->reset(dev->opaque);
}

/* Put "<name>: " in front of what the device wrote into err. */
static void prefix_name(const struct device *dev, char *err, size_t errlen)
{
    if (!errlen)
        return;
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", err);
    snprintf(err, errlen, "%s: %s", dev->name ? dev->name : dev->ops->type, msg);
}

int device_save(const struct device *dev, struct blob_writer *w, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    if (!dev->ops->save) {
        snprintf(err, errlen, "%s: saving its state is not supported", dev->ops->type);
        return -EOPNOTSUPP;
    }
    int rc = dev->ops->save(dev->opaque, w, err, errlen);
    if (rc)
        prefix_name(dev, err, errlen);
    return rc;
}

int device_restore(const struct device *dev, struct blob_reader *r, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    if (!dev->ops->restore) {
        snprintf(err, errlen, "%s: restoring its state is not supported", dev->ops->type);
        return -EOPNOTSUPP;
    }
    int rc = dev->ops->restore(dev->opaque, r, err, errlen);
    if (rc)
        prefix_name(dev, err, errlen);
    return rc;
}

int device_fdt_path(const struct device *dev, char *buf, size_t len)
{
    int n = snprintf(buf, len, "/%s@%llx", dev->ops->fdt_name ? dev->ops->fdt_name : "device",
                     (unsigned long long)dev->base);
    return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int device_fdt_begin(void *fdt, const struct device *dev, const char *compat, size_t compat_len)
{
    char path[64];
    if (device_fdt_path(dev, path, sizeof(path)) < 0)
        return -FDT_ERR_BADVALUE;
    fdt64_t reg[2] = {cpu_to_fdt64(dev->base), cpu_to_fdt64(dev->size)};
    fdt32_t irq[3] = {cpu_to_fdt32(DT_GIC_SPI), cpu_to_fdt32(dev->spi),
                      cpu_to_fdt32(DT_IRQ_TYPE_LEVEL_HIGH)};
    int rc = fdt_begin_node(fdt, path + 1); /* the name is the path without its '/' */
    if (!rc)
        rc = fdt_property(fdt, "compatible", compat, (int)compat_len);
    if (!rc)
        rc = fdt_property(fdt, "reg", reg, sizeof(reg));
    if (!rc)
        rc = fdt_property(fdt, "interrupts", irq, sizeof(irq));
    return rc;
}

int device_state_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}
