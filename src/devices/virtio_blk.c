/* virtio_blk.c — virtio-blk on a raw image file (see virtio_blk.h). Request layout (§5.2.6):
 * a 16-byte device-readable header {type, reserved, sector}, data (readable for OUT, writable
 * for IN/GET_ID), and a final device-writable status byte; with VERSION_1 the framing across
 * descriptors is arbitrary, so all access goes through the request's byte streams. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/virtio_blk.h"

#define BLK_HDR_BYTES 16u

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned int n)
{
    uint64_t v = 0;
    for (unsigned int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void blk_config_read(void *opaque, uint64_t offset, unsigned int size, uint64_t *value)
{
    struct virtio_blk *blk = opaque;
    *value = offset + size <= sizeof(blk->config) ? get_le(blk->config + offset, size) : 0;
}

/* Copy between the file and the request's data stream [data_off, data_off + len), sector by
 * segment. Returns 0 or -EIO. */
static int blk_transfer(struct virtio_blk *blk, const struct virtq_req *req, bool to_guest,
                        uint64_t file_off, uint64_t len)
{
    unsigned int first = to_guest ? req->nr_readable : 0;
    unsigned int last = to_guest ? req->nr_segs : req->nr_readable;
    uint64_t skip = to_guest ? 0 : BLK_HDR_BYTES;  /* OUT data follows the header */
    uint64_t done = 0;
    for (unsigned int i = first; i < last && done < len; i++) {
        const struct virtq_seg *s = &req->segs[i];
        if (skip >= s->len) {
            skip -= s->len;
            continue;
        }
        uint8_t *p = s->host + skip;
        uint64_t chunk = s->len - skip;
        skip = 0;
        if (chunk > len - done)
            chunk = len - done;
        while (chunk > 0) {
            ssize_t n = to_guest ? pread(blk->fd, p, chunk, (off_t)(file_off + done))
                                 : pwrite(blk->fd, p, chunk, (off_t)(file_off + done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return -EIO;
            p += n;
            chunk -= (uint64_t)n;
            done += (uint64_t)n;
        }
    }
    return done == len ? 0 : -EIO;
}

/* Carry out one request; returns the status byte and sets *written (data bytes to guest). */
static uint8_t blk_execute(struct virtio_blk *blk, const struct virtq_req *req, uint32_t type,
                           uint64_t sector, uint32_t *written)
{
    *written = 0;
    switch (type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: {
        bool in = type == VIRTIO_BLK_T_IN;
        uint64_t len = in ? req->writable_len - 1 : req->readable_len - BLK_HDR_BYTES;
        /* The used length is 32 bits: longer requests (possible only by aliasing RAM in
         * many descriptors) are refused rather than misreported. */
        if (len % VIRTIO_BLK_SECTOR || len >= UINT32_MAX)
            return VIRTIO_BLK_S_IOERR;
        uint64_t nsec = len / VIRTIO_BLK_SECTOR;
        if (sector > blk->capacity || nsec > blk->capacity - sector)
            return VIRTIO_BLK_S_IOERR;
        if (!in && blk->read_only)
            return VIRTIO_BLK_S_IOERR;
        /* The capacity is the file's size at open, but another process may have truncated
         * the file since: pwrite past its end would silently regrow it (with a hole), pread
         * would come back short. Requests must also fit the file as it is now. (A truncation
         * between this fstat and the pwrite can still be undone by the write: the check
         * narrows that to one request, it cannot make it atomic.) */
        struct stat st;
        if (fstat(blk->fd, &st) < 0)
            return VIRTIO_BLK_S_IOERR;
        uint64_t now_sectors = (uint64_t)st.st_size / VIRTIO_BLK_SECTOR;
        if (sector > now_sectors || nsec > now_sectors - sector)
            return VIRTIO_BLK_S_IOERR;
        if (blk_transfer(blk, req, in, sector * VIRTIO_BLK_SECTOR, len) < 0)
            return VIRTIO_BLK_S_IOERR;
        if (in)
            *written = (uint32_t)len;
        return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_FLUSH:
        if (!blk->read_only && fdatasync(blk->fd) < 0)
            return VIRTIO_BLK_S_IOERR;
        return VIRTIO_BLK_S_OK;
    case VIRTIO_BLK_T_GET_ID: {
        uint8_t id[VIRTIO_BLK_ID_BYTES] = {0};
        memcpy(id, blk->id, strnlen(blk->id, VIRTIO_BLK_ID_BYTES));
        uint64_t room = req->writable_len - 1;
        uint64_t n = room < VIRTIO_BLK_ID_BYTES ? room : VIRTIO_BLK_ID_BYTES;
        *written = (uint32_t)virtq_req_write(req, 0, id, n);
        return VIRTIO_BLK_S_OK;
    }
    default:
        return VIRTIO_BLK_S_UNSUPP;
    }
}

static int blk_handle_queue(void *opaque, struct virtio_mmio *vm, unsigned int queue)
{
    struct virtio_blk *blk = opaque;
    for (;;) {
        struct virtq_req *req;
        int r = virtio_mmio_pop(vm, queue, &req);
        if (r <= 0)
            return r;
        /* Structure: a full header to read and a status byte to write, else the driver is
         * broken beyond reporting an error to it. Lengths are bounded by the queue (≤256
         * segments of ≤4 GiB), so 64-bit sums cannot overflow. */
        if (req->readable_len < BLK_HDR_BYTES || req->writable_len < 1)
            return -EINVAL;
        uint8_t hdr[BLK_HDR_BYTES];
        virtq_req_read(req, 0, hdr, sizeof(hdr));
        uint32_t type = (uint32_t)get_le(hdr, 4);
        uint64_t sector = get_le(hdr + 8, 8);
        uint32_t written;
        uint8_t status;
        if (type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID) {
            /* Data to the guest: nothing readable beyond the header. */
            status = req->readable_len != BLK_HDR_BYTES
                         ? VIRTIO_BLK_S_IOERR
                         : blk_execute(blk, req, type, sector, &written);
        } else if (req->writable_len != 1) {
            status = VIRTIO_BLK_S_IOERR; /* OUT/FLUSH/unknown write only the status byte */
            if (type != VIRTIO_BLK_T_OUT && type != VIRTIO_BLK_T_FLUSH)
                status = VIRTIO_BLK_S_UNSUPP;
        } else {
            status = blk_execute(blk, req, type, sector, &written);
        }
        if (status != VIRTIO_BLK_S_OK)
            written = 0;
        /* The status byte is the last writable byte; the data (if any) precedes it. */
        virtq_req_write(req, req->writable_len - 1, &status, 1);
        r = virtio_mmio_push(vm, queue, req->head, written + 1);
        if (r < 0)
            return r;
    }
}

/* Device-model state: which disk the snapshot was taken with (capacity, read-only). */
static void blk_save(void *opaque, struct blob_writer *w)
{
    struct virtio_blk *blk = opaque;
    blob_put_u64(w, blk->capacity);
    blob_put_bool(w, blk->read_only);
}

static int blk_restore(void *opaque, struct blob_reader *r, bool apply, char *err, size_t errlen)
{
    struct virtio_blk *blk = opaque;
    uint64_t capacity;
    bool read_only;
    blob_get_u64(r, &capacity);
    blob_get_bool(r, &read_only);
    if (apply)
        return 0; /* nothing to install: the checks below passed on the first call */
    if (blob_reader_error(r))
        return device_state_error(err, errlen, "virtio-blk state truncated or malformed");
    if (capacity != blk->capacity || read_only != blk->read_only)
        return device_state_error(err, errlen, "the snapshot's disk had %llu sectors (%s), "
                                  "this one has %llu (%s)", (unsigned long long)capacity,
                                  read_only ? "read-only" : "read-write",
                                  (unsigned long long)blk->capacity,
                                  blk->read_only ? "read-only" : "read-write");
    return 0;
}

static const struct virtio_dev_ops blk_ops = {
    .config_read = blk_config_read,
    .config_write = NULL, /* writeback (the only writable field) is not offered */
    .handle_queue = blk_handle_queue,
    .reset = NULL,
    .save = blk_save,
    .restore = blk_restore,
};

const struct device_ops virtio_blk_device_ops = VIRTIO_MMIO_DEVICE_OPS(VIRTIO_BLK_TYPE);

struct device virtio_blk_device(struct virtio_blk *blk, uint64_t base)
{
    return virtio_mmio_device(&blk->transport, &virtio_blk_device_ops, "virtio-blk", base);
}

int virtio_blk_parse_spec(const char *spec, char **path, bool *read_only, char *err, size_t errlen)
{
    *path = NULL;
    *read_only = false;
    const char *comma = strchr(spec, ',');
    size_t plen = comma ? (size_t)(comma - spec) : strlen(spec);
    if (plen == 0) {
        snprintf(err, errlen, "disk '%s': empty path", spec);
        return -EINVAL;
    }
    while (comma) {
        const char *opt = comma + 1;
        comma = strchr(opt, ',');
        size_t olen = comma ? (size_t)(comma - opt) : strlen(opt);
        if (olen == 2 && !strncmp(opt, "ro", 2)) {
            *read_only = true;
        } else {
            snprintf(err, errlen, "disk '%s': unknown option '%.*s' (known: ro)", spec,
                     (int)olen, opt);
            return -EINVAL;
        }
    }
    *path = strndup(spec, plen);
    if (!*path) {
        snprintf(err, errlen, "disk '%s': out of memory", spec);
        return -ENOMEM;
    }
    return 0;
}

int virtio_blk_init(struct virtio_blk *blk, const char *path, bool read_only, const char *id,
                    const struct guest_mem *mem, struct irq_line irq, char *err, size_t errlen)
{
    memset(blk, 0, sizeof(*blk));
    blk->fd = -1;
    int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "disk %s: cannot open %s: %s", path,
                 read_only ? "read-only" : "read-write", strerror(e));
        return -e;
    }
    if (flock(fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
        int e = errno;
        snprintf(err, errlen, "disk %s: cannot lock it (%s): %s", path,
                 e == EWOULDBLOCK ? "another process uses it" : "flock", strerror(e));
        close(fd);
        return e == EWOULDBLOCK ? -EBUSY : -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        snprintf(err, errlen, "disk %s: fstat: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "disk %s: not a regular file (raw images only)", path);
        close(fd);
        return -EINVAL;
    }
    blk->fd = fd;
    blk->read_only = read_only;
    blk->capacity = (uint64_t)st.st_size / VIRTIO_BLK_SECTOR;
    snprintf(blk->id, sizeof(blk->id), "%s", id ? id : "");

    put_le64(blk->config + 0, blk->capacity);
    put_le32(blk->config + 12, VIRTQ_MAX_SIZE - 2); /* seg_max: chain minus header + status */
    put_le32(blk->config + 20, VIRTIO_BLK_SECTOR);  /* blk_size */

    uint64_t features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
                        (1ull << VIRTIO_BLK_F_FLUSH);
    if (read_only)
        features |= 1ull << VIRTIO_BLK_F_RO;
    struct virtio_mmio_config cfg = {
        .device_id = VIRTIO_ID_BLOCK,
        .device_features = features,
        .nr_queues = 1,
        .config_size = sizeof(blk->config),
        .ops = &blk_ops,
        .opaque = blk,
    };
    int r = virtio_mmio_init(&blk->transport, &cfg, mem, irq);
    if (r < 0) {
        snprintf(err, errlen, "disk %s: virtio-mmio transport: %s", path, strerror(-r));
        close(fd);
        blk->fd = -1;
        return r;
    }
    return 0;
}

void virtio_blk_release(struct virtio_blk *blk)
{
    if (blk->fd >= 0) {
        virtio_mmio_release(&blk->transport);
        close(blk->fd);
        blk->fd = -1;
    }
}
