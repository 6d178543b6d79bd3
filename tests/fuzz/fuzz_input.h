/* fuzz_input.h — a cursor over one libFuzzer input, for targets that turn the bytes into a
 * sequence of operations (register accesses, guest memory writes ...). Reads past the end give
 * zeros and set `done`, so a target loops `while (!fi_done(&in))` and every input is valid.
 * Static functions: each target gets its own copy. */
#ifndef PSCIVM_FUZZ_INPUT_H
#define PSCIVM_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fuzz_input {
    const uint8_t *p;
    size_t n;
    bool done;
};

static inline void fi_init(struct fuzz_input *in, const uint8_t *data, size_t size)
{
    in->p = data;
    in->n = size;
    in->done = size == 0;
}

static inline bool fi_done(const struct fuzz_input *in)
{
    return in->done;
}

/* Copy up to `len` bytes into dst (zero-filling what the input lacks). */
static inline void fi_bytes(struct fuzz_input *in, void *dst, size_t len)
{
    size_t take = len < in->n ? len : in->n;
    if (take)
        memcpy(dst, in->p, take);
    if (take < len)
        memset((uint8_t *)dst + take, 0, len - take);
    in->p += take;
    in->n -= take;
    if (in->n == 0)
        in->done = true;
}

static inline uint8_t fi_u8(struct fuzz_input *in)
{
    uint8_t v;
    fi_bytes(in, &v, 1);
    return v;
}

static inline uint16_t fi_u16(struct fuzz_input *in)
{
    uint8_t b[2];
    fi_bytes(in, b, 2);
    return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t fi_u32(struct fuzz_input *in)
{
    uint8_t b[4];
    fi_bytes(in, b, 4);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint64_t fi_u64(struct fuzz_input *in)
{
    uint64_t lo = fi_u32(in);
    return lo | (uint64_t)fi_u32(in) << 32;
}

/* An MMIO access size: 1, 2, 4 or 8, from the low bits of `sel`. */
static inline unsigned int fi_access_size(uint8_t sel)
{
    return 1u << (sel & 3);
}

#endif
