/* vm.c — a machine run with --vm DIR (docs/run.md "VMs that keep their definition"): the
 * definition completed from the built machine and written to DIR/vm.json, a hibernated VM
 * compared with its record before it may run (every difference listed), and at the end the
 * hibernation record written (SYSTEM_OFF2) or cleared (SYSTEM_OFF). Portable: the files are
 * src/vmm/vmdir.c's, identities machine_disk_identity's (snapshot.c), the machine hv.h's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "machine/machine.h"
#include "machine/snapshot.h"
#include "vmm/exit_status.h"
#include "vmm/vmdir.h"

#ifndef PSCIVM_VERSION
#define PSCIVM_VERSION "unknown"
#endif
#define WRITER "pscivm " PSCIVM_VERSION

/* f's size and identity from the file (fd when >= 0, else its path). */
static int identify(struct vmdef_file *f, int fd)
{
    if (!f->path)
        return 0;
    char id[200], msg[200];
    uint64_t size = 0;
    int rc = machine_disk_identity(fd, f->path, id, sizeof(id), &size, msg, sizeof(msg));
    if (rc) {
        snprintf(id, sizeof(id), "(missing: %s)", strerror(-rc));
        size = 0;
    }
    char *copy = strdup(id);
    if (!copy)
        return -ENOMEM;
    free(f->identity);
    f->identity = copy;
    f->size = size;
    return 0;
}

int machine_vm_identify(struct vmdef *d)
{
    int rc = identify(&d->payload, -1);
    if (!rc)
        rc = identify(&d->kernel, -1);
    if (!rc)
        rc = identify(&d->initrd, -1);
    for (unsigned int i = 0; !rc && i < d->nr_disks; i++)
        rc = identify(&d->disks[i].file, -1);
    return rc;
}

int machine_vm_precheck(struct vm_dir *vd, struct vmdef_diffs *diffs, char *err, size_t errlen)
{
    if (!vd->hibernated)
        return 0;
    if (machine_vm_identify(&vd->cand)) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return vmdef_diff(&vd->hib.machine, &vd->cand, true, diffs) ? -ESTALE : 0;
}

/* The candidate's machine-given parts from the built machine. */
static int fill_from_machine(struct machine *m, struct vmdef *d)
{
    d->cpus = m->opts.cpus;
    d->max_cpus = m->hv.nr_vcpus;
    d->nr_mpidrs = m->hv.nr_vcpus <= MEMMAP_MAX_VCPUS ? m->hv.nr_vcpus : MEMMAP_MAX_VCPUS;
    memcpy(d->mpidrs, m->hv.mpidrs, d->nr_mpidrs * sizeof(d->mpidrs[0]));
    d->ram_base = m->mem.base;
    d->mem_mib = m->mem.size >> 20;
    d->psci_version = m->opts.psci_version;
    d->nr_devices = 0;
    for (unsigned int i = 0; i < m->nr_devices && i < VMDEF_MAX_DEVICES; i++) {
        const struct device *dev = &m->devices[i];
        struct vmdef_device *e = &d->devices[d->nr_devices++];
        snprintf(e->name, sizeof(e->name), "%s", dev->name);
        snprintf(e->type, sizeof(e->type), "%s", dev->ops->type);
        e->base = dev->base;
        e->size = dev->size;
        e->spi = dev->spi;
    }
    int rc = identify(&d->payload, -1);
    if (!rc)
        rc = identify(&d->kernel, -1);
    if (!rc)
        rc = identify(&d->initrd, -1);
    for (unsigned int i = 0; !rc && i < d->nr_disks; i++)
        rc = identify(&d->disks[i].file, i < m->nr_disks_ready ? m->disks[i].fd : -1);
    return rc;
}

int machine_vm_prepare(struct machine *m, struct vmdef_diffs *diffs, char *err, size_t errlen)
{
    struct vm_dir *vd = m->vm;
    struct vmdef *c = &vd->cand;
    char a[96], b[96];
    /* What the definition offers is what the VM's guest has seen: a function set this version
     * does not come with (a hand-edited file) cannot be honoured in either mode. */
    uint32_t offered = vmdef_psci_functions(m->opts.psci_version);
    uint32_t wanted = vd->has_def && !m->opts.update ? vd->def.psci_functions : offered;
    if (wanted != offered && !(vd->hibernated && !m->opts.discard_hibernation)) {
        snprintf(err, errlen, "%s/%s: psci.functions: the VM offers %s; pscivm offers %s with "
                 "PSCI %s in %s mode (the function set follows the version): refusing to "
                 "start rather than change the guest's firmware", vd->path, VMDIR_DEF,
                 vmdef_psci_functions_text(wanted, a, sizeof(a)),
                 vmdef_psci_functions_text(offered, b, sizeof(b)),
                 psci_version_name(m->opts.psci_version), psci_mode_name(m->mode));
        return -EOPNOTSUPP;
    }
    c->psci_functions = offered;
    if (fill_from_machine(m, c)) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (vd->hibernated && !m->opts.discard_hibernation) {
        if (vmdef_diff(&vd->hib.machine, c, true, diffs))
            return -ESTALE;
        m->vm_hib = MACHINE_VM_RESUME;
    } else if (vd->hibernated) {
        m->vm_discarded_time = vd->hib.time;
        int rc = vm_dir_clear_hibernation(vd, err, errlen);
        if (rc)
            return rc;
        m->vm_hib = MACHINE_VM_DISCARDED;
    }
    return vm_dir_write_def(vd, c, WRITER, err, errlen);
}

static void time_text(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
}

int machine_vm_finish(struct machine *m, char *err, size_t errlen)
{
    struct vm_dir *vd = m->vm;
    if (m->exit_status == PSCIVM_EXIT_OFF && vd->hibernated) {
        int rc = vm_dir_clear_hibernation(vd, err, errlen);
        if (rc)
            return rc;
        struct json_object *f = fields_new();
        field_str(f, "dir", vd->path);
        field_str(f, "reason", "SYSTEM_OFF");
        machine_emit(m, "hibernation_cleared", -1, f);
        return 0;
    }
    if (m->exit_status != PSCIVM_EXIT_HIBERNATE)
        return 0;
    /* The guest wrote its image and stopped: the identities now are the ones its resume needs. */
    struct vm_hibernation h;
    vm_hibernation_init(&h);
    int rc = vmdef_copy(&h.machine, &vd->cand);
    if (!rc)
        rc = fill_from_machine(m, &h.machine);
    if (rc) {
        vm_hibernation_release(&h);
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    h.time = (int64_t)time(NULL);
    h.type_read = m->off2_type != MACHINE_OFF2_TYPE_UNKNOWN;
    h.type = h.type_read ? (uint32_t)m->off2_type : 0;
    snprintf(h.host_kernel, sizeof(h.host_kernel), "%s", m->host.release);
    h.mode = m->mode;
    rc = vm_dir_write_hibernation(vd, &h, WRITER, err, errlen);
    if (!rc) {
        char when[32];
        time_text(h.time, when, sizeof(when));
        struct json_object *f = fields_new();
        field_str(f, "dir", vd->path);
        field_str(f, "time", when);
        if (h.type_read)
            field_int(f, "off2_type", h.type);
        else
            field_bool(f, "off2_type_read", false);
        machine_emit(m, "hibernation_recorded", -1, f);
    }
    vm_hibernation_release(&h);
    return rc;
}
