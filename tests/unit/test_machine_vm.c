/* test_machine_vm.c — a machine run with --vm DIR on the fake hypervisor (src/machine/vm.c):
 * the definition written at the start from the built machine, SYSTEM_OFF2 in user mode (type
 * read) and kernel mode (KVM's exit: type unreadable) writing the hibernation record, SYSTEM_OFF
 * clearing it, an unchanged hibernated start resuming, a machine that differs after the build
 * (MPIDRs) refused with the difference, --discard-hibernation clearing the record, and a
 * definition asking for a function set its version does not come with refused. */
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

#include "fake_hv.h"
#include "machine/machine.h"
#include "vmm/exit_status.h"
#include "vmm/vmdir.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/pscivm-mvm-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

struct fx {
    struct fake_hv f;
    struct machine m;
    struct vm_dir vd;
};

/* pscivm run --vm DIR ARGS... up to the machine's start: DIR opened and locked, the options
 * applied over its definition, the machine built on the fake hypervisor. */
static struct fx *start(const char *const *args, unsigned int n)
{
    struct fx *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    char *argv[24];
    argv[0] = (char *)"run";
    argv[1] = (char *)"--vm";
    argv[2] = dir;
    for (unsigned int i = 0; i < n; i++)
        argv[i + 3] = (char *)args[i];
    struct run_options o;
    char err[512];
    struct vmdef_diffs l;
    assert_int_equal(run_options_parse(&o, (int)n + 3, argv, err, sizeof(err)), 0);
    assert_int_equal(vm_dir_open(&x->vd, dir, err, sizeof(err)), 0);
    vmdef_diffs_init(&l);
    assert_int_equal(vmdef_apply(x->vd.has_def ? &x->vd.def : NULL, &o, &x->vd.cand, &l, err,
                                 sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(run_options_validate(&o, err, sizeof(err)), 0);
    assert_int_equal(machine_init(&x->m, &o, err, sizeof(err)), 0);
    struct machine *m = &x->m;
    m->mode = o.mode == PSCI_MODE_KERNEL ? PSCI_MODE_KERNEL : PSCI_MODE_USER;
    fake_hv_init(&x->f, o.max_cpus);
    m->hv = fake_hv_hv(&x->f);
    snprintf(m->host.release, sizeof(m->host.release), "7.2.0-test");
    assert_int_equal(machine_init_vcpus(m, err, sizeof(err)), 0);
    assert_int_equal(power_setup_cores(m, err, sizeof(err)), 0);
    m->state = MACHINE_RUNNING;
    m->vcpus[0].state = VCPU_RUNNING;
    m->vm = &x->vd;
    return x;
}
#define START(...)                                                                         \
    ({                                                                                     \
        static const char *const a_[] = {__VA_ARGS__};                                     \
        start(a_, sizeof(a_) / sizeof(a_[0]));                                             \
    })

static void stop(struct fx *x)
{
    machine_release(&x->m);
    fake_hv_release(&x->f);
    vm_dir_release(&x->vd);
    free(x);
}

static int prepare(struct fx *x, struct vmdef_diffs *l)
{
    char err[512];
    vmdef_diffs_init(l);
    return machine_vm_prepare(&x->m, l, err, sizeof(err));
}

/* The guest's SYSTEM_OFF2(HIBERNATE_OFF) as user mode sees it (x1 = type). */
static void user_off2(struct fx *x)
{
    x->f.v[0].regs[1] = 1;
    x->f.v[0].regs[2] = 0;
    struct vm_exit e = {.kind = VM_EXIT_HYPERCALL, .hypercall.function = 0xC4000015};
    x->m.vcpus[0].exit = e;
    assert_int_equal(exits_dispatch(&x->m, &x->m.vcpus[0]), 0);
}

static enum vm_state state_now(void)
{
    struct vm_status st;
    char err[512];
    assert_int_equal(vm_dir_status(dir, &st, err, sizeof(err)), 0);
    enum vm_state s = st.state;
    vm_status_release(&st);
    return s;
}

static void test_machine_vm__user_mode_cycle(void **state)
{
    (void)state;
    struct vmdef_diffs l;
    char err[512];
    struct fx *x = START("--payload", "p.bin", "--cpus", "2", "--psci", "1.3", "--psci-mode",
                         "user");
    assert_int_equal(prepare(x, &l), 0);
    assert_true(x->vd.has_def);
    assert_int_equal(x->vd.def.nr_mpidrs, 2);
    assert_int_equal(x->vd.def.psci_functions, VMDEF_FN_ALL);
    assert_int_equal(x->m.vm_hib, MACHINE_VM_BOOT);
    user_off2(x);
    assert_true(x->m.stop);
    assert_int_equal(x->m.exit_status, PSCIVM_EXIT_HIBERNATE);
    assert_int_equal(x->m.off2_type, 1);
    assert_int_equal(machine_vm_finish(&x->m, err, sizeof(err)), 0);
    stop(x);
    assert_int_equal(state_now(), VM_STATE_HIBERNATED);
    /* the same start again: it resumes */
    x = START();
    assert_true(x->vd.hibernated);
    assert_true(x->vd.hib.type_read);
    assert_int_equal(x->vd.hib.type, 1);
    assert_int_equal(x->vd.hib.mode, PSCI_MODE_USER);
    assert_int_equal(machine_vm_precheck(&x->vd, &l, err, sizeof(err)), 0);
    assert_int_equal(prepare(x, &l), 0);
    assert_int_equal(x->m.vm_hib, MACHINE_VM_RESUME);
    assert_int_equal(state_now(), VM_STATE_RUNNING); /* the lock is held */
    /* the resumed guest powers off: the record goes */
    pthread_mutex_lock(&x->m.lock);
    machine_request_stop_locked(&x->m, false, PSCIVM_EXIT_OFF, "system_off");
    pthread_mutex_unlock(&x->m.lock);
    assert_int_equal(machine_vm_finish(&x->m, err, sizeof(err)), 0);
    assert_false(x->vd.hibernated);
    stop(x);
    assert_int_equal(state_now(), VM_STATE_OFF);
}

static void test_machine_vm__kernel_mode_type_unreadable(void **state)
{
    (void)state;
    struct vmdef_diffs l;
    char err[512];
    struct fx *x = START("--payload", "p.bin", "--psci", "1.3", "--psci-mode", "kernel");
    assert_int_equal(prepare(x, &l), 0);
    struct vm_exit e = {.kind = VM_EXIT_SYSTEM_EVENT,
                        .system = {.type = VM_SYSEV_SHUTDOWN, .psci_off2 = true}};
    x->m.vcpus[0].exit = e;
    assert_int_equal(exits_dispatch(&x->m, &x->m.vcpus[0]), 0);
    assert_int_equal(x->m.exit_status, PSCIVM_EXIT_HIBERNATE);
    assert_int_equal(x->m.off2_type, MACHINE_OFF2_TYPE_UNKNOWN);
    assert_int_equal(machine_vm_finish(&x->m, err, sizeof(err)), 0);
    stop(x);
    struct vm_status st;
    assert_int_equal(vm_dir_status(dir, &st, err, sizeof(err)), 0);
    assert_int_equal(st.state, VM_STATE_HIBERNATED);
    assert_false(st.hib.type_read); /* still recorded */
    assert_int_equal(st.hib.mode, PSCI_MODE_KERNEL);
    vm_status_release(&st);
}

static void test_machine_vm__changed_after_build_and_discard(void **state)
{
    (void)state;
    struct vmdef_diffs l;
    char err[512];
    struct fx *x = START("--payload", "p.bin", "--cpus", "2", "--psci-mode", "user");
    assert_int_equal(prepare(x, &l), 0);
    user_off2(x);
    assert_int_equal(machine_vm_finish(&x->m, err, sizeof(err)), 0);
    stop(x);
    /* a host that assigns other MPIDRs: found only once the machine is built */
    x = START();
    assert_int_equal(machine_vm_precheck(&x->vd, &l, err, sizeof(err)), 0);
    x->f.mpidrs[1] = 0x100;
    assert_int_equal(prepare(x, &l), -ESTALE);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.line[0], "vcpus.mpidrs[1]: 0x1 recorded, 0x100 now");
    stop(x);
    assert_int_equal(state_now(), VM_STATE_HIBERNATED); /* nothing changed on the refusal */
    /* --discard-hibernation: the record goes at the start */
    x = START("--discard-hibernation");
    x->f.mpidrs[1] = 0x100;
    assert_int_equal(prepare(x, &l), 0);
    assert_int_equal(x->m.vm_hib, MACHINE_VM_DISCARDED);
    assert_false(x->vd.hibernated);
    assert_int_equal(x->vd.def.mpidrs[1], 0x100);
    stop(x);
    assert_int_equal(state_now(), VM_STATE_OFF);
}

static void test_machine_vm__function_set_not_offered(void **state)
{
    (void)state;
    struct vmdef_diffs l;
    char err[512];
    struct fx *x = START("--payload", "p.bin", "--psci", "1.3", "--psci-mode", "user");
    assert_int_equal(prepare(x, &l), 0);
    stop(x);
    /* a definition edited to hide SYSTEM_OFF2 at PSCI 1.3: pscivm cannot honour it */
    x = START();
    x->vd.def.psci_functions &= ~(uint32_t)VMDEF_FN_SYSTEM_OFF2;
    vmdef_diffs_init(&l);
    assert_int_equal(machine_vm_prepare(&x->m, &l, err, sizeof(err)), -EOPNOTSUPP);
    assert_non_null(strstr(err, "psci.functions: the VM offers SYSTEM_SUSPEND, SYSTEM_RESET2; "
                                "pscivm offers SYSTEM_SUSPEND, SYSTEM_RESET2, SYSTEM_OFF2"));
    stop(x);
}

#define T(name) cmocka_unit_test_setup_teardown(test_machine_vm__##name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(user_mode_cycle),
        T(kernel_mode_type_unreadable),
        T(changed_after_build_and_discard),
        T(function_set_not_offered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
