/* blob.c — little-endian writer and bounds-checked reader for device state (see blob.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/blob.h"

void blob_writer_init(struct blob_writer *w)
{
    memset(w, 0, sizeof(*w));
}

void blob_writer_release(struct blob_writer *w)
{
    free(w->data);
    memset(w, 0, sizeof(*w));
}

/* Room for n more bytes; false (and the sticky error) when it cannot be had. */
static bool writer_reserve(struct blob_writer *w, size_t n)
{
    if (w->error)
        return false;
    if (n <= w->cap - w->len)
        return true;
    if (n > SIZE_MAX / 2 - w->len) {
        w->error = -ENOMEM;
        return false;
    }
    size_t cap = w->cap ? w->cap : 64;
    while (cap - w->len < n)
        cap *= 2;
    uint8_t *p = realloc(w->data, cap);
    if (!p) {
        w->error = -ENOMEM;
        return false;
    }
    w->data = p;
    w->cap = cap;
    return true;
}

static void put_le(struct blob_writer *w, uint64_t v, unsigned int n)
{
    if (!writer_reserve(w, n))
        return;
    for (unsigned int i = 0; i < n; i++)
        w->data[w->len++] = (uint8_t)(v >> (8 * i));
}

void blob_put_u8(struct blob_writer *w, uint8_t v) { put_le(w, v, 1); }
void blob_put_u16(struct blob_writer *w, uint16_t v) { put_le(w, v, 2); }
void blob_put_u32(struct blob_writer *w, uint32_t v) { put_le(w, v, 4); }
void blob_put_u64(struct blob_writer *w, uint64_t v) { put_le(w, v, 8); }
void blob_put_bool(struct blob_writer *w, bool v) { put_le(w, v ? 1 : 0, 1); }

void blob_put_bytes(struct blob_writer *w, const void *p, size_t n)
{
    if (n == 0 || !writer_reserve(w, n))
        return;
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

int blob_writer_error(const struct blob_writer *w)
{
    return w->error;
}

int blob_writer_take(struct blob_writer *w, uint8_t **data, size_t *len)
{
    int err = w->error;
    *data = NULL;
    *len = 0;
    if (!err) {
        *data = w->data;
        *len = w->len;
        w->data = NULL;
    }
    blob_writer_release(w);
    return err;
}

void blob_reader_init(struct blob_reader *r, const void *data, size_t len)
{
    static const uint8_t empty[1];
    r->data = data ? data : empty; /* never NULL: pointer arithmetic stays defined */
    r->len = data ? len : 0;
    r->pos = 0;
    r->error = false;
}

/* The next n bytes, or NULL (and the sticky error) when fewer remain. */
static const uint8_t *reader_take(struct blob_reader *r, size_t n)
{
    if (r->error || n > r->len - r->pos) {
        r->error = true;
        return NULL;
    }
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

static int get_le(struct blob_reader *r, uint64_t *v, unsigned int n)
{
    const uint8_t *p = reader_take(r, n);
    *v = 0;
    if (!p)
        return -EINVAL;
    for (unsigned int i = 0; i < n; i++)
        *v |= (uint64_t)p[i] << (8 * i);
    return 0;
}

int blob_get_u8(struct blob_reader *r, uint8_t *v)
{
    uint64_t x;
    int err = get_le(r, &x, 1);
    *v = (uint8_t)x;
    return err;
}

int blob_get_u16(struct blob_reader *r, uint16_t *v)
{
    uint64_t x;
    int err = get_le(r, &x, 2);
    *v = (uint16_t)x;
    return err;
}

int blob_get_u32(struct blob_reader *r, uint32_t *v)
{
    uint64_t x;
    int err = get_le(r, &x, 4);
    *v = (uint32_t)x;
    return err;
}

int blob_get_u64(struct blob_reader *r, uint64_t *v)
{
    return get_le(r, v, 8);
}

int blob_get_bool(struct blob_reader *r, bool *v)
{
    uint64_t x;
    int err = get_le(r, &x, 1);
    *v = false;
    if (err)
        return err;
    if (x > 1) {
        r->error = true;
        return -EINVAL;
    }
    *v = x == 1;
    return 0;
}

int blob_get_bytes(struct blob_reader *r, void *dst, size_t n)
{
    const uint8_t *p = reader_take(r, n);
    if (!p) {
        if (n)
            memset(dst, 0, n);
        return -EINVAL;
    }
    if (n)
        memcpy(dst, p, n);
    return 0;
}

int blob_get_sub(struct blob_reader *r, size_t n, struct blob_reader *sub)
{
    const uint8_t *p = reader_take(r, n);
    blob_reader_init(sub, p, p ? n : 0);
    if (!p) {
        sub->error = true;
        return -EINVAL;
    }
    return 0;
}

size_t blob_reader_remaining(const struct blob_reader *r)
{
    return r->len - r->pos;
}

int blob_reader_error(const struct blob_reader *r)
{
    return r->error ? -EINVAL : 0;
}

int blob_reader_finish(const struct blob_reader *r)
{
    return r->error || r->pos != r->len ? -EINVAL : 0;
}
