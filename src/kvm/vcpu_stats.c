/* vcpu_stats.c — KVM binary statistics of one vCPU (Documentation/virt/kvm/api.rst,
 * KVM_GET_STATS_FD): header, then descriptors of (sizeof(desc) + name_size) bytes each, then
 * the data block; a descriptor's offset is relative to the data block. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm/compat.h"
#include "kvm/vcpu_stats.h"

int vcpu_stat_open(struct vcpu_stat *st, int vcpu_fd, const char *name)
{
    st->fd = -1;
    st->offset = 0;
    int fd = ioctl(vcpu_fd, KVM_GET_STATS_FD, NULL);
    if (fd < 0)
        return -errno;
    struct kvm_stats_header h;
    int err = -ENOENT;
    if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.name_size == 0 ||
        h.name_size > 4096 || h.num_desc > 4096) {
        close(fd);
        return -EINVAL;
    }
    size_t dsz = sizeof(struct kvm_stats_desc) + h.name_size;
    struct kvm_stats_desc *d = malloc(dsz);
    if (!d) {
        close(fd);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < h.num_desc; i++) {
        if (pread(fd, d, dsz, (off_t)h.desc_offset + (off_t)i * (off_t)dsz) != (ssize_t)dsz) {
            err = -EIO;
            break;
        }
        d->name[h.name_size - 1] = '\0';
        if (strcmp(d->name, name) != 0)
            continue;
        if (d->size < 1) {
            err = -EINVAL;
            break;
        }
        st->fd = fd;
        st->offset = (uint64_t)h.data_offset + d->offset;
        err = 0;
        break;
    }
    free(d);
    if (err)
        close(fd);
    return err;
}

int vcpu_stat_read(const struct vcpu_stat *st, uint64_t *value)
{
    if (st->fd < 0)
        return -EBADF;
    if (pread(st->fd, value, sizeof(*value), (off_t)st->offset) != (ssize_t)sizeof(*value))
        return -EIO;
    return 0;
}

void vcpu_stat_close(struct vcpu_stat *st)
{
    if (st->fd >= 0)
        close(st->fd);
    st->fd = -1;
}
