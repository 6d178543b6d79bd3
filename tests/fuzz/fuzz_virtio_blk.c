/* fuzz_virtio_blk.c — libFuzzer target for virtio-mmio + virtqueue + virtio-blk driven by a
 * hostile driver: register accesses, guest memory contents and descriptor chains from the
 * input (fuzz_virtio.h), on a 16-sector disk in a memfd that is rewritten before each input.
 * First byte: bit 0 brings the device up, bit 1 opens the disk read-only. Device-specific
 * operation (op 9): write a request header {u32 type, u32 reserved, u64 sector} into guest
 * memory at a u16 offset (type from a small table, so IN/OUT/FLUSH/GET_ID are found at once). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/virtio_blk.h"
#include "fuzz_virtio.h"

#define SECTORS 16

static int disk_fd = -1;
static char disk_path[64];
static uint8_t *ram;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    disk_fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
    if (disk_fd < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(disk_path, sizeof(disk_path), "/proc/self/fd/%d", disk_fd);
    ram = malloc(FV_RAM_SIZE);
    if (!ram)
        abort();
    return 0;
}

static void reset_disk(void)
{
    uint8_t buf[SECTORS * VIRTIO_BLK_SECTOR + 4];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)('a' + i / VIRTIO_BLK_SECTOR);
    if (ftruncate(disk_fd, 0) || pwrite(disk_fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
        abort();
}

static void blk_op(void *dev, struct fuzz_input *in, uint8_t op)
{
    static const uint32_t types[] = {VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH,
                                     VIRTIO_BLK_T_GET_ID, 0xffffffffu, 5};
    struct virtio_blk *blk = dev;
    const struct guest_mem *mem = blk->transport.mem;
    uint64_t off = fi_u16(in) % (FV_RAM_SIZE - 16);
    uint32_t type = types[(op >> 4) % (sizeof(types) / sizeof(types[0]))];
    uint64_t sector = fi_u8(in);
    if (op & 0x80)
        sector = fi_u64(in);
    uint8_t *h = mem->host + off;
    for (int b = 0; b < 4; b++)
        h[b] = (uint8_t)(type >> (8 * b));
    memset(h + 4, 0, 4);
    for (int b = 0; b < 8; b++)
        h[8 + b] = (uint8_t)(sector >> (8 * b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in;
    fi_init(&in, data, size);
    bool ro = size > 0 && (data[0] & 2);
    reset_disk();
    memset(ram, 0, FV_RAM_SIZE);
    struct guest_mem mem = {.base = FV_RAM_BASE, .size = FV_RAM_SIZE, .host = ram};
    struct fv_irq irq = {0};
    struct irq_line line = {.set = fv_irq_set, .opaque = &irq, .spi = 16};
    struct virtio_blk blk;
    char err[256];
    if (virtio_blk_init(&blk, disk_path, ro, "fuzz-disk0", &mem, line, err, sizeof(err))) {
        fprintf(stderr, "fuzz_virtio_blk: %s\n", err);
        abort();
    }
    fv_run(&blk.transport, &mem, &in, blk_op, &blk);
    virtio_blk_release(&blk);
    return 0;
}
