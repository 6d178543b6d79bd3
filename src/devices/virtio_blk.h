/* virtio_blk.h — virtio block device (virtio 1.x §5.2) on a raw image file, behind a
 * virtio-mmio transport. Features offered: VERSION_1, SEG_MAX, BLK_SIZE (512), FLUSH, and RO for
 * read-only disks. Requests: IN, OUT, FLUSH (fdatasync), GET_ID (20 bytes); anything else
 * completes with UNSUPP. Writes go straight to the file with pwrite, so they survive pscivm's
 * exit. A structurally broken request (no header, no status byte) breaks the queue
 * (DEVICE_NEEDS_RESET); a well-formed but bad one (out of range, partial sector, write to a
 * read-only disk) completes with IOERR. The capacity is fixed at open; a request must also fit
 * the file as it is when the request runs, so a file truncated by another process is never
 * regrown by guest writes: requests past its new end complete with IOERR.
 *
 * As a `struct device` (virtio_blk_device()): type "virtio-blk". Its saved state is the
 * transport's plus the disk's capacity and read-only flag: the disk itself is referenced, not
 * copied — restore needs the same image opened the same way and refuses a disk of another size
 * or mode. */
#ifndef PSCIVM_VIRTIO_BLK_H
#define PSCIVM_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio_mmio.h"

#define VIRTIO_ID_BLOCK 2u
#define VIRTIO_BLK_TYPE "virtio-blk"

#define VIRTIO_BLK_F_SEG_MAX 2u
#define VIRTIO_BLK_F_RO 5u
#define VIRTIO_BLK_F_BLK_SIZE 6u
#define VIRTIO_BLK_F_FLUSH 9u

#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u

#define VIRTIO_BLK_S_OK 0u
#define VIRTIO_BLK_S_IOERR 1u
#define VIRTIO_BLK_S_UNSUPP 2u

#define VIRTIO_BLK_ID_BYTES 20u
#define VIRTIO_BLK_SECTOR 512u

struct virtio_blk {
    struct virtio_mmio transport;
    int fd;
    bool read_only;
    uint64_t capacity;                 /* in 512-byte sectors */
    char id[VIRTIO_BLK_ID_BYTES + 1];  /* serial returned by GET_ID */
    uint8_t config[36];                /* little-endian config space image */
};

/* Parse "PATH[,ro]" (the --disk syntax) into path and read-only flag; `path` gets a malloc'd
 * copy. 0 or -EINVAL (empty path, unknown option) with `err` set. */
int virtio_blk_parse_spec(const char *spec, char **path, bool *read_only, char *err, size_t errlen);

/* Open `path` (read-write unless read_only; locked against a second writer) and set up the
 * device. `id` is the GET_ID serial (truncated to 20 bytes). 0 or negative errno with `err`
 * naming the file and the failure. */
int virtio_blk_init(struct virtio_blk *blk, const char *path, bool read_only, const char *id,
                    const struct guest_mem *mem, struct irq_line irq, char *err, size_t errlen);
void virtio_blk_release(struct virtio_blk *blk);

/* The device's ops (opaque: &blk->transport) and the device placed at `base`. */
extern const struct device_ops virtio_blk_device_ops;
struct device virtio_blk_device(struct virtio_blk *blk, uint64_t base);

#endif
