/* virtio_input.c — virtio-input power button (see virtio_input.h). All state is guarded by the
 * transport's lock: the transport holds it around every device callback, and the key-press
 * entry point takes it itself. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devices/virtio_input.h"

#define INPUT_NAME "pscivm power button"
#define INPUT_SERIAL "pscivm-power0"
#define INPUT_VENDOR 0x5053u   /* "PS" */
#define INPUT_PRODUCT 0x0001u
#define INPUT_VERSION 0x0001u
#define EVENT_BYTES 8u
#define UNION_OFFSET 8u
#define UNION_BYTES 128u
#define INPUT_STATE_VERSION 1u

static const uint16_t keys[] = {INPUT_KEY_POWER, INPUT_KEY_SLEEP, INPUT_KEY_WAKEUP};

static bool key_supported(uint16_t code)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (keys[i] == code)
            return true;
    return false;
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* The config space for the current select/subsel. */
static void config_image(const struct virtio_input *in, uint8_t cfg[VIRTIO_INPUT_CONFIG_SIZE])
{
    memset(cfg, 0, VIRTIO_INPUT_CONFIG_SIZE);
    uint8_t *u = cfg + UNION_OFFSET;
    size_t size = 0;
    switch (in->select) {
    case VIRTIO_INPUT_CFG_ID_NAME:
    case VIRTIO_INPUT_CFG_ID_SERIAL:
        if (in->subsel == 0) {
            const char *s = in->select == VIRTIO_INPUT_CFG_ID_NAME ? INPUT_NAME : INPUT_SERIAL;
            size = strlen(s);
            memcpy(u, s, size);
        }
        break;
    case VIRTIO_INPUT_CFG_ID_DEVIDS:
        if (in->subsel == 0) {
            put_le16(u + 0, INPUT_BUS_VIRTUAL);
            put_le16(u + 2, INPUT_VENDOR);
            put_le16(u + 4, INPUT_PRODUCT);
            put_le16(u + 6, INPUT_VERSION);
            size = 8;
        }
        break;
    case VIRTIO_INPUT_CFG_EV_BITS:
        if (in->subsel == INPUT_EV_KEY) {
            for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                u[keys[i] / 8] |= (uint8_t)(1u << (keys[i] % 8));
                if (keys[i] / 8u + 1 > size)
                    size = keys[i] / 8u + 1;
            }
        } else if (in->subsel == INPUT_EV_SYN) {
            u[0] = 1u << INPUT_SYN_REPORT;
            size = 1;
        }
        break;
    default: /* UNSET, PROP_BITS (no properties), ABS_INFO (no axes), unknown */
        break;
    }
    cfg[0] = in->select;
    cfg[1] = in->subsel;
    cfg[2] = (uint8_t)size;
}

static void input_config_read(void *opaque, uint64_t offset, unsigned int size, uint64_t *value)
{
    struct virtio_input *in = opaque;
    uint8_t cfg[VIRTIO_INPUT_CONFIG_SIZE];
    config_image(in, cfg);
    *value = 0;
    for (unsigned int i = 0; i < size && offset + i < sizeof(cfg); i++)
        *value |= (uint64_t)cfg[offset + i] << (8 * i);
}

static void input_config_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
    struct virtio_input *in = opaque;
    for (unsigned int i = 0; i < size; i++) {
        uint8_t b = (uint8_t)(value >> (8 * i));
        if (offset + i == 0)
            in->select = b;
        else if (offset + i == 1)
            in->subsel = b;
    }
}

/* Write pending events into eventq buffers until one runs out. 0, or -EINVAL for a buffer
 * that cannot take an event (the queue is then broken; the event stays pending). */
static int deliver_events(struct virtio_input *in, struct virtio_mmio *vm)
{
    while (in->count > 0) {
        struct virtq_req *req;
        int r = virtio_mmio_pop(vm, VIRTIO_INPUT_EVENTQ, &req);
        if (r <= 0)
            return r;
        if (req->nr_readable != 0 || req->writable_len < EVENT_BYTES)
            return -EINVAL;
        const struct virtio_input_event *ev = &in->pending[in->head];
        uint8_t le[EVENT_BYTES];
        put_le16(le, ev->type);
        put_le16(le + 2, ev->code);
        for (int i = 0; i < 4; i++)
            le[4 + i] = (uint8_t)(ev->value >> (8 * i));
        virtq_req_write(req, 0, le, sizeof(le));
        r = virtio_mmio_push(vm, VIRTIO_INPUT_EVENTQ, req->head, EVENT_BYTES);
        if (r < 0)
            return r;
        in->head = (in->head + 1) % VIRTIO_INPUT_PENDING;
        in->count--;
    }
    return 0;
}

/* statusq: complete every buffer, contents ignored. */
static int drain_status(struct virtio_mmio *vm)
{
    for (;;) {
        struct virtq_req *req;
        int r = virtio_mmio_pop(vm, VIRTIO_INPUT_STATUSQ, &req);
        if (r <= 0)
            return r;
        r = virtio_mmio_push(vm, VIRTIO_INPUT_STATUSQ, req->head, 0);
        if (r < 0)
            return r;
    }
}

static int input_handle_queue(void *opaque, struct virtio_mmio *vm, unsigned int queue)
{
    struct virtio_input *in = opaque;
    return queue == VIRTIO_INPUT_EVENTQ ? deliver_events(in, vm) : drain_status(vm);
}

static void input_reset(void *opaque)
{
    struct virtio_input *in = opaque;
    in->select = in->subsel = 0;
    in->head = in->count = 0;
}

/* Device-model state v1: select subsel (u8), count (u8), count events (u16 type, u16 code,
 * u32 value) oldest first. */
static void input_save(void *opaque, struct blob_writer *w)
{
    struct virtio_input *in = opaque;
    blob_put_u32(w, INPUT_STATE_VERSION);
    blob_put_u8(w, in->select);
    blob_put_u8(w, in->subsel);
    blob_put_u8(w, (uint8_t)in->count);
    for (unsigned int i = 0; i < in->count; i++) {
        const struct virtio_input_event *ev = &in->pending[(in->head + i) % VIRTIO_INPUT_PENDING];
        blob_put_u16(w, ev->type);
        blob_put_u16(w, ev->code);
        blob_put_u32(w, ev->value);
    }
}

/* Only events a key press can queue are accepted. */
static bool event_valid(const struct virtio_input_event *ev)
{
    if (ev->type == INPUT_EV_KEY)
        return key_supported(ev->code) && ev->value <= 1;
    return ev->type == INPUT_EV_SYN && ev->code == INPUT_SYN_REPORT && ev->value == 0;
}

static int input_restore(void *opaque, struct blob_reader *r, bool apply, char *err,
                         size_t errlen)
{
    struct virtio_input *in = opaque;
    uint32_t version;
    uint8_t select, subsel, count;
    struct virtio_input_event events[VIRTIO_INPUT_PENDING];
    blob_get_u32(r, &version);
    if (!blob_reader_error(r) && version != INPUT_STATE_VERSION)
        return device_state_error(err, errlen, "virtio-input state version %u, this pscivm "
                                  "reads %u", version, INPUT_STATE_VERSION);
    blob_get_u8(r, &select);
    blob_get_u8(r, &subsel);
    blob_get_u8(r, &count);
    if (blob_reader_error(r))
        return device_state_error(err, errlen, "virtio-input state truncated");
    if (count > VIRTIO_INPUT_PENDING)
        return device_state_error(err, errlen, "%u pending input events, at most %u", count,
                                  VIRTIO_INPUT_PENDING);
    for (unsigned int i = 0; i < count; i++) {
        blob_get_u16(r, &events[i].type);
        blob_get_u16(r, &events[i].code);
        blob_get_u32(r, &events[i].value);
        if (blob_reader_error(r))
            return device_state_error(err, errlen, "virtio-input state truncated in event %u",
                                      i);
        if (!event_valid(&events[i]))
            return device_state_error(err, errlen, "pending input event %u (type %u code %u "
                                      "value %u) is not one this device sends", i,
                                      events[i].type, events[i].code, events[i].value);
    }
    if (apply) {
        in->select = select;
        in->subsel = subsel;
        memcpy(in->pending, events, count * sizeof(events[0]));
        in->head = 0;
        in->count = count;
    }
    return 0;
}

static const struct virtio_dev_ops input_ops = {
    .config_read = input_config_read,
    .config_write = input_config_write,
    .handle_queue = input_handle_queue,
    .reset = input_reset,
    .save = input_save,
    .restore = input_restore,
};

int virtio_input_init(struct virtio_input *in, const struct guest_mem *mem, struct irq_line irq,
                      char *err, size_t errlen)
{
    memset(in, 0, sizeof(*in));
    struct virtio_mmio_config cfg = {
        .device_id = VIRTIO_ID_INPUT,
        .device_features = 0, /* VERSION_1 only */
        .nr_queues = 2,
        .config_size = VIRTIO_INPUT_CONFIG_SIZE,
        .ops = &input_ops,
        .opaque = in,
    };
    int r = virtio_mmio_init(&in->transport, &cfg, mem, irq);
    if (r < 0)
        snprintf(err, errlen, "virtio-input: virtio-mmio transport: %s", strerror(-r));
    return r;
}

void virtio_input_release(struct virtio_input *in)
{
    virtio_mmio_release(&in->transport);
}

int virtio_input_press_key(struct virtio_input *in, uint16_t code, char *err, size_t errlen)
{
    if (!key_supported(code)) {
        snprintf(err, errlen, "virtio-input: key %u is not one of power (%u), sleep (%u), "
                 "wakeup (%u)", code, INPUT_KEY_POWER, INPUT_KEY_SLEEP, INPUT_KEY_WAKEUP);
        return -EINVAL;
    }
    const struct virtio_input_event press[4] = {
        {INPUT_EV_KEY, code, 1}, {INPUT_EV_SYN, INPUT_SYN_REPORT, 0},
        {INPUT_EV_KEY, code, 0}, {INPUT_EV_SYN, INPUT_SYN_REPORT, 0},
    };
    int ret = 0;
    virtio_mmio_lock(&in->transport);
    if (!virtio_mmio_queue_live(&in->transport, VIRTIO_INPUT_EVENTQ)) {
        snprintf(err, errlen, "virtio-input: the guest's driver is not running the device "
                 "(status 0x%x)", in->transport.status);
        ret = -ENODEV;
    } else if (in->count + 4 > VIRTIO_INPUT_PENDING) {
        snprintf(err, errlen, "virtio-input: %u events already wait for the guest to take them",
                 in->count);
        ret = -EAGAIN;
    } else {
        for (unsigned int i = 0; i < 4; i++)
            in->pending[(in->head + in->count++) % VIRTIO_INPUT_PENDING] = press[i];
        virtio_mmio_notify_locked(&in->transport, VIRTIO_INPUT_EVENTQ);
    }
    virtio_mmio_unlock(&in->transport);
    return ret;
}

const struct device_ops virtio_input_device_ops = VIRTIO_MMIO_DEVICE_OPS(VIRTIO_INPUT_TYPE);

struct device virtio_input_device(struct virtio_input *in, uint64_t base)
{
    return virtio_mmio_device(&in->transport, &virtio_input_device_ops, "virtio-input", base);
}
