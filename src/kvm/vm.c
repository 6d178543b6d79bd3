/* vm.c — KVM/arm64 ioctl wrappers (see vm.h). The ordering constraints KVM imposes are
 * documented at each call and followed by the machine builder (machine.c):
 * CREATE_VM -> memory -> CREATE_VCPU x N + VCPU_INIT -> vGIC (addresses, NR_IRQS, CTRL_INIT)
 * -> SMCCC filter / PSCI version / caps (before any KVM_RUN) -> registers -> KVM_RUN. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm/vm.h"

/* Write "OP on WHAT: strerror" into the caller's buffer and return -errno (errno captured
 * first). */
__attribute__((format(printf, 3, 4)))
static int kvm_error(char *err, size_t errlen, const char *fmt, ...)
{
    int e = errno ? errno : EIO;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", what, strerror(e));
    return -e;
}

int kvm_vm_init(struct kvm_vm *vm, char *err, size_t errlen)
{
    memset(vm, 0, sizeof(*vm));
    vm->kvm_fd = vm->vm_fd = vm->gic_fd = -1;
    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0)
        return kvm_error(err, errlen, "open /dev/kvm");
    int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        snprintf(err, errlen, "KVM_GET_API_VERSION: %d, expected %d", api, KVM_API_VERSION);
        kvm_vm_release(vm);
        return -EINVAL;
    }
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        int rc = kvm_error(err, errlen, "KVM_CREATE_VM");
        kvm_vm_release(vm);
        return rc;
    }
    vm->counter_offset_cap = kvm_vm_has_counter_offset(vm);
    vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vm->run_size < (long)sizeof(struct kvm_run)) {
        int rc = kvm_error(err, errlen, "KVM_GET_VCPU_MMAP_SIZE");
        kvm_vm_release(vm);
        return rc;
    }
    return 0;
}

void kvm_vm_release(struct kvm_vm *vm)
{
    for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
        if (vm->vcpus[i].run)
            munmap(vm->vcpus[i].run, (size_t)vm->run_size);
        if (vm->vcpus[i].fd >= 0)
            close(vm->vcpus[i].fd);
    }
    free(vm->vcpus);
    vm->vcpus = NULL;
    vm->nr_vcpus = 0;
    if (vm->gic_fd >= 0)
        close(vm->gic_fd);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    vm->gic_fd = vm->vm_fd = vm->kvm_fd = -1;
}

int kvm_vm_set_memory(struct kvm_vm *vm, uint64_t gpa, uint64_t size, void *host, char *err,
                      size_t errlen)
{
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)host,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return kvm_error(err, errlen, "KVM_SET_USER_MEMORY_REGION(0x%llx, %llu MiB)",
                         (unsigned long long)gpa, (unsigned long long)(size >> 20));
    return 0;
}

int kvm_vcpu_reset(struct kvm_vm *vm, unsigned int index, bool power_off)
{
    struct kvm_vcpu_init init = vm->init;
    if (power_off)
        init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
    if (ioctl(vm->vcpus[index].fd, KVM_ARM_VCPU_INIT, &init) < 0)
        return -errno;
    return 0;
}

int kvm_vm_create_vcpus(struct kvm_vm *vm, unsigned int n, char *err, size_t errlen)
{
    vm->vcpus = calloc(n, sizeof(*vm->vcpus));
    if (!vm->vcpus)
        return -ENOMEM;
    for (unsigned int i = 0; i < n; i++)
        vm->vcpus[i].fd = -1;
    vm->nr_vcpus = n;
    if (ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &vm->init) < 0)
        return kvm_error(err, errlen, "KVM_ARM_PREFERRED_TARGET");
    memset(vm->init.features, 0, sizeof(vm->init.features));
    vm->init.features[0] = 1u << KVM_ARM_VCPU_PSCI_0_2;
    for (unsigned int i = 0; i < n; i++) {
        struct kvm_vcpu_handle *v = &vm->vcpus[i];
        v->index = i;
        v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
        if (v->fd < 0)
            return kvm_error(err, errlen, "KVM_CREATE_VCPU %u", i);
        void *run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
        if (run == MAP_FAILED)
            return kvm_error(err, errlen, "mmap kvm_run of vCPU %u", i);
        v->run = run;
        int rc = kvm_vcpu_reset(vm, i, i != 0);
        if (rc) {
            snprintf(err, errlen, "KVM_ARM_VCPU_INIT on vCPU %u: %s", i, strerror(-rc));
            return rc;
        }
        uint64_t mpidr;
        rc = kvm_vcpu_get_reg(vm, i, KVM_REG_MPIDR_EL1, &mpidr);
        if (rc) {
            snprintf(err, errlen, "reading MPIDR_EL1 of vCPU %u: %s", i, strerror(-rc));
            return rc;
        }
        v->mpidr = mpidr & 0xff00ffffffULL;
    }
    return 0;
}

static int kvm_device_attr(int fd, unsigned long req, uint32_t group, uint64_t attr, void *addr,
                           const char *what, char *err, size_t errlen)
{
    struct kvm_device_attr a = {.group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)addr};
    if (ioctl(fd, req, &a) < 0)
        return kvm_error(err, errlen, "%s", what);
    return 0;
}

int kvm_vm_create_gic(struct kvm_vm *vm, uint64_t dist, uint64_t redist, unsigned int nr_irqs,
                      char *err, size_t errlen)
{
    struct kvm_create_device dev = {.type = KVM_DEV_TYPE_ARM_VGIC_V3};
    if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &dev) < 0)
        return kvm_error(err, errlen, "KVM_CREATE_DEVICE(vGICv3)");
    vm->gic_fd = (int)dev.fd;
    uint32_t nr = nr_irqs;
    int rc = kvm_device_attr(vm->gic_fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_ADDR,
                             KVM_VGIC_V3_ADDR_TYPE_DIST, &dist, "vGICv3 distributor address",
                             err, errlen);
    if (!rc)
        rc = kvm_device_attr(vm->gic_fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_ADDR,
                             KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist,
                             "vGICv3 redistributor address", err, errlen);
    if (!rc)
        rc = kvm_device_attr(vm->gic_fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0,
                             &nr, "vGICv3 NR_IRQS", err, errlen);
    return rc;
}

int kvm_vm_init_gic(struct kvm_vm *vm, char *err, size_t errlen)
{
    return kvm_device_attr(vm->gic_fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_CTRL,
                           KVM_DEV_ARM_VGIC_CTRL_INIT, NULL, "vGICv3 CTRL_INIT", err, errlen);
}

bool kvm_vm_has_smccc_filter(struct kvm_vm *vm)
{
    struct kvm_device_attr a = {.group = KVM_ARM_VM_SMCCC_CTRL, .attr = KVM_ARM_VM_SMCCC_FILTER};
    return ioctl(vm->vm_fd, KVM_HAS_DEVICE_ATTR, &a) == 0;
}

int kvm_vm_forward_smccc(struct kvm_vm *vm, uint32_t base, uint32_t nr, char *err, size_t errlen)
{
    struct kvm_smccc_filter f = {
        .base = base, .nr_functions = nr, .action = KVM_SMCCC_FILTER_FWD_TO_USER,
    };
    char what[80];
    snprintf(what, sizeof(what), "SMCCC filter [0x%08x, +0x%x) -> user", base, nr);
    return kvm_device_attr(vm->vm_fd, KVM_SET_DEVICE_ATTR, KVM_ARM_VM_SMCCC_CTRL,
                           KVM_ARM_VM_SMCCC_FILTER, &f, what, err, errlen);
}

int kvm_vm_get_psci_version(struct kvm_vm *vm, uint64_t *version)
{
    return kvm_vcpu_get_reg(vm, 0, KVM_REG_ARM_PSCI_VERSION, version);
}

int kvm_vm_set_psci_version(struct kvm_vm *vm, uint64_t version)
{
    return kvm_vcpu_set_reg(vm, 0, KVM_REG_ARM_PSCI_VERSION, version);
}

int kvm_vm_enable_system_suspend(struct kvm_vm *vm, char *err, size_t errlen)
{
    struct kvm_enable_cap cap = {.cap = KVM_CAP_ARM_SYSTEM_SUSPEND};
    if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
        return kvm_error(err, errlen, "KVM_ENABLE_CAP(KVM_CAP_ARM_SYSTEM_SUSPEND)");
    return 0;
}

int kvm_vm_enable_nisv_to_user(struct kvm_vm *vm)
{
    if (ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_NISV_TO_USER) <= 0 ||
        ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_INJECT_EXT_DABT) <= 0)
        return -EOPNOTSUPP;
    struct kvm_enable_cap cap = {.cap = KVM_CAP_ARM_NISV_TO_USER};
    return ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0 ? -errno : 0;
}

int kvm_vcpu_inject_dabt(struct kvm_vm *vm, unsigned int index)
{
    struct kvm_vcpu_events ev;
    memset(&ev, 0, sizeof(ev));
    ev.exception.ext_dabt_pending = 1;
    if (ioctl(vm->vcpus[index].fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
        return -errno;
    return 0;
}

int kvm_vm_irq_line(struct kvm_vm *vm, unsigned int spi, bool level)
{
    struct kvm_irq_level irq = {
        .irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (32 + spi),
        .level = level,
    };
    if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
        return -errno;
    return 0;
}

int kvm_vcpu_get_reg(struct kvm_vm *vm, unsigned int index, uint64_t id, uint64_t *value)
{
    struct kvm_one_reg reg = {.id = id, .addr = (uint64_t)(uintptr_t)value};
    if (ioctl(vm->vcpus[index].fd, KVM_GET_ONE_REG, &reg) < 0)
        return -errno;
    return 0;
}

int kvm_vcpu_set_reg(struct kvm_vm *vm, unsigned int index, uint64_t id, uint64_t value)
{
    struct kvm_one_reg reg = {.id = id, .addr = (uint64_t)(uintptr_t)&value};
    if (ioctl(vm->vcpus[index].fd, KVM_SET_ONE_REG, &reg) < 0)
        return -errno;
    return 0;
}

int kvm_vcpu_get_mp_state(struct kvm_vm *vm, unsigned int index, uint32_t *state)
{
    struct kvm_mp_state mp;
    if (ioctl(vm->vcpus[index].fd, KVM_GET_MP_STATE, &mp) < 0)
        return -errno;
    *state = mp.mp_state;
    return 0;
}

int kvm_vcpu_set_mp_state(struct kvm_vm *vm, unsigned int index, uint32_t state)
{
    struct kvm_mp_state mp = {.mp_state = state};
    if (ioctl(vm->vcpus[index].fd, KVM_SET_MP_STATE, &mp) < 0)
        return -errno;
    return 0;
}

int kvm_vcpu_start_at(struct kvm_vm *vm, unsigned int index, uint64_t entry, uint64_t x0)
{
    int err = kvm_vcpu_reset(vm, index, false);
    if (!err)
        err = kvm_vcpu_set_reg(vm, index, KVM_REG_PC, entry);
    if (!err)
        err = kvm_vcpu_set_reg(vm, index, KVM_REG_X(0), x0);
    if (!err)
        err = kvm_vcpu_set_reg(vm, index, KVM_REG_PSTATE, PSTATE_EL1H_DAIF);
    if (!err)
        err = kvm_vcpu_set_mp_state(vm, index, KVM_MP_STATE_RUNNABLE);
    return err;
}

int kvm_vcpu_run(struct kvm_vm *vm, unsigned int index)
{
    if (ioctl(vm->vcpus[index].fd, KVM_RUN, 0) == 0)
        return 0;
    if (errno == EINTR || errno == EAGAIN)
        return -EINTR;
    return -errno;
}

/* Each with where it is issued after the VM is built; see vm.h. */
static const unsigned long runtime_ioctls[] = {
    KVM_RUN,                    /* vCPU threads; snapshot-save completes MMIO (immediate_exit) */
    KVM_GET_ONE_REG,            /* PSCI arguments, counter (pause), snapshot-save registers */
    KVM_SET_ONE_REG,            /* PSCI results, CPU_ON entry/context, counter on older hosts */
    KVM_GET_MP_STATE,           /* kernel-mode observation of CPU_OFF/SUSPEND, query-psci */
    KVM_SET_MP_STATE,           /* user-mode CPU_ON/CPU_OFF/suspend, resets */
    KVM_ARM_VCPU_INIT,          /* vCPU reset: CPU_ON, guest reset (in-process restart) */
    KVM_SET_VCPU_EVENTS,        /* external data abort injected for bad MMIO */
    KVM_IRQ_LINE,               /* device interrupts (UART, RTC, virtio) */
    KVM_GET_REG_LIST,           /* snapshot-save: every register KVM lists */
    KVM_GET_DEVICE_ATTR,        /* snapshot-save: vGIC state */
    KVM_SET_DEVICE_ATTR,        /* vGIC state writes (same device interface as the save) */
    KVM_ARM_SET_COUNTER_OFFSET, /* cont after a pause: guest time stood still */
    KVM_IOEVENTFD,              /* teardown deassigns the virtio doorbells */
};

size_t kvm_runtime_ioctls(const unsigned long **list)
{
    *list = runtime_ioctls;
    return sizeof(runtime_ioctls) / sizeof(runtime_ioctls[0]);
}
