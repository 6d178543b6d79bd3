/* board.c — the machine's devices and console: the 16550A UART (console), one virtio-blk per
 * --disk in virtio-mmio slots 0.., their interrupt lines (which also name the wake source of a
 * suspended guest), queue notifications without exits where the backend offers them, and the
 * host side of the console (stdout / file / none, stdin with Ctrl-A x). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "machine/machine.h"
#include "vmm/exit_status.h"
#include "vmm/memmap.h"

static int board_irq_set(void *opaque, unsigned int spi, bool level)
{
    struct machine *m = opaque;
    if (level) {
        unsigned int none = BOARD_NO_SPI;
        if (__atomic_compare_exchange_n(&m->wake_spi, &none, spi, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            __atomic_store_n(&m->wake_ns, events_monotonic_ns(), __ATOMIC_SEQ_CST);
    }
    return m->hv.ops->irq_line(m->hv.opaque, spi, level);
}

const char *board_irq_source_name(const struct machine *m, unsigned int spi)
{
    (void)m;
    if (spi == BOARD_NO_SPI)
        return "timer";
    if (spi == MEMMAP_UART_SPI)
        return "console";
    if (spi == MEMMAP_RTC_SPI)
        return "rtc";
    if (m->input_ready && spi == m->input_spi)
        return "input";
    return "other"; /* a disk completion, or any other device */
}

/* ---- console output -------------------------------------------------------------------------- */

/* With --events - the console shares stdout with the event lines, so console output goes out a
 * line at a time. A partial line (a prompt like "login: ") goes out once the guest has been
 * quiet for one main-loop tick (board_console_tick); the next event line then starts with a
 * newline of its own (board_console_end_line), so neither stream is cut. */
static void console_flush_locked(struct machine *m)
{
    size_t off = 0;
    if (m->console_len)
        m->console_mid_line = m->console_buf[m->console_len - 1] != '\n';
    while (off < m->console_len && m->console_fd >= 0) {
        ssize_t n = write(m->console_fd, m->console_buf + off, m->console_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* stdout gone: drop console output, the guest keeps running */
        off += (size_t)n;
    }
    m->console_len = m->console_quiet_len = 0;
}

/* UART transmit sink (called with the UART's lock held). */
static void console_tx(void *opaque, uint8_t byte)
{
    struct machine *m = opaque;
    pthread_mutex_lock(&m->console_lock);
    m->console_buf[m->console_len++] = (char)byte;
    if (!m->console_line_buffered || byte == '\n' || m->console_len == sizeof(m->console_buf))
        console_flush_locked(m);
    else if (m->console_len == 1 && m->loop_ready)
        loop_wake(&m->loop); /* a line begins: the main loop times it (board_console_tick) */
    pthread_mutex_unlock(&m->console_lock);
}

void board_console_flush(struct machine *m)
{
    if (!m->uart_ready)
        return;
    pthread_mutex_lock(&m->console_lock);
    console_flush_locked(m);
    pthread_mutex_unlock(&m->console_lock);
}

int board_console_tick(struct machine *m)
{
    if (!m->uart_ready || !m->console_line_buffered)
        return -1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    const uint64_t tick = (uint64_t)BOARD_CONSOLE_TICK_MS * 1000000u;
    int next = -1;
    pthread_mutex_lock(&m->console_lock);
    if (m->console_len != m->console_quiet_len) {
        m->console_quiet_len = m->console_len;
        m->console_quiet_ns = now;
    }
    if (m->console_len) {
        if (now - m->console_quiet_ns >= tick)
            console_flush_locked(m); /* quiet for a tick: the partial line goes out */
        else
            next = (int)((tick - (now - m->console_quiet_ns)) / 1000000u) + 1;
    }
    pthread_mutex_unlock(&m->console_lock);
    return next;
}

void board_console_end_line(struct machine *m)
{
    if (!m->uart_ready || !m->console_line_buffered)
        return;
    pthread_mutex_lock(&m->console_lock);
    if (m->console_mid_line && m->console_fd >= 0) {
        ssize_t n;
        do
            n = write(m->console_fd, "\n", 1);
        while (n < 0 && errno == EINTR);
        m->console_mid_line = false;
    }
    pthread_mutex_unlock(&m->console_lock);
}

/* Console input (console.c's reader thread) goes to the UART's receive FIFO. */
static size_t console_rx(void *opaque, const uint8_t *buf, size_t n)
{
    struct machine *m = opaque;
    return uart16550_receive(&m->uart, buf, n);
}

static void console_quit(void *opaque)
{
    struct machine *m = opaque;
    machine_request_stop(m, false, PSCIVM_EXIT_SIGNAL, "console escape (Ctrl-A x)");
}

int board_console_open(struct machine *m, char *err, size_t errlen)
{
    switch (m->opts.console) {
    case CONSOLE_NONE:
        m->console_fd = -1;
        return 0;
    case CONSOLE_FILE:
        m->console_fd = open(m->opts.console_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                             0644);
        if (m->console_fd < 0) {
            int e = errno;
            snprintf(err, errlen, "--console %s: cannot open: %s", m->opts.console_path,
                     strerror(e));
            return -e;
        }
        return 0;
    case CONSOLE_STDIO:
        break;
    }
    m->console_fd = STDOUT_FILENO;
    int rc = console_init(&m->console, STDIN_FILENO, STDERR_FILENO, err, errlen);
    if (rc)
        return rc;
    m->console_ready = true;
    return 0;
}

int board_console_start(struct machine *m, char *err, size_t errlen)
{
    if (!m->console_ready)
        return 0;
    struct console_sink sink = {.rx = console_rx, .quit = console_quit, .opaque = m};
    return console_start(&m->console, &sink, err, errlen);
}

/* ---- devices ----------------------------------------------------------------------------------- */

static int add_device(struct machine *m, struct device dev, char *err, size_t errlen)
{
    int rc = device_register(&m->bus, &dev);
    if (rc) {
        snprintf(err, errlen, "registering %s at 0x%llx: %s", dev.name,
                 (unsigned long long)dev.base, strerror(-rc));
        return rc;
    }
    m->devices[m->nr_devices++] = dev;
    return 0;
}

static void disk_notify(void *opaque)
{
    virtio_mmio_notify(opaque, 0);
}

/* The RTC asks to be called back at a wall-clock time (0: cancel): a CLOCK_REALTIME timerfd
 * the main loop watches (any thread may re-arm it: timerfd_settime is thread-safe). */
static void rtc_schedule(void *opaque, uint64_t realtime_ns)
{
    struct machine *m = opaque;
    if (m->rtc_timer_fd < 0)
        return;
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(realtime_ns / 1000000000ULL),
                                          .tv_nsec = (long)(realtime_ns % 1000000000ULL)}};
    if (realtime_ns && its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1;
    timerfd_settime(m->rtc_timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

void board_rtc_timer(struct machine *m)
{
    uint64_t n;
    if (read(m->rtc_timer_fd, &n, sizeof(n)) == (ssize_t)sizeof(n) && m->rtc_ready)
        pl031_timer_fired(&m->rtc);
}

/* The board, in device-tree order: the UART, the PL031 RTC, one virtio-blk per --disk in
 * virtio-mmio slots 0.. (the guest sees /dev/vda, vdb ... in --disk order), then the power
 * button (virtio-input) in the next slot. Slot n: MEMMAP_VIRTIO_BASE + n * stride, SPI 16 + n.
 * A new device: its file, plus one add_device() line here. */
int board_build(struct machine *m, char *err, size_t errlen)
{
    struct irq_line irq = {.set = board_irq_set, .opaque = m, .spi = MEMMAP_UART_SPI};
    int rc = uart16550_init(&m->uart, &irq, console_tx, m);
    if (rc) {
        snprintf(err, errlen, "UART: %s", strerror(-rc));
        return rc;
    }
    m->uart_ready = true;
    rc = add_device(m, uart16550_device(&m->uart, MEMMAP_UART_BASE), err, errlen);
    if (rc)
        return rc;

    m->rtc_timer_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
    if (m->rtc_timer_fd < 0) {
        snprintf(err, errlen, "timerfd for the RTC: %s", strerror(errno));
        return -errno;
    }
    irq.spi = MEMMAP_RTC_SPI;
    rc = pl031_init(&m->rtc, &irq, NULL, rtc_schedule, m);
    if (rc) {
        snprintf(err, errlen, "PL031 RTC: %s", strerror(-rc));
        return rc;
    }
    m->rtc_ready = true;
    rc = add_device(m, pl031_device(&m->rtc, MEMMAP_RTC_BASE), err, errlen);
    if (rc)
        return rc;

    if (m->opts.nr_disks) {
        m->disks = calloc(m->opts.nr_disks, sizeof(*m->disks));
        if (!m->disks)
            return -ENOMEM;
    }
    unsigned int slot = 0;
    for (unsigned int i = 0; i < m->opts.nr_disks; i++, slot++) {
        char *path;
        bool ro;
        char id[24];
        rc = virtio_blk_parse_spec(m->opts.disks[i], &path, &ro, err, errlen);
        if (rc)
            return rc;
        snprintf(id, sizeof(id), "pscivm-disk%u", i);
        irq.spi = MEMMAP_VIRTIO_SPI_BASE + slot;
        rc = virtio_blk_init(&m->disks[i], path, ro, id, &m->mem, irq, err, errlen);
        free(path);
        if (rc)
            return rc;
        m->nr_disks_ready = i + 1;
        uint64_t base = MEMMAP_VIRTIO_BASE + (uint64_t)slot * MEMMAP_VIRTIO_STRIDE;
        /* Unique names: a snapshot keys each device's state by its name (DEVC). */
        static const char *const disk_names[RUN_MAX_DISKS] = {
            "disk0", "disk1", "disk2", "disk3", "disk4", "disk5", "disk6", "disk7", "disk8",
            "disk9", "disk10", "disk11", "disk12", "disk13", "disk14", "disk15",
        };
        _Static_assert(RUN_MAX_DISKS == 16, "one name per disk slot");
        struct device dev = virtio_blk_device(&m->disks[i], base);
        dev.name = disk_names[i];
        rc = add_device(m, dev, err, errlen);
        if (rc)
            return rc;
        /* QueueNotify of queue 0 without an exit when the backend offers it (the MMIO path
         * stays as the fallback: the bus still routes the register). */
        if (m->hv.ops->notify_add)
            m->hv.ops->notify_add(m->hv.opaque, base + VIRTIO_MMIO_QUEUE_NOTIFY, 0, disk_notify,
                                  &m->disks[i].transport);
    }

    m->input_spi = MEMMAP_VIRTIO_SPI_BASE + slot;
    irq.spi = m->input_spi;
    rc = virtio_input_init(&m->input, &m->mem, irq, err, errlen);
    if (rc)
        return rc;
    m->input_ready = true;
    return add_device(m, virtio_input_device(&m->input, MEMMAP_VIRTIO_BASE +
                                             (uint64_t)slot * MEMMAP_VIRTIO_STRIDE), err, errlen);
}

void board_reset(struct machine *m)
{
    for (unsigned int i = 0; i < m->nr_devices; i++)
        device_reset(&m->devices[i]);
}

int board_press_key(struct machine *m, enum board_key key, char *err, size_t errlen)
{
    static const uint16_t codes[] = {
        [BOARD_KEY_POWER] = 116,  /* KEY_POWER */
        [BOARD_KEY_SLEEP] = 142,  /* KEY_SLEEP */
        [BOARD_KEY_WAKEUP] = 143, /* KEY_WAKEUP */
    };
    if (!m->input_ready) {
        snprintf(err, errlen, "this machine has no power button device");
        return -ENODEV;
    }
    return virtio_input_press_key(&m->input, codes[key], err, errlen);
}

void board_release(struct machine *m)
{
    if (m->console_ready) { /* first: its reader thread feeds the UART */
        console_release(&m->console);
        m->console_ready = false;
    }
    if (m->uart_ready) {
        board_console_flush(m);
        uart16550_release(&m->uart);
        m->uart_ready = false;
    }
    for (unsigned int i = 0; i < m->nr_disks_ready; i++)
        virtio_blk_release(&m->disks[i]);
    if (m->rtc_ready)
        pl031_release(&m->rtc);
    if (m->input_ready)
        virtio_input_release(&m->input);
    m->rtc_ready = m->input_ready = false;
    if (m->rtc_timer_fd >= 0)
        close(m->rtc_timer_fd);
    m->rtc_timer_fd = -1;
    m->nr_devices = 0;
    free(m->disks);
    m->disks = NULL;
    m->nr_disks_ready = 0;
    if (m->opts.console == CONSOLE_FILE && m->console_fd >= 0)
        close(m->console_fd);
    m->console_fd = -1;
}
