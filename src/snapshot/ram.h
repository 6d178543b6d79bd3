/* ram.h — guest RAM in a snapshot: only the non-zero 4 KiB pages are saved (RAMD: their bytes in
 * chunks, raw or zstd-compressed; RAMI: the RAM size, the extents of saved pages and each
 * chunk's length, page count and CRC). Restoring fills a zeroed destination (every chunk's CRC
 * checked before its bytes are used), or, for raw snapshots, maps the file's page-aligned data
 * MAP_PRIVATE at the right guest addresses so that restore cost grows with the memory the guest
 * touches afterwards (docs/snapshot.md has the trade-offs and measurements). */
#ifndef PSCIVM_SNAPSHOT_RAM_H
#define PSCIVM_SNAPSHOT_RAM_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/format.h"

enum snapshot_ram_encoding {
    SNAPSHOT_RAM_RAW = 0,   /* page bytes as they are, page-aligned in the file (mmap-able) */
    SNAPSHOT_RAM_ZSTD = 1,  /* one zstd frame per chunk */
};

struct snapshot_ram_options {
    enum snapshot_ram_encoding encoding;
    int zstd_level;           /* 0: SNAPSHOT_RAM_DEFAULT_LEVEL */
    uint32_t pages_per_chunk; /* 0: SNAPSHOT_RAM_DEFAULT_CHUNK; at most SNAPSHOT_RAM_MAX_CHUNK */
    /* Called every 16 MiB of RAM scanned and at the end (may be NULL): progress reports. */
    void (*progress)(void *opaque, uint64_t done_bytes, uint64_t total_bytes);
    void *progress_opaque;
};
#define SNAPSHOT_RAM_DEFAULT_ENCODING SNAPSHOT_RAM_ZSTD
#define SNAPSHOT_RAM_DEFAULT_LEVEL 1
#define SNAPSHOT_RAM_DEFAULT_CHUNK 256u   /* 1 MiB of pages */
#define SNAPSHOT_RAM_MAX_CHUNK 4096u      /* 16 MiB */

struct snapshot_ram_info {
    uint64_t ram_size;
    enum snapshot_ram_encoding encoding;
    uint32_t pages_per_chunk;
    uint64_t saved_pages;
    uint32_t nr_extents;
    uint32_t nr_chunks;
    uint64_t data_bytes;      /* RAMD's length */
};

/* Write RAMD (after a PAD_ that page-aligns it, for raw) and RAMI for `size` bytes of guest RAM
 * at `ram` (size a multiple of 4 KiB). opt may be NULL (defaults); info (may be NULL) receives
 * what was written. Errors are the writer's sticky error (snapshot_writer_status). */
int snapshot_ram_save(struct snapshot_writer *w, const void *ram, uint64_t size,
                      const struct snapshot_ram_options *opt, struct snapshot_ram_info *info);

/* Read and validate RAMI (-ENOENT when the snapshot has no RAM). */
int snapshot_ram_info(struct snapshot_reader *r, struct snapshot_ram_info *info, char *err,
                      size_t errlen);

/* Copy the saved pages into dest (size bytes, which must equal the saved RAM size); pages that
 * were zero are not written: dest must be zeroed memory (a fresh anonymous mapping). Each chunk
 * is CRC-checked before it is decompressed or used; on error dest may hold part of the data. */
int snapshot_ram_fill(struct snapshot_reader *r, void *dest, uint64_t size, char *err,
                      size_t errlen);

/* Raw snapshots read from a file: where each run of saved pages lies in the file. */
struct snapshot_ram_run {
    uint64_t guest_offset;    /* from the start of guest RAM */
    uint64_t file_offset;     /* page-aligned */
    uint64_t length;          /* multiple of 4 KiB */
};
/* *runs (the caller free()s it) gets one run per extent. -EOPNOTSUPP for a zstd snapshot or a
 * memory reader. */
int snapshot_ram_plan(struct snapshot_reader *r, uint64_t size, struct snapshot_ram_run **runs,
                      size_t *nr, char *err, size_t errlen);
/* mmap(MAP_PRIVATE | MAP_FIXED) every run of the file over the page-aligned, zero-filled
 * mapping dest of `size` bytes: pages are read on first access and copied on first write. The
 * page data's CRC is NOT checked (that would read it all): call snapshot_reader_verify() on the
 * RAMD section first to trade restore time for that check. The reader's fd may be closed after
 * this; the file must not change while the guest runs. */
int snapshot_ram_map(struct snapshot_reader *r, void *dest, uint64_t size, char *err,
                     size_t errlen);

/* Validate RAMI/RAMD without a destination: every chunk's CRC, every zstd chunk decodes to its
 * page count (for snapshot_check_bytes). 0 also when the snapshot has no RAM. */
int snapshot_ram_check(struct snapshot_reader *r, char *err, size_t errlen);

#endif
