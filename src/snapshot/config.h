/* config.h — the CONF section: the machine's configuration as JSON text (vCPUs and their
 * MPIDRs, RAM, PSCI, devices, disks, kernel command line, boot files), so a restore can rebuild the same
 * machine and refuse a snapshot that does not fit it. Parsing validates every field. */
#ifndef PSCIVM_SNAPSHOT_CONFIG_H
#define PSCIVM_SNAPSHOT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/format.h"

#define SNAPSHOT_CONFIG_MAX_DEVICES 64u
#define SNAPSHOT_CONFIG_MAX_DISKS 64u
#define SNAPSHOT_CONFIG_MAX_TEXT 4096u  /* paths, identities, the command line */

struct snapshot_config_device {
    char name[SNAPSHOT_MAX_NAME + 1];   /* device.name: the key of its DEVC section */
    char type[SNAPSHOT_MAX_NAME + 1];   /* device_ops.type */
    uint64_t base, size;
    uint32_t spi;
};

struct snapshot_config_disk {
    char *path;
    uint64_t size;
    char *identity;  /* what ties the snapshot to this image (e.g. "dev:ino:mtime"); may be "" */
    bool read_only;
};

struct snapshot_config {
    uint32_t nr_vcpus;
    uint64_t *mpidrs;
    uint64_t ram_base, ram_size;
    uint32_t psci_version;
    char psci_mode[8];                  /* "user" or "kernel" */
    uint32_t nr_devices;
    struct snapshot_config_device *devices;
    uint32_t nr_disks;
    struct snapshot_config_disk *disks;
    char *cmdline;                      /* may be NULL (none) */
    /* What the guest booted from, so that it can reboot after a restore: a --payload, or a
     * --kernel with an optional --initrd; referenced by path and identity like disks. All
     * NULL in snapshots that do not say (the restored guest then cannot reboot). */
    char *payload, *payload_identity;
    char *kernel, *kernel_identity;
    char *initrd, *initrd_identity;
};

void snapshot_config_init(struct snapshot_config *c);
/* Frees mpidrs, devices, disks (and their strings) and cmdline, then re-inits. */
void snapshot_config_release(struct snapshot_config *c);
/* Validate c and write it as a CONF section. Errors are the writer's sticky error. */
int snapshot_config_put(struct snapshot_writer *w, const struct snapshot_config *c);
/* Parse a CONF payload into c (initialised by the call; release it even on error). */
int snapshot_config_parse(const uint8_t *p, size_t len, struct snapshot_config *c, char *err,
                          size_t errlen);
/* Find, verify and parse the CONF section (-ENOENT when there is none). */
int snapshot_config_load(struct snapshot_reader *r, struct snapshot_config *c, char *err,
                         size_t errlen);

#endif
