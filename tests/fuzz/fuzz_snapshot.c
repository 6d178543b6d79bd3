/* fuzz_snapshot.c — libFuzzer target for the snapshot file reader (src/snapshot/:
 * snapshot_check_bytes parses and validates a whole snapshot from memory: the file header, every
 * section's header, length and CRC, HEAD, CONF's JSON, VCPU/VGIC records, CNTR, the PSCI image,
 * DEVC names, the RAM index and every RAM chunk, zstd included). Each input is checked twice: as
 * it is, and with every section's CRC recomputed so that mutations reach the decoders behind
 * the checksums. A refusal must come with a message; nothing may crash, leak or overread. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "snapshot/format.h"

#define FILE_HEADER 16u   /* magic[8], u32 format version, u32 reserved */
#define SECTION_HEADER 16u /* tag[4], u32 version, u64 length */

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Walk the sections as far as their lengths stay inside the buffer; fix each one's CRC. */
static void fix_crcs(uint8_t *buf, size_t len)
{
    size_t off = FILE_HEADER;
    while (off + SECTION_HEADER + 4 <= len) {
        uint64_t plen = get64(buf + off + 8);
        if (plen > len - off - SECTION_HEADER - 4)
            break;
        uLong crc = crc32(0L, Z_NULL, 0);
        crc = crc32(crc, buf + off + SECTION_HEADER, (uInt)plen);
        crc = crc32(crc, buf + off, SECTION_HEADER);
        put32(buf + off + SECTION_HEADER + plen, (uint32_t)crc);
        off += SECTION_HEADER + (size_t)plen + 4;
    }
}

static void check_one(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan catches any overread */
    if (!copy)
        return;
    memcpy(copy, data, len);
    char err[256] = "";
    int rc = snapshot_check_bytes(copy, len, err, sizeof(err));
    if (rc != 0 && err[0] == '\0') {
        fprintf(stderr, "fuzz_snapshot: refused (%d) without a message\n", rc);
        abort();
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (8u << 20))
        return 0;
    check_one(data, size);
    uint8_t *fixed = malloc(size ? size : 1);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    fix_crcs(fixed, size);
    check_one(fixed, size);
    free(fixed);
    return 0;
}
