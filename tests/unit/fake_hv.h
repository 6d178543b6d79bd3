/* fake_hv.h — a scripted hypervisor behind hv.h for machine-layer tests: registers, MP states
 * and injected aborts are recorded in memory, register accesses counted per vCPU (what would
 * be ONE_REG ioctls); vcpu_run returns the exits a test queued for that vCPU, then blocks
 * until a kick (-EINTR), like a guest that keeps running. */
#ifndef PSCIVM_TEST_FAKE_HV_H
#define PSCIVM_TEST_FAKE_HV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm/hv.h"

#define FAKE_MAX_VCPUS 8
#define FAKE_MAX_EXITS 16

/* Snapshot state: registers listed as ids FAKE_REG_ID(0..33) (8 bytes, regs[]), FAKE_REG_VEC
 * (16 bytes, vec[]) unless hide_vec, and FAKE_REG_PSCI (8 bytes, psci_version) which refuses
 * values above psci_max. The interrupt controller is FAKE_GIC_REGS 4-byte blobs. */
#define FAKE_REG_ID(n) (0x6030000000100000ull + (n))
#define FAKE_REG_VEC 0x6040000000102000ull
#define FAKE_REG_PSCI 0x6030000000140000ull
#define FAKE_GIC_REGS 8
#define FAKE_CNTFRQ 62500000u

struct fake_vcpu {
    uint64_t regs[34];
    uint8_t vec[16];
    unsigned int completes;     /* vcpu_complete calls */
    enum hv_mp_state mp;
    bool kicked;
    unsigned int dabts;
    unsigned int starts;
    uint64_t start_entry, start_x0;
    struct vm_exit queue[FAKE_MAX_EXITS];
    unsigned int head, tail;
    unsigned int runs;          /* vcpu_run calls */
    unsigned int get_regs;      /* get_reg calls (each a KVM_GET_ONE_REG on KVM) */
    unsigned int set_regs;      /* set_reg calls (each a KVM_SET_ONE_REG on KVM) */
    bool in_run;                /* blocked inside vcpu_run */
};

struct fake_hv {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned int nr;
    uint64_t mpidrs[FAKE_MAX_VCPUS];
    struct fake_vcpu v[FAKE_MAX_VCPUS];
    unsigned int irq_level[128];
    uint64_t counter;           /* CNTVCT as last written/read */
    uint64_t psci_version, psci_max;
    bool hide_vec;              /* the target "host" does not know FAKE_REG_VEC */
    uint8_t untouched_byte;     /* reg_untouched: a register filled with this byte (or zero)
                                   was never written by the guest (0: only zero) */
    bool vec_needs_feature;     /* FAKE_REG_VEC is listed only while bit 0 of regs[33] (an "ID
                                   register") is set, as KVM lists a feature's registers */
    bool id32_read_only;        /* FAKE_REG_ID(32) refuses any value but the one it holds, as
                                   an ID register whose fields the host does not let change */
    uint64_t id32_blind;        /* reg_same_for_guest: bits of FAKE_REG_ID(32) no guest uses */
    uint32_t gic[FAKE_GIC_REGS];
};

void fake_hv_init(struct fake_hv *f, unsigned int nr);
void fake_hv_release(struct fake_hv *f);
struct hv fake_hv_hv(struct fake_hv *f);
/* Queue an exit for vCPU i (returned by its next vcpu_run). */
void fake_hv_queue(struct fake_hv *f, unsigned int i, const struct vm_exit *e);
/* Wait until vCPU i's thread is blocked in vcpu_run with its queue empty (or timeout_ms). */
bool fake_hv_wait_idle(struct fake_hv *f, unsigned int i, int timeout_ms);

#endif
