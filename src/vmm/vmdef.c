/* vmdef.c — the VM definition's life, checks, differences and its merge with the command line
 * (vmdef.h); the JSON side is vmdef_json.c. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psci/psci.h"
#include "vmm/vmdef.h"

uint32_t vmdef_psci_functions(uint32_t version)
{
    uint32_t f = 0;
    if (version >= PSCI_VERSION_1_0)
        f |= VMDEF_FN_SYSTEM_SUSPEND;
    if (version >= PSCI_VERSION_1_1)
        f |= VMDEF_FN_SYSTEM_RESET2;
    if (version >= PSCI_VERSION_1_3)
        f |= VMDEF_FN_SYSTEM_OFF2;
    return f;
}

const char *vmdef_psci_functions_text(uint32_t fns, char *buf, size_t len)
{
    static const char *const names[] = {"SYSTEM_SUSPEND", "SYSTEM_RESET2", "SYSTEM_OFF2"};
    size_t used = 0;
    if (len)
        buf[0] = '\0';
    for (unsigned int i = 0; i < 3; i++)
        if (fns & (1u << i) && used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", names[i]);
    if (!used && len)
        snprintf(buf, len, "none");
    return buf;
}

void vmdef_init(struct vmdef *d)
{
    memset(d, 0, sizeof(*d));
    d->format = VMDEF_FORMAT;
}

static void file_release(struct vmdef_file *f)
{
    free(f->path);
    free(f->identity);
    memset(f, 0, sizeof(*f));
}

void vmdef_release(struct vmdef *d)
{
    file_release(&d->payload);
    file_release(&d->kernel);
    file_release(&d->initrd);
    for (unsigned int i = 0; i < RUN_MAX_DISKS; i++) {
        file_release(&d->disks[i].file);
        free(d->disks[i].spec);
    }
    free(d->cmdline);
    vmdef_init(d);
}

int vmdef_file_set(struct vmdef_file *f, const char *path, uint64_t size, const char *identity)
{
    char *p = path ? strdup(path) : NULL;
    char *id = identity ? strdup(identity) : NULL;
    if ((path && !p) || (identity && !id)) {
        free(p);
        free(id);
        return -ENOMEM;
    }
    file_release(f);
    f->path = p;
    f->size = size;
    f->identity = id;
    return 0;
}

static int file_copy(struct vmdef_file *dst, const struct vmdef_file *src)
{
    return vmdef_file_set(dst, src->path, src->size, src->identity);
}

int vmdef_copy(struct vmdef *dst, const struct vmdef *src)
{
    *dst = *src;
    /* The pointers are src's: clear them before taking copies. */
    dst->payload = dst->kernel = dst->initrd = (struct vmdef_file){0};
    for (unsigned int i = 0; i < RUN_MAX_DISKS; i++) {
        dst->disks[i].file = (struct vmdef_file){0};
        dst->disks[i].spec = NULL;
    }
    dst->cmdline = NULL;
    int rc = file_copy(&dst->payload, &src->payload);
    if (!rc)
        rc = file_copy(&dst->kernel, &src->kernel);
    if (!rc)
        rc = file_copy(&dst->initrd, &src->initrd);
    for (unsigned int i = 0; !rc && i < src->nr_disks; i++)
        rc = file_copy(&dst->disks[i].file, &src->disks[i].file);
    if (!rc && src->cmdline && !(dst->cmdline = strdup(src->cmdline)))
        rc = -ENOMEM;
    if (rc)
        vmdef_release(dst);
    return rc;
}

__attribute__((format(printf, 3, 4)))
static const char *why(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return buf;
}

const char *vmdef_invalid(const struct vmdef *d, char *buf, size_t len)
{
    if (d->format != VMDEF_FORMAT)
        return why(buf, len, "format: %u is not a definition format this pscivm reads (%d)",
                   d->format, VMDEF_FORMAT);
    if (d->cpus < 1 || d->cpus > MEMMAP_MAX_VCPUS)
        return why(buf, len, "vcpus.count: not from 1 to %d", MEMMAP_MAX_VCPUS);
    if (d->max_cpus < d->cpus || d->max_cpus > MEMMAP_MAX_VCPUS)
        return why(buf, len, "vcpus.max: below vcpus.count or above %d", MEMMAP_MAX_VCPUS);
    if (d->nr_mpidrs && d->nr_mpidrs != d->max_cpus)
        return why(buf, len, "vcpus.mpidrs: %u entries for %u vCPUs", d->nr_mpidrs, d->max_cpus);
    for (unsigned int i = 0; i < d->nr_mpidrs; i++) {
        if (d->mpidrs[i] & ~PSCI_MPIDR_AFF_MASK)
            return why(buf, len, "vcpus.mpidrs[%u]: bits outside the affinity fields", i);
        for (unsigned int j = 0; j < i; j++)
            if (d->mpidrs[i] == d->mpidrs[j])
                return why(buf, len, "vcpus.mpidrs[%u]: the same as vcpus.mpidrs[%u]", i, j);
    }
    if (d->mem_mib < RUN_MIN_MEM_MIB || d->mem_mib > RUN_MAX_MEM_MIB)
        return why(buf, len, "memory.mib: not from %d to %d", RUN_MIN_MEM_MIB, RUN_MAX_MEM_MIB);
    if (!psci_version_is_supported(d->psci_version))
        return why(buf, len, "psci.version: not a PSCI version pscivm offers");
    if (d->psci_mode != PSCI_MODE_AUTO && d->psci_mode != PSCI_MODE_USER &&
        d->psci_mode != PSCI_MODE_KERNEL)
        return why(buf, len, "psci.mode: not auto, user or kernel");
    if (d->psci_functions & ~VMDEF_FN_ALL)
        return why(buf, len, "psci.functions: unknown function");
    if (!d->payload.path == !d->kernel.path)
        return why(buf, len, "boot: exactly one of boot.payload and boot.kernel");
    if (d->initrd.path && !d->kernel.path)
        return why(buf, len, "boot.initrd: needs boot.kernel");
    if (d->nr_devices > VMDEF_MAX_DEVICES)
        return why(buf, len, "devices: more than %d", VMDEF_MAX_DEVICES);
    for (unsigned int i = 0; i < d->nr_devices; i++) {
        const struct vmdef_device *v = &d->devices[i];
        if (!v->name[0] || !v->type[0])
            return why(buf, len, "devices[%u]: empty name or type", i);
        if (v->size == 0 || v->base + v->size < v->base)
            return why(buf, len, "devices[%u].size: an empty or wrapping window", i);
        for (unsigned int j = 0; j < i; j++)
            if (!strcmp(v->name, d->devices[j].name))
                return why(buf, len, "devices[%u].name: \"%s\" twice", i, v->name);
    }
    if (d->nr_disks > RUN_MAX_DISKS)
        return why(buf, len, "disks: more than %d", RUN_MAX_DISKS);
    for (unsigned int i = 0; i < d->nr_disks; i++)
        if (!d->disks[i].file.path || !d->disks[i].file.path[0])
            return why(buf, len, "disks[%u].path: empty", i);
    if (len)
        buf[0] = '\0';
    return buf;
}

/* ---- differences ---- */

void vmdef_diffs_init(struct vmdef_diffs *l)
{
    l->n = 0;
    l->truncated = false;
}

void vmdef_diffs_add(struct vmdef_diffs *l, const char *fmt, ...)
{
    if (l->n == VMDEF_MAX_DIFFS) {
        l->truncated = true;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->line[l->n++], VMDEF_DIFF_LEN, fmt, ap);
    va_end(ap);
}

static const char *str_or(const char *s, const char *none)
{
    return s ? s : none;
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static void diff_file(const char *what, const struct vmdef_file *a, const struct vmdef_file *b,
                      bool identities, struct vmdef_diffs *out)
{
    if (!str_eq(a->path, b->path)) {
        vmdef_diffs_add(out, "%s.path: %s recorded, %s now", what, str_or(a->path, "none"),
                        str_or(b->path, "none"));
        return;
    }
    if (!identities || !a->path || (a->size == b->size && str_eq(a->identity, b->identity)))
        return;
    if (b->identity && !strncmp(b->identity, "(missing", 8))
        vmdef_diffs_add(out, "%s (%s): present recorded, %s now", what, a->path, b->identity);
    else if (a->size != b->size)
        vmdef_diffs_add(out, "%s.size (%s): %" PRIu64 " bytes recorded, %" PRIu64 " now", what,
                        a->path, a->size, b->size);
    else if (!str_eq(a->identity, b->identity))
        vmdef_diffs_add(out, "%s.identity (%s): %s recorded, %s now (the file changed)", what,
                        a->path, str_or(a->identity, "none"), str_or(b->identity, "none"));
}

unsigned int vmdef_diff(const struct vmdef *a, const struct vmdef *b, bool identities,
                        struct vmdef_diffs *out)
{
    unsigned int n0 = out->n;
    char x[96], y[96];
    if (a->cpus != b->cpus)
        vmdef_diffs_add(out, "vcpus.count: %u recorded, %u now", a->cpus, b->cpus);
    if (a->max_cpus != b->max_cpus)
        vmdef_diffs_add(out, "vcpus.max: %u recorded, %u now", a->max_cpus, b->max_cpus);
    if (a->nr_mpidrs && b->nr_mpidrs && a->nr_mpidrs == b->nr_mpidrs)
        for (unsigned int i = 0; i < a->nr_mpidrs; i++)
            if (a->mpidrs[i] != b->mpidrs[i])
                vmdef_diffs_add(out, "vcpus.mpidrs[%u]: 0x%" PRIx64 " recorded, 0x%" PRIx64
                                " now", i, a->mpidrs[i], b->mpidrs[i]);
    if (a->mem_mib != b->mem_mib)
        vmdef_diffs_add(out, "memory.mib: %" PRIu64 " recorded, %" PRIu64 " now", a->mem_mib,
                        b->mem_mib);
    if (a->ram_base != b->ram_base)
        vmdef_diffs_add(out, "memory.base: 0x%" PRIx64 " recorded, 0x%" PRIx64 " now",
                        a->ram_base, b->ram_base);
    if (a->psci_version != b->psci_version)
        vmdef_diffs_add(out, "psci.version: %s recorded, %s now",
                        psci_version_name(a->psci_version), psci_version_name(b->psci_version));
    if (a->psci_mode != b->psci_mode)
        vmdef_diffs_add(out, "psci.mode: %s recorded, %s now", psci_mode_name(a->psci_mode),
                        psci_mode_name(b->psci_mode));
    if (a->psci_functions != b->psci_functions)
        vmdef_diffs_add(out, "psci.functions: %s recorded, %s now",
                        vmdef_psci_functions_text(a->psci_functions, x, sizeof(x)),
                        vmdef_psci_functions_text(b->psci_functions, y, sizeof(y)));
    diff_file("boot.payload", &a->payload, &b->payload, identities, out);
    diff_file("boot.kernel", &a->kernel, &b->kernel, identities, out);
    diff_file("boot.initrd", &a->initrd, &b->initrd, identities, out);
    if (!str_eq(a->cmdline, b->cmdline))
        vmdef_diffs_add(out, "boot.cmdline: \"%s\" recorded, \"%s\" now", str_or(a->cmdline, ""),
                        str_or(b->cmdline, ""));
    /* Devices by name: the guest found each at its address and interrupt. */
    if (a->nr_devices && b->nr_devices) {
        for (unsigned int i = 0; i < a->nr_devices; i++) {
            const struct vmdef_device *d = &a->devices[i], *e = NULL;
            for (unsigned int j = 0; j < b->nr_devices && !e; j++)
                if (!strcmp(b->devices[j].name, d->name))
                    e = &b->devices[j];
            if (!e)
                vmdef_diffs_add(out, "devices[%u] (%s, %s at 0x%" PRIx64 "): recorded, absent "
                                "now", i, d->name, d->type, d->base);
            else if (strcmp(d->type, e->type) || d->base != e->base || d->size != e->size ||
                     d->spi != e->spi)
                vmdef_diffs_add(out, "devices[%u] (%s): %s at 0x%" PRIx64 "+0x%" PRIx64
                                " SPI %u recorded, %s at 0x%" PRIx64 "+0x%" PRIx64 " SPI %u now",
                                i, d->name, d->type, d->base, d->size, d->spi, e->type, e->base,
                                e->size, e->spi);
        }
        for (unsigned int j = 0; j < b->nr_devices; j++) {
            bool found = false;
            for (unsigned int i = 0; i < a->nr_devices && !found; i++)
                found = !strcmp(a->devices[i].name, b->devices[j].name);
            if (!found)
                vmdef_diffs_add(out, "devices: %s (%s at 0x%" PRIx64 ") is new", b->devices[j].name,
                                b->devices[j].type, b->devices[j].base);
        }
    }
    unsigned int nd = a->nr_disks > b->nr_disks ? a->nr_disks : b->nr_disks;
    for (unsigned int i = 0; i < nd; i++) {
        char what[32];
        snprintf(what, sizeof(what), "disks[%u]", i);
        if (i >= a->nr_disks) {
            vmdef_diffs_add(out, "%s: none recorded, %s now", what, b->disks[i].file.path);
            continue;
        }
        if (i >= b->nr_disks) {
            vmdef_diffs_add(out, "%s: %s recorded, none now", what, a->disks[i].file.path);
            continue;
        }
        diff_file(what, &a->disks[i].file, &b->disks[i].file, identities, out);
        if (a->disks[i].read_only != b->disks[i].read_only)
            vmdef_diffs_add(out, "%s.read_only: %s recorded, %s now", what,
                            a->disks[i].read_only ? "true" : "false",
                            b->disks[i].read_only ? "true" : "false");
    }
    return out->n - n0;
}
