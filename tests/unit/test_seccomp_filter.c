/* test_seccomp_filter.c — the --seccomp allow-list (machine/seccomp_filter.c): it builds for the
 * native architecture and for aarch64 (pscivm's target) with the documented number of system
 * calls and ioctl requests, exports a BPF program, and — loaded into a forked child on this
 * host — lets the allowed calls through (threads included: clone3 answers ENOSYS and glibc
 * falls back to clone with CLONE_THREAD) while a forbidden call (socket, fork, PROT_EXEC
 * memory, an ioctl off the list) kills the child with SIGSYS; log mode lets it through. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <seccomp.h>

#include "machine/seccomp_filter.h"

/* docs/seccomp.md states these (aarch64): keep them in step with the list. Sanitizer builds
 * (this file under ASan+UBSan, make asan-arm64) allow 2 more on aarch64 (fcntl F_SETFD,
 * readlinkat: what a sanitizer report needs). */
#ifdef __SANITIZE_ADDRESS__
#define AARCH64_SYSCALLS (53 + 2)
#else
#define AARCH64_SYSCALLS 53
#endif
#define CONSOLE_IOCTLS 4

/* Two made-up request numbers standing in for the hypervisor's. */
static const unsigned long fake_ioctls[] = {0xae80UL, 0x4010aeabUL};
#define NR_FAKE (sizeof(fake_ioctls) / sizeof(fake_ioctls[0]))

static void test_seccomp__builds_for_aarch64(void **state)
{
    (void)state;
    struct seccomp_filter f;
    char err[256] = "";
    int rc = seccomp_filter_init(&f, RUN_SECCOMP_KILL, SCMP_ARCH_AARCH64, fake_ioctls, NR_FAKE,
                                 err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_non_null(f.ctx);
    assert_int_equal(f.nr_syscalls, AARCH64_SYSCALLS);
    assert_int_equal(f.nr_ioctls, NR_FAKE + CONSOLE_IOCTLS);
    /* A BPF program comes out of it. */
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    assert_int_equal(seccomp_filter_export(&f, fileno(tmp)), 0);
    assert_int_equal(fseek(tmp, 0, SEEK_END), 0);
    assert_true(ftell(tmp) >= (long)(8 * (AARCH64_SYSCALLS + NR_FAKE + CONSOLE_IOCTLS))); /* one
                                                          8-byte instruction per rule */
    fclose(tmp);
    seccomp_filter_release(&f);
    assert_null(f.ctx);
    seccomp_filter_release(&f); /* twice is fine */
}

static void test_seccomp__off_builds_nothing(void **state)
{
    (void)state;
    struct seccomp_filter f;
    char err[256] = "";
    assert_int_equal(seccomp_filter_init(&f, RUN_SECCOMP_OFF, 0, NULL, 0, err, sizeof(err)), 0);
    assert_null(f.ctx);
    assert_int_equal(seccomp_filter_load(&f, err, sizeof(err)), 0);
    assert_false(f.loaded);
    assert_int_equal(seccomp_filter_export(&f, 1), -EINVAL);
    seccomp_filter_release(&f);
}

static void *thread_fn(void *arg)
{
    return arg;
}

enum child_action { DO_NOTHING, DO_SOCKET, DO_FORK, DO_EXEC_MEMORY, DO_BAD_IOCTL, DO_THREAD };

/* Fork; the child loads the filter, does one thing, and exits 0 (or 10 + step on an unexpected
 * failure). Returns the child's wait status. */
static int run_child(enum run_seccomp mode, enum child_action action)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct seccomp_filter f;
        char err[256];
        if (seccomp_filter_init(&f, mode, 0, fake_ioctls, NR_FAKE, err, sizeof(err)))
            _exit(11);
        if (seccomp_filter_load(&f, err, sizeof(err)))
            _exit(12);
        /* Allowed: writing to a descriptor, reading the clock. */
        struct timespec ts;
        if (write(STDERR_FILENO, "", 0) < 0 || clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
            _exit(13);
        switch (action) {
        case DO_NOTHING:
            break;
        case DO_SOCKET:
            if (seccomp_filter_selftest() != 0)
                _exit(14);
            break;
        case DO_FORK: {
            pid_t c = fork();
            if (c == 0)
                _exit(0);
            if (c < 0)
                _exit(15);
            waitpid(c, NULL, 0);
            break;
        }
        case DO_EXEC_MEMORY: {
            void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED)
                _exit(16);
            break;
        }
        case DO_BAD_IOCTL: {
            int n;
            ioctl(STDIN_FILENO, FIONREAD, &n); /* not a listed request */
            break;
        }
        case DO_THREAD: {
            pthread_t t;
            void *ret = NULL;
            if (pthread_create(&t, NULL, thread_fn, (void *)0x5ec) != 0)
                _exit(17);
            if (pthread_join(t, &ret) != 0 || ret != (void *)0x5ec)
                _exit(18);
            break;
        }
        }
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static bool killed_by_sigsys(int status)
{
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

static bool exited_ok(int status)
{
    if (!WIFEXITED(status))
        print_message("child: signal %d\n", WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    else if (WEXITSTATUS(status))
        print_message("child: exit %d\n", WEXITSTATUS(status));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void test_seccomp__kill_lets_allowed_calls_through(void **state)
{
    (void)state;
    assert_true(exited_ok(run_child(RUN_SECCOMP_KILL, DO_NOTHING)));
    /* vCPU threads are started after the filter on every (re)start. */
    assert_true(exited_ok(run_child(RUN_SECCOMP_KILL, DO_THREAD)));
}

static void test_seccomp__kill_kills_forbidden_calls(void **state)
{
    (void)state;
    assert_true(killed_by_sigsys(run_child(RUN_SECCOMP_KILL, DO_SOCKET)));
    assert_true(killed_by_sigsys(run_child(RUN_SECCOMP_KILL, DO_FORK)));
    assert_true(killed_by_sigsys(run_child(RUN_SECCOMP_KILL, DO_EXEC_MEMORY)));
    assert_true(killed_by_sigsys(run_child(RUN_SECCOMP_KILL, DO_BAD_IOCTL)));
}

static void test_seccomp__log_does_not_kill(void **state)
{
    (void)state;
    char err[256] = "";
    struct seccomp_filter f;
    int rc = seccomp_filter_init(&f, RUN_SECCOMP_LOG, 0, NULL, 0, err, sizeof(err));
    if (rc == -EOPNOTSUPP) {
        assert_non_null(strstr(err, "SECCOMP_RET_LOG"));
        skip();
    }
    assert_int_equal(rc, 0);
    seccomp_filter_release(&f);
    assert_true(exited_ok(run_child(RUN_SECCOMP_LOG, DO_SOCKET)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seccomp__builds_for_aarch64),
        cmocka_unit_test(test_seccomp__off_builds_nothing),
        cmocka_unit_test(test_seccomp__kill_lets_allowed_calls_through),
        cmocka_unit_test(test_seccomp__kill_kills_forbidden_calls),
        cmocka_unit_test(test_seccomp__log_does_not_kill),
    };
    return cmocka_run_group_tests_name("seccomp_filter", tests, NULL, NULL);
}
