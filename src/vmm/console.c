/* console.c — raw terminal, escape sequence and input thread for the guest console (see
 * console.h). The terminal state to restore lives in file-scope variables too, so that the
 * signal handlers can restore it without touching the struct. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm/console.h"

static const int restore_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NR_RESTORE_SIGNALS (sizeof(restore_signals) / sizeof(restore_signals[0]))

static struct termios saved_termios;
static volatile sig_atomic_t saved_valid;
static volatile sig_atomic_t saved_fd = -1;
static struct sigaction previous[NR_RESTORE_SIGNALS];

static const char help_text[] =
    "\r\npscivm console escapes:\r\n"
    "  Ctrl-A x       quit pscivm (exit status 7)\r\n"
    "  Ctrl-A Ctrl-A  send Ctrl-A to the guest\r\n"
    "  Ctrl-A h       this help\r\n";

static void restore_now(void)
{
    if (saved_valid) {
        tcsetattr(saved_fd, TCSANOW, &saved_termios);
        saved_valid = 0;
    }
}

static void on_fatal_signal(int sig, siginfo_t *info, void *uctx)
{
    int e = errno;
    restore_now();
    for (size_t i = 0; i < NR_RESTORE_SIGNALS; i++) {
        if (restore_signals[i] != sig)
            continue;
        const struct sigaction *prev = &previous[i];
        if (prev->sa_flags & SA_SIGINFO) {
            if (prev->sa_sigaction)
                prev->sa_sigaction(sig, info, uctx);
        } else if (prev->sa_handler == SIG_IGN) {
            /* ignored before us: stay ignored */
        } else if (prev->sa_handler != SIG_DFL && prev->sa_handler) {
            prev->sa_handler(sig);
        } else {
            signal(sig, SIG_DFL);
            raise(sig); /* delivered when we return: default action (terminate) */
        }
    }
    errno = e;
}

static void install_handlers(void)
{
    for (size_t i = 0; i < NR_RESTORE_SIGNALS; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_fatal_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(restore_signals[i], &sa, &previous[i]);
    }
}

static void remove_handlers(void)
{
    for (size_t i = 0; i < NR_RESTORE_SIGNALS; i++) {
        struct sigaction cur;
        sigaction(restore_signals[i], NULL, &cur);
        /* Only put back what we replaced, and only if nobody replaced us since. */
        if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_fatal_signal)
            sigaction(restore_signals[i], &previous[i], NULL);
    }
}

int console_init(struct console *c, int in_fd, int out_fd, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->in_fd = in_fd;
    c->out_fd = out_fd;
    c->wake_pipe[0] = c->wake_pipe[1] = -1;
    if (pipe2(c->wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        int e = errno;
        snprintf(err, errlen, "console: pipe: %s", strerror(e));
        return -e;
    }
    c->is_tty = in_fd >= 0 && isatty(in_fd);
    if (!c->is_tty)
        return 0;
    if (tcgetattr(in_fd, &c->saved) < 0) {
        int e = errno;
        snprintf(err, errlen, "console: tcgetattr on fd %d: %s", in_fd, strerror(e));
        console_release(c);
        return -e;
    }
    struct termios raw = c->saved;
    raw.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    raw.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    raw.c_cflag |= CS8;
    raw.c_oflag |= OPOST; /* the guest's output stays readable if it prints bare \n */
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    saved_termios = c->saved;
    saved_fd = in_fd;
    saved_valid = 1;
    install_handlers();
    c->raw_active = true; /* from here on, console_release() undoes it */
    if (tcsetattr(in_fd, TCSANOW, &raw) < 0) {
        int e = errno;
        snprintf(err, errlen, "console: tcsetattr (raw mode) on fd %d: %s", in_fd, strerror(e));
        console_release(c);
        return -e;
    }
    return 0;
}

void console_restore(struct console *c)
{
    (void)c;
    restore_now();
}

size_t console_filter(struct console *c, const uint8_t *in, size_t n, uint8_t *out, bool *quit)
{
    size_t o = 0;
    *quit = false;
    if (!c->is_tty) {
        memcpy(out, in, n);
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = in[i];
        if (!c->escape_pending) {
            if (ch == CONSOLE_ESCAPE)
                c->escape_pending = true;
            else
                out[o++] = ch;
            continue;
        }
        c->escape_pending = false;
        switch (ch) {
        case 'x':
        case 'X':
            *quit = true;
            return o;
        case CONSOLE_ESCAPE:
            out[o++] = CONSOLE_ESCAPE;
            break;
        case 'h':
        case 'H':
        case '?':
            if (c->out_fd >= 0 && write(c->out_fd, help_text, sizeof(help_text) - 1) < 0) {
                /* nothing useful to do if the terminal is gone */
            }
            break;
        default:
            /* Not an escape: pass both bytes on, as typed. */
            out[o++] = CONSOLE_ESCAPE;
            out[o++] = ch;
            break;
        }
    }
    return o;
}

/* Hand `n` bytes to the sink, waiting (1 ms steps) while its FIFO is full; false when asked to
 * stop meanwhile. */
static bool deliver(struct console *c, const uint8_t *buf, size_t n)
{
    while (n > 0) {
        size_t k = c->sink.rx(c->sink.opaque, buf, n);
        buf += k;
        n -= k;
        if (n == 0)
            break;
        struct pollfd p = {.fd = c->wake_pipe[0], .events = POLLIN};
        if (poll(&p, 1, 1) > 0)
            return false;
    }
    return true;
}

static void *reader_main(void *arg)
{
    struct console *c = arg;
    uint8_t in[256], out[2 * sizeof(in)];
    for (;;) {
        struct pollfd p[2] = {{.fd = c->in_fd, .events = POLLIN},
                              {.fd = c->wake_pipe[0], .events = POLLIN}};
        int r = poll(p, 2, -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        if (!p[0].revents)
            continue;
        ssize_t n = read(c->in_fd, in, sizeof(in));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break; /* EOF or error: no more input, the guest keeps running */
        bool quit;
        size_t m = console_filter(c, in, (size_t)n, out, &quit);
        if (m && !deliver(c, out, m))
            break;
        if (quit) {
            if (c->sink.quit)
                c->sink.quit(c->sink.opaque);
            break;
        }
    }
    return NULL;
}

int console_start(struct console *c, const struct console_sink *sink, char *err, size_t errlen)
{
    if (c->in_fd < 0 || !sink->rx)
        return 0;
    c->sink = *sink;
    int e = pthread_create(&c->thread, NULL, reader_main, c);
    if (e) {
        snprintf(err, errlen, "console: cannot start the input thread: %s", strerror(e));
        return -e;
    }
    c->thread_started = true;
    return 0;
}

void console_release(struct console *c)
{
    if (c->thread_started) {
        if (write(c->wake_pipe[1], "q", 1) < 0) {
            /* the pipe is non-blocking and empty: cannot fail in practice */
        }
        pthread_join(c->thread, NULL);
        c->thread_started = false;
    }
    if (c->raw_active) {
        restore_now();
        remove_handlers();
        c->raw_active = false;
    }
    for (int i = 0; i < 2; i++) {
        if (c->wake_pipe[i] >= 0)
            close(c->wake_pipe[i]);
        c->wake_pipe[i] = -1;
    }
}
