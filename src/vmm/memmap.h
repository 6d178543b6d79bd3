/* memmap.h — pscivm's guest physical memory map and interrupt numbers (documented in
 * docs/memory-map.md). Plain #defines so freestanding guest payloads can include it too.
 * Modelled on QEMU's `virt` board so Debian kernels and tools find familiar addresses. */
#ifndef PSCIVM_MEMMAP_H
#define PSCIVM_MEMMAP_H

#define MEMMAP_GICD_BASE        0x08000000ULL  /* GICv3 distributor, 64 KiB */
#define MEMMAP_GICD_SIZE        0x00010000ULL
#define MEMMAP_GICR_BASE        0x080A0000ULL  /* GICv3 redistributors, 128 KiB per vCPU */
#define MEMMAP_GICR_STRIDE      0x00020000ULL
#define MEMMAP_GICR_LIMIT       0x09000000ULL  /* room for 123 vCPUs */
#define MEMMAP_MAX_VCPUS        123
#define MEMMAP_UART_BASE        0x09000000ULL  /* 16550A, reg-shift 0, 8 byte registers */
#define MEMMAP_UART_SIZE        0x00001000ULL
#define MEMMAP_RTC_BASE         0x09010000ULL  /* PL031 RTC (src/devices/pl031.h) */
#define MEMMAP_RTC_SIZE         0x00001000ULL
#define MEMMAP_VIRTIO_BASE      0x0A000000ULL  /* virtio-mmio slots, 512 bytes each */
#define MEMMAP_VIRTIO_STRIDE    0x00000200ULL
#define MEMMAP_VIRTIO_SLOTS     32
#define MEMMAP_RAM_BASE         0x40000000ULL  /* guest RAM starts here, --mem MiB long */

/* Interrupts, as GIC SPI numbers (INTID = 32 + SPI). */
#define MEMMAP_UART_SPI         1
#define MEMMAP_RTC_SPI          2
#define MEMMAP_VIRTIO_SPI_BASE  16             /* slot n uses SPI 16 + n */
/* Architected timer PPIs (INTID = 16 + PPI): secure, non-secure, virtual, hypervisor. */
#define MEMMAP_TIMER_PPI_SEC    13
#define MEMMAP_TIMER_PPI_NS     14
#define MEMMAP_TIMER_PPI_VIRT   11
#define MEMMAP_TIMER_PPI_HYP    10

#endif
