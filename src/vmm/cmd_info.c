/* cmd_info.c — `pscivm info [--json]`: print the host facts pscivm's PSCI modes depend on
 * (src/kvm/probe.h), one "key: value" per line, or one JSON object with the same keys. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "kvm/probe.h"
#include "vmm/commands.h"
#include "vmm/exit_status.h"

static const char info_usage[] =
    "usage: pscivm info [--json]\n"
    "\n"
    "Opens /dev/kvm and prints the host facts pscivm's PSCI modes depend on:\n"
    "  kvm_api_version     KVM_GET_API_VERSION\n"
    "  kernel_release      the host kernel (uname -r)\n"
    "  psci_0_2            KVM_CAP_ARM_PSCI_0_2\n"
    "  system_suspend      KVM_CAP_ARM_SYSTEM_SUSPEND\n"
    "  system_event_data   KVM_CAP_SYSTEM_EVENT_DATA\n"
    "  smccc_filter        KVM_ARM_VM_SMCCC_FILTER attribute (pscivm can answer PSCI itself)\n"
    "  psci_version        default KVM_REG_ARM_PSCI_VERSION of a new VM (major.minor)\n"
    "  psci_version_raw    the same, as the raw register value\n"
    "  vgic_v3             an in-kernel GICv3 can be created\n"
    "  ipa_size_max        KVM_CAP_ARM_VM_IPA_SIZE (0: fixed 40-bit IPA space)\n"
    "  max_vcpus           KVM_CAP_MAX_VCPUS\n"
    "--json prints one JSON object with these keys (booleans as true/false).\n";

static void psci_version_str(uint32_t v, char *buf, size_t len)
{
    snprintf(buf, len, "%u.%u", (unsigned)(v >> 16), (unsigned)(v & 0xffff));
}

static int print_json(const struct kvm_host_facts *f)
{
    char ver[16];
    psci_version_str(f->psci_version, ver, sizeof(ver));
    json_object *o = json_object_new_object();
    if (!o) {
        fprintf(stderr, "pscivm info: out of memory building JSON\n");
        return PSCIVM_EXIT_ERROR;
    }
    json_object_object_add(o, "kvm_api_version", json_object_new_int(f->api_version));
    json_object_object_add(o, "kernel_release", json_object_new_string(f->kernel_release));
    json_object_object_add(o, "psci_0_2", json_object_new_boolean(f->psci_0_2));
    json_object_object_add(o, "system_suspend", json_object_new_boolean(f->system_suspend));
    json_object_object_add(o, "system_event_data", json_object_new_boolean(f->system_event_data));
    json_object_object_add(o, "smccc_filter", json_object_new_boolean(f->smccc_filter));
    json_object_object_add(o, "psci_version", json_object_new_string(ver));
    json_object_object_add(o, "psci_version_raw", json_object_new_int64(f->psci_version));
    json_object_object_add(o, "vgic_v3", json_object_new_boolean(f->vgic_v3));
    json_object_object_add(o, "ipa_size_max", json_object_new_int(f->ipa_size_max));
    json_object_object_add(o, "max_vcpus", json_object_new_int(f->max_vcpus));
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return 0;
}

static const char *yesno(bool b)
{
    return b ? "yes" : "no";
}

static void print_text(const struct kvm_host_facts *f)
{
    char ver[16];
    psci_version_str(f->psci_version, ver, sizeof(ver));
    printf("kvm_api_version: %d\n", f->api_version);
    printf("kernel_release: %s\n", f->kernel_release);
    printf("psci_0_2: %s\n", yesno(f->psci_0_2));
    printf("system_suspend: %s\n", yesno(f->system_suspend));
    printf("system_event_data: %s\n", yesno(f->system_event_data));
    printf("smccc_filter: %s\n", yesno(f->smccc_filter));
    printf("psci_version: %s\n", ver);
    printf("psci_version_raw: 0x%x\n", (unsigned)f->psci_version);
    printf("vgic_v3: %s\n", yesno(f->vgic_v3));
    printf("ipa_size_max: %d\n", f->ipa_size_max);
    printf("max_vcpus: %d\n", f->max_vcpus);
}

int cmd_info(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(info_usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "pscivm info: unknown argument '%s'\n\n%s", argv[i], info_usage);
            return PSCIVM_EXIT_USAGE;
        }
    }

    struct kvm_host_facts facts;
    char err[256];
    if (kvm_host_facts_probe(&facts, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "pscivm info: %s\n", err);
        return PSCIVM_EXIT_ERROR;
    }
    if (json)
        return print_json(&facts);
    print_text(&facts);
    return 0;
}
