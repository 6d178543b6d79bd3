/* virtio_input.h — a virtio-input power button (virtio 1.x §5.8, device ID 18) behind a
 * virtio-mmio transport. Debian's cloud kernels lack gpio-keys but ship virtio_input; systemd
 * tags any key device a power switch, and logind powers off on KEY_POWER.
 *
 * Config space (§5.8.4): the driver writes `select` (byte 0) and `subsel` (byte 1); the device
 * answers with `size` (byte 2) and the union at byte 8 (128 bytes; unused bytes read zero):
 *   ID_NAME   (0x01, subsel 0)       "pscivm power button"
 *   ID_SERIAL (0x02, subsel 0)       "pscivm-power0"
 *   ID_DEVIDS (0x03, subsel 0)       {bustype BUS_VIRTUAL 0x06, vendor 0x5053, product 0x0001,
 *                                     version 0x0001} (le16 each)
 *   PROP_BITS (0x10)                 empty (size 0)
 *   EV_BITS   (0x11, subsel EV_KEY)  bitmap: KEY_POWER (116), KEY_SLEEP (142), KEY_WAKEUP (143)
 *             (0x11, subsel EV_SYN)  bitmap: SYN_REPORT
 *   anything else                    size 0
 * Only select and subsel are writable; other config writes are ignored.
 *
 * Queues: eventq (0) takes device-writable buffers of at least 8 bytes, one event each
 * (struct virtio_input_event: le16 type, le16 code, le32 value). A buffer that is too small or
 * device-readable breaks the queue (DEVICE_NEEDS_RESET; the event is kept). statusq (1): every
 * buffer is completed unread (LED and similar driver->device events are ignored).
 *
 * A key press queues four events — EV_KEY code 1, EV_SYN SYN_REPORT, EV_KEY code 0, EV_SYN — in
 * a bounded pending ring; they are written into eventq buffers as the driver provides them (at
 * once, or on its next notify). Driver and machine resets empty the ring.
 *
 * As a `struct device` (virtio_input_device()): type "virtio-input"; saved state: the
 * transport's, the config selector and the pending events. */
#ifndef PSCIVM_VIRTIO_INPUT_H
#define PSCIVM_VIRTIO_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "devices/virtio_mmio.h"

#define VIRTIO_ID_INPUT 18u
#define VIRTIO_INPUT_TYPE "virtio-input"
#define VIRTIO_INPUT_CONFIG_SIZE 136u
#define VIRTIO_INPUT_PENDING 64u        /* events (16 key presses) */

#define VIRTIO_INPUT_EVENTQ 0u
#define VIRTIO_INPUT_STATUSQ 1u

/* Config select values (§5.8.2). */
#define VIRTIO_INPUT_CFG_UNSET 0x00u
#define VIRTIO_INPUT_CFG_ID_NAME 0x01u
#define VIRTIO_INPUT_CFG_ID_SERIAL 0x02u
#define VIRTIO_INPUT_CFG_ID_DEVIDS 0x03u
#define VIRTIO_INPUT_CFG_PROP_BITS 0x10u
#define VIRTIO_INPUT_CFG_EV_BITS 0x11u
#define VIRTIO_INPUT_CFG_ABS_INFO 0x12u

/* Linux input event codes (include/uapi/linux/input-event-codes.h). */
#define INPUT_EV_SYN 0x00u
#define INPUT_EV_KEY 0x01u
#define INPUT_SYN_REPORT 0u
#define INPUT_KEY_POWER 116u
#define INPUT_KEY_SLEEP 142u
#define INPUT_KEY_WAKEUP 143u
#define INPUT_BUS_VIRTUAL 0x06u

/* One event as the guest receives it (stored in host order, written little-endian). */
struct virtio_input_event {
    uint16_t type;
    uint16_t code;
    uint32_t value;
};

struct virtio_input {
    struct virtio_mmio transport;   /* its lock guards everything below */
    uint8_t select, subsel;         /* config selector, written by the driver */
    struct virtio_input_event pending[VIRTIO_INPUT_PENDING];
    unsigned int head, count;       /* ring of events waiting for eventq buffers */
};

/* 0, or a negative errno with `err` set. */
int virtio_input_init(struct virtio_input *in, const struct guest_mem *mem, struct irq_line irq,
                      char *err, size_t errlen);
void virtio_input_release(struct virtio_input *in);

/* Press and release key `code` (one of the three advertised). Safe from any thread.
 * 0: queued (and delivered if the driver has buffers); -EINVAL: not an advertised key;
 * -ENODEV: the guest's driver is not running the device (not DRIVER_OK, eventq not ready, or
 * the device needs a reset); -EAGAIN: the pending ring is full (the guest is not taking
 * events). `err` says which. */
int virtio_input_press_key(struct virtio_input *in, uint16_t code, char *err, size_t errlen);

/* The device's ops (opaque: &in->transport) and the device placed at `base`. */
extern const struct device_ops virtio_input_device_ops;
struct device virtio_input_device(struct virtio_input *in, uint64_t base);

#endif
