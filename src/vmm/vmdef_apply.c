/* vmdef_apply.c — `pscivm run --vm DIR` options over the VM's definition (vmdef_apply in
 * vmdef.h): what is not given comes from the definition, what is given and differs is listed
 * as a contradiction, and the run's options end up pointing into the candidate definition. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psci/psci.h"
#include "vmm/vmdef.h"

/* The absolute form of a path given on the command line (malloc'd): realpath(), or for a file
 * that does not exist (yet) the path joined to the working directory. */
static char *abs_path(const char *p)
{
    char *r = realpath(p, NULL);
    if (r || p[0] == '/')
        return r ? r : strdup(p);
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return strdup(p);
    size_t len = strlen(cwd) + strlen(p) + 2;
    r = malloc(len);
    if (r)
        snprintf(r, len, "%s/%s", cwd, p);
    free(cwd);
    return r;
}

/* Set f to the given path (made absolute); list a contradiction with the recorded one. */
static int given_file(struct vmdef_file *f, const char *given, const char *opt, const char *what,
                      bool have_def, struct vmdef_diffs *contra)
{
    char *p = given ? abs_path(given) : NULL;
    if (given && !p)
        return -ENOMEM;
    bool same = (!p && !f->path) || (p && f->path && !strcmp(p, f->path));
    if (have_def && !same) {
        if (p)
            vmdef_diffs_add(contra, "%s %s contradicts %s %s", opt, p, what,
                            f->path ? f->path : "(none)");
        else
            vmdef_diffs_add(contra, "%s contradicts %s %s", opt, what, f->path);
    }
    if (!same) {
        free(f->path);
        free(f->identity);
        f->path = p;
        f->identity = NULL;
        f->size = 0;
    } else {
        free(p);
    }
    return 0;
}

/* Split "PATH[,ro]" (virtio_blk_parse_spec's syntax; other options are refused there). */
static int disk_from_spec(const char *spec, char **path, bool *ro)
{
    size_t len = strlen(spec);
    *ro = len > 3 && !strcmp(spec + len - 3, ",ro");
    char *p = strndup(spec, *ro ? len - 3 : len);
    if (!p)
        return -ENOMEM;
    *path = abs_path(p);
    free(p);
    return *path ? 0 : -ENOMEM;
}

static int apply_disks(const struct vmdef *def, struct run_options *o, struct vmdef *c,
                       struct vmdef_diffs *contra)
{
    if (o->given & RUN_GIVEN_DISKS) {
        struct vmdef_disk disks[RUN_MAX_DISKS];
        memset(disks, 0, sizeof(disks));
        int rc = 0;
        for (unsigned int i = 0; i < o->nr_disks && !rc; i++)
            rc = disk_from_spec(o->disks[i], &disks[i].file.path, &disks[i].read_only);
        bool same = def && def->nr_disks == o->nr_disks;
        for (unsigned int i = 0; !rc && same && i < o->nr_disks; i++)
            same = !strcmp(disks[i].file.path, def->disks[i].file.path) &&
                   disks[i].read_only == def->disks[i].read_only;
        if (!rc && def && !same) {
            char had[512] = "", now[512] = "";
            size_t h = 0, n = 0;
            for (unsigned int i = 0; i < def->nr_disks && h < sizeof(had); i++)
                h += (size_t)snprintf(had + h, sizeof(had) - h, "%s%s%s", i ? " " : "",
                                      def->disks[i].file.path, def->disks[i].read_only ? ",ro" : "");
            for (unsigned int i = 0; i < o->nr_disks && n < sizeof(now); i++)
                n += (size_t)snprintf(now + n, sizeof(now) - n, "%s%s%s", i ? " " : "",
                                      disks[i].file.path, disks[i].read_only ? ",ro" : "");
            vmdef_diffs_add(contra, "--disk %s contradicts disks %s", now, had[0] ? had : "(none)");
        }
        if (rc || same) { /* same: keep the recorded entries (identities) */
            for (unsigned int i = 0; i < RUN_MAX_DISKS; i++)
                free(disks[i].file.path);
            if (rc)
                return rc;
        } else {
            for (unsigned int i = 0; i < RUN_MAX_DISKS; i++) {
                free(c->disks[i].file.path);
                free(c->disks[i].file.identity);
                free(c->disks[i].spec);
                c->disks[i] = disks[i];
            }
            c->nr_disks = o->nr_disks;
        }
    }
    /* The specs this run passes to the board, owned by c. */
    for (unsigned int i = 0; i < c->nr_disks; i++) {
        const struct vmdef_disk *d = &c->disks[i];
        size_t len = strlen(d->file.path) + 4;
        free(c->disks[i].spec);
        if (!(c->disks[i].spec = malloc(len)))
            return -ENOMEM;
        snprintf(c->disks[i].spec, len, "%s%s", d->file.path, d->read_only ? ",ro" : "");
        o->disks[i] = c->disks[i].spec;
    }
    o->nr_disks = c->nr_disks;
    return 0;
}

int vmdef_apply(const struct vmdef *def, struct run_options *o, struct vmdef *c,
                struct vmdef_diffs *contra, char *err, size_t errlen)
{
    int rc = def ? vmdef_copy(c, def) : (vmdef_init(c), 0);
    bool have = def != NULL;
    unsigned int g = o->given;
    if (!have) { /* a new VM: the command line defines it */
        c->cpus = o->cpus;
        c->max_cpus = o->max_cpus ? o->max_cpus : o->cpus;
        c->mem_mib = o->mem_mib;
        c->psci_version = o->psci_version;
        c->psci_mode = o->mode;
        c->psci_functions = vmdef_psci_functions(o->psci_version);
        c->ram_base = MEMMAP_RAM_BASE;
    }
    /* Boot source: a given --payload or --kernel replaces the recorded one. */
    if (!rc && (g & (RUN_GIVEN_PAYLOAD | RUN_GIVEN_KERNEL))) {
        rc = given_file(&c->payload, o->payload, "--payload", "boot.payload", have, contra);
        if (!rc)
            rc = given_file(&c->kernel, o->kernel, "--kernel", "boot.kernel", have, contra);
        if (!rc && !o->kernel && !(g & RUN_GIVEN_INITRD))
            rc = given_file(&c->initrd, NULL, "--payload", "boot.initrd", false, contra);
    }
    if (!rc && (g & RUN_GIVEN_INITRD))
        rc = given_file(&c->initrd, o->initrd, "--initrd", "boot.initrd", have, contra);
    if (!rc && (g & RUN_GIVEN_CMDLINE) && (!c->cmdline || strcmp(c->cmdline, o->cmdline))) {
        if (have)
            vmdef_diffs_add(contra, "--cmdline \"%s\" contradicts boot.cmdline \"%s\"",
                            o->cmdline, c->cmdline ? c->cmdline : "");
        free(c->cmdline);
        if (!(c->cmdline = strdup(o->cmdline)))
            rc = -ENOMEM;
    }
    if (!rc && c->kernel.path && !c->cmdline && !(c->cmdline = strdup(RUN_DEFAULT_KERNEL_CMDLINE)))
        rc = -ENOMEM;
    if (rc) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    if (have && (g & RUN_GIVEN_CPUS)) {
        if (o->cpus != c->cpus)
            vmdef_diffs_add(contra, "--cpus %u contradicts vcpus.count %u", o->cpus, c->cpus);
        if (!(g & RUN_GIVEN_MAX_CPUS) && c->max_cpus == c->cpus)
            c->max_cpus = o->cpus; /* no pluggable vCPUs: the maximum follows */
        c->cpus = o->cpus;
    }
    if (have && (g & RUN_GIVEN_MAX_CPUS)) {
        if (o->max_cpus != c->max_cpus)
            vmdef_diffs_add(contra, "--max-cpus %u contradicts vcpus.max %u", o->max_cpus,
                            c->max_cpus);
        c->max_cpus = o->max_cpus;
    }
    if (have && c->max_cpus != c->nr_mpidrs)
        c->nr_mpidrs = 0; /* a different vCPU count: the machine says which MPIDRs */
    if (have && (g & RUN_GIVEN_MEM)) {
        if (o->mem_mib != c->mem_mib)
            vmdef_diffs_add(contra, "--mem %" PRIu64 " contradicts memory.mib %" PRIu64,
                            o->mem_mib, c->mem_mib);
        c->mem_mib = o->mem_mib;
    }
    if (have && (g & RUN_GIVEN_PSCI)) {
        if (o->psci_version != c->psci_version)
            vmdef_diffs_add(contra, "--psci %s contradicts psci.version %s",
                            psci_version_name(o->psci_version),
                            psci_version_name(c->psci_version));
        c->psci_version = o->psci_version;
        c->psci_functions = vmdef_psci_functions(o->psci_version);
    }
    if (have && (g & RUN_GIVEN_MODE)) {
        if (o->mode != c->psci_mode)
            vmdef_diffs_add(contra, "--psci-mode %s contradicts psci.mode %s",
                            psci_mode_name(o->mode), psci_mode_name(c->psci_mode));
        c->psci_mode = o->mode;
    }
    rc = apply_disks(have ? def : NULL, o, c, contra);
    if (rc) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    /* The run's options now describe the candidate. */
    o->payload = c->payload.path;
    o->kernel = c->kernel.path;
    o->initrd = c->initrd.path;
    o->cmdline = c->cmdline;
    o->cpus = c->cpus;
    o->max_cpus = c->max_cpus;
    o->mem_mib = c->mem_mib;
    o->psci_version = c->psci_version;
    o->psci_explicit = have || (g & RUN_GIVEN_PSCI); /* a VM's version is pinned */
    o->mode = c->psci_mode;
    return 0;
}
