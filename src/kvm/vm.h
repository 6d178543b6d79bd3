/* vm.h — thin, error-reporting wrappers over the KVM/arm64 ioctls pscivm uses: one VM with one
 * RAM slot, vCPUs with their kvm_run pages, an in-kernel vGICv3, the SMCCC filter, the PSCI
 * version register, MP states and core registers. Errors are returned as a negative errno; the
 * build-time functions also write a message naming the operation, the object and errno into
 * the caller's `err` buffer. Nothing here prints, and no policy lives here. */
#ifndef PSCIVM_KVM_VM_H
#define PSCIVM_KVM_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/compat.h"

struct kvm_vcpu_handle {
    int fd;
    unsigned int index;
    struct kvm_run *run;
    uint64_t mpidr;        /* MPIDR_EL1 affinity as KVM assigned it (Aff3..Aff0) */
};

struct kvm_vm {
    int kvm_fd;
    int vm_fd;
    int gic_fd;
    long run_size;
    unsigned int nr_vcpus;
    struct kvm_vcpu_handle *vcpus;
    struct kvm_vcpu_init init;  /* features every vCPU is (re)initialised with */
    bool counter_offset_cap;    /* KVM_CAP_COUNTER_OFFSET: counter set by the VM-wide offset */
};

/* Core register ids (Documentation/virt/kvm/api.rst, arm64 core registers). */
#define KVM_REG_X(n) (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | ((n) * 2))
#define KVM_REG_PC (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | 0x40)
#define KVM_REG_PSTATE (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | 0x42)
#define KVM_REG_MPIDR_EL1 ARM64_SYS_REG(3, 0, 0, 0, 5)
/* EL1h with D, A, I, F masked: the state PSCI entry points and our payload entry use. */
#define PSTATE_EL1H_DAIF 0x3c5ULL

/* Open /dev/kvm, create the VM (default 40-bit IPA), map nothing yet. */
int kvm_vm_init(struct kvm_vm *vm, char *err, size_t errlen);
void kvm_vm_release(struct kvm_vm *vm);

int kvm_vm_set_memory(struct kvm_vm *vm, uint64_t gpa, uint64_t size, void *host, char *err,
                      size_t errlen);
/* Create n vCPUs, map their kvm_run, KVM_ARM_VCPU_INIT them (PSCI 0.2 feature; secondaries
 * with POWER_OFF) and read their MPIDR. */
int kvm_vm_create_vcpus(struct kvm_vm *vm, unsigned int n, char *err, size_t errlen);
/* vGICv3 with its distributor and redistributor regions at the given guest addresses and
 * nr_irqs interrupts; call after the vCPUs exist. */
int kvm_vm_create_gic(struct kvm_vm *vm, uint64_t dist, uint64_t redist, unsigned int nr_irqs,
                      char *err, size_t errlen);
int kvm_vm_init_gic(struct kvm_vm *vm, char *err, size_t errlen);

bool kvm_vm_has_smccc_filter(struct kvm_vm *vm);
/* Forward [base, base + nr) to userspace (KVM_EXIT_HYPERCALL). */
int kvm_vm_forward_smccc(struct kvm_vm *vm, uint32_t base, uint32_t nr, char *err,
                         size_t errlen);
int kvm_vm_get_psci_version(struct kvm_vm *vm, uint64_t *version);
int kvm_vm_set_psci_version(struct kvm_vm *vm, uint64_t version);
int kvm_vm_enable_system_suspend(struct kvm_vm *vm, char *err, size_t errlen);
/* Ask KVM to report data aborts without a valid syndrome (KVM_EXIT_ARM_NISV) instead of
 * failing KVM_RUN; returns 0 or -errno (not reported: optional). */
int kvm_vm_enable_nisv_to_user(struct kvm_vm *vm);
/* Make the vCPU take an external data abort when it next runs. */
int kvm_vcpu_inject_dabt(struct kvm_vm *vm, unsigned int index);
/* Drive SPI `spi` to level (KVM_IRQ_LINE). */
int kvm_vm_irq_line(struct kvm_vm *vm, unsigned int spi, bool level);

/* Reset a vCPU (KVM_ARM_VCPU_INIT with the VM's features; powered off or runnable). */
int kvm_vcpu_reset(struct kvm_vm *vm, unsigned int index, bool power_off);
/* Reset, then PC = entry, X0 = x0, PSTATE = EL1h with DAIF masked, MP state RUNNABLE. */
int kvm_vcpu_start_at(struct kvm_vm *vm, unsigned int index, uint64_t entry, uint64_t x0);
int kvm_vcpu_get_reg(struct kvm_vm *vm, unsigned int index, uint64_t id, uint64_t *value);
int kvm_vcpu_set_reg(struct kvm_vm *vm, unsigned int index, uint64_t id, uint64_t value);
int kvm_vcpu_get_mp_state(struct kvm_vm *vm, unsigned int index, uint32_t *state);
int kvm_vcpu_set_mp_state(struct kvm_vm *vm, unsigned int index, uint32_t state);
/* ---- vm_state.c: what snapshots need ---- */
/* Size in bytes of a KVM register id (KVM_REG_SIZE). */
uint32_t kvm_reg_size(uint64_t id);
/* KVM_GET_REG_LIST of a vCPU: *ids (malloc'd) gets *n ids. 0 or -errno. */
int kvm_vcpu_reg_list(struct kvm_vm *vm, unsigned int index, uint64_t **ids, unsigned int *n);
/* KVM_GET/SET_ONE_REG of any size; -EINVAL when size is not the id's size. */
int kvm_vcpu_get_reg_raw(struct kvm_vm *vm, unsigned int index, uint64_t id, void *buf,
                         uint32_t size);
int kvm_vcpu_set_reg_raw(struct kvm_vm *vm, unsigned int index, uint64_t id, const void *buf,
                         uint32_t size);
/* The counter frequency (CNTFRQ_EL0, the same for host and guests). */
uint32_t kvm_counter_frequency(void);
bool kvm_vm_has_counter_offset(struct kvm_vm *vm);
/* Make the guest's virtual counter read `value` now, VM-wide: KVM_ARM_SET_COUNTER_OFFSET when
 * vm->counter_offset_cap, else a write of KVM_REG_ARM_TIMER_CNT. No vCPU may be in KVM_RUN. */
int kvm_vm_set_counter(struct kvm_vm *vm, uint64_t value);
/* The host counter minus the guest's virtual counter, now. */
int kvm_vm_counter_offset(struct kvm_vm *vm, uint64_t *offset);
/* Complete a pending MMIO access (a read gets mmio_data) with immediate_exit set: KVM retires
 * the instruction without entering the guest. No-op unless the last exit was MMIO. */
int kvm_vcpu_complete(struct kvm_vm *vm, unsigned int index, const uint8_t mmio_data[8],
                      bool mmio_read);

/* ---- vgic_state.c: the vGICv3's state (arm-vgic-v3.rst) ---- */
typedef int (*kvm_vgic_put_fn)(void *ctx, uint64_t id, const void *data, uint32_t size);
/* Every distributor, redistributor and CPU interface register and the SPIs' line levels, as
 * records (id = group << 56 | vCPU << 32 | offset-or-encoding; 4- or 8-byte values) in the
 * order the restore writes them. */
int kvm_vgic_save(struct kvm_vm *vm, kvm_vgic_put_fn put, void *ctx, char *err, size_t errlen);
struct kvm_vgic_record {
    uint64_t id;
    uint32_t size;
    const void *data;
};
/* Write them into this VM's initialised vGIC in the documented order (GICD_IIDR first, ICC_SRE
 * and ICC_CTLR before the other CPU interface registers); an id this machine's vGIC would not
 * produce is refused before anything is written. */
int kvm_vgic_restore(struct kvm_vm *vm, const struct kvm_vgic_record *recs, unsigned int n,
                     char *err, size_t errlen);

/* One KVM_RUN: 0 on an exit, -EINTR when interrupted (signal / immediate_exit), else -errno
 * (no message). */
int kvm_vcpu_run(struct kvm_vm *vm, unsigned int index);

/* The ioctl request numbers pscivm issues once the VM is built (vCPU threads, the PSCI bridge,
 * devices, QMP control, snapshot-save, resets, teardown): the seccomp allow-list's ioctls
 * (machine/seccomp_filter.c). Build-time ones (CREATE_VM, CREATE_VCPU, CREATE_DEVICE,
 * SET_USER_MEMORY_REGION, ENABLE_CAP, ...) are not in it. Returns the count. */
size_t kvm_runtime_ioctls(const unsigned long **list);

#endif
