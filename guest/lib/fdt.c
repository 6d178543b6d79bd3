/* fdt.c — a minimal, bounds-checked reader for flattened device trees (DTB v16/v17): header
 * check, structure-block walk, node lookup by path or compatible, property access. Read-only;
 * enough for a payload to find its UART, CPUs, memory, GIC and bootargs. Every offset is a
 * byte offset of a BEGIN_NODE token inside the structure block. */
#include "rt.h"

#define FDT_MAGIC 0xd00dfeedu
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE 2
#define FDT_PROP 3
#define FDT_NOP 4
#define FDT_END 9

u32 fdt_be32(const void *p)
{
    const unsigned char *b = p;
    return ((u32)b[0] << 24) | ((u32)b[1] << 16) | ((u32)b[2] << 8) | b[3];
}

u64 fdt_read_cells(const void *p, int cells)
{
    const unsigned char *b = p;
    return cells == 2 ? ((u64)fdt_be32(b) << 32) | fdt_be32(b + 4) : fdt_be32(b);
}

struct fdt_view {
    const unsigned char *base, *strct, *strs;
    u32 strct_size, strs_size;
};

static int fdt_view(const void *fdt, struct fdt_view *v)
{
    const unsigned char *h = fdt;
    if (!fdt || ((u64)fdt & 3) || fdt_be32(h) != FDT_MAGIC)
        return -1;
    u32 total = fdt_be32(h + 4), off_struct = fdt_be32(h + 8), off_strs = fdt_be32(h + 12);
    u32 version = fdt_be32(h + 20), size_strs = fdt_be32(h + 32), size_struct = fdt_be32(h + 36);
    if (version < 16 || total < 40 || total > (64u << 20) || off_struct > total ||
        size_struct > total - off_struct || off_strs > total || size_strs > total - off_strs ||
        (off_struct & 3))
        return -1;
    v->base = h;
    v->strct = h + off_struct;
    v->strct_size = size_struct;
    v->strs = h + off_strs;
    v->strs_size = size_strs;
    return 0;
}

int fdt_check(const void *fdt)
{
    struct fdt_view v;
    return fdt_view(fdt, &v);
}

/* Token at *off; advances *off past the token and its payload. Returns the tag or -1. */
static int next_token(const struct fdt_view *v, u32 *off)
{
    if (*off + 4 > v->strct_size)
        return -1;
    u32 tag = fdt_be32(v->strct + *off);
    u32 o = *off + 4;
    if (tag == FDT_BEGIN_NODE) {
        while (o < v->strct_size && v->strct[o])
            o++;
        if (o >= v->strct_size)
            return -1;
        o = (o + 1 + 3) & ~3u;
    } else if (tag == FDT_PROP) {
        if (o + 8 > v->strct_size)
            return -1;
        u32 len = fdt_be32(v->strct + o);
        if (len > v->strct_size - o - 8)
            return -1;
        o = (o + 8 + len + 3) & ~3u;
    } else if (tag != FDT_END_NODE && tag != FDT_NOP && tag != FDT_END) {
        return -1;
    }
    *off = o;
    return (int)tag;
}

/* Offset just after a node's name, i.e. where its properties start. */
static int node_body(const struct fdt_view *v, int node, u32 *off)
{
    *off = (u32)node;
    return next_token(v, off) == FDT_BEGIN_NODE ? 0 : -1;
}

/* Skip the rest of a node whose body starts at *off (properties and children). */
static int skip_node_rest(const struct fdt_view *v, u32 *off)
{
    int depth = 1;
    while (depth > 0) {
        int tag = next_token(v, off);
        if (tag < 0 || tag == FDT_END)
            return -1;
        if (tag == FDT_BEGIN_NODE)
            depth++;
        else if (tag == FDT_END_NODE)
            depth--;
    }
    return 0;
}

const char *fdt_node_name(const void *fdt, int node)
{
    struct fdt_view v;
    if (fdt_view(fdt, &v) || node < 0 || (u32)node + 4 > v.strct_size)
        return "";
    return (const char *)v.strct + node + 4;
}

int fdt_first_child(const void *fdt, int node)
{
    struct fdt_view v;
    u32 off;
    if (fdt_view(fdt, &v) || node_body(&v, node, &off))
        return -1;
    for (;;) {
        u32 at = off;
        int tag = next_token(&v, &off);
        if (tag == FDT_PROP || tag == FDT_NOP)
            continue;
        return tag == FDT_BEGIN_NODE ? (int)at : -1;
    }
}

int fdt_next_sibling(const void *fdt, int node)
{
    struct fdt_view v;
    u32 off;
    if (fdt_view(fdt, &v) || node_body(&v, node, &off) || skip_node_rest(&v, &off))
        return -1;
    for (;;) {
        u32 at = off;
        int tag = next_token(&v, &off);
        if (tag == FDT_NOP)
            continue;
        return tag == FDT_BEGIN_NODE ? (int)at : -1;
    }
}

static int root_offset(const struct fdt_view *v)
{
    u32 off = 0;
    for (;;) {
        u32 at = off;
        int tag = next_token(v, &off);
        if (tag == FDT_NOP)
            continue;
        return tag == FDT_BEGIN_NODE ? (int)at : -1;
    }
}

static bool has_at(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == '@')
            return true;
    return false;
}

/* A path component matches "name@unit" exactly, or "name" when it has no unit address. */
static bool name_matches(const char *node, const char *comp, size_t len)
{
    if (strncmp(node, comp, len) != 0)
        return false;
    return node[len] == 0 || (node[len] == '@' && !has_at(comp, len));
}

int fdt_path_offset(const void *fdt, const char *path)
{
    struct fdt_view v;
    if (fdt_view(fdt, &v) || path[0] != '/')
        return -1;
    int node = root_offset(&v);
    const char *p = path;
    while (node >= 0) {
        while (*p == '/')
            p++;
        if (!*p)
            return node;
        size_t len = 0;
        while (p[len] && p[len] != '/')
            len++;
        int child = fdt_first_child(fdt, node);
        while (child >= 0 && !name_matches(fdt_node_name(fdt, child), p, len))
            child = fdt_next_sibling(fdt, child);
        node = child;
        p += len;
    }
    return -1;
}

const void *fdt_getprop(const void *fdt, int node, const char *name, int *len)
{
    struct fdt_view v;
    u32 off;
    if (fdt_view(fdt, &v) || node < 0 || node_body(&v, node, &off))
        return NULL;
    for (;;) {
        u32 at = off;
        int tag = next_token(&v, &off);
        if (tag == FDT_NOP)
            continue;
        if (tag != FDT_PROP)
            return NULL;
        u32 plen = fdt_be32(v.strct + at + 4), nameoff = fdt_be32(v.strct + at + 8);
        if (nameoff >= v.strs_size)
            return NULL;
        const char *pname = (const char *)v.strs + nameoff;
        size_t max = v.strs_size - nameoff;
        if (strlen_bounded(pname, max) < max && strcmp(pname, name) == 0) {
            if (len)
                *len = (int)plen;
            return v.strct + at + 12;
        }
    }
}

bool fdt_prop_contains(const void *fdt, int node, const char *name, const char *str)
{
    int len;
    const char *p = fdt_getprop(fdt, node, name, &len);
    if (!p)
        return false;
    for (int i = 0; i < len;) {
        int n = (int)strlen_bounded(p + i, (size_t)(len - i));
        if (i + n < len && strcmp(p + i, str) == 0)
            return true;
        i += n + 1;
    }
    return false;
}

int fdt_find_compatible(const void *fdt, const char *compat)
{
    struct fdt_view v;
    if (fdt_view(fdt, &v))
        return -1;
    u32 off = 0;
    for (;;) {
        u32 at = off;
        int tag = next_token(&v, &off);
        if (tag < 0 || tag == FDT_END)
            return -1;
        if (tag == FDT_BEGIN_NODE && fdt_prop_contains(fdt, (int)at, "compatible", compat))
            return (int)at;
    }
}

int fdt_parent(const void *fdt, int node)
{
    struct fdt_view v;
    if (fdt_view(fdt, &v))
        return -1;
    int stack[32], depth = 0;
    u32 off = 0;
    for (;;) {
        u32 at = off;
        int tag = next_token(&v, &off);
        if (tag < 0 || tag == FDT_END)
            return -1;
        if (tag == FDT_BEGIN_NODE) {
            if ((int)at == node)
                return depth > 0 ? stack[depth - 1] : -1;
            if (depth == 32)
                return -1;
            stack[depth++] = (int)at;
        } else if (tag == FDT_END_NODE && depth > 0) {
            depth--;
        }
    }
}

int fdt_cells(const void *fdt, int node, const char *name, int dflt)
{
    int len;
    const void *p = fdt_getprop(fdt, node, name, &len);
    if (!p || len != 4)
        return dflt;
    u32 c = fdt_be32(p);
    return c <= 2 ? (int)c : dflt;
}

int fdt_reg(const void *fdt, int node, int index, u64 *addr, u64 *size)
{
    int parent = fdt_parent(fdt, node);
    int ac = fdt_cells(fdt, parent, "#address-cells", 2);
    int sc = fdt_cells(fdt, parent, "#size-cells", 1);
    int len;
    const unsigned char *p = fdt_getprop(fdt, node, "reg", &len);
    int stride = 4 * (ac + sc);
    if (!p || ac < 1 || stride == 0 || len < stride * (index + 1))
        return -1;
    p += stride * index;
    *addr = fdt_read_cells(p, ac);
    if (size)
        *size = sc ? fdt_read_cells(p + 4 * ac, sc) : 0;
    return 0;
}
