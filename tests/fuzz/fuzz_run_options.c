/* fuzz_run_options.c — libFuzzer target for the `pscivm run` option parser (run_options_parse):
 * the input split at NUL bytes into argv[1..] (at most 64 arguments), each argument in its
 * own exact-size heap allocation so ASan sees any read past one. A refusal must come with a
 * message; an accepted command line must satisfy what the machine relies on (one boot source,
 * counts in range, the deny list within --cpus) — with --vm once run_options_validate accepts
 * it — and parse to the same options again (getopt's global state is reset by the parser). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/memmap.h"
#include "vmm/run_options.h"

#define MAX_ARGS 64

static void bad(const char *what)
{
    fprintf(stderr, "fuzz_run_options: accepted options violate: %s\n", what);
    abort();
}

static void check(const struct run_options *o)
{
    if (!o->help) {
        if (!o->payload == !o->kernel)
            bad("exactly one of --payload and --kernel");
        if (o->initrd && !o->kernel)
            bad("--initrd needs --kernel");
        if (o->kernel && !o->cmdline)
            bad("a kernel has a command line");
        if (o->cpus < 1 || o->cpus > MEMMAP_MAX_VCPUS || o->max_cpus < o->cpus ||
            o->max_cpus > MEMMAP_MAX_VCPUS)
            bad("cpus and max_cpus in range");
        if (o->mem_mib < RUN_MIN_MEM_MIB || o->mem_mib > RUN_MAX_MEM_MIB)
            bad("mem in range");
        for (unsigned int i = 0; i < o->nr_deny_cpu_on; i++)
            if (o->deny_cpu_on[i] == 0 || o->deny_cpu_on[i] >= o->cpus)
                bad("deny list within 1 .. cpus-1");
    }
    if (o->nr_disks > RUN_MAX_DISKS || o->nr_deny_cpu_on > MEMMAP_MAX_VCPUS)
        bad("array counts");
    for (unsigned int i = 0; i < o->nr_disks; i++)
        if (!o->disks[i] || !o->disks[i][0])
            bad("disks are non-empty paths");
    if (o->console == CONSOLE_FILE && (!o->console_path || !o->console_path[0]))
        bad("console file has a path");
}

/* Field by field (memcmp would compare padding). */
static bool same(const struct run_options *a, const struct run_options *b)
{
    bool eq = a->payload == b->payload && a->cpus == b->cpus && a->mem_mib == b->mem_mib &&
              a->psci_version == b->psci_version && a->mode == b->mode &&
              a->events == b->events && a->on_reset == b->on_reset &&
              a->on_suspend == b->on_suspend && a->timeout_s == b->timeout_s &&
              a->cmdline == b->cmdline && a->kernel == b->kernel && a->initrd == b->initrd &&
              a->nr_disks == b->nr_disks && a->console == b->console &&
              a->console_path == b->console_path && a->nr_deny_cpu_on == b->nr_deny_cpu_on &&
              a->qmp == b->qmp && a->max_cpus == b->max_cpus && a->help == b->help &&
              a->vm_dir == b->vm_dir && a->update == b->update &&
              a->discard_hibernation == b->discard_hibernation && a->given == b->given;
    for (unsigned int i = 0; eq && i < a->nr_disks; i++)
        eq = a->disks[i] == b->disks[i];
    for (unsigned int i = 0; eq && i < a->nr_deny_cpu_on; i++)
        eq = a->deny_cpu_on[i] == b->deny_cpu_on[i];
    return eq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = strdup("run");
    size_t start = 0;
    while (start < size && argc <= MAX_ARGS) {
        const uint8_t *nul = memchr(data + start, 0, size - start);
        size_t len = nul ? (size_t)(nul - (data + start)) : size - start;
        char *a = malloc(len + 1);
        if (!a)
            abort();
        memcpy(a, data + start, len);
        a[len] = '\0';
        argv[argc++] = a;
        start += len + 1;
    }
    argv[argc] = NULL;

    struct run_options o1, o2;
    char err[256];
    err[0] = 'x';
    int rc = run_options_parse(&o1, argc, argv, err, sizeof(err));
    if (rc) {
        if (!err[0] || strlen(err) >= sizeof(err)) {
            fprintf(stderr, "fuzz_run_options: refused (%d) without a message\n", rc);
            abort();
        }
    } else if (o1.vm_dir) {
        /* --vm: the definition may supply the rest; what the command line gives must then
         * pass the same cross-option checks. */
        struct run_options v = o1;
        err[0] = 'x';
        if (run_options_validate(&v, err, sizeof(err)) == 0)
            check(&v);
        else if (!err[0] || strlen(err) >= sizeof(err))
            bad("validate: refused without a message");
    } else {
        check(&o1);
    }
    int rc2 = run_options_parse(&o2, argc, argv, err, sizeof(err));
    if (rc != rc2 || (!rc && !same(&o1, &o2)))
        bad("the same argv parses the same way twice");
    /* pscivm restore's parser on the same words: a refusal has a message, an acceptance a
     * FILE, and argv is left as it was (the frees below would catch a rewritten slot). */
    err[0] = 'x';
    rc = run_options_parse_restore(&o1, argc, argv, err, sizeof(err));
    if (rc && (!err[0] || strlen(err) >= sizeof(err)))
        bad("restore: refused without a message");
    if (!rc && !o1.help && (!o1.restore_file || !*o1.restore_file))
        bad("restore: accepted without a FILE");
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return 0;
}
