/* fuzz_device_state.c — libFuzzer target for the device-state blobs of snapshots: the blob
 * reader (src/util/blob.c) and every device's restore hook (UART, PL031, virtio-mmio with
 * virtio-blk and virtio-input behind it), through device_restore() as the machine calls it.
 * Input: one selector byte, then the state. Selector % 4: 0 uart16550, 1 pl031, 2 virtio-blk,
 * 3 virtio-input; bit 2: the device is first taken out of its power-on state (registers
 * written, virtio brought up to DRIVER_OK, a key pressed), bit 3: the disk is read-only.
 * The restore contract (device.h) is checked: a refusal has a message and leaves the device
 * exactly as it was (its save is byte-identical); an accepted state saves to bytes that restore
 * again and save identically, and the device then keeps working — registers read, virtio
 * queues notified (the restored ring cursors meet guest memory), input fed — with the
 * transport's invariants intact. The state is passed in an exact-size heap copy, so ASan sees
 * any read past it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/pl031.h"
#include "devices/uart16550.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_input.h"
#include "fuzz_mmio.h"
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
    uint8_t buf[SECTORS * VIRTIO_BLK_SECTOR];
    memset(buf, 'd', sizeof(buf));
    if (pwrite(disk_fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
        abort();
    ram = malloc(FV_RAM_SIZE);
    if (!ram)
        abort();
    return 0;
}

/* A wall clock that stands still: the PL031's state is relative to it, so two saves of an
 * unchanged device must be identical. */
static uint64_t fixed_clock(void *opaque)
{
    (void)opaque;
    return 1764806400ull * 1000000000ull; /* 2025-12-04 */
}

static void tx_sink(void *opaque, uint8_t byte)
{
    (void)opaque;
    (void)byte;
}

static void bad(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_device_state: %s%s%s\n", what, err ? ": " : "", err ? err : "");
    abort();
}

static struct blob_writer save(const struct device *dev)
{
    struct blob_writer w;
    char err[256];
    blob_writer_init(&w);
    if (device_save(dev, &w, err, sizeof(err)))
        bad("save failed", err);
    return w;
}

static bool same(const struct blob_writer *a, const struct blob_writer *b)
{
    return a->len == b->len && !memcmp(a->data, b->data, a->len);
}

static int restore(const struct device *dev, const uint8_t *data, size_t len, char *err,
                   size_t errlen)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, data, len);
    struct blob_reader r;
    blob_reader_init(&r, copy, len);
    err[0] = '\0';
    int rc = device_restore(dev, &r, err, errlen);
    free(copy);
    return rc;
}

static void read_all(const struct device *dev)
{
    for (uint64_t off = 0; off < 0x200 && off < dev->size; off += 4) {
        uint64_t v;
        dev->ops->mmio.read(dev->opaque, off, 4, &v);
    }
}

/* Guest memory as a driver left it: a chain per queue of readable header + writable data. */
static void fill_rings(struct guest_mem *mem)
{
    for (unsigned int q = 0; q < 2; q++) {
        for (unsigned int i = 0; i < FV_QSIZE; i++) {
            uint8_t *d = fv_ptr(mem, FV_DESC(q) + 16ull * i);
            uint64_t addr = FV_DATA + 0x200ull * i;
            uint32_t len = i % 2 ? 0x200 : 16;
            uint16_t flags = i % 2 ? VIRTQ_DESC_F_WRITE : VIRTQ_DESC_F_NEXT;
            memcpy(d, &addr, 8);
            memcpy(d + 8, &len, 4);
            memcpy(d + 12, &flags, 2);
            fv_put16(d + 14, (uint16_t)((i + 1) % FV_QSIZE));
        }
        uint8_t *a = fv_ptr(mem, FV_AVAIL(q));
        for (unsigned int i = 0; i < FV_QSIZE; i++)
            fv_put16(a + 4 + 2 * i, (uint16_t)(2 * i % FV_QSIZE));
        fv_put16(a + 2, 3);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    bool busy = sel & 4;
    data++, size--;
    memset(ram, 0, FV_RAM_SIZE);
    struct guest_mem mem = {.base = FV_RAM_BASE, .size = FV_RAM_SIZE, .host = ram};
    struct fm_irq irq = {0};
    struct irq_line line = {.set = fm_irq_set, .opaque = &irq, .spi = 3};
    struct uart16550 uart;
    struct pl031 rtc;
    struct virtio_blk blk;
    struct virtio_input vin;
    struct virtio_mmio *vm = NULL;
    struct device dev;
    char err[256];
    switch (sel % 4) {
    case 0:
        if (uart16550_init(&uart, &line, tx_sink, NULL))
            abort();
        dev = uart16550_device(&uart, 0x09000000);
        if (busy) {
            uart16550_receive(&uart, (const uint8_t *)"hello", 5);
            dev.ops->mmio.write(dev.opaque, 1, 1, 0x0f); /* IER */
            dev.ops->mmio.write(dev.opaque, 7, 1, 0x5a); /* SCR */
        }
        break;
    case 1:
        if (pl031_init(&rtc, &line, fixed_clock, NULL, NULL))
            abort();
        dev = pl031_device(&rtc, 0x09010000);
        if (busy) {
            dev.ops->mmio.write(dev.opaque, PL031_IMSC, 4, 1);
            dev.ops->mmio.write(dev.opaque, PL031_MR, 4, 0x12345678);
        }
        break;
    case 2:
        if (virtio_blk_init(&blk, disk_path, sel & 8, "fuzz-disk0", &mem, line, err,
                            sizeof(err)))
            bad("virtio_blk_init", err);
        vm = &blk.transport;
        dev = virtio_blk_device(&blk, 0x0a000000);
        break;
    default:
        if (virtio_input_init(&vin, &mem, line, err, sizeof(err)))
            bad("virtio_input_init", err);
        vm = &vin.transport;
        dev = virtio_input_device(&vin, 0x0a000200);
        break;
    }
    if (vm && busy) {
        fv_bring_up(vm);
        if (sel % 4 == 3)
            virtio_input_press_key(&vin, INPUT_KEY_POWER, err, sizeof(err));
    }

    struct blob_writer before = save(&dev);
    int rc = restore(&dev, data, size, err, sizeof(err));
    struct blob_writer after = save(&dev);
    if (rc) {
        if (!err[0])
            bad("refused without a message", NULL);
        if (!same(&before, &after))
            bad("a refused state changed the device", err);
    } else {
        struct blob_writer again;
        if (restore(&dev, after.data, after.len, err, sizeof(err)))
            bad("its own save of an accepted state is refused", err);
        again = save(&dev);
        if (!same(&after, &again))
            bad("save, restore, save differs", NULL);
        blob_writer_release(&again);
        if (vm)
            fv_check(vm, "restore");
        /* Keep working from the restored state. */
        read_all(&dev);
        switch (sel % 4) {
        case 0:
            uart16550_receive(&uart, (const uint8_t *)"0123456789abcdefXYZ", 19);
            read_all(&dev);
            break;
        case 1:
            pl031_timer_fired(&rtc);
            break;
        default:
            fill_rings(&mem);
            for (unsigned int q = 0; q < vm->nr_queues; q++) {
                virtio_mmio_notify(vm, q);
                fv_check(vm, "notify after restore");
            }
            if (sel % 4 == 3) {
                virtio_input_press_key(&vin, INPUT_KEY_SLEEP, err, sizeof(err));
                fv_check(vm, "key press after restore");
            }
            break;
        }
        if (!vm && irq.level != (sel % 4 == 0 ? uart.irq_level : rtc.irq_level))
            bad("interrupt line not at the restored level", NULL);
    }
    blob_writer_release(&before);
    blob_writer_release(&after);

    switch (sel % 4) {
    case 0:
        uart16550_release(&uart);
        break;
    case 1:
        pl031_release(&rtc);
        break;
    case 2:
        virtio_blk_release(&blk);
        break;
    default:
        virtio_input_release(&vin);
        break;
    }
    return 0;
}
