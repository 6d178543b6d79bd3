/* format.c — the snapshot writer: file header and sections streamed to a file descriptor through
 * one 1 MiB buffer, each section's CRC computed as its bytes go by and its length patched in at
 * the end (see format.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "snapshot/format.h"

int snapshot_error(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Every error path of the writer goes through here. */
#define fail(...) snapshot_writer_fail(__VA_ARGS__)

int snapshot_writer_fail(struct snapshot_writer *w, int rc, const char *fmt, ...)
{
    if (w->error)
        return w->error;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
    va_end(ap);
    w->error = rc;
    return rc;
}

static bool valid_tag(const char *tag)
{
    if (!tag || strlen(tag) != 4)
        return false;
    for (int i = 0; i < 4; i++)
        if (tag[i] < 0x21 || tag[i] > 0x7e)
            return false;
    return true;
}

static const char *where(const struct snapshot_writer *w)
{
    return w->in_section ? w->tag : "file header";
}

/* write() all of it, retrying partial writes and EINTR. */
static int write_all(struct snapshot_writer *w, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(w->fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            return fail(w, -e, "writing section '%s' at offset %llu: %s", where(w),
                        (unsigned long long)(w->buf_pos), strerror(e));
        }
        if (k == 0)
            return fail(w, -EIO, "writing section '%s': write returned 0", where(w));
        p += k;
        n -= (size_t)k;
        w->buf_pos += (uint64_t)k;
    }
    return 0;
}

static int flush(struct snapshot_writer *w)
{
    if (w->error)
        return w->error;
    int rc = write_all(w, w->buf, w->buf_len);
    w->buf_len = 0;
    return rc;
}

/* Raw bytes to the file (no CRC). */
static int emit(struct snapshot_writer *w, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (w->error)
        return w->error;
    if (len >= SNAPSHOT_WRITER_BUFFER / 2) {
        if (flush(w))
            return w->error;
        w->pos += len;
        return write_all(w, p, len);
    }
    while (len > 0) {
        size_t room = SNAPSHOT_WRITER_BUFFER - w->buf_len;
        size_t n = len < room ? len : room;
        memcpy(w->buf + w->buf_len, p, n);
        w->buf_len += n;
        w->pos += n;
        p += n;
        len -= n;
        if (w->buf_len == SNAPSHOT_WRITER_BUFFER && flush(w))
            return w->error;
    }
    return 0;
}

int snapshot_writer_init(struct snapshot_writer *w, int fd, char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    off_t at = lseek(fd, 0, SEEK_CUR);
    if (at < 0 && errno != ESPIPE)
        return snapshot_error(err, errlen, -errno, "snapshot: bad file descriptor: %s",
                              strerror(errno));
    if (at > 0)
        return snapshot_error(err, errlen, -EINVAL,
                              "snapshot: the file must be written from offset 0");
    w->seekable = at == 0;
    w->buf = malloc(SNAPSHOT_WRITER_BUFFER);
    if (!w->buf)
        return snapshot_error(err, errlen, -ENOMEM, "snapshot: out of memory");
    uint8_t hdr[SNAPSHOT_FILE_HEADER_SIZE] = {0};
    memcpy(hdr, SNAPSHOT_MAGIC, 8);
    le32(hdr + 8, SNAPSHOT_FORMAT_VERSION);
    emit(w, hdr, sizeof(hdr));
    return 0;
}

void snapshot_writer_release(struct snapshot_writer *w)
{
    free(w->buf);
    w->buf = NULL;
    w->buf_len = 0;
}

static void section_header(const struct snapshot_writer *w, uint64_t len, uint8_t *hdr)
{
    memcpy(hdr, w->tag, 4);
    le32(hdr + 4, w->version);
    le64(hdr + 8, len);
}

static int begin(struct snapshot_writer *w, const char *tag, uint32_t version, uint64_t expect)
{
    if (w->error)
        return w->error;
    if (w->finished || w->in_section)
        return fail(w, -EINVAL, "snapshot: section '%s' begun %s", valid_tag(tag) ? tag : "?",
                    w->finished ? "after the end" : "inside another");
    if (!valid_tag(tag))
        return fail(w, -EINVAL, "snapshot: invalid section tag");
    memcpy(w->tag, tag, 5);
    w->version = version;
    w->in_section = true;
    w->sec_start = w->pos;
    w->sec_len = 0;
    w->sec_expect = expect;
    w->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    uint8_t hdr[SNAPSHOT_SECTION_HEADER_SIZE];
    section_header(w, expect == UINT64_MAX ? 0 : expect, hdr);
    if (SNAPSHOT_WRITER_BUFFER - w->buf_len < sizeof(hdr) && flush(w))
        return w->error; /* keep the header in one piece for the backpatch */
    return emit(w, hdr, sizeof(hdr));
}

int snapshot_writer_begin(struct snapshot_writer *w, const char *tag, uint32_t version)
{
    return begin(w, tag, version, UINT64_MAX);
}

int snapshot_writer_begin_sized(struct snapshot_writer *w, const char *tag, uint32_t version,
                                uint64_t length)
{
    if (length == UINT64_MAX)
        return fail(w, -EINVAL, "snapshot: section '%s' too long", tag);
    return begin(w, tag, version, length);
}

int snapshot_writer_write(struct snapshot_writer *w, const void *data, size_t len)
{
    if (w->error)
        return w->error;
    if (!w->in_section)
        return fail(w, -EINVAL, "snapshot: payload written outside a section");
    if (w->sec_expect != UINT64_MAX && len > w->sec_expect - w->sec_len)
        return fail(w, -EINVAL, "snapshot: section '%s' longer than announced", w->tag);
    const uint8_t *p = data;
    for (size_t done = 0; done < len;) {
        uInt n = (uInt)(len - done > (1u << 30) ? (1u << 30) : len - done);
        w->crc = (uint32_t)crc32(w->crc, p + done, n);
        done += n;
    }
    w->sec_len += len;
    return emit(w, data, len);
}

int snapshot_writer_put_u32(struct snapshot_writer *w, uint32_t v)
{
    uint8_t b[4];
    le32(b, v);
    return snapshot_writer_write(w, b, sizeof(b));
}

int snapshot_writer_put_u64(struct snapshot_writer *w, uint64_t v)
{
    uint8_t b[8];
    le64(b, v);
    return snapshot_writer_write(w, b, sizeof(b));
}

int snapshot_writer_put_str(struct snapshot_writer *w, const char *s)
{
    size_t n = strlen(s);
    if (n > UINT16_MAX)
        return fail(w, -EINVAL, "snapshot: string too long in section '%s'", where(w));
    uint8_t b[2] = {(uint8_t)n, (uint8_t)(n >> 8)};
    snapshot_writer_write(w, b, 2);
    return snapshot_writer_write(w, s, n);
}

int snapshot_writer_end(struct snapshot_writer *w)
{
    if (w->error)
        return w->error;
    if (!w->in_section)
        return fail(w, -EINVAL, "snapshot: no section to end");
    if (w->sec_expect != UINT64_MAX && w->sec_len != w->sec_expect)
        return fail(w, -EINVAL, "snapshot: section '%s' shorter than announced", w->tag);
    uint8_t hdr[SNAPSHOT_SECTION_HEADER_SIZE];
    section_header(w, w->sec_len, hdr);
    if (w->sec_expect == UINT64_MAX) { /* backpatch the length */
        if (w->sec_start >= w->buf_pos) {
            memcpy(w->buf + (w->sec_start - w->buf_pos), hdr, sizeof(hdr));
        } else if (!w->seekable) {
            return fail(w, -ESPIPE, "snapshot: section '%s' is too long for an unseekable "
                        "output (announce its length)", w->tag);
        } else if (w->sec_start + sizeof(hdr) > w->buf_pos) {
            return fail(w, -EINVAL, "snapshot: internal error: header split across a flush");
        } else {
            ssize_t k = pwrite(w->fd, hdr, sizeof(hdr), (off_t)w->sec_start);
            if (k != (ssize_t)sizeof(hdr))
                return fail(w, k < 0 ? -errno : -EIO, "writing section '%s' header: %s",
                            w->tag, k < 0 ? strerror(errno) : "short write");
        }
    }
    uint32_t crc = (uint32_t)crc32(w->crc, hdr, sizeof(hdr));
    uint8_t t[4];
    le32(t, crc);
    w->in_section = false;
    return emit(w, t, sizeof(t));
}

int snapshot_writer_section(struct snapshot_writer *w, const char *tag, uint32_t version,
                            const void *payload, size_t len)
{
    snapshot_writer_begin_sized(w, tag, version, len);
    snapshot_writer_write(w, payload, len);
    return snapshot_writer_end(w);
}

uint64_t snapshot_writer_next_payload_offset(const struct snapshot_writer *w)
{
    return w->pos + SNAPSHOT_SECTION_HEADER_SIZE;
}

int snapshot_writer_align(struct snapshot_writer *w, uint32_t align)
{
    if (align == 0 || (align & (align - 1)) || align > (1u << 20))
        return fail(w, -EINVAL, "snapshot: bad alignment %u", align);
    uint64_t overhead = 2 * SNAPSHOT_SECTION_HEADER_SIZE + SNAPSHOT_SECTION_TRAILER_SIZE;
    uint64_t pad = (align - (w->pos + overhead) % align) % align;
    static const uint8_t zeros[4096];
    snapshot_writer_begin_sized(w, SNAPSHOT_TAG_PAD, 1, pad);
    while (pad > 0) {
        size_t n = pad < sizeof(zeros) ? (size_t)pad : sizeof(zeros);
        snapshot_writer_write(w, zeros, n);
        pad -= n;
    }
    return snapshot_writer_end(w);
}

int snapshot_writer_finish(struct snapshot_writer *w, char *err, size_t errlen)
{
    if (!w->error && w->in_section)
        fail(w, -EINVAL, "snapshot: section '%s' not ended", w->tag);
    if (!w->error && !w->finished) {
        snapshot_writer_section(w, SNAPSHOT_TAG_END, 1, NULL, 0);
        flush(w);
        w->finished = true;
    }
    return snapshot_writer_status(w, err, errlen);
}

int snapshot_writer_status(const struct snapshot_writer *w, char *err, size_t errlen)
{
    if (w->error)
        snapshot_error(err, errlen, 0, "%s", w->msg);
    return w->error;
}
