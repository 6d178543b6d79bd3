/* format.h — the pscivm snapshot file: a file header (magic, format version) followed by tagged,
 * CRC-checked sections, written as a stream and read back section by section. No KVM here:
 * register ids, vGIC blobs and device blobs are opaque bytes to this module (docs/snapshot.md).
 *
 *   file    = "PSCIVMSN" | u32 format version | u32 reserved (0) | section* (HEAD first, END_ last)
 *   section = tag[4] | u32 version | u64 length | payload[length] | u32 crc
 *   crc     = zlib crc32 over the payload, continued over the section's 16-byte header (so a
 *             streaming writer can backpatch the length before it finishes the CRC)
 *
 * Everything is little-endian. Writing streams through one large buffer to a file descriptor;
 * reading builds an index of every section (structure, versions, bounds, duplicates) on open
 * and verifies a section's CRC before it hands its payload out. */
#ifndef PSCIVM_SNAPSHOT_FORMAT_H
#define PSCIVM_SNAPSHOT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_MAGIC "PSCIVMSN"
#define SNAPSHOT_FORMAT_VERSION 1u
#define SNAPSHOT_FILE_HEADER_SIZE 16u
#define SNAPSHOT_SECTION_HEADER_SIZE 16u
#define SNAPSHOT_SECTION_TRAILER_SIZE 4u
#define SNAPSHOT_PAGE_SIZE 4096u

/* Section tags (4 ASCII characters). A tag starting with a lower-case letter is ancillary: a
 * reader that does not know it skips it. An unknown tag starting otherwise is refused. */
#define SNAPSHOT_TAG_HEADER "HEAD" /* host, PSCI mode/version, pscivm version, time */
#define SNAPSHOT_TAG_CONFIG "CONF" /* machine configuration, JSON text */
#define SNAPSHOT_TAG_VCPU "VCPU"   /* one per vCPU: index, MP state, (reg id, size, bytes)* */
#define SNAPSHOT_TAG_VGIC "VGIC"   /* (blob id, length, bytes)* */
#define SNAPSHOT_TAG_COUNTER "CNTR"/* virtual counter and host clocks at save */
#define SNAPSHOT_TAG_PSCI "PSCI"   /* the PSCI core's PSCISTAT image (user mode) */
#define SNAPSHOT_TAG_DEVICE "DEVC" /* one per device: name, device_save() blob */
#define SNAPSHOT_TAG_SUSPEND "SUSP" /* vCPUs saved while suspended: how each resumes */
#define SNAPSHOT_TAG_RAM_INDEX "RAMI" /* guest RAM: size, encoding, extents, chunk table */
#define SNAPSHOT_TAG_RAM_DATA "RAMD"  /* guest RAM: the saved pages' chunks */
#define SNAPSHOT_TAG_PAD "PAD_"    /* zero bytes, so that the next payload is page-aligned */
#define SNAPSHOT_TAG_END "END_"    /* empty; the last section */

/* ---- writer ------------------------------------------------------------------------------ */

#define SNAPSHOT_WRITER_BUFFER (1u << 20)

struct snapshot_writer {
    int fd;
    bool seekable;      /* lengths of sections that left the buffer are patched with pwrite */
    uint8_t *buf;       /* SNAPSHOT_WRITER_BUFFER bytes; buf[0] is at file offset buf_pos */
    size_t buf_len;
    uint64_t buf_pos;
    uint64_t pos;       /* file offset of the next byte */
    /* the open section, if any */
    bool in_section;
    char tag[5];
    uint32_t version;
    uint64_t sec_start; /* file offset of its header */
    uint64_t sec_len;   /* payload bytes so far */
    uint64_t sec_expect;/* announced length, or UINT64_MAX when backpatched */
    uint32_t crc;
    bool finished;
    int error;          /* sticky: 0 or the first -errno; later calls do nothing */
    char msg[256];
};

/* Start a snapshot at the beginning of fd (its offset must be 0, or it must be a pipe/socket;
 * the writer does not close it). Writes the file header. 0, -ENOMEM, -EINVAL. */
int snapshot_writer_init(struct snapshot_writer *w, int fd, char *err, size_t errlen);
void snapshot_writer_release(struct snapshot_writer *w);
/* Open a section whose length is patched in at its end (needs a seekable fd unless the section
 * is still in the buffer), or one announced with its exact length (any fd). */
int snapshot_writer_begin(struct snapshot_writer *w, const char *tag, uint32_t version);
int snapshot_writer_begin_sized(struct snapshot_writer *w, const char *tag, uint32_t version,
                                uint64_t length);
/* Append payload bytes to the open section (large writes bypass the buffer). */
int snapshot_writer_write(struct snapshot_writer *w, const void *data, size_t len);
int snapshot_writer_put_u32(struct snapshot_writer *w, uint32_t v);
int snapshot_writer_put_u64(struct snapshot_writer *w, uint64_t v);
/* u16 length + bytes (no NUL). */
int snapshot_writer_put_str(struct snapshot_writer *w, const char *s);
int snapshot_writer_end(struct snapshot_writer *w);
/* A whole section from one buffer. */
int snapshot_writer_section(struct snapshot_writer *w, const char *tag, uint32_t version,
                            const void *payload, size_t len);
/* A PAD_ section so that the next section's payload starts at a multiple of `align` (a power
 * of two, at most 1 MiB) in the file. */
int snapshot_writer_align(struct snapshot_writer *w, uint32_t align);
/* File offset at which the next section's payload would start. */
uint64_t snapshot_writer_next_payload_offset(const struct snapshot_writer *w);
/* Write END_, flush everything. 0 or the sticky error, whose message goes to err. */
int snapshot_writer_finish(struct snapshot_writer *w, char *err, size_t errlen);
/* Record an error (the first one sticks) for callers that encode sections; returns it. */
int snapshot_writer_fail(struct snapshot_writer *w, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The sticky error (0 if none) and its message. */
int snapshot_writer_status(const struct snapshot_writer *w, char *err, size_t errlen);

/* ---- reader ------------------------------------------------------------------------------ */

struct snapshot_limits {
    uint64_t max_load;       /* largest payload snapshot_reader_load() allocates (RAMD is
                                streamed and bounded only by the file) */
    uint32_t max_sections;
};
#define SNAPSHOT_DEFAULT_MAX_LOAD (64ull << 20)
#define SNAPSHOT_DEFAULT_MAX_SECTIONS 65536u
#define SNAPSHOT_MAX_NAME 64u   /* device names, vCPU keys */

struct snapshot_section {
    char tag[5];
    uint32_t version;
    uint64_t offset;         /* of the section header */
    uint64_t payload_offset;
    uint64_t length;
    uint32_t crc;            /* as stored */
    bool verified;
    uint8_t *loaded;         /* fd readers: the payload once loaded (reader-owned) */
    char key[SNAPSHOT_MAX_NAME + 1]; /* VCPU: decimal index; DEVC: device name; else "" */
};

struct snapshot_header {
    uint32_t format_version;
    char host_release[SNAPSHOT_MAX_NAME + 1]; /* uname -r of the saving host */
    char psci_mode[SNAPSHOT_MAX_NAME + 1];    /* "user" or "kernel" */
    uint32_t psci_version;                    /* PSCI_VERSION(major, minor) */
    char pscivm_version[SNAPSHOT_MAX_NAME + 1];
    uint64_t created_ns;                      /* CLOCK_REALTIME at save */
};

struct snapshot_reader {
    int fd;                  /* -1 for a memory reader */
    bool own_fd;
    const uint8_t *mem;
    uint64_t size;           /* file size */
    struct snapshot_limits limits;
    struct snapshot_section *sections;
    unsigned int nr_sections;
    struct snapshot_header header;
};

/* Open and index a snapshot: file header, every section header (tag, version, bounds), HEAD
 * first and parsed (its CRC verified), END_ last, nothing after it, no duplicate section, RAMI
 * and RAMD together. limits may be NULL (defaults). The fd variant borrows fd (keep it open until
 * release); the path variant opens and owns one; the memory variant borrows data. 0, or -EINVAL
 * (malformed: err names the section and the reason), -EPROTO (format version), -errno (I/O). */
int snapshot_reader_open_fd(struct snapshot_reader *r, int fd,
                            const struct snapshot_limits *limits, char *err, size_t errlen);
int snapshot_reader_open_path(struct snapshot_reader *r, const char *path,
                              const struct snapshot_limits *limits, char *err, size_t errlen);
int snapshot_reader_open_mem(struct snapshot_reader *r, const void *data, size_t len,
                             const struct snapshot_limits *limits, char *err, size_t errlen);
void snapshot_reader_release(struct snapshot_reader *r);

/* The n-th (0-based) section with this tag, or NULL. */
const struct snapshot_section *snapshot_reader_find(const struct snapshot_reader *r,
                                                    const char *tag, unsigned int n);
unsigned int snapshot_reader_count(const struct snapshot_reader *r, const char *tag);
/* The section with this tag and key (VCPU "3", DEVC "rtc"), or NULL. */
const struct snapshot_section *snapshot_reader_find_key(const struct snapshot_reader *r,
                                                        const char *tag, const char *key);
/* Verify a section's CRC (streamed, nothing kept). 0 or -EINVAL/-errno with err. */
int snapshot_reader_verify(struct snapshot_reader *r, const struct snapshot_section *s,
                           char *err, size_t errlen);
int snapshot_reader_verify_all(struct snapshot_reader *r, char *err, size_t errlen);
/* The payload, CRC verified; *data stays valid until release. -EFBIG when it is larger than
 * limits.max_load. */
int snapshot_reader_load(struct snapshot_reader *r, const struct snapshot_section *s,
                         const uint8_t **data, size_t *len, char *err, size_t errlen);
/* Read payload bytes [off, off+len) without verifying (for streaming consumers that check
 * their own CRCs, i.e. RAMD). 0, -EINVAL (out of the payload) or -errno. */
int snapshot_reader_pread(struct snapshot_reader *r, const struct snapshot_section *s,
                          uint64_t off, void *buf, size_t len, char *err, size_t errlen);

/* Parse and validate a whole snapshot from memory: every section's structure and CRC, every
 * known section's contents (RAM extents and chunks in bounds, each chunk decodes to its page
 * count, the PSCI image loads, the configuration parses). For fuzz targets and `pscivm`
 * tooling. 0 or a negative errno with err set. */
int snapshot_check_bytes(const uint8_t *data, size_t len, char *err, size_t errlen);

/* Message helper: formats into err (if any) and returns `rc`. */
int snapshot_error(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
