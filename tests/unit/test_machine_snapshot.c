/* test_machine_snapshot.c — whole-machine snapshots on the fake hypervisor (fake_hv): a machine
 * saved and restored into a second one has the same registers, MP states, interrupt controller,
 * counter, PSCI core (a pending CPU_ON re-issued), device state and RAM; and the refusals:
 * a register the target does not know holding a non-zero value, a PSCI version register the
 * target cannot take (kernel mode; user mode ignores KVM's), a disk that changed; vCPUs saved in
 * a PSCI suspend woken by the restore, and --on-suspend save's save-and-stop; and snapshot-save's pause/then handling with real vCPU threads. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "fake_hv.h"
#include "machine/machine.h"
#include "machine/snapshot.h"
#include "snapshot/config.h"
#include "snapshot/format.h"
#include "util/blob.h"
#include "vmm/exit_status.h"
#include "vmm/memmap.h"

#define RAM_SIZE (2u << 20)

struct fixture {
    struct fake_hv f;
    struct machine m;
    uint32_t dev_state;
    uint8_t *ram;
};

/* A device whose whole state is one u32. */
static int dev_save(void *opaque, struct blob_writer *w, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    blob_put_u32(w, 1); /* state version */
    blob_put_u32(w, *(uint32_t *)opaque);
    return 0;
}

static int dev_restore(void *opaque, struct blob_reader *r, char *err, size_t errlen)
{
    uint32_t ver = 0, v = 0;
    if (blob_get_u32(r, &ver) || ver != 1 || blob_get_u32(r, &v) || blob_reader_finish(r)) {
        snprintf(err, errlen, "bad state");
        return -EINVAL;
    }
    *(uint32_t *)opaque = v;
    return 0;
}

static const struct device_ops test_dev_ops = {
    .type = "test-dev", .save = dev_save, .restore = dev_restore,
};

static struct fixture *fixture_new(const char *mode)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    char *argv[] = {"run", "--payload", "x", "--cpus", "2", "--psci-mode", (char *)mode};
    struct run_options opts;
    char err[256];
    assert_int_equal(run_options_parse(&opts, 7, argv, err, sizeof(err)), 0);
    assert_int_equal(machine_init(&fx->m, &opts, err, sizeof(err)), 0);
    struct machine *m = &fx->m;
    m->mode = strcmp(mode, "kernel") ? PSCI_MODE_USER : PSCI_MODE_KERNEL;
    snprintf(m->host.release, sizeof(m->host.release), "6.12.0-test");
    fake_hv_init(&fx->f, 2);
    m->hv = fake_hv_hv(&fx->f);
    assert_int_equal(machine_init_vcpus(m, err, sizeof(err)), 0);
    assert_int_equal(power_setup_cores(m, err, sizeof(err)), 0);
    fx->ram = aligned_alloc(4096, RAM_SIZE);
    assert_non_null(fx->ram);
    memset(fx->ram, 0, RAM_SIZE);
    m->mem.host = fx->ram;
    m->mem.size = RAM_SIZE;
    m->devices[0] = (struct device){.ops = &test_dev_ops, .opaque = &fx->dev_state,
                                    .name = "testdev", .base = 0x0a000000, .size = 0x200,
                                    .spi = 7};
    m->nr_devices = 1;
    return fx;
}

static void fixture_free(struct fixture *fx)
{
    machine_release(&fx->m);
    fake_hv_release(&fx->f);
    free(fx->ram);
    free(fx);
}

static char *temp_path(void)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/pscivm-msnap-%d.snap", (int)getpid());
    return path;
}

/* A running-looking source: distinct registers, vCPU 1 OFF with a CPU_ON pending, RAM, GIC. */
static void populate(struct fixture *fx)
{
    for (unsigned int i = 0; i < 2; i++) {
        for (unsigned int k = 0; k < 33; k++)
            fx->f.v[i].regs[k] = 0x1000u * (i + 1) + k * 7;
        for (unsigned int k = 0; k < 16; k++)
            fx->f.v[i].vec[k] = (uint8_t)(0xa0 + k + i);
    }
    fx->f.v[1].mp = HV_MP_STOPPED;
    for (unsigned int k = 0; k < FAKE_GIC_REGS; k++)
        fx->f.gic[k] = 0xc0de0000u + k;
    fx->f.counter = 123456;
    fx->dev_state = 0xfeedbeef;
    for (unsigned int p = 0; p < RAM_SIZE / 4096; p += 3)
        memset(fx->ram + (size_t)p * 4096 + 100, (int)(p & 0xff) | 1, 200);
    /* CPU_ON of vCPU 1 accepted: ON_PENDING until its thread starts it. */
    struct machine *m = &fx->m;
    fx->f.v[0].regs[1] = 1;
    fx->f.v[0].regs[2] = MEMMAP_RAM_BASE + 0x1000;
    fx->f.v[0].regs[3] = 0x77;
    m->vcpus[0].state = VCPU_RUNNING;
    m->vcpus[0].exit = (struct vm_exit){.kind = VM_EXIT_HYPERCALL, .hypercall.function = 0xC4000003};
    assert_int_equal(exits_dispatch(m, &m->vcpus[0]), 0);
    assert_true(m->vcpus[1].start_pending);
    m->vcpus[0].exit = (struct vm_exit){.kind = VM_EXIT_MMIO, .mmio = {.addr = 0x0a000000, .len = 4}};
}

static int restore_into(struct fixture *dst, const char *path, char *err, size_t errlen)
{
    struct snapshot_reader r;
    int rc = snapshot_reader_open_path(&r, path, NULL, err, errlen);
    if (rc == 0)
        rc = snapshot_reader_verify_all(&r, err, errlen);
    if (rc == 0)
        rc = machine_snapshot_restore(&dst->m, &r, err, errlen);
    snapshot_reader_release(&r);
    return rc;
}

static void test_machine_snapshot__round_trip(void **state)
{
    (void)state;
    struct fixture *a = fixture_new("user");
    populate(a);
    char err[512] = "";
    const char *path = temp_path();
    struct machine_snapshot_info info = {0};
    int rc = machine_snapshot_write(&a->m, path, &info, err, sizeof(err));
    if (rc)
        fail_msg("save: %s", err);
    assert_true(info.bytes > 0);
    assert_int_equal(a->f.v[0].completes, 1); /* the pending MMIO exit was retired */
    assert_int_equal(a->m.vcpus[0].exit.kind, VM_EXIT_UNKNOWN);
    uint64_t saved_counter = a->f.counter - 1; /* the save read it once */

    struct fixture *b = fixture_new("user");
    rc = restore_into(b, path, err, sizeof(err));
    if (rc)
        fail_msg("restore: %s", err);
    for (unsigned int i = 0; i < 2; i++) {
        assert_memory_equal(b->f.v[i].regs, a->f.v[i].regs, 33 * sizeof(uint64_t));
        assert_memory_equal(b->f.v[i].vec, a->f.v[i].vec, 16);
        assert_int_equal(b->f.v[i].mp, a->f.v[i].mp);
    }
    assert_memory_equal(b->f.gic, a->f.gic, sizeof(a->f.gic));
    assert_int_equal(b->f.counter, saved_counter);
    assert_int_equal(b->dev_state, 0xfeedbeef);
    assert_memory_equal(b->ram, a->ram, RAM_SIZE);
    struct psci_vcpu_info info1;
    assert_int_equal(psci_vcpu_get_info(&b->m.psci, 1, &info1), 0);
    assert_int_equal(info1.state, PSCI_CPU_ON_PENDING);
    assert_true(b->m.vcpus[1].start_pending);
    assert_true(b->m.vcpus[1].start_is_cpu_on);
    assert_int_equal(b->m.vcpus[1].start_entry, MEMMAP_RAM_BASE + 0x1000);
    assert_int_equal(b->m.vcpus[1].start_context, 0x77);
    assert_int_equal(b->m.vcpus[0].state, VCPU_RUNNING);
    assert_int_equal(b->m.vcpus[1].state, VCPU_PARKED);
    assert_true(b->m.restored);
    fixture_free(b);
    fixture_free(a);
    unlink(path);
}

static void test_machine_snapshot__unknown_register(void **state)
{
    (void)state;
    struct fixture *a = fixture_new("user");
    populate(a);
    char err[512] = "";
    const char *path = temp_path();
    assert_int_equal(machine_snapshot_write(&a->m, path, NULL, err, sizeof(err)), 0);
    struct fixture *b = fixture_new("user");
    b->f.hide_vec = true;
    assert_int_equal(restore_into(b, path, err, sizeof(err)), -EOPNOTSUPP);
    assert_non_null(strstr(err, "0x6040000000102000"));
    assert_non_null(strstr(err, "unknown to this host"));
    fixture_free(b);
    /* The value the source host stamps into a register the guest never wrote (KVM's
     * 0x1de7ec7edbadc0de for UNKNOWN-reset registers): the feature is unused, accepted. */
    memset(a->f.v[0].vec, 0x5a, 16);
    memset(a->f.v[1].vec, 0x5a, 16);
    a->f.untouched_byte = 0x5a;
    assert_int_equal(machine_snapshot_write(&a->m, path, NULL, err, sizeof(err)), 0);
    b = fixture_new("user");
    b->f.hide_vec = true;
    b->f.untouched_byte = 0x5a;
    int rc0 = restore_into(b, path, err, sizeof(err));
    if (rc0)
        fail_msg("restore of an untouched unknown register: %s", err);
    fixture_free(b);
    /* Zero in the snapshot: what the target gives a register it does not have. */
    memset(a->f.v[0].vec, 0, 16);
    memset(a->f.v[1].vec, 0, 16);
    assert_int_equal(machine_snapshot_write(&a->m, path, NULL, err, sizeof(err)), 0);
    b = fixture_new("user");
    b->f.hide_vec = true;
    int rc = restore_into(b, path, err, sizeof(err));
    if (rc)
        fail_msg("restore: %s", err);
    fixture_free(b);
    fixture_free(a);
    unlink(path);
}

/* A register the target lists only once the vCPU has the feature it belongs to (KVM lists
 * PIR_EL1 only with FEAT_S1PIE in the ID registers): restored after the saved ID registers made
 * it visible; without the feature bit it stays unknown and is refused by name. */
static void test_machine_snapshot__register_of_a_restored_feature(void **state)
{
    (void)state;
    struct fixture *a = fixture_new("user");
    populate(a);
    a->f.v[0].regs[33] |= 1;
    a->f.v[1].regs[33] |= 1;
    char err[512] = "";
    const char *path = temp_path();
    assert_int_equal(machine_snapshot_write(&a->m, path, NULL, err, sizeof(err)), 0);
    struct fixture *b = fixture_new("user");
    b->f.vec_needs_feature = true;
    int rc = restore_into(b, path, err, sizeof(err));
    if (rc)
        fail_msg("restore: %s", err);
    assert_memory_equal(b->f.v[0].vec, a->f.v[0].vec, 16);
    assert_memory_equal(b->f.v[1].vec, a->f.v[1].vec, 16);
    fixture_free(b);
    a->f.v[0].regs[33] &= ~1ull;
    a->f.v[1].regs[33] &= ~1ull;
    assert_int_equal(machine_snapshot_write(&a->m, path, NULL, err, sizeof(err)), 0);
    b = fixture_new("user");
    b->f.vec_needs_feature = true;
    assert_int_equal(restore_into(b, path, err, sizeof(err)), -EOPNOTSUPP);
    assert_non_null(strstr(err, "vCPU 0"));
    assert_non_null(strstr(err, "0x6040000000102000"));
    fixture_free(b);
    fixture_free(a);
    unlink(path);
}

/* An ID register the target will not change (6.12's KVM and ID_AA64MMFR2_EL1): a saved value
 * that differs from the target's only in fields no guest without EL2 can use (its NV field) is
 * restored as the target's; any other difference is refused by name. */
static void test_machine_snapshot__id_register_differs_only_for_el2(void **state)
{
    (void)state;
    struct fixture *a = fixture_new("user");
    populate(a);
    a->f.v[0].regs[32] = a->f.v[1].regs[32] = 0x1221011110011011ull; /* NV = 0 */
    char err[512] = "";
    const char *path = temp_path();
    assert_int_equal(machine_snapshot_write(&a->m, path, NULL, err, sizeof(err)), 0);
    struct fixture *b = fixture_new("user");
    b->f.id32_read_only = true;
    b->f.id32_blind = 0xfull << 24;
    b->f.v[0].regs[32] = b->f.v[1].regs[32] = 0x1221011112011011ull; /* NV = 2 */
    int rc = restore_into(b, path, err, sizeof(err));
    if (rc)
        fail_msg("restore: %s", err);
    assert_int_equal(b->f.v[0].regs[32], 0x1221011112011011ull);
    assert_int_equal(b->f.v[1].regs[31], a->f.v[1].regs[31]); /* the rest went in */
    fixture_free(b);
    /* A difference in another field (bits 31:28) is the guest's: refused. */
    b = fixture_new("user");
    b->f.id32_read_only = true;
    b->f.id32_blind = 0xfull << 24;
    b->f.v[0].regs[32] = b->f.v[1].regs[32] = 0x1221011102011011ull;
    assert_int_equal(restore_into(b, path, err, sizeof(err)), -EOPNOTSUPP);
    assert_non_null(strstr(err, "0x6030000000100020"));
    assert_non_null(strstr(err, "vCPU 1"));
    fixture_free(b);
    /* Without the backend's judgement, any difference is refused. */
    b = fixture_new("user");
    b->f.id32_read_only = true;
    b->f.v[0].regs[32] = b->f.v[1].regs[32] = 0x1221011112011011ull;
    assert_int_equal(restore_into(b, path, err, sizeof(err)), -EOPNOTSUPP);
    fixture_free(b);
    fixture_free(a);
    unlink(path);
}

static void test_machine_snapshot__psci_version_not_offered(void **state)
{
    (void)state;
    char err[512] = "";
    const char *path = temp_path();
    /* Kernel mode: the guest sees KVM's PSCI, so the target must take the version. */
    struct fixture *a = fixture_new("kernel");
    for (unsigned int k = 0; k < 33; k++)
        a->f.v[0].regs[k] = k;
    assert_int_equal(machine_snapshot_write(&a->m, path, NULL, err, sizeof(err)), 0);
    struct fixture *b = fixture_new("kernel");
    b->f.psci_version = b->f.psci_max = 0x10001; /* offers 1.1 only */
    assert_int_equal(restore_into(b, path, err, sizeof(err)), -EOPNOTSUPP);
    assert_non_null(strstr(err, "0x6030000000140000"));
    fixture_free(b);
    fixture_free(a);
    /* User mode: pscivm answers PSCI, KVM's register is not the guest's. */
    a = fixture_new("user");
    assert_int_equal(machine_snapshot_write(&a->m, path, NULL, err, sizeof(err)), 0);
    b = fixture_new("user");
    b->f.psci_version = b->f.psci_max = 0x10001;
    int rc = restore_into(b, path, err, sizeof(err));
    if (rc)
        fail_msg("restore: %s", err);
    assert_int_equal(b->f.psci_version, 0x10001);
    fixture_free(b);
    fixture_free(a);
    unlink(path);
}

/* vCPU 0 in SYSTEM_SUSPEND as power.c leaves it while it waits (vCPU 1 off). */
static void enter_system_suspend(struct fixture *fx, uint64_t entry, uint64_t context)
{
    struct machine *m = &fx->m;
    struct psci_call call = {.vcpu = 0, .x = {0xC400000E, entry, context}};
    struct psci_result res;
    assert_int_equal(psci_machine_call(&m->psci, &call, &res), 0);
    assert_int_equal(res.action.kind, PSCI_ACT_SYSTEM_SUSPEND);
    m->vcpus[0].state = VCPU_SUSPENDED;
    m->vcpus[0].resume_kind = VCPU_RESUME_SYSTEM;
    m->vcpus[0].resume_entry = entry;
    m->vcpus[0].resume_context = context;
    m->guest_suspended = true;
    m->suspended_vcpu = 0;
    fx->f.v[0].mp = HV_MP_SUSPENDED;
}

/* A vCPU caught between its suspend call and its wait cannot be saved yet; one that waits in
 * SYSTEM_SUSPEND is saved (SUSP) and the restore wakes it at its entry point, the PSCI core
 * agreeing, with vm_start's wakeup source "restore". */
static void test_machine_snapshot__suspended_vcpu(void **state)
{
    (void)state;
    struct fixture *a = fixture_new("user");
    a->m.vcpus[0].state = VCPU_SUSPENDED;
    char err[512] = "";
    const char *path = temp_path();
    unlink(path);
    assert_int_equal(machine_snapshot_write(&a->m, path, NULL, err, sizeof(err)), -EAGAIN);
    assert_non_null(strstr(err, "suspend"));
    assert_int_equal(access(path, F_OK), -1); /* nothing written */
    a->m.vcpus[0].state = VCPU_RUNNING;

    enter_system_suspend(a, MEMMAP_RAM_BASE + 0x2000, 0x1234);
    int rc = machine_snapshot_write(&a->m, path, NULL, err, sizeof(err));
    if (rc)
        fail_msg("save: %s", err);
    struct fixture *b = fixture_new("user");
    rc = restore_into(b, path, err, sizeof(err));
    if (rc)
        fail_msg("restore: %s", err);
    assert_int_equal(b->f.v[0].starts, 1);
    assert_int_equal(b->f.v[0].start_entry, MEMMAP_RAM_BASE + 0x2000);
    assert_int_equal(b->f.v[0].start_x0, 0x1234);
    assert_int_equal(b->f.v[0].mp, HV_MP_RUNNABLE);
    assert_int_equal(b->m.vcpus[0].state, VCPU_RUNNING);
    assert_int_equal(b->m.vcpus[0].woken_by_restore, VCPU_RESUME_SYSTEM);
    assert_int_equal(b->m.vcpus[1].state, VCPU_PARKED);
    struct psci_vcpu_info info;
    assert_int_equal(psci_vcpu_get_info(&b->m.psci, 0, &info), 0);
    assert_int_equal(info.state, PSCI_CPU_ON);
    const char *why = NULL;
    assert_int_equal(machine_check_locked(&b->m, &why), 0);
    fixture_free(b);

    /* Kernel mode (no PSCI core state in the file): the same wake-up. */
    fixture_free(a);
    a = fixture_new("kernel");
    a->m.vcpus[0].state = VCPU_SUSPENDED;
    a->m.vcpus[0].resume_kind = VCPU_RESUME_SYSTEM;
    a->m.vcpus[0].resume_entry = MEMMAP_RAM_BASE + 0x3000;
    a->m.vcpus[0].resume_context = 7;
    a->f.v[0].mp = HV_MP_SUSPENDED;
    a->f.v[1].mp = HV_MP_STOPPED;
    assert_int_equal(machine_snapshot_write(&a->m, path, NULL, err, sizeof(err)), 0);
    b = fixture_new("kernel");
    rc = restore_into(b, path, err, sizeof(err));
    if (rc)
        fail_msg("restore: %s", err);
    assert_int_equal(b->f.v[0].start_entry, MEMMAP_RAM_BASE + 0x3000);
    assert_int_equal(b->f.v[0].start_x0, 7);
    assert_int_equal(b->f.v[0].mp, HV_MP_RUNNABLE);
    assert_int_equal(b->f.v[1].mp, HV_MP_STOPPED);
    assert_int_equal(b->m.vcpus[0].woken_by_restore, VCPU_RESUME_SYSTEM);
    fixture_free(b);
    fixture_free(a);
    unlink(path);
}

/* --on-suspend save=PATH: machine_suspend_save() writes the suspended guest and stops with
 * status 11; a save that fails leaves the guest suspended and the machine going; a guest that
 * woke meanwhile is not saved. */
static void test_machine_snapshot__suspend_save(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new("user");
    struct machine *m = &fx->m;
    const char *path = temp_path();
    unlink(path);
    m->opts.on_suspend = ON_SUSPEND_SAVE;
    m->opts.suspend_file = "/nonexistent-dir/s.snap";
    m->state = MACHINE_RUNNING;
    enter_system_suspend(fx, MEMMAP_RAM_BASE + 0x2000, 0x1234);
    assert_true(machine_suspend_save(m) < 0);
    assert_false(m->stop);
    assert_int_equal(m->state, MACHINE_RUNNING);
    assert_true(m->guest_suspended);

    m->opts.suspend_file = path;
    m->guest_suspended = false; /* woke before the timer fired */
    assert_int_equal(machine_suspend_save(m), 0);
    assert_false(m->stop);
    assert_int_equal(access(path, F_OK), -1);

    m->guest_suspended = true;
    assert_int_equal(machine_suspend_save(m), 0);
    assert_true(m->stop);
    assert_int_equal(m->exit_status, PSCIVM_EXIT_SUSPENDED_TO_DISK);
    assert_int_equal(access(path, F_OK), 0);
    char err[512] = "";
    struct fixture *b = fixture_new("user");
    int rc = restore_into(b, path, err, sizeof(err));
    if (rc)
        fail_msg("restore: %s", err);
    assert_int_equal(b->f.v[0].start_entry, MEMMAP_RAM_BASE + 0x2000);
    fixture_free(b);
    fixture_free(fx);
    unlink(path);
}

static void test_machine_snapshot__changed_disk_refused(void **state)
{
    (void)state;
    char disk[64], err[512] = "", id[160];
    snprintf(disk, sizeof(disk), "/tmp/pscivm-msnap-disk-%d.img", (int)getpid());
    FILE *fp = fopen(disk, "w");
    assert_non_null(fp);
    fputs("0123456789", fp);
    fclose(fp);
    struct snapshot_config c;
    snapshot_config_init(&c);
    c.disks = calloc(1, sizeof(*c.disks));
    c.nr_disks = 1;
    c.disks[0].path = strdup(disk);
    assert_int_equal(machine_disk_identity(-1, disk, id, sizeof(id), &c.disks[0].size, err,
                                           sizeof(err)), 0);
    c.disks[0].identity = strdup(id);
    assert_int_equal(machine_snapshot_check_disks(&c, err, sizeof(err)), 0);
    usleep(20000);
    fp = fopen(disk, "r+");
    fputs("X", fp); /* same size, new contents */
    fclose(fp);
    assert_int_equal(machine_snapshot_check_disks(&c, err, sizeof(err)), -ESTALE);
    assert_non_null(strstr(err, "changed since it was saved"));
    unlink(disk);
    assert_int_equal(machine_snapshot_check_disks(&c, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "gone"));
    snapshot_config_release(&c);
}

/* snapshot-save through the control seam with real vCPU threads: the pause barrier holds them
 * for the save; then=continue runs them again, then=stop leaves the machine paused (cont
 * resumes the frozen counter), then=quit ends it with status 9; a failed save changes
 * nothing. */
static void test_machine_snapshot__control_then(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new("user");
    struct machine *m = &fx->m;
    struct vm_control ctl = machine_control(m);
    m->state = MACHINE_RUNNING;
    m->vcpus[0].state = VCPU_PARKED;
    m->vcpus[0].start_pending = true;
    m->vcpus[0].start_entry = MEMMAP_RAM_BASE;
    assert_int_equal(vcpus_start_threads(m), 0);
    assert_true(fake_hv_wait_idle(&fx->f, 0, 5000));
    char err[512] = "";
    const char *path = temp_path();
    struct json_object *out = NULL;
    int rc = ctl.ops->snapshot_save(m, path, &(struct vm_snapshot_opts){VM_SNAPSHOT_CONTINUE, false}, &out, err, sizeof(err));
    if (rc)
        fail_msg("save: %s", err);
    assert_non_null(out);
    json_object_put(out);
    assert_int_equal(ctl.ops->status(m), VM_STATUS_RUNNING);
    assert_true(fake_hv_wait_idle(&fx->f, 0, 5000)); /* vCPU 0 runs again */

    fx->f.counter = 5000;
    out = NULL;
    assert_int_equal(ctl.ops->snapshot_save(m, path, &(struct vm_snapshot_opts){VM_SNAPSHOT_STOP, true}, &out, err, sizeof(err)), 0);
    json_object_put(out);
    assert_int_equal(ctl.ops->status(m), VM_STATUS_PAUSED);
    fx->f.counter = 90000; /* time passes while paused */
    assert_int_equal(ctl.ops->cont(m, err, sizeof(err)), 0);
    assert_int_equal(fx->f.counter, 5000);
    assert_true(fake_hv_wait_idle(&fx->f, 0, 5000));

    /* A failed save (no such directory) leaves it running and says why. */
    out = NULL;
    rc = ctl.ops->snapshot_save(m, "/nonexistent-dir/x.snap", &(struct vm_snapshot_opts){VM_SNAPSHOT_QUIT, false}, &out, err,
                                sizeof(err));
    assert_true(rc < 0);
    assert_null(out);
    assert_non_null(strstr(err, "nonexistent-dir"));
    assert_int_equal(ctl.ops->status(m), VM_STATUS_RUNNING);

    out = NULL;
    assert_int_equal(ctl.ops->snapshot_save(m, path, &(struct vm_snapshot_opts){VM_SNAPSHOT_QUIT, false}, &out, err, sizeof(err)), 0);
    json_object_put(out);
    vcpus_join_threads(m);
    assert_int_equal(ctl.ops->status(m), VM_STATUS_SHUTDOWN);
    assert_int_equal(m->exit_status, PSCIVM_EXIT_SAVED);
    fixture_free(fx);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_machine_snapshot__round_trip),
        cmocka_unit_test(test_machine_snapshot__unknown_register),
        cmocka_unit_test(test_machine_snapshot__register_of_a_restored_feature),
        cmocka_unit_test(test_machine_snapshot__psci_version_not_offered),
        cmocka_unit_test(test_machine_snapshot__suspended_vcpu),
        cmocka_unit_test(test_machine_snapshot__suspend_save),
        cmocka_unit_test(test_machine_snapshot__changed_disk_refused),
        cmocka_unit_test(test_machine_snapshot__id_register_differs_only_for_el2),
        cmocka_unit_test(test_machine_snapshot__control_then),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
