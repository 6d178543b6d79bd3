/* fdt.h — builds the guest's flattened device tree with libfdt (sequential-write API): the
 * machine's own nodes here, one node per device from the device's fdt_node hook (device.h), in
 * the order of fdt_params.devices. The tree (devices as pscivm places them today):
 *   / (#address-cells = #size-cells = 2, interrupt-parent = GIC)
 *     chosen { bootargs; stdout-path = "/uart@9000000" }
 *     memory@40000000 { device_type = "memory"; reg = <RAM> }
 *     cpus { cpu@MPIDR { device_type = "cpu"; compatible = "arm,armv8"; reg = <MPIDR>;
 *                        enable-method = "psci" } ... }
 *     psci { compatible = "arm,psci-1.0", "arm,psci-0.2" (>= 1.0) | "arm,psci-0.2";
 *            method = "hvc" }
 *     intc@8000000 { compatible = "arm,gic-v3"; reg = <GICD>, <GICR region> ... }
 *     timer { compatible = "arm,armv8-timer"; interrupts = PPIs 13, 14, 11, 10 }
 *     apb-pclk { compatible = "fixed-clock"; clock-frequency = 24 MHz; ... }  (only when a
 *                device is an AMBA PrimeCell: Linux's AMBA bus wants an "apb_pclk" clock)
 *     then the devices' nodes, e.g.
 *     uart@9000000 { compatible = "ns16550a"; reg; interrupts = SPI 1; clock-frequency ... }
 *     pl031@9010000 { compatible = "arm,pl031", "arm,primecell"; reg; interrupts = SPI 2;
 *                     clocks = <&apb-pclk>; clock-names = "apb_pclk" }
 *     virtio_mmio@a000000 { compatible = "virtio,mmio"; reg = <slot, 0x200>;
 *                           interrupts = SPI 16 + slot; dma-coherent } ... (one per device)
 * stdout-path names the first device of type "uart16550" (none: no stdout-path). With an
 * initrd, /chosen also gets linux,initrd-start and linux,initrd-end (64-bit cells).
 */
#ifndef PSCIVM_FDT_H
#define PSCIVM_FDT_H

#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"

#define FDT_MAX_SIZE 0x10000 /* 64 KiB is plenty for 123 vCPUs */

struct fdt_params {
    uint64_t ram_base, ram_size;
    unsigned int nr_cpus;
    const uint64_t *mpidrs;      /* nr_cpus affinity values (as KVM assigned them) */
    uint32_t psci_version;       /* PSCI_VERSION_x_y */
    const char *bootargs;        /* NULL: no bootargs property */
    uint64_t reserve_base, reserve_size; /* /memreserve/ entry (the DTB itself); size 0: none */
    uint64_t initrd_start, initrd_end;   /* [start, end) of the initrd; end 0: none */
    const struct device *devices;        /* nr_devices devices, nodes in this order */
    unsigned int nr_devices;
    /* Transitional, until machine.c passes `devices`: with devices == NULL, the tree has the
     * UART at MEMMAP_UART_BASE and virtio-mmio slots 0 .. nr_virtio-1, as before devices had
     * fdt_node hooks. Ignored when devices is set. */
    unsigned int nr_virtio;
};

/* Write the tree into buf (size bytes). Returns 0 or a negative errno (-ENOSPC when too small,
 * -EINVAL for bad params or a device whose node fails); err gets a one-line reason. */
int fdt_build(void *buf, size_t size, const struct fdt_params *p, char *err, size_t err_size);

#endif
