/* vcpu_stats.h — read one counter of a vCPU's binary statistics (KVM_GET_STATS_FD, Linux
 * 5.14+) without touching the vCPU itself: the stats fd is read with pread from any thread,
 * even while the vCPU is inside KVM_RUN. pscivm uses "hvc_exit_stat" in kernel PSCI mode to
 * notice that a vCPU made an HVC (e.g. PSCI CPU_OFF, handled inside KVM). */
#ifndef PSCIVM_KVM_VCPU_STATS_H
#define PSCIVM_KVM_VCPU_STATS_H

#include <stdint.h>

struct vcpu_stat {
    int fd;           /* stats fd, -1 when unavailable */
    uint64_t offset;  /* file offset of the counter's value */
};

/* Find counter `name` of the vCPU behind vcpu_fd. 0, or -errno (-ENOENT: no such counter;
 * -ENOTTY/-EINVAL: the host has no binary stats). `st->fd` is -1 on failure. */
int vcpu_stat_open(struct vcpu_stat *st, int vcpu_fd, const char *name);
int vcpu_stat_read(const struct vcpu_stat *st, uint64_t *value);
void vcpu_stat_close(struct vcpu_stat *st);

#endif
