/* kernel_image.c — arm64 Image header parsing, gzip / EFI zboot decompression (zlib, zstd) and
 * boot placement (see kernel_image.h). Header layout (booting.rst, little-endian):
 *   0 code0  4 code1  8 text_offset  16 image_size  24 flags  32-55 reserved  56 magic  60 res5 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "vmm/kernel_image.h"

#define SZ_2M (2ull << 20)
#define SZ_4K 4096ull
#define LEGACY_TEXT_OFFSET 0x80000ull

static uint64_t le(const uint8_t *p, unsigned int n)
{
    uint64_t v = 0;
    for (unsigned int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
static uint64_t align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }

/* Parse the header `buf` (at least the first 64 bytes of an Image of `len` bytes) into k's
 * size, text_offset, image_size, flags and format; k->data is left to the caller. */
static int parse_header(struct kernel_image *k, const uint8_t *buf, size_t len, char *err,
                        size_t errlen)
{
    memset(k, 0, sizeof(*k));
    if (len < ARM64_IMAGE_HEADER_BYTES) {
        snprintf(err, errlen, "kernel: %zu bytes is too small for an arm64 Image (header is 64)",
                 len);
        return -EINVAL;
    }
    if (le(buf + 56, 4) != ARM64_IMAGE_MAGIC) {
        snprintf(err, errlen, "kernel: not an arm64 Image (no \"ARM\\x64\" magic at offset 56; "
                              "give an uncompressed Image, a gzip of one, or an EFI zboot image)");
        return -EINVAL;
    }
    if (len > ARM64_IMAGE_MAX_BYTES) {
        snprintf(err, errlen, "kernel: Image of %zu MiB is larger than the %llu MiB limit",
                 len >> 20, ARM64_IMAGE_MAX_BYTES >> 20);
        return -EFBIG;
    }
    uint64_t text_offset = le(buf + 8, 8);
    uint64_t image_size = le(buf + 16, 8);
    uint64_t flags = le(buf + 24, 8);
    if (image_size == 0) {
        /* Kernels before 3.17: text_offset is not reliable, 0x80000 is what they expect. */
        text_offset = LEGACY_TEXT_OFFSET;
        image_size = align_up(len, SZ_4K);
    } else {
        if (flags & ARM64_IMAGE_FLAG_BE) {
            snprintf(err, errlen, "kernel: big-endian Image (flags bit 0); pscivm runs "
                                  "little-endian guests only");
            return -ENOTSUP;
        }
        if (image_size < len && image_size < ARM64_IMAGE_HEADER_BYTES) {
            snprintf(err, errlen, "kernel: header image_size %llu is smaller than the header",
                     (unsigned long long)image_size);
            return -EINVAL;
        }
        if (image_size > ARM64_IMAGE_MAX_BYTES || text_offset >= SZ_2M || (text_offset & 7)) {
            snprintf(err, errlen, "kernel: implausible header (text_offset 0x%llx, image_size "
                                  "0x%llx)", (unsigned long long)text_offset,
                     (unsigned long long)image_size);
            return -EINVAL;
        }
        /* The file may carry appended data (e.g. signatures) beyond image_size; the kernel
         * only needs image_size bytes reserved, but we load the whole file. */
        if (image_size < len)
            image_size = align_up(len, SZ_4K);
    }
    k->size = len;
    k->text_offset = text_offset;
    k->image_size = image_size;
    k->flags = flags;
    k->format = "Image";
    return 0;
}

/* Grow the decompression buffer *buf (capacity *cap, full) towards ARM64_IMAGE_MAX_BYTES.
 * 0, -EFBIG (already at the limit) or -ENOMEM, with err set. */
static int grow(uint8_t **buf, size_t *cap, char *err, size_t errlen)
{
    if (*cap >= ARM64_IMAGE_MAX_BYTES) {
        snprintf(err, errlen, "kernel: decompressed Image exceeds the %llu MiB limit",
                 ARM64_IMAGE_MAX_BYTES >> 20);
        return -EFBIG;
    }
    size_t ncap = *cap > ARM64_IMAGE_MAX_BYTES / 2 ? ARM64_IMAGE_MAX_BYTES : *cap * 2;
    uint8_t *nbuf = realloc(*buf, ncap);
    if (!nbuf) {
        snprintf(err, errlen, "kernel: out of memory decompressing the Image");
        return -ENOMEM;
    }
    *buf = nbuf;
    *cap = ncap;
    return 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

/* Inflate gzip data into a malloc'd buffer of at most ARM64_IMAGE_MAX_BYTES. A gzip file may
 * hold several members (RFC 1952 §2.2; `cat a.gz b.gz`, pigz, ...) whose data follow each
 * other: every member is inflated. After the last one only zero bytes (padding) may follow;
 * anything else is refused, because it is either a damaged member or not kernel at all. */
static int gunzip(const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen, char *err,
                  size_t errlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 16) != Z_OK) {
        snprintf(err, errlen, "kernel: zlib inflateInit2 failed");
        return -ENOMEM;
    }
    size_t cap = inlen < (16u << 20) ? (64u << 20) : inlen * 4;
    if (cap > ARM64_IMAGE_MAX_BYTES)
        cap = ARM64_IMAGE_MAX_BYTES;
    uint8_t *buf = malloc(cap);
    size_t pos = 0;   /* bytes produced */
    size_t used = 0;  /* bytes of `in` consumed */
    unsigned int members = 0;
    int ret = 0;
    if (!buf) {
        snprintf(err, errlen, "kernel: out of memory decompressing the Image");
        ret = -ENOMEM;
        goto out;
    }
    for (;;) {
        /* zlib counts in uInt: feed and drain at most 1 GiB per call. */
        size_t in_chunk = inlen - used < (1u << 30) ? inlen - used : (1u << 30);
        size_t out_chunk = cap - pos < (1u << 30) ? cap - pos : (1u << 30);
        zs.next_in = (Bytef *)in + used;
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = buf + pos;
        zs.avail_out = (uInt)out_chunk;
        int zr = inflate(&zs, Z_NO_FLUSH);
        used += in_chunk - zs.avail_in;
        pos += out_chunk - zs.avail_out;
        if (zr == Z_STREAM_END) {
            members++;
            if (all_zero(in + used, inlen - used))
                break;
            if (inlen - used >= 2 && in[used] == 0x1f && in[used + 1] == 0x8b) {
                inflateReset(&zs);
                continue;
            }
            snprintf(err, errlen, "kernel: %zu bytes after gzip member %u (at offset %zu) are "
                                  "not another gzip member: corrupt, or not a kernel",
                     inlen - used, members, used);
            ret = -EINVAL;
            goto out;
        }
        if (zr == Z_OK || zr == Z_BUF_ERROR) {
            if (pos == cap) {
                ret = grow(&buf, &cap, err, errlen);
                if (ret < 0)
                    goto out;
                continue;
            }
            if (used < inlen && zr == Z_OK)
                continue;
            if (used == inlen) {
                snprintf(err, errlen, "kernel: gzip data is truncated (member %u ends early)",
                         members + 1);
                ret = -EINVAL;
                goto out;
            }
        }
        snprintf(err, errlen, "kernel: gzip data is corrupt or truncated (%s)",
                 zs.msg ? zs.msg : (zr == Z_BUF_ERROR ? "unexpected end" : "inflate error"));
        ret = -EINVAL;
        goto out;
    }
    *out = buf;
    *outlen = pos;
    buf = NULL;
out:
    free(buf);
    inflateEnd(&zs);
    return ret;
}

/* Decompress zstd data: every frame, one after the other (a zstd file may hold several, e.g.
 * from `cat` or multi-threaded compressors; skippable frames produce nothing). Anything after
 * the last frame that is not a frame is refused by zstd as an unknown frame. */
static int unzstd(const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen, char *err,
                  size_t errlen)
{
    ZSTD_DStream *ds = ZSTD_createDStream();
    if (!ds) {
        snprintf(err, errlen, "kernel: out of memory for zstd");
        return -ENOMEM;
    }
    size_t cap = 64u << 20, pos = 0;
    uint8_t *buf = malloc(cap);
    int ret = 0;
    unsigned int frames = 0;
    ZSTD_inBuffer ib = {in, inlen, 0};
    if (!buf) {
        snprintf(err, errlen, "kernel: out of memory decompressing the Image");
        ret = -ENOMEM;
    }
    while (ret == 0) {
        if (pos == cap) {
            ret = grow(&buf, &cap, err, errlen);
            continue;
        }
        ZSTD_outBuffer ob = {buf + pos, cap - pos, 0};
        size_t r = ZSTD_decompressStream(ds, &ob, &ib);
        pos += ob.pos;
        if (ZSTD_isError(r)) {
            snprintf(err, errlen, "kernel: zstd data is corrupt (%s, in frame %u at input "
                                  "offset %zu)", ZSTD_getErrorName(r), frames + 1, ib.pos);
            ret = -EINVAL;
        } else if (r == 0) {
            /* A frame is complete and flushed; the next call starts the next frame. */
            frames++;
            if (ib.pos == ib.size)
                break;
        } else if (ib.pos == ib.size && ob.pos < ob.size) {
            snprintf(err, errlen, "kernel: zstd data is truncated (frame %u ends early)",
                     frames + 1);
            ret = -EINVAL;
        }
    }
    ZSTD_freeDStream(ds);
    if (ret < 0) {
        free(buf);
        return ret;
    }
    *out = buf;
    *outlen = pos;
    return 0;
}

enum kernel_image_format kernel_image_detect(const uint8_t *head, size_t len)
{
    bool image = len >= ARM64_IMAGE_HEADER_BYTES && le(head + 56, 4) == ARM64_IMAGE_MAGIC;
    bool zboot = len >= ARM64_IMAGE_HEADER_BYTES && !memcmp(head, "MZ\0\0zimg", 8);
    if (image && zboot)
        return KERNEL_IMAGE_AMBIGUOUS;
    if (image)
        return KERNEL_IMAGE_RAW;
    if (zboot)
        return KERNEL_IMAGE_ZBOOT;
    if (len >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        return KERNEL_IMAGE_GZIP;
    return KERNEL_IMAGE_UNKNOWN;
}

int kernel_image_from_buffer(struct kernel_image *k, const uint8_t *buf, size_t len, char *err,
                             size_t errlen)
{
    memset(k, 0, sizeof(*k));
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    const char *format = "Image";
    int r;
    enum kernel_image_format fmt = kernel_image_detect(buf, len);
    if (fmt == KERNEL_IMAGE_AMBIGUOUS) {
        snprintf(err, errlen, "kernel: both an EFI zboot header (\"zimg\" at offset 4) and the "
                              "arm64 Image magic (offset 56): refusing to guess which it is");
        return -EINVAL;
    } else if (fmt == KERNEL_IMAGE_GZIP) {
        r = gunzip(buf, len, &raw, &rawlen, err, errlen);
        format = "gzip";
    } else if (fmt == KERNEL_IMAGE_ZBOOT) {
        uint64_t off = le(buf + 8, 4), size = le(buf + 12, 4);
        char comp[33] = {0};
        memcpy(comp, buf + 24, 32);
        if (off > len || size > len - off) {
            snprintf(err, errlen, "kernel: EFI zboot header points outside the file");
            return -EINVAL;
        }
        if (!strcmp(comp, "gzip")) {
            r = gunzip(buf + off, size, &raw, &rawlen, err, errlen);
            format = "EFI zboot (gzip)";
        } else if (!strcmp(comp, "zstd") || !strcmp(comp, "zstd22")) {
            r = unzstd(buf + off, size, &raw, &rawlen, err, errlen);
            format = "EFI zboot (zstd)";
        } else {
            snprintf(err, errlen, "kernel: EFI zboot image compressed with '%s' (pscivm "
                                  "decompresses gzip and zstd)", comp);
            return -ENOTSUP;
        }
    } else {
        raw = malloc(len ? len : 1);
        if (!raw) {
            snprintf(err, errlen, "kernel: out of memory");
            return -ENOMEM;
        }
        memcpy(raw, buf, len);
        rawlen = len;
        r = 0;
    }
    if (r < 0)
        return r;
    r = parse_header(k, raw, rawlen, err, errlen);
    if (r < 0) {
        free(raw);
        memset(k, 0, sizeof(*k));
        return r;
    }
    k->data = raw;
    k->format = format;
    return 0;
}

int kernel_image_open(struct kernel_image *k, const char *path, char *err, size_t errlen)
{
    memset(k, 0, sizeof(*k));
    struct file_image f;
    int r = file_image_init(&f, "kernel Image", path, ARM64_IMAGE_MAX_BYTES, err, errlen);
    if (r < 0)
        return r;
    size_t len = (size_t)f.size;
    uint8_t head[ARM64_IMAGE_HEADER_BYTES];
    if (len < ARM64_IMAGE_HEADER_BYTES) {
        snprintf(err, errlen, "kernel Image %s: %zu bytes is too small for an arm64 Image", path,
                 len);
        r = -EINVAL;
        goto out;
    }
    r = file_image_copy(&f, head, sizeof(head), err, errlen);
    if (r < 0)
        goto out;
    char inner[256];
    if (kernel_image_detect(head, sizeof(head)) == KERNEL_IMAGE_RAW) {
        /* Raw: only the header is read now; kernel_image_copy() reads the rest every time. */
        r = parse_header(k, head, len, inner, sizeof(inner));
        if (r == 0) {
            memcpy(k->header, head, sizeof(head));
            k->file = f;
            return 0;
        }
    } else {
        /* Compressed (or unrecognised, for the error): decompress once and keep the result
         * in memory; the file is not read again. */
        uint8_t *buf = malloc(len);
        if (!buf) {
            snprintf(err, errlen, "kernel Image %s: out of memory reading it", path);
            r = -ENOMEM;
            goto out;
        }
        r = file_image_copy(&f, buf, len, err, errlen);
        if (r == 0)
            r = kernel_image_from_buffer(k, buf, len, inner, sizeof(inner));
        else
            inner[0] = '\0';
        free(buf);
        if (r < 0 && !inner[0])
            goto out; /* err already says what failed */
    }
    if (r < 0)
        snprintf(err, errlen, "%s (file %s)", inner, path);
out:
    file_image_release(&f);
    if (r < 0)
        memset(k, 0, sizeof(*k));
    return r;
}

int kernel_image_load(struct kernel_image *k, const char *path, char *err, size_t errlen)
{
    int r = kernel_image_open(k, path, err, errlen);
    if (r < 0 || k->data)
        return r;
    uint8_t *buf = malloc(k->size);
    if (!buf) {
        snprintf(err, errlen, "kernel Image %s: out of memory reading it", path);
        kernel_image_release(k);
        return -ENOMEM;
    }
    r = kernel_image_copy(k, buf, err, errlen);
    file_image_release(&k->file);
    if (r < 0) {
        free(buf);
        kernel_image_release(k);
        return r;
    }
    k->data = buf;
    return 0;
}

int kernel_image_copy(const struct kernel_image *k, void *dst, char *err, size_t errlen)
{
    if (k->data) {
        memcpy(dst, k->data, k->size);
        return 0;
    }
    if (!k->file.path) {
        snprintf(err, errlen, "kernel: no Image loaded");
        return -EBADF;
    }
    int r = file_image_copy(&k->file, dst, k->size, err, errlen);
    if (r < 0)
        return r;
    /* The identity check cannot see a rewrite within one timestamp tick; the header, which
     * decided size and placement, must at least be the one that was parsed. */
    if (memcmp(dst, k->header, sizeof(k->header)) != 0) {
        snprintf(err, errlen, "kernel Image %s changed since pscivm started (its header "
                              "differs): refusing to load it again; restart pscivm to use the "
                              "new file", k->file.path);
        return -ESTALE;
    }
    return 0;
}

void kernel_image_release(struct kernel_image *k)
{
    free(k->data);
    file_image_release(&k->file);
    memset(k, 0, sizeof(*k));
}

/* a + b, or UINT64_MAX when the sum overflows: a size that large fits in no RAM either. */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Every address computed below is checked before it is formed: RAM must end (exclusive) below
 * 2^64, and the sizes (kernel, rounded initrd, DTB) are summed saturating and compared with
 * ram_size, so once they fit, ram_base + any partial sum stays inside RAM. */
int boot_layout_plan(struct boot_layout *l, uint64_t ram_base, uint64_t ram_size,
                     const struct kernel_image *k, uint64_t initrd_size, char *err,
                     size_t errlen)
{
    memset(l, 0, sizeof(*l));
    if (ram_base & (SZ_2M - 1)) {
        snprintf(err, errlen, "RAM base 0x%llx is not 2 MiB aligned",
                 (unsigned long long)ram_base);
        return -EINVAL;
    }
    if (ram_size > UINT64_MAX - ram_base) {
        snprintf(err, errlen, "RAM at 0x%llx of 0x%llx bytes runs past the end of the 64-bit "
                              "address space", (unsigned long long)ram_base,
                 (unsigned long long)ram_size);
        return -EINVAL;
    }
    uint64_t ram_end = ram_base + ram_size;
    uint64_t initrd_room = add_sat(initrd_size, SZ_4K - 1) & ~(SZ_4K - 1);
    if (initrd_room < initrd_size)
        initrd_room = UINT64_MAX; /* saturated above: rounding would wrap */
    uint64_t need = add_sat(add_sat(add_sat(k->text_offset, k->image_size), initrd_room), SZ_2M);
    if (ram_size < 2 * SZ_2M || ram_size < need) {
        snprintf(err, errlen, "kernel (%llu KiB with BSS) + initrd (%llu KiB) + DTB (2 MiB) do not "
                              "fit in %llu MiB of guest RAM; raise --mem",
                 (unsigned long long)(k->image_size >> 10),
                 (unsigned long long)(initrd_size >> 10), (unsigned long long)(ram_size >> 20));
        return -ENOSPC;
    }
    /* text_offset + image_size + 2 MiB <= ram_size: none of these can wrap. */
    l->kernel_addr = ram_base + k->text_offset;
    l->kernel_end = l->kernel_addr + k->image_size;
    l->dtb_max = ARM64_DTB_MAX_BYTES;
    l->dtb_addr = align_down(ram_end - SZ_2M, SZ_2M); /* >= ram_base: ram_size >= 4 MiB */
    if (initrd_size) {
        /* The DTB is aligned down, so the sum fitting does not mean the initrd fits below
         * it: compare sizes, never form dtb_addr - initrd_size before knowing it is >= 0. */
        uint64_t lowest = align_up(l->kernel_end, SZ_4K); /* kernel_end <= ram_end - 2 MiB */
        if (l->dtb_addr < lowest || l->dtb_addr - lowest < initrd_size) {
            snprintf(err, errlen, "initrd (%llu KiB) overlaps the kernel in %llu MiB of guest "
                                  "RAM; raise --mem", (unsigned long long)(initrd_size >> 10),
                     (unsigned long long)(ram_size >> 20));
            return -ENOSPC;
        }
        l->initrd_size = initrd_size;
        l->initrd_addr = align_down(l->dtb_addr - initrd_size, SZ_4K);
    } else if (l->dtb_addr < l->kernel_end) {
        snprintf(err, errlen, "kernel does not fit below the DTB; raise --mem");
        return -ENOSPC;
    }
    return 0;
}
