/* vmdef.h — a VM's machine definition as `pscivm run --vm DIR` keeps it in DIR/vm.json: vCPUs
 * and MPIDRs, RAM, PSCI version + mode + function set, the board's devices, disks and boot
 * files with their identities, the command line. Portable (no KVM): the machine layer fills one
 * from a built machine (src/machine/vm.c), this module parses, writes, merges with the command
 * line and compares them. Schema and rules: docs/run.md "VMs that keep their definition".
 *
 *   struct vmdef d;  vmdef_init(&d);
 *   vmdef_parse(text, len, &d, err, errlen);     // every field checked, errors name its path
 *   vmdef_to_json(&d, "pscivm x", &text);          // pretty JSON, caller frees
 *   vmdef_apply(&d, &opts, &cand, &diffs, ...);    // options over the definition
 *   vmdef_diff(&old, &new, &diffs);                // every difference, one line each
 *   vmdef_release(&d); */
#ifndef PSCIVM_VMDEF_H
#define PSCIVM_VMDEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/memmap.h"
#include "vmm/run_options.h"

struct json_object;

#define VMDEF_FORMAT 1            /* the definition's format version (not pscivm's) */
#define VMDEF_MAX_DEVICES 64
#define VMDEF_MAX_TEXT 4096       /* paths, identities, the command line */
#define VMDEF_NAME_LEN 32         /* device names and types, NUL included */

/* The PSCI functions whose presence a guest may depend on across a hibernation. */
enum vmdef_psci_fn {
    VMDEF_FN_SYSTEM_SUSPEND = 1u << 0,
    VMDEF_FN_SYSTEM_RESET2 = 1u << 1,
    VMDEF_FN_SYSTEM_OFF2 = 1u << 2,
};
#define VMDEF_FN_ALL (VMDEF_FN_SYSTEM_SUSPEND | VMDEF_FN_SYSTEM_RESET2 | VMDEF_FN_SYSTEM_OFF2)
/* What pscivm offers at `version` in either mode (user: the PSCI core's table; kernel: KVM's,
 * with KVM_CAP_ARM_SYSTEM_SUSPEND enabled from 1.0): SUSPEND >= 1.0, RESET2 >= 1.1,
 * OFF2 >= 1.3. */
uint32_t vmdef_psci_functions(uint32_t version);
/* "SYSTEM_SUSPEND, SYSTEM_RESET2" ("none" when empty) into buf. */
const char *vmdef_psci_functions_text(uint32_t fns, char *buf, size_t len);

/* A boot image or disk image: the path (absolute) and what ties the VM to its content. */
struct vmdef_file {
    char *path;                /* NULL: none */
    uint64_t size;
    char *identity;            /* "size=N,mtime=S.NS,ino=I" (as snapshots record disks) */
};

struct vmdef_disk {
    struct vmdef_file file;
    bool read_only;
    char *spec;                /* vmdef_apply: the --disk PATH[,ro] this run uses (not saved) */
};

struct vmdef_device {
    char name[VMDEF_NAME_LEN];
    char type[VMDEF_NAME_LEN];
    uint64_t base, size;
    uint32_t spi;
};

struct vmdef {
    uint32_t format;           /* VMDEF_FORMAT */
    unsigned int cpus, max_cpus;
    unsigned int nr_mpidrs;    /* max_cpus once built; 0 before */
    uint64_t mpidrs[MEMMAP_MAX_VCPUS];
    uint64_t mem_mib;
    uint64_t ram_base;
    uint32_t psci_version;
    enum psci_mode psci_mode;  /* as requested: auto, user or kernel */
    uint32_t psci_functions;   /* enum vmdef_psci_fn */
    struct vmdef_file payload, kernel, initrd; /* payload xor kernel */
    char *cmdline;             /* NULL: none */
    unsigned int nr_devices;
    struct vmdef_device devices[VMDEF_MAX_DEVICES];
    unsigned int nr_disks;
    struct vmdef_disk disks[RUN_MAX_DISKS];
};

void vmdef_init(struct vmdef *d);
void vmdef_release(struct vmdef *d);
/* A deep copy into dst (initialised by the call). 0 or -ENOMEM. */
int vmdef_copy(struct vmdef *dst, const struct vmdef *src);
/* Set a file's path and identity (copies; either may be NULL). 0 or -ENOMEM. */
int vmdef_file_set(struct vmdef_file *f, const char *path, uint64_t size, const char *identity);

/* Consistency of a definition (what parse and serialize both require): "" when fine, else the
 * JSON path and the problem ("vcpus.max: below vcpus.count"). */
const char *vmdef_invalid(const struct vmdef *d, char *buf, size_t len);

/* ---- vmdef_json.c ---- */
/* The definition as a JSON object (json-c; the caller puts it) / as pretty text (*out malloc'd,
 * newline-terminated). `writer` names the pscivm that writes it (informational). 0 or -errno. */
int vmdef_to_object(const struct vmdef *d, const char *writer, struct json_object **out);
int vmdef_to_json(const struct vmdef *d, const char *writer, char **out);
/* Parse a definition from a JSON object / text. d is initialised by the call (release it even
 * on error). Unknown members are refused (a typo must not be ignored). Errors name the member
 * by its JSON path: "vcpus.count: expected an integer from 1 to 123". 0 or -EINVAL/-ENOMEM. */
int vmdef_from_object(struct json_object *o, const char *prefix, struct vmdef *d, char *err,
                      size_t errlen);
int vmdef_parse(const char *text, size_t len, struct vmdef *d, char *err, size_t errlen);

/* ---- differences ---- */
#define VMDEF_MAX_DIFFS 64
#define VMDEF_DIFF_LEN 320
struct vmdef_diffs {
    unsigned int n;
    bool truncated;            /* more than VMDEF_MAX_DIFFS */
    char line[VMDEF_MAX_DIFFS][VMDEF_DIFF_LEN];
};
void vmdef_diffs_init(struct vmdef_diffs *l);
void vmdef_diffs_add(struct vmdef_diffs *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Every difference between the recorded definition `old` and `now`, one line each
 * ("vcpus.count: 2 recorded, 3 now"). identities: also compare the boot files' and disks'
 * identities (for a hibernated VM); without it only their paths, read-only flags and the
 * kernel's/initrd's presence. Returns the number of lines added. */
unsigned int vmdef_diff(const struct vmdef *old, const struct vmdef *now, bool identities,
                        struct vmdef_diffs *out);

/* The machine options of this run over the definition `def` (NULL: a new VM): options not
 * given take the definition's values; a given one that differs is listed in `contra` as
 * "--cpus 3 contradicts vcpus.count 2" (the caller decides: exit 2, or with --update the
 * option wins). Paths given are made absolute (realpath). `cand` receives the definition this
 * run asks for (strings owned by it; opts points into it afterwards, so it must outlive opts);
 * the parts only a built machine knows (MPIDRs, devices, identities) are copied from def.
 * 0 or -errno with err set. */
int vmdef_apply(const struct vmdef *def, struct run_options *opts, struct vmdef *cand,
                struct vmdef_diffs *contra, char *err, size_t errlen);

#endif
