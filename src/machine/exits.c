/* exits.c — what a vCPU exit means: MMIO goes to the bus (unmapped accesses read as zero and
 * are logged once per address), forwarded hypercalls to the PSCI bridge (user mode), system
 * events to the power policy, accesses the hypervisor cannot decode become external aborts,
 * and a failed entry stops the machine. A pure function of the exit and the machine, so unit
 * tests drive it with synthetic exits through a fake backend. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "machine/machine.h"

#define MAX_LOGGED_MMIO 16

static void log_unmapped(struct machine *m, struct vcpu_ctl *v, uint64_t addr, bool write,
                         unsigned int len)
{
    pthread_mutex_lock(&m->lock);
    bool seen = false;
    for (unsigned int i = 0; i < m->nr_logged_mmio && i < MAX_LOGGED_MMIO && !seen; i++)
        seen = m->logged_mmio[i] == addr;
    if (!seen && m->nr_logged_mmio <= MAX_LOGGED_MMIO) {
        if (m->nr_logged_mmio < MAX_LOGGED_MMIO) {
            m->logged_mmio[m->nr_logged_mmio] = addr;
            fprintf(stderr, "pscivm: vCPU %u: %u-byte %s of unmapped MMIO 0x%" PRIx64
                    " (%s)\n", v->index, len, write ? "write" : "read", addr,
                    write ? "ignored" : "reads as zero");
        } else {
            fprintf(stderr, "pscivm: further unmapped MMIO accesses are not logged\n");
        }
        m->nr_logged_mmio++;
    }
    pthread_mutex_unlock(&m->lock);
}

static void handle_mmio(struct machine *m, struct vcpu_ctl *v)
{
    struct vm_exit *e = &v->exit;
    unsigned int len = e->mmio.len <= 8 ? e->mmio.len : 8;
    uint64_t value = 0;
    int err;
    if (e->mmio.is_write) {
        memcpy(&value, e->mmio.data, len);
        err = bus_write(&m->bus, e->mmio.addr, e->mmio.len, value);
    } else {
        err = bus_read(&m->bus, e->mmio.addr, e->mmio.len, &value);
        memset(e->mmio.data, 0, sizeof(e->mmio.data));
        if (!err)
            memcpy(e->mmio.data, &value, len);
    }
    if (err == -ENOENT) {
        log_unmapped(m, v, e->mmio.addr, e->mmio.is_write, e->mmio.len);
    } else if (err) {
        const char *name = bus_region_name(&m->bus, e->mmio.addr);
        unsigned int n = __atomic_fetch_add(&m->nr_nisv_logged, 1, __ATOMIC_RELAXED);
        if (n < MAX_LOGGED_MMIO)
            fprintf(stderr, "pscivm: vCPU %u: invalid %u-byte %s at 0x%" PRIx64 " (%s): %s\n",
                    v->index, e->mmio.len, e->mmio.is_write ? "write" : "read", e->mmio.addr,
                    name ? name : "?", strerror(-err));
    }
}

int exits_dispatch(struct machine *m, struct vcpu_ctl *v)
{
    struct vm_exit *e = &v->exit;
    switch (e->kind) {
    case VM_EXIT_MMIO:
        handle_mmio(m, v);
        return 0;
    case VM_EXIT_HYPERCALL:
        if (m->mode == PSCI_MODE_USER)
            return power_handle_psci_user(m, v);
        fprintf(stderr, "pscivm: vCPU %u: forwarded hypercall 0x%08x in kernel PSCI mode\n",
                v->index, e->hypercall.function);
        return -EPROTO;
    case VM_EXIT_SYSTEM_EVENT:
        return power_handle_system_event(m, v);
    case VM_EXIT_NISV: {
        /* A data abort the hypervisor cannot emulate (no instruction syndrome, e.g. a
         * load/store pair to MMIO): the guest gets an external abort, as on hardware without
         * a device there. */
        unsigned int n = __atomic_fetch_add(&m->nr_nisv_logged, 1, __ATOMIC_RELAXED);
        if (n < MAX_LOGGED_MMIO)
            fprintf(stderr, "pscivm: vCPU %u: MMIO access at 0x%" PRIx64 " that KVM cannot "
                    "decode (no syndrome); injecting an external data abort\n", v->index,
                    e->nisv.ipa);
        int err = m->hv.ops->inject_dabt(m->hv.opaque, v->index);
        if (err)
            fprintf(stderr, "pscivm: vCPU %u: injecting an external data abort: %s\n",
                    v->index, strerror(-err));
        return err;
    }
    case VM_EXIT_FAIL:
        fprintf(stderr, "pscivm: vCPU %u: the hypervisor cannot run it (exit %u, reason "
                "0x%" PRIx64 ")\n", v->index, e->fail.raw_reason, e->fail.code);
        return -EIO;
    case VM_EXIT_UNKNOWN:
        break;
    }
    fprintf(stderr, "pscivm: vCPU %u: unexpected exit (reason %u)\n", v->index,
            e->fail.raw_reason);
    return -EPROTO;
}
