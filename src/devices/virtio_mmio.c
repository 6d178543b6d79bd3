/* virtio_mmio.c — virtio-mmio version 2 transport (see virtio_mmio.h for the state machine).
 * Registers 0x000-0x0ff take only aligned 32-bit accesses (§4.2.2.2); anything else is refused
 * and the bus reads it as zero. The device config space at 0x100 takes 1/2/4/8-byte accesses. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libfdt.h>

#include "devices/virtio_mmio.h"

const struct bus_device_ops virtio_mmio_bus_ops = {
    .read = virtio_mmio_read,
    .write = virtio_mmio_write,
};

static void update_irq(struct virtio_mmio *vm)
{
    bool level = vm->interrupt_status != 0;
    if (level != vm->irq_level) {
        vm->irq_level = level;
        irq_line_set(&vm->irq, level);
    }
}

static void raise_interrupt(struct virtio_mmio *vm, uint32_t why)
{
    vm->interrupt_status |= why;
    update_irq(vm);
}

static void reset_locked(struct virtio_mmio *vm)
{
    for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
        virtq_init(&vm->queues[i]);
    vm->driver_features = 0;
    vm->device_features_sel = 0;
    vm->driver_features_sel = 0;
    vm->queue_sel = 0;
    vm->status = 0;
    vm->interrupt_status = 0;
    update_irq(vm);
    if (vm->ops->reset)
        vm->ops->reset(vm->opaque);
}

/* The device found the driver's queue broken: stop and tell it (§2.1.2). */
static void needs_reset_locked(struct virtio_mmio *vm)
{
    if (vm->status & VIRTIO_STATUS_NEEDS_RESET)
        return;
    vm->status |= VIRTIO_STATUS_NEEDS_RESET;
    if (vm->status & VIRTIO_STATUS_DRIVER_OK)
        raise_interrupt(vm, VIRTIO_INT_CONFIG);
}

int virtio_mmio_init(struct virtio_mmio *vm, const struct virtio_mmio_config *cfg,
                     const struct guest_mem *mem, struct irq_line irq)
{
    if (!cfg->ops || !cfg->ops->handle_queue || !cfg->ops->config_read || cfg->nr_queues == 0 ||
        cfg->nr_queues > VIRTIO_MMIO_MAX_QUEUES ||
        cfg->config_size > VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG || !mem)
        return -EINVAL;
    memset(vm, 0, sizeof(*vm));
    int err = pthread_mutex_init(&vm->lock, NULL);
    if (err)
        return -err;
    vm->ops = cfg->ops;
    vm->opaque = cfg->opaque;
    vm->mem = mem;
    vm->irq = irq;
    vm->device_id = cfg->device_id;
    vm->device_features = cfg->device_features | (1ull << VIRTIO_F_VERSION_1);
    vm->nr_queues = cfg->nr_queues;
    vm->config_size = cfg->config_size;
    for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
        virtq_init(&vm->queues[i]);
    return 0;
}

void virtio_mmio_release(struct virtio_mmio *vm)
{
    pthread_mutex_destroy(&vm->lock);
}

static struct virtq *selected_queue(struct virtio_mmio *vm)
{
    return vm->queue_sel < vm->nr_queues ? &vm->queues[vm->queue_sel] : NULL;
}

static uint32_t read_reg(struct virtio_mmio *vm, uint64_t offset)
{
    struct virtq *q = selected_queue(vm);
    switch (offset) {
    case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION_REG: return VIRTIO_MMIO_VERSION;
    case VIRTIO_MMIO_DEVICE_ID: return vm->device_id;
    case VIRTIO_MMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
    case VIRTIO_MMIO_DEVICE_FEATURES:
        if (vm->device_features_sel > 1)
            return 0;
        return (uint32_t)(vm->device_features >> (32 * vm->device_features_sel));
    case VIRTIO_MMIO_QUEUE_NUM_MAX: return q ? VIRTQ_MAX_SIZE : 0;
    case VIRTIO_MMIO_QUEUE_READY: return q ? q->ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS: return vm->interrupt_status;
    case VIRTIO_MMIO_STATUS: return vm->status;
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
    case VIRTIO_MMIO_SHM_BASE_LOW:
    case VIRTIO_MMIO_SHM_BASE_HIGH:
        return 0xffffffffu; /* no shared memory regions: length -1 (§4.2.2) */
    case VIRTIO_MMIO_CONFIG_GENERATION: return vm->config_generation;
    default: return 0;      /* write-only and reserved registers read as zero */
    }
}

static void set_addr_half(uint64_t *addr, bool high, uint32_t v)
{
    if (high)
        *addr = (*addr & 0xffffffffull) | ((uint64_t)v << 32);
    else
        *addr = (*addr & ~0xffffffffull) | v;
}

static void process_queue_locked(struct virtio_mmio *vm, unsigned int queue)
{
    if (!virtio_mmio_queue_live(vm, queue))
        return;
    if (vm->ops->handle_queue(vm->opaque, vm, queue) < 0)
        needs_reset_locked(vm);
}

static void write_status(struct virtio_mmio *vm, uint32_t value)
{
    if (value == 0) {
        reset_locked(vm);
        return;
    }
    value &= 0xff;
    uint32_t newly = value & ~vm->status;
    if (newly & VIRTIO_STATUS_FEATURES_OK) {
        bool ok = (vm->driver_features & ~vm->device_features) == 0 &&
                  (vm->driver_features & (1ull << VIRTIO_F_VERSION_1));
        if (!ok)
            value &= ~VIRTIO_STATUS_FEATURES_OK;
    }
    /* NEEDS_RESET is the device's bit: the driver can neither set nor clear it. */
    vm->status = (value & ~VIRTIO_STATUS_NEEDS_RESET) | (vm->status & VIRTIO_STATUS_NEEDS_RESET);
    if ((newly & VIRTIO_STATUS_DRIVER_OK) && (vm->status & VIRTIO_STATUS_DRIVER_OK)) {
        /* Buffers made available before DRIVER_OK are processed now. */
        for (unsigned int i = 0; i < vm->nr_queues; i++)
            process_queue_locked(vm, i);
    }
}

static void write_reg(struct virtio_mmio *vm, uint64_t offset, uint32_t v)
{
    struct virtq *q = selected_queue(vm);
    bool q_writable = q && !q->ready;
    bool features_open = !(vm->status & VIRTIO_STATUS_FEATURES_OK);
    switch (offset) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL: vm->device_features_sel = v; break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL: vm->driver_features_sel = v; break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        if (features_open && vm->driver_features_sel <= 1)
            set_addr_half(&vm->driver_features, vm->driver_features_sel == 1, v);
        break;
    case VIRTIO_MMIO_QUEUE_SEL: vm->queue_sel = v; break;
    case VIRTIO_MMIO_QUEUE_NUM:
        if (q_writable)
            q->size = (uint16_t)(v > 0xffff ? 0 : v); /* checked when made ready */
        break;
    case VIRTIO_MMIO_QUEUE_READY:
        if (!q)
            break;
        if (v & 1) {
            if (q->ready)
                break;
            if (virtq_validate(q, vm->mem) < 0) {
                needs_reset_locked(vm);
                break;
            }
            q->ready = true;
        } else {
            q->ready = false;
        }
        break;
    case VIRTIO_MMIO_QUEUE_NOTIFY: process_queue_locked(vm, v); break;
    case VIRTIO_MMIO_INTERRUPT_ACK:
        vm->interrupt_status &= ~v;
        update_irq(vm);
        break;
    case VIRTIO_MMIO_STATUS: write_status(vm, v); break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        if (q_writable)
            set_addr_half(&q->desc_gpa, offset == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
        break;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
        if (q_writable)
            set_addr_half(&q->avail_gpa, offset == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
        break;
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        if (q_writable)
            set_addr_half(&q->used_gpa, offset == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
        break;
    default: break; /* read-only and reserved registers ignore writes */
    }
}

static bool valid_size(unsigned int size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

/* An access of a valid width that lies entirely inside the device's register window. */
static bool access_in_window(uint64_t offset, unsigned int size)
{
    return valid_size(size) && offset < VIRTIO_MMIO_SIZE && size <= VIRTIO_MMIO_SIZE - offset;
}

int virtio_mmio_read(void *opaque, uint64_t offset, unsigned int size, uint64_t *value)
{
    struct virtio_mmio *vm = opaque;
    *value = 0;
    if (!access_in_window(offset, size))
        return -EINVAL;
    int ret = 0;
    pthread_mutex_lock(&vm->lock);
    if (offset >= VIRTIO_MMIO_CONFIG) {
        uint64_t off = offset - VIRTIO_MMIO_CONFIG;
        if (off + size <= vm->config_size)
            vm->ops->config_read(vm->opaque, off, size, value);
    } else if (size != 4 || (offset & 3)) {
        vm->nr_bad_accesses++;
        ret = -EINVAL;
    } else {
        *value = read_reg(vm, offset);
    }
    pthread_mutex_unlock(&vm->lock);
    return ret;
}

int virtio_mmio_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
    struct virtio_mmio *vm = opaque;
    if (!access_in_window(offset, size))
        return -EINVAL;
    int ret = 0;
    pthread_mutex_lock(&vm->lock);
    if (offset >= VIRTIO_MMIO_CONFIG) {
        uint64_t off = offset - VIRTIO_MMIO_CONFIG;
        if (off + size <= vm->config_size && vm->ops->config_write)
            vm->ops->config_write(vm->opaque, off, size, value);
    } else if (size != 4 || (offset & 3)) {
        vm->nr_bad_accesses++;
        ret = -EINVAL;
    } else {
        write_reg(vm, offset, (uint32_t)value);
    }
    pthread_mutex_unlock(&vm->lock);
    return ret;
}

void virtio_mmio_notify(struct virtio_mmio *vm, unsigned int queue)
{
    pthread_mutex_lock(&vm->lock);
    process_queue_locked(vm, queue);
    pthread_mutex_unlock(&vm->lock);
}

void virtio_mmio_lock(struct virtio_mmio *vm)
{
    pthread_mutex_lock(&vm->lock);
}

void virtio_mmio_unlock(struct virtio_mmio *vm)
{
    pthread_mutex_unlock(&vm->lock);
}

bool virtio_mmio_queue_live(const struct virtio_mmio *vm, unsigned int queue)
{
    return queue < vm->nr_queues && vm->queues[queue].ready &&
           (vm->status & VIRTIO_STATUS_DRIVER_OK) && !(vm->status & VIRTIO_STATUS_NEEDS_RESET);
}

void virtio_mmio_notify_locked(struct virtio_mmio *vm, unsigned int queue)
{
    process_queue_locked(vm, queue);
}

void virtio_mmio_reset(struct virtio_mmio *vm)
{
    pthread_mutex_lock(&vm->lock);
    reset_locked(vm);
    vm->config_generation = 0;
    pthread_mutex_unlock(&vm->lock);
}

int virtio_mmio_pop(struct virtio_mmio *vm, unsigned int queue, struct virtq_req **req)
{
    if (queue >= vm->nr_queues)
        return -EINVAL;
    int r = virtq_pop(&vm->queues[queue], vm->mem, &vm->req);
    *req = r > 0 ? &vm->req : NULL;
    return r;
}

int virtio_mmio_push(struct virtio_mmio *vm, unsigned int queue, uint16_t head, uint32_t written)
{
    if (queue >= vm->nr_queues)
        return -EINVAL;
    struct virtq *q = &vm->queues[queue];
    int r = virtq_push(q, vm->mem, head, written);
    if (r < 0)
        return r;
    if (virtq_should_notify(q, vm->mem))
        raise_interrupt(vm, VIRTIO_INT_USED_RING);
    return 0;
}

bool virtio_mmio_has_feature(const struct virtio_mmio *vm, unsigned int bit)
{
    return bit < 64 && (vm->status & VIRTIO_STATUS_FEATURES_OK) &&
           (vm->driver_features & (1ull << bit));
}

bool virtio_mmio_check_invariants(const struct virtio_mmio *vm)
{
    if (vm->interrupt_status & ~(VIRTIO_INT_USED_RING | VIRTIO_INT_CONFIG))
        return false;
    if (vm->irq_level != (vm->interrupt_status != 0))
        return false;
    if (vm->status & ~0xffu)
        return false;
    if (vm->status & VIRTIO_STATUS_FEATURES_OK) {
        if (vm->driver_features & ~vm->device_features)
            return false;
        if (!(vm->driver_features & (1ull << VIRTIO_F_VERSION_1)))
            return false;
    }
    for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
        const struct virtq *q = &vm->queues[i];
        if (q->ready && (i >= vm->nr_queues || virtq_validate(q, vm->mem) < 0))
            return false;
    }
    return true;
}

/* ---- snapshot ------------------------------------------------------------------------------ */

#define VIRTIO_MMIO_STATE_VERSION 1u

/* The transport's state as saved: identity, then the driver-visible registers, then queues. */
struct transport_state {
    uint32_t device_id;
    uint64_t device_features;
    uint32_t nr_queues;
    uint32_t config_size;
    uint64_t driver_features;
    uint32_t device_features_sel, driver_features_sel, queue_sel;
    uint32_t status, interrupt_status, config_generation;
    struct virtq queues[VIRTIO_MMIO_MAX_QUEUES];
};

int virtio_mmio_save(struct virtio_mmio *vm, struct blob_writer *w, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->lock);
    blob_put_u32(w, VIRTIO_MMIO_STATE_VERSION);
    blob_put_u32(w, vm->device_id);
    blob_put_u64(w, vm->device_features);
    blob_put_u32(w, vm->nr_queues);
    blob_put_u32(w, vm->config_size);
    blob_put_u64(w, vm->driver_features);
    blob_put_u32(w, vm->device_features_sel);
    blob_put_u32(w, vm->driver_features_sel);
    blob_put_u32(w, vm->queue_sel);
    blob_put_u32(w, vm->status);
    blob_put_u32(w, vm->interrupt_status);
    blob_put_u32(w, vm->config_generation);
    for (unsigned int i = 0; i < vm->nr_queues; i++) {
        const struct virtq *q = &vm->queues[i];
        blob_put_u16(w, q->size);
        blob_put_bool(w, q->ready);
        blob_put_u64(w, q->desc_gpa);
        blob_put_u64(w, q->avail_gpa);
        blob_put_u64(w, q->used_gpa);
        blob_put_u16(w, q->last_avail);
        blob_put_u16(w, q->used_idx);
    }
    if (vm->ops->save)
        vm->ops->save(vm->opaque, w);
    pthread_mutex_unlock(&vm->lock);
    if (blob_writer_error(w)) {
        snprintf(err, errlen, "saving the virtio-mmio state: out of memory");
        return blob_writer_error(w);
    }
    return 0;
}

/* Parse the transport's part into st; 0 or -EINVAL with err set. */
static int read_transport_state(const struct virtio_mmio *vm, struct blob_reader *r,
                                struct transport_state *st, char *err, size_t errlen)
{
    uint32_t version;
    memset(st, 0, sizeof(*st));
    blob_get_u32(r, &version);
    if (!blob_reader_error(r) && version != VIRTIO_MMIO_STATE_VERSION)
        return device_state_error(err, errlen, "virtio-mmio state version %u, this pscivm "
                                  "reads %u", version, VIRTIO_MMIO_STATE_VERSION);
    blob_get_u32(r, &st->device_id);
    blob_get_u64(r, &st->device_features);
    blob_get_u32(r, &st->nr_queues);
    blob_get_u32(r, &st->config_size);
    if (blob_reader_error(r))
        return device_state_error(err, errlen, "virtio-mmio state truncated at byte %zu", r->pos);
    if (st->device_id != vm->device_id || st->device_features != vm->device_features ||
        st->nr_queues != vm->nr_queues || st->config_size != vm->config_size)
        return device_state_error(err, errlen, "state of a different device (virtio ID %u, "
                                  "features 0x%llx, %u queues, %u config bytes; this one: ID %u,"
                                  " features 0x%llx, %u queues, %u config bytes)",
                                  st->device_id, (unsigned long long)st->device_features,
                                  st->nr_queues, st->config_size, vm->device_id,
                                  (unsigned long long)vm->device_features, vm->nr_queues,
                                  vm->config_size);
    blob_get_u64(r, &st->driver_features);
    blob_get_u32(r, &st->device_features_sel);
    blob_get_u32(r, &st->driver_features_sel);
    blob_get_u32(r, &st->queue_sel);
    blob_get_u32(r, &st->status);
    blob_get_u32(r, &st->interrupt_status);
    blob_get_u32(r, &st->config_generation);
    for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
        virtq_init(&st->queues[i]);
    for (unsigned int i = 0; i < st->nr_queues; i++) {
        struct virtq *q = &st->queues[i];
        blob_get_u16(r, &q->size);
        blob_get_bool(r, &q->ready);
        blob_get_u64(r, &q->desc_gpa);
        blob_get_u64(r, &q->avail_gpa);
        blob_get_u64(r, &q->used_gpa);
        blob_get_u16(r, &q->last_avail);
        blob_get_u16(r, &q->used_idx);
    }
    if (blob_reader_error(r))
        return device_state_error(err, errlen, "virtio-mmio state truncated or malformed at "
                                  "byte %zu", r->pos);

    /* Only what the register interface itself can produce is accepted. */
    if (st->status & ~0xffu)
        return device_state_error(err, errlen, "device status 0x%x has bits above 7",
                                  st->status);
    if (st->interrupt_status & ~(VIRTIO_INT_USED_RING | VIRTIO_INT_CONFIG))
        return device_state_error(err, errlen, "interrupt status 0x%x has unknown bits",
                                  st->interrupt_status);
    if ((st->status & VIRTIO_STATUS_FEATURES_OK) &&
        ((st->driver_features & ~st->device_features) ||
         !(st->driver_features & (1ull << VIRTIO_F_VERSION_1))))
        return device_state_error(err, errlen, "FEATURES_OK with driver features 0x%llx (not "
                                  "a VERSION_1 subset of 0x%llx)",
                                  (unsigned long long)st->driver_features,
                                  (unsigned long long)st->device_features);
    for (unsigned int i = 0; i < st->nr_queues; i++)
        if (st->queues[i].ready && virtq_validate(&st->queues[i], vm->mem) < 0)
            return device_state_error(err, errlen, "queue %u is ready with a bad layout (size "
                                      "%u, rings 0x%llx 0x%llx 0x%llx)", i,
                                      st->queues[i].size,
                                      (unsigned long long)st->queues[i].desc_gpa,
                                      (unsigned long long)st->queues[i].avail_gpa,
                                      (unsigned long long)st->queues[i].used_gpa);
    return 0;
}

int virtio_mmio_restore(struct virtio_mmio *vm, struct blob_reader *r, char *err, size_t errlen)
{
    struct transport_state st;
    pthread_mutex_lock(&vm->lock);
    int rc = read_transport_state(vm, r, &st, err, errlen);
    struct blob_reader device_part = *r;
    if (!rc && vm->ops->restore)
        rc = vm->ops->restore(vm->opaque, r, false, err, errlen);
    if (!rc && blob_reader_finish(r))
        rc = device_state_error(err, errlen, "%zu unexpected bytes after the state",
                                blob_reader_remaining(r));
    if (rc) {
        pthread_mutex_unlock(&vm->lock);
        return rc;
    }
    vm->driver_features = st.driver_features;
    vm->device_features_sel = st.device_features_sel;
    vm->driver_features_sel = st.driver_features_sel;
    vm->queue_sel = st.queue_sel;
    vm->status = st.status;
    vm->interrupt_status = st.interrupt_status;
    vm->config_generation = st.config_generation;
    memcpy(vm->queues, st.queues, sizeof(vm->queues));
    if (vm->ops->restore)
        vm->ops->restore(vm->opaque, &device_part, true, err, errlen); /* validated above */
    /* Drive the line to the restored level whatever it was before. */
    vm->irq_level = vm->interrupt_status != 0;
    irq_line_set(&vm->irq, vm->irq_level);
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

/* ---- the device interface ------------------------------------------------------------------ */

void virtio_mmio_dev_reset(void *opaque)
{
    virtio_mmio_reset(opaque);
}

int virtio_mmio_dev_save(void *opaque, struct blob_writer *w, char *err, size_t errlen)
{
    return virtio_mmio_save(opaque, w, err, errlen);
}

int virtio_mmio_dev_restore(void *opaque, struct blob_reader *r, char *err, size_t errlen)
{
    return virtio_mmio_restore(opaque, r, err, errlen);
}

int virtio_mmio_fdt_node(const struct device *dev, void *fdt, const struct device_fdt_ctx *ctx)
{
    (void)ctx;
    static const char compat[] = "virtio,mmio";
    int rc = device_fdt_begin(fdt, dev, compat, sizeof(compat));
    if (!rc)
        rc = fdt_property(fdt, "dma-coherent", NULL, 0);
    if (!rc)
        rc = fdt_end_node(fdt);
    return rc;
}

struct device virtio_mmio_device(struct virtio_mmio *vm, const struct device_ops *ops,
                                 const char *name, uint64_t base)
{
    return (struct device){
        .ops = ops, .opaque = vm, .name = name,
        .base = base, .size = VIRTIO_MMIO_SIZE, .spi = vm->irq.spi,
    };
}
