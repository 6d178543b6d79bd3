/* boot.c — what guest RAM holds at power-on: the payload at the start of RAM (or the Linux
 * Image and initrd where the boot layout planner put them) and the device tree at the top. The
 * sources are opened and checked once at build time and read again from their descriptors on
 * every reset (src/vmm/file_image.c: a file changed meanwhile is refused, never a SIGBUS). */
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

/* --kernel: the Image (decompressed if needed), the initrd, and where they go. */
static int load_kernel(struct machine *m, char *err, size_t errlen)
{
    int rc = kernel_image_open(&m->kernel, m->opts.kernel, err, errlen);
    if (rc)
        return rc;
    if (m->opts.initrd) {
        rc = file_image_init(&m->initrd, "initrd", m->opts.initrd, m->mem.size, err, errlen);
        if (rc)
            return rc;
        m->initrd_size = (size_t)m->initrd.size;
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

int boot_load_images(struct machine *m, char *err, size_t errlen)
{
    if (madvise(m->mem.host, m->mem.size, MADV_DONTNEED) < 0)
        memset(m->mem.host, 0, m->mem.size);
    if (m->opts.kernel) {
        /* Read again from the files' descriptors on every (re)start; a file changed since
         * pscivm started is refused (-ESTALE), never half-loaded into a running guest. */
        int rc = kernel_image_copy(&m->kernel, m->mem.host + (m->layout.kernel_addr - m->mem.base),
                                   err, errlen);
        if (!rc && m->initrd_size)
            rc = file_image_copy(&m->initrd, m->mem.host + (m->layout.initrd_addr - m->mem.base),
                                 m->initrd_size, err, errlen);
        if (rc)
            return rc;
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
    file_image_release(&m->initrd);
    free(m->payload);
    m->payload = NULL;
}
