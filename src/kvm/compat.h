/* compat.h — KVM/arm64 UAPI definitions newer than the build machine's kernel headers
 * (Debian 12's cross headers are Linux 6.1). Values from the kernel's uapi headers and
 * Documentation/virt/kvm (see ../shared/reference/psci-kvm.md §3-§5); each is defined only when
 * the installed headers lack it, so newer headers win. Include after <linux/kvm.h>. */
#ifndef PSCIVM_KVM_COMPAT_H
#define PSCIVM_KVM_COMPAT_H

#include <linux/kvm.h>

/* <linux/kvm.h> pulls in <linux/psci.h>, whose PSCI_VERSION(maj, min) has the same meaning as
 * pscivm's own in src/psci/psci.h; drop the kernel's so the backend can include both. */
#undef PSCI_VERSION

/* SMCCC filter (Linux 6.4): VM device attribute group/attr and the filter record. */
#ifndef KVM_ARM_VM_SMCCC_CTRL
#define KVM_ARM_VM_SMCCC_CTRL 0
#define KVM_ARM_VM_SMCCC_FILTER 0
enum kvm_smccc_filter_action {
    KVM_SMCCC_FILTER_HANDLE = 0,
    KVM_SMCCC_FILTER_DENY = 1,
    KVM_SMCCC_FILTER_FWD_TO_USER = 2,
};
struct kvm_smccc_filter {
    __u32 base;
    __u32 nr_functions;
    __u8 action;
    __u8 pad[15];
};
#endif

/* KVM_EXIT_HYPERCALL flags on arm64 (Linux 6.4). */
#ifndef KVM_HYPERCALL_EXIT_SMC
#define KVM_HYPERCALL_EXIT_SMC (1U << 0)
#define KVM_HYPERCALL_EXIT_16BIT (1U << 1)
#endif

/* SYSTEM_OFF2 (Linux 6.13): flag in system_event.data[0] of a SHUTDOWN event. */
#ifndef KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2
#define KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2 (1ULL << 0)
#endif
#ifndef KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2
#define KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2 (1ULL << 0)
#endif

/* Firmware pseudo-register holding the PSCI version the in-kernel PSCI reports (VM-wide). */
#ifndef KVM_REG_ARM_PSCI_VERSION
#define KVM_REG_ARM_PSCI_VERSION (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | (0x0014 << 16) | 0)
#endif

/* VM-wide counter offset (Linux 6.4): guest counters = host physical counter - offset. Once it
 * is used, KVM ignores userspace writes of CNTVCT/CNTPCT (api.rst, KVM_ARM_SET_COUNTER_OFFSET). */
#ifndef KVM_CAP_COUNTER_OFFSET
#define KVM_CAP_COUNTER_OFFSET 227
struct kvm_arm_counter_offset {
    __u64 counter_offset;
    __u64 reserved;
};
#define KVM_ARM_SET_COUNTER_OFFSET _IOW(KVMIO, 0xb5, struct kvm_arm_counter_offset)
#endif

#endif
