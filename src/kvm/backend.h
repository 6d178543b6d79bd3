/* backend.h — the KVM/arm64 implementation of the hypervisor-neutral interface (hv.h): one
 * kvm_vm plus what the neutral operations need beside it (per-vCPU statistics for kernel-mode
 * observation, the ioeventfd thread for doorbells, the kick flags). src/machine/host.c builds
 * the VM with vm.h and then hands the machine `kvm_backend_hv()`. */
#ifndef PSCIVM_KVM_BACKEND_H
#define PSCIVM_KVM_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/hv.h"
#include "kvm/ioevent.h"
#include "kvm/vcpu_stats.h"
#include "kvm/vm.h"

struct kvm_backend {
    struct kvm_vm vm;
    struct vcpu_stat *hvc;       /* per vCPU: "hvc_exit_stat" (fd -1: none) */
    struct vcpu_stat *blocking;  /* per vCPU: "blocking" (fd -1: none) */
    uint64_t *mpidrs;
    struct ioevent_thread io;
    bool io_ready;
};

/* After kvm_vm_create_vcpus: allocate the per-vCPU parts; open_stats: find the statistics
 * counters (kernel PSCI mode). 0 or -errno (message in err). */
int kvm_backend_init(struct kvm_backend *b, bool open_stats, char *err, size_t errlen);
/* Whether the statistics counters were found (cpu_off observation without blind kicks). */
bool kvm_backend_has_stats(const struct kvm_backend *b);
/* Start the doorbell thread once every notify_add was made (no-op without any). */
int kvm_backend_start_io(struct kvm_backend *b, char *err, size_t errlen);
/* Stop the I/O thread, close the stats and the VM. */
void kvm_backend_release(struct kvm_backend *b);
struct hv kvm_backend_hv(struct kvm_backend *b);

#endif
