/* test_fdt.c — the guest device tree, read back with libfdt: every node and property a guest
 * needs (memory, cpus with enable-method psci and MPIDR regs, the psci node's compatible per
 * version with method hvc, GICv3, timer, UART, /chosen stdout-path and bootargs, the reserve
 * map), and clear failures for bad input or a too small buffer. Device nodes come from a list
 * of `struct device` in order: the same bytes as the transitional nr_virtio form, stdout-path
 * from the first UART, devices without a node skipped, a failing node named in the error; the
 * PL031 node as QEMU's virt board writes it, with the apb-pclk fixed clock it references. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <libfdt.h>

#include "devices/pl031.h"
#include "devices/uart16550.h"
#include "devices/virtio_blk.h"
#include "psci/psci.h"
#include "vmm/fdt.h"

static uint8_t blob[FDT_MAX_SIZE];
static const uint64_t mpidrs4[] = {0x0, 0x1, 0x2, 0x3};

static struct fdt_params params(uint32_t version)
{
    return (struct fdt_params){
        .ram_base = 0x40000000, .ram_size = 128ULL << 20, .nr_cpus = 4, .mpidrs = mpidrs4,
        .psci_version = version, .bootargs = "psci-mode=user calls=10",
        .reserve_base = 0x47e00000, .reserve_size = 2ULL << 20,
    };
}

static void build(const struct fdt_params *p)
{
    char err[128];
    assert_int_equal(fdt_build(blob, sizeof(blob), p, err, sizeof(err)), 0);
    assert_int_equal(fdt_check_header(blob), 0);
}

static const void *prop(const char *path, const char *name, int *len)
{
    int node = fdt_path_offset(blob, path);
    assert_true(node >= 0);
    const void *v = fdt_getprop(blob, node, name, len);
    assert_non_null(v);
    return v;
}

static void test_fdt__psci_compatible_per_version(void **state)
{
    (void)state;
    static const struct {
        uint32_t version;
        const char *first;
        int nr_strings;
    } cases[] = {
        {PSCI_VERSION_0_2, "arm,psci-0.2", 1}, {PSCI_VERSION_1_0, "arm,psci-1.0", 2},
        {PSCI_VERSION_1_1, "arm,psci-1.0", 2}, {PSCI_VERSION_1_2, "arm,psci-1.0", 2},
        {PSCI_VERSION_1_3, "arm,psci-1.0", 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fdt_params p = params(cases[i].version);
        build(&p);
        int node = fdt_path_offset(blob, "/psci");
        assert_true(node >= 0);
        assert_string_equal(fdt_stringlist_get(blob, node, "compatible", 0, NULL),
                            cases[i].first);
        assert_int_equal(fdt_stringlist_count(blob, node, "compatible"), cases[i].nr_strings);
        assert_int_equal(fdt_node_check_compatible(blob, node, "arm,psci-0.2"), 0);
        assert_string_equal(prop("/psci", "method", NULL), "hvc");
    }
}

static void test_fdt__memory_cpus_chosen(void **state)
{
    (void)state;
    struct fdt_params p = params(PSCI_VERSION_1_3);
    build(&p);
    int len;
    const fdt64_t *reg = prop("/memory@40000000", "reg", &len);
    assert_int_equal(len, 16);
    assert_int_equal(fdt64_ld(&reg[0]), 0x40000000);
    assert_int_equal(fdt64_ld(&reg[1]), 128ULL << 20);
    assert_string_equal(prop("/memory@40000000", "device_type", NULL), "memory");
    for (unsigned int i = 0; i < 4; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/cpus/cpu@%u", i);
        const fdt32_t *r = prop(path, "reg", &len);
        assert_int_equal(len, 4);
        assert_int_equal(fdt32_ld(r), mpidrs4[i]);
        assert_string_equal(prop(path, "enable-method", NULL), "psci");
        assert_string_equal(prop(path, "device_type", NULL), "cpu");
    }
    assert_int_equal(fdt32_ld((const fdt32_t *)prop("/cpus", "#address-cells", NULL)), 1);
    assert_string_equal(prop("/chosen", "stdout-path", NULL), "/uart@9000000");
    assert_string_equal(prop("/chosen", "bootargs", NULL), "psci-mode=user calls=10");
    uint64_t addr, size;
    assert_int_equal(fdt_num_mem_rsv(blob), 1);
    assert_int_equal(fdt_get_mem_rsv(blob, 0, &addr, &size), 0);
    assert_int_equal(addr, 0x47e00000);
    assert_int_equal(size, 2ULL << 20);
}

static void test_fdt__devices(void **state)
{
    (void)state;
    struct fdt_params p = params(PSCI_VERSION_1_1);
    build(&p);
    int len;
    const fdt64_t *reg = prop("/intc@8000000", "reg", &len);
    assert_int_equal(len, 32);
    assert_int_equal(fdt64_ld(&reg[0]), 0x08000000);
    assert_int_equal(fdt64_ld(&reg[2]), 0x080A0000);
    assert_int_equal(fdt64_ld(&reg[3]), 4 * 0x20000);
    assert_string_equal(prop("/intc@8000000", "compatible", NULL), "arm,gic-v3");
    uint32_t phandle = fdt32_ld((const fdt32_t *)prop("/intc@8000000", "phandle", NULL));
    assert_int_equal(fdt32_ld((const fdt32_t *)prop("/", "interrupt-parent", NULL)),
                     phandle);
    const fdt32_t *irqs = prop("/timer", "interrupts", &len);
    assert_int_equal(len, 48);
    assert_int_equal(fdt32_ld(&irqs[1]), 13);
    assert_int_equal(fdt32_ld(&irqs[4]), 14);
    assert_int_equal(fdt32_ld(&irqs[7]), 11);
    assert_int_equal(fdt32_ld(&irqs[10]), 10);
    assert_string_equal(prop("/uart@9000000", "compatible", NULL), "ns16550a");
    const fdt32_t *uirq = prop("/uart@9000000", "interrupts", &len);
    assert_int_equal(len, 12);
    assert_int_equal(fdt32_ld(&uirq[0]), 0); /* SPI */
    assert_int_equal(fdt32_ld(&uirq[1]), 1);
}

static void test_fdt__aff3_uses_two_cells(void **state)
{
    (void)state;
    static const uint64_t mp[] = {0x0, 0x100000000ULL};
    struct fdt_params p = params(PSCI_VERSION_1_0);
    p.nr_cpus = 2;
    p.mpidrs = mp;
    p.bootargs = NULL;
    build(&p);
    assert_int_equal(fdt32_ld((const fdt32_t *)prop("/cpus", "#address-cells", NULL)), 2);
    int len;
    const fdt64_t *r = prop("/cpus/cpu@100000000", "reg", &len);
    assert_int_equal(len, 8);
    assert_int_equal(fdt64_ld(r), 0x100000000ULL);
    int chosen = fdt_path_offset(blob, "/chosen");
    assert_null(fdt_getprop(blob, chosen, "bootargs", NULL));
}

static struct device dev_uart(void)
{
    return (struct device){.ops = &uart16550_device_ops, .name = "uart", .base = 0x09000000,
                           .size = 0x1000, .spi = 1};
}

static struct device dev_virtio(unsigned int slot)
{
    return (struct device){.ops = &virtio_blk_device_ops, .name = "virtio-blk",
                           .base = 0x0a000000 + 0x200ull * slot, .size = 0x200,
                           .spi = 16 + slot};
}

static void test_fdt__device_list_matches_the_fixed_layout(void **state)
{
    (void)state;
    static uint8_t fixed[FDT_MAX_SIZE];
    char err[128];
    struct fdt_params p = params(PSCI_VERSION_1_3);
    p.initrd_start = 0x44000000;
    p.initrd_end = 0x44100000;
    p.nr_virtio = 3;
    assert_int_equal(fdt_build(fixed, sizeof(fixed), &p, err, sizeof(err)), 0);
    struct device devs[4] = {dev_uart(), dev_virtio(0), dev_virtio(1), dev_virtio(2)};
    p.nr_virtio = 7; /* ignored once devices are given */
    p.devices = devs;
    p.nr_devices = 4;
    build(&p);
    assert_int_equal(fdt_totalsize(blob), fdt_totalsize(fixed));
    assert_memory_equal(blob, fixed, fdt_totalsize(fixed));

    int len;
    assert_string_equal(prop("/virtio_mmio@a000400", "compatible", NULL), "virtio,mmio");
    const fdt64_t *reg = prop("/virtio_mmio@a000400", "reg", &len);
    assert_int_equal(len, 16);
    assert_int_equal(fdt64_ld(&reg[0]), 0x0a000400);
    assert_int_equal(fdt64_ld(&reg[1]), 0x200);
    const fdt32_t *irq = prop("/virtio_mmio@a000400", "interrupts", &len);
    assert_int_equal(len, 12);
    assert_int_equal(fdt32_ld(&irq[1]), 18);
    assert_int_equal(fdt32_ld(&irq[2]), 4);
    prop("/virtio_mmio@a000400", "dma-coherent", &len);
    assert_int_equal(len, 0);
    assert_int_equal(fdt32_ld((const fdt32_t *)prop("/uart@9000000", "clock-frequency", NULL)),
                     1843200);
    assert_int_equal(fdt_path_offset(blob, "/apb-pclk"), -FDT_ERR_NOTFOUND);
}

static void test_fdt__device_order_and_stdout(void **state)
{
    (void)state;
    /* Nodes follow the list order; stdout-path names the first UART wherever it is. */
    struct device devs[3] = {dev_virtio(1), dev_uart(), dev_virtio(0)};
    devs[1].base = 0x09002000;
    struct fdt_params p = params(PSCI_VERSION_1_3);
    p.devices = devs;
    p.nr_devices = 3;
    build(&p);
    assert_string_equal(prop("/chosen", "stdout-path", NULL), "/uart@9002000");
    int a = fdt_path_offset(blob, "/virtio_mmio@a000200");
    int b = fdt_path_offset(blob, "/uart@9002000");
    int c = fdt_path_offset(blob, "/virtio_mmio@a000000");
    assert_true(a > 0 && a < b && b < c);
    /* No UART: no stdout-path, and nothing at the UART's usual place. */
    p.devices = &devs[2];
    p.nr_devices = 1;
    build(&p);
    int chosen = fdt_path_offset(blob, "/chosen");
    assert_null(fdt_getprop(blob, chosen, "stdout-path", NULL));
    assert_int_equal(fdt_path_offset(blob, "/uart@9000000"), -FDT_ERR_NOTFOUND);
    /* No devices at all. */
    p.nr_devices = 0;
    build(&p);
    assert_int_equal(fdt_path_offset(blob, "/virtio_mmio@a000000"), -FDT_ERR_NOTFOUND);
}

static int failing_node(const struct device *dev, void *fdt, const struct device_fdt_ctx *ctx)
{
    (void)dev;
    (void)ctx;
    int rc = fdt_begin_node(fdt, "broken@0");
    return rc ? rc : -FDT_ERR_BADVALUE;
}

static void test_fdt__device_hooks(void **state)
{
    (void)state;
    char err[128];
    static const struct device_ops no_node = {.type = "nodeless"};
    static const struct device_ops broken = {.type = "broken", .fdt_node = failing_node};
    struct device devs[2] = {{.ops = &no_node, .name = "quiet"}, dev_uart()};
    struct fdt_params p = params(PSCI_VERSION_1_3);
    p.devices = devs;
    p.nr_devices = 2;
    build(&p);
    assert_true(fdt_path_offset(blob, "/uart@9000000") > 0);
    devs[0] = (struct device){.ops = &broken, .name = "flaky", .base = 0x1000};
    assert_int_equal(fdt_build(blob, sizeof(blob), &p, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "flaky"));
    assert_non_null(strstr(err, "0x1000"));
    devs[0].ops = NULL;
    assert_int_equal(fdt_build(blob, sizeof(blob), &p, err, sizeof(err)), -EINVAL);
    p.devices = NULL; /* a count without a list */
    assert_int_equal(fdt_build(blob, sizeof(blob), &p, err, sizeof(err)), -EINVAL);
}

static void test_fdt__pl031_and_its_clock(void **state)
{
    (void)state;
    struct device devs[2] = {
        dev_uart(),
        {.ops = &pl031_device_ops, .name = "rtc", .base = 0x09010000, .size = 0x1000, .spi = 2},
    };
    struct fdt_params p = params(PSCI_VERSION_1_3);
    p.devices = devs;
    p.nr_devices = 2;
    build(&p);
    int len;
    const char *compat = prop("/pl031@9010000", "compatible", &len);
    static const char expect[] = "arm,pl031\0arm,primecell";
    assert_int_equal(len, sizeof(expect));
    assert_memory_equal(compat, expect, sizeof(expect));
    const fdt64_t *reg = prop("/pl031@9010000", "reg", &len);
    assert_int_equal(len, 16);
    assert_int_equal(fdt64_ld(&reg[0]), 0x09010000);
    assert_int_equal(fdt64_ld(&reg[1]), 0x1000);
    const fdt32_t *irq = prop("/pl031@9010000", "interrupts", &len);
    assert_int_equal(len, 12);
    assert_int_equal(fdt32_ld(&irq[0]), 0); /* GIC_SPI */
    assert_int_equal(fdt32_ld(&irq[1]), 2);
    assert_int_equal(fdt32_ld(&irq[2]), 4); /* IRQ_TYPE_LEVEL_HIGH */
    assert_string_equal(prop("/pl031@9010000", "clock-names", NULL), "apb_pclk");
    const fdt32_t *clocks = prop("/pl031@9010000", "clocks", &len);
    assert_int_equal(len, 4);
    /* The phandle resolves to the fixed 24 MHz clock. */
    int clk = fdt_node_offset_by_phandle(blob, fdt32_ld(clocks));
    assert_int_equal(clk, fdt_path_offset(blob, "/apb-pclk"));
    assert_string_equal(prop("/apb-pclk", "compatible", NULL), "fixed-clock");
    assert_int_equal(fdt32_ld((const fdt32_t *)prop("/apb-pclk", "#clock-cells", NULL)), 0);
    assert_int_equal(fdt32_ld((const fdt32_t *)prop("/apb-pclk", "clock-frequency", NULL)),
                     24000000);
    assert_string_equal(prop("/apb-pclk", "clock-output-names", NULL), "clk24mhz");
    uint32_t gic = fdt32_ld((const fdt32_t *)prop("/intc@8000000", "phandle", NULL));
    assert_true(fdt32_ld(clocks) != gic);
    /* The clock precedes the devices that use it. */
    assert_true(clk < fdt_path_offset(blob, "/uart@9000000"));
}

static void test_fdt__errors(void **state)
{
    (void)state;
    char err[128];
    struct fdt_params p = params(PSCI_VERSION_1_3);
    assert_int_equal(fdt_build(blob, 256, &p, err, sizeof(err)), -ENOSPC);
    assert_non_null(strstr(err, "device tree"));
    p.nr_cpus = 0;
    assert_int_equal(fdt_build(blob, sizeof(blob), &p, err, sizeof(err)), -EINVAL);
    p = params(0x00010009);
    assert_int_equal(fdt_build(blob, sizeof(blob), &p, err, sizeof(err)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fdt__psci_compatible_per_version),
        cmocka_unit_test(test_fdt__memory_cpus_chosen),
        cmocka_unit_test(test_fdt__devices),
        cmocka_unit_test(test_fdt__aff3_uses_two_cells),
        cmocka_unit_test(test_fdt__errors),
        cmocka_unit_test(test_fdt__device_list_matches_the_fixed_layout),
        cmocka_unit_test(test_fdt__device_order_and_stdout),
        cmocka_unit_test(test_fdt__device_hooks),
        cmocka_unit_test(test_fdt__pl031_and_its_clock),
    };
    return cmocka_run_group_tests_name("fdt", tests, NULL, NULL);
}
