/* test_sanitizer.c — sanitizer builds' report plumbing (vmm/sanitizer.c): log_path is found in
 * an options string as the runtimes read it; and — in the ASan+UBSan build of the unit tests —
 * a report made from under the real seccomp filter (kill) is written completely to its own
 * file: an ASan heap-buffer-overflow and a UBSan signed overflow each end a forked child with
 * the sanitizers' exit status (1), not SIGSYS, leaving a log that names the error and where it
 * happened. That is what the lab's sanitizer boot relies on (docs/lab.md); the lab repeats the
 * check with the arm64 build on a real arm64 kernel (lab/scenarios/01-sanitizer.sh). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "machine/seccomp_filter.h"
#include "vmm/sanitizer.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

static void test_sanitizer__log_path_option(void **state)
{
    (void)state;
    char buf[64];
    assert_null(sanitizer_options_log_path(NULL, buf, sizeof(buf)));
    assert_null(sanitizer_options_log_path("", buf, sizeof(buf)));
    assert_null(sanitizer_options_log_path("detect_leaks=0:halt_on_error=1", buf, sizeof(buf)));
    assert_string_equal(sanitizer_options_log_path("log_path=/tmp/s/asan", buf, sizeof(buf)),
                        "/tmp/s/asan");
    assert_string_equal(sanitizer_options_log_path("detect_leaks=0:log_path=/a/b:exitcode=86",
                                                   buf, sizeof(buf)), "/a/b");
    /* Any separator the runtimes accept; the last log_path wins, as in the runtimes. */
    assert_string_equal(sanitizer_options_log_path("log_path=/x, verbosity=0 log_path=/y\tz=1",
                                                   buf, sizeof(buf)), "/y");
    assert_null(sanitizer_options_log_path("log_path=", buf, sizeof(buf)));
    assert_null(sanitizer_options_log_path("xlog_path=/a", buf, sizeof(buf)));
    assert_null(sanitizer_options_log_path("log_path=/0123456789", buf, 8)); /* does not fit */
}

static void test_sanitizer__normal_build_does_nothing(void **state)
{
    (void)state;
    if (sanitizer_build())
        skip();
    assert_int_equal(sanitizer_ubsan_log_path("/nonexistent/x"), -ENOTSUP);
    assert_int_equal(sanitizer_selftest("address"), -ENOTSUP);
    assert_int_equal(sanitizer_selftest("undefined"), -ENOTSUP);
    sanitizer_init();
}

#ifdef __SANITIZE_ADDRESS__
/* Fork; the child sends WHAT's reports to PREFIX, loads the filter (kill) and makes the report.
 * Returns the child's pid; *status its wait status. */
static pid_t report_child(const char *what, const char *prefix, int *status)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!strcmp(what, "address"))
            __sanitizer_set_report_path(prefix);
        else if (sanitizer_ubsan_log_path(prefix))
            _exit(20);
        struct seccomp_filter f;
        char err[256];
        static const unsigned long ioctls[] = {0xae80UL};
        if (seccomp_filter_init(&f, RUN_SECCOMP_KILL, 0, ioctls, 1, err, sizeof(err)))
            _exit(21);
        if (seccomp_filter_load(&f, err, sizeof(err)))
            _exit(22);
        sanitizer_selftest(what);
        _exit(23); /* the sanitizer did not stop it */
    }
    assert_int_equal(waitpid(pid, status, 0), pid);
    return pid;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void expect_report(const char *what, const char *needles[], size_t n)
{
    char dir[] = "/tmp/pscivm-test-san.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char prefix[64], path[96];
    snprintf(prefix, sizeof(prefix), "%s/%s", dir, what);
    int status = 0;
    pid_t pid = report_child(what, prefix, &status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 1)
        print_message("%s child: %s %d (want exit 1; SIGSYS is %d)\n", what,
                      WIFEXITED(status) ? "exit" : "signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), SIGSYS);
    snprintf(path, sizeof(path), "%s.%d", prefix, (int)pid);
    char *log = slurp(path);
    if (!log)
        print_message("%s: no report file %s\n", what, path);
    for (size_t i = 0; log && i < n; i++)
        if (!strstr(log, needles[i]))
            print_message("%s: no '%s' in the report:\n%s\n", what, needles[i], log);
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 1 && log;
    for (size_t i = 0; ok && i < n; i++)
        ok = strstr(log, needles[i]) != NULL;
    unlink(path);
    rmdir(dir);
    assert_true(ok);
}
#endif

static void test_sanitizer__asan_report_under_the_filter(void **state)
{
    (void)state;
#ifdef __SANITIZE_ADDRESS__
    const char *needles[] = {"ERROR: AddressSanitizer: heap-buffer-overflow",
                             "in sanitizer_selftest", "src/vmm/sanitizer.c:",
                             "SUMMARY: AddressSanitizer: heap-buffer-overflow"};
    expect_report("address", needles, sizeof(needles) / sizeof(needles[0]));
#else
    skip();
#endif
}

static void test_sanitizer__ubsan_report_under_the_filter(void **state)
{
    (void)state;
#ifdef __SANITIZE_ADDRESS__
    const char *needles[] = {"src/vmm/sanitizer.c:",
                             "runtime error: signed integer overflow: 2147483647 + 1"};
    expect_report("undefined", needles, sizeof(needles) / sizeof(needles[0]));
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sanitizer__log_path_option),
        cmocka_unit_test(test_sanitizer__normal_build_does_nothing),
        cmocka_unit_test(test_sanitizer__asan_report_under_the_filter),
        cmocka_unit_test(test_sanitizer__ubsan_report_under_the_filter),
    };
    return cmocka_run_group_tests_name("sanitizer", tests, NULL, NULL);
}
