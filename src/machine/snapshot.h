/* snapshot.h — saving and restoring a whole machine (snapshot.c, snapshot_restore.c) on top of
 * the portable file format (src/snapshot, docs/snapshot.md). */
#ifndef PSCIVM_MACHINE_SNAPSHOT_H
#define PSCIVM_MACHINE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine/control.h"
#include "vmm/run_options.h"

struct machine;
struct json_object;
struct snapshot_reader;
struct snapshot_config;

struct machine_snapshot_info {
    uint64_t bytes;        /* the file's size */
    uint64_t duration_ms;  /* from the start of the write to the commit */
};

/* Whether the backend offers the snapshot operations of hv.h. */
bool machine_snapshot_supported(const struct machine *m);
/* Write the machine to `path` atomically. No vCPU may run guest code (the caller holds the
 * pause, or none has started). 0 or -errno with err set; path is untouched on failure. */
int machine_snapshot_write(struct machine *m, const char *path,
                           struct machine_snapshot_info *info, char *err, size_t errlen);
/* The same with guest RAM raw (page-aligned, mapped by a restore) instead of zstd. */
int machine_snapshot_write_raw(struct machine *m, const char *path, bool raw_ram,
                               struct machine_snapshot_info *info, char *err, size_t errlen);
/* The snapshot-save control operation: pause (if running), write, then continue / stay paused /
 * quit (PSCIVM_EXIT_SAVED). On failure the machine goes on as it was. Emits `snapshot_save`. */
int machine_ctl_snapshot_save(struct machine *m, const char *path,
                              const struct vm_snapshot_opts *opts, struct json_object **out,
                              char *err, size_t errlen);

/* --on-suspend save=PATH / save-after=: the guest is (still) in SYSTEM_SUSPEND: save it to
 * opts.suspend_file and stop with PSCIVM_EXIT_SUSPENDED_TO_DISK. Does nothing when the guest
 * woke meanwhile; on a failed save the guest stays suspended (stderr and the snapshot_save
 * event say why) and -errno is returned. Main thread only. */
int machine_suspend_save(struct machine *m);

/* A disk's identity as CONF records it ("size=N,mtime=S.NS,ino=I"): fstat(fd) when fd >= 0,
 * else stat(path). *size gets its size. 0 or -errno with err set. */
int machine_disk_identity(int fd, const char *path, char *out, size_t outlen, uint64_t *size,
                          char *err, size_t errlen);
/* Whether the guest can reboot after the restore: the boot files CONF names exist unchanged
 * (0); otherwise -errno and err says why the guest cannot reboot. */
int machine_snapshot_check_boot(const struct snapshot_config *c, char *err, size_t errlen);
/* Refuse a snapshot whose disks are missing or changed since it was saved. */
int machine_snapshot_check_disks(const struct snapshot_config *c, char *err, size_t errlen);

/* The options of a machine built for the snapshot's CONF: vCPUs, RAM, PSCI mode and version,
 * disks and command line from c (which must outlive *out); the host-side options (--qmp,
 * --events, --console, --timeout, --on-reset, --on-suspend) from side. Release with
 * machine_snapshot_run_options_release. 0 or -errno with err set. */
int machine_snapshot_run_options(const struct snapshot_config *c, const struct run_options *side,
                                 struct run_options *out, char *err, size_t errlen);
void machine_snapshot_run_options_release(struct run_options *o);

/* Load the snapshot into a machine built from its CONF (same vCPUs, RAM, PSCI mode and version,
 * devices) whose vCPUs have not run: RAM, vCPU registers and MP states, interrupt controller,
 * counter, PSCI core, devices, and the vCPU threads' starting states. Registers the snapshot
 * holds that this hypervisor does not list, or that it refuses to take, are accepted only when
 * they hold the value the target has anyway (zero for an unlisted one); otherwise the restore
 * is refused naming them. 0 or -errno with err set (the machine must then be discarded). */
int machine_snapshot_restore(struct machine *m, struct snapshot_reader *r, char *err,
                             size_t errlen);

#endif
