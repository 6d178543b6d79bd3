/* test_vmdir.c — a VM's directory (src/vmm/vmdir.c) and the hibernated-VM checks of the machine
 * layer that need no machine (src/machine/vm.c): the lock refuses a second run and makes the
 * state running, the state moves off -> hibernated -> off with the record written and cleared,
 * files are replaced atomically, bad files are refused naming the file and the JSON path, the
 * record round-trips (type unreadable in kernel mode included), and a hibernated VM whose disk
 * changed, vanished or whose options differ is refused with every difference. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "machine/machine.h"
#include "psci/psci.h"
#include "vmm/vmdir.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/pscivm-vmdir-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static void write_text(const char *name, const char *text)
{
    char p[128];
    path_of(p, sizeof(p), name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* A definition whose disk is a real file (identities taken by machine_vm_identify). */
static void sample(struct vmdef *d, const char *disk)
{
    vmdef_init(d);
    d->cpus = d->max_cpus = d->nr_mpidrs = 2;
    d->mpidrs[1] = 1;
    d->mem_mib = 256;
    d->ram_base = MEMMAP_RAM_BASE;
    d->psci_version = PSCI_VERSION_1_3;
    d->psci_functions = VMDEF_FN_ALL;
    assert_int_equal(vmdef_file_set(&d->payload, "/nonexistent/p.bin", 0, NULL), 0);
    d->nr_disks = 1;
    assert_int_equal(vmdef_file_set(&d->disks[0].file, disk, 0, NULL), 0);
    assert_int_equal(machine_vm_identify(d), 0);
}

static void test_vmdir__states_and_lock(void **state)
{
    (void)state;
    char err[512], disk[128];
    struct vm_dir vd, other;
    struct vm_status st;
    char sub[128];
    path_of(sub, sizeof(sub), "vm");
    /* not a VM directory yet */
    assert_int_equal(vm_dir_status(sub, &st, err, sizeof(err)), -ENOENT);
    vm_status_release(&st);
    /* the first open creates DIR and holds its lock: a second run is refused, naming the pid */
    assert_int_equal(vm_dir_open(&vd, sub, err, sizeof(err)), 0);
    assert_false(vd.has_def);
    assert_false(vd.hibernated);
    assert_int_equal(vm_dir_open(&other, sub, err, sizeof(err)), -EBUSY);
    char want[64];
    snprintf(want, sizeof(want), "running (pscivm pid %ld", (long)getpid());
    assert_non_null(strstr(err, want));
    vm_dir_release(&other);
    path_of(disk, sizeof(disk), "disk.img");
    write_text("disk.img", "data");
    struct vmdef d;
    sample(&d, disk);
    assert_int_equal(vm_dir_write_def(&vd, &d, "pscivm test", err, sizeof(err)), 0);
    assert_true(vd.has_def);
    assert_int_equal(vm_dir_status(sub, &st, err, sizeof(err)), 0);
    assert_int_equal(st.state, VM_STATE_RUNNING);
    assert_int_equal(st.pid, (long)getpid());
    assert_false(st.hibernation_record);
    vm_status_release(&st);
    /* SYSTEM_OFF2: the record; running until the lock goes, then hibernated */
    struct vm_hibernation h;
    vm_hibernation_init(&h);
    assert_int_equal(vmdef_copy(&h.machine, &d), 0);
    h.time = 1764878400;
    h.type_read = false; /* kernel mode */
    h.mode = PSCI_MODE_KERNEL;
    snprintf(h.host_kernel, sizeof(h.host_kernel), "7.2.0-1-arm64");
    assert_int_equal(vm_dir_write_hibernation(&vd, &h, "pscivm test", err, sizeof(err)), 0);
    vm_hibernation_release(&h);
    assert_int_equal(vm_dir_status(sub, &st, err, sizeof(err)), 0);
    assert_int_equal(st.state, VM_STATE_RUNNING);
    assert_true(st.hibernation_record);
    vm_status_release(&st);
    vm_dir_release(&vd);
    assert_int_equal(vm_dir_status(sub, &st, err, sizeof(err)), 0);
    assert_int_equal(st.state, VM_STATE_HIBERNATED);
    assert_string_equal(vm_state_name(st.state), "hibernated");
    assert_false(st.hib.type_read);
    assert_int_equal(st.hib.mode, PSCI_MODE_KERNEL);
    assert_int_equal(st.hib.time, 1764878400);
    assert_string_equal(st.hib.host_kernel, "7.2.0-1-arm64");
    assert_int_equal(st.def.cpus, 2);
    vm_status_release(&st);
    /* the next run reads both back; a SYSTEM_OFF clears the record: off */
    assert_int_equal(vm_dir_open(&vd, sub, err, sizeof(err)), 0);
    assert_true(vd.has_def && vd.hibernated);
    struct vmdef_diffs l;
    vmdef_diffs_init(&l);
    vmdef_diff(&vd.hib.machine, &d, true, &l);
    for (unsigned int i = 0; i < l.n; i++)
        print_message("diff: %s\n", l.line[i]);
    assert_int_equal(l.n, 0);
    assert_int_equal(vm_dir_clear_hibernation(&vd, err, sizeof(err)), 0);
    assert_false(vd.hibernated);
    assert_int_equal(vm_dir_clear_hibernation(&vd, err, sizeof(err)), 0); /* idempotent */
    vm_dir_release(&vd);
    assert_int_equal(vm_dir_status(sub, &st, err, sizeof(err)), 0);
    assert_int_equal(st.state, VM_STATE_OFF);
    vm_status_release(&st);
    /* no temporary file is left behind */
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s/.vm.json.tmp", sub);
    assert_int_equal(access(tmp, F_OK), -1);
    vmdef_release(&d);
}

static void test_vmdir__bad_files_name_file_and_field(void **state)
{
    (void)state;
    char err[512], disk[128];
    struct vm_dir vd;
    path_of(disk, sizeof(disk), "disk.img");
    write_text("disk.img", "data");
    struct vmdef d;
    sample(&d, disk);
    char *text;
    assert_int_equal(vmdef_to_json(&d, NULL, &text), 0);
    /* a hand-edited vm.json */
    char *p = strstr(text, "\"mib\": 256");
    assert_non_null(p);
    memcpy(p, "\"mib\": 2.5", 10);
    write_text("vm.json", text);
    assert_int_equal(vm_dir_open(&vd, dir, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "/vm.json: memory.mib: expected an integer"));
    vm_dir_release(&vd);
    memcpy(p, "\"mib\": 256", 10);
    write_text("vm.json", text);
    /* a bad record: the field under "machine." */
    write_text("hibernation.json", "{\"format\": 1, \"state\": \"hibernated\", \"unix_time\": 5, "
               "\"off2_type\": 1, \"host_kernel\": \"x\", \"psci_mode\": \"user\", \"machine\": "
               "{\"format\": 1}}");
    assert_int_equal(vm_dir_open(&vd, dir, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "/hibernation.json: machine.vcpus: missing"));
    vm_dir_release(&vd);
    static const struct { const char *text, *expect; } recs[] = {
        {"{\"format\": 1, \"state\": \"off\"}", "state: expected \"hibernated\""},
        {"{\"format\": 3}", "format: missing, or not a record format"},
        {"{\"format\": 1, \"state\": \"hibernated\", \"unix_time\": -1}", "unix_time:"},
        /* past year 9999: gmtime would fail when the record is written again (found by
         * fuzz_vmdef: tests/fuzz/regressions/vmdef) */
        {"{\"format\": 1, \"state\": \"hibernated\", \"unix_time\": 253402300800}", "unix_time:"},
        {"{\"format\": 1, \"state\": \"hibernated\", \"unix_time\": 1333333333333333333376487840}", "unix_time:"},
        {"{\"format\": 1, \"state\": \"hibernated\", \"unix_time\": 1, \"off2_type\": \"1\"}", "off2_type:"},
        {"{\"format\": 1, \"bogus\": 1}", "bogus: unknown member"},
        {"[1]", "expected a JSON object"},
        {"{", "not one JSON value"},
    };
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        struct vm_hibernation h;
        err[0] = '\0';
        int rc = vm_hibernation_parse(recs[i].text, strlen(recs[i].text), &h, err, sizeof(err));
        if (rc != -EINVAL || !strstr(err, recs[i].expect))
            fail_msg("record %zu: rc %d '%s', expected '%s'", i, rc, err, recs[i].expect);
        vm_hibernation_release(&h);
    }
    /* a record round-trips, the OFF2 type included */
    struct vm_hibernation h, h2;
    vm_hibernation_init(&h);
    assert_int_equal(vmdef_copy(&h.machine, &d), 0);
    h.type_read = true;
    h.type = 1;
    h.mode = PSCI_MODE_USER;
    char *rt;
    /* a time the record cannot say is refused by the writer too (nothing leaked: ASan) */
    int64_t when = h.time;
    h.time = VMDIR_TIME_MAX + 1;
    char *bad = NULL;
    assert_int_equal(vm_hibernation_to_json(&h, "w", &bad), -EOVERFLOW);
    h.time = when;
    assert_int_equal(vm_hibernation_to_json(&h, "w", &rt), 0);
    assert_non_null(strstr(rt, "\"off2_type\": 1"));
    assert_int_equal(vm_hibernation_parse(rt, strlen(rt), &h2, err, sizeof(err)), 0);
    assert_true(h2.type_read);
    assert_int_equal(h2.type, 1);
    for (size_t n = 0; n + 2 < strlen(rt); n += 7) { /* cut anywhere: refused, no crash */
        struct vm_hibernation h3;
        assert_int_equal(vm_hibernation_parse(rt, n, &h3, err, sizeof(err)), -EINVAL);
        vm_hibernation_release(&h3);
    }
    free(rt);
    vm_hibernation_release(&h);
    vm_hibernation_release(&h2);
    free(text);
    vmdef_release(&d);
}

static bool has_line(const struct vmdef_diffs *l, const char *s)
{
    for (unsigned int i = 0; i < l->n; i++)
        if (strstr(l->line[i], s))
            return true;
    return false;
}

static void test_vmdir__hibernated_precheck(void **state)
{
    (void)state;
    char err[512], disk[128];
    struct vm_dir vd;
    vm_dir_init(&vd);
    vd.path = strdup(dir);
    path_of(disk, sizeof(disk), "disk.img");
    write_text("disk.img", "data");
    /* not hibernated: nothing to check */
    struct vmdef_diffs l;
    vmdef_diffs_init(&l);
    assert_int_equal(machine_vm_precheck(&vd, &l, err, sizeof(err)), 0);
    sample(&vd.hib.machine, disk);
    vd.hibernated = true;
    assert_int_equal(vmdef_copy(&vd.cand, &vd.hib.machine), 0);
    /* unchanged: resumes */
    assert_int_equal(machine_vm_precheck(&vd, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    /* the disk rewritten with the same size (a new inode: rename over it) */
    write_text("disk.new", "DATA");
    char newp[128];
    path_of(newp, sizeof(newp), "disk.new");
    assert_int_equal(rename(newp, disk), 0);
    vmdef_diffs_init(&l);
    assert_int_equal(machine_vm_precheck(&vd, &l, err, sizeof(err)), -ESTALE);
    assert_true(has_line(&l, "disks[0].identity"));
    /* grown, and a vCPU more: both listed */
    write_text("disk.img", "data and more");
    vd.cand.cpus = vd.cand.max_cpus = 3;
    vmdef_diffs_init(&l);
    assert_int_equal(machine_vm_precheck(&vd, &l, err, sizeof(err)), -ESTALE);
    assert_true(has_line(&l, "disks[0].size"));
    assert_true(has_line(&l, "vcpus.count: 2 recorded, 3 now"));
    /* gone */
    assert_int_equal(unlink(disk), 0);
    vd.cand.cpus = vd.cand.max_cpus = 2;
    vmdef_diffs_init(&l);
    assert_int_equal(machine_vm_precheck(&vd, &l, err, sizeof(err)), -ESTALE);
    assert_true(has_line(&l, "(missing: No such file or directory)"));
    assert_int_equal(l.n, 1);
    vm_dir_release(&vd);
}

#define T(name) cmocka_unit_test_setup_teardown(test_vmdir__##name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(states_and_lock),
        T(bad_files_name_file_and_field),
        T(hibernated_precheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
