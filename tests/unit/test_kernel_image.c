/* test_kernel_image.c — arm64 Image header parsing (booting.rst), gzip and EFI zboot
 * decompression, refusal of garbage/big-endian/oversized images, and boot placement. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <cmocka.h>

#include "vmm/kernel_image.h"

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint8_t *make_image(size_t len, uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
    uint8_t *b = calloc(1, len);
    for (size_t i = 64; i < len; i++)
        b[i] = (uint8_t)(i * 31);
    put64(b + 8, text_offset);
    put64(b + 16, image_size);
    put64(b + 24, flags);
    memcpy(b + 56, "ARM\x64", 4);
    return b;
}

static size_t gzip_buf(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    return n;
}

static void test_kernel_image__plain_image(void **state)
{
    (void)state;
    uint8_t *img = make_image(8192, 0, 3 << 20, 2 | ARM64_IMAGE_FLAG_PHYS_ANY);
    struct kernel_image k;
    char err[256];
    assert_int_equal(kernel_image_from_buffer(&k, img, 8192, err, sizeof(err)), 0);
    assert_int_equal(k.size, 8192);
    assert_int_equal(k.text_offset, 0);
    assert_int_equal(k.image_size, 3 << 20);
    assert_string_equal(k.format, "Image");
    assert_memory_equal(k.data, img, 8192);
    kernel_image_release(&k);
    free(img);
}

static void test_kernel_image__legacy_zero_image_size(void **state)
{
    (void)state;
    uint8_t *img = make_image(5000, 0x1234, 0, 0);
    struct kernel_image k;
    char err[256];
    assert_int_equal(kernel_image_from_buffer(&k, img, 5000, err, sizeof(err)), 0);
    assert_int_equal(k.text_offset, 0x80000);
    assert_int_equal(k.image_size, 8192);
    kernel_image_release(&k);
    free(img);
}

static void test_kernel_image__refusals(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        size_t len;
        uint64_t text_offset, image_size, flags;
        bool magic;
        int ret;
        const char *msg;
    } cases[] = {
        {"too small", 40, 0, 1 << 20, 0, true, -EINVAL, "too small"},
        {"no magic", 4096, 0, 1 << 20, 0, false, -EINVAL, "magic"},
        {"big endian", 4096, 0, 1 << 20, 1, true, -ENOTSUP, "big-endian"},
        {"huge image_size", 4096, 0, 1ull << 40, 0, true, -EINVAL, "implausible"},
        {"text_offset beyond 2M", 4096, 4 << 20, 1 << 20, 0, true, -EINVAL, "implausible"},
        {"misaligned text_offset", 4096, 3, 1 << 20, 0, true, -EINVAL, "implausible"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t alloc = cases[i].len < 64 ? 64 : cases[i].len;
        uint8_t *img = make_image(alloc, cases[i].text_offset, cases[i].image_size,
                                  cases[i].flags);
        if (!cases[i].magic)
            memset(img + 56, 0, 4);
        struct kernel_image k;
        char err[256] = "";
        int r = kernel_image_from_buffer(&k, img, cases[i].len, err, sizeof(err));
        if (r != cases[i].ret || !strstr(err, cases[i].msg))
            fail_msg("%s: %d '%s'", cases[i].what, r, err);
        assert_null(k.data);
        free(img);
    }
}

static void test_kernel_image__gzip_is_decompressed(void **state)
{
    (void)state;
    size_t len = 300000;
    uint8_t *img = make_image(len, 0, 1 << 20, 2);
    uint8_t *gz = malloc(len + 1024);
    size_t gzlen = gzip_buf(img, len, gz, len + 1024);
    struct kernel_image k;
    char err[256];
    assert_int_equal(kernel_image_from_buffer(&k, gz, gzlen, err, sizeof(err)), 0);
    assert_string_equal(k.format, "gzip");
    assert_int_equal(k.size, len);
    assert_memory_equal(k.data, img, len);
    kernel_image_release(&k);
    /* Truncated stream: clear error. */
    assert_int_equal(kernel_image_from_buffer(&k, gz, gzlen / 2, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "gzip"));
    /* A gzip of garbage is still refused as not an Image. */
    memset(img + 56, 0, 4);
    gzlen = gzip_buf(img, len, gz, len + 1024);
    assert_int_equal(kernel_image_from_buffer(&k, gz, gzlen, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "magic"));
    free(gz);
    free(img);
}

static uint8_t *make_zboot(const uint8_t *payload, size_t plen, const char *comp, size_t *outlen)
{
    size_t off = 512;
    uint8_t *z = calloc(1, off + plen + 4);
    memcpy(z, "MZ\0\0zimg", 8);
    uint32_t o = (uint32_t)off, s = (uint32_t)plen;
    memcpy(z + 8, &o, 4);
    memcpy(z + 12, &s, 4);
    strcpy((char *)z + 24, comp);
    memcpy(z + off, payload, plen);
    *outlen = off + plen + 4;
    return z;
}

static void test_kernel_image__efi_zboot(void **state)
{
    (void)state;
    size_t len = 200000;
    uint8_t *img = make_image(len, 0, 1 << 20, 2);
    uint8_t *comp = malloc(ZSTD_compressBound(len) + 1024);
    struct kernel_image k;
    char err[256];
    size_t zlen;

    size_t clen = gzip_buf(img, len, comp, ZSTD_compressBound(len) + 1024);
    uint8_t *z = make_zboot(comp, clen, "gzip", &zlen);
    assert_int_equal(kernel_image_from_buffer(&k, z, zlen, err, sizeof(err)), 0);
    assert_string_equal(k.format, "EFI zboot (gzip)");
    assert_memory_equal(k.data, img, len);
    kernel_image_release(&k);
    free(z);

    clen = ZSTD_compress(comp, ZSTD_compressBound(len), img, len, 3);
    assert_false(ZSTD_isError(clen));
    z = make_zboot(comp, clen, "zstd", &zlen);
    assert_int_equal(kernel_image_from_buffer(&k, z, zlen, err, sizeof(err)), 0);
    assert_string_equal(k.format, "EFI zboot (zstd)");
    assert_int_equal(k.size, len);
    assert_memory_equal(k.data, img, len);
    kernel_image_release(&k);
    /* Truncated zstd payload. */
    uint32_t half = (uint32_t)(clen / 2);
    memcpy(z + 12, &half, 4);
    assert_int_equal(kernel_image_from_buffer(&k, z, zlen, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "zstd"));
    free(z);

    z = make_zboot(comp, clen, "lzma", &zlen);
    assert_int_equal(kernel_image_from_buffer(&k, z, zlen, err, sizeof(err)), -ENOTSUP);
    assert_non_null(strstr(err, "lzma"));
    /* Payload pointing outside the file. */
    uint32_t bad = 0xfffffff0u;
    memcpy(z + 8, &bad, 4);
    assert_int_equal(kernel_image_from_buffer(&k, z, zlen, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "outside"));
    free(z);
    free(comp);
    free(img);
}

/* A kernel split in parts, each compressed on its own and the results concatenated (what
 * `cat a.gz b.gz`, pigz or multi-threaded zstd produce): all parts must come out, not just the
 * first member/frame, which used to be booted alone, silently truncated. */
static void test_kernel_image__multi_member_gzip_and_multi_frame_zstd(void **state)
{
    (void)state;
    const size_t len = 300000, cuts[] = {0, 1000, 1000, 150001, len}; /* one empty member */
    uint8_t *img = make_image(len, 0, 1 << 20, 2);
    size_t cap = 2 * len + 4096;
    uint8_t *gz = calloc(1, cap), *zs = calloc(1, cap);
    size_t gzlen = 0, zslen = 0;
    for (size_t i = 0; i + 1 < sizeof(cuts) / sizeof(cuts[0]); i++) {
        gzlen += gzip_buf(img + cuts[i], cuts[i + 1] - cuts[i], gz + gzlen, cap - gzlen);
        size_t n = ZSTD_compress(zs + zslen, cap - zslen, img + cuts[i], cuts[i + 1] - cuts[i], 3);
        assert_false(ZSTD_isError(n));
        zslen += n;
    }
    /* a skippable frame between the data frames produces nothing */
    memmove(zs + 16, zs, zslen);
    memcpy(zs, "\x50\x2a\x4d\x18\x08\x00\x00\x00skipskip", 16);
    zslen += 16;

    struct kernel_image k;
    char err[256] = "";
    assert_int_equal(kernel_image_from_buffer(&k, gz, gzlen, err, sizeof(err)), 0);
    assert_string_equal(k.format, "gzip");
    assert_int_equal(k.size, len);
    assert_memory_equal(k.data, img, len);
    kernel_image_release(&k);
    /* zero padding after the last member is accepted (gzip(1) ignores it too) */
    assert_int_equal(kernel_image_from_buffer(&k, gz, gzlen + 512, err, sizeof(err)), 0);
    assert_int_equal(k.size, len);
    kernel_image_release(&k);

    size_t zlen;
    uint8_t *z = make_zboot(gz, gzlen, "gzip", &zlen);
    assert_int_equal(kernel_image_from_buffer(&k, z, zlen, err, sizeof(err)), 0);
    assert_int_equal(k.size, len);
    assert_memory_equal(k.data, img, len);
    kernel_image_release(&k);
    free(z);
    z = make_zboot(zs, zslen, "zstd22", &zlen);
    assert_int_equal(kernel_image_from_buffer(&k, z, zlen, err, sizeof(err)), 0);
    assert_string_equal(k.format, "EFI zboot (zstd)");
    assert_int_equal(k.size, len);
    assert_memory_equal(k.data, img, len);
    kernel_image_release(&k);
    /* the last frame cut short */
    uint32_t short_size = (uint32_t)zslen - 5;
    memcpy(z + 12, &short_size, 4);
    assert_int_equal(kernel_image_from_buffer(&k, z, zlen, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "truncated"));
    free(z);
    /* data after the last frame that is not a frame */
    memcpy(zs + zslen, "junk", 4);
    z = make_zboot(zs, zslen + 4, "zstd", &zlen);
    assert_int_equal(kernel_image_from_buffer(&k, z, zlen, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "zstd"));
    free(z);

    /* gzip: the last member cut short; non-zero data after the last member */
    assert_int_equal(kernel_image_from_buffer(&k, gz, gzlen - 5, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "truncated"));
    memcpy(gz + gzlen, "\0\0junk", 6);
    assert_int_equal(kernel_image_from_buffer(&k, gz, gzlen + 6, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not another gzip member"));
    assert_null(k.data);
    free(gz);
    free(zs);
    free(img);
}

/* Write `len` bytes to a new temporary file; returns its path (static buffer). */
static const char *temp_file(const void *buf, size_t len)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/pscivm-test-image-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
    return path;
}

/* The file and the buffer paths used to disagree on an input with two signatures: the file
 * path took anything with the Image magic as an Image, the buffer path tried gzip and EFI
 * zboot first. Both now ask kernel_image_detect() and must give the same answer. */
static void test_kernel_image__file_and_buffer_detect_alike(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        const char *head;     /* bytes at offset 0 */
        size_t head_len;
        bool magic;           /* "ARM\x64" at 56 */
        enum kernel_image_format fmt;
        int ret;
        const char *format;   /* on success */
    } cases[] = {
        {"zboot header + Image magic", "MZ\0\0zimg", 8, true, KERNEL_IMAGE_AMBIGUOUS, -EINVAL,
         NULL},
        {"code0 encoding 1f 8b + Image magic", "\x1f\x8b\x08\x14", 4, true, KERNEL_IMAGE_RAW, 0,
         "Image"},
        {"EFI stub Image (MZ, no zimg)", "MZ\x00\x91", 4, true, KERNEL_IMAGE_RAW, 0, "Image"},
        {"zboot header alone", "MZ\0\0zimg", 8, false, KERNEL_IMAGE_ZBOOT, -EINVAL, NULL},
        {"gzip magic alone", "\x1f\x8b\x08\x00", 4, false, KERNEL_IMAGE_GZIP, -EINVAL, NULL},
        {"nothing", "\x00", 1, false, KERNEL_IMAGE_UNKNOWN, -EINVAL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *img = make_image(8192, 0, 1 << 20, 2);
        memcpy(img, cases[i].head, cases[i].head_len);
        /* A zboot header that points inside the file (a garbage gzip payload), so that only
         * detection decides; as an Image header: text_offset 0x1000 (plausible), image_size 0
         * (pre-3.17, 0x80000 is used). */
        uint32_t off = 4096, size = 100;
        memcpy(img + 8, &off, 4);
        memcpy(img + 12, &size, 4);
        memcpy(img + 16, "\0\0\0\0\0\0\0\0", 8);
        memcpy(img + 24, "gzip\0\0\0\0", 8);
        if (!cases[i].magic)
            memset(img + 56, 0, 4);
        assert_int_equal(kernel_image_detect(img, 8192), cases[i].fmt);
        struct kernel_image kb, kf;
        char eb[256] = "", ef[256] = "";
        int rb = kernel_image_from_buffer(&kb, img, 8192, eb, sizeof(eb));
        const char *path = temp_file(img, 8192);
        int rf = kernel_image_load(&kf, path, ef, sizeof(ef));
        unlink(path);
        if (rb != cases[i].ret || rf != cases[i].ret)
            fail_msg("%s: buffer %d (%s), file %d (%s), expected %d", cases[i].what, rb, eb, rf,
                     ef, cases[i].ret);
        if (rb == 0) {
            assert_string_equal(kb.format, cases[i].format);
            assert_string_equal(kf.format, cases[i].format);
            assert_int_equal(kb.size, kf.size);
            assert_int_equal(kb.image_size, kf.image_size);
            assert_int_equal(kb.text_offset, kf.text_offset);
            assert_memory_equal(kb.data, kf.data, kb.size);
            kernel_image_release(&kb);
            kernel_image_release(&kf);
        } else if (cases[i].fmt == KERNEL_IMAGE_AMBIGUOUS) {
            assert_non_null(strstr(eb, "refusing to guess"));
            assert_non_null(strstr(ef, "refusing to guess"));
        }
        free(img);
    }
    /* Short inputs: only the gzip magic can be recognised in fewer than 64 bytes. */
    assert_int_equal(kernel_image_detect((const uint8_t *)"\x1f\x8b", 2), KERNEL_IMAGE_GZIP);
    assert_int_equal(kernel_image_detect((const uint8_t *)"MZ\0\0zimg", 8),
                     KERNEL_IMAGE_UNKNOWN);
    assert_int_equal(kernel_image_detect(NULL, 0), KERNEL_IMAGE_UNKNOWN);
}

/* A reset copies the kernel into RAM again. A raw Image opened for that is read from its file
 * each time (nothing kept in memory, nothing mapped): unchanged it copies the same bytes; once
 * truncated or rewritten it is refused with -ESTALE. The old mapping died of SIGBUS on a
 * truncated file and loaded a rewritten one under the old header's size and layout. */
static void test_kernel_image__open_raw_rereads_and_refuses_a_changed_file(void **state)
{
    (void)state;
    const size_t len = 8192;
    uint8_t *img = make_image(len, 0, 1 << 20, 2);
    const char *path = temp_file(img, len);
    struct kernel_image k;
    char err[512] = "";
    assert_int_equal(kernel_image_open(&k, path, err, sizeof(err)), 0);
    assert_null(k.data);
    assert_int_equal(k.mapped, 0);
    assert_int_equal(k.size, len);
    assert_string_equal(k.format, "Image");
    uint8_t *ram = calloc(1, k.image_size);
    for (int round = 0; round < 2; round++) {
        memset(ram, 0, k.image_size);
        assert_int_equal(kernel_image_copy(&k, ram, err, sizeof(err)), 0);
        assert_memory_equal(ram, img, len);
    }
    /* the header differing from the parsed one is refused even if the identity were kept */
    k.header[16] ^= 1;
    assert_int_equal(kernel_image_copy(&k, ram, err, sizeof(err)), -ESTALE);
    assert_non_null(strstr(err, "header differs"));
    k.header[16] ^= 1;
    /* truncated under us: an error, not SIGBUS */
    assert_int_equal(truncate(path, 4096), 0);
    assert_int_equal(kernel_image_copy(&k, ram, err, sizeof(err)), -ESTALE);
    assert_non_null(strstr(err, "kernel Image"));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "size 8192 -> 4096"));
    kernel_image_release(&k);
    kernel_image_release(&k); /* twice is harmless */

    /* rewritten in place, same size, with a different header: the identity tells */
    assert_int_equal(truncate(path, 0), 0);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, img, len), (ssize_t)len);
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    assert_int_equal(futimens(fd, old), 0);
    assert_int_equal(kernel_image_open(&k, path, err, sizeof(err)), 0);
    uint8_t *other = make_image(len, 0, 4 << 20, 2);
    assert_int_equal(pwrite(fd, other, len, 0), (ssize_t)len);
    close(fd);
    assert_int_equal(kernel_image_copy(&k, ram, err, sizeof(err)), -ESTALE);
    assert_non_null(strstr(err, "changed since pscivm started"));
    kernel_image_release(&k);
    unlink(path);
    free(other);
    free(ram);
    free(img);
}

/* A compressed kernel is decompressed at open and kept: the file does not matter afterwards. */
static void test_kernel_image__open_compressed_is_kept_in_memory(void **state)
{
    (void)state;
    const size_t len = 100000;
    uint8_t *img = make_image(len, 0, 1 << 20, 2);
    uint8_t *gz = malloc(len + 1024);
    size_t gzlen = gzip_buf(img, len, gz, len + 1024);
    const char *path = temp_file(gz, gzlen);
    struct kernel_image k;
    char err[512] = "";
    assert_int_equal(kernel_image_open(&k, path, err, sizeof(err)), 0);
    assert_non_null(k.data);
    assert_null(k.file.path); /* closed */
    assert_string_equal(k.format, "gzip");
    assert_int_equal(truncate(path, 0), 0);
    uint8_t *ram = calloc(1, k.image_size);
    assert_int_equal(kernel_image_copy(&k, ram, err, sizeof(err)), 0);
    assert_memory_equal(ram, img, len);
    kernel_image_release(&k);
    unlink(path);
    /* a corrupt compressed file: the message names the file */
    memcpy(gz + gzlen / 2, "\xff\xff\xff\xff\xff\xff", 6);
    path = temp_file(gz, gzlen);
    assert_int_equal(kernel_image_open(&k, path, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, path));
    assert_null(k.data);
    unlink(path);
    free(ram);
    free(gz);
    free(img);
}

/* kernel_image_load() keeps the Image in memory: reading it after the file was truncated used
 * to fault (it was a MAP_PRIVATE mapping of the file). */
static void test_kernel_image__load_survives_truncation(void **state)
{
    (void)state;
    const size_t len = 3 * 4096;
    uint8_t *img = make_image(len, 0, 1 << 20, 2);
    const char *path = temp_file(img, len);
    struct kernel_image k;
    char err[512] = "";
    assert_int_equal(kernel_image_load(&k, path, err, sizeof(err)), 0);
    assert_non_null(k.data);
    assert_null(k.file.path); /* nothing kept open */
    assert_int_equal(truncate(path, 0), 0);
    assert_memory_equal(k.data, img, len); /* SIGBUS here with the mapping */
    uint8_t *ram = calloc(1, len);
    assert_int_equal(kernel_image_copy(&k, ram, err, sizeof(err)), 0);
    assert_memory_equal(ram, img, len);
    kernel_image_release(&k);
    unlink(path);
    free(ram);
    free(img);
}

static void test_kernel_image__load_file_errors(void **state)
{
    (void)state;
    struct kernel_image k;
    char err[256];
    assert_int_equal(kernel_image_load(&k, "/nonexistent/Image", err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/Image"));
    assert_int_equal(kernel_image_load(&k, "/tmp", err, sizeof(err)), -EINVAL);

    char path[] = "/tmp/pscivm-test-image-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t *img = make_image(4096, 0, 1 << 20, 2);
    assert_int_equal(write(fd, img, 4096), 4096);
    close(fd);
    assert_int_equal(kernel_image_load(&k, path, err, sizeof(err)), 0);
    assert_memory_equal(k.data, img, 4096);
    kernel_image_release(&k);
    assert_int_equal(truncate(path, 30), 0);
    assert_int_equal(kernel_image_load(&k, path, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, path));
    unlink(path);
    free(img);
}

static void test_kernel_image__layout(void **state)
{
    (void)state;
    const uint64_t base = 0x40000000, MiB = 1 << 20;
    static const struct {
        uint64_t ram_mib, text_offset, image_size, initrd;
        int ret;
    } cases[] = {
        {256, 0, 40 << 20, 10 << 20, 0},
        {256, 0x80000, 40 << 20, 0, 0},
        {64, 0, 40 << 20, 20 << 20, 0},
        {64, 0, 40 << 20, 22 << 20, 0},       /* exactly full */
        {64, 0, 40 << 20, (22 << 20) + 1, -ENOSPC},
        {40, 0, 40 << 20, 0, -ENOSPC},
        {2, 0, 4096, 0, -ENOSPC},
        {256, 0, 40 << 20, 1ull << 40, -ENOSPC},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kernel_image k = {.text_offset = cases[i].text_offset,
                                 .image_size = cases[i].image_size};
        struct boot_layout l;
        char err[256] = "";
        int r = boot_layout_plan(&l, base, cases[i].ram_mib * MiB, &k, cases[i].initrd, err,
                                 sizeof(err));
        if (r != cases[i].ret)
            fail_msg("case %zu: %d (%s)", i, r, err);
        if (r) {
            assert_non_null(strstr(err, "--mem"));
            continue;
        }
        uint64_t end = base + cases[i].ram_mib * MiB;
        assert_int_equal(l.kernel_addr, base + cases[i].text_offset);
        assert_int_equal(l.kernel_end, l.kernel_addr + cases[i].image_size);
        assert_int_equal(l.dtb_addr % (2 * MiB), 0);
        assert_true(l.dtb_addr + l.dtb_max <= end);
        assert_true(l.dtb_addr >= l.kernel_end);
        if (cases[i].initrd) {
            assert_int_equal(l.initrd_addr % 4096, 0);
            assert_true(l.initrd_addr >= l.kernel_end);
            assert_true(l.initrd_addr + l.initrd_size <= l.dtb_addr);
        } else {
            assert_int_equal(l.initrd_addr, 0);
        }
    }
    struct kernel_image k = {.image_size = 4096};
    struct boot_layout l;
    char err[128];
    assert_int_equal(boot_layout_plan(&l, base + 4096, 256 * MiB, &k, 0, err, sizeof(err)),
                     -EINVAL);
}

/* Placement arithmetic near the top of the 64-bit space and with absurd sizes: each either
 * refuses or yields a layout inside RAM. Unreachable from the machine today (RAM is at 1 GiB,
 * the initrd at most --mem), so these pin the planner's own checks for any new caller. */
static void test_kernel_image__layout_overflow(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        uint64_t base, size, text_offset, image_size, initrd;
        int ret;
    } cases[] = {
        {"RAM wraps past 2^64", 0 - 64 * (1ull << 20), 128ull << 20, 0, 4096, 0, -EINVAL},
        {"RAM ends at 2^64", 0 - 64 * (1ull << 20), 64ull << 20, 0, 4096, 0, -EINVAL},
        {"RAM of 2^64 - 2 MiB at 2 MiB", 2ull << 20, 0 - (2ull << 20), 0, 4096, 0, -EINVAL},
        {"RAM just below 2^64", 0 - 64 * (1ull << 20), (64ull << 20) - 1, 0x80000, 40ull << 20,
         8ull << 20, 0},
        {"kernel end past 2^64", 0 - 64 * (1ull << 20), (64ull << 20) - 1, 0, 100ull << 20, 0,
         -ENOSPC},
        {"image_size near 2^64", 0x40000000, 256ull << 20, 0x80000, UINT64_MAX - 4096, 0,
         -ENOSPC},
        {"initrd 2^64 - 1", 0x40000000, 256ull << 20, 0, 4096, UINT64_MAX, -ENOSPC},
        {"initrd rounds up to 2^64", 0x40000000, 256ull << 20, 0, 4096, UINT64_MAX - 4094,
         -ENOSPC},
        {"initrd 2^63", 0x40000000, 256ull << 20, 0, 4096, 1ull << 63, -ENOSPC},
        {"initrd at top, rounds up to 2^64", 0 - 64 * (1ull << 20), (64ull << 20) - 1, 0, 4096,
         UINT64_MAX - 4094, -ENOSPC},
        /* RAM at 0 whose size is not a multiple of 2 MiB: the DTB is aligned down, and an
         * initrd that fits the sum but not below the DTB must not wrap below address 0. */
        {"initrd below address 0", 0, 5ull << 20, 0, 4096, (5ull << 19), -ENOSPC},
        {"initrd at 0, fits", 0, 5ull << 20, 0, 4096, 1ull << 20, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kernel_image k = {.text_offset = cases[i].text_offset,
                                 .image_size = cases[i].image_size};
        struct boot_layout l;
        char err[256] = "";
        int r = boot_layout_plan(&l, cases[i].base, cases[i].size, &k, cases[i].initrd, err,
                                 sizeof(err));
        if (r != cases[i].ret)
            fail_msg("%s: %d (%s), expected %d", cases[i].what, r, err, cases[i].ret);
        if (r) {
            assert_true(err[0] != '\0');
            continue;
        }
        /* Every region lies in [base, base + size), in order, without wrapping. */
        uint64_t last = cases[i].base + (cases[i].size - 1);
        assert_true(l.kernel_addr >= cases[i].base && l.kernel_addr <= l.kernel_end);
        assert_true(l.kernel_end - cases[i].base <= cases[i].size);
        assert_true(l.dtb_addr >= l.kernel_end && l.dtb_max - 1 <= last - l.dtb_addr);
        if (cases[i].initrd) {
            assert_true(l.initrd_addr >= l.kernel_end);
            assert_true(l.initrd_size <= l.dtb_addr - l.initrd_addr);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_image__plain_image),
        cmocka_unit_test(test_kernel_image__legacy_zero_image_size),
        cmocka_unit_test(test_kernel_image__refusals),
        cmocka_unit_test(test_kernel_image__gzip_is_decompressed),
        cmocka_unit_test(test_kernel_image__efi_zboot),
        cmocka_unit_test(test_kernel_image__multi_member_gzip_and_multi_frame_zstd),
        cmocka_unit_test(test_kernel_image__file_and_buffer_detect_alike),
        cmocka_unit_test(test_kernel_image__open_raw_rereads_and_refuses_a_changed_file),
        cmocka_unit_test(test_kernel_image__open_compressed_is_kept_in_memory),
        cmocka_unit_test(test_kernel_image__load_survives_truncation),
        cmocka_unit_test(test_kernel_image__load_file_errors),
        cmocka_unit_test(test_kernel_image__layout),
        cmocka_unit_test(test_kernel_image__layout_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
