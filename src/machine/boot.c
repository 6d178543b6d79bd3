/* boot.c — what guest RAM holds at power-on: the payload at the start of RAM (or the Linux
 * Image and initrd where the boot layout planner put them) and the device tree at the top. The
 * sources are read once at build time and copied again on every reset. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "machine/machine.h"
#include "vmm/fdt.h"
#include "vmm/memmap.h"

#define DTB_AREA_SIZE (2ULL << 20) /* the device tree lives in the top 2 MiB of RAM */

static int load_payload(struct machine *m, char *err, size_t errlen)
{
    const char *path = m->opts.payload;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open payload %s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "payload %s is not a regular file", path);
        rc = -EINVAL;
    } else if ((uint64_t)st.st_size > m->mem.size - DTB_AREA_SIZE) {
        snprintf(err, errlen, "payload %s is %lld bytes, larger than the %llu bytes of RAM "
                 "available below the device tree (--mem %llu)", path, (long long)st.st_size,
                 (unsigned long long)(m->mem.size - DTB_AREA_SIZE),
                 (unsigned long long)m->opts.mem_mib);
        rc = -EFBIG;
    } else if (st.st_size == 0) {
        snprintf(err, errlen, "payload %s is empty", path);
        rc = -EINVAL;
    }
    if (!rc) {
        m->payload_size = (size_t)st.st_size;
        m->payload = malloc(m->payload_size);
        if (!m->payload) {
            snprintf(err, errlen, "payload %s: out of memory", path);
            rc = -ENOMEM;
        }
    }
    size_t off = 0;
    while (!rc && off < m->payload_size) {
        ssize_t n = read(fd, m->payload + off, m->payload_size - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "reading payload %s: %s", path,
                     n < 0 ? strerror(errno) : "unexpected end of file");
            rc = -EIO;
        } else {
            off += (size_t)n;
        }
    }
    close(fd);
    return rc;
}

/* Map a whole regular file (the initrd) read-only, at most `max` bytes; *out is NULL for an
 * empty file. Release with munmap(*out, *len). */
static int map_file(const char *what, const char *path, uint64_t max, uint8_t **out, size_t *len,
                    char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open %s %s: %s", what, path, strerror(e));
        return -e;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s %s is not a regular file", what, path);
        rc = -EINVAL;
    } else if ((uint64_t)st.st_size > max) {
        snprintf(err, errlen, "%s %s is %lld MiB, more than fits in guest RAM", what, path,
                 (long long)(st.st_size >> 20));
        rc = -EFBIG;
    }
    if (!rc && st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            rc = -errno;
            snprintf(err, errlen, "mapping %s %s: %s", what, path, strerror(-rc));
        } else {
            *out = p;
            *len = (size_t)st.st_size;
        }
    }
    close(fd);
    return rc;
}

/* --kernel: the Image (decompressed if needed), the initrd, and where they go. */
static int load_kernel(struct machine *m, char *err, size_t errlen)
{
    int rc = kernel_image_load(&m->kernel, m->opts.kernel, err, errlen);
    if (rc)
        return rc;
    if (m->opts.initrd) {
        rc = map_file("initrd", m->opts.initrd, m->mem.size, &m->initrd, &m->initrd_size, err,
                      errlen);
        if (rc)
            return rc;
    }
    rc = boot_layout_plan(&m->layout, m->mem.base, m->mem.size, &m->kernel, m->initrd_size, err,
                          errlen);
    if (rc)
        return rc;
    m->dtb_gpa = m->layout.dtb_addr;
    m->entry_gpa = m->layout.kernel_addr;
    return 0;
}

int boot_load_sources(struct machine *m, char *err, size_t errlen)
{
    m->dtb_gpa = m->mem.base + m->mem.size - DTB_AREA_SIZE;
    m->entry_gpa = m->mem.base;
    return m->opts.kernel ? load_kernel(m, err, errlen) : load_payload(m, err, errlen);
}

/* Copy a file image into guest RAM; when the source is a file mapping, drop each copied chunk
 * of it (it refaults from the page cache on the next reset), so the peak RSS does not hold
 * the kernel and initrd twice. */
static void copy_image(uint8_t *dst, const uint8_t *src, size_t len, bool src_mapped)
{
    const size_t chunk = 2u << 20;
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        memcpy(dst + off, src + off, n);
        if (src_mapped)
            madvise((void *)(src + off), n, MADV_DONTNEED);
    }
}

int boot_load_images(struct machine *m, char *err, size_t errlen)
{
    if (madvise(m->mem.host, m->mem.size, MADV_DONTNEED) < 0)
        memset(m->mem.host, 0, m->mem.size);
    if (m->opts.kernel) {
        copy_image(m->mem.host + (m->layout.kernel_addr - m->mem.base), m->kernel.data,
                   m->kernel.size, m->kernel.mapped != 0);
        if (m->initrd_size)
            copy_image(m->mem.host + (m->layout.initrd_addr - m->mem.base), m->initrd,
                       m->initrd_size, true);
    } else {
        memcpy(m->mem.host, m->payload, m->payload_size);
    }
    struct fdt_params p = {
        .ram_base = m->mem.base,
        .ram_size = m->mem.size,
        .nr_cpus = m->hv.nr_vcpus,
        .mpidrs = m->hv.mpidrs,
        .psci_version = m->opts.psci_version,
        .bootargs = m->opts.cmdline,
        .reserve_base = m->dtb_gpa,
        .reserve_size = DTB_AREA_SIZE,
        .initrd_start = m->initrd_size ? m->layout.initrd_addr : 0,
        .initrd_end = m->initrd_size ? m->layout.initrd_addr + m->initrd_size : 0,
        .devices = m->devices,
        .nr_devices = m->nr_devices,
    };
    void *dtb = guest_mem_ptr(&m->mem, m->dtb_gpa, FDT_MAX_SIZE);
    if (!dtb) {
        snprintf(err, errlen, "no room for the device tree at 0x%llx",
                 (unsigned long long)m->dtb_gpa);
        return -EINVAL;
    }
    return fdt_build(dtb, FDT_MAX_SIZE, &p, err, errlen);
}

void boot_release(struct machine *m)
{
    kernel_image_release(&m->kernel);
    if (m->initrd)
        munmap(m->initrd, m->initrd_size);
    m->initrd = NULL;
    free(m->payload);
    m->payload = NULL;
}
