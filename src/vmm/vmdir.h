/* vmdir.h — the directory of a VM run with `pscivm run --vm DIR` (docs/run.md "VMs that keep
 * their definition"):
 *   DIR/vm.json           the machine definition (vmdef.h), rewritten atomically at each start
 *   DIR/hibernation.json  present while the VM is hibernated: when, the SYSTEM_OFF2 type, and
 *                         the definition with every identity the resume depends on
 *   DIR/lock              flock()ed by the pscivm running the VM, holds its pid
 * Portable (POSIX files, flock); errors 0 / -errno with a message in the caller's buffer. */
#ifndef PSCIVM_VMDIR_H
#define PSCIVM_VMDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/vmdef.h"

#define VMDIR_DEF "vm.json"
#define VMDIR_HIBERNATION "hibernation.json"
#define VMDIR_LOCK "lock"
#define VMDIR_RECORD_FORMAT 1
/* The latest unix_time a record holds: its "time" member has a four-digit year. */
#define VMDIR_TIME_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

/* What DIR/hibernation.json says. */
struct vm_hibernation {
    int64_t time;              /* when the guest called SYSTEM_OFF2 (Unix seconds, UTC) */
    bool type_read;            /* false: kernel mode on a KVM that zeroes x1 before the exit */
    uint32_t type;             /* SYSTEM_OFF2's type (HIBERNATE_OFF = 1; 0 is its alias) */
    char host_kernel[65];      /* where it hibernated (informational) */
    enum psci_mode mode;       /* the PSCI mode that ran it (user or kernel; informational) */
    struct vmdef machine;      /* the definition, identities taken after the guest stopped */
};
void vm_hibernation_init(struct vm_hibernation *h);
void vm_hibernation_release(struct vm_hibernation *h);
/* The record as pretty JSON text (*out malloc'd) / parsed from text (every field checked,
 * errors name the JSON path; h initialised by the call, release it even on error). */
int vm_hibernation_to_json(const struct vm_hibernation *h, const char *writer, char **out);
int vm_hibernation_parse(const char *text, size_t len, struct vm_hibernation *h, char *err,
                         size_t errlen);

struct vm_dir {
    char *path;
    int lock_fd;               /* held (LOCK_EX) from vm_dir_open to vm_dir_release */
    bool has_def;              /* DIR/vm.json existed */
    struct vmdef def;
    bool hibernated;           /* DIR/hibernation.json exists */
    struct vm_hibernation hib;
    struct vmdef cand;         /* this run's definition (vmdef_apply, then the built machine) */
};

void vm_dir_init(struct vm_dir *vd);
/* Create DIR when missing, take its lock (-EBUSY naming the pid when another pscivm runs the
 * VM), read vm.json and hibernation.json when present (-EINVAL naming the file and the JSON
 * path of the bad member). Release even on error. */
int vm_dir_open(struct vm_dir *vd, const char *path, char *err, size_t errlen);
void vm_dir_release(struct vm_dir *vd);
/* Write DIR/vm.json / DIR/hibernation.json atomically (temporary file, fsync, rename, fsync of
 * DIR); remove DIR/hibernation.json (fsync of DIR). vd's copies follow. 0 or -errno. */
int vm_dir_write_def(struct vm_dir *vd, const struct vmdef *d, const char *writer, char *err,
                     size_t errlen);
int vm_dir_write_hibernation(struct vm_dir *vd, const struct vm_hibernation *h,
                             const char *writer, char *err, size_t errlen);
int vm_dir_clear_hibernation(struct vm_dir *vd, char *err, size_t errlen);

enum vm_state {
    VM_STATE_OFF,
    VM_STATE_HIBERNATED,
    VM_STATE_RUNNING,
};
const char *vm_state_name(enum vm_state s);

struct vm_status {
    enum vm_state state;
    long pid;                  /* running: the pscivm holding the lock (0: unknown) */
    bool hibernation_record;   /* DIR/hibernation.json exists (also while a resume runs) */
    struct vmdef def;
    struct vm_hibernation hib; /* when hibernation_record */
};
/* The state of the VM in DIR without taking its lock for longer than a probe: running when a
 * pscivm holds the lock, else hibernated when the record exists, else off. -ENOENT when DIR
 * has no vm.json; -EINVAL for a bad file. Release with vm_status_release. */
int vm_dir_status(const char *path, struct vm_status *st, char *err, size_t errlen);
void vm_status_release(struct vm_status *st);

#endif
