/* cmd_run.c — `pscivm run`: parse the command line (run_options.c); with --vm DIR take the VM's
 * directory (its lock, definition and hibernation record: vmdir.c), merge the options with the
 * definition (vmdef_apply) and refuse contradictions or a changed hibernated machine; then build
 * and run the machine on KVM (src/machine/host.c). Returns the process exit status
 * (exit_status.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "machine/host.h"
#include "machine/machine.h"
#include "vmm/commands.h"
#include "vmm/exit_status.h"
#include "vmm/run_options.h"
#include "vmm/vmdir.h"

static void print_diffs(const char *head, const struct vmdef_diffs *d)
{
    fprintf(stderr, "%s", head);
    for (unsigned int i = 0; i < d->n; i++)
        fprintf(stderr, "  %s\n", d->line[i]);
    if (d->truncated)
        fprintf(stderr, "  (more differences not listed)\n");
}

/* --vm DIR: everything before the machine is built. Returns -1 to go on, else an exit status. */
static int vm_begin(struct vm_dir *vd, struct run_options *opts, struct vmdef_diffs *diffs)
{
    char err[1024];
    if (vm_dir_open(vd, opts->vm_dir, err, sizeof(err))) {
        fprintf(stderr, "pscivm: %s\n", err);
        return PSCIVM_EXIT_ERROR;
    }
    bool resume = vd->hibernated && !opts->discard_hibernation;
    if (opts->update && resume) {
        fprintf(stderr, "pscivm run: --update: the VM in %s is hibernated; its machine cannot "
                "change until it has resumed and powered off (or --discard-hibernation)\n",
                vd->path);
        return PSCIVM_EXIT_USAGE;
    }
    if (opts->discard_hibernation && !vd->hibernated)
        fprintf(stderr, "pscivm: %s: --discard-hibernation: the VM is not hibernated (nothing "
                "to discard)\n", vd->path);
    vmdef_diffs_init(diffs);
    if (vmdef_apply(vd->has_def ? &vd->def : NULL, opts, &vd->cand, diffs, err, sizeof(err))) {
        fprintf(stderr, "pscivm: %s\n", err);
        return PSCIVM_EXIT_ERROR;
    }
    /* Contradictions: a usage error — except for a hibernated VM, where they are among the
     * differences that refuse its resume (below, with the files' identities). */
    if (diffs->n && !opts->update && !resume) {
        snprintf(err, sizeof(err), "pscivm run: the command line contradicts the definition "
                 "of the VM in %s/%s (give --update to change it):\n", vd->path, VMDIR_DEF);
        print_diffs(err, diffs);
        return PSCIVM_EXIT_USAGE;
    }
    if (run_options_validate(opts, err, sizeof(err))) {
        fprintf(stderr, "pscivm run: %s\n\n%s", err, run_options_usage);
        return PSCIVM_EXIT_USAGE;
    }
    if (!resume)
        return -1;
    vmdef_diffs_init(diffs);
    int rc = machine_vm_precheck(vd, diffs, err, sizeof(err));
    if (rc == -ESTALE) {
        snprintf(err, sizeof(err), "pscivm: %s: the VM is hibernated and this start would "
                 "change its machine, so the guest could not resume safely; refusing (exit %d). "
                 "%u difference%s (recorded at hibernation vs this start):\n", vd->path,
                 PSCIVM_EXIT_HIBERNATED_CHANGED, diffs->n, diffs->n == 1 ? "" : "s");
        print_diffs(err, diffs);
        fprintf(stderr, "Start it unchanged to resume it, or with --discard-hibernation to boot "
                "it afresh (its hibernation image is then abandoned).\n");
        return PSCIVM_EXIT_HIBERNATED_CHANGED;
    }
    if (rc) {
        fprintf(stderr, "pscivm: %s\n", err);
        return PSCIVM_EXIT_ERROR;
    }
    return -1;
}

int cmd_run(int argc, char **argv)
{
    struct run_options opts;
    char err[256];
    if (run_options_parse(&opts, argc, argv, err, sizeof(err))) {
        fprintf(stderr, "pscivm run: %s\n\n%s", err, run_options_usage);
        return PSCIVM_EXIT_USAGE;
    }
    if (opts.help) {
        fputs(run_options_usage, stdout);
        return 0;
    }
    if (!opts.vm_dir)
        return host_run(&opts, NULL);
    struct vm_dir vd;
    struct vmdef_diffs *diffs = malloc(sizeof(*diffs));
    if (!diffs) {
        fprintf(stderr, "pscivm: out of memory\n");
        return PSCIVM_EXIT_ERROR;
    }
    int status = vm_begin(&vd, &opts, diffs);
    free(diffs);
    if (status < 0)
        status = host_run(&opts, &vd);
    vm_dir_release(&vd); /* unlocks DIR */
    return status;
}
