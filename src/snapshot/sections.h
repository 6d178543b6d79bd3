/* sections.h — the payloads of the snapshot's small sections (docs/snapshot.md): encoders that
 * stream into a struct snapshot_writer and decoders that validate a whole payload (bounds,
 * ranges, duplicates) before the caller uses any of it. Register ids, vGIC blobs and device
 * blobs stay opaque; helpers for the PSCI core and struct device do the save/restore glue. */
#ifndef PSCIVM_SNAPSHOT_SECTIONS_H
#define PSCIVM_SNAPSHOT_SECTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/format.h"

struct device;
struct psci_machine;

/* Section versions this code writes and reads. */
#define SNAPSHOT_HEADER_VERSION 1u
#define SNAPSHOT_CONFIG_VERSION 1u
#define SNAPSHOT_VCPU_VERSION 1u
#define SNAPSHOT_VGIC_VERSION 1u
#define SNAPSHOT_COUNTER_VERSION 1u
#define SNAPSHOT_PSCI_VERSION 1u
#define SNAPSHOT_DEVICE_VERSION 1u
#define SNAPSHOT_SUSPEND_VERSION 1u
#define SNAPSHOT_RAM_VERSION 1u     /* RAMI and RAMD */
#define SNAPSHOT_PAD_VERSION 1u
#define SNAPSHOT_END_VERSION 1u

#define SNAPSHOT_MAX_REG_SIZE 2048u /* bytes of one register value */

/* ---- HEAD: u32 psci_version | u64 created_ns | str host_release | str psci_mode |
 *      str pscivm_version  (str = u16 length + printable ASCII, 1..64 bytes) ---- */
int snapshot_header_put(struct snapshot_writer *w, const struct snapshot_header *h);
int snapshot_header_parse(const uint8_t *p, size_t len, struct snapshot_header *h, char *err,
                          size_t errlen);

/* ---- CNTR: u64 cntvct | u64 offset | u64 host_monotonic_ns | u64 host_realtime_ns |
 *      u32 frequency_hz ---- */
struct snapshot_counter {
    uint64_t cntvct;            /* the guest's virtual counter at save */
    uint64_t offset;            /* CNTVOFF / KVM's counter offset at save */
    uint64_t host_monotonic_ns; /* CLOCK_MONOTONIC at save (same-boot restores) */
    uint64_t host_realtime_ns;  /* CLOCK_REALTIME at save (to account for downtime) */
    uint32_t frequency_hz;      /* CNTFRQ */
};
int snapshot_counter_put(struct snapshot_writer *w, const struct snapshot_counter *c);
int snapshot_counter_parse(const uint8_t *p, size_t len, struct snapshot_counter *c, char *err,
                           size_t errlen);

/* ---- records: (u64 id | u32 size | bytes[size])*, used by VCPU registers and VGIC blobs ---- */
struct snapshot_record {
    uint64_t id;
    uint32_t size;
    const uint8_t *data;
};
struct snapshot_records {
    const uint8_t *p;
    size_t len, pos;
    unsigned int count;         /* records in the list (set by the parse functions) */
};
/* 1 and the next record, or 0 at the end (lists are validated when parsed). */
int snapshot_records_next(struct snapshot_records *it, struct snapshot_record *rec);

/* ---- VCPU (one per vCPU): u32 index | u32 mp_state | records (KVM register id, size,
 *      value) ---- */
int snapshot_vcpu_begin(struct snapshot_writer *w, uint32_t index, uint32_t mp_state);
int snapshot_vcpu_put_reg(struct snapshot_writer *w, uint64_t id, const void *value,
                          uint32_t size);   /* then snapshot_writer_end() */
struct snapshot_vcpu {
    uint32_t index;
    uint32_t mp_state;
    struct snapshot_records regs;
};
/* Sizes 1..SNAPSHOT_MAX_REG_SIZE, no duplicate id, nothing trailing. */
int snapshot_vcpu_parse(const uint8_t *p, size_t len, struct snapshot_vcpu *v, char *err,
                        size_t errlen);

/* ---- VGIC: records (blob id chosen by the backend, size, bytes) ---- */
int snapshot_vgic_begin(struct snapshot_writer *w);
int snapshot_vgic_put(struct snapshot_writer *w, uint64_t id, const void *data, uint32_t size);
int snapshot_vgic_parse(const uint8_t *p, size_t len, struct snapshot_records *blobs, char *err,
                        size_t errlen);

/* ---- PSCI: the PSCISTAT image of psci_machine_save() ---- */
int snapshot_psci_save(struct snapshot_writer *w, const struct psci_machine *m, char *err,
                       size_t errlen);
/* Build *m from the PSCI section (psci_machine_load's checks; m untouched on failure). */
int snapshot_psci_load(struct snapshot_reader *r, struct psci_machine *m, char *err,
                       size_t errlen);

/* ---- DEVC (one per device): str name | device_save() bytes ---- */
int snapshot_device_put(struct snapshot_writer *w, const char *name, const void *state,
                        size_t len);
/* device_save() into a DEVC section named dev->name. */
int snapshot_device_save(struct snapshot_writer *w, const struct device *dev, char *err,
                         size_t errlen);
int snapshot_device_parse(const uint8_t *p, size_t len, char name[SNAPSHOT_MAX_NAME + 1],
                          const uint8_t **state, size_t *state_len, char *err, size_t errlen);
/* device_restore() from the DEVC section named dev->name (-ENOENT when there is none). */
int snapshot_device_restore(struct snapshot_reader *r, const struct device *dev, char *err,
                            size_t errlen);

/* ---- SUSP (only when a vCPU was suspended): u32 count | count x (u32 vcpu | u32 kind |
 *      u64 entry | u64 context). A restore wakes each of them the way `kind` says. ---- */
enum snapshot_suspend_kind {
    SNAPSHOT_SUSPEND_STANDBY = 1,   /* CPU_SUSPEND standby: the call already returned SUCCESS */
    SNAPSHOT_SUSPEND_POWERDOWN = 2, /* CPU_SUSPEND power-down: resume at entry with context */
    SNAPSHOT_SUSPEND_SYSTEM = 3,    /* SYSTEM_SUSPEND: resume at entry with context */
};
struct snapshot_suspended {
    uint32_t vcpu;
    uint32_t kind;                  /* enum snapshot_suspend_kind */
    uint64_t entry, context;        /* zero for STANDBY */
};
#define SNAPSHOT_MAX_SUSPENDED 512u
int snapshot_suspend_put(struct snapshot_writer *w, const struct snapshot_suspended *s,
                         unsigned int n);
/* Parse into out[max]: count 1..max, kinds known, vCPUs < nr_vcpus (when non-zero) and
 * distinct, a SYSTEM entry alone (SYSTEM_SUSPEND needs every other vCPU off). */
int snapshot_suspend_parse(const uint8_t *p, size_t len, uint32_t nr_vcpus,
                           struct snapshot_suspended *out, unsigned int max, unsigned int *n,
                           char *err, size_t errlen);

/* Names: 1..64 of [A-Za-z0-9._-]. */
bool snapshot_name_valid(const char *name, size_t len);

#endif
