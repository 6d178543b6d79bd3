/* fuzz_uart16550.c — libFuzzer target for the 16550A UART's MMIO registers: guest reads and
 * writes of any size at any offset of its window (through the bus), interleaved with bytes
 * arriving from the console, resets and snapshot round trips. After each operation the
 * interrupt line must be at the level the device says it drives.
 * Operations (one byte, op % 5): 0 access (fuzz_mmio.h, op >> 3 as its flags), 1 receive
 * u8 % 32 bytes, 2 reset, 3 snapshot round trip, 4 can_receive. */
#include <stdio.h>
#include <stdlib.h>

#include "devices/uart16550.h"
#include "fuzz_mmio.h"

#define UART_BASE 0x09000000ull

static void tx_sink(void *opaque, uint8_t byte)
{
    (*(size_t *)opaque) += byte != 0xff;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in;
    fi_init(&in, data, size);
    struct fm_irq irq = {0};
    struct irq_line line = {.set = fm_irq_set, .opaque = &irq, .spi = 1};
    struct uart16550 u;
    size_t sent = 0;
    if (uart16550_init(&u, &line, tx_sink, &sent))
        abort();
    struct device dev = uart16550_device(&u, UART_BASE);
    struct bus bus;
    bus_init(&bus);
    if (device_register(&bus, &dev))
        abort();
    while (!fi_done(&in)) {
        uint8_t op = fi_u8(&in);
        switch (op % 5) {
        case 0:
            fm_access(&bus, &dev, &in, (uint8_t)(op >> 3));
            break;
        case 1: {
            uint8_t buf[32];
            size_t n = fi_u8(&in) % sizeof(buf);
            fi_bytes(&in, buf, n);
            if (uart16550_receive(&u, buf, n) > n)
                abort();
            break;
        }
        case 2:
            uart16550_reset(&u);
            break;
        case 3:
            fm_snapshot(&dev);
            break;
        case 4:
            uart16550_can_receive(&u);
            break;
        }
        if (u.rx_count > UART16550_FIFO_SIZE || u.rx_head >= UART16550_FIFO_SIZE ||
            irq.level != u.irq_level) {
            fprintf(stderr, "fuzz_uart16550: inconsistent after op %u (rx %u/%u, line %d, "
                            "device %d)\n", op % 5, u.rx_head, u.rx_count, irq.level,
                    u.irq_level);
            abort();
        }
    }
    bus_release(&bus);
    uart16550_release(&u);
    return 0;
}
