/* hv.h — the hypervisor-neutral interface a backend offers the machine layer (src/machine):
 * (src/kvm/backend.c for KVM/arm64; tests/unit's fake backend for synthetic exits). The
 * machine never sees <linux/kvm.h>: a vCPU run ends in a `struct vm_exit`, registers are named
 * by `enum hv_reg`, power states by `enum hv_mp_state`.
 *
 * Threads: vcpu_* operations on vCPU i are called from vCPU i's thread, except vcpu_kick (any
 * thread), get_mp_state on a paused vCPU (the pausing thread) and stat_read (any thread). The
 * snapshot operations (at the end of hv_ops) run on the thread that holds the pause, while no
 * vCPU thread is inside vcpu_run (or before any thread exists).
 * Every operation returns 0 or a negative errno and never prints. */
#ifndef PSCIVM_KVM_HV_H
#define PSCIVM_KVM_HV_H

#include <stdbool.h>
#include <stdint.h>

enum vm_exit_kind {
    VM_EXIT_MMIO,          /* a load/store to an address no in-kernel device handles */
    VM_EXIT_HYPERCALL,     /* HVC/SMC forwarded by the SMCCC filter (user PSCI mode) */
    VM_EXIT_SYSTEM_EVENT,  /* KVM's PSCI: off, reset, suspend, wake-up, crash */
    VM_EXIT_NISV,          /* a data abort without syndrome (cannot be emulated) */
    VM_EXIT_FAIL,          /* the backend cannot run the vCPU (entry failure, internal error) */
    VM_EXIT_UNKNOWN,       /* anything else */
};

enum vm_system_event {
    VM_SYSEV_SHUTDOWN,     /* SYSTEM_OFF, or SYSTEM_OFF2 when psci_off2 */
    VM_SYSEV_RESET,        /* SYSTEM_RESET, or SYSTEM_RESET2 when psci_reset2 */
    VM_SYSEV_SUSPEND,      /* SYSTEM_SUSPEND (x0..x2 left as the guest set them) */
    VM_SYSEV_WAKEUP,       /* a vCPU in HV_MP_SUSPENDED has a pending interrupt */
    VM_SYSEV_CRASH,
    VM_SYSEV_OTHER,
};

struct vm_exit {
    enum vm_exit_kind kind;
    union {
        struct {
            uint64_t addr;
            uint8_t data[8];   /* write: the value; read: the handler fills it in */
            unsigned int len;  /* 1, 2, 4 or 8 */
            bool is_write;
        } mmio;
        struct {
            uint32_t function; /* W0: the SMCCC function ID */
        } hypercall;
        struct {
            enum vm_system_event type;
            bool psci_off2;    /* SHUTDOWN came from SYSTEM_OFF2 */
            bool psci_reset2;  /* RESET came from SYSTEM_RESET2 */
            uint32_t raw_type;
        } system;
        struct {
            uint64_t ipa;
        } nisv;
        struct {
            uint64_t code;     /* hardware / internal error reason */
            unsigned int raw_reason;
        } fail;
    };
};

enum hv_reg {
    HV_REG_X0 = 0, /* X0..X30 = 0..30 */
    HV_REG_PC = 32,
    HV_REG_CNTVCT = 33, /* the guest's virtual counter; writing it moves the VM's offset */
    HV_REG_PSCI_VERSION = 34, /* the in-kernel PSCI's version (firmware pseudo-register) */
    HV_REG_CNTFRQ = 35, /* the counter's frequency in Hz (read-only) */
};
#define HV_REG_X(n) ((enum hv_reg)(n))

enum hv_mp_state {
    HV_MP_RUNNABLE,
    HV_MP_STOPPED,    /* powered off (KVM's PSCI CPU_OFF, or not yet started) */
    HV_MP_SUSPENDED,  /* waits in the hypervisor until an interrupt is pending (WAKEUP exit) */
    HV_MP_OTHER,
};

enum hv_stat {
    HV_STAT_HVC,      /* hypercalls the vCPU made (kernel PSCI mode observation) */
    HV_STAT_BLOCKING, /* the vCPU is blocked in the hypervisor (WFI, in-kernel standby) */
};

/* Snapshot state in the backend's own terms: a register by the backend's id and its size in
 * bytes; an interrupt controller blob by an id the backend chose. Opaque to the machine. */
struct hv_reg_desc {
    uint64_t id;
    uint32_t size;
};
struct hv_blob {
    uint64_t id;
    uint32_t size;
    const void *data;
};
typedef int (*hv_blob_put_fn)(void *ctx, uint64_t id, const void *data, uint32_t size);

struct hv_ops {
    /* Run vCPU i until an exit: 0 with *exit filled, -EINTR when kicked (or a signal), or
     * -errno. A handled MMIO read's exit->mmio.data is delivered to the guest by the next
     * vcpu_run on the same exit struct. */
    int (*vcpu_run)(void *hv, unsigned int i, struct vm_exit *exit);
    /* Make vCPU i's current or next vcpu_run return -EINTR soon (any thread). thread_live:
     * the vCPU's thread exists and may be signalled. */
    void (*vcpu_kick)(void *hv, unsigned int i);
    /* Forget a kick that was consumed (call after vcpu_run returned -EINTR). */
    void (*vcpu_clear_kick)(void *hv, unsigned int i);
    int (*get_reg)(void *hv, unsigned int i, enum hv_reg reg, uint64_t *value);
    int (*set_reg)(void *hv, unsigned int i, enum hv_reg reg, uint64_t value);
    int (*get_mp_state)(void *hv, unsigned int i, enum hv_mp_state *state);
    int (*set_mp_state)(void *hv, unsigned int i, enum hv_mp_state state);
    /* Architectural reset of vCPU i (powered off or runnable). */
    int (*vcpu_reset)(void *hv, unsigned int i, bool power_off);
    /* Reset, then start at entry in EL1h with DAIF masked and X0 = x0. */
    int (*vcpu_start_at)(void *hv, unsigned int i, uint64_t entry, uint64_t x0);
    /* The vCPU takes an external data abort when it next runs. */
    int (*inject_dabt)(void *hv, unsigned int i);
    /* Drive interrupt controller SPI `spi` (any thread). */
    int (*irq_line)(void *hv, unsigned int spi, bool level);
    /* Optional (NULL: not offered): deliver 4-byte guest writes of `data` to `addr` as
     * fn(opaque) on an I/O thread without a vCPU exit (KVM ioeventfd). 0, or -errno when the
     * host cannot (the MMIO exit path then delivers them). */
    int (*notify_add)(void *hv, uint64_t addr, uint32_t data, void (*fn)(void *opaque),
                      void *opaque);
    /* A statistics counter of vCPU i, read without disturbing it; -ENOENT when unavailable. */
    int (*stat_read)(void *hv, unsigned int i, enum hv_stat stat, uint64_t *value);

    /* ---- snapshots (optional: NULL when the backend cannot save or restore) ---- */
    /* Every register of vCPU i the hypervisor lists: *regs (malloc'd, the caller frees) gets
     * *n entries. */
    int (*reg_list)(void *hv, unsigned int i, struct hv_reg_desc **regs, unsigned int *n);
    int (*reg_get_raw)(void *hv, unsigned int i, uint64_t id, void *buf, uint32_t size);
    int (*reg_set_raw)(void *hv, unsigned int i, uint64_t id, const void *buf, uint32_t size);
    /* The backend id of a neutral register (0 when it has none). */
    uint64_t (*reg_id)(void *hv, enum hv_reg reg);
    /* Whether a saved value is what the hypervisor stamps into a register the guest never
     * wrote (KVM: zero, or 0x1de7ec7edbadc0de for a register whose architectural reset value
     * is UNKNOWN): such a register may be left out on a host that does not have it. Optional
     * (NULL: only zero counts). */
    bool (*reg_untouched)(void *hv, uint64_t id, const void *value, uint32_t size);
    /* Whether two values of register id differ only in fields that describe nothing a
     * guest without EL2 can use (pscivm never gives its vCPUs EL2), so a host that refuses
     * one of them but holds the other gives the guest the same machine. KVM: the
     * nested-virtualisation field of ID_AA64MMFR2_EL1 (NV), which 6.12 shows to every guest
     * of a host with FEAT_NV2 and 7.2 hides. Optional (NULL: only equal values are). */
    bool (*reg_same_for_guest)(void *hv, uint64_t id, const void *a, const void *b,
                               uint32_t size);
    /* A register id as a person reads it (e.g. "S3_0_C10_C2_2", "X3", "FW 0x0000"); optional. */
    void (*reg_name)(void *hv, uint64_t id, char *buf, size_t len);
    /* Finish what the last exit left pending inside the hypervisor (an MMIO read whose value
     * is in exit->mmio.data) without running guest code, so that the registers are complete. */
    int (*vcpu_complete)(void *hv, unsigned int i, struct vm_exit *exit);
    /* Optional: return once every doorbell (notify_add) signalled so far has been handled, so
     * that with the vCPUs paused no device request is in flight. */
    int (*io_quiesce)(void *hv);
    /* The interrupt controller's state as blobs, in the order restore wants them; put() may
     * fail (its error is returned). err names what failed. */
    int (*irqchip_save)(void *hv, hv_blob_put_fn put, void *ctx, char *err, size_t errlen);
    /* Restore it into a fresh, initialised interrupt controller (before any vCPU ran): every
     * blob id must be one irqchip_save can produce for this machine, else -EINVAL. */
    int (*irqchip_restore)(void *hv, const struct hv_blob *blobs, unsigned int n, char *err,
                           size_t errlen);
};

struct hv {
    const struct hv_ops *ops;
    void *opaque;
    unsigned int nr_vcpus;
    const uint64_t *mpidrs;   /* nr_vcpus MPIDR affinity values, as the hypervisor assigned */
};

#endif
