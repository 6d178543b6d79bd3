/* uart16550.c — 16550A UART model (see uart16550.h for the behaviour and its sources). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libfdt.h>

#include "devices/uart16550.h"

/* Register offsets (reg-shift 0). */
enum {
    UART_RBR_THR_DLL = 0,
    UART_IER_DLM = 1,
    UART_IIR_FCR = 2,
    UART_LCR = 3,
    UART_MCR = 4,
    UART_LSR = 5,
    UART_MSR = 6,
    UART_SCR = 7,
};

#define IER_ERBFI 0x01 /* receive data available */
#define IER_ETBEI 0x02 /* THR empty */
#define IER_ELSI 0x04  /* receiver line status */
#define IER_MASK 0x0f

#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_FIFO 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02

#define LCR_DLAB 0x80

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_DCD 0x80

#define MCR_MASK 0x1f
#define FCR_MASK 0xc9  /* enable, DMA mode, trigger level; the clear bits self-reset */

#define UART_STATE_VERSION 1u

/* Highest-priority pending interrupt source as an IIR value (without FIFO bits). */
static uint8_t uart_iir(const struct uart16550 *u)
{
    if ((u->ier & IER_ELSI) && u->overrun)
        return IIR_RLSI;
    if ((u->ier & IER_ERBFI) && u->rx_count)
        return IIR_RDI;
    if ((u->ier & IER_ETBEI) && u->thr_ipending)
        return IIR_THRI;
    return IIR_NONE;
}

static void uart_update_irq(struct uart16550 *u)
{
    bool level = uart_iir(u) != IIR_NONE;
    if (level != u->irq_level) {
        u->irq_level = level;
        irq_line_set(&u->irq, level); /* failure is reported by the backend's irq function */
    }
}

static void uart_reset_locked(struct uart16550 *u)
{
    u->ier = u->lcr = u->mcr = u->scr = u->fcr = 0;
    u->divisor = 12; /* 9600 baud at 1.8432 MHz */
    u->thr_ipending = false;
    u->rx_head = u->rx_count = 0;
    u->overrun = false;
    uart_update_irq(u);
}

int uart16550_init(struct uart16550 *u, const struct irq_line *irq, uart16550_tx_fn tx,
                   void *tx_opaque)
{
    memset(u, 0, sizeof(*u));
    int err = pthread_mutex_init(&u->lock, NULL);
    if (err)
        return -err;
    if (irq)
        u->irq = *irq;
    u->tx = tx;
    u->tx_opaque = tx_opaque;
    uart_reset_locked(u);
    return 0;
}

void uart16550_release(struct uart16550 *u)
{
    pthread_mutex_destroy(&u->lock);
}

void uart16550_reset(struct uart16550 *u)
{
    pthread_mutex_lock(&u->lock);
    uart_reset_locked(u);
    pthread_mutex_unlock(&u->lock);
}

static uint8_t uart_pop_rx(struct uart16550 *u)
{
    if (!u->rx_count)
        return 0;
    uint8_t c = u->rx[u->rx_head];
    u->rx_head = (u->rx_head + 1) % UART16550_FIFO_SIZE;
    u->rx_count--;
    return c;
}

static int uart_read(void *opaque, uint64_t offset, unsigned int size, uint64_t *value)
{
    struct uart16550 *u = opaque;
    if (size != 1 || offset > UART_SCR)
        return -EINVAL;
    pthread_mutex_lock(&u->lock);
    uint8_t v = 0;
    switch (offset) {
    case UART_RBR_THR_DLL:
        v = (u->lcr & LCR_DLAB) ? (uint8_t)u->divisor : uart_pop_rx(u);
        break;
    case UART_IER_DLM:
        v = (u->lcr & LCR_DLAB) ? (uint8_t)(u->divisor >> 8) : u->ier;
        break;
    case UART_IIR_FCR:
        v = uart_iir(u);
        if (v == IIR_THRI)
            u->thr_ipending = false; /* reading IIR acknowledges THR empty */
        if (u->fcr & FCR_ENABLE)
            v |= IIR_FIFO;
        break;
    case UART_LCR:
        v = u->lcr;
        break;
    case UART_MCR:
        v = u->mcr;
        break;
    case UART_LSR:
        v = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0) | (u->overrun ? LSR_OE : 0);
        u->overrun = false;
        break;
    case UART_MSR:
        v = MSR_DCD | MSR_DSR | MSR_CTS;
        break;
    case UART_SCR:
        v = u->scr;
        break;
    }
    uart_update_irq(u);
    pthread_mutex_unlock(&u->lock);
    *value = v;
    return 0;
}

static int uart_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
    struct uart16550 *u = opaque;
    if (size != 1 || offset > UART_SCR)
        return -EINVAL;
    uint8_t v = (uint8_t)value;
    pthread_mutex_lock(&u->lock);
    switch (offset) {
    case UART_RBR_THR_DLL:
        if (u->lcr & LCR_DLAB) {
            u->divisor = (uint16_t)((u->divisor & 0xff00) | v);
        } else {
            if (u->tx)
                u->tx(u->tx_opaque, v);
            u->thr_ipending = true; /* transmitted at once: THR empty again */
        }
        break;
    case UART_IER_DLM:
        if (u->lcr & LCR_DLAB) {
            u->divisor = (uint16_t)((u->divisor & 0x00ff) | (v << 8));
        } else {
            uint8_t old = u->ier;
            u->ier = v & IER_MASK;
            /* Enabling the THRE interrupt with an empty THR raises it at once. */
            if (!(old & IER_ETBEI) && (u->ier & IER_ETBEI))
                u->thr_ipending = true;
        }
        break;
    case UART_IIR_FCR:
        if (v & FCR_CLEAR_RX)
            u->rx_head = u->rx_count = 0;
        u->fcr = v & FCR_MASK;
        break;
    case UART_LCR:
        u->lcr = v;
        break;
    case UART_MCR:
        u->mcr = v & MCR_MASK;
        break;
    case UART_LSR:
    case UART_MSR:
        break; /* read-only; writes ignored as on real parts */
    case UART_SCR:
        u->scr = v;
        break;
    }
    uart_update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return 0;
}

const struct bus_device_ops uart16550_ops = {
    .read = uart_read,
    .write = uart_write,
};

size_t uart16550_receive(struct uart16550 *u, const uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&u->lock);
    size_t n = 0;
    while (n < len && u->rx_count < UART16550_FIFO_SIZE) {
        u->rx[(u->rx_head + u->rx_count) % UART16550_FIFO_SIZE] = buf[n++];
        u->rx_count++;
    }
    uart_update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}

bool uart16550_can_receive(struct uart16550 *u)
{
    pthread_mutex_lock(&u->lock);
    bool room = u->rx_count < UART16550_FIFO_SIZE;
    pthread_mutex_unlock(&u->lock);
    return room;
}

/* ---- the device interface ------------------------------------------------------------------ */

static void uart_dev_reset(void *opaque)
{
    uart16550_reset(opaque);
}

/* State v1: ier lcr mcr scr fcr (u8), divisor (u16), thr_ipending overrun (bool),
 * rx_count (u8), then rx_count FIFO bytes oldest first. */
static int uart_save(void *opaque, struct blob_writer *w, char *err, size_t errlen)
{
    struct uart16550 *u = opaque;
    pthread_mutex_lock(&u->lock);
    blob_put_u32(w, UART_STATE_VERSION);
    blob_put_u8(w, u->ier);
    blob_put_u8(w, u->lcr);
    blob_put_u8(w, u->mcr);
    blob_put_u8(w, u->scr);
    blob_put_u8(w, u->fcr);
    blob_put_u16(w, u->divisor);
    blob_put_bool(w, u->thr_ipending);
    blob_put_bool(w, u->overrun);
    blob_put_u8(w, (uint8_t)u->rx_count);
    for (unsigned int i = 0; i < u->rx_count; i++)
        blob_put_u8(w, u->rx[(u->rx_head + i) % UART16550_FIFO_SIZE]);
    pthread_mutex_unlock(&u->lock);
    if (blob_writer_error(w)) {
        snprintf(err, errlen, "saving the UART state: out of memory");
        return blob_writer_error(w);
    }
    return 0;
}

static int uart_restore(void *opaque, struct blob_reader *r, char *err, size_t errlen)
{
    struct uart16550 *u = opaque;
    uint32_t version;
    uint8_t ier, lcr, mcr, scr, fcr, count;
    uint16_t divisor;
    bool thr_ipending, overrun;
    uint8_t rx[UART16550_FIFO_SIZE];
    blob_get_u32(r, &version);
    if (!blob_reader_error(r) && version != UART_STATE_VERSION)
        return device_state_error(err, errlen, "state version %u, this pscivm reads %u",
                                  version, UART_STATE_VERSION);
    blob_get_u8(r, &ier);
    blob_get_u8(r, &lcr);
    blob_get_u8(r, &mcr);
    blob_get_u8(r, &scr);
    blob_get_u8(r, &fcr);
    blob_get_u16(r, &divisor);
    blob_get_bool(r, &thr_ipending);
    blob_get_bool(r, &overrun);
    blob_get_u8(r, &count);
    if (blob_reader_error(r))
        return device_state_error(err, errlen, "state truncated or malformed at byte %zu",
                                  r->pos);
    if ((ier & ~IER_MASK) || (mcr & ~MCR_MASK) || (fcr & ~FCR_MASK))
        return device_state_error(err, errlen, "reserved bits set (IER 0x%02x MCR 0x%02x "
                                  "FCR 0x%02x)", ier, mcr, fcr);
    if (count > UART16550_FIFO_SIZE)
        return device_state_error(err, errlen, "receive FIFO holds %u bytes, at most %u",
                                  count, UART16550_FIFO_SIZE);
    blob_get_bytes(r, rx, count);
    if (blob_reader_error(r))
        return device_state_error(err, errlen, "state truncated in the receive FIFO");
    if (blob_reader_finish(r))
        return device_state_error(err, errlen, "%zu unexpected bytes after the state",
                                  blob_reader_remaining(r));

    pthread_mutex_lock(&u->lock);
    u->ier = ier;
    u->lcr = lcr;
    u->mcr = mcr;
    u->scr = scr;
    u->fcr = fcr;
    u->divisor = divisor;
    u->thr_ipending = thr_ipending;
    u->overrun = overrun;
    memcpy(u->rx, rx, count);
    u->rx_head = 0;
    u->rx_count = count;
    /* Drive the line to the restored level whatever it was before. */
    u->irq_level = uart_iir(u) != IIR_NONE;
    irq_line_set(&u->irq, u->irq_level);
    pthread_mutex_unlock(&u->lock);
    return 0;
}

static int uart_fdt_node(const struct device *dev, void *fdt, const struct device_fdt_ctx *ctx)
{
    (void)ctx;
    static const char compat[] = "ns16550a";
    int rc = device_fdt_begin(fdt, dev, compat, sizeof(compat));
    if (!rc)
        rc = fdt_property_u32(fdt, "clock-frequency", UART16550_CLOCK_HZ);
    if (!rc)
        rc = fdt_property_u32(fdt, "reg-shift", 0);
    if (!rc)
        rc = fdt_property_u32(fdt, "reg-io-width", 1);
    if (!rc)
        rc = fdt_end_node(fdt);
    return rc;
}

const struct device_ops uart16550_device_ops = {
    .type = UART16550_TYPE,
    .mmio = {.read = uart_read, .write = uart_write},
    .reset = uart_dev_reset,
    .save = uart_save,
    .restore = uart_restore,
    .fdt_node = uart_fdt_node,
    .fdt_name = "uart",
};

struct device uart16550_device(struct uart16550 *u, uint64_t base)
{
    return (struct device){
        .ops = &uart16550_device_ops, .opaque = u, .name = "uart",
        .base = base, .size = UART16550_WINDOW_SIZE, .spi = u->irq.spi,
    };
}
