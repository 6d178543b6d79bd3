/* fdt.c — the guest device tree (see fdt.h for its shape). Uses libfdt's sequential-write API:
 * every node function returns 0 or a libfdt error, and fdt_build() maps those to errno. The
 * machine's nodes (chosen, memory, cpus, psci, GIC, timer, clock) are written here; device
 * nodes come from each device's fdt_node hook. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libfdt.h>

#include "devices/uart16550.h"
#include "devices/virtio_blk.h"
#include "psci/psci.h"
#include "vmm/fdt.h"
#include "vmm/memmap.h"

#define GIC_PHANDLE 1
#define APB_PCLK_PHANDLE 2
#define APB_PCLK_HZ 24000000u   /* what QEMU's virt board gives its PrimeCells */

/* Property of 64-bit cells (two 32-bit cells each). */
static int prop_u64s(void *fdt, const char *name, const uint64_t *vals, unsigned int n)
{
    fdt64_t cells[8];
    if (n > 8)
        return -FDT_ERR_BADVALUE;
    for (unsigned int i = 0; i < n; i++)
        cells[i] = cpu_to_fdt64(vals[i]);
    return fdt_property(fdt, name, cells, n * sizeof(cells[0]));
}

static int prop_u32s(void *fdt, const char *name, const uint32_t *vals, unsigned int n)
{
    fdt32_t cells[16];
    if (n > 16)
        return -FDT_ERR_BADVALUE;
    for (unsigned int i = 0; i < n; i++)
        cells[i] = cpu_to_fdt32(vals[i]);
    return fdt_property(fdt, name, cells, n * sizeof(cells[0]));
}

#define TRY(expr)              \
    do {                       \
        int rc_ = (expr);      \
        if (rc_ < 0)           \
            return rc_;        \
    } while (0)

/* The devices a tree describes: p->devices, or the transitional fixed set (see fdt.h). */
struct device_list {
    const struct device *devs;
    unsigned int nr;
    struct device legacy[1 + MEMMAP_VIRTIO_SLOTS];
};

static void device_list_init(struct device_list *l, const struct fdt_params *p)
{
    if (p->devices) {
        l->devs = p->devices;
        l->nr = p->nr_devices;
        return;
    }
    l->legacy[0] = (struct device){
        .ops = &uart16550_device_ops, .name = "uart", .base = MEMMAP_UART_BASE,
        .size = MEMMAP_UART_SIZE, .spi = MEMMAP_UART_SPI,
    };
    for (unsigned int i = 0; i < p->nr_virtio; i++)
        l->legacy[1 + i] = (struct device){
            .ops = &virtio_blk_device_ops, .name = "virtio-blk",
            .base = MEMMAP_VIRTIO_BASE + (uint64_t)i * MEMMAP_VIRTIO_STRIDE,
            .size = MEMMAP_VIRTIO_STRIDE, .spi = MEMMAP_VIRTIO_SPI_BASE + i,
        };
    l->devs = l->legacy;
    l->nr = 1 + p->nr_virtio;
}

static int fdt_node_chosen(void *fdt, const struct fdt_params *p, const struct device_list *l)
{
    const struct device *console = NULL;
    for (unsigned int i = 0; i < l->nr && !console; i++)
        if (!strcmp(l->devs[i].ops->type, UART16550_TYPE))
            console = &l->devs[i];
    TRY(fdt_begin_node(fdt, "chosen"));
    if (p->bootargs)
        TRY(fdt_property_string(fdt, "bootargs", p->bootargs));
    if (console) {
        char path[64];
        if (device_fdt_path(console, path, sizeof(path)) < 0)
            return -FDT_ERR_BADVALUE;
        TRY(fdt_property_string(fdt, "stdout-path", path));
    }
    if (p->initrd_end) {
        TRY(fdt_property_u64(fdt, "linux,initrd-start", p->initrd_start));
        TRY(fdt_property_u64(fdt, "linux,initrd-end", p->initrd_end));
    }
    return fdt_end_node(fdt);
}

static int fdt_node_memory(void *fdt, const struct fdt_params *p)
{
    char name[32];
    snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)p->ram_base);
    uint64_t reg[2] = {p->ram_base, p->ram_size};
    TRY(fdt_begin_node(fdt, name));
    TRY(fdt_property_string(fdt, "device_type", "memory"));
    TRY(prop_u64s(fdt, "reg", reg, 2));
    return fdt_end_node(fdt);
}

static int fdt_node_cpus(void *fdt, const struct fdt_params *p)
{
    /* One address cell is enough unless some MPIDR uses Aff3. */
    unsigned int cells = 1;
    for (unsigned int i = 0; i < p->nr_cpus; i++)
        if (p->mpidrs[i] >> 32)
            cells = 2;
    TRY(fdt_begin_node(fdt, "cpus"));
    TRY(fdt_property_u32(fdt, "#address-cells", cells));
    TRY(fdt_property_u32(fdt, "#size-cells", 0));
    for (unsigned int i = 0; i < p->nr_cpus; i++) {
        char name[32];
        uint64_t mpidr = p->mpidrs[i] & PSCI_MPIDR_AFF_MASK;
        snprintf(name, sizeof(name), "cpu@%llx", (unsigned long long)mpidr);
        TRY(fdt_begin_node(fdt, name));
        TRY(fdt_property_string(fdt, "device_type", "cpu"));
        TRY(fdt_property_string(fdt, "compatible", "arm,armv8"));
        if (cells == 2)
            TRY(fdt_property_u64(fdt, "reg", mpidr));
        else
            TRY(fdt_property_u32(fdt, "reg", (uint32_t)mpidr));
        TRY(fdt_property_string(fdt, "enable-method", "psci"));
        TRY(fdt_end_node(fdt));
    }
    return fdt_end_node(fdt);
}

static int fdt_node_psci(void *fdt, const struct fdt_params *p)
{
    static const char compat_1[] = "arm,psci-1.0\0arm,psci-0.2";
    static const char compat_0_2[] = "arm,psci-0.2";
    TRY(fdt_begin_node(fdt, "psci"));
    if (p->psci_version >= PSCI_VERSION_1_0)
        TRY(fdt_property(fdt, "compatible", compat_1, sizeof(compat_1)));
    else
        TRY(fdt_property(fdt, "compatible", compat_0_2, sizeof(compat_0_2)));
    TRY(fdt_property_string(fdt, "method", "hvc"));
    return fdt_end_node(fdt);
}

static int fdt_node_gic(void *fdt, const struct fdt_params *p)
{
    char name[32];
    snprintf(name, sizeof(name), "intc@%llx", (unsigned long long)MEMMAP_GICD_BASE);
    uint64_t reg[4] = {MEMMAP_GICD_BASE, MEMMAP_GICD_SIZE, MEMMAP_GICR_BASE,
                       MEMMAP_GICR_STRIDE * p->nr_cpus};
    /* GICv3 maintenance interrupt: PPI 9. */
    uint32_t maint[3] = {DT_GIC_PPI, 9, DT_IRQ_TYPE_LEVEL_HIGH};
    TRY(fdt_begin_node(fdt, name));
    TRY(fdt_property_string(fdt, "compatible", "arm,gic-v3"));
    TRY(fdt_property_u32(fdt, "#interrupt-cells", 3));
    TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
    TRY(fdt_property_u32(fdt, "#redistributor-regions", 1));
    TRY(prop_u64s(fdt, "reg", reg, 4));
    TRY(prop_u32s(fdt, "interrupts", maint, 3));
    TRY(fdt_property_u32(fdt, "phandle", GIC_PHANDLE));
    return fdt_end_node(fdt);
}

static int fdt_node_timer(void *fdt)
{
    /* Order fixed by the binding: secure, non-secure, virtual, hypervisor physical. */
    uint32_t irqs[12] = {
        DT_GIC_PPI, MEMMAP_TIMER_PPI_SEC, DT_IRQ_TYPE_LEVEL_HIGH,
        DT_GIC_PPI, MEMMAP_TIMER_PPI_NS, DT_IRQ_TYPE_LEVEL_HIGH,
        DT_GIC_PPI, MEMMAP_TIMER_PPI_VIRT, DT_IRQ_TYPE_LEVEL_HIGH,
        DT_GIC_PPI, MEMMAP_TIMER_PPI_HYP, DT_IRQ_TYPE_LEVEL_HIGH,
    };
    TRY(fdt_begin_node(fdt, "timer"));
    TRY(fdt_property_string(fdt, "compatible", "arm,armv8-timer"));
    TRY(prop_u32s(fdt, "interrupts", irqs, 12));
    TRY(fdt_property(fdt, "always-on", NULL, 0));
    return fdt_end_node(fdt);
}

/* The fixed clock AMBA PrimeCells name "apb_pclk" (as on QEMU's virt board). */
static int fdt_node_apb_pclk(void *fdt)
{
    TRY(fdt_begin_node(fdt, "apb-pclk"));
    TRY(fdt_property_string(fdt, "compatible", "fixed-clock"));
    TRY(fdt_property_u32(fdt, "#clock-cells", 0));
    TRY(fdt_property_u32(fdt, "clock-frequency", APB_PCLK_HZ));
    TRY(fdt_property_string(fdt, "clock-output-names", "clk24mhz"));
    TRY(fdt_property_u32(fdt, "phandle", APB_PCLK_PHANDLE));
    return fdt_end_node(fdt);
}

/* The whole tree, in the order documented in fdt.h. */
static int fdt_build_tree(void *fdt, size_t size, const struct fdt_params *p,
                          const struct device_list *l, unsigned int *failed)
{
    const struct device_fdt_ctx ctx = {
        .gic_phandle = GIC_PHANDLE, .apb_pclk_phandle = APB_PCLK_PHANDLE,
    };
    bool need_apb_pclk = false;
    for (unsigned int i = 0; i < l->nr; i++)
        need_apb_pclk |= l->devs[i].ops->fdt_node && l->devs[i].ops->fdt_needs_apb_pclk;
    TRY(fdt_create(fdt, (int)size));
    if (p->reserve_size)
        TRY(fdt_add_reservemap_entry(fdt, p->reserve_base, p->reserve_size));
    TRY(fdt_finish_reservemap(fdt));
    TRY(fdt_begin_node(fdt, ""));
    TRY(fdt_property_string(fdt, "compatible", "pscivm,virt"));
    TRY(fdt_property_string(fdt, "model", "pscivm arm64 virtual machine"));
    TRY(fdt_property_u32(fdt, "#address-cells", 2));
    TRY(fdt_property_u32(fdt, "#size-cells", 2));
    TRY(fdt_property_u32(fdt, "interrupt-parent", GIC_PHANDLE));
    TRY(fdt_node_chosen(fdt, p, l));
    TRY(fdt_node_memory(fdt, p));
    TRY(fdt_node_cpus(fdt, p));
    TRY(fdt_node_psci(fdt, p));
    TRY(fdt_node_gic(fdt, p));
    TRY(fdt_node_timer(fdt));
    if (need_apb_pclk)
        TRY(fdt_node_apb_pclk(fdt));
    for (unsigned int i = 0; i < l->nr; i++) {
        const struct device *dev = &l->devs[i];
        if (!dev->ops->fdt_node)
            continue;
        *failed = i;
        TRY(dev->ops->fdt_node(dev, fdt, &ctx));
    }
    *failed = UINT32_MAX;
    TRY(fdt_end_node(fdt));
    TRY(fdt_finish(fdt));
    return 0;
}

int fdt_build(void *buf, size_t size, const struct fdt_params *p, char *err, size_t err_size)
{
    if (p->nr_cpus == 0 || p->nr_cpus > MEMMAP_MAX_VCPUS || !p->mpidrs || p->ram_size == 0 ||
        !psci_version_is_supported(p->psci_version) || size > INT32_MAX ||
        (!p->devices && p->nr_virtio > MEMMAP_VIRTIO_SLOTS) || (p->nr_devices && !p->devices) ||
        p->initrd_start > p->initrd_end) {
        snprintf(err, err_size, "device tree: invalid machine description");
        return -EINVAL;
    }
    for (unsigned int i = 0; p->devices && i < p->nr_devices; i++) {
        if (!p->devices[i].ops || !p->devices[i].ops->type) {
            snprintf(err, err_size, "device tree: device %u has no ops", i);
            return -EINVAL;
        }
    }
    struct device_list l;
    device_list_init(&l, p);
    unsigned int failed = UINT32_MAX;
    int rc = fdt_build_tree(buf, size, p, &l, &failed);
    if (rc < 0) {
        if (failed != UINT32_MAX && rc != -FDT_ERR_NOSPACE)
            snprintf(err, err_size, "device tree: node of %s at 0x%llx: %s",
                     l.devs[failed].name ? l.devs[failed].name : l.devs[failed].ops->type,
                     (unsigned long long)l.devs[failed].base, fdt_strerror(rc));
        else
            snprintf(err, err_size, "device tree: %s", fdt_strerror(rc));
        return rc == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
    }
    return 0;
}
