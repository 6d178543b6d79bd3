/* vmdef_json.c — struct vmdef <-> JSON (json-c), the text of DIR/vm.json (vmdef.h):
 *
 *   {"format": 1, "written_by": "pscivm 1a2b3c",
 *    "vcpus": {"count": 2, "max": 2, "mpidrs": ["0x0", "0x1"]},
 *    "memory": {"base": "0x40000000", "mib": 512},
 *    "psci": {"version": "1.3", "mode": "auto",
 *             "functions": {"SYSTEM_SUSPEND": true, "SYSTEM_RESET2": true, "SYSTEM_OFF2": true}},
 *    "boot": {"kernel": {"path": "/abs/Image", "size": N, "identity": "size=..,mtime=..,ino=.."},
 *             "initrd": {...}, "cmdline": "console=ttyS0"}        (or "payload": {...})
 *    "devices": [{"name": "uart", "type": "uart16550", "base": "0x9000000", "size": "0x1000",
 *                 "spi": 1}, ...],
 *    "disks": [{"path": "/abs/swap.img", "read_only": false, "size": N, "identity": "..."}]}
 *
 * Addresses and MPIDRs are "0x..." strings (readable, and exact in any JSON reader). Parsing
 * checks every member's type and range, refuses unknown members, and names the member in every
 * error by its JSON path ("psci.version: ..."). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "psci/psci.h"
#include "vmm/vmdef.h"

static json_object *hex(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
    return json_object_new_string(buf);
}

static json_object *u64(uint64_t v)
{
    return json_object_new_int64((int64_t)v); /* every count and size is below 2^63 */
}

static json_object *file_obj(const struct vmdef_file *f)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "path", json_object_new_string(f->path));
    json_object_object_add(o, "size", u64(f->size));
    json_object_object_add(o, "identity", json_object_new_string(f->identity ? f->identity : ""));
    return o;
}

int vmdef_to_object(const struct vmdef *d, const char *writer, json_object **out)
{
    char why[160];
    if (*vmdef_invalid(d, why, sizeof(why)))
        return -EINVAL;
    json_object *o = json_object_new_object();
    if (!o)
        return -ENOMEM;
    json_object_object_add(o, "format", json_object_new_int(VMDEF_FORMAT));
    if (writer)
        json_object_object_add(o, "written_by", json_object_new_string(writer));
    json_object *v = json_object_new_object(), *a = json_object_new_array();
    json_object_object_add(v, "count", json_object_new_int((int)d->cpus));
    json_object_object_add(v, "max", json_object_new_int((int)d->max_cpus));
    for (unsigned int i = 0; i < d->nr_mpidrs; i++)
        json_object_array_add(a, hex(d->mpidrs[i]));
    json_object_object_add(v, "mpidrs", a);
    json_object_object_add(o, "vcpus", v);
    v = json_object_new_object();
    json_object_object_add(v, "base", hex(d->ram_base));
    json_object_object_add(v, "mib", u64(d->mem_mib));
    json_object_object_add(o, "memory", v);
    v = json_object_new_object();
    json_object_object_add(v, "version", json_object_new_string(psci_version_name(d->psci_version)));
    json_object_object_add(v, "mode", json_object_new_string(psci_mode_name(d->psci_mode)));
    json_object *f = json_object_new_object();
    json_object_object_add(f, "SYSTEM_SUSPEND",
                           json_object_new_boolean(d->psci_functions & VMDEF_FN_SYSTEM_SUSPEND));
    json_object_object_add(f, "SYSTEM_RESET2",
                           json_object_new_boolean(d->psci_functions & VMDEF_FN_SYSTEM_RESET2));
    json_object_object_add(f, "SYSTEM_OFF2",
                           json_object_new_boolean(d->psci_functions & VMDEF_FN_SYSTEM_OFF2));
    json_object_object_add(v, "functions", f);
    json_object_object_add(o, "psci", v);
    v = json_object_new_object();
    if (d->payload.path)
        json_object_object_add(v, "payload", file_obj(&d->payload));
    if (d->kernel.path)
        json_object_object_add(v, "kernel", file_obj(&d->kernel));
    if (d->initrd.path)
        json_object_object_add(v, "initrd", file_obj(&d->initrd));
    if (d->cmdline)
        json_object_object_add(v, "cmdline", json_object_new_string(d->cmdline));
    json_object_object_add(o, "boot", v);
    a = json_object_new_array();
    for (unsigned int i = 0; i < d->nr_devices; i++) {
        const struct vmdef_device *e = &d->devices[i];
        v = json_object_new_object();
        json_object_object_add(v, "name", json_object_new_string(e->name));
        json_object_object_add(v, "type", json_object_new_string(e->type));
        json_object_object_add(v, "base", hex(e->base));
        json_object_object_add(v, "size", hex(e->size));
        json_object_object_add(v, "spi", json_object_new_int64(e->spi));
        json_object_array_add(a, v);
    }
    json_object_object_add(o, "devices", a);
    a = json_object_new_array();
    for (unsigned int i = 0; i < d->nr_disks; i++) {
        v = file_obj(&d->disks[i].file);
        json_object_object_add(v, "read_only", json_object_new_boolean(d->disks[i].read_only));
        json_object_array_add(a, v);
    }
    json_object_object_add(o, "disks", a);
    *out = o;
    return 0;
}

int vmdef_to_json(const struct vmdef *d, const char *writer, char **out)
{
    json_object *o;
    int rc = vmdef_to_object(d, writer, &o);
    if (rc)
        return rc;
    const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                      JSON_C_TO_STRING_SPACED |
                                                      JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t len = t ? strlen(t) : 0;
    *out = t ? malloc(len + 2) : NULL;
    if (*out) {
        memcpy(*out, t, len);
        (*out)[len] = '\n';
        (*out)[len + 1] = '\0';
    }
    json_object_put(o);
    return *out ? 0 : -ENOMEM;
}

/* ---- parsing ---- */

struct ctx {
    char *err;
    size_t errlen;
    const char *prefix;        /* "" or "machine." */
};

__attribute__((format(printf, 3, 4)))
static int bad(const struct ctx *c, const char *path, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s%s: %s", c->prefix, path, msg);
    return -EINVAL;
}

/* Refuse members other than `keys` (NULL-terminated). */
static int only(const struct ctx *c, json_object *o, const char *path, const char *const *keys)
{
    json_object_object_foreach(o, key, val) {
        (void)val;
        bool known = false;
        for (const char *const *k = keys; *k && !known; k++)
            known = !strcmp(*k, key);
        if (!known) {
            char p[160];
            snprintf(p, sizeof(p), "%s%s%.64s", path, *path ? "." : "", key);
            return bad(c, p, "unknown member");
        }
    }
    return 0;
}

/* o.key of `type`; optional members absent give *out = NULL and 0. */
static int get(const struct ctx *c, json_object *o, const char *path, const char *key,
               json_type type, bool optional, json_object **out)
{
    static const char *const names[] = {
        [json_type_null] = "null", [json_type_boolean] = "true or false",
        [json_type_double] = "a number", [json_type_int] = "an integer",
        [json_type_object] = "an object", [json_type_array] = "an array",
        [json_type_string] = "a string"};
    char p[160];
    snprintf(p, sizeof(p), "%s%s%s", path, *path ? "." : "", key);
    *out = NULL;
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return optional ? 0 : bad(c, p, "missing");
    if (!json_object_is_type(v, type))
        return bad(c, p, "expected %s", names[type]);
    *out = v;
    return 0;
}

static int get_uint(const struct ctx *c, json_object *o, const char *path, const char *key,
                    uint64_t min, uint64_t max, uint64_t *out)
{
    json_object *v;
    int rc = get(c, o, path, key, json_type_int, false, &v);
    if (rc)
        return rc;
    int64_t x = json_object_get_int64(v);
    if (x < 0 || (uint64_t)x < min || (uint64_t)x > max) {
        char p[160];
        snprintf(p, sizeof(p), "%s%s%s", path, *path ? "." : "", key);
        return bad(c, p, "expected an integer from %" PRIu64 " to %" PRIu64, min, max);
    }
    *out = (uint64_t)x;
    return 0;
}

/* A string of at most VMDEF_MAX_TEXT bytes without NUL. */
static int text_of(const struct ctx *c, json_object *v, const char *p, bool empty_ok,
                   const char **out)
{
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (len > VMDEF_MAX_TEXT || strlen(s) != len || (!empty_ok && !len))
        return bad(c, p, "expected a%s string of at most %u bytes without NUL",
                   empty_ok ? "" : " non-empty", VMDEF_MAX_TEXT);
    *out = s;
    return 0;
}

static int get_text(const struct ctx *c, json_object *o, const char *path, const char *key,
                    bool empty_ok, const char **out)
{
    json_object *v;
    int rc = get(c, o, path, key, json_type_string, false, &v);
    char p[160];
    snprintf(p, sizeof(p), "%s%s%s", path, *path ? "." : "", key);
    return rc ? rc : text_of(c, v, p, empty_ok, out);
}

/* "0x" and 1 to 16 hex digits. */
static int hex_of(const struct ctx *c, json_object *v, const char *p, uint64_t *out)
{
    const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
    size_t len = s ? strlen(s) : 0;
    bool ok = s && len >= 3 && len <= 18 && s[0] == '0' && s[1] == 'x' &&
              len == (size_t)json_object_get_string_len(v);
    for (size_t i = 2; ok && i < len; i++)
        ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
             (s[i] >= 'A' && s[i] <= 'F');
    if (!ok)
        return bad(c, p, "expected a \"0x...\" hexadecimal string");
    *out = strtoull(s + 2, NULL, 16);
    return 0;
}

static int get_hex(const struct ctx *c, json_object *o, const char *path, const char *key,
                   uint64_t *out)
{
    json_object *v;
    int rc = get(c, o, path, key, json_type_string, false, &v);
    char p[160];
    snprintf(p, sizeof(p), "%s%s%s", path, *path ? "." : "", key);
    return rc ? rc : hex_of(c, v, p, out);
}

static int parse_file(const struct ctx *c, json_object *o, const char *p, struct vmdef_file *f,
                      bool *read_only)
{
    static const char *const keys[] = {"path", "size", "identity", NULL};
    static const char *const disk_keys[] = {"path", "size", "identity", "read_only", NULL};
    const char *path, *id;
    json_object *ro;
    int rc = only(c, o, p, read_only ? disk_keys : keys);
    if (!rc)
        rc = get_text(c, o, p, "path", false, &path);
    if (!rc)
        rc = get_uint(c, o, p, "size", 0, INT64_MAX, &f->size);
    if (!rc)
        rc = get_text(c, o, p, "identity", true, &id);
    if (!rc && read_only && !(rc = get(c, o, p, "read_only", json_type_boolean, false, &ro)))
        *read_only = json_object_get_boolean(ro);
    if (!rc && (rc = vmdef_file_set(f, path, f->size, id)))
        rc = bad(c, p, "out of memory");
    return rc;
}

static int parse_vcpus(const struct ctx *c, json_object *o, struct vmdef *d)
{
    static const char *const keys[] = {"count", "max", "mpidrs", NULL};
    json_object *v, *a;
    uint64_t n, max;
    int rc = get(c, o, "", "vcpus", json_type_object, false, &v);
    if (!rc)
        rc = only(c, v, "vcpus", keys);
    if (!rc)
        rc = get_uint(c, v, "vcpus", "count", 1, MEMMAP_MAX_VCPUS, &n);
    if (!rc)
        rc = get_uint(c, v, "vcpus", "max", n, MEMMAP_MAX_VCPUS, &max);
    if (!rc)
        rc = get(c, v, "vcpus", "mpidrs", json_type_array, false, &a);
    if (rc)
        return rc;
    d->cpus = (unsigned int)n;
    d->max_cpus = (unsigned int)max;
    if (json_object_array_length(a) != max)
        return bad(c, "vcpus.mpidrs", "expected %" PRIu64 " entries (vcpus.max), found %zu", max,
                   json_object_array_length(a));
    d->nr_mpidrs = (unsigned int)max;
    for (unsigned int i = 0; i < d->nr_mpidrs; i++) {
        char p[40];
        snprintf(p, sizeof(p), "vcpus.mpidrs[%u]", i);
        if ((rc = hex_of(c, json_object_array_get_idx(a, i), p, &d->mpidrs[i])))
            return rc;
    }
    return 0;
}

static int parse_psci(const struct ctx *c, json_object *o, struct vmdef *d)
{
    static const char *const keys[] = {"version", "mode", "functions", NULL};
    static const char *const fns[] = {"SYSTEM_SUSPEND", "SYSTEM_RESET2", "SYSTEM_OFF2", NULL};
    json_object *v, *f, *b;
    const char *s;
    int rc = get(c, o, "", "psci", json_type_object, false, &v);
    if (!rc)
        rc = only(c, v, "psci", keys);
    if (!rc)
        rc = get_text(c, v, "psci", "version", false, &s);
    if (!rc && psci_version_parse(s, &d->psci_version))
        rc = bad(c, "psci.version", "\"%.16s\" is not 0.2, 1.0, 1.1, 1.2 or 1.3", s);
    if (!rc)
        rc = get_text(c, v, "psci", "mode", false, &s);
    if (!rc) {
        if (!strcmp(s, "auto"))
            d->psci_mode = PSCI_MODE_AUTO;
        else if (!strcmp(s, "user"))
            d->psci_mode = PSCI_MODE_USER;
        else if (!strcmp(s, "kernel"))
            d->psci_mode = PSCI_MODE_KERNEL;
        else
            rc = bad(c, "psci.mode", "\"%.16s\" is not auto, user or kernel", s);
    }
    if (!rc)
        rc = get(c, v, "psci", "functions", json_type_object, false, &f);
    if (!rc)
        rc = only(c, f, "psci.functions", fns);
    for (unsigned int i = 0; !rc && fns[i]; i++) {
        rc = get(c, f, "psci.functions", fns[i], json_type_boolean, false, &b);
        if (!rc && json_object_get_boolean(b))
            d->psci_functions |= 1u << i;
    }
    return rc;
}

static int parse_boot(const struct ctx *c, json_object *o, struct vmdef *d)
{
    static const char *const keys[] = {"payload", "kernel", "initrd", "cmdline", NULL};
    json_object *v, *f;
    const char *s;
    int rc = get(c, o, "", "boot", json_type_object, false, &v);
    if (!rc)
        rc = only(c, v, "boot", keys);
    struct { const char *key; struct vmdef_file *f; } files[] = {
        {"payload", &d->payload}, {"kernel", &d->kernel}, {"initrd", &d->initrd}};
    for (unsigned int i = 0; !rc && i < 3; i++) {
        char p[32];
        snprintf(p, sizeof(p), "boot.%s", files[i].key);
        rc = get(c, v, "boot", files[i].key, json_type_object, true, &f);
        if (!rc && f)
            rc = parse_file(c, f, p, files[i].f, NULL);
    }
    if (!rc)
        rc = get(c, v, "boot", "cmdline", json_type_string, true, &f);
    if (!rc && f && !(rc = text_of(c, f, "boot.cmdline", true, &s)) && !(d->cmdline = strdup(s)))
        rc = bad(c, "boot.cmdline", "out of memory");
    return rc;
}

static int parse_devices(const struct ctx *c, json_object *o, struct vmdef *d)
{
    static const char *const keys[] = {"name", "type", "base", "size", "spi", NULL};
    json_object *a;
    int rc = get(c, o, "", "devices", json_type_array, false, &a);
    if (!rc && json_object_array_length(a) > VMDEF_MAX_DEVICES)
        rc = bad(c, "devices", "more than %d devices", VMDEF_MAX_DEVICES);
    for (size_t i = 0; !rc && i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        struct vmdef_device *v = &d->devices[i];
        char p[32];
        const char *s;
        uint64_t spi;
        snprintf(p, sizeof(p), "devices[%zu]", i);
        if (!json_object_is_type(e, json_type_object))
            return bad(c, p, "expected an object");
        d->nr_devices = (unsigned int)i + 1;
        rc = only(c, e, p, keys);
        if (!rc && !(rc = get_text(c, e, p, "name", false, &s)) &&
            snprintf(v->name, sizeof(v->name), "%s", s) >= (int)sizeof(v->name))
            rc = bad(c, p, "name longer than %d bytes", VMDEF_NAME_LEN - 1);
        if (!rc && !(rc = get_text(c, e, p, "type", false, &s)) &&
            snprintf(v->type, sizeof(v->type), "%s", s) >= (int)sizeof(v->type))
            rc = bad(c, p, "type longer than %d bytes", VMDEF_NAME_LEN - 1);
        if (!rc)
            rc = get_hex(c, e, p, "base", &v->base);
        if (!rc)
            rc = get_hex(c, e, p, "size", &v->size);
        if (!rc && !(rc = get_uint(c, e, p, "spi", 0, 987, &spi)))
            v->spi = (uint32_t)spi;
    }
    return rc;
}

static int parse_disks(const struct ctx *c, json_object *o, struct vmdef *d)
{
    json_object *a;
    int rc = get(c, o, "", "disks", json_type_array, false, &a);
    if (!rc && json_object_array_length(a) > RUN_MAX_DISKS)
        rc = bad(c, "disks", "more than %d disks", RUN_MAX_DISKS);
    for (size_t i = 0; !rc && i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        char p[32];
        snprintf(p, sizeof(p), "disks[%zu]", i);
        if (!json_object_is_type(e, json_type_object))
            return bad(c, p, "expected an object");
        d->nr_disks = (unsigned int)i + 1;
        rc = parse_file(c, e, p, &d->disks[i].file, &d->disks[i].read_only);
    }
    return rc;
}

int vmdef_from_object(json_object *o, const char *prefix, struct vmdef *d, char *err,
                      size_t errlen)
{
    static const char *const keys[] = {"format", "written_by", "vcpus", "memory", "psci",
                                       "boot", "devices", "disks", NULL};
    static const char *const mem_keys[] = {"base", "mib", NULL};
    struct ctx c = {err, errlen, prefix ? prefix : ""};
    vmdef_init(d);
    if (!json_object_is_type(o, json_type_object))
        return bad(&c, *c.prefix ? "" : "(top level)", "expected a JSON object");
    uint64_t fmt;
    json_object *m;
    int rc = get_uint(&c, o, "", "format", 0, UINT32_MAX, &fmt);
    if (!rc && fmt != VMDEF_FORMAT)
        rc = bad(&c, "format", "%" PRIu64 " is not a definition format this pscivm reads (%d)",
                 fmt, VMDEF_FORMAT);
    if (!rc)
        rc = only(&c, o, "", keys);
    if (!rc)
        rc = get(&c, o, "", "written_by", json_type_string, true, &m);
    if (!rc)
        rc = parse_vcpus(&c, o, d);
    if (!rc)
        rc = get(&c, o, "", "memory", json_type_object, false, &m);
    if (!rc)
        rc = only(&c, m, "memory", mem_keys);
    if (!rc)
        rc = get_hex(&c, m, "memory", "base", &d->ram_base);
    if (!rc)
        rc = get_uint(&c, m, "memory", "mib", RUN_MIN_MEM_MIB, RUN_MAX_MEM_MIB, &d->mem_mib);
    if (!rc)
        rc = parse_psci(&c, o, d);
    if (!rc)
        rc = parse_boot(&c, o, d);
    if (!rc)
        rc = parse_devices(&c, o, d);
    if (!rc)
        rc = parse_disks(&c, o, d);
    char why[200];
    if (!rc && *vmdef_invalid(d, why, sizeof(why))) {
        snprintf(err, errlen, "%s%s", c.prefix, why);
        rc = -EINVAL;
    }
    return rc;
}

int vmdef_parse(const char *text, size_t len, struct vmdef *d, char *err, size_t errlen)
{
    vmdef_init(d);
    if (len == 0 || len > (1u << 20) || memchr(text, '\0', len)) {
        snprintf(err, errlen, "not JSON text (empty, over 1 MiB, or a NUL byte)");
        return -EINVAL;
    }
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    while (o && end < len && (text[end] == ' ' || text[end] == '\n' || text[end] == '\t' ||
                              text[end] == '\r'))
        end++;
    int rc;
    if (!o || jerr != json_tokener_success || end != len) {
        snprintf(err, errlen, "not one JSON value (%s at byte %zu)",
                 o && jerr == json_tokener_success ? "trailing text"
                                                   : json_tokener_error_desc(jerr), end);
        rc = -EINVAL;
    } else {
        rc = vmdef_from_object(o, NULL, d, err, errlen);
    }
    json_object_put(o);
    return rc;
}
