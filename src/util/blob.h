/* blob.h — little-endian serialisation of device state for snapshots: a growable writer and a
 * bounds-checked reader. Both keep a sticky error, so a save or restore function can issue a
 * run of puts/gets and check once at the end:
 *
 *   blob_put_u32(w, VERSION); blob_put_u64(w, x);  ... return blob_writer_error(w);
 *   blob_get_u32(r, &version); blob_get_u64(r, &x); if (blob_reader_error(r)) -> truncated
 *
 * The reader never reads past its end: an overrun returns -EINVAL, stores zero in the output
 * and makes every later get fail too. Nothing here prints or allocates on the reader side. */
#ifndef PSCIVM_BLOB_H
#define PSCIVM_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blob_writer {
    uint8_t *data;
    size_t len;
    size_t cap;
    int error;      /* 0, or -ENOMEM once an allocation failed (later puts do nothing) */
};

void blob_writer_init(struct blob_writer *w);
/* Free the buffer (if not taken) and empty the writer. */
void blob_writer_release(struct blob_writer *w);
void blob_put_u8(struct blob_writer *w, uint8_t v);
void blob_put_u16(struct blob_writer *w, uint16_t v);
void blob_put_u32(struct blob_writer *w, uint32_t v);
void blob_put_u64(struct blob_writer *w, uint64_t v);
void blob_put_bool(struct blob_writer *w, bool v);   /* one byte, 0 or 1 */
void blob_put_bytes(struct blob_writer *w, const void *p, size_t n);
/* 0, or the sticky -ENOMEM. */
int blob_writer_error(const struct blob_writer *w);
/* Hand the bytes to the caller (who free()s *data; NULL when empty) and empty the writer.
 * 0, or the sticky -ENOMEM (then nothing is handed over and the writer is emptied). */
int blob_writer_take(struct blob_writer *w, uint8_t **data, size_t *len);

struct blob_reader {
    const uint8_t *data;
    size_t len;
    size_t pos;     /* next byte to read */
    bool error;     /* an overrun or a bad value happened: every later get fails */
};

void blob_reader_init(struct blob_reader *r, const void *data, size_t len);
/* Each: 0, or -EINVAL (overrun, or an earlier error) with *v set to zero. */
int blob_get_u8(struct blob_reader *r, uint8_t *v);
int blob_get_u16(struct blob_reader *r, uint16_t *v);
int blob_get_u32(struct blob_reader *r, uint32_t *v);
int blob_get_u64(struct blob_reader *r, uint64_t *v);
/* A byte that must be 0 or 1; any other value is an error like an overrun. */
int blob_get_bool(struct blob_reader *r, bool *v);
/* n bytes into dst (zero-filled on error). */
int blob_get_bytes(struct blob_reader *r, void *dst, size_t n);
/* A reader over the next n bytes (for a length-framed section); r moves past them. */
int blob_get_sub(struct blob_reader *r, size_t n, struct blob_reader *sub);
size_t blob_reader_remaining(const struct blob_reader *r);
/* 0, or -EINVAL when any get failed. */
int blob_reader_error(const struct blob_reader *r);
/* 0 when every get succeeded and all bytes were consumed; -EINVAL otherwise. */
int blob_reader_finish(const struct blob_reader *r);

#endif
