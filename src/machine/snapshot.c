/* snapshot.c — saving a machine to a snapshot file (docs/snapshot.md): the QMP operation
 * snapshot-save (pause through the barrier, write, then continue / stay paused / quit) and the
 * writer's walk over the machine in the file's order — HEAD, CONF (with the disks' identities),
 * every vCPU's registers as the hypervisor lists them and its MP state, the interrupt
 * controller, the counter, the PSCI core (user mode), every device of the board table, guest
 * RAM — into a temporary file committed atomically (snapshot_file_*). Restoring is
 * snapshot_restore.c. Portable: the hypervisor's state comes through hv.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "machine/machine.h"
#include "machine/snapshot.h"
#include "snapshot/config.h"
#include "snapshot/file.h"
#include "snapshot/ram.h"
#include "snapshot/sections.h"
#include "vmm/exit_status.h"

#ifndef PSCIVM_VERSION
#define PSCIVM_VERSION "unknown"
#endif

bool machine_snapshot_supported(const struct machine *m)
{
    const struct hv_ops *o = m->hv.ops;
    return o->reg_list && o->reg_get_raw && o->reg_set_raw && o->reg_id && o->vcpu_complete &&
           o->irqchip_save && o->irqchip_restore;
}

int machine_disk_identity(int fd, const char *path, char *out, size_t outlen, uint64_t *size,
                          char *err, size_t errlen)
{
    struct stat st;
    if ((fd >= 0 ? fstat(fd, &st) : stat(path, &st)) < 0) {
        int e = errno;
        snprintf(err, errlen, "disk %s: %s", path, strerror(e));
        return -e;
    }
    *size = (uint64_t)st.st_size;
    snprintf(out, outlen, "size=%" PRIu64 ",mtime=%lld.%09ld,ino=%llu", (uint64_t)st.st_size,
             (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (unsigned long long)st.st_ino);
    return 0;
}

/* CONF: what a restore rebuilds the machine from. Disks are referenced with an identity. */
static int build_config(struct machine *m, struct snapshot_config *c, char *err, size_t errlen)
{
    snapshot_config_init(c);
    c->nr_vcpus = m->hv.nr_vcpus;
    c->mpidrs = calloc(c->nr_vcpus, sizeof(*c->mpidrs));
    c->devices = calloc(m->nr_devices ? m->nr_devices : 1, sizeof(*c->devices));
    c->disks = calloc(m->opts.nr_disks ? m->opts.nr_disks : 1, sizeof(*c->disks));
    if (!c->mpidrs || !c->devices || !c->disks)
        return -ENOMEM;
    memcpy(c->mpidrs, m->hv.mpidrs, c->nr_vcpus * sizeof(*c->mpidrs));
    c->ram_base = m->mem.base;
    c->ram_size = m->mem.size;
    c->psci_version = m->opts.psci_version;
    snprintf(c->psci_mode, sizeof(c->psci_mode), "%s", psci_mode_name(m->mode));
    c->nr_devices = m->nr_devices;
    for (unsigned int i = 0; i < m->nr_devices; i++) {
        const struct device *d = &m->devices[i];
        struct snapshot_config_device *cd = &c->devices[i];
        snprintf(cd->name, sizeof(cd->name), "%s", d->name);
        snprintf(cd->type, sizeof(cd->type), "%s", d->ops->type);
        cd->base = d->base;
        cd->size = d->size;
        cd->spi = d->spi;
    }
    for (unsigned int i = 0; i < m->opts.nr_disks && i < m->nr_disks_ready; i++) {
        struct snapshot_config_disk *cd = &c->disks[i];
        char *path = NULL;
        bool ro = false;
        int rc = virtio_blk_parse_spec(m->opts.disks[i], &path, &ro, err, errlen);
        if (rc)
            return rc;
        char id[160];
        rc = machine_disk_identity(m->disks[i].fd, path, id, sizeof(id), &cd->size, err, errlen);
        cd->path = path;
        cd->read_only = ro;
        c->nr_disks = i + 1;
        if (rc)
            return rc;
        cd->identity = strdup(id);
        if (!cd->identity)
            return -ENOMEM;
    }
    if (m->opts.cmdline && !(c->cmdline = strdup(m->opts.cmdline)))
        return -ENOMEM;
    /* The boot files, for a reboot after a restore (a restore of a restore records them again
     * if they still match). One missing file: none recorded, the restored guest cannot
     * reboot, which is not a reason to refuse the save. */
    const char *files[] = {m->opts.payload, m->opts.kernel, m->opts.initrd};
    char **paths[] = {&c->payload, &c->kernel, &c->initrd};
    char **ids[] = {&c->payload_identity, &c->kernel_identity, &c->initrd_identity};
    bool ok = !m->boot_unavailable[0];
    for (unsigned int i = 0; i < 3 && ok; i++) {
        char id[160], msg[256];
        uint64_t size;
        if (!files[i])
            continue;
        ok = machine_disk_identity(-1, files[i], id, sizeof(id), &size, msg, sizeof(msg)) == 0;
        if (ok && (!(*paths[i] = strdup(files[i])) || !(*ids[i] = strdup(id))))
            return -ENOMEM;
    }
    for (unsigned int i = 0; i < 3 && !ok; i++) {
        free(*paths[i]);
        free(*ids[i]);
        *paths[i] = *ids[i] = NULL;
    }
    return 0;
}

static int put_blob(void *ctx, uint64_t id, const void *data, uint32_t size)
{
    struct snapshot_writer *w = ctx;
    return snapshot_vgic_put(w, id, data, size);
}

/* One VCPU section: MP state and every listed register. */
static int save_vcpu(struct machine *m, struct snapshot_writer *w, unsigned int i, char *err,
                     size_t errlen)
{
    enum hv_mp_state mp;
    int rc = m->hv.ops->get_mp_state(m->hv.opaque, i, &mp);
    if (rc) {
        snprintf(err, errlen, "vCPU %u: reading its MP state: %s", i, strerror(-rc));
        return rc;
    }
    struct hv_reg_desc *regs = NULL;
    unsigned int n = 0;
    rc = m->hv.ops->reg_list(m->hv.opaque, i, &regs, &n);
    if (rc) {
        snprintf(err, errlen, "vCPU %u: listing its registers: %s", i, strerror(-rc));
        return rc;
    }
    uint8_t buf[SNAPSHOT_MAX_REG_SIZE];
    snapshot_vcpu_begin(w, i, (uint32_t)mp);
    for (unsigned int k = 0; k < n && !rc; k++) {
        if (regs[k].size == 0 || regs[k].size > sizeof(buf)) {
            snprintf(err, errlen, "vCPU %u: register 0x%016" PRIx64 " has %u bytes (at most %u "
                     "can be saved)", i, regs[k].id, regs[k].size, SNAPSHOT_MAX_REG_SIZE);
            rc = -EOPNOTSUPP;
            break;
        }
        rc = m->hv.ops->reg_get_raw(m->hv.opaque, i, regs[k].id, buf, regs[k].size);
        if (rc) {
            snprintf(err, errlen, "vCPU %u: reading register 0x%016" PRIx64 ": %s", i,
                     regs[k].id, strerror(-rc));
            break;
        }
        snapshot_vcpu_put_reg(w, regs[k].id, buf, regs[k].size);
    }
    snapshot_writer_end(w);
    free(regs);
    return rc;
}

/* A vCPU can be saved while suspended only when how it resumes is known: it has reached its
 * wait (power_wait_for_wakeup), not just been told to suspend. */
static int check_saveable_locked(struct machine *m, char *err, size_t errlen)
{
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
        if (m->vcpus[i].state == VCPU_SUSPENDED && m->vcpus[i].resume_kind == VCPU_RESUME_NONE) {
            snprintf(err, errlen, "vCPU %u is entering a suspend: try again", i);
            return -EAGAIN;
        }
    }
    return 0;
}

/* SUSP: the vCPUs waiting in a suspend and how each resumes (a restore wakes them). */
static int save_suspended(struct machine *m, struct snapshot_writer *w, char *err, size_t errlen)
{
    struct snapshot_suspended *s = calloc(m->hv.nr_vcpus, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    unsigned int n = 0;
    pthread_mutex_lock(&m->lock);
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
        const struct vcpu_ctl *v = &m->vcpus[i];
        if (v->state != VCPU_SUSPENDED)
            continue;
        s[n].vcpu = i;
        s[n].kind = v->resume_kind == VCPU_RESUME_SYSTEM ? SNAPSHOT_SUSPEND_SYSTEM
                    : v->resume_kind == VCPU_RESUME_POWERDOWN ? SNAPSHOT_SUSPEND_POWERDOWN
                                                              : SNAPSHOT_SUSPEND_STANDBY;
        if (s[n].kind != SNAPSHOT_SUSPEND_STANDBY) {
            s[n].entry = v->resume_entry;
            s[n].context = v->resume_context;
        }
        n++;
    }
    pthread_mutex_unlock(&m->lock);
    int rc = n ? snapshot_suspend_put(w, s, n) : 0;
    free(s);
    return rc;
}

static uint64_t now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Progress on stderr (a terminal) for saves that take over a second: one updating line. */
struct save_progress {
    const char *path;
    uint64_t t0;
    bool shown;
};

static void save_progress(void *opaque, uint64_t done, uint64_t total)
{
    struct save_progress *sp = opaque;
    uint64_t ms = (now_ns(CLOCK_MONOTONIC) - sp->t0) / 1000000;
    if (ms < 1000 || total == 0)
        return;
    fprintf(stderr, "\rpscivm: saving %s: guest RAM %3u%% (%llu of %llu MiB, %.1f s)", sp->path,
            (unsigned)(done * 100 / total), (unsigned long long)(done >> 20),
            (unsigned long long)(total >> 20), (double)ms / 1000.0);
    sp->shown = true;
}

static int write_all(struct machine *m, struct snapshot_writer *w, const char *path,
                     bool raw_ram, char *err, size_t errlen)
{
    struct snapshot_header h = {.psci_version = m->opts.psci_version,
                                .created_ns = now_ns(CLOCK_REALTIME)};
    snprintf(h.host_release, sizeof(h.host_release), "%s", m->host.release[0] ? m->host.release
                                                                               : "unknown");
    snprintf(h.psci_mode, sizeof(h.psci_mode), "%s", psci_mode_name(m->mode));
    snprintf(h.pscivm_version, sizeof(h.pscivm_version), "%s", PSCIVM_VERSION);
    snapshot_header_put(w, &h);

    struct snapshot_config c;
    int rc = build_config(m, &c, err, errlen);
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    if (!rc)
        snapshot_config_put(w, &c);
    snapshot_config_release(&c);
    for (unsigned int i = 0; !rc && i < m->hv.nr_vcpus; i++)
        rc = save_vcpu(m, w, i, err, errlen);
    if (rc)
        return rc;

    snapshot_vgic_begin(w);
    rc = m->hv.ops->irqchip_save(m->hv.opaque, put_blob, w, err, errlen);
    snapshot_writer_end(w);
    if (rc)
        return rc;

    struct snapshot_counter cn = {.host_monotonic_ns = now_ns(CLOCK_MONOTONIC),
                                  .host_realtime_ns = now_ns(CLOCK_REALTIME)};
    uint64_t freq = 0;
    rc = m->hv.ops->get_reg(m->hv.opaque, 0, HV_REG_CNTFRQ, &freq);
    if (!rc) /* frozen at the pause: the value the guest will see on resume */
        rc = m->counter_saved ? 0 : m->hv.ops->get_reg(m->hv.opaque, 0, HV_REG_CNTVCT, &cn.cntvct);
    if (rc || freq == 0 || freq > UINT32_MAX) {
        snprintf(err, errlen, "reading the guest's counter: %s", rc ? strerror(-rc)
                                                                    : "no frequency");
        return rc ? rc : -EIO;
    }
    if (m->counter_saved)
        cn.cntvct = m->counter_at_pause;
    cn.frequency_hz = (uint32_t)freq;
    snapshot_counter_put(w, &cn);

    if (m->mode == PSCI_MODE_USER) {
        pthread_mutex_lock(&m->lock);
        rc = snapshot_psci_save(w, &m->psci, err, errlen);
        pthread_mutex_unlock(&m->lock);
        if (rc)
            return rc;
    }
    rc = save_suspended(m, w, err, errlen);
    for (unsigned int i = 0; !rc && i < m->nr_devices; i++)
        rc = snapshot_device_save(w, &m->devices[i], err, errlen);
    if (rc)
        return rc;
    struct save_progress sp = {.path = path, .t0 = now_ns(CLOCK_MONOTONIC)};
    struct snapshot_ram_options opt = {.encoding = raw_ram ? SNAPSHOT_RAM_RAW
                                                           : SNAPSHOT_RAM_DEFAULT_ENCODING};
    if (isatty(STDERR_FILENO)) {
        opt.progress = save_progress;
        opt.progress_opaque = &sp;
    }
    rc = snapshot_ram_save(w, m->mem.host, m->mem.size, &opt, NULL);
    if (sp.shown)
        fputc('\n', stderr);
    return rc;
}

int machine_snapshot_write(struct machine *m, const char *path, struct machine_snapshot_info *info,
                           char *err, size_t errlen)
{
    return machine_snapshot_write_raw(m, path, false, info, err, errlen);
}

int machine_snapshot_write_raw(struct machine *m, const char *path, bool raw_ram,
                               struct machine_snapshot_info *info, char *err, size_t errlen)
{
    if (!machine_snapshot_supported(m)) {
        snprintf(err, errlen, "this hypervisor backend cannot save snapshots");
        return -EOPNOTSUPP;
    }
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    pthread_mutex_lock(&m->lock);
    int rc = check_saveable_locked(m, err, errlen);
    pthread_mutex_unlock(&m->lock);
    if (rc)
        return rc;
    /* An MMIO exit is retired by the next entry: do that now, without running the guest. */
    for (unsigned int i = 0; i < m->hv.nr_vcpus; i++) {
        rc = m->hv.ops->vcpu_complete(m->hv.opaque, i, &m->vcpus[i].exit);
        if (rc) {
            snprintf(err, errlen, "vCPU %u: completing its last MMIO access: %s", i,
                     strerror(-rc));
            return rc;
        }
    }
    /* Doorbells the vCPUs rang before they paused: handled now, so devices and RAM agree. */
    if (m->hv.ops->io_quiesce && (rc = m->hv.ops->io_quiesce(m->hv.opaque))) {
        snprintf(err, errlen, "waiting for the I/O thread: %s", strerror(-rc));
        return rc;
    }
    struct snapshot_file f;
    rc = snapshot_file_create(&f, path, err, errlen);
    if (rc)
        return rc;
    struct snapshot_writer w;
    rc = snapshot_writer_init(&w, f.fd, err, errlen);
    if (rc) {
        snapshot_file_release(&f);
        return rc;
    }
    char msg[320] = "";
    rc = write_all(m, &w, path, raw_ram, msg, sizeof(msg));
    if (rc && snapshot_writer_status(&w, NULL, 0)) /* the writer's own first error says more */
        snapshot_writer_status(&w, msg, sizeof(msg));
    int wrc = snapshot_writer_finish(&w, rc ? NULL : err, rc ? 0 : errlen);
    if (rc)
        snprintf(err, errlen, "%s", msg[0] ? msg : strerror(-rc));
    else
        rc = wrc;
    snapshot_writer_release(&w);
    if (rc == 0)
        rc = snapshot_file_commit(&f, err, errlen);
    else
        snapshot_file_abort(&f);
    snapshot_file_release(&f);
    if (rc == 0 && info) {
        struct stat st;
        info->bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
        info->duration_ms = (now_ns(CLOCK_MONOTONIC) - t0) / 1000000;
    }
    return rc;
}

static const char *then_name(enum vm_snapshot_then then)
{
    return then == VM_SNAPSHOT_STOP ? "stop" : then == VM_SNAPSHOT_QUIT ? "quit" : "continue";
}

int machine_ctl_snapshot_save(struct machine *m, const char *path,
                              const struct vm_snapshot_opts *opts, struct json_object **out,
                              char *err, size_t errlen)
{
    enum vm_snapshot_then then = opts->then;
    pthread_mutex_lock(&m->lock);
    bool was_running = m->state == MACHINE_RUNNING;
    int rc = machine_pause_locked(m);
    pthread_mutex_unlock(&m->lock);
    if (rc) {
        snprintf(err, errlen, "the machine is shutting down");
        return rc;
    }

    struct machine_snapshot_info info = {0};
    rc = machine_snapshot_write_raw(m, path, opts->raw_ram, &info, err, errlen);
    struct json_object *f = fields_new();
    field_str(f, "file", path);
    field_str(f, "outcome", rc ? "failed" : "saved");
    if (rc) {
        field_str(f, "error", err);
    } else {
        field_int(f, "bytes", (int64_t)info.bytes);
        field_int(f, "duration_ms", (int64_t)info.duration_ms);
        field_str(f, "then", then_name(then));
        field_str(f, "ram_encoding", opts->raw_ram ? "raw" : "zstd");
    }
    machine_emit(m, "snapshot_save", -1, f);
    if (!rc && out) {
        *out = json_object_new_object();
        field_str(*out, "file", path);
        field_int(*out, "bytes", (int64_t)info.bytes);
        field_int(*out, "duration-ms", (int64_t)info.duration_ms);
    }

    /* A failed save leaves the machine as it was; a successful one does what `then` says. */
    bool resume = rc ? was_running : then == VM_SNAPSHOT_CONTINUE;
    if (!rc && then == VM_SNAPSHOT_QUIT) {
        machine_request_stop(m, false, PSCIVM_EXIT_SAVED, "snapshot-saved");
        return 0;
    }
    pthread_mutex_lock(&m->lock);
    bool resumed = false;
    if (resume && m->state == MACHINE_PAUSED) {
        machine_counter_thaw_locked(m);
        m->state = MACHINE_RUNNING;
        vcpus_resume_locked(m);
        resumed = true;
    }
    pthread_mutex_unlock(&m->lock);
    if (resumed && !was_running)
        machine_emit_qmp(m, "RESUME", NULL);
    else if (!resume && was_running)
        machine_emit_qmp(m, "STOP", NULL);
    return rc;
}

int machine_suspend_save(struct machine *m)
{
    const char *path = m->opts.suspend_file;
    pthread_mutex_lock(&m->lock);
    if (m->stop || !m->guest_suspended) { /* woken meanwhile */
        pthread_mutex_unlock(&m->lock);
        return 0;
    }
    bool was_running = m->state == MACHINE_RUNNING;
    int rc = machine_pause_locked(m);
    bool suspended = m->guest_suspended;
    if (!rc && !suspended && was_running) { /* it woke before the pause took hold */
        machine_counter_thaw_locked(m);
        m->state = MACHINE_RUNNING;
        vcpus_resume_locked(m);
    }
    pthread_mutex_unlock(&m->lock);
    if (rc || !suspended)
        return 0;

    char err[320] = "";
    struct machine_snapshot_info info = {0};
    rc = machine_snapshot_write(m, path, &info, err, sizeof(err));
    struct json_object *f = fields_new();
    field_str(f, "file", path);
    field_str(f, "outcome", rc ? "failed" : "saved");
    field_str(f, "trigger", m->opts.on_suspend == ON_SUSPEND_SAVE ? "suspend" : "save-after");
    if (rc) {
        field_str(f, "error", err);
    } else {
        field_int(f, "bytes", (int64_t)info.bytes);
        field_int(f, "duration_ms", (int64_t)info.duration_ms);
        field_str(f, "then", "quit");
    }
    machine_emit(m, "snapshot_save", -1, f);
    if (rc) {
        /* Nothing is lost: the guest stays suspended in memory and wakes as with wait. */
        fprintf(stderr, "pscivm: saving the suspended guest to %s failed: %s; it stays "
                "suspended here (wake it with its wake sources or QMP system_wakeup)\n", path,
                err);
        pthread_mutex_lock(&m->lock);
        if (was_running && m->state == MACHINE_PAUSED) {
            machine_counter_thaw_locked(m);
            m->state = MACHINE_RUNNING;
            vcpus_resume_locked(m);
        }
        pthread_mutex_unlock(&m->lock);
        return rc;
    }
    fprintf(stderr, "pscivm: the suspended guest was saved to %s (%llu bytes in %llu ms); "
            "'pscivm restore %s' wakes it\n", path, (unsigned long long)info.bytes,
            (unsigned long long)info.duration_ms, path);
    struct json_object *q = fields_new();
    field_bool(q, "guest", true);
    field_str(q, "reason", "guest-suspend"); /* pscivm's: QEMU has no such end */
    machine_emit_qmp(m, "SHUTDOWN", q);
    machine_request_stop(m, false, PSCIVM_EXIT_SUSPENDED_TO_DISK, "suspended to disk");
    return 0;
}
