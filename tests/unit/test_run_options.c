/* test_run_options.c — `pscivm run` command line: defaults, every option's accepted values, and
 * a clear error for each kind of bad input (cmd_run turns those into usage + exit 2); plus the
 * system power policy table of policy.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "psci/psci.h"
#include "vmm/exit_status.h"
#include "vmm/policy.h"
#include "vmm/run_options.h"

#define MAX_ARGS 32

static int parse(struct run_options *o, char *err, const char *a0, ...)
{
    char *argv[MAX_ARGS];
    int argc = 0;
    va_list ap;
    va_start(ap, a0);
    argv[argc++] = (char *)"run";
    for (const char *a = a0; a && argc < MAX_ARGS - 1; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return run_options_parse(o, argc, argv, err, 256);
}

static int parse_restore(struct run_options *o, char *err, const char *a0, ...)
{
    char *argv[MAX_ARGS];
    int argc = 0;
    va_list ap;
    va_start(ap, a0);
    argv[argc++] = (char *)"restore";
    for (const char *a = a0; a && argc < MAX_ARGS - 1; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return run_options_parse_restore(o, argc, argv, err, 256);
}

static void test_run_options__restore(void **state)
{
    (void)state;
    struct run_options o;
    char err[256];
    assert_int_equal(parse_restore(&o, err, "vm.snap", "--paused", "--qmp", "/q", "--events",
                                   "-", "--timeout", "9", "--on-reset", "exit", NULL), 0);
    assert_string_equal(o.restore_file, "vm.snap");
    assert_true(o.paused);
    assert_string_equal(o.qmp, "/q");
    assert_int_equal(o.timeout_s, 9);
    assert_int_equal(o.on_reset, ON_RESET_EXIT);
    assert_int_equal(parse_restore(&o, err, "--console", "none", "b.snap", NULL), 0);
    assert_string_equal(o.restore_file, "b.snap");
    assert_false(o.paused);
    assert_int_equal(parse_restore(&o, err, "--qmp", "/q", NULL), -EINVAL);
    assert_string_equal(err, "the snapshot FILE to restore is missing");
    assert_int_equal(parse_restore(&o, err, "a.snap", "--cpus", "2", NULL), -EINVAL);
    assert_non_null(strstr(err, "--cpus: not a restore option"));
    assert_int_equal(parse_restore(&o, err, "a.snap", "--disk", "x.img", NULL), -EINVAL);
    assert_int_equal(parse_restore(&o, err, "a.snap", "b.snap", NULL), -EINVAL);
    assert_int_equal(parse(&o, err, "--payload", "p", "--paused", NULL), -EINVAL);
    assert_string_equal(err, "--paused is an option of pscivm restore");
}

static void test_run_options__defaults(void **state)
{
    (void)state;
    struct run_options o;
    char err[256];
    assert_int_equal(parse(&o, err, "--payload", "x.bin", NULL), 0);
    assert_string_equal(o.payload, "x.bin");
    assert_int_equal(o.cpus, 1);
    assert_int_equal(o.mem_mib, 128);
    assert_int_equal(o.psci_version, PSCI_VERSION_1_3);
    assert_int_equal(o.mode, PSCI_MODE_AUTO);
    assert_null(o.events);
    assert_int_equal(o.on_reset, ON_RESET_RESTART);
    assert_int_equal(o.on_suspend, ON_SUSPEND_WAIT);
    assert_false(o.psci_explicit); /* no --psci: the mode's best on the host decides */
    assert_int_equal(o.timeout_s, 0);
    assert_null(o.cmdline);
    assert_int_equal(o.nr_deny_cpu_on, 0);
    assert_false(o.help);
}

static void test_run_options__all_options(void **state)
{
    (void)state;
    struct run_options o;
    char err[256];
    assert_int_equal(parse(&o, err, "--payload", "p", "--cpus", "4", "--mem", "256", "--psci",
                           "0.2", "--psci-mode", "kernel", "--events", "-", "--on-reset", "exit",
                           "--on-suspend", "deny", "--timeout", "30", "--cmdline", "a=b", NULL),
                     0);
    assert_int_equal(o.cpus, 4);
    assert_int_equal(o.mem_mib, 256);
    assert_int_equal(o.psci_version, PSCI_VERSION_0_2);
    assert_true(o.psci_explicit);
    assert_int_equal(o.mode, PSCI_MODE_KERNEL);
    assert_string_equal(o.events, "-");
    assert_int_equal(o.on_reset, ON_RESET_EXIT);
    assert_int_equal(o.on_suspend, ON_SUSPEND_DENY);
    assert_int_equal(o.timeout_s, 30);
    assert_string_equal(o.cmdline, "a=b");
    static const struct {
        const char *v;
        uint32_t version;
    } versions[] = {{"0.2", PSCI_VERSION_0_2}, {"1.0", PSCI_VERSION_1_0},
                    {"1.1", PSCI_VERSION_1_1}, {"1.2", PSCI_VERSION_1_2},
                    {"1.3", PSCI_VERSION_1_3}};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        assert_int_equal(parse(&o, err, "--psci", versions[i].v, "--payload", "p", NULL), 0);
        assert_int_equal(o.psci_version, versions[i].version);
    }
    assert_int_equal(parse(&o, err, "--psci-mode=user", "--payload=p", NULL), 0);
    assert_int_equal(o.mode, PSCI_MODE_USER);
    assert_int_equal(parse(&o, err, "--help", NULL), 0);
    assert_true(o.help);
}

static void test_run_options__errors(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        const char *msg;
    } cases[] = {
        {"--cpus", "0", "--cpus"},        {"--cpus", "124", "--cpus"},
        {"--cpus", "-1", "--cpus"},       {"--cpus", "2x", "--cpus"},
        {"--mem", "8", "--mem"},          {"--mem", "99999999", "--mem"},
        {"--psci", "0.1", "--psci"},      {"--psci", "2.0", "--psci"},
        {"--psci-mode", "both", "--psci-mode"}, {"--on-reset", "halt", "--on-reset"},
        {"--on-suspend", "x", "--on-suspend"},  {"--timeout", "0", "--timeout"},
        {"--events", "", "--events"},     {"--bogus", "1", "unknown option"},
        {"extra", NULL, "unexpected argument"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct run_options o;
        char err[256] = "";
        assert_int_equal(parse(&o, err, "--payload", "p", cases[i].a, cases[i].b, NULL),
                         -EINVAL);
        assert_non_null(strstr(err, cases[i].msg));
    }
    struct run_options o;
    char err[256];
    assert_int_equal(parse(&o, err, "--cpus", "2", NULL), -EINVAL);
    assert_non_null(strstr(err, "--payload"));
    assert_int_equal(parse(&o, err, "--payload", "p", "--cpus", NULL), -EINVAL);
    assert_non_null(strstr(err, "needs an argument"));
}

/* Numbers are digits only: strtoull() alone accepts leading white space and a sign, so
 * "--cpus ' 4'" and "--mem '\t64'" used to be taken as 4 and 64. Every numeric option. */
static void test_run_options__numbers_are_digits_only(void **state)
{
    (void)state;
    static const char *const opts[] = {"--cpus", "--mem", "--timeout", "--deny-cpu-on"};
    static const char *const bad[] = {
        " 4", "\t64", "\n4", " -1", "-0", "+4", "4 ", "", " ", "0x10", "4.0", "1e2",
        "18446744073709551616", "18446744073709551615", "99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
            struct run_options o;
            char err[256] = "";
            int r = parse(&o, err, "--payload", "p", "--cpus", "4", opts[i], bad[j], NULL);
            if (r != -EINVAL || !strstr(err, opts[i]))
                fail_msg("%s '%s': %d '%s'", opts[i], bad[j], r, err);
        }
    /* The plain forms still work, leading zeros included. */
    struct run_options o;
    char err[256];
    assert_int_equal(parse(&o, err, "--payload", "p", "--cpus", "04", "--mem", "064",
                           "--timeout", "010", "--deny-cpu-on", "01,3", NULL), 0);
    assert_int_equal(o.cpus, 4);
    assert_int_equal(o.mem_mib, 64);
    assert_int_equal(o.timeout_s, 10);
    assert_int_equal(o.deny_cpu_on[0], 1);
}

/* An unknown short option is named by itself, also inside a cluster ("-xy" used to blame
 * "unknown option 'run'", the argument before the cluster); long options name themselves
 * without their "=value". */
static void test_run_options__bad_option_names_itself(void **state)
{
    (void)state;
    static const struct {
        const char *arg;
        const char *msg;
    } cases[] = {
        {"-xy", "unknown option '-x'"},
        {"-x", "unknown option '-x'"},
        {"-hx", NULL}, /* -h first: help */
        {"--bogus", "unknown option '--bogus'"},
        {"--bogus=1", "unknown option '--bogus'"},
        {"--c", "option '--c' is ambiguous"},
        {"--on=exit", "option '--on' is ambiguous"},
        {"--help=1", "option '--help' takes no argument"},
        {"--timeout", "option '--timeout' needs an argument"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct run_options o;
        char err[256] = "";
        int r = parse(&o, err, "--payload", "p", cases[i].arg, NULL);
        if (!cases[i].msg) {
            assert_int_equal(r, 0);
            assert_true(o.help);
            continue;
        }
        if (r != -EINVAL || !strstr(err, cases[i].msg))
            fail_msg("'%s': %d '%s', expected '%s'", cases[i].arg, r, err, cases[i].msg);
        assert_null(strstr(err, "'run'"));
        assert_null(strstr(err, "'p'"));
    }
    /* The cluster right after "run": nothing before it to blame. */
    struct run_options o;
    char err[256] = "";
    assert_int_equal(parse(&o, err, "-xy", "--payload", "p", NULL), -EINVAL);
    assert_string_equal(err, "unknown option '-x'");
}

static void test_run_options__deny_cpu_on(void **state)
{
    (void)state;
    struct run_options o;
    char err[256];
    /* Accepted: one index, a list in the given order, repeated options accumulate, any order
     * relative to --cpus, user and auto mode. */
    assert_int_equal(parse(&o, err, "--payload", "p", "--cpus", "4", "--deny-cpu-on", "3", NULL), 0);
    assert_int_equal(o.nr_deny_cpu_on, 1);
    assert_int_equal(o.deny_cpu_on[0], 3);
    assert_int_equal(parse(&o, err, "--deny-cpu-on", "3,1", "--payload", "p", "--cpus", "4",
                           "--psci-mode", "user", NULL), 0);
    assert_int_equal(o.nr_deny_cpu_on, 2);
    assert_int_equal(o.deny_cpu_on[0], 3);
    assert_int_equal(o.deny_cpu_on[1], 1);
    assert_int_equal(parse(&o, err, "--payload", "p", "--cpus", "123", "--deny-cpu-on", "1",
                           "--deny-cpu-on=2,122", NULL), 0);
    assert_int_equal(o.nr_deny_cpu_on, 3);
    assert_int_equal(o.deny_cpu_on[2], 122);

    static const struct {
        const char *cpus, *list, *mode;
        const char *msg;
    } cases[] = {
        {"4", "0", "auto", "boot vCPU"},
        {"4", "1,0", "auto", "boot vCPU"},
        {"4", "4", "auto", "vCPU 4 does not exist"},
        {"1", "1", "auto", "vCPU 1 does not exist"},
        {"4", "123", "auto", "not a vCPU index"},
        {"4", "2,2", "auto", "vCPU 2 listed twice"},
        {"4", "1,3,1", "user", "vCPU 1 listed twice"},
        {"4", "", "auto", "not a comma-separated list"},
        {"4", ",1", "auto", "not a comma-separated list"},
        {"4", "1,", "auto", "not a comma-separated list"},
        {"4", "1,,2", "auto", "not a comma-separated list"},
        {"4", "-1", "auto", "not a vCPU index"},
        {"4", "+1", "auto", "not a vCPU index"},
        {"4", "1 ", "auto", "not a vCPU index"},
        {"4", "x", "auto", "not a vCPU index"},
        {"4", "99999999999999999999", "auto", "not a vCPU index"},
        {"4", "3", "kernel", "--deny-cpu-on needs user mode"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char e[256] = "";
        assert_int_equal(parse(&o, e, "--payload", "p", "--cpus", cases[i].cpus, "--psci-mode",
                               cases[i].mode, "--deny-cpu-on", cases[i].list, NULL),
                         -EINVAL);
        if (!strstr(e, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, e, cases[i].msg);
    }
    /* Duplicates across two options are caught too. */
    assert_int_equal(parse(&o, err, "--payload", "p", "--cpus", "4", "--deny-cpu-on", "1,2",
                           "--deny-cpu-on", "2", NULL), -EINVAL);
    assert_non_null(strstr(err, "vCPU 2 listed twice"));
    /* The help text documents the option. */
    assert_non_null(strstr(run_options_usage, "--deny-cpu-on LIST"));
}

static void test_run_options__policy_table(void **state)
{
    (void)state;
    static const struct {
        enum on_reset on_reset;
        enum system_request req;
        bool restart;
        int status;
    } cases[] = {
        {ON_RESET_RESTART, SYSTEM_REQ_OFF, false, PSCIVM_EXIT_OFF},
        {ON_RESET_EXIT, SYSTEM_REQ_OFF, false, PSCIVM_EXIT_OFF},
        {ON_RESET_RESTART, SYSTEM_REQ_OFF2, false, PSCIVM_EXIT_HIBERNATE},
        {ON_RESET_EXIT, SYSTEM_REQ_OFF2, false, PSCIVM_EXIT_HIBERNATE},
        {ON_RESET_RESTART, SYSTEM_REQ_RESET, true, PSCIVM_EXIT_RESET},
        {ON_RESET_EXIT, SYSTEM_REQ_RESET, false, PSCIVM_EXIT_RESET},
        {ON_RESET_RESTART, SYSTEM_REQ_RESET2, true, PSCIVM_EXIT_RESET},
        {ON_RESET_EXIT, SYSTEM_REQ_RESET2, false, PSCIVM_EXIT_RESET},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct run_options o = {.on_reset = cases[i].on_reset};
        struct policy_decision d = policy_system_request(&o, cases[i].req);
        assert_int_equal(d.restart, cases[i].restart);
        if (!d.restart)
            assert_int_equal(d.exit_status, cases[i].status);
        assert_non_null(d.reason);
    }
    /* Exit statuses are distinct. */
    assert_int_not_equal(PSCIVM_EXIT_OFF, PSCIVM_EXIT_HIBERNATE);
    assert_int_not_equal(PSCIVM_EXIT_RESET, PSCIVM_EXIT_HIBERNATE);
    struct run_options wait = {.on_suspend = ON_SUSPEND_WAIT};
    struct run_options deny = {.on_suspend = ON_SUSPEND_DENY};
    assert_int_equal(policy_system_suspend(&wait, true), SUSPEND_WAIT);
    assert_int_equal(policy_system_suspend(&wait, false), SUSPEND_DENY);
    assert_int_equal(policy_system_suspend(&deny, true), SUSPEND_DENY);
    assert_int_equal(policy_system_suspend(&deny, false), SUSPEND_DENY);
    /* exit: accepted, then pscivm ends; still denied while another vCPU is on. */
    struct run_options ex = {.on_suspend = ON_SUSPEND_EXIT};
    assert_int_equal(policy_system_suspend(&ex, true), SUSPEND_EXIT);
    assert_int_equal(policy_system_suspend(&ex, false), SUSPEND_DENY);
    assert_int_not_equal(PSCIVM_EXIT_SUSPEND, PSCIVM_EXIT_SIGNAL);
    struct run_options o;
    char err[256];
    assert_int_equal(parse(&o, err, "--payload", "p", "--on-suspend", "exit", NULL), 0);
    assert_int_equal(o.on_suspend, ON_SUSPEND_EXIT);
    assert_int_equal(parse(&o, err, "--payload", "p", "--on-suspend", "Exit", NULL), -EINVAL);
    assert_non_null(strstr(err, "wait, deny, exit or save=PATH"));
}

/* --on-suspend save=PATH and wait,save-after=SECONDS,file=PATH (issue 10): parsed values, the
 * policy's answer, and every malformed form refused with a message. */
static void test_run_options__on_suspend_save(void **state)
{
    (void)state;
    struct run_options o;
    char err[256];
    unsigned int delay = 99;
    assert_int_equal(parse(&o, err, "--payload", "p", "--on-suspend", "save=/v/s.snap", NULL), 0);
    assert_int_equal(o.on_suspend, ON_SUSPEND_SAVE);
    assert_string_equal(o.suspend_file, "/v/s.snap");
    assert_true(policy_suspend_save(&o, &delay));
    assert_int_equal(delay, 0);
    assert_int_equal(policy_system_suspend(&o, true), SUSPEND_WAIT); /* saved while waiting */
    assert_int_equal(policy_system_suspend(&o, false), SUSPEND_DENY);
    /* A path may hold commas and '=' after save=. */
    assert_int_equal(parse(&o, err, "--payload", "p", "--on-suspend", "save=a,b=c", NULL), 0);
    assert_string_equal(o.suspend_file, "a,b=c");
    assert_int_equal(parse(&o, err, "--payload", "p", "--on-suspend",
                           "wait,save-after=30,file=/x,y", NULL), 0);
    assert_int_equal(o.on_suspend, ON_SUSPEND_WAIT);
    assert_int_equal(o.save_after_s, 30);
    assert_string_equal(o.suspend_file, "/x,y");
    assert_true(policy_suspend_save(&o, &delay));
    assert_int_equal(delay, 30);
    assert_int_equal(parse(&o, err, "--payload", "p", "--on-suspend",
                           "wait,save-after=0,file=f", NULL), 0);
    assert_true(policy_suspend_save(&o, &delay));
    assert_int_equal(delay, 0);
    /* The last --on-suspend wins whole: no save left over from an earlier one. */
    assert_int_equal(parse(&o, err, "--payload", "p", "--on-suspend", "save=f", "--on-suspend",
                           "wait", NULL), 0);
    assert_null(o.suspend_file);
    assert_false(policy_suspend_save(&o, &delay));
    /* Restore takes it too (a restored guest may suspend again). */
    assert_int_equal(parse_restore(&o, err, "s.snap", "--on-suspend", "save=s.snap", NULL), 0);
    assert_int_equal(o.on_suspend, ON_SUSPEND_SAVE);
    static const char *const bad[][2] = {
        {"save=", "empty path"},
        {"save", "not wait, deny, exit or save=PATH"},
        {"wait,save-after=30", "go together"},
        {"wait,file=f", "go together"},
        {"wait,save-after=x,file=f", "save-after=x"},
        {"wait,save-after=-1,file=f", "save-after=-1"},
        {"wait,save-after=604801,file=f", "save-after=604801"},
        {"wait,save-after=99999999999999999999,file=f", "save-after="},
        {"wait,save-after=,file=f", "unknown option"},
        {"wait,file=", "empty path"},
        {"wait,bogus=1", "unknown option 'bogus=1'"},
        {"wait,", "unknown option"},
        {"exit,save-after=1,file=f", "only wait takes options"},
        {"deny,file=f", "only wait takes options"},
        {"waitx", "not wait"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        int r = parse(&o, err, "--payload", "p", "--on-suspend", bad[i][0], NULL);
        if (r != -EINVAL || !strstr(err, bad[i][1]))
            fail_msg("--on-suspend '%s': %d '%s'", bad[i][0], r, err);
    }
    assert_int_not_equal(PSCIVM_EXIT_SUSPENDED_TO_DISK, PSCIVM_EXIT_SUSPEND);
    assert_int_not_equal(PSCIVM_EXIT_SUSPENDED_TO_DISK, PSCIVM_EXIT_SAVED);
}

/* --seccomp: kill by default, for run and restore (a host-side option); bad words refused. */
static void test_run_options__seccomp(void **state)
{
    (void)state;
    struct run_options o;
    char err[256];
    assert_int_equal(parse(&o, err, "--payload", "p", NULL), 0);
    assert_int_equal(o.seccomp, RUN_SECCOMP_KILL);
    assert_int_equal(parse(&o, err, "--payload", "p", "--seccomp", "log", NULL), 0);
    assert_int_equal(o.seccomp, RUN_SECCOMP_LOG);
    assert_int_equal(parse(&o, err, "--payload", "p", "--seccomp", "off", NULL), 0);
    assert_int_equal(o.seccomp, RUN_SECCOMP_OFF);
    assert_int_equal(parse(&o, err, "--payload", "p", "--seccomp", "kill", NULL), 0);
    assert_int_equal(o.seccomp, RUN_SECCOMP_KILL);
    assert_int_equal(parse(&o, err, "--payload", "p", "--seccomp", "trap", NULL), -EINVAL);
    assert_string_equal(err, "--seccomp: 'trap' is not kill, log or off");
    assert_int_equal(parse(&o, err, "--payload", "p", "--seccomp", NULL), -EINVAL);
    assert_string_equal(err, "option '--seccomp' needs an argument");
    assert_int_equal(parse_restore(&o, err, "a.snap", "--seccomp", "log", NULL), 0);
    assert_int_equal(o.seccomp, RUN_SECCOMP_LOG);
    assert_int_equal(parse_restore(&o, err, "a.snap", NULL), 0);
    assert_int_equal(o.seccomp, RUN_SECCOMP_KILL);
    assert_string_equal(run_seccomp_name(RUN_SECCOMP_KILL), "kill");
    assert_string_equal(run_seccomp_name(RUN_SECCOMP_LOG), "log");
    assert_string_equal(run_seccomp_name(RUN_SECCOMP_OFF), "off");
    assert_non_null(strstr(run_options_usage, "--seccomp kill|log|off"));
    assert_non_null(strstr(restore_usage, "--seccomp kill|log|off"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_options__defaults),
        cmocka_unit_test(test_run_options__seccomp),
        cmocka_unit_test(test_run_options__restore),
        cmocka_unit_test(test_run_options__on_suspend_save),
        cmocka_unit_test(test_run_options__all_options),
        cmocka_unit_test(test_run_options__errors),
        cmocka_unit_test(test_run_options__numbers_are_digits_only),
        cmocka_unit_test(test_run_options__bad_option_names_itself),
        cmocka_unit_test(test_run_options__deny_cpu_on),
        cmocka_unit_test(test_run_options__policy_table),
    };
    return cmocka_run_group_tests_name("run_options", tests, NULL, NULL);
}
