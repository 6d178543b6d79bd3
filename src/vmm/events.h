/* events.h — pscivm's machine-readable event stream: one JSON object per line (json-c), each
 * written with a single write() so lines never interleave with console output on the same fd.
 *
 * Every object has "event" (its name), "t_ns" (CLOCK_MONOTONIC, ns) and, for per-vCPU events,
 * "vcpu". Events and their extra fields (docs/events.md):
 *   vm_start       mode, psci (version string), host_kernel, cpus, mem_mib
 *   cpu_on         vcpu (caller), target, entry, context, result ("success" or the PSCI error
 *                  name)                                   [user mode]
 *   cpu_off        vcpu                                    [user mode]
 *   cpu_suspend    vcpu, power_state, kind (standby|powerdown)   [user mode]
 *   cpu_resume     vcpu, entry, context (powerdown) ...    [user mode]
 *   wakeup         vcpu                                    [both: KVM_SYSTEM_EVENT_WAKEUP]
 *   system_off, system_off2 (type), system_reset, system_reset2 (type, cookie),
 *   system_suspend (entry, context, outcome: denied|suspended|resumed)
 *   vm_exit        status, reason — always the last line
 * Thread-safe. Without a destination (events_init with NULL), every call is a no-op. */
#ifndef PSCIVM_EVENTS_H
#define PSCIVM_EVENTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct json_object;

struct events {
    int fd;          /* -1: disabled */
    bool own_fd;     /* opened by events_init (closed by events_release) */
    pthread_mutex_t lock;
    uint64_t (*clock_ns)(void); /* CLOCK_MONOTONIC by default; tests substitute */
};

/* path: NULL (disabled), "-" (stdout) or a file (created/truncated). 0 or -errno. */
int events_init(struct events *ev, const char *path);
void events_release(struct events *ev);
bool events_enabled(const struct events *ev);
bool events_on_stdout(const struct events *ev);

/* Emit one event. vcpu < 0: no "vcpu" field. `fields` (may be NULL) is a json object whose
 * members are appended; ownership passes to events_emit (it is always put). 0 or -errno. */
int events_emit(struct events *ev, const char *name, int vcpu, struct json_object *fields);

/* Addresses, context ids and cookies are emitted as "0x..." strings (JSON numbers lose
 * precision above 2^53 in many readers). */
struct json_object *events_hex(uint64_t value);

uint64_t events_monotonic_ns(void);

#endif
