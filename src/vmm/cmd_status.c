/* cmd_status.c — `pscivm status DIR [--json]`: the state of the VM in DIR (vmdir.c): `off`,
 * `hibernated` or `running` on one line, or with --json an object with the state and details
 * (pid, the hibernation record, the definition's main facts). Exit 0; 1 when DIR is not a VM
 * directory or a file in it is bad (the message names the file and the JSON path); 2 usage. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "psci/psci.h"
#include "vmm/commands.h"
#include "vmm/exit_status.h"
#include "vmm/vmdir.h"

static const char usage[] =
    "usage: pscivm status DIR [--json]\n"
    "\n"
    "The state of the VM kept in DIR (pscivm run --vm DIR): off, hibernated (the guest called\n"
    "SYSTEM_OFF2; DIR/hibernation.json records the machine its resume needs) or running (a\n"
    "pscivm holds DIR/lock). --json: {\"state\": ..., \"dir\", \"pid\" (running),\n"
    "\"hibernation\" {\"time\", \"off2_type\", \"host_kernel\", \"psci_mode\"} when recorded,\n"
    "\"psci\", \"vcpus\", \"mem_mib\"}. Exit status 0, 1 (not a VM directory, bad file), 2 (usage).\n";

int cmd_status(int argc, char **argv)
{
    const char *dir = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "pscivm status: unexpected argument '%s'\n\n%s", argv[i], usage);
            return PSCIVM_EXIT_USAGE;
        }
    }
    if (!dir) {
        fprintf(stderr, "pscivm status: the VM directory is missing\n\n%s", usage);
        return PSCIVM_EXIT_USAGE;
    }
    struct vm_status st;
    char err[512];
    if (vm_dir_status(dir, &st, err, sizeof(err))) {
        fprintf(stderr, "pscivm status: %s\n", err);
        vm_status_release(&st);
        return PSCIVM_EXIT_ERROR;
    }
    if (!json) {
        printf("%s\n", vm_state_name(st.state));
        vm_status_release(&st);
        return 0;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "state", json_object_new_string(vm_state_name(st.state)));
    json_object_object_add(o, "dir", json_object_new_string(dir));
    if (st.state == VM_STATE_RUNNING && st.pid)
        json_object_object_add(o, "pid", json_object_new_int64(st.pid));
    if (st.hibernation_record) {
        json_object *h = json_object_new_object();
        char when[32];
        time_t t = (time_t)st.hib.time;
        struct tm tm;
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        json_object_object_add(h, "time", json_object_new_string(when));
        json_object_object_add(h, "off2_type",
                               st.hib.type_read ? json_object_new_int64(st.hib.type) : NULL);
        json_object_object_add(h, "host_kernel", json_object_new_string(st.hib.host_kernel));
        json_object_object_add(h, "psci_mode", json_object_new_string(psci_mode_name(st.hib.mode)));
        json_object_object_add(o, "hibernation", h);
    }
    json_object_object_add(o, "psci", json_object_new_string(psci_version_name(st.def.psci_version)));
    json_object_object_add(o, "psci_mode", json_object_new_string(psci_mode_name(st.def.psci_mode)));
    json_object_object_add(o, "vcpus", json_object_new_int((int)st.def.cpus));
    json_object_object_add(o, "mem_mib", json_object_new_int64((int64_t)st.def.mem_mib));
    json_object_object_add(o, "disks", json_object_new_int((int)st.def.nr_disks));
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    vm_status_release(&st);
    return 0;
}
