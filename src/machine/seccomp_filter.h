/* seccomp_filter.h — pscivm's system-call allow-list (libseccomp), built once the VM is built
 * and loaded on every thread before the first guest instruction (run.c). What is on the list
 * and why: seccomp_filter.c and docs/seccomp.md. Portable: builds and is unit-tested natively. */
#ifndef PSCIVM_MACHINE_SECCOMP_FILTER_H
#define PSCIVM_MACHINE_SECCOMP_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/run_options.h"

struct seccomp_filter {
    void *ctx;                 /* scmp_filter_ctx; NULL for --seccomp off */
    enum run_seccomp mode;
    unsigned int nr_syscalls;  /* distinct system calls allowed (ioctl counted once) */
    unsigned int nr_ioctls;    /* ioctl request numbers allowed */
    bool loaded;
};

/* Build the filter for `mode` on this build's architecture, or for `arch` (a libseccomp
 * SCMP_ARCH_* token, i.e. an AUDIT_ARCH_* value; 0: native) — the unit test builds the aarch64 one anywhere. `ioctls` are the
 * hypervisor's run-time ioctl request numbers (the console's terminal ones are added here).
 * RUN_SECCOMP_OFF builds nothing. 0 or -errno with a message in err. */
int seccomp_filter_init(struct seccomp_filter *f, enum run_seccomp mode, uint32_t arch,
                        const unsigned long *ioctls, size_t nr_ioctls, char *err, size_t errlen);
/* Load it into the kernel for every thread of the process (TSYNC). Nothing for off. 0, or
 * -errno with the reason in err (no seccomp, no SECCOMP_RET_LOG for log, a thread that could
 * not be synchronised). */
int seccomp_filter_load(struct seccomp_filter *f, char *err, size_t errlen);
/* The BPF program the kernel would get, written to fd (tests). 0 or -errno. */
int seccomp_filter_export(const struct seccomp_filter *f, int fd);
void seccomp_filter_release(struct seccomp_filter *f);

/* The lab's proof that the filter bites (PSCIVM_SECCOMP_SELFTEST=1): a system call pscivm never
 * needs, socket(AF_INET, SOCK_STREAM). Under kill it does not return; otherwise the descriptor
 * is closed and 0 (it was allowed) or -errno is returned. */
int seccomp_filter_selftest(void);

#endif
