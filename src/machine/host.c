/* host.c — builds a machine on this host's KVM, fresh or from a snapshot, and runs it: the one
 * assembly order (KVM requires most of it, see src/kvm/vm.c), then machine_run() (run.c), then
 * teardown. The only machine-layer file that knows the backend is KVM (arm64 builds only).
 *
 *  1. options, locks, event stream (machine_init); payload or kernel + initrd read (fail
 *     early, before touching KVM)
 *  2. VM, guest RAM (anonymous mapping, 2 MiB aligned, THP advised) and its memory slot
 *  3. vCPUs (--max-cpus of them; KVM_ARM_VCPU_INIT, MPIDRs read back)
 *  4. vGICv3 (addresses, NR_IRQS), then its CTRL_INIT now that every vCPU exists
 *  5. PSCI: mode resolution; SMCCC filter (user) or PSCI version + SYSTEM_SUSPEND cap
 *     (kernel) — all before the first KVM_RUN
 *  6. backend parts (statistics, I/O thread) and the PSCI core(s)
 *  7. devices (board.c), their doorbells, then the console
 *  8. restore only (host_restore): the snapshot's state into the machine (snapshot_restore.c)
 *  9. the seccomp allow-list built (--seccomp; KVM's run-time ioctls from kvm/vm.c); machine_run
 *     loads it once its loop and console exist, before the first guest instruction
 * 10. machine_run: images into RAM on every (re)start (not after a restore), threads, loop
 * `pscivm run` and `pscivm restore` share all of it (host_start); a restore derives the options
 * from the snapshot's CONF (machine_snapshot_run_options) and skips the boot images. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>

#include "kvm/backend.h"
#include "machine/host.h"
#include "machine/machine.h"
#include "machine/seccomp_filter.h"
#include "machine/snapshot.h"
#include "snapshot/config.h"
#include "snapshot/format.h"
#include "psci/psci.h"
#include "vmm/exit_status.h"
#include "vmm/memmap.h"
#include "vmm/vmdir.h"

#define GIC_NR_IRQS 128            /* 32 private + 96 SPIs */

/* Guest RAM: anonymous memory whose host address is 2 MiB aligned like its guest address, and
 * advised for transparent huge pages, so KVM can map it with 2 MiB stage-2 blocks (fewer
 * stage-2 faults: measurably faster boots, most of all under nested virtualisation). NULL with
 * errno on failure; munmap(ram, size) releases it. */
static void *map_guest_ram(uint64_t size)
{
    const uint64_t align = 2ULL << 20;
    uint8_t *raw = mmap(NULL, size + align, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uint8_t *ram = (uint8_t *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    if (ram > raw)
        munmap(raw, (size_t)(ram - raw));
    if (ram + size < raw + size + align)
        munmap(ram + size, (size_t)((raw + size + align) - (ram + size)));
    madvise(ram, size, MADV_HUGEPAGE); /* advisory: fine to fail (THP off) */
    return ram;
}

static int setup_psci_user(struct machine *m, struct kvm_backend *b, char *err, size_t errlen)
{
    if (!m->host.has_smccc_filter) {
        if (m->restore_path)
            snprintf(err, errlen, "the snapshot was taken in PSCI user mode, which needs the "
                     "SMCCC filter (Linux >= 6.4); host kernel %s has none: restore refused",
                     m->host.release);
        else
            snprintf(err, errlen, "--psci-mode user: SMCCC filter not available on this host "
                     "(needs Linux >= 6.4; host kernel %s); use --psci-mode kernel",
                     m->host.release);
        return -EOPNOTSUPP;
    }
    for (unsigned int i = 0; i < PSCI_NR_FID_RANGES; i++) {
        int rc = kvm_vm_forward_smccc(&b->vm, psci_fid_ranges[i].base, psci_fid_ranges[i].nr,
                                      err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

static int setup_psci_kernel(struct machine *m, struct kvm_backend *b, char *err, size_t errlen)
{
    int rc = kvm_vm_get_psci_version(&b->vm, &m->host.psci_max);
    if (rc) {
        snprintf(err, errlen, "reading KVM's PSCI version: %s", strerror(-rc));
        return rc;
    }
    if (!m->opts.psci_explicit) /* no --psci: the best this host's KVM offers, up to 1.3 */
        m->opts.psci_version = m->host.psci_max < PSCI_VERSION_1_3 ? (uint32_t)m->host.psci_max
                                                                   : PSCI_VERSION_1_3;
    if (m->opts.psci_version > m->host.psci_max && m->restore_path) {
        snprintf(err, errlen, "the snapshot's guest runs KVM's PSCI %s (kernel mode); this "
                 "host's KVM offers PSCI up to %s (host kernel %s): restore refused — the guest "
                 "would see its firmware change", psci_version_name(m->opts.psci_version),
                 psci_version_name((uint32_t)m->host.psci_max), m->host.release);
        return -EOPNOTSUPP;
    }
    if (m->opts.psci_version > m->host.psci_max) {
        snprintf(err, errlen, "--psci-mode kernel: this host's KVM offers PSCI up to %s "
                 "(host kernel %s), --psci %s requested; use --psci-mode user or a lower "
                 "--psci", psci_version_name((uint32_t)m->host.psci_max), m->host.release,
                 psci_version_name(m->opts.psci_version));
        return -EOPNOTSUPP;
    }
    rc = kvm_vm_set_psci_version(&b->vm, m->opts.psci_version);
    if (rc) {
        snprintf(err, errlen, "pinning KVM's PSCI version to %s: %s",
                 psci_version_name(m->opts.psci_version), strerror(-rc));
        return rc;
    }
    if (m->opts.psci_version >= PSCI_VERSION_1_0)
        rc = kvm_vm_enable_system_suspend(&b->vm, err, errlen);
    return rc;
}

/* --vm DIR with a definition: the PSCI version is the VM's, never lowered. Refuse a host that
 * offers it in neither mode the definition allows, naming the version and the host's limits. */
static int vm_psci_offered(struct machine *m, struct kvm_backend *b, char *err, size_t errlen)
{
    if (!m->vm || !m->vm->has_def || m->mode == PSCI_MODE_USER)
        return 0;
    uint64_t kmax = 0;
    int rc = kvm_vm_get_psci_version(&b->vm, &kmax);
    if (rc) {
        snprintf(err, errlen, "reading KVM's PSCI version: %s", strerror(-rc));
        return rc;
    }
    if (m->opts.psci_version <= kmax)
        return 0;
    char user[160];
    if (m->opts.mode == PSCI_MODE_KERNEL)
        snprintf(user, sizeof(user), "user mode: not allowed by the definition (psci.mode "
                 "kernel; --update --psci-mode auto allows it%s)",
                 m->host.has_smccc_filter ? ", and this host has the SMCCC filter" : "");
    else
        snprintf(user, sizeof(user), "user mode: needs KVM's SMCCC filter (Linux >= 6.4), "
                 "host kernel %s has none", m->host.release);
    snprintf(err, errlen, "the VM in %s has PSCI %s (psci.version, chosen when it was created) "
             "and this host offers it in neither mode — %s; kernel mode: this host's KVM offers "
             "PSCI up to %s. Refusing to start rather than change the guest's firmware",
             m->vm->path, psci_version_name(m->opts.psci_version), user,
             psci_version_name((uint32_t)kmax));
    return -EOPNOTSUPP;
}

static int host_build(struct machine *m, struct kvm_backend *b, char *err, size_t errlen)
{
    /* A restore takes the guest from the snapshot: no boot images. */
    int rc = m->restore_path ? 0 : boot_load_sources(m, err, errlen);
    if (rc)
        return rc;
    m->boot_loaded = !m->restore_path;
    rc = kvm_vm_init(&b->vm, err, errlen);
    if (rc)
        return rc;
    void *ram = map_guest_ram(m->mem.size);
    if (!ram) {
        snprintf(err, errlen, "mapping %llu MiB of guest RAM: %s",
                 (unsigned long long)m->opts.mem_mib, strerror(errno));
        return -ENOMEM;
    }
    m->mem.host = ram;
    unsigned int nr_vcpus = m->opts.max_cpus ? m->opts.max_cpus : m->opts.cpus;
    rc = kvm_vm_set_memory(&b->vm, m->mem.base, m->mem.size, ram, err, errlen);
    if (!rc)
        rc = kvm_vm_create_vcpus(&b->vm, nr_vcpus, err, errlen);
    if (!rc)
        rc = kvm_vm_create_gic(&b->vm, MEMMAP_GICD_BASE, MEMMAP_GICR_BASE, GIC_NR_IRQS, err,
                               errlen);
    if (!rc)
        rc = kvm_vm_init_gic(&b->vm, err, errlen);
    if (rc)
        return rc;
    kvm_vm_enable_nisv_to_user(&b->vm); /* optional: without it such accesses fail KVM_RUN */

    m->host.has_smccc_filter = kvm_vm_has_smccc_filter(&b->vm);
    m->mode = m->opts.mode == PSCI_MODE_AUTO
                  ? (m->host.has_smccc_filter ? PSCI_MODE_USER : PSCI_MODE_KERNEL)
                  : m->opts.mode;
    if (m->mode == PSCI_MODE_KERNEL && (m->opts.nr_deny_cpu_on || nr_vcpus != m->opts.cpus)) {
        /* --psci-mode kernel with these is refused by the parser; this is auto. */
        snprintf(err, errlen, "%s needs user mode: KVM's in-kernel PSCI answers CPU_ON itself, "
                 "and --psci-mode auto chose kernel mode (no SMCCC filter on host kernel %s, "
                 "needs Linux >= 6.4)", m->opts.nr_deny_cpu_on ? "--deny-cpu-on" : "--max-cpus",
                 m->host.release);
        return -EOPNOTSUPP;
    }
    rc = vm_psci_offered(m, b, err, errlen);
    if (rc)
        return rc;
    rc = m->mode == PSCI_MODE_USER ? setup_psci_user(m, b, err, errlen)
                                   : setup_psci_kernel(m, b, err, errlen);
    if (rc)
        return rc;
    rc = kvm_backend_init(b, m->mode == PSCI_MODE_KERNEL, err, errlen);
    if (rc)
        return rc;
    m->host.has_stats = kvm_backend_has_stats(b);
    if (m->mode == PSCI_MODE_KERNEL && !m->host.has_stats)
        fprintf(stderr, "pscivm: no KVM binary stats on this host: kernel-mode cpu_off "
                "events use periodic vCPU kicks (slower)\n");
    m->hv = kvm_backend_hv(b);
    rc = machine_init_vcpus(m, err, errlen);
    if (!rc)
        rc = power_setup_cores(m, err, errlen);
    if (!rc)
        rc = board_build(m, err, errlen);
    if (!rc)
        rc = kvm_backend_start_io(b, err, errlen);
    if (!rc)
        rc = board_console_open(m, err, errlen);
    return rc;
}

/* The refusal of a hibernated VM whose machine would change: every difference. */
static void print_hibernated_changed(const struct vm_dir *vd, const struct vmdef_diffs *d)
{
    char when[32];
    time_t t = (time_t)vd->hib.time;
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    fprintf(stderr, "pscivm: %s: the VM is hibernated (since %s) and this start would change "
            "its machine, so the guest could not resume safely; refusing (exit %d). %u "
            "difference%s (recorded at hibernation vs this start):\n", vd->path, when,
            PSCIVM_EXIT_HIBERNATED_CHANGED, d->n, d->n == 1 ? "" : "s");
    for (unsigned int i = 0; i < d->n; i++)
        fprintf(stderr, "  %s\n", d->line[i]);
    if (d->truncated)
        fprintf(stderr, "  (more differences not listed)\n");
    fprintf(stderr, "Start it unchanged to resume it, or with --discard-hibernation to boot it "
            "afresh (its hibernation image is then abandoned).\n");
}

static const char *seccomp_summary(const struct seccomp_filter *f, char *buf, size_t len)
{
    if (f->mode == RUN_SECCOMP_OFF)
        return "";
    snprintf(buf, len, " (%u system calls, %u ioctl requests)", f->nr_syscalls, f->nr_ioctls);
    return buf;
}

/* Build, optionally restore from r, run, tear down: the one path for `run` and `restore`. */
static int host_start(const struct run_options *opts, const char *restore_path,
                      struct snapshot_reader *r, bool paused, const char *no_reboot,
                      struct vm_dir *vm)
{
    struct machine *m = calloc(1, sizeof(*m));
    struct kvm_backend *b = calloc(1, sizeof(*b));
    if (!m || !b) {
        fprintf(stderr, "pscivm: out of memory\n");
        free(m);
        free(b);
        return PSCIVM_EXIT_ERROR;
    }
    b->vm.kvm_fd = b->vm.vm_fd = b->vm.gic_fd = -1;
    char err[1024] = "";
    int status = PSCIVM_EXIT_ERROR;
    int rc = machine_init(m, opts, err, sizeof(err));
    m->restore_path = restore_path;
    if (no_reboot)
        snprintf(m->boot_unavailable, sizeof(m->boot_unavailable), "%s", no_reboot);
    m->vm = vm;
    bool changed = false;
    struct utsname u;
    snprintf(m->host.release, sizeof(m->host.release), "%s",
             uname(&u) == 0 ? u.release : "unknown");
    if (!rc)
        rc = host_build(m, b, err, sizeof(err));
    if (!rc && r) {
        rc = machine_snapshot_restore(m, r, err, sizeof(err));
        m->restart_paused = paused;
        snapshot_reader_release(r); /* RAM is filled or mapped: the file is no longer read */
    }
    if (!rc && vm) {
        struct vmdef_diffs *diffs = malloc(sizeof(*diffs));
        rc = diffs ? 0 : -ENOMEM;
        if (diffs) {
            vmdef_diffs_init(diffs);
            rc = machine_vm_prepare(m, diffs, err, sizeof(err));
            if (rc == -ESTALE) {
                print_hibernated_changed(vm, diffs);
                status = PSCIVM_EXIT_HIBERNATED_CHANGED;
                changed = true;
            }
            free(diffs);
        }
    }
    struct seccomp_filter sandbox = {.mode = RUN_SECCOMP_OFF};
    if (!rc) {
        const unsigned long *ioctls;
        size_t nr_ioctls = kvm_runtime_ioctls(&ioctls);
        rc = seccomp_filter_init(&sandbox, opts->seccomp, 0, ioctls, nr_ioctls, err,
                                 sizeof(err));
        if (!rc) {
            m->sandbox = &sandbox; /* --seccomp off: nothing to load, the self-test still runs */
            const char *st = getenv("PSCIVM_SECCOMP_SELFTEST");
            m->sandbox_selftest = st && !strcmp(st, "1");
            m->sanitizer_selftest = getenv("PSCIVM_SANITIZER_SELFTEST");
        }
    }
    if (changed) {
        /* listed above */
    } else if (rc) {
        fprintf(stderr, "pscivm: %s%s%s\n", restore_path ? restore_path : "",
                restore_path ? ": " : "", err[0] ? err : strerror(-rc));
    } else {
        char summary[64];
        fprintf(stderr, "pscivm: %s PSCI %s%s, %s mode (%s), host kernel %s, %u vCPU(s)%s, "
                "%llu MiB, seccomp %s%s\n", restore_path ? "restored," : "",
                psci_version_name(m->opts.psci_version),
                opts->psci_explicit || restore_path
                    ? "" : " (no --psci: the highest this mode offers here)",
                psci_mode_name(m->mode),
                m->mode == PSCI_MODE_USER ? "pscivm answers PSCI via the SMCCC filter"
                                          : "KVM's in-kernel PSCI",
                m->host.release, opts->cpus,
                m->hv.nr_vcpus != opts->cpus ? " (more pluggable)" : "",
                (unsigned long long)opts->mem_mib, run_seccomp_name(opts->seccomp),
                seccomp_summary(&sandbox, summary, sizeof(summary)));
        status = machine_run(m);
    }
    seccomp_filter_release(&sandbox);
    kvm_backend_release(b); /* first: its I/O thread drives the devices */
    machine_release(m);
    if (m->mem.host)
        munmap(m->mem.host, m->mem.size);
    free(b);
    free(m);
    return status;
}

int host_run(const struct run_options *opts, struct vm_dir *vm)
{
    return host_start(opts, NULL, NULL, false, NULL, vm);
}

int host_restore(const struct run_options *side, const char *path, bool paused)
{
    struct snapshot_reader r;
    struct snapshot_config c;
    struct run_options opts;
    char err[512] = "";
    snapshot_config_init(&c);
    /* Everything is checked before KVM is touched: structure and every CRC, the configuration,
     * the disks. */
    int rc = snapshot_reader_open_path(&r, path, NULL, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "pscivm: %s: %s\n", path, err);
        return PSCIVM_EXIT_ERROR;
    }
    rc = snapshot_reader_verify_all(&r, err, sizeof(err));
    if (!rc)
        rc = snapshot_config_load(&r, &c, err, sizeof(err));
    if (!rc)
        rc = machine_snapshot_check_disks(&c, err, sizeof(err));
    if (!rc)
        rc = machine_snapshot_run_options(&c, side, &opts, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "pscivm: %s: %s\n", path, err);
        snapshot_reader_release(&r);
        snapshot_config_release(&c);
        return PSCIVM_EXIT_ERROR;
    }
    /* The boot files only matter if the guest reboots: a changed one does not stop the
     * restore, it stops that reboot (said now, and again then). */
    char no_reboot[320] = "";
    if (machine_snapshot_check_boot(&c, no_reboot, sizeof(no_reboot))) {
        fprintf(stderr, "pscivm: note: %s\n", no_reboot);
        opts.payload = opts.kernel = opts.initrd = NULL;
    }
    int status = host_start(&opts, path, &r, paused, no_reboot[0] ? no_reboot : NULL,
                            NULL);
    /* host_start released r */
    machine_snapshot_run_options_release(&opts);
    snapshot_config_release(&c);
    return status;
}
