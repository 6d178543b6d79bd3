/* fuzz_virtio_input.c — libFuzzer target for virtio-mmio + virtqueue + virtio-input (the power
 * button) driven by a hostile driver (fuzz_virtio.h): config select/subsel and every register,
 * eventq/statusq buffers of any shape, interleaved with key presses from the host side.
 * Device-specific operation (op 9): press a key — KEY_POWER, KEY_SLEEP, KEY_WAKEUP, or a
 * u16 code from the input (op & 0x80) — until the pending ring is full. */
#include <stdio.h>
#include <stdlib.h>

#include "devices/virtio_input.h"
#include "fuzz_virtio.h"

static uint8_t *ram;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ram = malloc(FV_RAM_SIZE);
    if (!ram)
        abort();
    return 0;
}

static void input_op(void *dev, struct fuzz_input *in, uint8_t op)
{
    static const uint16_t keys[] = {INPUT_KEY_POWER, INPUT_KEY_SLEEP, INPUT_KEY_WAKEUP};
    struct virtio_input *vin = dev;
    uint16_t code = op & 0x80 ? fi_u16(in) : keys[(op >> 4) % 3];
    char err[256];
    err[0] = '\0';
    int rc = virtio_input_press_key(vin, code, err, sizeof(err));
    if (rc && !err[0]) {
        fprintf(stderr, "fuzz_virtio_input: press_key failed (%d) without a message\n", rc);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in;
    fi_init(&in, data, size);
    memset(ram, 0, FV_RAM_SIZE);
    struct guest_mem mem = {.base = FV_RAM_BASE, .size = FV_RAM_SIZE, .host = ram};
    struct fv_irq irq = {0};
    struct irq_line line = {.set = fv_irq_set, .opaque = &irq, .spi = 17};
    struct virtio_input vin;
    char err[256];
    if (virtio_input_init(&vin, &mem, line, err, sizeof(err))) {
        fprintf(stderr, "fuzz_virtio_input: %s\n", err);
        abort();
    }
    fv_run(&vin.transport, &mem, &in, input_op, &vin);
    if (vin.count > VIRTIO_INPUT_PENDING || vin.head >= VIRTIO_INPUT_PENDING)
        abort();
    virtio_input_release(&vin);
    return 0;
}
