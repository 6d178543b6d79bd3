/* console.h — the host side of the guest's serial console: stdin in raw mode when it is a
 * terminal (restored on every exit path: console_release(), and SIGINT/SIGTERM/SIGHUP/SIGQUIT
 * handlers that restore it and then chain to whatever handler was installed before), the
 * escape sequence Ctrl-A x to quit (Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A h prints help), and a
 * reader thread that feeds input bytes to the UART's receive path with back-pressure.
 * Non-terminal stdin (scripts, pipes) is passed through byte for byte, without escapes; its EOF
 * just ends input (the guest keeps running). */
#ifndef PSCIVM_CONSOLE_H
#define PSCIVM_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#define CONSOLE_ESCAPE 0x01   /* Ctrl-A */

/* Where input goes. `rx` returns how many of the n bytes it accepted (the UART's FIFO may be
 * full); the reader retries the rest. `quit` is called once when the user types Ctrl-A x. */
struct console_sink {
    size_t (*rx)(void *opaque, const uint8_t *buf, size_t n);
    void (*quit)(void *opaque);
    void *opaque;
};

struct console {
    int in_fd;
    int out_fd;              /* where help text goes (the terminal) */
    bool is_tty;
    bool raw_active;
    bool escape_pending;
    struct termios saved;
    struct console_sink sink;
    bool thread_started;
    pthread_t thread;
    int wake_pipe[2];        /* console_release() wakes the reader through it */
};

/* Set up the console on `in_fd`/`out_fd`: raw mode and signal handlers when in_fd is a
 * terminal. 0 or negative errno with `err` set. Only one console may be active at a time. */
int console_init(struct console *c, int in_fd, int out_fd, char *err, size_t errlen);
/* Start the reader thread feeding `sink`. */
int console_start(struct console *c, const struct console_sink *sink, char *err, size_t errlen);
/* Stop the reader and restore the terminal (idempotent). */
void console_release(struct console *c);
/* Restore the terminal now (idempotent; async-signal-safe). */
void console_restore(struct console *c);

/* The escape filter (exposed for tests): turns typed bytes into guest bytes in `out` (at most
 * n + 1 bytes) and returns their count; sets *quit on Ctrl-A x. Help goes to out_fd. */
size_t console_filter(struct console *c, const uint8_t *in, size_t n, uint8_t *out, bool *quit);

#endif
