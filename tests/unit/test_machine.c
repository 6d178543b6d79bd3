/* test_machine.c — the machine layer above a scripted hypervisor (fake_hv): exit dispatch
 * driven by synthetic exits (MMIO to the bus, forwarded PSCI calls and the registers they read
 * and write, system events, undecodable accesses, failures), the lifecycle state machine and
 * its invariant check, and the control operations QMP calls (pause/continue with real vCPU
 * threads, plug/unplug, wake-up, quit), and SYSTEM_SUSPEND with its policies and wake-up, and
 * the console sharing stdout with events. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "fake_hv.h"
#include "machine/machine.h"
#include "vmm/exit_status.h"
#include "vmm/memmap.h"

struct fixture {
    struct fake_hv f;
    struct machine m;
    struct vm_control ctl;
    uint64_t last_write;
    uint64_t last_offset;
    int calls;
};

static int rec_read(void *opaque, uint64_t offset, unsigned int size, uint64_t *value)
{
    struct fixture *fx = opaque;
    (void)size;
    fx->calls++;
    fx->last_offset = offset;
    *value = 0xabcd0000u + offset;
    return 0;
}

static int rec_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
    struct fixture *fx = opaque;
    (void)size;
    fx->calls++;
    fx->last_offset = offset;
    fx->last_write = value;
    return 0;
}

static const struct bus_device_ops rec_ops = {.read = rec_read, .write = rec_write};

/* A machine with the given `pscivm run` arguments on the fake hypervisor, not started. */
static struct fixture *fixture_new(const char *const *args, unsigned int n)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    char *argv[24];
    argv[0] = (char *)"run";
    for (unsigned int i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    struct run_options opts;
    char err[256];
    assert_int_equal(run_options_parse(&opts, (int)n + 1, argv, err, sizeof(err)), 0);
    assert_int_equal(machine_init(&fx->m, &opts, err, sizeof(err)), 0);
    struct machine *m = &fx->m;
    m->mode = opts.mode == PSCI_MODE_KERNEL ? PSCI_MODE_KERNEL : PSCI_MODE_USER;
    fake_hv_init(&fx->f, opts.max_cpus);
    m->hv = fake_hv_hv(&fx->f);
    assert_int_equal(machine_init_vcpus(m, err, sizeof(err)), 0);
    assert_int_equal(power_setup_cores(m, err, sizeof(err)), 0);
    assert_int_equal(bus_register(&m->bus, 0x09000000, 0x1000, &rec_ops, fx, "rec"), 0);
    m->state = MACHINE_RUNNING;
    m->vcpus[0].state = VCPU_RUNNING;
    fx->ctl = machine_control(m);
    return fx;
}

static void fixture_free(struct fixture *fx)
{
    machine_release(&fx->m);
    fake_hv_release(&fx->f);
    free(fx);
}

#define FIXTURE(...)                                                                       \
    ({                                                                                     \
        static const char *const a_[] = {__VA_ARGS__};                                     \
        fixture_new(a_, sizeof(a_) / sizeof(a_[0]));                                       \
    })

static int dispatch(struct fixture *fx, unsigned int vcpu, const struct vm_exit *e)
{
    fx->m.vcpus[vcpu].exit = *e;
    return exits_dispatch(&fx->m, &fx->m.vcpus[vcpu]);
}

static int hypercall(struct fixture *fx, unsigned int vcpu, uint32_t fid, uint64_t x1,
                     uint64_t x2, uint64_t x3)
{
    fx->f.v[vcpu].regs[1] = x1;
    fx->f.v[vcpu].regs[2] = x2;
    fx->f.v[vcpu].regs[3] = x3;
    struct vm_exit e = {.kind = VM_EXIT_HYPERCALL, .hypercall.function = fid};
    return dispatch(fx, vcpu, &e);
}

static void check_invariants(struct fixture *fx)
{
    const char *why = NULL;
    pthread_mutex_lock(&fx->m.lock);
    int rc = machine_check_locked(&fx->m, &why);
    pthread_mutex_unlock(&fx->m.lock);
    if (rc)
        fail_msg("invariant: %s", why);
}

/* ---- exit dispatch ---------------------------------------------------------------------- */

static void test_exits__mmio_write_and_read_reach_the_device(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--psci-mode", "user");
    struct vm_exit w = {.kind = VM_EXIT_MMIO,
                        .mmio = {.addr = 0x09000010, .len = 4, .is_write = true}};
    uint32_t val = 0x12345678;
    memcpy(w.mmio.data, &val, 4);
    assert_int_equal(dispatch(fx, 0, &w), 0);
    assert_int_equal(fx->last_offset, 0x10);
    assert_int_equal(fx->last_write, 0x12345678);
    struct vm_exit r = {.kind = VM_EXIT_MMIO, .mmio = {.addr = 0x09000020, .len = 4}};
    assert_int_equal(dispatch(fx, 0, &r), 0);
    uint32_t got;
    memcpy(&got, fx->m.vcpus[0].exit.mmio.data, 4);
    assert_int_equal(got, 0xabcd0020u);
    fixture_free(fx);
}

static void test_exits__unmapped_read_is_zero_and_harmless(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--psci-mode", "user");
    struct vm_exit r = {.kind = VM_EXIT_MMIO, .mmio = {.addr = 0x0c000000, .len = 8}};
    memset(r.mmio.data, 0xff, 8);
    assert_int_equal(dispatch(fx, 0, &r), 0);
    for (unsigned int i = 0; i < 8; i++)
        assert_int_equal(fx->m.vcpus[0].exit.mmio.data[i], 0);
    /* A bad size to a device: refused by the bus, logged, the guest goes on. */
    struct vm_exit bad = {.kind = VM_EXIT_MMIO, .mmio = {.addr = 0x09000ffe, .len = 4}};
    assert_int_equal(dispatch(fx, 0, &bad), 0);
    assert_false(fx->m.stop);
    fixture_free(fx);
}

static void test_exits__psci_version_answered_by_the_core(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--psci", "1.2", "--psci-mode", "user");
    assert_int_equal(hypercall(fx, 0, 0x84000000, 7, 0, 0), 0);
    assert_int_equal(fx->f.v[0].regs[0], 0x10002);
    assert_int_equal(fx->f.v[0].regs[1], 7); /* x1..x3 are left as the caller had them */
    check_invariants(fx);
    fixture_free(fx);
}

/* User mode's register traffic per forwarded call (each access is a ONE_REG ioctl on KVM):
 * only the argument registers the function reads, then x0 alone. x1..x3 hold what the caller
 * put there afterwards (SMCCC: preserved or a constant; user mode preserves), and SMC32
 * arguments are still narrowed to their low halves by the core. */
static void test_exits__psci_reads_only_its_arguments_and_writes_x0(void **state)
{
    (void)state;
    const uint64_t p1 = 0x1111111100000000ull, p2 = 0x2222222200000000ull,
                   p3 = 0x3333333300000000ull; /* low halves 0 for SMC32 */
    const struct {
        const char *name;
        uint32_t fid;
        uint64_t x1, x2, x3;
        unsigned int gets, sets;
        uint64_t x0;
    } cases[] = {
        {"PSCI_VERSION", 0x84000000, p1 | 5, p2, p3, 0, 1, 0x10003},
        {"PSCI_FEATURES", 0x8400000A, p1 | 0x84000000u, p2, p3, 1, 1, 0},
        {"PSCI_FEATURES of SMC64 SYSTEM_OFF2", 0x8400000A, 0xC4000015u, p2, p3, 1, 1, 1},
        {"CPU_ON (SMC64)", 0xC4000003, 1, 0x40001000, 0x55, 3, 1, 0},
        {"CPU_ON (SMC32, garbage above)", 0x84000003, p1 | 1, p2 | 0x40001000, p3 | 0x55, 3, 1,
         0},
        {"AFFINITY_INFO", 0xC4000004, 0, 0, p3, 2, 1, 0 /* ON */},
        {"AFFINITY_INFO (SMC32, garbage above)", 0x84000004, p1, p2 | 0, p3, 2, 1, 0},
        {"SYSTEM_RESET2 bad type", 0xC4000012, 1, p2, p3, 2, 1, (uint64_t)-2},
        {"MIGRATE_INFO_TYPE", 0x84000006, p1, p2, p3, 0, 1, 2},
        {"MIGRATE (unimplemented)", 0xC4000005, p1, p2, p3, 0, 1, (uint64_t)-1},
        {"unknown PSCI number", 0x8400001F, p1, p2, p3, 0, 1, (uint64_t)-1},
        {"SMC64 form of PSCI_VERSION", 0xC4000000, p1, p2, p3, 0, 1, (uint64_t)-1},
    };
    for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fixture *fx = FIXTURE("--payload", "x", "--cpus", "2", "--psci", "1.3",
                                     "--psci-mode", "user");
        struct fake_vcpu *v = &fx->f.v[0];
        v->get_regs = v->set_regs = 0;
        assert_int_equal(hypercall(fx, 0, cases[i].fid, cases[i].x1, cases[i].x2, cases[i].x3),
                         0);
        if (v->get_regs != cases[i].gets || v->set_regs != cases[i].sets)
            fail_msg("%s: %u reads and %u writes, expected %u and %u", cases[i].name,
                     v->get_regs, v->set_regs, cases[i].gets, cases[i].sets);
        if (v->regs[0] != cases[i].x0)
            fail_msg("%s: x0 = %#llx, expected %#llx", cases[i].name,
                     (unsigned long long)v->regs[0], (unsigned long long)cases[i].x0);
        if (v->regs[1] != cases[i].x1 || v->regs[2] != cases[i].x2 || v->regs[3] != cases[i].x3)
            fail_msg("%s: x1..x3 changed by the call", cases[i].name);
        check_invariants(fx);
        fixture_free(fx);
    }

    /* The SMC32 CPU_ON above started vCPU 1 with the low halves only, as before. */
    struct fixture *fx = FIXTURE("--payload", "x", "--cpus", "2", "--psci-mode", "user");
    assert_int_equal(hypercall(fx, 0, 0x84000003, p1 | 1, p2 | 0x40001000, p3 | 0x55), 0);
    assert_int_equal(fx->f.v[0].regs[0], 0);
    assert_true(fx->m.vcpus[1].start_pending);
    assert_int_equal(fx->m.vcpus[1].start_entry, 0x40001000);
    assert_int_equal(fx->m.vcpus[1].start_context, 0x55);
    fixture_free(fx);

    /* CPU_OFF and SYSTEM_OFF write nothing at all (the caller does not resume). */
    fx = FIXTURE("--payload", "x", "--psci-mode", "user");
    fx->f.v[0].get_regs = fx->f.v[0].set_regs = 0;
    assert_int_equal(hypercall(fx, 0, 0x84000008, p1, p2, p3), 0);
    assert_int_equal(fx->f.v[0].get_regs, 0);
    assert_int_equal(fx->f.v[0].set_regs, 0);
    assert_true(fx->m.stop);
    fixture_free(fx);
}

/* Kernel mode answers a refused SYSTEM_SUSPEND as KVM answers every call,
 * smccc_set_retval(x0, 0, 0, 0): x1..x3 are zeroed there, only those not zero already. */
static void test_exits__kernel_mode_zeroes_x1_to_x3(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--psci-mode", "kernel", "--psci", "1.1",
                                 "--on-suspend", "deny");
    struct fake_vcpu *v = &fx->f.v[0];
    v->regs[0] = 0xC400000E;
    v->regs[1] = 0x40080000;
    v->regs[2] = 0x1234;
    v->regs[3] = 0;
    v->get_regs = v->set_regs = 0;
    struct vm_exit e = {.kind = VM_EXIT_SYSTEM_EVENT};
    e.system.type = VM_SYSEV_SUSPEND;
    /* The check takes the pause as the calling vCPU's thread: this thread stands in for it. */
    fx->m.vcpus[0].thread_live = true;
    assert_int_equal(dispatch(fx, 0, &e), 0);
    fx->m.vcpus[0].thread_live = false;
    assert_int_equal((int64_t)v->regs[0], -3); /* DENIED */
    assert_int_equal(v->regs[1], 0);
    assert_int_equal(v->regs[2], 0);
    assert_int_equal(v->regs[3], 0);
    assert_int_equal(v->get_regs, 4); /* x0 (the function ID) and x1..x3 */
    assert_int_equal(v->set_regs, 3); /* x0, x1, x2 (x3 was already zero) */
    fixture_free(fx);
}

static void test_exits__cpu_on_posts_a_start_to_the_target(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--cpus", "2", "--psci-mode", "user");
    assert_int_equal(hypercall(fx, 0, 0xC4000003, 1, 0x40001000, 0x55), 0);
    assert_int_equal(fx->f.v[0].regs[0], 0);
    assert_true(fx->m.vcpus[1].start_pending);
    assert_true(fx->m.vcpus[1].start_is_cpu_on);
    assert_int_equal(fx->m.vcpus[1].start_entry, 0x40001000);
    assert_int_equal(fx->m.vcpus[1].start_context, 0x55);
    /* Again while ON_PENDING. */
    assert_int_equal(hypercall(fx, 0, 0xC4000003, 1, 0x40001000, 0x55), 0);
    assert_int_equal((int64_t)fx->f.v[0].regs[0], -5); /* ON_PENDING */
    fixture_free(fx);
}

static void test_exits__cpu_on_of_unplugged_vcpu_is_denied(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--cpus", "2", "--max-cpus", "4",
                                 "--psci", "1.3", "--psci-mode", "user");
    assert_int_equal(fx->m.hv.nr_vcpus, 4);
    assert_int_equal(hypercall(fx, 0, 0xC4000003, 3, 0x40001000, 0), 0);
    assert_int_equal((int64_t)fx->f.v[0].regs[0], -3); /* DENIED */
    assert_false(fx->m.vcpus[3].start_pending);
    /* Below 1.2 the same refusal is INTERNAL_FAILURE. */
    fixture_free(fx);
    fx = FIXTURE("--payload", "x", "--cpus", "1", "--max-cpus", "2", "--psci", "1.1",
                 "--psci-mode", "user");
    assert_int_equal(hypercall(fx, 0, 0x84000003, 1, 0x40001000, 0), 0);
    assert_int_equal((int32_t)fx->f.v[0].regs[0], -6);
    fixture_free(fx);
}

static void test_exits__system_events_apply_the_policy(void **state)
{
    (void)state;
    struct {
        enum vm_system_event type;
        bool flag;
        bool restart;
        int status;
    } cases[] = {
        {VM_SYSEV_SHUTDOWN, false, false, PSCIVM_EXIT_OFF},
        {VM_SYSEV_SHUTDOWN, true, false, PSCIVM_EXIT_HIBERNATE},
        {VM_SYSEV_RESET, false, true, PSCIVM_EXIT_RESET},
        {VM_SYSEV_CRASH, false, false, PSCIVM_EXIT_GUEST_DEAD},
    };
    for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fixture *fx = FIXTURE("--payload", "x", "--psci-mode", "kernel", "--psci", "1.1");
        struct vm_exit e = {.kind = VM_EXIT_SYSTEM_EVENT};
        e.system.type = cases[i].type;
        e.system.psci_off2 = cases[i].flag;
        assert_int_equal(dispatch(fx, 0, &e), 0);
        assert_true(fx->m.stop);
        assert_int_equal(fx->m.stop_restart, cases[i].restart);
        assert_int_equal(fx->m.exit_status, cases[i].status);
        assert_int_equal(fx->m.state, cases[i].restart ? MACHINE_RUNNING : MACHINE_STOPPED);
        check_invariants(fx);
        fixture_free(fx);
    }
}

static void test_exits__reset2_reads_type_and_cookie(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--psci-mode", "kernel", "--psci", "1.1",
                                 "--on-reset", "exit");
    fx->f.v[0].regs[1] = 0x80000001;
    fx->f.v[0].regs[2] = 0xc00c1e;
    struct vm_exit e = {.kind = VM_EXIT_SYSTEM_EVENT};
    e.system.type = VM_SYSEV_RESET;
    e.system.psci_reset2 = true;
    assert_int_equal(dispatch(fx, 0, &e), 0);
    assert_int_equal(fx->m.exit_status, PSCIVM_EXIT_RESET);
    assert_string_equal(fx->m.exit_reason, "system_reset2");
    fixture_free(fx);
}

static void test_exits__undecodable_access_injects_an_abort(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--psci-mode", "user");
    struct vm_exit e = {.kind = VM_EXIT_NISV, .nisv.ipa = 0x0a000000};
    assert_int_equal(dispatch(fx, 0, &e), 0);
    assert_int_equal(fx->f.v[0].dabts, 1);
    assert_false(fx->m.stop);
    fixture_free(fx);
}

static void test_exits__failures_are_errors(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--psci-mode", "kernel", "--psci", "1.1");
    struct vm_exit fail = {.kind = VM_EXIT_FAIL, .fail = {.code = 1, .raw_reason = 9}};
    assert_int_equal(dispatch(fx, 0, &fail), -EIO);
    struct vm_exit unk = {.kind = VM_EXIT_UNKNOWN};
    assert_int_equal(dispatch(fx, 0, &unk), -EPROTO);
    /* A forwarded hypercall cannot happen in kernel mode: a protocol error, not a crash. */
    assert_int_equal(hypercall(fx, 0, 0x84000000, 0, 0, 0), -EPROTO);
    fixture_free(fx);
}

/* ---- lifecycle and control ---------------------------------------------------------------- */

static void test_lifecycle__invariant_check_catches_bad_states(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--cpus", "2", "--psci-mode", "user");
    const char *why;
    check_invariants(fx);
    fx->m.state = MACHINE_PAUSED; /* without the control pause */
    assert_int_equal(machine_check_locked(&fx->m, &why), -EUCLEAN);
    fx->m.state = MACHINE_STOPPED; /* without a stop request */
    assert_int_equal(machine_check_locked(&fx->m, &why), -EUCLEAN);
    fx->m.state = MACHINE_RUNNING;
    fx->m.vcpus[1].state = VCPU_RUNNING; /* the core sees vCPU 1 OFF */
    assert_int_equal(machine_check_locked(&fx->m, &why), -EUCLEAN);
    fx->m.vcpus[1].state = VCPU_PARKED;
    fx->m.pause_holder = 7;
    assert_int_equal(machine_check_locked(&fx->m, &why), -EUCLEAN);
    fx->m.pause_holder = PAUSE_NOBODY;
    check_invariants(fx);
    fixture_free(fx);
}

static void test_control__stop_and_cont_with_running_threads(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--cpus", "3", "--psci-mode", "user");
    struct machine *m = &fx->m;
    m->vcpus[0].state = VCPU_PARKED;
    m->vcpus[0].start_pending = true;
    m->vcpus[0].start_entry = 0x40000000;
    assert_int_equal(vcpus_start_threads(m), 0);
    assert_true(fake_hv_wait_idle(&fx->f, 0, 5000));
    assert_int_equal(fx->ctl.ops->status(m), VM_STATUS_RUNNING);
    char err[256];
    fx->f.counter = 1000;
    assert_int_equal(fx->ctl.ops->stop(m, err, sizeof(err)), 0);
    assert_int_equal(fx->ctl.ops->status(m), VM_STATUS_PAUSED);
    pthread_mutex_lock(&m->lock);
    assert_int_equal(m->paused, 3); /* the running vCPU and both parked ones */
    assert_true(m->counter_saved);
    uint64_t frozen = m->counter_at_pause;
    pthread_mutex_unlock(&m->lock);
    check_invariants(fx);
    assert_int_equal(fx->ctl.ops->stop(m, err, sizeof(err)), 0); /* idempotent */
    fx->f.counter = 99999; /* "time passes" while paused */
    assert_int_equal(fx->ctl.ops->cont(m, err, sizeof(err)), 0);
    assert_int_equal(fx->f.counter, frozen); /* guest time resumes where it stopped */
    assert_int_equal(fx->ctl.ops->status(m), VM_STATUS_RUNNING);
    assert_true(fake_hv_wait_idle(&fx->f, 0, 5000));
    /* A guest exit still works after the pause. */
    struct vm_exit ver = {.kind = VM_EXIT_HYPERCALL, .hypercall.function = 0x84000000};
    fake_hv_queue(&fx->f, 0, &ver);
    assert_true(fake_hv_wait_idle(&fx->f, 0, 5000));
    assert_int_equal(fx->f.v[0].regs[0], 0x10003);
    assert_int_equal(fx->ctl.ops->quit(m, err, sizeof(err)), 0);
    vcpus_join_threads(m);
    assert_int_equal(fx->ctl.ops->status(m), VM_STATUS_SHUTDOWN);
    assert_int_equal(m->exit_status, PSCIVM_EXIT_SIGNAL);
    assert_int_equal(fx->ctl.ops->stop(m, err, sizeof(err)), -ESHUTDOWN);
    check_invariants(fx);
    fixture_free(fx);
}

static void test_control__cpu_plug_and_unplug(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--cpus", "2", "--max-cpus", "4",
                                 "--psci-mode", "user");
    struct machine *m = &fx->m;
    char err[256];
    assert_int_equal(fx->ctl.ops->cpu_plug(m, 2, err, sizeof(err)), 0);
    assert_int_equal(fx->ctl.ops->cpu_plug(m, 2, err, sizeof(err)), -EALREADY);
    assert_non_null(strstr(err, "already plugged"));
    assert_int_equal(fx->ctl.ops->cpu_plug(m, 9, err, sizeof(err)), -ENODEV);
    assert_int_equal(fx->ctl.ops->cpu_unplug(m, 0, err, sizeof(err)), -EINVAL);
    /* The plugged vCPU may now be started; once on, unplug is refused. */
    assert_int_equal(hypercall(fx, 0, 0xC4000003, 2, 0x40001000, 0), 0);
    assert_int_equal(fx->f.v[0].regs[0], 0);
    assert_int_equal(fx->ctl.ops->cpu_unplug(m, 2, err, sizeof(err)), -EBUSY);
    assert_non_null(strstr(err, "online"));
    /* vCPU 3 was never plugged: unplug says so; CPU_ON stays DENIED. */
    assert_int_equal(fx->ctl.ops->cpu_unplug(m, 3, err, sizeof(err)), -EALREADY);
    assert_int_equal(hypercall(fx, 0, 0xC4000003, 3, 0x40001000, 0), 0);
    assert_int_equal((int64_t)fx->f.v[0].regs[0], -3);
    struct json_object *o = NULL;
    assert_int_equal(fx->ctl.ops->query_psci(m, &o, err, sizeof(err)), 0);
    struct json_object *cpus = json_object_object_get(o, "cpus");
    assert_int_equal(json_object_array_length(cpus), 4);
    struct json_object *c3 = json_object_array_get_idx(cpus, 3);
    assert_false(json_object_get_boolean(json_object_object_get(c3, "plugged")));
    assert_string_equal(json_object_get_string(json_object_object_get(o, "version")), "1.3");
    json_object_put(o);
    assert_int_equal(fx->ctl.ops->query_cpus(m, &o, err, sizeof(err)), 0);
    assert_int_equal(json_object_array_length(o), 4);
    json_object_put(o);
    fixture_free(fx);

    fx = FIXTURE("--payload", "x", "--cpus", "2", "--psci-mode", "kernel", "--psci", "1.1");
    assert_int_equal(fx->ctl.ops->cpu_plug(&fx->m, 1, err, sizeof(err)), -EOPNOTSUPP);
    fixture_free(fx);
}

static void test_control__wakeup_needs_a_suspended_guest(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--psci-mode", "user");
    char err[256];
    assert_int_equal(fx->ctl.ops->system_wakeup(&fx->m, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not in suspended state"));
    fixture_free(fx);
}

/* A stop that ends pscivm overrides a restart still in progress (a --timeout firing during a
 * guest reset must not be lost); a second restart or a later end does not override an end. */
static void test_lifecycle__end_overrides_pending_restart(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--psci-mode", "user");
    struct machine *m = &fx->m;
    machine_request_stop(m, true, PSCIVM_EXIT_RESET, "system_reset");
    assert_true(m->stop && m->stop_restart);
    machine_request_stop(m, true, PSCIVM_EXIT_RESET, "system_reset2");
    assert_string_equal(m->exit_reason, "system_reset");
    machine_request_stop(m, false, PSCIVM_EXIT_TIMEOUT, "timeout");
    assert_false(m->stop_restart);
    assert_int_equal(m->exit_status, PSCIVM_EXIT_TIMEOUT);
    assert_string_equal(m->exit_reason, "timeout");
    machine_request_stop(m, false, PSCIVM_EXIT_SIGNAL, "SIGTERM");
    machine_request_stop(m, true, PSCIVM_EXIT_RESET, "system_reset");
    assert_int_equal(m->exit_status, PSCIVM_EXIT_TIMEOUT);
    assert_false(m->stop_restart);
    fixture_free(fx);
}

/* ---- suspend and wake-up ------------------------------------------------------------------ */

static char *slurp(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static bool wait_status(struct fixture *fx, enum vm_run_status want)
{
    for (int i = 0; i < 500; i++) {
        if (fx->ctl.ops->status(&fx->m) == want)
            return true;
        usleep(10000);
    }
    return false;
}

/* SYSTEM_SUSPEND in user mode: the guest counts as suspended by the time the event is out (so
 * a client acting on it can wake it), sleeps in HV_MP_SUSPENDED, and system_wakeup resumes it
 * at entry with x0 = context, naming qmp as the source. */
static void test_power__system_suspend_until_qmp_wakeup(void **state)
{
    (void)state;
    char path[] = "/tmp/test_machine_ev.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    const char *const args[] = {"--payload", "x", "--psci-mode", "user", "--events", path};
    struct fixture *fx = fixture_new(args, 6);
    struct machine *m = &fx->m;
    m->vcpus[0].state = VCPU_PARKED;
    m->vcpus[0].start_pending = true;
    m->vcpus[0].start_entry = 0x40000000;
    assert_int_equal(vcpus_start_threads(m), 0);
    assert_true(fake_hv_wait_idle(&fx->f, 0, 5000));
    char err[256];
    assert_int_equal(fx->ctl.ops->system_wakeup(m, err, sizeof(err)), -EINVAL);
    fx->f.v[0].regs[1] = 0x40080000;
    fx->f.v[0].regs[2] = 0x1234;
    struct vm_exit susp = {.kind = VM_EXIT_HYPERCALL, .hypercall.function = 0xC400000E};
    fake_hv_queue(&fx->f, 0, &susp);
    assert_true(wait_status(fx, VM_STATUS_SUSPENDED));
    assert_non_null(strstr(slurp(path), "\"outcome\":\"suspended\""));
    assert_true(fake_hv_wait_idle(&fx->f, 0, 5000));
    assert_int_equal(fx->f.v[0].mp, HV_MP_SUSPENDED);
    unsigned int starts = fx->f.v[0].starts;
    assert_int_equal(fx->ctl.ops->system_wakeup(m, err, sizeof(err)), 0);
    assert_true(wait_status(fx, VM_STATUS_RUNNING));
    assert_true(fake_hv_wait_idle(&fx->f, 0, 5000));
    assert_int_equal(fx->f.v[0].starts, starts + 1);
    assert_int_equal(fx->f.v[0].start_entry, 0x40080000);
    assert_int_equal(fx->f.v[0].start_x0, 0x1234);
    assert_int_equal(fx->f.v[0].mp, HV_MP_RUNNABLE);
    const char *ev = slurp(path);
    const char *s = strstr(ev, "\"system_suspend\""), *w = strstr(ev, "\"wakeup\"");
    assert_non_null(s);
    assert_non_null(w);
    assert_true(s < w);
    assert_non_null(strstr(w, "\"source\":\"qmp\""));
    assert_non_null(strstr(w, "\"cpu_resume\""));
    assert_int_equal(fx->ctl.ops->system_wakeup(m, err, sizeof(err)), -EINVAL);
    assert_int_equal(fx->ctl.ops->quit(m, err, sizeof(err)), 0);
    vcpus_join_threads(m);
    check_invariants(fx);
    fixture_free(fx);
    unlink(path);
}

/* --on-suspend exit: the call is accepted and pscivm ends with status 8; deny answers DENIED. */
static void test_power__on_suspend_exit_and_deny(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--psci-mode", "user", "--on-suspend", "exit");
    assert_int_equal(hypercall(fx, 0, 0xC400000E, 0x40080000, 0, 0), 0);
    assert_true(fx->m.stop);
    assert_int_equal(fx->m.exit_status, PSCIVM_EXIT_SUSPEND);
    assert_string_equal(fx->m.exit_reason, "system_suspend");
    assert_int_equal(fx->ctl.ops->status(&fx->m), VM_STATUS_SHUTDOWN);
    fixture_free(fx);
    fx = FIXTURE("--payload", "x", "--psci-mode", "user", "--on-suspend", "deny");
    assert_int_equal(hypercall(fx, 0, 0xC400000E, 0x40080000, 0, 0), 0);
    assert_int_equal((int64_t)fx->f.v[0].regs[0], -3); /* DENIED */
    assert_false(fx->m.stop);
    check_invariants(fx);
    fixture_free(fx);
}

/* The wake source is the first device interrupt raised while suspended. */
static void test_power__wake_source_names(void **state)
{
    (void)state;
    struct fixture *fx = FIXTURE("--payload", "x", "--psci-mode", "user");
    assert_string_equal(board_irq_source_name(&fx->m, BOARD_NO_SPI), "timer");
    assert_string_equal(board_irq_source_name(&fx->m, MEMMAP_UART_SPI), "console");
    assert_string_equal(board_irq_source_name(&fx->m, MEMMAP_RTC_SPI), "rtc");
    assert_string_equal(board_irq_source_name(&fx->m, MEMMAP_VIRTIO_SPI_BASE), "other");
    fixture_free(fx);
}

/* --events - : console output shares stdout with the event lines. A whole line goes out at
 * once; a partial line (a prompt) goes out after a quiet tick, and the next event starts on a
 * line of its own. Board built on the fake hypervisor, both streams into one pipe. */
static void uart_out(struct machine *m, const char *text)
{
    for (const char *c = text; *c; c++) {
        struct vm_exit e = {.kind = VM_EXIT_MMIO,
                            .mmio = {.addr = MEMMAP_UART_BASE, .len = 1, .is_write = true}};
        e.mmio.data[0] = (uint8_t)*c;
        m->vcpus[0].exit = e;
        assert_int_equal(exits_dispatch(m, &m->vcpus[0]), 0);
    }
}

static size_t drain(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = 0;
    return len;
}

static void test_console__partial_line_with_events_on_stdout(void **state)
{
    (void)state;
    struct machine *m = calloc(1, sizeof(*m));
    struct fake_hv *f = calloc(1, sizeof(*f));
    assert_non_null(m);
    assert_non_null(f);
    char *argv[] = {(char *)"run", (char *)"--payload", (char *)"x", (char *)"--psci-mode",
                    (char *)"user", (char *)"--console", (char *)"none"};
    struct run_options opts;
    char err[256];
    assert_int_equal(run_options_parse(&opts, 7, argv, err, sizeof(err)), 0);
    assert_int_equal(machine_init(m, &opts, err, sizeof(err)), 0);
    m->mode = PSCI_MODE_USER;
    fake_hv_init(f, opts.max_cpus);
    m->hv = fake_hv_hv(f);
    assert_int_equal(machine_init_vcpus(m, err, sizeof(err)), 0);
    assert_int_equal(power_setup_cores(m, err, sizeof(err)), 0);
    assert_int_equal(board_build(m, err, sizeof(err)), 0);
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    m->console_fd = p[1];
    m->events.fd = p[1];
    m->console_line_buffered = true;
    char buf[1024];

    uart_out(m, "one line\nlogin: ");
    drain(p[0], buf, sizeof(buf));
    assert_string_equal(buf, "one line\n"); /* the prompt waits */
    int wait = board_console_tick(m);
    assert_true(wait > 0 && wait <= BOARD_CONSOLE_TICK_MS + 1);
    assert_int_equal(drain(p[0], buf, sizeof(buf)), 0);
    usleep((BOARD_CONSOLE_TICK_MS + 20) * 1000);
    assert_int_equal(board_console_tick(m), -1); /* quiet for a tick: out it goes */
    drain(p[0], buf, sizeof(buf));
    assert_string_equal(buf, "login: ");

    machine_emit(m, "test_event", -1, NULL);
    drain(p[0], buf, sizeof(buf));
    assert_true(strncmp(buf, "\n{\"event\":\"test_event\"", 22) == 0); /* its own line */
    machine_emit(m, "test_event", -1, NULL);
    drain(p[0], buf, sizeof(buf));
    assert_true(strncmp(buf, "{\"event\"", 8) == 0); /* no second newline */

    uart_out(m, "root\n");
    drain(p[0], buf, sizeof(buf));
    assert_string_equal(buf, "root\n");
    assert_int_equal(board_console_tick(m), -1); /* nothing waits: no time limit */

    m->console_fd = -1;
    m->events.fd = -1;
    close(p[0]);
    close(p[1]);
    machine_release(m);
    fake_hv_release(f);
    free(f);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exits__mmio_write_and_read_reach_the_device),
        cmocka_unit_test(test_exits__unmapped_read_is_zero_and_harmless),
        cmocka_unit_test(test_exits__psci_version_answered_by_the_core),
        cmocka_unit_test(test_exits__psci_reads_only_its_arguments_and_writes_x0),
        cmocka_unit_test(test_exits__kernel_mode_zeroes_x1_to_x3),
        cmocka_unit_test(test_exits__cpu_on_posts_a_start_to_the_target),
        cmocka_unit_test(test_exits__cpu_on_of_unplugged_vcpu_is_denied),
        cmocka_unit_test(test_exits__system_events_apply_the_policy),
        cmocka_unit_test(test_exits__reset2_reads_type_and_cookie),
        cmocka_unit_test(test_exits__undecodable_access_injects_an_abort),
        cmocka_unit_test(test_exits__failures_are_errors),
        cmocka_unit_test(test_lifecycle__invariant_check_catches_bad_states),
        cmocka_unit_test(test_lifecycle__end_overrides_pending_restart),
        cmocka_unit_test(test_control__stop_and_cont_with_running_threads),
        cmocka_unit_test(test_control__cpu_plug_and_unplug),
        cmocka_unit_test(test_control__wakeup_needs_a_suspended_guest),
        cmocka_unit_test(test_power__system_suspend_until_qmp_wakeup),
        cmocka_unit_test(test_power__on_suspend_exit_and_deny),
        cmocka_unit_test(test_power__wake_source_names),
        cmocka_unit_test(test_console__partial_line_with_events_on_stdout),
    };
    return cmocka_run_group_tests_name("machine", tests, NULL, NULL);
}
