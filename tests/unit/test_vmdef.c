/* test_vmdef.c — the VM definition of `pscivm run --vm DIR` (src/vmm/vmdef*.c): serialize and
 * parse round trip, every kind of bad or hand-edited file refused with the JSON path of the
 * member (and every truncation refused without a crash), the differences a hibernated VM's
 * start lists, the merge of the command line over a definition (contradictions, what follows
 * from what), and the options parser's --vm side. */
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

#include "psci/psci.h"
#include "vmm/vmdef.h"

static void sample(struct vmdef *d)
{
    vmdef_init(d);
    d->cpus = 2;
    d->max_cpus = 2;
    d->nr_mpidrs = 2;
    d->mpidrs[0] = 0;
    d->mpidrs[1] = 1;
    d->mem_mib = 512;
    d->ram_base = MEMMAP_RAM_BASE;
    d->psci_version = PSCI_VERSION_1_3;
    d->psci_mode = PSCI_MODE_AUTO;
    d->psci_functions = vmdef_psci_functions(PSCI_VERSION_1_3);
    assert_int_equal(vmdef_file_set(&d->kernel, "/lab/Image", 1000, "size=1000,mtime=1.0,ino=5"), 0);
    assert_int_equal(vmdef_file_set(&d->initrd, "/lab/initrd", 200, "size=200,mtime=2.0,ino=6"), 0);
    d->cmdline = strdup("console=ttyS0 quiet");
    d->nr_devices = 2;
    snprintf(d->devices[0].name, VMDEF_NAME_LEN, "uart");
    snprintf(d->devices[0].type, VMDEF_NAME_LEN, "uart16550");
    d->devices[0].base = 0x9000000;
    d->devices[0].size = 0x1000;
    d->devices[0].spi = 1;
    snprintf(d->devices[1].name, VMDEF_NAME_LEN, "disk0");
    snprintf(d->devices[1].type, VMDEF_NAME_LEN, "virtio-blk");
    d->devices[1].base = 0xa000000;
    d->devices[1].size = 0x200;
    d->devices[1].spi = 16;
    d->nr_disks = 1;
    assert_int_equal(vmdef_file_set(&d->disks[0].file, "/lab/swap.img", 1 << 20,
                                    "size=1048576,mtime=3.0,ino=7"), 0);
}

static char *sample_text(void)
{
    struct vmdef d;
    char *text = NULL;
    sample(&d);
    assert_int_equal(vmdef_to_json(&d, "pscivm test", &text), 0);
    vmdef_release(&d);
    return text;
}

static void test_vmdef__round_trip(void **state)
{
    (void)state;
    struct vmdef a, b;
    char err[256];
    char *text = sample_text();
    assert_non_null(strstr(text, "\"version\": \"1.3\""));
    assert_non_null(strstr(text, "\"SYSTEM_OFF2\": true"));
    assert_int_equal(vmdef_parse(text, strlen(text), &b, err, sizeof(err)), 0);
    sample(&a);
    struct vmdef_diffs diffs;
    vmdef_diffs_init(&diffs);
    assert_int_equal(vmdef_diff(&a, &b, true, &diffs), 0);
    assert_int_equal(b.nr_disks, 1);
    assert_false(b.disks[0].read_only);
    assert_string_equal(b.cmdline, "console=ttyS0 quiet");
    /* a deep copy compares equal and is independent */
    struct vmdef c;
    assert_int_equal(vmdef_copy(&c, &b), 0);
    vmdef_release(&b);
    assert_int_equal(vmdef_diff(&a, &c, true, &diffs), 0);
    vmdef_release(&a);
    vmdef_release(&c);
    free(text);
}

/* Replace the first `from` in text by `to` (a new string). */
__attribute__((noinline)) static char *edit(const char *text, const char *from, const char *to)
{
    const char *p = strstr(text, from);
    assert_non_null(p);
    size_t at = (size_t)(p - text), lf = strlen(from), lt = strlen(to), len = strlen(text);
    char *out = malloc(len - lf + lt + 1);
    assert_non_null(out);
    memcpy(out, text, at);
    memcpy(out + at, to, lt);
    memcpy(out + at + lt, text + at + lf, len - at - lf + 1);
    return out;
}

static void test_vmdef__bad_fields_are_named_by_path(void **state)
{
    (void)state;
    static const struct { const char *from, *to, *expect; } cases[] = {
        {"\"count\": 2", "\"count\": \"2\"", "vcpus.count: expected an integer"},
        {"\"count\": 2", "\"count\": 0", "vcpus.count: expected an integer from 1 to 123"},
        {"\"max\": 2", "\"max\": 1", "vcpus.max: expected an integer from 2"},
        {"\"0x1\"", "\"0x1\", \"0x2\"", "vcpus.mpidrs: expected 2 entries"},
        {"\"0x1\"", "\"1\"", "vcpus.mpidrs[1]: expected a \"0x...\""},
        {"\"0x1\"", "\"0x0\"", "vcpus.mpidrs[1]: the same as vcpus.mpidrs[0]"},
        {"\"0x1\"", "\"0xff00000000000001\"", "vcpus.mpidrs[1]: bits outside"},
        {"\"mib\": 512", "\"mib\": 8", "memory.mib: expected an integer from 16"},
        {"\"mib\": 512", "\"mib\": 512.5", "memory.mib: expected an integer"},
        {"\"base\": \"0x40000000\"", "\"base\": \"0x\"", "memory.base: expected a \"0x...\""},
        {"\"version\": \"1.3\"", "\"version\": \"1.7\"", "psci.version: \"1.7\" is not"},
        {"\"mode\": \"auto\"", "\"mode\": \"both\"", "psci.mode: \"both\" is not auto"},
        {"\"SYSTEM_OFF2\": true", "\"SYSTEM_OFF2\": 1", "psci.functions.SYSTEM_OFF2: expected true or false"},
        {"\"SYSTEM_OFF2\": true", "\"SYSTEM_OFF3\": true", "psci.functions.SYSTEM_OFF3: unknown member"},
        {"\"format\": 1", "\"format\": 2", "format: 2 is not a definition format"},
        {"\"format\": 1", "\"formt\": 1", "format: missing"},
        {"\"vcpus\": {", "\"cpus\": 3, \"vcpus\": {", "cpus: unknown member"},
        {"\"path\": \"/lab/Image\"", "\"path\": \"\"", "boot.kernel.path: expected a non-empty string"},
        {"\"size\": 1000", "\"size\": -1", "boot.kernel.size: expected an integer from 0"},
        {"\"kernel\": {", "\"payload\": {\"path\": \"/p\", \"size\": 1, \"identity\": \"\"}, \"kernel\": {", "boot: exactly one of"},
        {"\"cmdline\": \"console=ttyS0 quiet\"", "\"cmdline\": [ ]", "boot.cmdline: expected a string"},
        {"\"name\": \"uart\"", "\"name\": \"disk0\"", "devices[1].name: \"disk0\" twice"},
        {"\"name\": \"uart\"", "\"name\": \"a-name-that-is-far-too-long-for-it\"", "devices[0]: name longer than"},
        {"\"spi\": 1", "\"spi\": 5000", "devices[0].spi: expected an integer from 0 to 987"},
        {"\"size\": \"0x1000\"", "\"size\": \"0x0\"", "devices[0].size: an empty or wrapping"},
        {"\"read_only\": false", "\"ro\": false", "disks[0].ro: unknown member"},
        {"\"read_only\": false", "\"read_only\": null", "disks[0].read_only: expected true or false"},
        {"\"disks\": [", "\"disks\": [ 7, ", "disks[0]: expected an object"},
        {"\"spi\": 16", "\"spi\": 16, \"irq\": 3", "devices[1].irq: unknown member"},
    };
    char *text = sample_text();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = edit(text, cases[i].from, cases[i].to);
        struct vmdef d;
        char err[256] = "";
        int rc = vmdef_parse(t, strlen(t), &d, err, sizeof(err));
        if (rc != -EINVAL || !strstr(err, cases[i].expect))
            fail_msg("case %zu: rc %d, error '%s', expected '%s'", i, rc, err, cases[i].expect);
        vmdef_release(&d);
        free(t);
    }
    free(text);
}

static void test_vmdef__not_json_and_every_truncation(void **state)
{
    (void)state;
    struct vmdef d;
    char err[256];
    static const char *const junk[] = {"", "[]", "42", "{", "{} {}", "{\"format\": 1} x",
                                       "{\"format\": 1}"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        err[0] = '\0';
        assert_int_equal(vmdef_parse(junk[i], strlen(junk[i]), &d, err, sizeof(err)), -EINVAL);
        assert_true(err[0] != '\0');
        vmdef_release(&d);
    }
    assert_int_equal(vmdef_parse("{\"a\":1}\0", 8, &d, err, sizeof(err)), -EINVAL);
    vmdef_release(&d);
    char *text = sample_text();
    size_t len = strlen(text);
    for (size_t n = 0; n + 2 < len; n++) { /* the last bytes are "}\n" */
        err[0] = '\0';
        if (vmdef_parse(text, n, &d, err, sizeof(err)) != -EINVAL || !err[0])
            fail_msg("a definition cut at %zu bytes was not refused with a message", n);
        vmdef_release(&d);
    }
    assert_int_equal(vmdef_parse(text, len, &d, err, sizeof(err)), 0);
    vmdef_release(&d);
    free(text);
}

static bool has_line(const struct vmdef_diffs *l, const char *s)
{
    for (unsigned int i = 0; i < l->n; i++)
        if (strstr(l->line[i], s))
            return true;
    return false;
}

static void test_vmdef__diff_lists_every_difference(void **state)
{
    (void)state;
    struct vmdef a, b;
    struct vmdef_diffs l;
    sample(&a);
    sample(&b);
    b.cpus = b.max_cpus = 3;
    b.nr_mpidrs = 3;
    b.mpidrs[2] = 2;
    b.mem_mib = 1024;
    b.psci_version = PSCI_VERSION_1_2;
    b.psci_functions = vmdef_psci_functions(PSCI_VERSION_1_2);
    b.disks[0].file.size = 2 << 20;
    free(b.initrd.identity);
    b.initrd.identity = strdup("size=200,mtime=9.0,ino=6");
    b.devices[1].spi = 17;
    vmdef_diffs_init(&l);
    unsigned int n = vmdef_diff(&a, &b, true, &l);
    assert_int_equal(n, l.n);
    assert_true(has_line(&l, "vcpus.count: 2 recorded, 3 now"));
    assert_true(has_line(&l, "vcpus.max: 2 recorded, 3 now"));
    assert_true(has_line(&l, "memory.mib: 512 recorded, 1024 now"));
    assert_true(has_line(&l, "psci.version: 1.3 recorded, 1.2 now"));
    assert_true(has_line(&l, "psci.functions: SYSTEM_SUSPEND, SYSTEM_RESET2, SYSTEM_OFF2 recorded, "
                             "SYSTEM_SUSPEND, SYSTEM_RESET2 now"));
    assert_true(has_line(&l, "disks[0].size (/lab/swap.img): 1048576 bytes recorded, 2097152 now"));
    assert_true(has_line(&l, "boot.initrd.identity (/lab/initrd)"));
    assert_true(has_line(&l, "devices[1] (disk0)"));
    assert_int_equal(l.n, 8);
    /* without identities: the same minus the files' contents */
    vmdef_diffs_init(&l);
    assert_int_equal(vmdef_diff(&a, &b, false, &l), 6);
    /* a disk that is gone, a disk added, a device removed */
    vmdef_release(&b);
    sample(&b);
    free(b.disks[0].file.identity);
    b.disks[0].file.identity = strdup("(missing: No such file or directory)");
    assert_int_equal(vmdef_file_set(&b.disks[1].file, "/lab/new.img", 1, "x"), 0);
    b.nr_disks = 2;
    b.nr_devices = 1;
    vmdef_diffs_init(&l);
    vmdef_diff(&a, &b, true, &l);
    assert_true(has_line(&l, "disks[0] (/lab/swap.img): present recorded, (missing: No such file"));
    assert_true(has_line(&l, "disks[1]: none recorded, /lab/new.img now"));
    assert_true(has_line(&l, "devices[1] (disk0, virtio-blk at 0xa000000): recorded, absent now"));
    /* the list is bounded */
    vmdef_diffs_init(&l);
    for (unsigned int i = 0; i < VMDEF_MAX_DIFFS + 3; i++)
        vmdef_diffs_add(&l, "line %u", i);
    assert_int_equal(l.n, VMDEF_MAX_DIFFS);
    assert_true(l.truncated);
    vmdef_release(&a);
    vmdef_release(&b);
}

#define MAX_ARGS 32
static int parse(struct run_options *o, const char *a0, ...)
{
    char *argv[MAX_ARGS];
    int argc = 0;
    va_list ap;
    va_start(ap, a0);
    argv[argc++] = (char *)"run";
    for (const char *a = a0; a && argc < MAX_ARGS - 1; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    char err[256];
    int rc = run_options_parse(o, argc, argv, err, sizeof(err));
    if (rc)
        print_message("parse: %s\n", err);
    return rc;
}

static void test_vmdef__options_with_vm(void **state)
{
    (void)state;
    struct run_options o;
    char err[256];
    /* --vm alone is complete on the command line (the definition gives the rest) */
    assert_int_equal(parse(&o, "--vm", "d", NULL), 0);
    assert_string_equal(o.vm_dir, "d");
    assert_int_equal(o.given, 0);
    assert_int_equal(run_options_validate(&o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "the VM is new"));
    assert_int_equal(parse(&o, "--vm", "d", "--cpus", "2", "--mem", "64", "--disk", "a",
                           "--update", "--discard-hibernation", NULL), 0);
    assert_int_equal(o.given, RUN_GIVEN_CPUS | RUN_GIVEN_MEM | RUN_GIVEN_DISKS);
    assert_true(o.update && o.discard_hibernation);
    char *argv[] = {(char *)"run", (char *)"--update", (char *)"--payload", (char *)"p", NULL};
    assert_int_equal(run_options_parse(&o, 4, argv, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "--update needs --vm DIR");
    char *argv2[] = {(char *)"run", (char *)"--vm", (char *)"", NULL};
    assert_int_equal(run_options_parse(&o, 3, argv2, err, sizeof(err)), -EINVAL);
}

static void test_vmdef__apply_new_vm(void **state)
{
    (void)state;
    struct run_options o;
    struct vmdef c;
    struct vmdef_diffs l;
    char err[256];
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(parse(&o, "--vm", "d", "--kernel", "Image", "--disk", "s.img,ro", "--cpus",
                           "2", NULL), 0);
    vmdef_diffs_init(&l);
    assert_int_equal(vmdef_apply(NULL, &o, &c, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    char want[4200];
    snprintf(want, sizeof(want), "%s/Image", cwd);
    assert_string_equal(c.kernel.path, want); /* made absolute: DIR may be used from anywhere */
    assert_ptr_equal(o.kernel, c.kernel.path);
    snprintf(want, sizeof(want), "%s/s.img,ro", cwd);
    assert_string_equal(o.disks[0], want);
    assert_true(c.disks[0].read_only);
    assert_int_equal(c.cpus, 2);
    assert_int_equal(c.max_cpus, 2);
    assert_string_equal(c.cmdline, RUN_DEFAULT_KERNEL_CMDLINE);
    assert_false(o.psci_explicit); /* a new VM without --psci: the best the host offers */
    assert_int_equal(run_options_validate(&o, err, sizeof(err)), 0);
    vmdef_release(&c);
}

static void test_vmdef__apply_over_a_definition(void **state)
{
    (void)state;
    struct vmdef def, c;
    struct run_options o;
    struct vmdef_diffs l;
    char err[256];
    sample(&def);
    /* nothing given: everything from the definition, the version pinned */
    assert_int_equal(parse(&o, "--vm", "d", "--timeout", "9", NULL), 0);
    vmdef_diffs_init(&l);
    assert_int_equal(vmdef_apply(&def, &o, &c, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    assert_string_equal(o.kernel, "/lab/Image");
    assert_string_equal(o.initrd, "/lab/initrd");
    assert_string_equal(o.cmdline, "console=ttyS0 quiet");
    assert_int_equal(o.cpus, 2);
    assert_int_equal(o.mem_mib, 512);
    assert_int_equal(o.psci_version, PSCI_VERSION_1_3);
    assert_true(o.psci_explicit);
    assert_int_equal(o.nr_disks, 1);
    assert_string_equal(o.disks[0], "/lab/swap.img");
    assert_int_equal(o.timeout_s, 9);
    assert_int_equal(run_options_validate(&o, err, sizeof(err)), 0);
    vmdef_release(&c);
    /* the same values given: no contradiction; the identities are kept */
    assert_int_equal(parse(&o, "--vm", "d", "--cpus", "2", "--mem", "512", "--psci", "1.3",
                           "--kernel", "/lab/Image", "--disk", "/lab/swap.img", NULL), 0);
    vmdef_diffs_init(&l);
    assert_int_equal(vmdef_apply(&def, &o, &c, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    assert_string_equal(c.disks[0].file.identity, "size=1048576,mtime=3.0,ino=7");
    vmdef_release(&c);
    /* contradictions, each named with both values; the options win in the candidate */
    assert_int_equal(parse(&o, "--vm", "d", "--cpus", "3", "--mem", "768", "--psci", "1.2",
                           "--psci-mode", "kernel", "--cmdline", "x", "--disk", "/lab/b.img,ro",
                           "--kernel", "/lab/Image2", NULL), 0);
    vmdef_diffs_init(&l);
    assert_int_equal(vmdef_apply(&def, &o, &c, &l, err, sizeof(err)), 0);
    assert_true(has_line(&l, "--cpus 3 contradicts vcpus.count 2"));
    assert_true(has_line(&l, "--mem 768 contradicts memory.mib 512"));
    assert_true(has_line(&l, "--psci 1.2 contradicts psci.version 1.3"));
    assert_true(has_line(&l, "--psci-mode kernel contradicts psci.mode auto"));
    assert_true(has_line(&l, "--cmdline \"x\" contradicts boot.cmdline \"console=ttyS0 quiet\""));
    assert_true(has_line(&l, "--disk /lab/b.img,ro contradicts disks /lab/swap.img"));
    assert_true(has_line(&l, "--kernel /lab/Image2 contradicts boot.kernel /lab/Image"));
    assert_int_equal(l.n, 7);
    assert_int_equal(c.cpus, 3);
    assert_int_equal(c.max_cpus, 3); /* no pluggable vCPUs: the maximum follows */
    assert_int_equal(c.nr_mpidrs, 0); /* the machine will say */
    assert_int_equal(c.psci_functions, vmdef_psci_functions(PSCI_VERSION_1_2));
    assert_null(c.kernel.identity);
    assert_string_equal(o.disks[0], "/lab/b.img,ro");
    vmdef_release(&c);
    /* a payload replaces the kernel and its initrd */
    assert_int_equal(parse(&o, "--vm", "d", "--payload", "/lab/p.bin", NULL), 0);
    vmdef_diffs_init(&l);
    assert_int_equal(vmdef_apply(&def, &o, &c, &l, err, sizeof(err)), 0);
    assert_true(has_line(&l, "--payload /lab/p.bin contradicts boot.payload (none)"));
    assert_true(has_line(&l, "--kernel contradicts boot.kernel /lab/Image"));
    assert_null(o.kernel);
    assert_null(o.initrd);
    assert_int_equal(run_options_validate(&o, err, sizeof(err)), 0);
    vmdef_release(&c);
    vmdef_release(&def);
}

static void test_vmdef__functions(void **state)
{
    (void)state;
    char buf[96];
    assert_int_equal(vmdef_psci_functions(PSCI_VERSION_0_2), 0);
    assert_int_equal(vmdef_psci_functions(PSCI_VERSION_1_0), VMDEF_FN_SYSTEM_SUSPEND);
    assert_int_equal(vmdef_psci_functions(PSCI_VERSION_1_2),
                     VMDEF_FN_SYSTEM_SUSPEND | VMDEF_FN_SYSTEM_RESET2);
    assert_int_equal(vmdef_psci_functions(PSCI_VERSION_1_3), VMDEF_FN_ALL);
    assert_string_equal(vmdef_psci_functions_text(0, buf, sizeof(buf)), "none");
    assert_string_equal(vmdef_psci_functions_text(VMDEF_FN_SYSTEM_OFF2, buf, sizeof(buf)),
                        "SYSTEM_OFF2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vmdef__round_trip),
        cmocka_unit_test(test_vmdef__bad_fields_are_named_by_path),
        cmocka_unit_test(test_vmdef__not_json_and_every_truncation),
        cmocka_unit_test(test_vmdef__diff_lists_every_difference),
        cmocka_unit_test(test_vmdef__options_with_vm),
        cmocka_unit_test(test_vmdef__apply_new_vm),
        cmocka_unit_test(test_vmdef__apply_over_a_definition),
        cmocka_unit_test(test_vmdef__functions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
