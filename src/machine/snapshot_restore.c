/* snapshot_restore.c — loading a snapshot into a machine freshly built from its CONF
 * (host.c builds it; snapshot.h has the contract), in this order: the configuration checked
 * against the machine, guest RAM, then per vCPU the counter (before the timer registers, so
 * that no timer fires against a wrong counter), every register and the MP state; the counter
 * again (older hosts move it when CNTVCT is replayed), the interrupt controller, the PSCI core
 * (user mode) and the vCPU threads' states derived from it, the wake-up of vCPUs saved while
 * suspended (SUSP), and last the devices (which drive
 * their interrupt lines to the restored levels). Nothing runs until machine_run. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine/machine.h"
#include "machine/snapshot.h"
#include "snapshot/config.h"
#include "snapshot/ram.h"
#include "snapshot/sections.h"
#include "vmm/memmap.h"

int machine_snapshot_check_disks(const struct snapshot_config *c, char *err, size_t errlen)
{
    for (unsigned int i = 0; i < c->nr_disks; i++) {
        const struct snapshot_config_disk *d = &c->disks[i];
        char id[160];
        uint64_t size = 0;
        char msg[256];
        if (machine_disk_identity(-1, d->path, id, sizeof(id), &size, msg, sizeof(msg))) {
            snprintf(err, errlen, "the snapshot's disk %u is gone: %s", i, msg);
            return -ENOENT;
        }
        if (size != d->size || strcmp(id, d->identity)) {
            snprintf(err, errlen, "the snapshot's disk %u (%s) changed since it was saved "
                     "(saved: %s; now: %s): restoring would corrupt the guest's file system",
                     i, d->path, d->identity, id);
            return -ESTALE;
        }
    }
    return 0;
}

int machine_snapshot_check_boot(const struct snapshot_config *c, char *err, size_t errlen)
{
    if (!c->payload && !c->kernel) {
        snprintf(err, errlen, "the snapshot does not name the files the guest booted from: "
                 "it cannot reboot after this restore");
        return -ENOENT;
    }
    const char *files[][3] = {{"payload", c->payload, c->payload_identity},
                              {"kernel", c->kernel, c->kernel_identity},
                              {"initrd", c->initrd, c->initrd_identity}};
    for (unsigned int i = 0; i < 3; i++) {
        if (!files[i][1])
            continue;
        char id[160], msg[256];
        uint64_t size;
        if (machine_disk_identity(-1, files[i][1], id, sizeof(id), &size, msg, sizeof(msg))) {
            snprintf(err, errlen, "the guest cannot reboot after this restore: its %s %s is "
                     "gone", files[i][0], files[i][1]);
            return -ENOENT;
        }
        if (strcmp(id, files[i][2])) {
            snprintf(err, errlen, "the guest cannot reboot after this restore: its %s %s "
                     "changed since the save (saved: %s; now: %s)", files[i][0], files[i][1],
                     files[i][2], id);
            return -ESTALE;
        }
    }
    return 0;
}

/* The machine built from CONF must be the one the snapshot describes. */
static int check_config(struct machine *m, const struct snapshot_config *c, char *err,
                        size_t errlen)
{
    if (c->nr_vcpus != m->hv.nr_vcpus) {
        snprintf(err, errlen, "the snapshot has %u vCPUs, this machine %u", c->nr_vcpus,
                 m->hv.nr_vcpus);
        return -EINVAL;
    }
    for (unsigned int i = 0; i < c->nr_vcpus; i++)
        if (c->mpidrs[i] != m->hv.mpidrs[i]) {
            snprintf(err, errlen, "vCPU %u: MPIDR 0x%" PRIx64 " in the snapshot, 0x%" PRIx64
                     " on this host", i, c->mpidrs[i], m->hv.mpidrs[i]);
            return -EINVAL;
        }
    if (c->ram_base != m->mem.base || c->ram_size != m->mem.size) {
        snprintf(err, errlen, "the snapshot's RAM (0x%" PRIx64 ", %" PRIu64 " MiB) is not this "
                 "machine's", c->ram_base, c->ram_size >> 20);
        return -EINVAL;
    }
    if (c->nr_devices != m->nr_devices) {
        snprintf(err, errlen, "the snapshot has %u devices, this machine %u", c->nr_devices,
                 m->nr_devices);
        return -EINVAL;
    }
    for (unsigned int i = 0; i < c->nr_devices; i++) {
        const struct snapshot_config_device *cd = &c->devices[i];
        const struct device *d = &m->devices[i];
        if (strcmp(cd->name, d->name) || strcmp(cd->type, d->ops->type) || cd->base != d->base ||
            cd->size != d->size || cd->spi != d->spi) {
            snprintf(err, errlen, "device %u: %s (%s) at 0x%" PRIx64 " in the snapshot, %s (%s) "
                     "at 0x%" PRIx64 " here", i, cd->name, cd->type, cd->base, d->name,
                     d->ops->type, d->base);
            return -EINVAL;
        }
    }
    return 0;
}

static bool all_zero(const uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Registers refused, collected for one message. */
struct refusals {
    unsigned int n;
    char text[320];
};

static void refuse(struct machine *m, struct refusals *rf, unsigned int vcpu, uint64_t id,
                   const char *why)
{
    size_t len = strlen(rf->text);
    char name[48] = "";
    if (m->hv.ops->reg_name)
        m->hv.ops->reg_name(m->hv.opaque, id, name, sizeof(name));
    if (rf->n < 4 && len < sizeof(rf->text) - 1)
        snprintf(rf->text + len, sizeof(rf->text) - len, "%svCPU %u %s%s0x%016" PRIx64 "%s (%s)",
                 rf->n ? ", " : "", vcpu, name, name[0] ? " (" : "", id, name[0] ? ")" : "",
                 why);
    rf->n++;
}

static bool listed(const struct hv_reg_desc *regs, unsigned int n, uint64_t id)
{
    for (unsigned int k = 0; k < n; k++)
        if (regs[k].id == id)
            return true;
    return false;
}

static int restore_vcpu(struct machine *m, struct snapshot_reader *r, unsigned int i,
                        uint64_t counter, struct refusals *rf, char *err, size_t errlen)
{
    char key[16];
    snprintf(key, sizeof(key), "%u", i);
    const struct snapshot_section *s = snapshot_reader_find_key(r, "VCPU", key);
    if (!s) {
        snprintf(err, errlen, "the snapshot has no state for vCPU %u", i);
        return -EINVAL;
    }
    const uint8_t *p;
    size_t len;
    struct snapshot_vcpu v;
    int rc = snapshot_reader_load(r, s, &p, &len, err, errlen);
    if (!rc)
        rc = snapshot_vcpu_parse(p, len, &v, err, errlen);
    if (rc)
        return rc;
    if (v.mp_state > HV_MP_SUSPENDED) {
        snprintf(err, errlen, "vCPU %u: MP state %u is not one pscivm saves", i, v.mp_state);
        return -EINVAL;
    }
    struct hv_reg_desc *regs = NULL;
    unsigned int n = 0;
    rc = m->hv.ops->reg_list(m->hv.opaque, i, &regs, &n);
    if (rc) {
        snprintf(err, errlen, "vCPU %u: listing its registers: %s", i, strerror(-rc));
        return rc;
    }
    /* The counter first: timer compare values then meet the counter they were set against. */
    rc = m->hv.ops->set_reg(m->hv.opaque, i, HV_REG_CNTVCT, counter);
    if (rc) {
        snprintf(err, errlen, "setting the guest's counter: %s", strerror(-rc));
        free(regs);
        return rc;
    }
    /* User mode: pscivm answers PSCI; KVM's own PSCI version register is not the guest's. */
    uint64_t psci_id = m->mode == PSCI_MODE_USER
                           ? m->hv.ops->reg_id(m->hv.opaque, HV_REG_PSCI_VERSION) : 0;
    /* Two passes: the first writes what this host lists (ID registers first, in id order);
     * writing the saved ID registers can make registers of the features they describe visible
     * (KVM lists a feature's registers only when the vCPU has it), so the host's list is read
     * again, and the second pass takes the registers the first one could not place. */
    struct snapshot_record rec;
    uint8_t cur[SNAPSHOT_MAX_REG_SIZE];
    struct hv_reg_desc *later = NULL; /* the list read after the first pass */
    unsigned int nlater = 0;
    bool deferred = false;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        struct snapshot_records it = v.regs;
        if (pass == 1) {
            if (!deferred)
                break;
            rc = m->hv.ops->reg_list(m->hv.opaque, i, &later, &nlater);
            if (rc) {
                snprintf(err, errlen, "vCPU %u: listing its registers: %s", i, strerror(-rc));
                break;
            }
        }
        while (snapshot_records_next(&it, &rec)) {
            if (psci_id && rec.id == psci_id)
                continue;
            bool first_list = listed(regs, n, rec.id);
            if (pass == 0 && !first_list) {
                deferred = true;
                continue;
            }
            if (pass == 1 && first_list)
                continue; /* done in the first pass */
            if (pass == 1 && !listed(later, nlater, rec.id)) {
                /* Unknown here: fine if the guest never wrote it (the value the source host
                 * gave it at reset; the feature it belongs to is then unused). */
                bool untouched = m->hv.ops->reg_untouched
                                     ? m->hv.ops->reg_untouched(m->hv.opaque, rec.id, rec.data,
                                                                rec.size)
                                     : all_zero(rec.data, rec.size);
                if (!untouched)
                    refuse(m, rf, i, rec.id, "unknown to this host, written by the guest");
                continue;
            }
            int src = m->hv.ops->reg_set_raw(m->hv.opaque, i, rec.id, rec.data, rec.size);
            if (src == 0)
                continue;
            /* Refused: fine if the target holds that value anyway (a read-only ID register), or
             * one that differs only in what a guest without EL2 cannot use. */
            if (m->hv.ops->reg_get_raw(m->hv.opaque, i, rec.id, cur, rec.size) == 0 &&
                (memcmp(cur, rec.data, rec.size) == 0 ||
                 (m->hv.ops->reg_same_for_guest &&
                  m->hv.ops->reg_same_for_guest(m->hv.opaque, rec.id, cur, rec.data, rec.size))))
                continue;
            refuse(m, rf, i, rec.id, strerror(-src));
        }
    }
    free(later);
    if (rc) {
        free(regs);
        return rc;
    }
    free(regs);
    rc = m->hv.ops->set_mp_state(m->hv.opaque, i, (enum hv_mp_state)v.mp_state);
    if (rc)
        snprintf(err, errlen, "vCPU %u: setting its MP state: %s", i, strerror(-rc));
    return rc;
}

static int restore_irqchip(struct machine *m, struct snapshot_reader *r, char *err,
                           size_t errlen)
{
    const struct snapshot_section *s = snapshot_reader_find(r, "VGIC", 0);
    if (!s) {
        snprintf(err, errlen, "the snapshot has no interrupt controller state (VGIC)");
        return -EINVAL;
    }
    const uint8_t *p;
    size_t len;
    struct snapshot_records it;
    int rc = snapshot_reader_load(r, s, &p, &len, err, errlen);
    if (!rc)
        rc = snapshot_vgic_parse(p, len, &it, err, errlen);
    if (rc)
        return rc;
    struct hv_blob *blobs = calloc(it.count ? it.count : 1, sizeof(*blobs));
    if (!blobs)
        return -ENOMEM;
    struct snapshot_record rec;
    unsigned int n = 0;
    while (n < it.count && snapshot_records_next(&it, &rec))
        blobs[n++] = (struct hv_blob){rec.id, rec.size, rec.data};
    rc = m->hv.ops->irqchip_restore(m->hv.opaque, blobs, n, err, errlen);
    free(blobs);
    return rc;
}

static uint64_t restore_clock_ns(void *opaque)
{
    (void)opaque;
    return events_monotonic_ns();
}

/* User mode: the PSCI core from its image; the vCPU threads start as the core sees them. */
static int restore_psci_user(struct machine *m, struct snapshot_reader *r, char *err,
                             size_t errlen)
{
    struct psci_machine loaded;
    int rc = snapshot_psci_load(r, &loaded, err, errlen);
    if (rc)
        return rc;
    for (unsigned int i = 0; i < m->hv.nr_vcpus && !rc; i++) {
        struct psci_vcpu_info info;
        rc = psci_vcpu_get_info(&loaded, i, &info);
        if (rc || info.mpidr != m->hv.mpidrs[i]) {
            snprintf(err, errlen, "the PSCI state does not describe this machine's vCPU %u", i);
            rc = -EINVAL;
        }
    }
    if (!rc)
        rc = psci_machine_set_clock(&loaded, restore_clock_ns, NULL);
    if (rc) {
        if (!err[0])
            snprintf(err, errlen, "PSCI state: %s", strerror(-rc));
        psci_machine_release(&loaded);
        return rc;
    }
    pthread_mutex_lock(&m->lock);
    if (m->psci_ready)
        psci_machine_release(&m->psci);
    m->psci = loaded;
    m->psci_ready = true;
    for (unsigned int i = 0; i < m->hv.nr_vcpus && !rc; i++) {
        struct vcpu_ctl *v = &m->vcpus[i];
        struct psci_vcpu_info info;
        psci_vcpu_get_info(&m->psci, i, &info);
        v->start_pending = false;
        v->state = VCPU_PARKED;
        if (info.state == PSCI_CPU_ON) {
            v->state = VCPU_RUNNING;
        } else if (info.state == PSCI_CPU_ON_PENDING) {
            struct psci_action a;
            rc = psci_vcpu_pending_action(&m->psci, i, &a);
            v->start_pending = true;
            v->start_is_cpu_on = true;
            v->start_entry = a.entry;
            v->start_context = a.context;
        } else if (info.state == PSCI_CPU_SUSPENDED) {
            v->state = VCPU_SUSPENDED; /* restore_wake_suspended() wakes it, or refuses */
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Kernel mode: KVM's PSCI holds the power states; every thread runs, observing. */
static int restore_threads_kernel(struct machine *m, char *err, size_t errlen)
{
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
        enum hv_mp_state mp;
        int rc = m->hv.ops->get_mp_state(m->hv.opaque, i, &mp);
        if (rc) {
            snprintf(err, errlen, "vCPU %u: reading its MP state: %s", i, strerror(-rc));
            return rc;
        }
        m->vcpus[i].state = VCPU_RUNNING;
        m->vcpus[i].start_pending = false;
        m->vcpus[i].kmode_on = mp != HV_MP_STOPPED;
    }
    return 0;
}

/* The vCPUs the snapshot holds suspended (SUSP) are woken now, the way their suspend resumes
 * (PSCI allows a wake-up at any time): power-down and SYSTEM_SUSPEND at entry with context,
 * standby after its call. vm_start then reports wakeup with source "restore". */
static int restore_wake_suspended(struct machine *m, struct snapshot_reader *r, char *err,
                                  size_t errlen)
{
    struct snapshot_suspended *susp = NULL;
    unsigned int n = 0;
    int rc = 0;
    const struct snapshot_section *s = snapshot_reader_find(r, SNAPSHOT_TAG_SUSPEND, 0);
    if (s) {
        const uint8_t *p;
        size_t len;
        susp = calloc(m->hv.nr_vcpus, sizeof(*susp));
        if (!susp) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        rc = snapshot_reader_load(r, s, &p, &len, err, errlen);
        if (!rc)
            rc = snapshot_suspend_parse(p, len, m->hv.nr_vcpus, susp, m->hv.nr_vcpus, &n, err,
                                        errlen);
    }
    /* User mode: the PSCI core and SUSP must agree on who is suspended. */
    for (unsigned int i = 0; !rc && m->mode == PSCI_MODE_USER && i < m->hv.nr_vcpus; i++) {
        bool listed = false;
        for (unsigned int k = 0; k < n; k++)
            listed |= susp[k].vcpu == i;
        if (listed != (m->vcpus[i].state == VCPU_SUSPENDED)) {
            snprintf(err, errlen, "vCPU %u: the PSCI state says %s, section 'SUSP' says %s", i,
                     listed ? "not suspended" : "suspended", listed ? "suspended" : "not");
            rc = -EINVAL;
        }
    }
    for (unsigned int k = 0; !rc && k < n; k++) {
        const struct snapshot_suspended *e = &susp[k];
        struct vcpu_ctl *v = &m->vcpus[e->vcpu];
        if (e->kind != SNAPSHOT_SUSPEND_STANDBY) {
            rc = m->hv.ops->vcpu_start_at(m->hv.opaque, e->vcpu, e->entry, e->context);
        } else {
            rc = m->hv.ops->set_mp_state(m->hv.opaque, e->vcpu, HV_MP_RUNNABLE);
        }
        if (rc) {
            snprintf(err, errlen, "vCPU %u: waking it from its suspend: %s", e->vcpu,
                     strerror(-rc));
            break;
        }
        pthread_mutex_lock(&m->lock);
        if (m->mode == PSCI_MODE_USER)
            psci_cpu_woken(&m->psci, e->vcpu);
        v->state = VCPU_RUNNING;
        v->woken_by_restore = e->kind == SNAPSHOT_SUSPEND_SYSTEM ? VCPU_RESUME_SYSTEM
                              : e->kind == SNAPSHOT_SUSPEND_POWERDOWN ? VCPU_RESUME_POWERDOWN
                                                                      : VCPU_RESUME_STANDBY;
        v->resume_entry = e->entry;
        v->resume_context = e->context;
        pthread_mutex_unlock(&m->lock);
    }
    free(susp);
    return rc;
}

static int restore_ram(struct machine *m, struct snapshot_reader *r, char *err, size_t errlen)
{
    struct snapshot_ram_info info;
    int rc = snapshot_ram_info(r, &info, err, errlen);
    if (rc)
        return rc;
    if (info.encoding == SNAPSHOT_RAM_RAW && r->fd >= 0 &&
        snapshot_ram_map(r, m->mem.host, m->mem.size, err, errlen) == 0)
        return 0; /* raw: pages are read on first touch */
    return snapshot_ram_fill(r, m->mem.host, m->mem.size, err, errlen);
}

int machine_snapshot_restore(struct machine *m, struct snapshot_reader *r, char *err,
                             size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!machine_snapshot_supported(m)) {
        snprintf(err, errlen, "this hypervisor backend cannot restore snapshots");
        return -EOPNOTSUPP;
    }
    struct snapshot_config c;
    int rc = snapshot_config_load(r, &c, err, errlen);
    if (!rc)
        rc = check_config(m, &c, err, errlen);
    snapshot_config_release(&c);
    if (rc)
        return rc;
    const struct snapshot_section *cs = snapshot_reader_find(r, "CNTR", 0);
    struct snapshot_counter cn;
    const uint8_t *p;
    size_t len;
    if (!cs) {
        snprintf(err, errlen, "the snapshot has no counter state (CNTR)");
        return -EINVAL;
    }
    rc = snapshot_reader_load(r, cs, &p, &len, err, errlen);
    if (!rc)
        rc = snapshot_counter_parse(p, len, &cn, err, errlen);
    if (!rc)
        rc = restore_ram(m, r, err, errlen);
    if (rc)
        return rc;

    struct refusals rf = {0};
    for (unsigned int i = 0; i < m->hv.nr_vcpus && !rc; i++)
        rc = restore_vcpu(m, r, i, cn.cntvct, &rf, err, errlen);
    if (!rc && rf.n) {
        snprintf(err, errlen, "%u register(s) of the snapshot cannot be given to this host's "
                 "vCPUs: %s%s", rf.n, rf.text, rf.n > 4 ? ", ..." : "");
        rc = -EOPNOTSUPP;
    }
    if (!rc)
        rc = restore_irqchip(m, r, err, errlen);
    if (!rc) {
        rc = m->hv.ops->set_reg(m->hv.opaque, 0, HV_REG_CNTVCT, cn.cntvct);
        if (rc)
            snprintf(err, errlen, "setting the guest's counter: %s", strerror(-rc));
    }
    if (!rc)
        rc = m->mode == PSCI_MODE_USER ? restore_psci_user(m, r, err, errlen)
                                       : restore_threads_kernel(m, err, errlen);
    if (!rc)
        rc = restore_wake_suspended(m, r, err, errlen);
    for (unsigned int i = 0; i < m->nr_devices && !rc; i++) {
        rc = snapshot_device_restore(r, &m->devices[i], err, errlen);
        if (rc == -ENOENT)
            snprintf(err, errlen, "the snapshot has no state for device %s", m->devices[i].name);
    }
    if (rc)
        return rc;
    pthread_mutex_lock(&m->lock);
    m->restored = true;
    m->counter_at_pause = cn.cntvct; /* a restore that starts paused resumes from here */
    pthread_mutex_unlock(&m->lock);
    return 0;
}

int machine_snapshot_run_options(const struct snapshot_config *c, const struct run_options *side,
                                 struct run_options *out, char *err, size_t errlen)
{
    *out = *side;
    out->payload = out->kernel = out->initrd = NULL;
    out->nr_disks = 0;
    out->nr_deny_cpu_on = 0;
    if (c->nr_vcpus == 0 || c->nr_vcpus > MEMMAP_MAX_VCPUS) {
        snprintf(err, errlen, "the snapshot has %u vCPUs; pscivm runs 1 to %d", c->nr_vcpus,
                 MEMMAP_MAX_VCPUS);
        return -EINVAL;
    }
    out->cpus = out->max_cpus = c->nr_vcpus;
    uint64_t mib = c->ram_size >> 20;
    if (c->ram_base != MEMMAP_RAM_BASE || c->ram_size != mib << 20 || mib < RUN_MIN_MEM_MIB ||
        mib > RUN_MAX_MEM_MIB) {
        snprintf(err, errlen, "the snapshot's RAM (0x%" PRIx64 ", %" PRIu64 " bytes) is not a "
                 "layout pscivm builds", c->ram_base, c->ram_size);
        return -EINVAL;
    }
    out->mem_mib = mib;
    out->psci_version = c->psci_version;
    out->psci_explicit = true;
    out->mode = strcmp(c->psci_mode, "kernel") ? PSCI_MODE_USER : PSCI_MODE_KERNEL;
    out->cmdline = c->cmdline;
    out->payload = c->payload; /* opened only if the guest reboots */
    out->kernel = c->kernel;
    out->initrd = c->initrd;
    if (c->nr_disks > RUN_MAX_DISKS) {
        snprintf(err, errlen, "the snapshot has %u disks; pscivm attaches at most %d",
                 c->nr_disks, RUN_MAX_DISKS);
        return -EINVAL;
    }
    for (unsigned int i = 0; i < c->nr_disks; i++) {
        const struct snapshot_config_disk *d = &c->disks[i];
        size_t len = strlen(d->path) + 4;
        char *spec = malloc(len);
        if (!spec) {
            machine_snapshot_run_options_release(out);
            return -ENOMEM;
        }
        snprintf(spec, len, "%s%s", d->path, d->read_only ? ",ro" : "");
        out->disks[out->nr_disks++] = spec;
    }
    return 0;
}

void machine_snapshot_run_options_release(struct run_options *o)
{
    for (unsigned int i = 0; i < o->nr_disks; i++)
        free((char *)o->disks[i]);
    o->nr_disks = 0;
}
