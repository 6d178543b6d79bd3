/* guest_mem.h — guest RAM as the VMM sees it: one contiguous region mapped into pscivm.
 * Every device access to guest memory goes through guest_mem_ptr(), which refuses any range
 * that is not entirely inside guest RAM — a hostile guest cannot make pscivm touch host memory. */
#ifndef PSCIVM_GUEST_MEM_H
#define PSCIVM_GUEST_MEM_H

#include <stdint.h>
#include <stddef.h>

struct guest_mem {
    uint64_t base;  /* guest physical address of the first byte */
    uint64_t size;  /* bytes */
    uint8_t *host;  /* where pscivm mapped it */
};

/* Host pointer to [gpa, gpa + len), or NULL when any part is outside guest RAM or the range
 * wraps. len 0 is valid when gpa is inside RAM (or exactly at its end). */
static inline void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
    if (gpa < mem->base)
        return NULL;
    uint64_t off = gpa - mem->base;
    if (off > mem->size || len > mem->size - off)
        return NULL;
    return mem->host + off;
}

#endif
