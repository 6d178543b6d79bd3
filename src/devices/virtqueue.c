/* virtqueue.c — validated walking of split virtqueues (see virtqueue.h). Ring memory is shared
 * with running vCPUs: every guest-written field is read exactly once (into a local) before it
 * is checked and used, and the ring indices use acquire/release ordering. */
#include <errno.h>
#include <string.h>

#include "devices/virtqueue.h"

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

/* Area sizes (virtio 1.x §2.7): no VIRTIO_F_EVENT_IDX, so no used_event/avail_event words are
 * accessed, but the driver still lays them out; we only require what we touch. */
static uint64_t desc_bytes(uint16_t size) { return 16ull * size; }
static uint64_t avail_bytes(uint16_t size) { return 4ull + 2ull * size; }
static uint64_t used_bytes(uint16_t size) { return 4ull + 8ull * size; }

void virtq_init(struct virtq *vq)
{
    memset(vq, 0, sizeof(*vq));
    vq->size = VIRTQ_MAX_SIZE;
}

int virtq_validate(const struct virtq *vq, const struct guest_mem *mem)
{
    uint16_t n = vq->size;
    if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)) != 0)
        return -EINVAL;
    if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
        return -EINVAL;
    if (!guest_mem_ptr(mem, vq->desc_gpa, desc_bytes(n)) ||
        !guest_mem_ptr(mem, vq->avail_gpa, avail_bytes(n)) ||
        !guest_mem_ptr(mem, vq->used_gpa, used_bytes(n)))
        return -EINVAL;
    return 0;
}

static uint16_t load16(const void *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

int virtq_pop(struct virtq *vq, const struct guest_mem *mem, struct virtq_req *req)
{
    if (!vq->ready || virtq_validate(vq, mem) < 0)
        return -EINVAL;
    uint16_t n = vq->size;
    uint8_t *avail = guest_mem_ptr(mem, vq->avail_gpa, avail_bytes(n));
    const uint8_t *table = guest_mem_ptr(mem, vq->desc_gpa, desc_bytes(n));

    uint16_t avail_idx = __atomic_load_n((uint16_t *)(avail + 2), __ATOMIC_ACQUIRE);
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
    if (pending == 0)
        return 0;
    if (pending > n) /* the driver claims more buffers than the ring holds */
        return -EINVAL;

    uint16_t head = load16(avail + 4 + 2u * (vq->last_avail % n));
    if (head >= n)
        return -EINVAL;

    req->head = head;
    req->nr_segs = 0;
    req->nr_readable = 0;
    req->readable_len = 0;
    req->writable_len = 0;

    uint16_t idx = head;
    for (;;) {
        if (req->nr_segs >= n) /* longer than the queue: a loop */
            return -EINVAL;
        struct vring_desc d;
        memcpy(&d, table + 16u * idx, sizeof(d)); /* read once, then validate the copy */
        if (d.flags & VIRTQ_DESC_F_INDIRECT) /* VIRTIO_F_INDIRECT_DESC is not offered */
            return -EINVAL;
        bool writable = d.flags & VIRTQ_DESC_F_WRITE;
        if (!writable && req->nr_readable != req->nr_segs) /* readable after writable */
            return -EINVAL;
        uint8_t *host = guest_mem_ptr(mem, d.addr, d.len);
        if (!host)
            return -EINVAL;
        struct virtq_seg *s = &req->segs[req->nr_segs++];
        s->host = host;
        s->len = d.len;
        s->writable = writable;
        if (writable) {
            req->writable_len += d.len;
        } else {
            req->nr_readable++;
            req->readable_len += d.len;
        }
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            break;
        if (d.next >= n)
            return -EINVAL;
        idx = d.next;
    }
    vq->last_avail++;
    return 1;
}

int virtq_push(struct virtq *vq, const struct guest_mem *mem, uint16_t head, uint32_t written)
{
    if (!vq->ready || virtq_validate(vq, mem) < 0 || head >= vq->size)
        return -EINVAL;
    uint8_t *used = guest_mem_ptr(mem, vq->used_gpa, used_bytes(vq->size));
    uint8_t *elem = used + 4 + 8u * (vq->used_idx % vq->size);
    uint32_t id = head;
    memcpy(elem, &id, 4);
    memcpy(elem + 4, &written, 4);
    vq->used_idx++;
    /* The element must be visible before the index that publishes it. */
    __atomic_store_n((uint16_t *)(used + 2), vq->used_idx, __ATOMIC_RELEASE);
    return 0;
}

bool virtq_should_notify(const struct virtq *vq, const struct guest_mem *mem)
{
    const uint8_t *avail = guest_mem_ptr(mem, vq->avail_gpa, avail_bytes(vq->size));
    if (!avail)
        return true;
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* used idx store before reading the flags */
    return !(load16(avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* Walk segments [first, last) as one byte stream and copy at `offset`. */
static uint64_t copy_stream(const struct virtq_req *req, unsigned int first, unsigned int last,
                            uint64_t offset, void *dst, const void *src, uint64_t len)
{
    uint64_t done = 0;
    for (unsigned int i = first; i < last && done < len; i++) {
        const struct virtq_seg *s = &req->segs[i];
        if (offset >= s->len) {
            offset -= s->len;
            continue;
        }
        uint64_t chunk = s->len - offset;
        if (chunk > len - done)
            chunk = len - done;
        if (dst)
            memcpy((uint8_t *)dst + done, s->host + offset, chunk);
        else
            memcpy(s->host + offset, (const uint8_t *)src + done, chunk);
        done += chunk;
        offset = 0;
    }
    return done;
}

uint64_t virtq_req_read(const struct virtq_req *req, uint64_t offset, void *buf, uint64_t len)
{
    if (!buf)
        return 0;
    return copy_stream(req, 0, req->nr_readable, offset, buf, NULL, len);
}

uint64_t virtq_req_write(const struct virtq_req *req, uint64_t offset, const void *buf,
                         uint64_t len)
{
    if (!buf)
        return 0;
    return copy_stream(req, req->nr_readable, req->nr_segs, offset, NULL, buf, len);
}
