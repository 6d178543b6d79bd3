/* snapshot_fixture.h — shared helpers of the snapshot tests (test_snapshot_*.c): a snapshot with
 * every section kind written to a memfd and read back as bytes, a small PSCI machine, a fake
 * device with save/restore hooks, and a sparse guest RAM pattern. Static functions: include
 * after <cmocka.h>. */
#ifndef PSCIVM_TEST_SNAPSHOT_FIXTURE_H
#define PSCIVM_TEST_SNAPSHOT_FIXTURE_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/device.h"
#include "psci/psci.h"
#include "snapshot/config.h"
#include "snapshot/format.h"
#include "snapshot/ram.h"
#include "snapshot/sections.h"

#define SF_RAM_BASE 0x40000000ull
#define SF_RAM_SIZE (64u * 4096u)
#define SF_NR_VCPUS 2

static const uint64_t sf_mpidrs[SF_NR_VCPUS] = {0x0, 0x100};

static inline void sf_psci(struct psci_machine *m)
{
    struct psci_ram_range ram = {SF_RAM_BASE, SF_RAM_SIZE};
    struct psci_config cfg = {.version = PSCI_VERSION_1_3, .nr_vcpus = SF_NR_VCPUS,
                              .mpidrs = sf_mpidrs, .ram = &ram, .nr_ram = 1};
    assert_int_equal(psci_machine_init(m, &cfg), 0);
}

/* A device whose whole state is one u32 after its own u32 version (1). */
struct sf_dev {
    uint32_t value;
};

static int sf_dev_save(void *opaque, struct blob_writer *w, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    blob_put_u32(w, 1);
    blob_put_u32(w, ((struct sf_dev *)opaque)->value);
    return blob_writer_error(w);
}

static int sf_dev_restore(void *opaque, struct blob_reader *r, char *err, size_t errlen)
{
    uint32_t v, x;
    blob_get_u32(r, &v);
    blob_get_u32(r, &x);
    if (blob_reader_finish(r) || v != 1)
        return device_state_error(err, errlen, "bad state");
    ((struct sf_dev *)opaque)->value = x;
    return 0;
}

static const struct device_ops sf_dev_ops = {.type = "sfdev", .save = sf_dev_save,
                                             .restore = sf_dev_restore};

static inline struct device sf_device(struct sf_dev *d, const char *name)
{
    return (struct device){.ops = &sf_dev_ops, .opaque = d, .name = name, .base = 0x9000000,
                           .size = 0x1000, .spi = 1};
}

/* Guest RAM with a sparse pattern: pages i where i % 5 == 1 or i % 7 == 3 hold text-like or
 * pseudo-random bytes (never a whole zero page); the rest are zero. */
static inline void sf_fill_ram(uint8_t *ram, size_t size, uint32_t seed)
{
    memset(ram, 0, size);
    for (size_t i = 0; i < size / 4096; i++) {
        if (i % 5 != 1 && i % 7 != 3)
            continue;
        uint8_t *p = ram + i * 4096;
        for (size_t k = 0; k < 4096; k++) {
            seed = seed * 1103515245u + 12345u;
            p[k] = i % 2 ? (uint8_t)("snapshot text "[k % 14]) : (uint8_t)(seed >> 16);
        }
        p[0] = 1;
    }
}

static inline void sf_config(struct snapshot_config *c)
{
    static uint64_t mpidrs[SF_NR_VCPUS];
    static struct snapshot_config_device devs[2] = {
        {.name = "uart", .type = "uart16550", .base = 0x9000000, .size = 0x1000, .spi = 1},
        {.name = "rtc", .type = "pl031", .base = 0x9010000, .size = 0x1000, .spi = 2}};
    static struct snapshot_config_disk disks[1] = {
        {.path = "/var/lib/disk.img", .size = 1 << 20, .identity = "2049:1234:1700000000",
         .read_only = false}};
    memcpy(mpidrs, sf_mpidrs, sizeof(mpidrs));
    *c = (struct snapshot_config){.nr_vcpus = SF_NR_VCPUS, .mpidrs = mpidrs,
                                  .ram_base = SF_RAM_BASE, .ram_size = SF_RAM_SIZE,
                                  .psci_version = PSCI_VERSION_1_3, .psci_mode = "user",
                                  .nr_devices = 2, .devices = devs, .nr_disks = 1,
                                  .disks = disks, .cmdline = "console=ttyS0 quiet",
                                  .kernel = "/boot/Image", .kernel_identity = "size=1,mtime=2.3,ino=4",
                                  .initrd = "/boot/initrd", .initrd_identity = "size=5,mtime=6.7,ino=8"};
}

static inline struct snapshot_header sf_header(void)
{
    struct snapshot_header h = {.psci_version = PSCI_VERSION_1_3, .created_ns = 1796400000ull *
                                                                                1000000000ull};
    strcpy(h.host_release, "6.12.0-1-arm64");
    strcpy(h.psci_mode, "user");
    strcpy(h.pscivm_version, "v0.9-test");
    return h;
}

static const uint8_t sf_vgic_blob[3][24] = {{1, 2, 3}, {4, 5, 6, 7}, {0xff}};

/* Every section kind into w (RAM encoded as `enc`). */
static inline void sf_write_all(struct snapshot_writer *w, const uint8_t *ram,
                                enum snapshot_ram_encoding enc)
{
    char err[256];
    struct snapshot_header h = sf_header();
    assert_int_equal(snapshot_header_put(w, &h), 0);
    struct snapshot_config c;
    sf_config(&c);
    assert_int_equal(snapshot_config_put(w, &c), 0);
    for (uint32_t i = 0; i < SF_NR_VCPUS; i++) {
        assert_int_equal(snapshot_vcpu_begin(w, i, i), 0);
        for (uint64_t r = 0; r < 4; r++) {
            uint8_t v[16];
            memset(v, (int)(0x10 * i + r), sizeof(v));
            assert_int_equal(snapshot_vcpu_put_reg(w, 0x6030000000100000ull + r * 2, v,
                                                   r == 3 ? 16 : 8), 0);
        }
        assert_int_equal(snapshot_writer_end(w), 0);
    }
    assert_int_equal(snapshot_vgic_begin(w), 0);
    for (uint64_t i = 0; i < 3; i++)
        assert_int_equal(snapshot_vgic_put(w, 0x100 + i, sf_vgic_blob[i], 24), 0);
    assert_int_equal(snapshot_writer_end(w), 0);
    struct snapshot_counter cnt = {.cntvct = 123456789, .offset = 42, .host_monotonic_ns = 7,
                                   .host_realtime_ns = 8, .frequency_hz = 62500000};
    assert_int_equal(snapshot_counter_put(w, &cnt), 0);
    struct psci_machine m;
    sf_psci(&m);
    assert_int_equal(snapshot_psci_save(w, &m, err, sizeof(err)), 0);
    psci_machine_release(&m);
    struct snapshot_suspended susp = {.vcpu = 1, .kind = SNAPSHOT_SUSPEND_POWERDOWN,
                                      .entry = SF_RAM_BASE + 0x1000, .context = 0x5};
    assert_int_equal(snapshot_suspend_put(w, &susp, 1), 0);
    struct sf_dev d1 = {0xdeadbeef}, d2 = {7};
    struct device dev1 = sf_device(&d1, "uart"), dev2 = sf_device(&d2, "rtc");
    assert_int_equal(snapshot_device_save(w, &dev1, err, sizeof(err)), 0);
    assert_int_equal(snapshot_device_save(w, &dev2, err, sizeof(err)), 0);
    struct snapshot_ram_options opt = {.encoding = enc, .pages_per_chunk = 4};
    assert_int_equal(snapshot_ram_save(w, ram, SF_RAM_SIZE, &opt, NULL), 0);
}

/* The bytes of a complete snapshot (free() them). */
static inline uint8_t *sf_build(enum snapshot_ram_encoding enc, size_t *len)
{
    char err[256];
    int fd = memfd_create("snap", MFD_CLOEXEC);
    assert_true(fd >= 0);
    uint8_t *ram = malloc(SF_RAM_SIZE);
    sf_fill_ram(ram, SF_RAM_SIZE, 1);
    struct snapshot_writer w;
    assert_int_equal(snapshot_writer_init(&w, fd, err, sizeof(err)), 0);
    sf_write_all(&w, ram, enc);
    if (snapshot_writer_finish(&w, err, sizeof(err)))
        fail_msg("finish: %s", err);
    snapshot_writer_release(&w);
    free(ram);
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size > 0);
    uint8_t *buf = malloc((size_t)size);
    assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
    close(fd);
    *len = (size_t)size;
    return buf;
}

#endif
