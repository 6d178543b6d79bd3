/* vm_state.c — the KVM/arm64 state a snapshot needs beyond vm.c's build-time calls: the list of
 * a vCPU's registers (KVM_GET_REG_LIST) and any register by KVM id and size (KVM_GET/SET_ONE_REG:
 * core, system, timer, firmware pseudo-registers, SVE when the vCPU has it), the guest's virtual
 * counter (KVM_ARM_SET_COUNTER_OFFSET where the host has it, else KVM_REG_ARM_TIMER_CNT), and
 * completing a pending MMIO read without running the guest (immediate_exit). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm/vm.h"

uint32_t kvm_reg_size(uint64_t id)
{
    return 1u << ((id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT);
}

int kvm_vcpu_reg_list(struct kvm_vm *vm, unsigned int index, uint64_t **ids, unsigned int *n)
{
    struct kvm_reg_list probe = {.n = 0};
    *ids = NULL;
    *n = 0;
    if (ioctl(vm->vcpus[index].fd, KVM_GET_REG_LIST, &probe) == 0)
        return 0; /* no registers at all */
    if (errno != E2BIG || probe.n == 0 || probe.n > 65536)
        return errno == E2BIG ? -EOVERFLOW : -errno;
    struct kvm_reg_list *list = malloc(sizeof(*list) + probe.n * sizeof(uint64_t));
    if (!list)
        return -ENOMEM;
    list->n = probe.n;
    if (ioctl(vm->vcpus[index].fd, KVM_GET_REG_LIST, list) < 0) {
        int e = errno;
        free(list);
        return -e;
    }
    uint64_t *out = malloc(list->n * sizeof(uint64_t));
    if (!out) {
        free(list);
        return -ENOMEM;
    }
    memcpy(out, list->reg, list->n * sizeof(uint64_t));
    *ids = out;
    *n = (unsigned int)list->n;
    free(list);
    return 0;
}

int kvm_vcpu_get_reg_raw(struct kvm_vm *vm, unsigned int index, uint64_t id, void *buf,
                         uint32_t size)
{
    if (kvm_reg_size(id) != size)
        return -EINVAL;
    struct kvm_one_reg reg = {.id = id, .addr = (uint64_t)(uintptr_t)buf};
    return ioctl(vm->vcpus[index].fd, KVM_GET_ONE_REG, &reg) < 0 ? -errno : 0;
}

int kvm_vcpu_set_reg_raw(struct kvm_vm *vm, unsigned int index, uint64_t id, const void *buf,
                         uint32_t size)
{
    if (kvm_reg_size(id) != size)
        return -EINVAL;
    struct kvm_one_reg reg = {.id = id, .addr = (uint64_t)(uintptr_t)buf};
    return ioctl(vm->vcpus[index].fd, KVM_SET_ONE_REG, &reg) < 0 ? -errno : 0;
}

/* The host's counter as KVM's offset counts from it. Host EL0 reads CNTVCT_EL0; KVM sets
 * CNTVOFF_EL2 to 0 whenever the host runs (kvm_timer_vcpu_put), so this is the physical count. */
static uint64_t host_counter(void)
{
#ifdef __aarch64__
    uint64_t v;
    __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v) :: "memory");
    return v;
#else
    return 0;
#endif
}

uint32_t kvm_counter_frequency(void)
{
#ifdef __aarch64__
    uint64_t v;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(v));
    return (uint32_t)v;
#else
    return 0;
#endif
}

bool kvm_vm_has_counter_offset(struct kvm_vm *vm)
{
    return ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COUNTER_OFFSET) > 0;
}

int kvm_vm_set_counter(struct kvm_vm *vm, uint64_t value)
{
    if (vm->counter_offset_cap) {
        struct kvm_arm_counter_offset off = {.counter_offset = host_counter() - value};
        if (ioctl(vm->vm_fd, KVM_ARM_SET_COUNTER_OFFSET, &off) < 0)
            return -errno;
        return 0;
    }
    /* Older hosts: writing CNTVCT of one vCPU moves the whole VM's virtual offset. */
    return kvm_vcpu_set_reg(vm, 0, KVM_REG_ARM_TIMER_CNT, value);
}

int kvm_vm_counter_offset(struct kvm_vm *vm, uint64_t *offset)
{
    uint64_t guest;
    int rc = kvm_vcpu_get_reg(vm, 0, KVM_REG_ARM_TIMER_CNT, &guest);
    if (rc == 0)
        *offset = host_counter() - guest;
    return rc;
}

int kvm_vcpu_complete(struct kvm_vm *vm, unsigned int index, const uint8_t mmio_data[8],
                      bool mmio_read)
{
    struct kvm_run *run = vm->vcpus[index].run;
    if (run->exit_reason != KVM_EXIT_MMIO)
        return 0;
    if (mmio_read)
        memcpy(run->mmio.data, mmio_data, 8);
    uint8_t old = __atomic_exchange_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    int rc = ioctl(vm->vcpus[index].fd, KVM_RUN, 0) < 0 ? -errno : 0;
    __atomic_store_n(&run->immediate_exit, old, __ATOMIC_SEQ_CST);
    /* With immediate_exit KVM completes the access, then returns -EINTR without entering. */
    if (rc == -EINTR || rc == -EAGAIN || rc == 0) {
        run->exit_reason = KVM_EXIT_INTR;
        return 0;
    }
    return rc;
}
