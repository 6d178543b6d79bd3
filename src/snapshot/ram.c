/* ram.c — the guest RAM sections (RAMI index, RAMD data; see ram.h): one pass over guest RAM
 * that skips zero pages and streams the rest in chunks, and the restores (fill, mmap plan, check)
 * that validate the whole index before touching the destination. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "snapshot/ram.h"
#include "snapshot/sections.h"

#define PAGE SNAPSHOT_PAGE_SIZE
#define RAMI_HEADER 40u
#define EXTENT_SIZE 16u
#define CHUNK_SIZE 16u

struct extent {
    uint64_t first, nr;
};
struct chunk {
    uint64_t stored;
    uint32_t pages, crc;
};

/* A parsed, validated RAMI payload (points into the reader's copy). */
struct ram_index {
    struct snapshot_ram_info info;
    const uint8_t *extents, *chunks;
    const struct snapshot_section *data;
};

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static struct extent extent_at(const struct ram_index *x, uint32_t i)
{
    const uint8_t *p = x->extents + (size_t)i * EXTENT_SIZE;
    return (struct extent){rd64(p), rd64(p + 8)};
}

static struct chunk chunk_at(const struct ram_index *x, uint32_t i)
{
    const uint8_t *p = x->chunks + (size_t)i * CHUNK_SIZE;
    return (struct chunk){rd64(p), rd32(p + 8), rd32(p + 12)};
}

static bool page_is_zero(const uint8_t *p)
{
    uint64_t acc = 0;
    for (size_t i = 0; i < PAGE; i += 64) {
        uint64_t v[8];
        memcpy(v, p + i, sizeof(v));
        acc |= v[0] | v[1] | v[2] | v[3] | v[4] | v[5] | v[6] | v[7];
        if (acc)
            return false;
    }
    return true;
}

/* ---- save ---- */

struct ram_saver {
    struct snapshot_writer *w;
    const uint8_t *ram;
    struct snapshot_ram_options opt;
    struct extent *ext;
    size_t nr_ext, cap_ext;
    struct chunk *chunks;
    size_t nr_chunks, cap_chunks;
    struct chunk cur;            /* the chunk being filled */
    uint8_t *cbuf, *zbuf;        /* zstd: pages of the chunk, compressed frame */
    size_t zcap;
    ZSTD_CCtx *cctx;
    uint64_t data_bytes;
};

static int grow(struct snapshot_writer *w, void **p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *q = realloc(*p, ncap * elem);
    if (!q)
        return snapshot_writer_fail(w, -ENOMEM, "section 'RAMD': out of memory");
    *p = q;
    *cap = ncap;
    return 0;
}

static int close_chunk(struct ram_saver *s)
{
    if (s->cur.pages == 0)
        return 0;
    if (s->opt.encoding == SNAPSHOT_RAM_ZSTD) {
        size_t n = ZSTD_compressCCtx(s->cctx, s->zbuf, s->zcap, s->cbuf,
                                     (size_t)s->cur.pages * PAGE, s->opt.zstd_level);
        if (ZSTD_isError(n))
            return snapshot_writer_fail(s->w, -EIO, "section 'RAMD': zstd: %s",
                                        ZSTD_getErrorName(n));
        s->cur.stored = n;
        s->cur.crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), s->zbuf, (uInt)n);
        snapshot_writer_write(s->w, s->zbuf, n);
    }
    if (grow(s->w, (void **)&s->chunks, &s->cap_chunks, s->nr_chunks, sizeof(*s->chunks)))
        return s->w->error;
    s->chunks[s->nr_chunks++] = s->cur;
    s->data_bytes += s->cur.stored;
    s->cur = (struct chunk){0};
    return s->w->error;
}

/* Pages [first, first + n) are non-zero and go into the current chunk(s). */
static int add_run(struct ram_saver *s, uint64_t first, uint64_t n)
{
    if (s->nr_ext && s->ext[s->nr_ext - 1].first + s->ext[s->nr_ext - 1].nr == first) {
        s->ext[s->nr_ext - 1].nr += n;
    } else {
        if (grow(s->w, (void **)&s->ext, &s->cap_ext, s->nr_ext, sizeof(*s->ext)))
            return s->w->error;
        s->ext[s->nr_ext++] = (struct extent){first, n};
    }
    while (n > 0 && !s->w->error) {
        uint64_t k = s->opt.pages_per_chunk - s->cur.pages;
        if (k > n)
            k = n;
        const uint8_t *src = s->ram + first * PAGE;
        if (s->opt.encoding == SNAPSHOT_RAM_ZSTD) {
            memcpy(s->cbuf + (size_t)s->cur.pages * PAGE, src, k * PAGE);
        } else {
            if (s->cur.pages == 0)
                s->cur.crc = (uint32_t)crc32(0L, Z_NULL, 0);
            s->cur.crc = (uint32_t)crc32(s->cur.crc, src, (uInt)(k * PAGE));
            s->cur.stored += k * PAGE;
            snapshot_writer_write(s->w, src, k * PAGE);
        }
        s->cur.pages += (uint32_t)k;
        first += k;
        n -= k;
        if (s->cur.pages == s->opt.pages_per_chunk)
            close_chunk(s);
    }
    return s->w->error;
}

static void write_index(struct ram_saver *s, uint64_t size)
{
    struct snapshot_writer *w = s->w;
    uint64_t saved = 0;
    for (size_t i = 0; i < s->nr_ext; i++)
        saved += s->ext[i].nr;
    snapshot_writer_begin_sized(w, SNAPSHOT_TAG_RAM_INDEX, SNAPSHOT_RAM_VERSION,
                                RAMI_HEADER + EXTENT_SIZE * s->nr_ext +
                                    CHUNK_SIZE * s->nr_chunks);
    snapshot_writer_put_u64(w, size);
    snapshot_writer_put_u32(w, PAGE);
    snapshot_writer_put_u32(w, s->opt.encoding);
    snapshot_writer_put_u32(w, s->opt.pages_per_chunk);
    snapshot_writer_put_u32(w, (uint32_t)s->nr_ext);
    snapshot_writer_put_u32(w, (uint32_t)s->nr_chunks);
    snapshot_writer_put_u32(w, 0);
    snapshot_writer_put_u64(w, saved);
    for (size_t i = 0; i < s->nr_ext; i++) {
        snapshot_writer_put_u64(w, s->ext[i].first);
        snapshot_writer_put_u64(w, s->ext[i].nr);
    }
    for (size_t i = 0; i < s->nr_chunks; i++) {
        snapshot_writer_put_u64(w, s->chunks[i].stored);
        snapshot_writer_put_u32(w, s->chunks[i].pages);
        snapshot_writer_put_u32(w, s->chunks[i].crc);
    }
    snapshot_writer_end(w);
}

int snapshot_ram_save(struct snapshot_writer *w, const void *ram, uint64_t size,
                      const struct snapshot_ram_options *opt, struct snapshot_ram_info *info)
{
    struct ram_saver s = {.w = w, .ram = ram};
    s.opt = opt ? *opt : (struct snapshot_ram_options){.encoding = SNAPSHOT_RAM_DEFAULT_ENCODING};
    if (!s.opt.zstd_level)
        s.opt.zstd_level = SNAPSHOT_RAM_DEFAULT_LEVEL;
    if (!s.opt.pages_per_chunk)
        s.opt.pages_per_chunk = SNAPSHOT_RAM_DEFAULT_CHUNK;
    if (w->error)
        return w->error;
    if (size == 0 || size % PAGE || !ram)
        return snapshot_writer_fail(w, -EINVAL, "section 'RAMD': RAM size %llu is not a "
                                    "positive multiple of 4 KiB", (unsigned long long)size);
    if (s.opt.pages_per_chunk > SNAPSHOT_RAM_MAX_CHUNK ||
        (s.opt.encoding != SNAPSHOT_RAM_RAW && s.opt.encoding != SNAPSHOT_RAM_ZSTD))
        return snapshot_writer_fail(w, -EINVAL, "section 'RAMD': bad options");
    if (size / PAGE > UINT32_MAX * (uint64_t)s.opt.pages_per_chunk)
        return snapshot_writer_fail(w, -EINVAL, "section 'RAMD': RAM too large");
    if (s.opt.encoding == SNAPSHOT_RAM_ZSTD) {
        s.zcap = ZSTD_compressBound((size_t)s.opt.pages_per_chunk * PAGE);
        s.cbuf = malloc((size_t)s.opt.pages_per_chunk * PAGE);
        s.zbuf = malloc(s.zcap);
        s.cctx = ZSTD_createCCtx();
        if (!s.cbuf || !s.zbuf || !s.cctx)
            snapshot_writer_fail(w, -ENOMEM, "section 'RAMD': out of memory");
    } else {
        snapshot_writer_align(w, PAGE);
    }
    snapshot_writer_begin(w, SNAPSHOT_TAG_RAM_DATA, SNAPSHOT_RAM_VERSION);
    uint64_t pages = size / PAGE, run = 0, run_len = 0;
    for (uint64_t i = 0; i < pages && !w->error; i++) {
        if (s.opt.progress && i % 4096 == 0)
            s.opt.progress(s.opt.progress_opaque, i * PAGE, size);
        if (page_is_zero(s.ram + i * PAGE)) {
            if (run_len)
                add_run(&s, run, run_len);
            run_len = 0;
        } else if (run_len++ == 0) {
            run = i;
        }
    }
    if (run_len)
        add_run(&s, run, run_len);
    close_chunk(&s);
    if (s.opt.progress && !w->error)
        s.opt.progress(s.opt.progress_opaque, size, size);
    snapshot_writer_end(w);
    write_index(&s, size);
    if (info && !w->error) {
        *info = (struct snapshot_ram_info){.ram_size = size, .encoding = s.opt.encoding,
                                           .pages_per_chunk = s.opt.pages_per_chunk,
                                           .nr_extents = (uint32_t)s.nr_ext,
                                           .nr_chunks = (uint32_t)s.nr_chunks,
                                           .data_bytes = s.data_bytes};
        for (size_t i = 0; i < s.nr_ext; i++)
            info->saved_pages += s.ext[i].nr;
    }
    free(s.ext);
    free(s.chunks);
    free(s.cbuf);
    free(s.zbuf);
    ZSTD_freeCCtx(s.cctx);
    return w->error;
}

/* ---- index ---- */

#define BAD(...) snapshot_error(err, errlen, -EINVAL, "section 'RAMI': " __VA_ARGS__)

static int load_index(struct snapshot_reader *r, struct ram_index *x, char *err, size_t errlen)
{
    const struct snapshot_section *s = snapshot_reader_find(r, SNAPSHOT_TAG_RAM_INDEX, 0);
    x->data = snapshot_reader_find(r, SNAPSHOT_TAG_RAM_DATA, 0);
    if (!s || !x->data)
        return snapshot_error(err, errlen, -ENOENT, "snapshot: no guest RAM sections");
    const uint8_t *p;
    size_t len;
    int rc = snapshot_reader_load(r, s, &p, &len, err, errlen);
    if (rc)
        return rc;
    if (len < RAMI_HEADER)
        return BAD("truncated (%zu bytes)", len);
    struct snapshot_ram_info *in = &x->info;
    in->ram_size = rd64(p);
    uint32_t page = rd32(p + 8), enc = rd32(p + 12);
    in->pages_per_chunk = rd32(p + 16);
    in->nr_extents = rd32(p + 20);
    in->nr_chunks = rd32(p + 24);
    in->saved_pages = rd64(p + 32);
    in->data_bytes = x->data->length;
    if (page != PAGE)
        return BAD("page size %u (expected 4096)", page);
    if (in->ram_size == 0 || in->ram_size % PAGE)
        return BAD("RAM size %llu is not a positive multiple of 4 KiB",
                   (unsigned long long)in->ram_size);
    if (enc != SNAPSHOT_RAM_RAW && enc != SNAPSHOT_RAM_ZSTD)
        return BAD("unknown encoding %u", enc);
    in->encoding = (enum snapshot_ram_encoding)enc;
    if (in->pages_per_chunk == 0 || in->pages_per_chunk > SNAPSHOT_RAM_MAX_CHUNK)
        return BAD("bad chunk size %u pages", in->pages_per_chunk);
    if (rd32(p + 28) != 0)
        return BAD("reserved field is not 0");
    if ((len - RAMI_HEADER) / EXTENT_SIZE < in->nr_extents ||
        len - RAMI_HEADER - (uint64_t)in->nr_extents * EXTENT_SIZE !=
            (uint64_t)in->nr_chunks * CHUNK_SIZE)
        return BAD("length %zu does not match %u extents and %u chunks", len, in->nr_extents,
                   in->nr_chunks);
    x->extents = p + RAMI_HEADER;
    x->chunks = x->extents + (size_t)in->nr_extents * EXTENT_SIZE;
    uint64_t pages = in->ram_size / PAGE, end = 0, sum = 0;
    for (uint32_t i = 0; i < in->nr_extents; i++) {
        struct extent e = extent_at(x, i);
        if (e.nr == 0 || (i > 0 && e.first <= end) || e.first >= pages || e.nr > pages - e.first)
            return BAD("extent %u (pages %llu+%llu) is empty, out of order or outside %llu "
                       "pages", i, (unsigned long long)e.first, (unsigned long long)e.nr,
                       (unsigned long long)pages);
        end = e.first + e.nr;
        sum += e.nr;
    }
    if (sum != in->saved_pages)
        return BAD("extents hold %llu pages, header says %llu", (unsigned long long)sum,
                   (unsigned long long)in->saved_pages);
    uint64_t csum = 0, bytes = 0;
    size_t bound = ZSTD_compressBound((size_t)in->pages_per_chunk * PAGE);
    for (uint32_t i = 0; i < in->nr_chunks; i++) {
        struct chunk c = chunk_at(x, i);
        bool ok = c.pages >= 1 && c.pages <= in->pages_per_chunk;
        if (ok && in->encoding == SNAPSHOT_RAM_RAW)
            ok = c.stored == (uint64_t)c.pages * PAGE;
        else if (ok)
            ok = c.stored >= 1 && c.stored <= bound;
        if (!ok || c.stored > x->data->length - bytes)
            return BAD("chunk %u (%u pages, %llu bytes) is malformed or past RAMD's end", i,
                       c.pages, (unsigned long long)c.stored);
        csum += c.pages;
        bytes += c.stored;
    }
    if (csum != in->saved_pages || bytes != x->data->length)
        return BAD("chunks hold %llu pages in %llu bytes; expected %llu pages in %llu bytes",
                   (unsigned long long)csum, (unsigned long long)bytes,
                   (unsigned long long)in->saved_pages, (unsigned long long)x->data->length);
    if (in->encoding == SNAPSHOT_RAM_RAW && x->data->payload_offset % PAGE)
        return BAD("raw page data is not page-aligned in the file");
    return 0;
}

int snapshot_ram_info(struct snapshot_reader *r, struct snapshot_ram_info *info, char *err,
                      size_t errlen)
{
    struct ram_index x;
    int rc = load_index(r, &x, err, errlen);
    if (!rc)
        *info = x.info;
    return rc;
}

/* ---- restore ---- */

/* Walk the chunks; with dest NULL only decode and check them. */
static int walk(struct snapshot_reader *r, const struct ram_index *x, uint8_t *dest, char *err,
                size_t errlen)
{
    const struct snapshot_ram_info *in = &x->info;
    size_t chunk_bytes = (size_t)in->pages_per_chunk * PAGE;
    bool zstd = in->encoding == SNAPSHOT_RAM_ZSTD;
    uint8_t *pages = NULL, *stored = NULL;
    ZSTD_DCtx *dctx = NULL;
    int rc = 0;
    if (zstd || !dest)
        pages = malloc(chunk_bytes);
    if (zstd) {
        stored = malloc(ZSTD_compressBound(chunk_bytes));
        dctx = ZSTD_createDCtx();
    }
    if (((zstd || !dest) && !pages) || (zstd && (!stored || !dctx))) {
        rc = snapshot_error(err, errlen, -ENOMEM, "section 'RAMD': out of memory");
        goto out;
    }
    uint32_t ext = 0;
    uint64_t in_ext = 0, off = 0; /* pages of extent `ext` already placed; RAMD offset */
    for (uint32_t i = 0; i < in->nr_chunks && !rc; i++) {
        struct chunk c = chunk_at(x, i);
        uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
        if (zstd) {
            rc = snapshot_reader_pread(r, x->data, off, stored, (size_t)c.stored, err, errlen);
            if (rc)
                break;
            crc = (uint32_t)crc32(crc, stored, (uInt)c.stored);
            if (crc != c.crc) {
                rc = snapshot_error(err, errlen, -EINVAL, "section 'RAMD': chunk %u CRC "
                                    "mismatch: corrupt", i);
                break;
            }
            size_t n = ZSTD_decompressDCtx(dctx, pages, chunk_bytes, stored, (size_t)c.stored);
            if (ZSTD_isError(n) || n != (size_t)c.pages * PAGE) {
                rc = snapshot_error(err, errlen, -EINVAL, "section 'RAMD': chunk %u does not "
                                    "decode to %u pages%s%s", i, c.pages,
                                    ZSTD_isError(n) ? ": " : "",
                                    ZSTD_isError(n) ? ZSTD_getErrorName(n) : "");
                break;
            }
        }
        /* place the chunk's pages along the extents */
        for (uint64_t done = 0; done < c.pages && !rc;) {
            struct extent e = extent_at(x, ext);
            uint64_t k = e.nr - in_ext;
            if (k > c.pages - done)
                k = c.pages - done;
            uint8_t *to = dest ? dest + (e.first + in_ext) * PAGE : pages + done * PAGE;
            if (zstd) {
                if (dest)
                    memcpy(to, pages + done * PAGE, k * PAGE);
            } else {
                rc = snapshot_reader_pread(r, x->data, off + done * PAGE, to, k * PAGE, err,
                                           errlen);
                crc = (uint32_t)crc32(crc, to, (uInt)(k * PAGE));
            }
            done += k;
            in_ext += k;
            if (in_ext == e.nr) {
                ext++;
                in_ext = 0;
            }
        }
        if (!rc && !zstd && crc != c.crc)
            rc = snapshot_error(err, errlen, -EINVAL, "section 'RAMD': chunk %u CRC mismatch: "
                                "corrupt", i);
        off += c.stored;
    }
out:
    free(pages);
    free(stored);
    ZSTD_freeDCtx(dctx);
    return rc;
}

int snapshot_ram_fill(struct snapshot_reader *r, void *dest, uint64_t size, char *err,
                      size_t errlen)
{
    struct ram_index x;
    int rc = load_index(r, &x, err, errlen);
    if (rc)
        return rc;
    if (size != x.info.ram_size || !dest)
        return snapshot_error(err, errlen, -EINVAL, "snapshot: guest RAM is %llu bytes, the "
                              "snapshot's %llu", (unsigned long long)size,
                              (unsigned long long)x.info.ram_size);
    return walk(r, &x, dest, err, errlen);
}

int snapshot_ram_check(struct snapshot_reader *r, char *err, size_t errlen)
{
    struct ram_index x;
    int rc = load_index(r, &x, err, errlen);
    if (rc == -ENOENT)
        return 0;
    return rc ? rc : walk(r, &x, NULL, err, errlen);
}

int snapshot_ram_plan(struct snapshot_reader *r, uint64_t size, struct snapshot_ram_run **runs,
                      size_t *nr, char *err, size_t errlen)
{
    struct ram_index x;
    *runs = NULL;
    *nr = 0;
    int rc = load_index(r, &x, err, errlen);
    if (rc)
        return rc;
    if (x.info.encoding != SNAPSHOT_RAM_RAW || r->fd < 0)
        return snapshot_error(err, errlen, -EOPNOTSUPP, "snapshot: only raw RAM in a file can "
                              "be mapped");
    if (size != x.info.ram_size)
        return snapshot_error(err, errlen, -EINVAL, "snapshot: guest RAM is %llu bytes, the "
                              "snapshot's %llu", (unsigned long long)size,
                              (unsigned long long)x.info.ram_size);
    struct snapshot_ram_run *v = malloc((x.info.nr_extents ? x.info.nr_extents : 1) * sizeof(*v));
    if (!v)
        return snapshot_error(err, errlen, -ENOMEM, "snapshot: out of memory");
    uint64_t off = x.data->payload_offset;
    for (uint32_t i = 0; i < x.info.nr_extents; i++) {
        struct extent e = extent_at(&x, i);
        v[i] = (struct snapshot_ram_run){e.first * PAGE, off, e.nr * PAGE};
        off += e.nr * PAGE;
    }
    *runs = v;
    *nr = x.info.nr_extents;
    return 0;
}

int snapshot_ram_map(struct snapshot_reader *r, void *dest, uint64_t size, char *err,
                     size_t errlen)
{
    if (sysconf(_SC_PAGESIZE) != PAGE)
        return snapshot_error(err, errlen, -EOPNOTSUPP, "snapshot: mapping needs 4 KiB host "
                              "pages");
    if ((uintptr_t)dest % PAGE)
        return snapshot_error(err, errlen, -EINVAL, "snapshot: destination not page-aligned");
    struct snapshot_ram_run *runs;
    size_t nr;
    int rc = snapshot_ram_plan(r, size, &runs, &nr, err, errlen);
    for (size_t i = 0; i < nr && !rc; i++) {
        void *at = (uint8_t *)dest + runs[i].guest_offset;
        void *p = mmap(at, runs[i].length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
                       r->fd, (off_t)runs[i].file_offset);
        if (p == MAP_FAILED)
            rc = snapshot_error(err, errlen, -errno, "snapshot: mapping guest RAM: %s",
                                strerror(errno));
    }
    free(runs);
    return rc;
}
