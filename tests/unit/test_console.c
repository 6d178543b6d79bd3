/* test_console.c — the console: escape filter (Ctrl-A x / Ctrl-A Ctrl-A / others, split across
 * reads), raw mode on a pseudo-terminal and its restoration by console_release() and by a fatal
 * signal, the reader thread with back-pressure, quit and EOF. */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/console.h"

static void test_console__filter_passes_non_tty_input_verbatim(void **state)
{
    (void)state;
    struct console c = {.is_tty = false};
    const uint8_t in[] = {'a', 0x01, 'x', 0x01, 0x01};
    uint8_t out[16];
    bool quit;
    assert_int_equal(console_filter(&c, in, sizeof(in), out, &quit), sizeof(in));
    assert_memory_equal(out, in, sizeof(in));
    assert_false(quit);
}

static void test_console__filter_escapes(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
        bool quit;
    } cases[] = {
        {"hello", "hello", false},
        {"ab\x01xcd", "ab", true},
        {"\x01X", "", true},
        {"\x01\x01", "\x01", false},
        {"a\x01" "b", "a\x01" "b", false},
        {"\x01\x01x", "\x01x", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct console c = {.is_tty = true, .out_fd = -1};
        uint8_t out[32];
        bool quit;
        size_t n = console_filter(&c, (const uint8_t *)cases[i].in, strlen(cases[i].in), out, &quit);
        if (n != strlen(cases[i].out) || memcmp(out, cases[i].out, n) || quit != cases[i].quit)
            fail_msg("case %zu: %zu bytes, quit %d", i, n, quit);
    }
}

static void test_console__escape_split_across_reads(void **state)
{
    (void)state;
    struct console c = {.is_tty = true, .out_fd = -1};
    uint8_t out[8];
    bool quit;
    assert_int_equal(console_filter(&c, (const uint8_t *)"z\x01", 2, out, &quit), 1);
    assert_false(quit);
    assert_int_equal(console_filter(&c, (const uint8_t *)"x", 1, out, &quit), 0);
    assert_true(quit);
}

static void test_console__raw_mode_and_restore(void **state)
{
    (void)state;
    int master, slave;
    assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
    struct termios before, during, after;
    tcgetattr(slave, &before);
    assert_true(before.c_lflag & ICANON);
    struct console c;
    char err[128];
    assert_int_equal(console_init(&c, slave, -1, err, sizeof(err)), 0);
    assert_true(c.is_tty);
    tcgetattr(slave, &during);
    assert_false(during.c_lflag & (ICANON | ECHO | ISIG));
    assert_false(during.c_iflag & ICRNL);
    console_release(&c);
    tcgetattr(slave, &after);
    assert_int_equal(after.c_lflag, before.c_lflag);
    assert_int_equal(after.c_iflag, before.c_iflag);
    console_release(&c); /* idempotent */
    close(master);
    close(slave);
}

static void test_console__signal_restores_terminal(void **state)
{
    (void)state;
    int master, slave;
    assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
    struct termios before, after;
    tcgetattr(slave, &before);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct console c;
        char err[128];
        if (console_init(&c, slave, -1, err, sizeof(err)) < 0)
            _exit(99);
        if (write(ready[1], "r", 1) != 1)
            _exit(98);
        for (;;)
            pause();
    }
    char b;
    assert_int_equal(read(ready[0], &b, 1), 1);
    struct termios during;
    tcgetattr(slave, &during);
    assert_false(during.c_lflag & ICANON);
    kill(pid, SIGTERM);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGTERM);
    tcgetattr(slave, &after);
    assert_int_equal(after.c_lflag, before.c_lflag);
    close(ready[0]);
    close(ready[1]);
    close(master);
    close(slave);
}

struct sink_rec {
    uint8_t buf[4096];
    size_t len;
    int quits;
    size_t per_call;  /* accept at most this many per call (back-pressure) */
};

static size_t rec_rx(void *opaque, const uint8_t *buf, size_t n)
{
    struct sink_rec *r = opaque;
    size_t k = n < r->per_call ? n : r->per_call;
    memcpy(r->buf + r->len, buf, k);
    __atomic_store_n(&r->len, r->len + k, __ATOMIC_RELEASE);
    return k;
}

static void rec_quit(void *opaque)
{
    struct sink_rec *r = opaque;
    __atomic_store_n(&r->quits, r->quits + 1, __ATOMIC_RELEASE);
}

static void wait_for(size_t *len, size_t want)
{
    for (int i = 0; i < 2000 && __atomic_load_n(len, __ATOMIC_ACQUIRE) < want; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static void test_console__reader_with_backpressure_and_quit(void **state)
{
    (void)state;
    int master, slave;
    assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
    struct console c;
    char err[128];
    assert_int_equal(console_init(&c, slave, -1, err, sizeof(err)), 0);
    struct sink_rec rec = {.per_call = 1};
    struct console_sink sink = {.rx = rec_rx, .quit = rec_quit, .opaque = &rec};
    assert_int_equal(console_start(&c, &sink, err, sizeof(err)), 0);
    const char *typed = "ls -l\r\x01\x01";
    assert_int_equal(write(master, typed, strlen(typed)), (ssize_t)strlen(typed));
    wait_for(&rec.len, 7);
    assert_int_equal(rec.len, 7);
    assert_memory_equal(rec.buf, "ls -l\r\x01", 7);
    assert_int_equal(write(master, "\x01x", 2), 2);
    for (int i = 0; i < 2000 && !__atomic_load_n(&rec.quits, __ATOMIC_ACQUIRE); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(rec.quits, 1);
    console_release(&c);
    close(master);
    close(slave);
}

static void test_console__pipe_input_until_eof(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct console c;
    char err[128];
    assert_int_equal(console_init(&c, p[0], -1, err, sizeof(err)), 0);
    assert_false(c.is_tty);
    struct sink_rec rec = {.per_call = 4096};
    struct console_sink sink = {.rx = rec_rx, .quit = rec_quit, .opaque = &rec};
    assert_int_equal(console_start(&c, &sink, err, sizeof(err)), 0);
    assert_int_equal(write(p[1], "echo \x01x\n", 9), 9);
    close(p[1]);
    wait_for(&rec.len, 9);
    assert_int_equal(rec.len, 9);
    assert_memory_equal(rec.buf, "echo \x01x\n", 9);
    assert_int_equal(rec.quits, 0);
    console_release(&c);
    close(p[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_console__filter_passes_non_tty_input_verbatim),
        cmocka_unit_test(test_console__filter_escapes),
        cmocka_unit_test(test_console__escape_split_across_reads),
        cmocka_unit_test(test_console__raw_mode_and_restore),
        cmocka_unit_test(test_console__signal_restores_terminal),
        cmocka_unit_test(test_console__reader_with_backpressure_and_quit),
        cmocka_unit_test(test_console__pipe_input_until_eof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
