/* config.c — the CONF section (config.h): struct snapshot_config <-> JSON text with json-c,
 * every field type- and range-checked on the way in:
 *   {"mpidrs": [0, 1, ...], "ram": {"base": N, "size": N},
 *    "psci": {"version": "1.3", "mode": "user"},
 *    "devices": [{"name": "uart", "type": "uart16550", "base": N, "size": N, "spi": 1}, ...],
 *    "disks": [{"path": "...", "size": N, "identity": "...", "read_only": false}, ...],
 *    "cmdline": "...",
 *    "boot": {"kernel": "...", "kernel_identity": "...", "initrd": "...", "initrd_identity":
 *             "..."}  or  {"payload": "...", "payload_identity": "..."} }
 *   (cmdline and boot may be absent; initrd too) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "psci/psci.h"
#include "snapshot/config.h"
#include "snapshot/sections.h"

void snapshot_config_init(struct snapshot_config *c)
{
    memset(c, 0, sizeof(*c));
}

void snapshot_config_release(struct snapshot_config *c)
{
    free(c->mpidrs);
    free(c->devices);
    for (uint32_t i = 0; c->disks && i < c->nr_disks; i++) {
        free(c->disks[i].path);
        free(c->disks[i].identity);
    }
    free(c->disks);
    free(c->cmdline);
    char **boot[] = {&c->payload, &c->payload_identity, &c->kernel, &c->kernel_identity,
                     &c->initrd, &c->initrd_identity};
    for (size_t i = 0; i < sizeof(boot) / sizeof(boot[0]); i++)
        free(*boot[i]);
    snapshot_config_init(c);
}

static bool text_ok(const char *s, bool empty_ok)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    return (empty_ok || n > 0) && n <= SNAPSHOT_CONFIG_MAX_TEXT;
}

/* The checks shared by put and parse; "" when fine. */
static const char *invalid(const struct snapshot_config *c)
{
    if (c->nr_vcpus == 0 || c->nr_vcpus > PSCI_MAX_VCPUS || !c->mpidrs)
        return "bad vCPU count";
    for (uint32_t i = 0; i < c->nr_vcpus; i++) {
        if (c->mpidrs[i] & ~PSCI_MPIDR_AFF_MASK)
            return "MPIDR with bits outside the affinity fields";
        for (uint32_t j = 0; j < i; j++)
            if (c->mpidrs[i] == c->mpidrs[j])
                return "duplicate MPIDR";
    }
    if (c->ram_size == 0 || c->ram_size % SNAPSHOT_PAGE_SIZE || c->ram_base % SNAPSHOT_PAGE_SIZE ||
        c->ram_base + c->ram_size < c->ram_base)
        return "bad RAM base or size";
    if (!psci_version_is_supported(c->psci_version))
        return "unsupported PSCI version";
    if (strcmp(c->psci_mode, "user") != 0 && strcmp(c->psci_mode, "kernel") != 0)
        return "PSCI mode is neither user nor kernel";
    if (c->nr_devices > SNAPSHOT_CONFIG_MAX_DEVICES || (c->nr_devices && !c->devices))
        return "too many devices";
    for (uint32_t i = 0; i < c->nr_devices; i++) {
        const struct snapshot_config_device *d = &c->devices[i];
        if (!snapshot_name_valid(d->name, strnlen(d->name, sizeof(d->name))) ||
            !snapshot_name_valid(d->type, strnlen(d->type, sizeof(d->type))))
            return "bad device name or type";
        if (d->size == 0 || d->base + d->size < d->base || d->spi > 987)
            return "bad device window or SPI";
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(d->name, c->devices[j].name) == 0)
                return "duplicate device name";
    }
    if (c->nr_disks > SNAPSHOT_CONFIG_MAX_DISKS || (c->nr_disks && !c->disks))
        return "too many disks";
    for (uint32_t i = 0; i < c->nr_disks; i++)
        if (!text_ok(c->disks[i].path, false) || !text_ok(c->disks[i].identity, true))
            return "bad disk path or identity";
    if (c->cmdline && !text_ok(c->cmdline, true))
        return "command line too long";
    if (c->payload && c->kernel)
        return "boot: both a payload and a kernel";
    if (c->initrd && !c->kernel)
        return "boot: an initrd without a kernel";
    const char *files[][2] = {{c->payload, c->payload_identity}, {c->kernel, c->kernel_identity},
                              {c->initrd, c->initrd_identity}};
    for (size_t i = 0; i < 3; i++)
        if (files[i][0] && (!text_ok(files[i][0], false) || !text_ok(files[i][1], true)))
            return "boot: bad file path or identity";
    return "";
}

static json_object *u64_json(uint64_t v)
{
    return v > INT64_MAX ? json_object_new_uint64(v) : json_object_new_int64((int64_t)v);
}

int snapshot_config_put(struct snapshot_writer *w, const struct snapshot_config *c)
{
    const char *why = invalid(c);
    if (*why)
        return snapshot_writer_fail(w, -EINVAL, "section 'CONF': %s", why);
    json_object *o = json_object_new_object(), *a = json_object_new_array();
    for (uint32_t i = 0; i < c->nr_vcpus; i++)
        json_object_array_add(a, u64_json(c->mpidrs[i]));
    json_object_object_add(o, "mpidrs", a);
    json_object *ram = json_object_new_object();
    json_object_object_add(ram, "base", u64_json(c->ram_base));
    json_object_object_add(ram, "size", u64_json(c->ram_size));
    json_object_object_add(o, "ram", ram);
    json_object *psci = json_object_new_object();
    json_object_object_add(psci, "version",
                           json_object_new_string(psci_version_name(c->psci_version)));
    json_object_object_add(psci, "mode", json_object_new_string(c->psci_mode));
    json_object_object_add(o, "psci", psci);
    a = json_object_new_array();
    for (uint32_t i = 0; i < c->nr_devices; i++) {
        const struct snapshot_config_device *d = &c->devices[i];
        json_object *e = json_object_new_object();
        json_object_object_add(e, "name", json_object_new_string(d->name));
        json_object_object_add(e, "type", json_object_new_string(d->type));
        json_object_object_add(e, "base", u64_json(d->base));
        json_object_object_add(e, "size", u64_json(d->size));
        json_object_object_add(e, "spi", json_object_new_int64(d->spi));
        json_object_array_add(a, e);
    }
    json_object_object_add(o, "devices", a);
    a = json_object_new_array();
    for (uint32_t i = 0; i < c->nr_disks; i++) {
        const struct snapshot_config_disk *d = &c->disks[i];
        json_object *e = json_object_new_object();
        json_object_object_add(e, "path", json_object_new_string(d->path));
        json_object_object_add(e, "size", u64_json(d->size));
        json_object_object_add(e, "identity", json_object_new_string(d->identity));
        json_object_object_add(e, "read_only", json_object_new_boolean(d->read_only));
        json_object_array_add(a, e);
    }
    json_object_object_add(o, "disks", a);
    if (c->cmdline)
        json_object_object_add(o, "cmdline", json_object_new_string(c->cmdline));
    if (c->payload || c->kernel) {
        json_object *b = json_object_new_object();
        const char *keys[][2] = {{"payload", "payload_identity"}, {"kernel", "kernel_identity"},
                                 {"initrd", "initrd_identity"}};
        const char *vals[][2] = {{c->payload, c->payload_identity},
                                 {c->kernel, c->kernel_identity},
                                 {c->initrd, c->initrd_identity}};
        for (size_t i = 0; i < 3; i++) {
            if (!vals[i][0])
                continue;
            json_object_object_add(b, keys[i][0], json_object_new_string(vals[i][0]));
            json_object_object_add(b, keys[i][1], json_object_new_string(vals[i][1]));
        }
        json_object_object_add(o, "boot", b);
    }
    size_t len;
    const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    int rc = text ? snapshot_writer_section(w, SNAPSHOT_TAG_CONFIG, SNAPSHOT_CONFIG_VERSION, text,
                                            len)
                  : snapshot_writer_fail(w, -ENOMEM, "section 'CONF': out of memory");
    json_object_put(o);
    return rc;
}

/* ---- parsing ---- */

static json_object *member(json_object *o, const char *key, json_type type)
{
    json_object *v = NULL;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, type))
        return NULL;
    return v;
}

static bool get_u64(json_object *o, const char *key, uint64_t *out)
{
    json_object *v = member(o, key, json_type_int);
    if (!v || json_object_get_int64(v) < 0)
        return false;
    *out = json_object_get_uint64(v);
    return true;
}

static bool get_name(json_object *o, const char *key, char out[SNAPSHOT_MAX_NAME + 1])
{
    json_object *v = member(o, key, json_type_string);
    if (!v || (size_t)json_object_get_string_len(v) > SNAPSHOT_MAX_NAME ||
        strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
        return false;
    strcpy(out, json_object_get_string(v));
    return true;
}

static bool get_text(json_object *o, const char *key, char **out)
{
    json_object *v = member(o, key, json_type_string);
    if (!v || (size_t)json_object_get_string_len(v) > SNAPSHOT_CONFIG_MAX_TEXT ||
        strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
        return false;
    *out = strdup(json_object_get_string(v));
    return *out != NULL;
}

static const char *parse_obj(json_object *o, struct snapshot_config *c)
{
    json_object *a = member(o, "mpidrs", json_type_array);
    if (!a || json_object_array_length(a) == 0 || json_object_array_length(a) > PSCI_MAX_VCPUS)
        return "missing or bad \"mpidrs\"";
    c->nr_vcpus = (uint32_t)json_object_array_length(a);
    if (!(c->mpidrs = calloc(c->nr_vcpus, sizeof(*c->mpidrs))))
        return "out of memory";
    for (uint32_t i = 0; i < c->nr_vcpus; i++) {
        json_object *v = json_object_array_get_idx(a, i);
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
            return "bad MPIDR";
        c->mpidrs[i] = json_object_get_uint64(v);
    }
    json_object *ram = member(o, "ram", json_type_object);
    if (!ram || !get_u64(ram, "base", &c->ram_base) || !get_u64(ram, "size", &c->ram_size))
        return "missing or bad \"ram\"";
    json_object *psci = member(o, "psci", json_type_object);
    json_object *ver = psci ? member(psci, "version", json_type_string) : NULL;
    json_object *mode = psci ? member(psci, "mode", json_type_string) : NULL;
    if (!ver || !mode || psci_version_parse(json_object_get_string(ver), &c->psci_version) ||
        json_object_get_string_len(mode) >= (int)sizeof(c->psci_mode) ||
        strlen(json_object_get_string(mode)) != (size_t)json_object_get_string_len(mode))
        return "missing or bad \"psci\"";
    strcpy(c->psci_mode, json_object_get_string(mode));
    a = member(o, "devices", json_type_array);
    if (!a || json_object_array_length(a) > SNAPSHOT_CONFIG_MAX_DEVICES)
        return "missing or bad \"devices\"";
    c->nr_devices = (uint32_t)json_object_array_length(a);
    if (!(c->devices = calloc(c->nr_devices + 1, sizeof(*c->devices))))
        return "out of memory";
    for (uint32_t i = 0; i < c->nr_devices; i++) {
        json_object *e = json_object_array_get_idx(a, i);
        struct snapshot_config_device *d = &c->devices[i];
        uint64_t spi;
        if (!get_name(e, "name", d->name) || !get_name(e, "type", d->type) ||
            !get_u64(e, "base", &d->base) || !get_u64(e, "size", &d->size) ||
            !get_u64(e, "spi", &spi) || spi > UINT32_MAX)
            return "bad device";
        d->spi = (uint32_t)spi;
    }
    a = member(o, "disks", json_type_array);
    if (!a || json_object_array_length(a) > SNAPSHOT_CONFIG_MAX_DISKS)
        return "missing or bad \"disks\"";
    uint32_t nr = (uint32_t)json_object_array_length(a);
    if (!(c->disks = calloc(nr + 1, sizeof(*c->disks))))
        return "out of memory";
    for (uint32_t i = 0; i < nr; i++) {
        json_object *e = json_object_array_get_idx(a, i);
        struct snapshot_config_disk *d = &c->disks[i];
        json_object *ro = member(e, "read_only", json_type_boolean);
        c->nr_disks = i + 1; /* so that release frees the strings */
        if (!get_text(e, "path", &d->path) || !get_u64(e, "size", &d->size) ||
            !get_text(e, "identity", &d->identity) || !ro)
            return "bad disk";
        d->read_only = json_object_get_boolean(ro);
    }
    json_object *cmd = NULL;
    if (json_object_object_get_ex(o, "cmdline", &cmd) && !get_text(o, "cmdline", &c->cmdline))
        return "bad \"cmdline\"";
    json_object *boot = NULL;
    if (json_object_object_get_ex(o, "boot", &boot)) {
        if (!json_object_is_type(boot, json_type_object))
            return "bad \"boot\"";
        const char *keys[][2] = {{"payload", "payload_identity"}, {"kernel", "kernel_identity"},
                                 {"initrd", "initrd_identity"}};
        char **vals[][2] = {{&c->payload, &c->payload_identity},
                            {&c->kernel, &c->kernel_identity},
                            {&c->initrd, &c->initrd_identity}};
        for (size_t i = 0; i < 3; i++) {
            json_object *x = NULL;
            if (!json_object_object_get_ex(boot, keys[i][0], &x))
                continue;
            if (!get_text(boot, keys[i][0], vals[i][0]) || !get_text(boot, keys[i][1], vals[i][1]))
                return "bad \"boot\" file";
        }
    }
    return invalid(c);
}

int snapshot_config_parse(const uint8_t *p, size_t len, struct snapshot_config *c, char *err,
                          size_t errlen)
{
    snapshot_config_init(c);
    if (len == 0 || len > SNAPSHOT_DEFAULT_MAX_LOAD || memchr(p, '\0', len))
        return snapshot_error(err, errlen, -EINVAL, "section 'CONF': not JSON text");
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return snapshot_error(err, errlen, -ENOMEM, "section 'CONF': out of memory");
    json_object *o = json_tokener_parse_ex(tok, (const char *)p, (int)len);
    bool whole = o && json_tokener_get_error(tok) == json_tokener_success &&
                 json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    const char *why = !whole ? "not one JSON value"
                      : !json_object_is_type(o, json_type_object) ? "not a JSON object"
                                                                  : parse_obj(o, c);
    json_object_put(o);
    if (*why)
        return snapshot_error(err, errlen, -EINVAL, "section 'CONF': %s", why);
    return 0;
}

int snapshot_config_load(struct snapshot_reader *r, struct snapshot_config *c, char *err,
                         size_t errlen)
{
    snapshot_config_init(c);
    const struct snapshot_section *s = snapshot_reader_find(r, SNAPSHOT_TAG_CONFIG, 0);
    if (!s)
        return snapshot_error(err, errlen, -ENOENT, "snapshot: no CONF section");
    const uint8_t *p;
    size_t len;
    int rc = snapshot_reader_load(r, s, &p, &len, err, errlen);
    return rc ? rc : snapshot_config_parse(p, len, c, err, errlen);
}
