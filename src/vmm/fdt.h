/* fdt.h — builds the guest's flattened device tree with libfdt (sequential-write API), one
 * function per node so more nodes (virtio-mmio, initrd in /chosen ...) slot in. The tree:
 *   / (#address-cells = #size-cells = 2, interrupt-parent = GIC)
 *     chosen { bootargs; stdout-path = "/uart@9000000" }
 *     memory@40000000 { device_type = "memory"; reg = <RAM> }
 *     cpus { cpu@MPIDR { device_type = "cpu"; compatible = "arm,armv8"; reg = <MPIDR>;
 *                        enable-method = "psci" } ... }
 *     psci { compatible = "arm,psci-1.0", "arm,psci-0.2" (>= 1.0) | "arm,psci-0.2";
 *            method = "hvc" }
 *     intc@8000000 { compatible = "arm,gic-v3"; reg = <GICD>, <GICR region> ... }
 *     timer { compatible = "arm,armv8-timer"; interrupts = PPIs 13, 14, 11, 10 }
 *     uart@9000000 { compatible = "ns16550a"; reg; interrupts = SPI 1; clock-frequency ... }
 *     virtio_mmio@a000000 { compatible = "virtio,mmio"; reg = <slot, 0x200>;
 *                           interrupts = SPI 16 + slot; dma-coherent } ... (one per device)
 * With an initrd, /chosen also gets linux,initrd-start and linux,initrd-end (64-bit cells).
 */
#ifndef PSCIVM_FDT_H
#define PSCIVM_FDT_H

#include <stddef.h>
#include <stdint.h>

#define FDT_MAX_SIZE 0x10000 /* 64 KiB is plenty for 123 vCPUs */

struct fdt_params {
    uint64_t ram_base, ram_size;
    unsigned int nr_cpus;
    const uint64_t *mpidrs;      /* nr_cpus affinity values (as KVM assigned them) */
    uint32_t psci_version;       /* PSCI_VERSION_x_y */
    const char *bootargs;        /* NULL: no bootargs property */
    uint64_t reserve_base, reserve_size; /* /memreserve/ entry (the DTB itself); size 0: none */
    uint64_t initrd_start, initrd_end;   /* [start, end) of the initrd; end 0: none */
    unsigned int nr_virtio;              /* virtio-mmio devices in slots 0 .. nr_virtio-1 */
};

/* Write the tree into buf (size bytes). Returns 0 or a negative errno (-ENOSPC when too small,
 * -EINVAL for bad params); err gets a one-line reason. */
int fdt_build(void *buf, size_t size, const struct fdt_params *p, char *err, size_t err_size);

#endif
