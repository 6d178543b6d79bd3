/* device_check.h — checks of the device.h snapshot contract that every device test runs on its
 * own device: save is deterministic; restore of every truncation, of the state plus a trailing
 * byte and of a wrong version fails with a message and leaves the device unchanged (its next
 * save is byte-identical); single-byte corruptions either fail the same way or give a state the
 * device accepts as valid (the caller's `check` then exercises it). Each restore gets a buffer
 * of exactly the bytes it may read, so ASan reports any overrun. Static functions: include
 * after <cmocka.h>. */
#ifndef PSCIVM_TEST_DEVICE_CHECK_H
#define PSCIVM_TEST_DEVICE_CHECK_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device.h"
#include "util/blob.h"

struct dc_state {
    uint8_t *data;
    size_t len;
};

static inline struct dc_state dc_save(const struct device *dev)
{
    struct blob_writer w;
    char err[256];
    blob_writer_init(&w);
    int rc = device_save(dev, &w, err, sizeof(err));
    if (rc)
        fail_msg("save %s: %s", dev->name, err);
    struct dc_state s;
    assert_int_equal(blob_writer_take(&w, &s.data, &s.len), 0);
    assert_true(s.len > 0);
    return s;
}

/* Restore from an exact-size heap copy of data[0, len). */
static inline int dc_restore_bytes(const struct device *dev, const uint8_t *data, size_t len,
                                   char *err, size_t errlen)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, data, len);
    struct blob_reader r;
    blob_reader_init(&r, copy, len);
    int rc = device_restore(dev, &r, err, errlen);
    free(copy);
    return rc;
}

static inline void dc_restore_ok(const struct device *dev, const struct dc_state *s)
{
    char err[256];
    if (dc_restore_bytes(dev, s->data, s->len, err, sizeof(err)))
        fail_msg("restore %s: %s", dev->name, err);
}

static inline void dc_assert_same(const struct device *dev, const struct dc_state *before,
                                  const char *what, size_t at)
{
    struct dc_state now = dc_save(dev);
    if (now.len != before->len || memcmp(now.data, before->data, now.len) != 0)
        fail_msg("%s: a failed restore (%s %zu) changed the device", dev->name, what, at);
    free(now.data);
}

static inline void dc_expect_refused(const struct device *dev, const struct dc_state *before,
                                     const uint8_t *data, size_t len, const char *what,
                                     size_t at)
{
    char err[256] = "";
    int rc = dc_restore_bytes(dev, data, len, err, sizeof(err));
    if (rc != -EINVAL)
        fail_msg("%s: restore (%s %zu) returned %d, expected -EINVAL", dev->name, what, at, rc);
    if (strlen(err) < strlen(dev->name) + 4)
        fail_msg("%s: restore (%s %zu) refused without a message", dev->name, what, at);
    dc_assert_same(dev, before, what, at);
}

/* Truncations 0 .. len-1, one trailing byte, a wrong version word. */
static inline void dc_check_bad_lengths_and_version(const struct device *dev)
{
    struct dc_state s = dc_save(dev);
    struct dc_state again = dc_save(dev);
    assert_int_equal(again.len, s.len);
    assert_memory_equal(again.data, s.data, s.len); /* saving changes nothing */
    free(again.data);
    for (size_t len = 0; len < s.len; len++)
        dc_expect_refused(dev, &s, s.data, len, "truncated to", len);
    uint8_t *longer = malloc(s.len + 1);
    memcpy(longer, s.data, s.len);
    longer[s.len] = 0;
    dc_expect_refused(dev, &s, longer, s.len + 1, "one trailing byte, length", s.len + 1);
    memcpy(longer, s.data, s.len);
    longer[0] ^= 0x40; /* the state version is the first (little-endian) word */
    dc_expect_refused(dev, &s, longer, s.len, "bad version, byte", 0);
    free(longer);
    free(s.data);
}

/* Every byte replaced by a few hostile values. A refused state must leave the device as it was;
 * an accepted one is handed to `check` (which may poke the device) and the original state is
 * then restored again. */
static inline void dc_check_corruptions(const struct device *dev,
                                        void (*check)(const struct device *dev, void *arg),
                                        void *arg)
{
    struct dc_state s = dc_save(dev);
    uint8_t *bad = malloc(s.len);
    for (size_t i = 0; i < s.len; i++) {
        const uint8_t values[] = {0x00, 0xff, (uint8_t)(s.data[i] ^ 0x01),
                                  (uint8_t)(s.data[i] ^ 0x80), 0x02};
        for (size_t v = 0; v < sizeof(values); v++) {
            if (values[v] == s.data[i])
                continue;
            memcpy(bad, s.data, s.len);
            bad[i] = values[v];
            char err[256] = "";
            int rc = dc_restore_bytes(dev, bad, s.len, err, sizeof(err));
            if (rc) {
                if (rc != -EINVAL || !err[0])
                    fail_msg("%s: byte %zu = 0x%02x: %d '%s'", dev->name, i, values[v], rc, err);
                dc_assert_same(dev, &s, "corrupted byte", i);
            } else {
                if (check)
                    check(dev, arg);
                dc_restore_ok(dev, &s);
            }
        }
    }
    free(bad);
    free(s.data);
}

#endif
