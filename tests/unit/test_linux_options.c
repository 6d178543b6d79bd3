/* test_linux_options.c — the Linux-boot options of `pscivm run` (--kernel, --initrd, --disk,
 * --console) and the device-tree nodes they produce (virtio,mmio per disk, /chosen initrd). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <libfdt.h>

#include "psci/psci.h"
#include "vmm/fdt.h"
#include "vmm/memmap.h"
#include "vmm/run_options.h"

static int parse(struct run_options *o, char *err, size_t errlen, ...)
{
    char *argv[40] = {"run"};
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 39;)
        argv[argc++] = a;
    va_end(ap);
    return run_options_parse(o, argc, argv, err, errlen);
}

static void test_linux_options__kernel_boot_line(void **state)
{
    (void)state;
    struct run_options o;
    char err[256];
    assert_int_equal(parse(&o, err, sizeof(err), "--kernel", "Image", "--initrd", "ird",
                           "--disk", "a.img", "--disk", "b.img,ro", "--console", "none",
                           "--cpus", "2", NULL), 0);
    assert_string_equal(o.kernel, "Image");
    assert_string_equal(o.initrd, "ird");
    assert_int_equal(o.nr_disks, 2);
    assert_string_equal(o.disks[1], "b.img,ro");
    assert_int_equal(o.console, CONSOLE_NONE);
    assert_null(o.payload);
    assert_string_equal(o.cmdline, RUN_DEFAULT_KERNEL_CMDLINE);

    assert_int_equal(parse(&o, err, sizeof(err), "--kernel", "I", "--cmdline", "quiet",
                           "--console", "/tmp/con.log", NULL), 0);
    assert_string_equal(o.cmdline, "quiet");
    assert_int_equal(o.console, CONSOLE_FILE);
    assert_string_equal(o.console_path, "/tmp/con.log");
    assert_int_equal(parse(&o, err, sizeof(err), "--payload", "p.bin", "--disk", "d", NULL), 0);
    assert_int_equal(o.console, CONSOLE_STDIO);
    assert_null(o.cmdline); /* payloads get no default command line */
}

static void test_linux_options__refusals(void **state)
{
    (void)state;
    static const struct {
        const char *a[6];
        const char *msg;
    } cases[] = {
        {{"--kernel", "I", "--payload", "p"}, "exclude"},
        {{"--initrd", "r", "--payload", "p"}, "--initrd needs --kernel"},
        {{"--initrd", "r"}, "required"},
        {{"--kernel", ""}, "--kernel"},
        {{"--kernel", "I", "--disk", ""}, "--disk"},
        {{"--kernel", "I", "--disk", ",ro"}, "--disk"},
        {{"--kernel", "I", "--console", ""}, "--console"},
        {{"--kernel"}, "needs an argument"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[8] = {"run"};
        int argc = 1;
        for (int k = 0; k < 6 && cases[i].a[k]; k++)
            argv[argc++] = (char *)cases[i].a[k];
        struct run_options o;
        char err[256] = "";
        int r = run_options_parse(&o, argc, argv, err, sizeof(err));
        if (r != -EINVAL || !strstr(err, cases[i].msg))
            fail_msg("case %zu: %d '%s'", i, r, err);
    }
    /* At most RUN_MAX_DISKS disks. */
    char *argv[2 + 2 * (RUN_MAX_DISKS + 1)];
    int argc = 0;
    argv[argc++] = "run";
    argv[argc++] = "--kernel=I";
    for (int i = 0; i <= RUN_MAX_DISKS; i++)
        argv[argc++] = "--disk=x.img";
    struct run_options o;
    char err[256];
    assert_int_equal(run_options_parse(&o, argc, argv, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "at most"));
}

static void test_linux_options__help_mentions_linux(void **state)
{
    (void)state;
    assert_non_null(strstr(run_options_usage, "--kernel Image"));
    assert_non_null(strstr(run_options_usage, "Ctrl-A x"));
    assert_non_null(strstr(run_options_usage, "--disk PATH[,ro]"));
}

/* FDT properties are only 4-byte aligned: read 64-bit cells with memcpy. */
static uint64_t cell64(const void *p, unsigned int i)
{
    fdt64_t v;
    memcpy(&v, (const uint8_t *)p + 8 * i, 8);
    return fdt64_to_cpu(v);
}

static void test_linux_options__fdt_virtio_and_initrd(void **state)
{
    (void)state;
    uint64_t mpidrs[2] = {0, 1};
    struct fdt_params p = {
        .ram_base = 0x40000000, .ram_size = 256 << 20, .nr_cpus = 2, .mpidrs = mpidrs,
        .psci_version = PSCI_VERSION_1_1, .bootargs = "console=ttyS0",
        .initrd_start = 0x4e000000, .initrd_end = 0x4e123456, .nr_virtio = 3,
    };
    static uint8_t buf[FDT_MAX_SIZE];
    char err[128];
    assert_int_equal(fdt_build(buf, sizeof(buf), &p, err, sizeof(err)), 0);
    int chosen = fdt_path_offset(buf, "/chosen");
    assert_true(chosen >= 0);
    int len;
    const void *v = fdt_getprop(buf, chosen, "linux,initrd-start", &len);
    assert_non_null(v);
    assert_int_equal(len, 8);
    assert_int_equal(cell64(v, 0), 0x4e000000);
    v = fdt_getprop(buf, chosen, "linux,initrd-end", &len);
    assert_non_null(v);
    assert_int_equal(cell64(v, 0), 0x4e123456);
    for (unsigned int i = 0; i < 4; i++) {
        char path[48];
        snprintf(path, sizeof(path), "/virtio_mmio@%llx",
                 (unsigned long long)(MEMMAP_VIRTIO_BASE + i * MEMMAP_VIRTIO_STRIDE));
        int off = fdt_path_offset(buf, path);
        if (i == 3) {
            assert_true(off < 0);
            break;
        }
        assert_true(off >= 0);
        assert_int_equal(fdt_node_check_compatible(buf, off, "virtio,mmio"), 0);
        const void *reg = fdt_getprop(buf, off, "reg", &len);
        assert_non_null(reg);
        assert_int_equal(len, 16);
        assert_int_equal(cell64(reg, 0), MEMMAP_VIRTIO_BASE + i * MEMMAP_VIRTIO_STRIDE);
        assert_int_equal(cell64(reg, 1), MEMMAP_VIRTIO_STRIDE);
        const fdt32_t *irq = fdt_getprop(buf, off, "interrupts", &len);
        assert_int_equal(len, 12);
        assert_int_equal(fdt32_to_cpu(irq[0]), 0); /* SPI */
        assert_int_equal(fdt32_to_cpu(irq[1]), MEMMAP_VIRTIO_SPI_BASE + i);
        assert_int_equal(fdt32_to_cpu(irq[2]), 4); /* level high */
    }
    /* No initrd: no properties. Bad params refused. */
    p.initrd_start = p.initrd_end = 0;
    assert_int_equal(fdt_build(buf, sizeof(buf), &p, err, sizeof(err)), 0);
    assert_null(fdt_getprop(buf, fdt_path_offset(buf, "/chosen"), "linux,initrd-start", &len));
    p.nr_virtio = MEMMAP_VIRTIO_SLOTS + 1;
    assert_int_equal(fdt_build(buf, sizeof(buf), &p, err, sizeof(err)), -EINVAL);
    p.nr_virtio = 0;
    p.initrd_start = 10;
    p.initrd_end = 5;
    assert_int_equal(fdt_build(buf, sizeof(buf), &p, err, sizeof(err)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linux_options__kernel_boot_line),
        cmocka_unit_test(test_linux_options__refusals),
        cmocka_unit_test(test_linux_options__help_mentions_linux),
        cmocka_unit_test(test_linux_options__fdt_virtio_and_initrd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
