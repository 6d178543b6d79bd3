/* parse.h — number parsing for guest bootargs (calls=N ...), header-only and free of anything
 * AArch64 so that the host unit tests (tests/unit/test_guest_parse.c) compile the very same
 * code the payloads run. */
#ifndef GUEST_PARSE_H
#define GUEST_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* s[0..len) as a decimal or 0x-prefixed hex number: digits only (no sign, no white space), and
 * false rather than a wrapped value when it exceeds 64 bits. */
static inline bool rt_parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    unsigned base = 10;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16, s += 2, len -= 2;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        if (d >= base)
            return false;
        if (v > (UINT64_MAX - d) / base)
            return false; /* v * base + d would wrap */
        v = v * base + d;
    }
    *out = v;
    return true;
}

#endif
