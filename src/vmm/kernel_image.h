/* kernel_image.h — arm64 Linux Image loading per the kernel's Documentation/arch/arm64/
 * booting.rst: header parsing (code0/code1, text_offset, image_size, flags, magic "ARM\x64" at
 * offset 56), transparent decompression of gzip files and EFI zboot images (gzip or zstd
 * payload), and the placement of Image, initrd and DTB inside guest RAM without overlap. */
#ifndef PSCIVM_KERNEL_IMAGE_H
#define PSCIVM_KERNEL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/file_image.h"

#define ARM64_IMAGE_MAGIC 0x644d5241u    /* "ARM\x64", little-endian at offset 56 */
#define ARM64_IMAGE_HEADER_BYTES 64u
#define ARM64_IMAGE_MAX_BYTES (512ull << 20) /* refuse anything larger (decompressed) */
#define ARM64_DTB_MAX_BYTES (2ull << 20)      /* booting.rst: the DTB must not exceed 2 MiB */

/* Header flags (booting.rst). */
#define ARM64_IMAGE_FLAG_BE 1ull              /* bit 0: kernel is big-endian */
#define ARM64_IMAGE_FLAG_PAGE_SHIFT 1         /* bits 1-2: page size */
#define ARM64_IMAGE_FLAG_PHYS_ANY (1ull << 3) /* bit 3: may be placed anywhere in RAM */

struct kernel_image {
    /* The uncompressed Image in memory (owned, malloc'd), or NULL for a raw Image opened with
     * kernel_image_open(), which kernel_image_copy() reads from `file` each time. */
    uint8_t *data;
    size_t mapped;         /* always 0: no Image is mapped any more (kept for old callers) */
    size_t size;           /* its length in bytes */
    uint64_t text_offset;  /* from the header (0x80000 when image_size is 0: pre-3.17) */
    uint64_t image_size;   /* effective size incl. BSS to reserve (>= size) */
    uint64_t flags;
    const char *format;    /* "Image", "gzip", "EFI zboot (gzip)", "EFI zboot (zstd)" */
    struct file_image file;                   /* open only while data is NULL */
    uint8_t header[ARM64_IMAGE_HEADER_BYTES]; /* as parsed; re-checked by kernel_image_copy() */
};

/* What a kernel file is, from its first bytes; the one answer both kernel_image_open() and
 * kernel_image_from_buffer() act on. Real files have exactly one signature: an EFI zboot image
 * carries "zimg" at offset 4 and the PE magic (not "ARM\x64") at offset 56; an Image's code0
 * is an instruction, which may encode 1f 8b (the gzip magic) for a kernel without the EFI stub,
 * so the Image magic wins over gzip. Both an EFI zboot header and the Image magic: refused. */
enum kernel_image_format {
    KERNEL_IMAGE_UNKNOWN = 0, /* no signature: parsed as an Image, refused for lack of magic */
    KERNEL_IMAGE_RAW,         /* "ARM\x64" at offset 56 (and no zboot header) */
    KERNEL_IMAGE_GZIP,        /* 1f 8b at offset 0 (and no Image magic) */
    KERNEL_IMAGE_ZBOOT,       /* "MZ\0\0zimg" at offset 0 (and no Image magic) */
    KERNEL_IMAGE_AMBIGUOUS,   /* zboot header and Image magic: refused */
};
enum kernel_image_format kernel_image_detect(const uint8_t *head, size_t len);

/* Open `path` and parse it, for a machine that copies the Image into guest RAM at power-on and
 * at every reset. A raw Image is not read beyond its header: the file stays open (struct
 * file_image) and kernel_image_copy() reads it again each time, refusing with -ESTALE once the
 * file was truncated or rewritten. A gzip or EFI zboot kernel is decompressed now and kept in
 * memory (k->data), so later changes to the file do not matter. Errors as for
 * kernel_image_from_buffer(), plus those of file_image_init(); `err` names the file. Release
 * with kernel_image_release(). */
int kernel_image_open(struct kernel_image *k, const char *path, char *err, size_t errlen);

/* Copy the Image (k->size bytes) to `dst`, which has room for them (boot_layout_plan()
 * reserves image_size >= size). 0; for a raw Image read from its file: -ESTALE when the file
 * changed since kernel_image_open() (identity or header), -errno on a read error, `err` set.
 * Never faults on a truncated file: nothing is mapped. */
int kernel_image_copy(const struct kernel_image *k, void *dst, char *err, size_t errlen);

/* kernel_image_open(), then read a raw Image into memory too, so that k->data always holds the
 * Image and no file stays open (a one-shot read). The result owns its data. */
int kernel_image_load(struct kernel_image *k, const char *path, char *err, size_t errlen);

/* Same from a buffer (always copied or decompressed into owned memory, k->data). Errors: -EINVAL
 * (not an Image, corrupt compression), -EFBIG (over ARM64_IMAGE_MAX_BYTES), -ENOTSUP
 * (big-endian, unknown zboot compression), -ENOMEM; `err` says which. */
int kernel_image_from_buffer(struct kernel_image *k, const uint8_t *buf, size_t len, char *err,
                             size_t errlen);

/* Frees the data and closes the file; a zeroed struct kernel_image is fine. */
void kernel_image_release(struct kernel_image *k);

/* Where things go in guest RAM (guest physical addresses). */
struct boot_layout {
    uint64_t kernel_addr;  /* 2 MiB-aligned RAM base + text_offset */
    uint64_t kernel_end;   /* kernel_addr + image_size */
    uint64_t initrd_addr;  /* 0 when no initrd */
    uint64_t initrd_size;
    uint64_t dtb_addr;     /* 2 MiB-aligned, at the top of RAM */
    uint64_t dtb_max;      /* bytes reserved for the DTB */
};

/* Plan placement: kernel at the start of RAM, DTB in the last 2 MiB-aligned 2 MiB of RAM,
 * initrd just below the DTB (page-aligned). -ENOSPC with `err` giving the sizes when they do
 * not fit (any size, up to UINT64_MAX, is safe to pass); -EINVAL for a RAM base that is not
 * 2 MiB aligned or RAM whose end, ram_base + ram_size, does not fit in 64 bits. On success every
 * region lies inside [ram_base, ram_base + ram_size). */
int boot_layout_plan(struct boot_layout *l, uint64_t ram_base, uint64_t ram_size,
                     const struct kernel_image *k, uint64_t initrd_size, char *err,
                     size_t errlen);

#endif
