/* uart16550.h — a 16550A-compatible UART (8 one-byte registers, reg-shift 0) on the MMIO bus:
 * transmit goes to a sink callback (pscivm's stdout), receive comes from uart16550_receive()
 * (pscivm's stdin thread). Interrupt through an irq_line (level-triggered SPI).
 *
 * Modelled on the 8250/16550A data sheet as Linux's 8250 driver uses it: DLAB-switched divisor
 * latch, 16-byte receive FIFO, IIR priorities (line status > receive data > THR empty), THRE
 * interrupt raised when enabled with an empty transmitter and cleared by reading IIR or writing
 * THR. Transmission is instantaneous (THR is always empty). Modem lines read as DCD|DSR|CTS.
 * Thread-safe: every entry point takes the device's own mutex.
 *
 * As a `struct device` (uart16550_device()): type "uart16550", node uart@BASE { compatible =
 * "ns16550a"; reg; interrupts; clock-frequency = 1843200; reg-shift = 0; reg-io-width = 1 };
 * saved state: the registers, the pending THR-empty and overrun flags and the receive FIFO. */
#ifndef PSCIVM_UART16550_H
#define PSCIVM_UART16550_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"
#include "devices/irq.h"

#define UART16550_FIFO_SIZE 16
#define UART16550_TYPE "uart16550"
#define UART16550_CLOCK_HZ 1843200u
#define UART16550_WINDOW_SIZE 0x1000u  /* one 4 KiB page; registers at 0..7, the rest refused */

/* Receives every transmitted byte; called with the UART's lock held (must not call back in). */
typedef void (*uart16550_tx_fn)(void *opaque, uint8_t byte);

struct uart16550 {
    pthread_mutex_t lock;
    struct irq_line irq;
    uart16550_tx_fn tx;
    void *tx_opaque;
    /* Registers. */
    uint8_t ier, lcr, mcr, scr, fcr;
    uint16_t divisor;
    bool thr_ipending;    /* THR-empty interrupt latched */
    bool irq_level;       /* level last driven on the line */
    uint8_t rx[UART16550_FIFO_SIZE];
    unsigned int rx_head, rx_count;
    bool overrun;
};

/* The register window alone (bus_register); the same callbacks as uart16550_device_ops.mmio. */
extern const struct bus_device_ops uart16550_ops;
extern const struct device_ops uart16550_device_ops;

int uart16550_init(struct uart16550 *u, const struct irq_line *irq, uart16550_tx_fn tx,
                   void *tx_opaque);
void uart16550_release(struct uart16550 *u);
/* Back to the power-on state (system reset); the receive FIFO is emptied. */
void uart16550_reset(struct uart16550 *u);
/* Queue received bytes; returns how many fit into the FIFO (the rest are for a later call). */
size_t uart16550_receive(struct uart16550 *u, const uint8_t *buf, size_t len);
/* True when the receive FIFO has room (the input thread polls this before reading more). */
bool uart16550_can_receive(struct uart16550 *u);
/* The UART as a device with its window at `base` (UART16550_WINDOW_SIZE bytes) and the SPI of the
 * irq line it was initialised with. */
struct device uart16550_device(struct uart16550 *u, uint64_t base);

#endif
