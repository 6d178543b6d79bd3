/* probe.h — what the host's KVM/arm64 offers, as plain facts (no <linux/kvm.h> here). Filled by
 * kvm_host_facts_probe() (src/kvm/probe.c), which opens /dev/kvm and a scratch VM + vCPU.
 * `pscivm info` prints these; the backend chooses its PSCI mode from them (SMCCC filter →
 * pscivm answers PSCI itself; otherwise the in-kernel PSCI, pinned by KVM_REG_ARM_PSCI_VERSION). */
#ifndef PSCIVM_KVM_PROBE_H
#define PSCIVM_KVM_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm_host_facts {
    int api_version;            /* KVM_GET_API_VERSION (12 on every supported kernel) */
    char kernel_release[65];    /* uname -r */
    bool psci_0_2;              /* KVM_CAP_ARM_PSCI_0_2 */
    bool system_suspend;        /* KVM_CAP_ARM_SYSTEM_SUSPEND (5.19+) */
    bool system_event_data;     /* KVM_CAP_SYSTEM_EVENT_DATA (5.18+) */
    bool smccc_filter;          /* KVM_HAS_DEVICE_ATTR(KVM_ARM_VM_SMCCC_CTRL, _FILTER) (6.4+) */
    uint32_t psci_version;      /* default KVM_REG_ARM_PSCI_VERSION of a fresh VM, e.g. 0x10001 */
    bool vgic_v3;               /* KVM_CREATE_DEVICE(KVM_DEV_TYPE_ARM_VGIC_V3, TEST) succeeds */
    int ipa_size_max;           /* KVM_CAP_ARM_VM_IPA_SIZE; 0: only the fixed 40-bit IPA space */
    int max_vcpus;              /* KVM_CAP_MAX_VCPUS */
};

/* Probe the KVM device `dev` (NULL: "/dev/kvm"). Returns 0, or a negative errno with a message
 * saying what failed on what (e.g. "cannot open /dev/kvm: No such file or directory") in
 * err[errlen]. Creates and destroys one scratch VM with one vCPU. */
int kvm_host_facts_probe(struct kvm_host_facts *facts, const char *dev, char *err, size_t errlen);

#endif
