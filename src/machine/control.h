/* control.h — what the outside world (the QMP server) may ask of a running
 * machine: the control plane's seam. The machine implements these operations; src/qmp calls
 * them through `struct vm_control` without knowing the machine (unit tests pass a fake).
 *
 * Every operation runs on the main-loop thread and returns 0 or a negative errno with a
 * one-line message in `err` (the caller's buffer), worded for a user: the QMP server sends it
 * as the error's "desc". Query results are json-c objects the caller owns. */
#ifndef PSCIVM_MACHINE_CONTROL_H
#define PSCIVM_MACHINE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

/* The run state reported by query-status (QEMU's RunState names). */
enum vm_run_status {
    VM_STATUS_RUNNING,   /* "running" */
    VM_STATUS_PAUSED,    /* "paused": stopped by a control request (QMP stop) */
    VM_STATUS_SUSPENDED, /* "suspended": the guest is in PSCI SYSTEM_SUSPEND */
    VM_STATUS_SHUTDOWN,  /* "shutdown": the guest powered off; the process is ending */
};
const char *vm_run_status_name(enum vm_run_status s);

/* What snapshot-save does once the file is written. */
enum vm_snapshot_then {
    VM_SNAPSHOT_CONTINUE, /* run on (the default) */
    VM_SNAPSHOT_STOP,     /* stay paused (event STOP) */
    VM_SNAPSHOT_QUIT,     /* end pscivm (exit status 9, PSCIVM_EXIT_SAVED) */
};

/* snapshot-save's arguments besides the file. */
struct vm_snapshot_opts {
    enum vm_snapshot_then then;
    bool raw_ram;   /* "ram-encoding": "raw": guest pages as they are, page-aligned, so a restore
                       maps the file and pages load on first touch (bigger file, restore time
                       independent of the touched memory); default zstd (smaller file) */
};

struct vm_control_ops {
    enum vm_run_status (*status)(void *opaque);
    /* Pause every vCPU (returns once none runs guest code) / let them run again. Pausing a
     * paused machine and continuing a running one succeed and do nothing. */
    int (*stop)(void *opaque, char *err, size_t errlen);
    int (*cont)(void *opaque, char *err, size_t errlen);
    /* Reset the machine as a SYSTEM_RESET would (in-process restart), whatever --on-reset. */
    int (*system_reset)(void *opaque, char *err, size_t errlen);
    /* Press and release the power button (KEY_POWER). */
    int (*system_powerdown)(void *opaque, char *err, size_t errlen);
    /* Wake a guest in SYSTEM_SUSPEND; -EINVAL "the guest is not suspended" otherwise. */
    int (*system_wakeup)(void *opaque, char *err, size_t errlen);
    /* End pscivm (exit status 0 would be wrong: it is the signal/quit status). */
    int (*quit)(void *opaque, char *err, size_t errlen);
    /* query-cpus-fast: array of {"cpu-index", "qom-path", "thread-id", "target": "aarch64",
     * "props": {"core-id"...}} plus pscivm's "psci-state" */
    int (*query_cpus)(void *opaque, struct json_object **out, char *err, size_t errlen);
    /* query-psci: {"version": "1.3", "mode": "user"|"kernel", "cpus": [{"cpu-index",
     * "mpidr", "state": "on"|"off"|"on-pending"|"suspended", "plugged": bool}]} */
    int (*query_psci)(void *opaque, struct json_object **out, char *err, size_t errlen);
    /* Allow (plug) / refuse again (unplug) CPU_ON of vCPU `id`. Errors: no such vCPU, vCPU 0,
     * kernel mode, unplug of a vCPU that is on ("vCPU N is online: offline it in the guest
     * first"). Plugging a plugged vCPU is an error too ("already plugged"). */
    int (*cpu_plug)(void *opaque, unsigned int id, char *err, size_t errlen);
    int (*cpu_unplug)(void *opaque, unsigned int id, char *err, size_t errlen);
    /* snapshot-save: pause, write `file` atomically (the previous file stays intact on any
     * failure), then act on `then`. *out: {"file", "bytes", "duration-ms"}. */
    int (*snapshot_save)(void *opaque, const char *file, const struct vm_snapshot_opts *opts,
                         struct json_object **out, char *err, size_t errlen);
};

struct vm_control {
    const struct vm_control_ops *ops;
    void *opaque;
};

#endif
