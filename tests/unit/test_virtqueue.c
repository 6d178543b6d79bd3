/* test_virtqueue.c — split-ring walking: well-formed chains, and every way a hostile driver can
 * break a queue (which must fail cleanly, never hang or touch memory outside guest RAM). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "virtio_driver.h"

struct fx {
    struct guest_mem mem;
    struct virtq vq;
    struct virtq_req req;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    td_mem_init(&f->mem);
    virtq_init(&f->vq);
    f->vq.size = TD_QSIZE;
    f->vq.desc_gpa = TD_DESC;
    f->vq.avail_gpa = TD_AVAIL;
    f->vq.used_gpa = TD_USED;
    f->vq.ready = true;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    free(f->mem.host);
    free(f);
    return 0;
}

static void test_virtqueue__empty_ring_pops_nothing(void **state)
{
    struct fx *f = *state;
    assert_int_equal(virtq_pop(&f->vq, &f->mem, &f->req), 0);
}

static void test_virtqueue__chain_is_translated(void **state)
{
    struct fx *f = *state;
    td_desc(&f->mem, 3, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 5);
    td_desc(&f->mem, 5, TD_DATA + 100, 32, VIRTQ_DESC_F_NEXT, 1);
    td_desc(&f->mem, 1, TD_DATA + 200, 1, VIRTQ_DESC_F_WRITE, 0);
    td_avail(&f->mem, 3);
    assert_int_equal(virtq_pop(&f->vq, &f->mem, &f->req), 1);
    assert_int_equal(f->req.head, 3);
    assert_int_equal(f->req.nr_segs, 3);
    assert_int_equal(f->req.nr_readable, 2);
    assert_int_equal(f->req.readable_len, 48);
    assert_int_equal(f->req.writable_len, 1);
    assert_ptr_equal(f->req.segs[1].host, td_ptr(&f->mem, TD_DATA + 100));
    assert_true(f->req.segs[2].writable);
    assert_int_equal(virtq_pop(&f->vq, &f->mem, &f->req), 0);

    assert_int_equal(virtq_push(&f->vq, &f->mem, 3, 7), 0);
    uint32_t id, len;
    td_used_elem(&f->mem, 0, &id, &len);
    assert_int_equal(id, 3);
    assert_int_equal(len, 7);
    assert_int_equal(td_used_idx(&f->mem), 1);
}

static void test_virtqueue__ring_indices_wrap(void **state)
{
    struct fx *f = *state;
    td_desc(&f->mem, 0, TD_DATA, 4, 0, 0);
    for (unsigned int i = 0; i < 3 * TD_QSIZE + 1; i++) {
        td_avail(&f->mem, 0);
        assert_int_equal(virtq_pop(&f->vq, &f->mem, &f->req), 1);
        assert_int_equal(virtq_push(&f->vq, &f->mem, 0, 0), 0);
    }
    assert_int_equal(td_used_idx(&f->mem), 3 * TD_QSIZE + 1);
}

/* Each case sets up one broken chain at head 0; all must give -EINVAL. */
struct bad_case {
    const char *what;
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
    uint16_t head;
};

static void test_virtqueue__hostile_chains_are_refused(void **state)
{
    static const struct bad_case cases[] = {
        {"head out of range", TD_DATA, 4, 0, 0, TD_QSIZE},
        {"next out of range", TD_DATA, 4, VIRTQ_DESC_F_NEXT, TD_QSIZE, 0},
        {"self loop", TD_DATA, 4, VIRTQ_DESC_F_NEXT, 0, 0},
        {"below RAM", TD_RAM_BASE - 8, 16, 0, 0, 0},
        {"past RAM end", TD_RAM_BASE + TD_RAM_SIZE - 8, 16, 0, 0, 0},
        {"address wraps", UINT64_MAX - 4, 16, 0, 0, 0},
        {"indirect not offered", TD_DATA, 16, VIRTQ_DESC_F_INDIRECT, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fx *f = *state;
        memset(f->mem.host, 0, TD_RAM_SIZE);
        virtq_init(&f->vq);
        f->vq.size = TD_QSIZE;
        f->vq.desc_gpa = TD_DESC;
        f->vq.avail_gpa = TD_AVAIL;
        f->vq.used_gpa = TD_USED;
        f->vq.ready = true;
        const struct bad_case *c = &cases[i];
        td_desc(&f->mem, 0, c->addr, c->len, c->flags, c->next);
        td_avail(&f->mem, c->head);
        int r = virtq_pop(&f->vq, &f->mem, &f->req);
        if (r != -EINVAL)
            fail_msg("case '%s': got %d", c->what, r);
    }
}

static void test_virtqueue__long_loop_is_bounded(void **state)
{
    struct fx *f = *state;
    for (unsigned int i = 0; i < TD_QSIZE; i++)
        td_desc(&f->mem, i, TD_DATA, 4, VIRTQ_DESC_F_NEXT, (uint16_t)((i + 1) % TD_QSIZE));
    td_avail(&f->mem, 2);
    assert_int_equal(virtq_pop(&f->vq, &f->mem, &f->req), -EINVAL);
}

static void test_virtqueue__full_length_chain_is_accepted(void **state)
{
    struct fx *f = *state;
    for (unsigned int i = 0; i < TD_QSIZE - 1; i++)
        td_desc(&f->mem, i, TD_DATA, 4, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
    td_desc(&f->mem, TD_QSIZE - 1, TD_DATA, 4, VIRTQ_DESC_F_WRITE, 0);
    td_avail(&f->mem, 0);
    assert_int_equal(virtq_pop(&f->vq, &f->mem, &f->req), 1);
    assert_int_equal(f->req.nr_segs, TD_QSIZE);
}

static void test_virtqueue__readable_after_writable_is_refused(void **state)
{
    struct fx *f = *state;
    td_desc(&f->mem, 0, TD_DATA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    td_desc(&f->mem, 1, TD_DATA, 4, 0, 0);
    td_avail(&f->mem, 0);
    assert_int_equal(virtq_pop(&f->vq, &f->mem, &f->req), -EINVAL);
}

static void test_virtqueue__avail_idx_jump_is_refused(void **state)
{
    struct fx *f = *state;
    uint16_t idx = TD_QSIZE + 1;
    memcpy((uint8_t *)td_ptr(&f->mem, TD_AVAIL) + 2, &idx, 2);
    assert_int_equal(virtq_pop(&f->vq, &f->mem, &f->req), -EINVAL);
}

static void test_virtqueue__not_ready_is_refused(void **state)
{
    struct fx *f = *state;
    f->vq.ready = false;
    assert_int_equal(virtq_pop(&f->vq, &f->mem, &f->req), -EINVAL);
    assert_int_equal(virtq_push(&f->vq, &f->mem, 0, 0), -EINVAL);
}

static void test_virtqueue__push_bad_head_is_refused(void **state)
{
    struct fx *f = *state;
    assert_int_equal(virtq_push(&f->vq, &f->mem, TD_QSIZE, 0), -EINVAL);
    assert_int_equal(td_used_idx(&f->mem), 0);
}

static void test_virtqueue__validate_layouts(void **state)
{
    struct fx *f = *state;
    static const struct {
        uint16_t size;
        uint64_t desc, avail, used;
        int expect;
    } cases[] = {
        {8, TD_DESC, TD_AVAIL, TD_USED, 0},
        {256, TD_DESC, TD_AVAIL, TD_USED, 0},
        {0, TD_DESC, TD_AVAIL, TD_USED, -EINVAL},
        {6, TD_DESC, TD_AVAIL, TD_USED, -EINVAL},
        {512, TD_DESC, TD_AVAIL, TD_USED, -EINVAL},
        {8, TD_DESC + 8, TD_AVAIL, TD_USED, -EINVAL},
        {8, TD_DESC, TD_AVAIL + 1, TD_USED, -EINVAL},
        {8, TD_DESC, TD_AVAIL, TD_USED + 2, -EINVAL},
        {8, TD_RAM_BASE + TD_RAM_SIZE - 64, TD_AVAIL, TD_USED, -EINVAL},
        {8, TD_DESC, TD_RAM_BASE + TD_RAM_SIZE - 8, TD_USED, -EINVAL},
        {8, TD_DESC, TD_AVAIL, TD_RAM_BASE + TD_RAM_SIZE - 32, -EINVAL},
        {8, 0, TD_AVAIL, TD_USED, -EINVAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct virtq q = f->vq;
        q.size = cases[i].size;
        q.desc_gpa = cases[i].desc;
        q.avail_gpa = cases[i].avail;
        q.used_gpa = cases[i].used;
        if (virtq_validate(&q, &f->mem) != cases[i].expect)
            fail_msg("layout case %zu", i);
    }
}

static void test_virtqueue__no_interrupt_flag_is_honoured(void **state)
{
    struct fx *f = *state;
    assert_true(virtq_should_notify(&f->vq, &f->mem));
    uint16_t flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
    memcpy(td_ptr(&f->mem, TD_AVAIL), &flags, 2);
    assert_false(virtq_should_notify(&f->vq, &f->mem));
}

static void test_virtqueue__streams_span_segments(void **state)
{
    struct fx *f = *state;
    uint8_t *a = td_ptr(&f->mem, TD_DATA);
    uint8_t *b = td_ptr(&f->mem, TD_DATA + 0x100);
    memcpy(a, "abc", 3);
    memcpy(b, "defgh", 5);
    td_desc(&f->mem, 0, TD_DATA, 3, VIRTQ_DESC_F_NEXT, 1);
    td_desc(&f->mem, 1, TD_DATA + 0x100, 5, VIRTQ_DESC_F_NEXT, 2);
    td_desc(&f->mem, 2, TD_DATA + 0x200, 2, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
    td_desc(&f->mem, 3, TD_DATA + 0x300, 4, VIRTQ_DESC_F_WRITE, 0);
    td_avail(&f->mem, 0);
    assert_int_equal(virtq_pop(&f->vq, &f->mem, &f->req), 1);
    char buf[8] = {0};
    assert_int_equal(virtq_req_read(&f->req, 2, buf, 5), 5);
    assert_memory_equal(buf, "cdefg", 5);
    assert_int_equal(virtq_req_read(&f->req, 6, buf, 10), 2);
    assert_int_equal(virtq_req_write(&f->req, 1, "WXYZ!", 5), 5);
    assert_memory_equal(td_ptr(&f->mem, TD_DATA + 0x201), "W", 1);
    assert_memory_equal(td_ptr(&f->mem, TD_DATA + 0x300), "XYZ!", 4);
    assert_int_equal(virtq_req_write(&f->req, 5, "12", 2), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_virtqueue__empty_ring_pops_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtqueue__chain_is_translated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtqueue__ring_indices_wrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtqueue__hostile_chains_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtqueue__long_loop_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtqueue__full_length_chain_is_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtqueue__readable_after_writable_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_virtqueue__avail_idx_jump_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtqueue__not_ready_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtqueue__push_bad_head_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtqueue__validate_layouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtqueue__no_interrupt_flag_is_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtqueue__streams_span_segments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
