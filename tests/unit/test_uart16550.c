/* test_uart16550.c — the 16550A model as Linux's 8250 driver and a polling payload use it:
 * transmit reaches the sink, LSR/IIR report the right state, the interrupt line follows the
 * IIR priorities (receive data, THR empty), DLAB switches to the divisor latch, the receive
 * FIFO holds 16 bytes, reset restores power-on state, bad accesses are refused; as a
 * `struct device`: save -> change -> restore brings registers, FIFO and the line back, and the
 * snapshot contract checks of device_check.h hold. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "devices/uart16550.h"
#include "device_check.h"

struct sink {
    char out[64];
    size_t len;
    int irq_level;
    int irq_changes;
};

static void sink_tx(void *opaque, uint8_t byte)
{
    struct sink *s = opaque;
    if (s->len < sizeof(s->out))
        s->out[s->len++] = (char)byte;
}

static int sink_irq(void *opaque, unsigned int spi, bool level)
{
    struct sink *s = opaque;
    assert_int_equal(spi, 1);
    s->irq_level = level;
    s->irq_changes++;
    return 0;
}

static struct sink sink;
static struct uart16550 uart;

static int setup(void **state)
{
    (void)state;
    memset(&sink, 0, sizeof(sink));
    struct irq_line irq = {.set = sink_irq, .opaque = &sink, .spi = 1};
    return uart16550_init(&uart, &irq, sink_tx, &sink);
}

static int teardown(void **state)
{
    (void)state;
    uart16550_release(&uart);
    return 0;
}

static uint8_t rd(uint64_t off)
{
    uint64_t v = 0xff;
    assert_int_equal(uart16550_ops.read(&uart, off, 1, &v), 0);
    return (uint8_t)v;
}

static void wr(uint64_t off, uint8_t v)
{
    assert_int_equal(uart16550_ops.write(&uart, off, 1, v), 0);
}

static void test_uart16550__transmit_and_status(void **state)
{
    (void)state;
    for (const char *p = "ok\n"; *p; p++)
        wr(0, (uint8_t)*p);
    assert_int_equal(sink.len, 3);
    assert_memory_equal(sink.out, "ok\n", 3);
    assert_int_equal(rd(5), 0x60);  /* LSR: THRE | TEMT, no data */
    assert_int_equal(rd(2), 0x01);  /* IIR: no interrupt (none enabled) */
    assert_int_equal(rd(6) & 0xb0, 0xb0); /* MSR: DCD DSR CTS */
    assert_int_equal(sink.irq_level, 0);
}

static void test_uart16550__receive_interrupt(void **state)
{
    (void)state;
    wr(1, 0x01); /* IER: receive data available */
    assert_int_equal(sink.irq_level, 0);
    assert_int_equal(uart16550_receive(&uart, (const uint8_t *)"ab", 2), 2);
    assert_int_equal(sink.irq_level, 1);
    assert_int_equal(rd(5) & 0x01, 0x01); /* LSR.DR */
    assert_int_equal(rd(2), 0x04);        /* IIR: receive data */
    assert_int_equal(rd(0), 'a');
    assert_int_equal(sink.irq_level, 1);
    assert_int_equal(rd(0), 'b');
    assert_int_equal(sink.irq_level, 0);
    assert_int_equal(rd(5) & 0x01, 0);
    assert_int_equal(rd(0), 0); /* empty FIFO reads zero */
}

static void test_uart16550__fifo_limit(void **state)
{
    (void)state;
    uint8_t buf[20];
    for (int i = 0; i < 20; i++)
        buf[i] = (uint8_t)('A' + i);
    assert_int_equal(uart16550_receive(&uart, buf, 20), UART16550_FIFO_SIZE);
    assert_false(uart16550_can_receive(&uart));
    for (int i = 0; i < UART16550_FIFO_SIZE; i++)
        assert_int_equal(rd(0), 'A' + i);
    assert_true(uart16550_can_receive(&uart));
}

static void test_uart16550__thre_interrupt(void **state)
{
    (void)state;
    wr(2, 0x07);  /* FCR: enable + clear FIFOs */
    wr(1, 0x02);  /* IER: THR empty -> raised at once */
    assert_int_equal(sink.irq_level, 1);
    assert_int_equal(rd(2), 0xc2); /* IIR: FIFOs enabled, THR empty; reading acknowledges */
    assert_int_equal(sink.irq_level, 0);
    assert_int_equal(rd(2), 0xc1);
    wr(0, 'x');   /* transmitted at once: THR empty again */
    assert_int_equal(sink.irq_level, 1);
    /* Receive data outranks THR empty. */
    wr(1, 0x03);
    uart16550_receive(&uart, (const uint8_t *)"z", 1);
    assert_int_equal(rd(2) & 0x0f, 0x04);
    rd(0);
    assert_int_equal(rd(2) & 0x0f, 0x02);
    wr(1, 0x00);
    assert_int_equal(sink.irq_level, 0);
}

static void test_uart16550__divisor_latch_and_reset(void **state)
{
    (void)state;
    wr(3, 0x83);  /* LCR: DLAB, 8N1 */
    wr(0, 0x01);
    wr(1, 0x02);
    assert_int_equal(rd(0), 0x01);
    assert_int_equal(rd(1), 0x02);
    assert_int_equal(sink.len, 0); /* divisor writes are not transmitted */
    wr(3, 0x03);
    assert_int_equal(rd(1), 0x00); /* IER again */
    wr(7, 0x5a);
    assert_int_equal(rd(7), 0x5a);
    uart16550_receive(&uart, (const uint8_t *)"q", 1);
    uart16550_reset(&uart);
    assert_int_equal(rd(7), 0);
    assert_int_equal(rd(3), 0);
    assert_int_equal(rd(5) & 0x01, 0);
}

static void test_uart16550__bad_accesses(void **state)
{
    (void)state;
    uint64_t v;
    static const struct {
        uint64_t off;
        unsigned int size;
    } bad[] = {{0, 2}, {0, 4}, {4, 8}, {8, 1}, {0xfff, 1}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(uart16550_ops.read(&uart, bad[i].off, bad[i].size, &v), -EINVAL);
        assert_int_equal(uart16550_ops.write(&uart, bad[i].off, bad[i].size, 'x'), -EINVAL);
    }
    assert_int_equal(sink.len, 0);
}

static void test_uart16550__save_change_restore(void **state)
{
    (void)state;
    struct device dev = uart16550_device(&uart, 0x09000000);
    assert_string_equal(dev.ops->type, "uart16550");
    assert_int_equal(dev.spi, 1);
    assert_int_equal(dev.size, 0x1000);
    wr(3, 0x83);   /* divisor 0x0201 */
    wr(0, 0x01);
    wr(1, 0x02);
    wr(3, 0x1b);   /* LCR: 8E1 */
    wr(4, 0x0b);   /* MCR */
    wr(7, 0xa5);
    wr(2, 0x01);   /* FIFO on */
    wr(1, 0x01);   /* receive interrupt */
    uart16550_receive(&uart, (const uint8_t *)"xyz", 3);
    assert_int_equal(rd(0), 'x'); /* the FIFO's head is not at slot 0 any more */
    assert_int_equal(sink.irq_level, 1);
    struct dc_state saved = dc_save(&dev);

    /* Change everything. */
    wr(1, 0x00);
    wr(3, 0x00);
    wr(7, 0x00);
    wr(4, 0x00);
    assert_int_equal(sink.irq_level, 0); /* receive interrupt disabled */
    assert_int_equal(rd(0), 'y');
    assert_int_equal(rd(0), 'z');
    uart16550_receive(&uart, (const uint8_t *)"0123456789abcdef", 16);

    dc_restore_ok(&dev, &saved);
    assert_int_equal(sink.irq_level, 1); /* data waiting with ERBFI on */
    assert_int_equal(rd(3), 0x1b);
    assert_int_equal(rd(4), 0x0b);
    assert_int_equal(rd(7), 0xa5);
    assert_int_equal(rd(1), 0x01);
    assert_int_equal(rd(2), 0xc4);       /* FIFO, receive data */
    assert_int_equal(rd(0), 'y');
    assert_int_equal(rd(0), 'z');
    assert_int_equal(sink.irq_level, 0);
    assert_int_equal(rd(5) & 0x01, 0);
    wr(3, 0x9b);
    assert_int_equal(rd(0), 0x01);
    assert_int_equal(rd(1), 0x02);
    free(saved.data);
}

static void test_uart16550__snapshot_contract(void **state)
{
    (void)state;
    struct device dev = uart16550_device(&uart, 0x09000000);
    wr(1, 0x07);
    uart16550_receive(&uart, (const uint8_t *)"hello", 5);
    dc_check_bad_lengths_and_version(&dev);
    dc_check_corruptions(&dev, NULL, NULL);
    /* Hostile fields, one at a time. Layout: version(4) ier lcr mcr scr fcr div(2) thr ovr n. */
    struct dc_state s = dc_save(&dev);
    static const struct { size_t at; uint8_t value; } bad[] = {
        {4, 0x10}, {6, 0x20}, {8, 0x02}, {11, 2}, {12, 7}, {13, 17}, {13, 6},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t copy[64];
        assert_true(s.len <= sizeof(copy));
        memcpy(copy, s.data, s.len);
        copy[bad[i].at] = bad[i].value;
        dc_expect_refused(&dev, &s, copy, s.len, "hostile field at", bad[i].at);
    }
    free(s.data);
}

static void test_uart16550__restore_lowers_the_line(void **state)
{
    (void)state;
    struct device dev = uart16550_device(&uart, 0x09000000);
    struct dc_state quiet = dc_save(&dev);
    wr(1, 0x02); /* THRE: raised */
    assert_int_equal(sink.irq_level, 1);
    dc_restore_ok(&dev, &quiet);
    assert_int_equal(sink.irq_level, 0);
    device_reset(&dev);
    assert_int_equal(rd(1), 0);
    free(quiet.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_uart16550__transmit_and_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uart16550__receive_interrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uart16550__fifo_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uart16550__thre_interrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uart16550__divisor_latch_and_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uart16550__bad_accesses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uart16550__save_change_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uart16550__snapshot_contract, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uart16550__restore_lowers_the_line, setup, teardown),
    };
    return cmocka_run_group_tests_name("uart16550", tests, NULL, NULL);
}
