/* probe.c — kvm_host_facts_probe(): read the host facts pscivm's PSCI modes depend on from
 * /dev/kvm, using a scratch VM (SMCCC filter attribute, vGICv3 test device) and a scratch vCPU
 * initialised with KVM_ARM_VCPU_PSCI_0_2 (default KVM_REG_ARM_PSCI_VERSION). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "kvm/compat.h"
#include "kvm/probe.h"

static int probe_fail(char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int probe_fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < errlen)
            snprintf(err + n, errlen - (size_t)n, ": %s", strerror(e));
    }
    return -e;
}

/* KVM_CHECK_EXTENSION on fd; negative results (unknown ioctl) count as "absent". */
static int check_cap(int fd, long cap)
{
    int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

static int probe_vcpu(int vm, struct kvm_host_facts *f, char *err, size_t errlen)
{
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL);
    if (vcpu < 0)
        return probe_fail(err, errlen, errno, "KVM_CREATE_VCPU(0) on the scratch VM");

    int ret = 0;
    struct kvm_vcpu_init init;
    memset(&init, 0, sizeof(init));
    if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init) < 0) {
        ret = probe_fail(err, errlen, errno, "KVM_ARM_PREFERRED_TARGET on the scratch VM");
        goto out;
    }
    init.features[0] |= 1U << KVM_ARM_VCPU_PSCI_0_2;
    if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init) < 0) {
        ret = probe_fail(err, errlen, errno, "KVM_ARM_VCPU_INIT(PSCI_0_2) on scratch vCPU 0");
        goto out;
    }
    uint64_t ver = 0;
    struct kvm_one_reg reg = {.id = KVM_REG_ARM_PSCI_VERSION, .addr = (uint64_t)(uintptr_t)&ver};
    if (ioctl(vcpu, KVM_GET_ONE_REG, &reg) < 0) {
        ret = probe_fail(err, errlen, errno, "KVM_GET_ONE_REG(PSCI_VERSION) on scratch vCPU 0");
        goto out;
    }
    f->psci_version = (uint32_t)ver;
out:
    close(vcpu);
    return ret;
}

int kvm_host_facts_probe(struct kvm_host_facts *f, const char *dev, char *err, size_t errlen)
{
    if (!dev)
        dev = "/dev/kvm";
    memset(f, 0, sizeof(*f));
    if (err && errlen)
        err[0] = '\0';

    struct utsname u;
    if (uname(&u) == 0)
        snprintf(f->kernel_release, sizeof(f->kernel_release), "%s", u.release);

    int kvm = open(dev, O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        return probe_fail(err, errlen, errno, "cannot open %s", dev);

    int ret = 0, vm = -1;
    f->api_version = ioctl(kvm, KVM_GET_API_VERSION, 0);
    if (f->api_version < 0) {
        ret = probe_fail(err, errlen, errno, "KVM_GET_API_VERSION on %s", dev);
        goto out;
    }
    f->ipa_size_max = check_cap(kvm, KVM_CAP_ARM_VM_IPA_SIZE);
    f->max_vcpus = check_cap(kvm, KVM_CAP_MAX_VCPUS);

    /* Default VM type is a 40-bit IPA space; a host limited below that needs an explicit size. */
    unsigned long type = 0;
    if (f->ipa_size_max > 0 && f->ipa_size_max < 40)
        type = KVM_VM_TYPE_ARM_IPA_SIZE((unsigned long)f->ipa_size_max);
    do
        vm = ioctl(kvm, KVM_CREATE_VM, type);
    while (vm < 0 && errno == EINTR);
    if (vm < 0) {
        ret = probe_fail(err, errlen, errno, "KVM_CREATE_VM (scratch VM) on %s", dev);
        goto out;
    }

    /* Capabilities asked on the VM (KVM_CAP_CHECK_EXTENSION_VM), as a VMM would see them. */
    int capfd = check_cap(kvm, KVM_CAP_CHECK_EXTENSION_VM) ? vm : kvm;
    f->psci_0_2 = check_cap(capfd, KVM_CAP_ARM_PSCI_0_2) > 0;
    f->system_suspend = check_cap(capfd, KVM_CAP_ARM_SYSTEM_SUSPEND) > 0;
    f->system_event_data = check_cap(capfd, KVM_CAP_SYSTEM_EVENT_DATA) > 0;

    struct kvm_device_attr attr = {
        .group = KVM_ARM_VM_SMCCC_CTRL,
        .attr = KVM_ARM_VM_SMCCC_FILTER,
    };
    f->smccc_filter = ioctl(vm, KVM_HAS_DEVICE_ATTR, &attr) == 0;

    struct kvm_create_device gic = {
        .type = KVM_DEV_TYPE_ARM_VGIC_V3,
        .flags = KVM_CREATE_DEVICE_TEST,
    };
    f->vgic_v3 = ioctl(vm, KVM_CREATE_DEVICE, &gic) == 0;

    ret = probe_vcpu(vm, f, err, errlen);
out:
    if (vm >= 0)
        close(vm);
    close(kvm);
    return ret;
}
