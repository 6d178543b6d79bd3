/* fuzz_kernel_image.c — libFuzzer target for the kernel image loader (src/vmm/kernel_image.c):
 * the input is a kernel file — raw arm64 Image, gzip (any number of members), or EFI zboot
 * with a gzip or zstd payload. It is loaded from a buffer (kernel_image_from_buffer) and,
 * unless compressed, the same bytes written to a memfd, from a file (kernel_image_load, which
 * reads a raw Image through file_image); both must agree. A refusal must come with a message. An accepted Image must respect the limits
 * (ARM64_IMAGE_MAX_BYTES, text_offset below 2 MiB, image_size covering the data), and every
 * placement boot_layout_plan() accepts must lie inside RAM without overlaps. Memory stays
 * bounded by the loader's own 512 MiB limit (run with -rss_limit_mb=2048). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/kernel_image.h"

#define RAM_BASE 0x40000000ull

static int file_fd = -1;
static char file_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    file_fd = memfd_create("fuzz-kernel", MFD_CLOEXEC);
    if (file_fd < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(file_path, sizeof(file_path), "/proc/self/fd/%d", file_fd);
    return 0;
}

static void bad(const char *what)
{
    fprintf(stderr, "fuzz_kernel_image: %s\n", what);
    abort();
}

static void check_layout(const struct kernel_image *k, uint64_t ram_size, uint64_t initrd_size)
{
    struct boot_layout l;
    char err[256];
    err[0] = '\0';
    int rc = boot_layout_plan(&l, RAM_BASE, ram_size, k, initrd_size, err, sizeof(err));
    if (rc) {
        if (!err[0])
            bad("layout refused without a message");
        return;
    }
    uint64_t end = RAM_BASE + ram_size;
    if (l.kernel_addr < RAM_BASE || l.kernel_end < l.kernel_addr || l.kernel_end > end ||
        l.kernel_end - l.kernel_addr < k->size || l.dtb_addr < l.kernel_end ||
        l.dtb_max > end - l.dtb_addr)
        bad("kernel or DTB outside RAM or overlapping");
    if (initrd_size && (l.initrd_size != initrd_size || l.initrd_addr < l.kernel_end ||
                        l.initrd_addr > l.dtb_addr || l.dtb_addr - l.initrd_addr < initrd_size))
        bad("initrd outside RAM or overlapping");
}

static void check_image(const struct kernel_image *k)
{
    if (!k->data || !k->format || k->size < ARM64_IMAGE_HEADER_BYTES ||
        k->size > ARM64_IMAGE_MAX_BYTES)
        bad("accepted Image size out of limits");
    if (k->image_size < k->size || k->image_size > ARM64_IMAGE_MAX_BYTES ||
        k->text_offset >= (2ull << 20) || (k->text_offset & 7))
        bad("accepted Image with implausible placement");
    static const uint64_t mib = 1ull << 20;
    check_layout(k, 16 * mib, 0);
    check_layout(k, 128 * mib, 3 * mib + 1);
    check_layout(k, 4 * mib, 4096);
    check_layout(k, k->image_size + k->text_offset + 4 * mib, 2 * mib);
    check_layout(k, 64 * 1024 * mib, UINT64_MAX - 5);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kernel_image a, b;
    char err[256];
    err[0] = '\0';
    int rc = kernel_image_from_buffer(&a, data, size, err, sizeof(err));
    if (rc) {
        if (!err[0])
            bad("refused without a message");
    } else {
        check_image(&a);
    }

    /* kernel_image_open() hands a compressed file's bytes to kernel_image_from_buffer() as
     * they are, so only the other formats have a file path of their own to compare; the
     * skip also halves the cost of each compressed input (the decompressors start with a
     * 64 MiB buffer, which ASan poisons on every free). */
    enum kernel_image_format fmt = kernel_image_detect(data, size);
    if (fmt == KERNEL_IMAGE_GZIP || fmt == KERNEL_IMAGE_ZBOOT) {
        if (!rc)
            kernel_image_release(&a);
        return 0;
    }
    if (ftruncate(file_fd, 0) || pwrite(file_fd, data, size, 0) != (ssize_t)size)
        bad("cannot write the memfd");
    err[0] = '\0';
    int rc2 = kernel_image_load(&b, file_path, err, sizeof(err));
    if (rc2 && !err[0])
        bad("file refused without a message");
    if (rc != rc2) {
        fprintf(stderr, "fuzz_kernel_image: buffer gives %d, file gives %d (%s)\n", rc, rc2,
                err);
        abort();
    }
    if (!rc) {
        if (a.size != b.size || a.image_size != b.image_size ||
            a.text_offset != b.text_offset || a.flags != b.flags ||
            strcmp(a.format, b.format) || memcmp(a.data, b.data, a.size))
            bad("buffer and file load differ");
        kernel_image_release(&b);
        kernel_image_release(&a);
    }
    return 0;
}
