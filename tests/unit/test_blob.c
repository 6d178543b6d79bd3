/* test_blob.c — the device-state serialisation helper: values round-trip little-endian, the
 * writer grows and hands its buffer over, and the reader never reads past its end — every
 * truncation of a record fails, the error is sticky, outputs read as zero, sub-readers stay
 * inside their section, and booleans other than 0/1 are refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/blob.h"

/* One record of every type: 1 + 2 + 4 + 8 + 1 + 3 = 19 bytes. */
static void put_record(struct blob_writer *w)
{
    blob_put_u8(w, 0x12);
    blob_put_u16(w, 0x3456);
    blob_put_u32(w, 0x789abcdeu);
    blob_put_u64(w, 0x0102030405060708ull);
    blob_put_bool(w, true);
    blob_put_bytes(w, "xyz", 3);
}

#define RECORD_BYTES 19u

/* Read a record back; returns the first error (0 when whole). */
static int get_record(struct blob_reader *r, uint8_t *a, uint16_t *b, uint32_t *c, uint64_t *d,
                      bool *e, char f[3])
{
    int err = 0, rc;
    if ((rc = blob_get_u8(r, a)) && !err) err = rc;
    if ((rc = blob_get_u16(r, b)) && !err) err = rc;
    if ((rc = blob_get_u32(r, c)) && !err) err = rc;
    if ((rc = blob_get_u64(r, d)) && !err) err = rc;
    if ((rc = blob_get_bool(r, e)) && !err) err = rc;
    if ((rc = blob_get_bytes(r, f, 3)) && !err) err = rc;
    return err;
}

static void test_blob__round_trip_little_endian(void **state)
{
    (void)state;
    struct blob_writer w;
    blob_writer_init(&w);
    put_record(&w);
    assert_int_equal(blob_writer_error(&w), 0);
    uint8_t *data;
    size_t len;
    assert_int_equal(blob_writer_take(&w, &data, &len), 0);
    assert_int_equal(len, RECORD_BYTES);
    static const uint8_t expect[RECORD_BYTES] = {
        0x12, 0x56, 0x34, 0xde, 0xbc, 0x9a, 0x78,
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x01, 'x', 'y', 'z',
    };
    assert_memory_equal(data, expect, RECORD_BYTES);

    struct blob_reader r;
    blob_reader_init(&r, data, len);
    uint8_t a; uint16_t b; uint32_t c; uint64_t d; bool e; char f[3];
    assert_int_equal(get_record(&r, &a, &b, &c, &d, &e, f), 0);
    assert_int_equal(a, 0x12);
    assert_int_equal(b, 0x3456);
    assert_int_equal(c, 0x789abcdeu);
    assert_int_equal(d, 0x0102030405060708ull);
    assert_true(e);
    assert_memory_equal(f, "xyz", 3);
    assert_int_equal(blob_reader_remaining(&r), 0);
    assert_int_equal(blob_reader_finish(&r), 0);
    free(data);
    blob_writer_release(&w); /* after take: an empty writer, releasing is harmless */
}

static void test_blob__writer_grows(void **state)
{
    (void)state;
    struct blob_writer w;
    blob_writer_init(&w);
    for (uint32_t i = 0; i < 10000; i++)
        blob_put_u32(&w, i);
    assert_int_equal(w.len, 40000);
    struct blob_reader r;
    blob_reader_init(&r, w.data, w.len);
    for (uint32_t i = 0; i < 10000; i++) {
        uint32_t v;
        assert_int_equal(blob_get_u32(&r, &v), 0);
        if (v != i)
            fail_msg("word %u reads %u", i, v);
    }
    assert_int_equal(blob_reader_finish(&r), 0);
    blob_writer_release(&w);
    assert_null(w.data);
    assert_int_equal(w.len, 0);
}

static void test_blob__every_truncation_fails(void **state)
{
    (void)state;
    struct blob_writer w;
    blob_writer_init(&w);
    put_record(&w);
    for (size_t len = 0; len < RECORD_BYTES; len++) {
        /* A copy of exactly len bytes, so ASan sees any read past it. */
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, w.data, len);
        struct blob_reader r;
        blob_reader_init(&r, copy, len);
        uint8_t a; uint16_t b; uint32_t c; uint64_t d; bool e; char f[3];
        if (get_record(&r, &a, &b, &c, &d, &e, f) != -EINVAL)
            fail_msg("truncated to %zu bytes: read succeeded", len);
        assert_int_equal(blob_reader_error(&r), -EINVAL);
        assert_int_equal(blob_reader_finish(&r), -EINVAL);
        assert_true(r.pos <= len);
        free(copy);
    }
    blob_writer_release(&w);
}

static void test_blob__error_is_sticky_and_zeroes(void **state)
{
    (void)state;
    static const uint8_t data[6] = {1, 2, 3, 4, 5, 6};
    struct blob_reader r;
    blob_reader_init(&r, data, sizeof(data));
    uint32_t v32 = 0xffffffff;
    uint64_t v64 = 0xffff;
    assert_int_equal(blob_get_u64(&r, &v64), -EINVAL);
    assert_int_equal(v64, 0);
    /* Four bytes are there, but the reader is already in error. */
    assert_int_equal(blob_get_u32(&r, &v32), -EINVAL);
    assert_int_equal(v32, 0);
    char buf[2] = {'a', 'b'};
    assert_int_equal(blob_get_bytes(&r, buf, 2), -EINVAL);
    assert_int_equal(buf[0], 0);
    assert_int_equal(r.pos, 0);
}

static void test_blob__bool_must_be_0_or_1(void **state)
{
    (void)state;
    static const uint8_t data[3] = {0, 1, 2};
    struct blob_reader r;
    blob_reader_init(&r, data, sizeof(data));
    bool v;
    assert_int_equal(blob_get_bool(&r, &v), 0);
    assert_false(v);
    assert_int_equal(blob_get_bool(&r, &v), 0);
    assert_true(v);
    assert_int_equal(blob_get_bool(&r, &v), -EINVAL);
    assert_false(v);
    assert_int_equal(blob_reader_error(&r), -EINVAL);
}

static void test_blob__sub_reader_and_trailing_bytes(void **state)
{
    (void)state;
    static const uint8_t data[7] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x11, 0x22};
    struct blob_reader r, sub;
    blob_reader_init(&r, data, sizeof(data));
    assert_int_equal(blob_get_sub(&r, 3, &sub), 0);
    uint16_t v16;
    uint8_t v8;
    assert_int_equal(blob_get_u16(&sub, &v16), 0);
    assert_int_equal(v16, 0xbbaa);
    assert_int_equal(blob_get_u16(&sub, &v16), -EINVAL); /* cannot reach into r's next bytes */
    assert_int_equal(blob_reader_error(&r), 0);
    assert_int_equal(blob_get_u8(&r, &v8), 0);
    assert_int_equal(v8, 0xdd);
    assert_int_equal(blob_reader_finish(&r), -EINVAL);    /* three bytes left */
    assert_int_equal(blob_get_sub(&r, 4, &sub), -EINVAL); /* longer than what is left */
    assert_int_equal(blob_reader_remaining(&sub), 0);
    assert_int_equal(blob_get_u8(&sub, &v8), -EINVAL);
    /* Empty and NULL readers. */
    blob_reader_init(&r, NULL, 100);
    assert_int_equal(blob_reader_remaining(&r), 0);
    assert_int_equal(blob_get_u8(&r, &v8), -EINVAL);
    blob_reader_init(&r, data, 0);
    assert_int_equal(blob_get_bytes(&r, NULL, 0), 0);
    assert_int_equal(blob_reader_finish(&r), 0);
}

static void test_blob__take_of_empty_writer(void **state)
{
    (void)state;
    struct blob_writer w;
    blob_writer_init(&w);
    uint8_t *data = (uint8_t *)&w;
    size_t len = 99;
    assert_int_equal(blob_writer_take(&w, &data, &len), 0);
    assert_null(data);
    assert_int_equal(len, 0);
    /* A writer in error hands nothing over. */
    blob_put_u32(&w, 1);
    w.error = -ENOMEM;
    blob_put_u32(&w, 2);
    assert_int_equal(w.len, 4);
    assert_int_equal(blob_writer_take(&w, &data, &len), -ENOMEM);
    assert_null(data);
    assert_null(w.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blob__round_trip_little_endian),
        cmocka_unit_test(test_blob__writer_grows),
        cmocka_unit_test(test_blob__every_truncation_fails),
        cmocka_unit_test(test_blob__error_is_sticky_and_zeroes),
        cmocka_unit_test(test_blob__bool_must_be_0_or_1),
        cmocka_unit_test(test_blob__sub_reader_and_trailing_bytes),
        cmocka_unit_test(test_blob__take_of_empty_writer),
    };
    return cmocka_run_group_tests_name("blob", tests, NULL, NULL);
}
