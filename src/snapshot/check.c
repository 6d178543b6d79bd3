/* check.c — snapshot_check_bytes(): a whole snapshot from memory through every check the reader
 * and the section decoders have, plus the cross-checks between sections (vCPU indices and RAM
 * size against CONF, PSCI mode against HEAD). For fuzz targets and tooling. */
#include <errno.h>
#include <string.h>

#include "psci/psci.h"
#include "snapshot/config.h"
#include "snapshot/format.h"
#include "snapshot/ram.h"
#include "snapshot/sections.h"

static int check_section(struct snapshot_reader *r, const struct snapshot_section *s,
                         const struct snapshot_config *conf, char *err, size_t errlen)
{
    const char *t = s->tag;
    const uint8_t *p;
    size_t len;
    if (!strcmp(t, SNAPSHOT_TAG_RAM_DATA) || !strcmp(t, SNAPSHOT_TAG_RAM_INDEX) ||
        !strcmp(t, SNAPSHOT_TAG_HEADER) || !strcmp(t, SNAPSHOT_TAG_CONFIG) ||
        !strcmp(t, SNAPSHOT_TAG_END))
        return 0; /* checked by the caller */
    int rc = snapshot_reader_load(r, s, &p, &len, err, errlen);
    if (rc)
        return rc;
    if (!strcmp(t, SNAPSHOT_TAG_VCPU)) {
        struct snapshot_vcpu v;
        if ((rc = snapshot_vcpu_parse(p, len, &v, err, errlen)))
            return rc;
        if (conf->nr_vcpus && v.index >= conf->nr_vcpus)
            return snapshot_error(err, errlen, -EINVAL, "section 'VCPU' %u: the configuration "
                                  "has %u vCPUs", v.index, conf->nr_vcpus);
    } else if (!strcmp(t, SNAPSHOT_TAG_VGIC)) {
        struct snapshot_records recs;
        rc = snapshot_vgic_parse(p, len, &recs, err, errlen);
    } else if (!strcmp(t, SNAPSHOT_TAG_COUNTER)) {
        struct snapshot_counter c;
        rc = snapshot_counter_parse(p, len, &c, err, errlen);
    } else if (!strcmp(t, SNAPSHOT_TAG_PSCI)) {
        struct psci_machine m;
        char why[200] = "";
        if ((rc = psci_machine_load(&m, p, len, why, sizeof(why))))
            return snapshot_error(err, errlen, rc, "section 'PSCI': %s", why);
        if (conf->nr_vcpus && m.nr_vcpus != conf->nr_vcpus)
            rc = snapshot_error(err, errlen, -EINVAL, "section 'PSCI': %u vCPUs, the "
                                "configuration has %u", m.nr_vcpus, conf->nr_vcpus);
        psci_machine_release(&m);
    } else if (!strcmp(t, SNAPSHOT_TAG_DEVICE)) {
        char name[SNAPSHOT_MAX_NAME + 1];
        const uint8_t *state;
        size_t state_len;
        rc = snapshot_device_parse(p, len, name, &state, &state_len, err, errlen);
    } else if (!strcmp(t, SNAPSHOT_TAG_SUSPEND)) {
        struct snapshot_suspended susp[SNAPSHOT_MAX_SUSPENDED];
        unsigned int n;
        rc = snapshot_suspend_parse(p, len, conf->nr_vcpus, susp, SNAPSHOT_MAX_SUSPENDED, &n,
                                    err, errlen);
    } else if (!strcmp(t, SNAPSHOT_TAG_PAD)) {
        for (size_t i = 0; i < len; i++)
            if (p[i])
                return snapshot_error(err, errlen, -EINVAL, "section 'PAD_' at offset %llu: "
                                      "non-zero padding", (unsigned long long)s->offset);
    }
    return rc;
}

int snapshot_check_bytes(const uint8_t *data, size_t len, char *err, size_t errlen)
{
    struct snapshot_reader r;
    struct snapshot_limits lim = {.max_load = len, .max_sections = SNAPSHOT_DEFAULT_MAX_SECTIONS};
    int rc = snapshot_reader_open_mem(&r, data, len, &lim, err, errlen);
    if (rc)
        return rc;
    struct snapshot_config conf;
    snapshot_config_init(&conf);
    rc = snapshot_reader_verify_all(&r, err, errlen);
    if (!rc && snapshot_reader_find(&r, SNAPSHOT_TAG_CONFIG, 0)) {
        rc = snapshot_config_load(&r, &conf, err, errlen);
        if (!rc && strcmp(conf.psci_mode, r.header.psci_mode) != 0)
            rc = snapshot_error(err, errlen, -EINVAL, "section 'CONF': PSCI mode %s, HEAD says "
                                "%s", conf.psci_mode, r.header.psci_mode);
    }
    for (unsigned int i = 0; i < r.nr_sections && !rc; i++)
        rc = check_section(&r, &r.sections[i], &conf, err, errlen);
    if (!rc)
        rc = snapshot_ram_check(&r, err, errlen);
    if (!rc && conf.nr_vcpus && snapshot_reader_find(&r, SNAPSHOT_TAG_RAM_INDEX, 0)) {
        struct snapshot_ram_info info;
        rc = snapshot_ram_info(&r, &info, err, errlen);
        if (!rc && info.ram_size != conf.ram_size)
            rc = snapshot_error(err, errlen, -EINVAL, "section 'RAMI': %llu bytes of RAM, the "
                                "configuration has %llu", (unsigned long long)info.ram_size,
                                (unsigned long long)conf.ram_size);
    }
    snapshot_config_release(&conf);
    snapshot_reader_release(&r);
    return rc;
}
