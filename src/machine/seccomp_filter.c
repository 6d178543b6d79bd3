/* seccomp_filter.c — the system-call allow-list pscivm runs under once its VM is built
 * (--seccomp, docs/seccomp.md): every system call pscivm makes from the first guest instruction
 * to exit, each with the reason it is needed. Anything else kills the process (SIGSYS) or, with
 * --seccomp log, is allowed and logged by the kernel (audit type=1326).
 *
 * What is gone once the filter is in: opening devices and creating VMs, vCPUs or KVM devices
 * (only the run-time KVM ioctls the backend lists remain), sockets other than the accepted QMP
 * connections (no socket, connect or bind), new processes and programs (clone only with
 * CLONE_THREAD, no fork, no execve), executable memory (mmap/mprotect without PROT_EXEC), and
 * everything else the kernel offers (ptrace, mount, bpf, keyctl, ...).
 *
 * The names are aarch64's (pscivm's target); a name the build's architecture does not have is
 * skipped there, so the native build compiles and its unit test exercises the same code. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "machine/seccomp_filter.h"

/* How a system call's arguments are limited. */
enum rule {
    RULE_ANY,          /* any arguments */
    RULE_IOCTL,        /* request (arg 1) on the ioctl list below */
    RULE_THREAD,       /* clone: flags (arg 0) include CLONE_THREAD — threads, never processes */
    RULE_NO_EXEC,      /* mmap / mprotect: prot (arg 2) without PROT_EXEC */
    RULE_ENOSYS,       /* not allowed: fails with ENOSYS (glibc falls back to a filterable call) */
    RULE_SETFD,        /* fcntl: command (arg 1) F_SETFD only */
};

struct entry {
    const char *name;
    enum rule rule;
    const char *why;
};

/* The list. Keep docs/seccomp.md's table and count in step (the unit test checks the count). */
static const struct entry entries[] = {
    /* ---- descriptors: devices, console, events, eventfd/timerfd/signalfd counters ---- */
    {"read", RULE_ANY, "eventfd, signalfd and timerfd counters; console input; the console "
                       "reader's wake-up pipe"},
    {"write", RULE_ANY, "console output, the --events stream, stderr messages, eventfd "
                        "wake-ups (main loop, QMP server, I/O thread)"},
    {"readv", RULE_ANY, "stdio may gather reads"},
    {"writev", RULE_ANY, "stdio may gather a buffered line and new data into one write"},
    {"pread64", RULE_ANY, "virtio-blk reads; vCPU binary statistics (kernel mode); the boot "
                          "images re-read into RAM on a guest reset"},
    {"pwrite64", RULE_ANY, "virtio-blk writes; snapshot-save's section writer"},
    {"lseek", RULE_ANY, "snapshot-save's writer finds its file offset"},
    {"close", RULE_ANY, "QMP connections, snapshot files, teardown of every descriptor"},
    {"fsync", RULE_ANY, "snapshot-save: the file and then its directory reach the disk"},
    {"fdatasync", RULE_ANY, "virtio-blk FLUSH"},
    {"openat", RULE_ANY, "snapshot-save: the temporary file (O_CREAT|O_EXCL) and its "
                         "directory (for fsync)"},
    {"renameat", RULE_ANY, "snapshot-save: the temporary file becomes the snapshot atomically"},
    {"renameat2", RULE_ANY, "the same on C libraries that rename with renameat2"},
    {"unlinkat", RULE_ANY, "snapshot-save: a failed save removes its temporary file; the QMP "
                           "socket file is removed at exit"},
    {"newfstatat", RULE_ANY, "stdio's first use of a stream; the boot images checked "
                             "unchanged before a reset; snapshot-save's disk identities; the "
                             "QMP socket file checked before it is removed"},
    {"fstat", RULE_ANY, "the same through fstat on C libraries that use it"},
    {"statx", RULE_ANY, "the same on C libraries that use statx"},
    {"getrandom", RULE_ANY, "snapshot-save: mkostemp's random temporary name"},
    {"ioctl", RULE_IOCTL, "KVM run-time ioctls on the VM, vCPU and vGIC descriptors (KVM_RUN, "
                          "registers, MP states, interrupts, snapshots) and the console "
                          "terminal's TCGETS/TCSETS*: see the request list"},
    /* ---- the main loop, the console reader, the I/O thread, QMP ---- */
    {"epoll_pwait", RULE_ANY, "the main loop waits (epoll_wait on aarch64)"},
    {"epoll_pwait2", RULE_ANY, "the same on C libraries that use epoll_pwait2"},
    {"epoll_ctl", RULE_ANY, "QMP clients come and go in the main loop"},
    {"ppoll", RULE_ANY, "poll on aarch64: the console reader, the virtio I/O thread, the QMP "
                        "server draining its replies"},
    {"timerfd_settime", RULE_ANY, "the PL031 RTC alarm (re)armed by the guest"},
    {"timerfd_gettime", RULE_ANY, "the PL031 RTC reads its alarm timer"},
    {"accept4", RULE_ANY, "QMP: a client connects to the listening socket made before"},
    {"recvfrom", RULE_ANY, "QMP: commands from clients (recv)"},
    {"sendto", RULE_ANY, "QMP: replies and events to clients (send, MSG_NOSIGNAL)"},
    {"shutdown", RULE_ANY, "QMP: a client dropped after a protocol error"},
    /* ---- threads, signals, time ---- */
    {"clone", RULE_THREAD, "vCPU threads, started again on every in-process restart (threads "
                           "only: CLONE_THREAD required, so no fork)"},
    {"clone3", RULE_ENOSYS, "refused with ENOSYS: its flags are in memory where seccomp cannot "
                            "see them; glibc then uses clone"},
    {"set_robust_list", RULE_ANY, "each new thread registers its robust futex list"},
    {"rseq", RULE_ANY, "each new thread registers restartable sequences (glibc >= 2.35)"},
    {"futex", RULE_ANY, "mutexes, condition variables, pthread_join"},
    {"exit", RULE_ANY, "a thread ends (vCPU threads on every stop and restart)"},
    {"exit_group", RULE_ANY, "pscivm exits"},
    {"rt_sigprocmask", RULE_ANY, "thread creation blocks signals around clone; vCPU threads "
                                 "unblock SIGUSR1 (their kick)"},
    {"rt_sigaction", RULE_ANY, "the console puts back the signal handlers it changed at exit"},
    {"rt_sigreturn", RULE_ANY, "return from the SIGUSR1 handler that kicks a vCPU out of "
                               "KVM_RUN"},
    {"tgkill", RULE_ANY, "pthread_kill(SIGUSR1) kicks a vCPU thread; raise() of a fatal signal "
                         "after the console restored the terminal"},
    {"getpid", RULE_ANY, "pthread_kill and raise name the process"},
    {"gettid", RULE_ANY, "pthread_kill and raise name the thread"},
    {"sigaltstack", RULE_ANY, "sanitizer builds (ASan/UBSan) give each thread an alternate "
                              "signal stack"},
    {"sched_getaffinity", RULE_ANY, "sanitizer builds count the CPUs when a thread starts"},
    {"restart_syscall", RULE_ANY, "the kernel restarts a call interrupted by a signal"},
    {"clock_gettime", RULE_ANY, "timestamps (events, RTC, timeouts) when the vDSO falls back "
                                "to the system call"},
    {"clock_nanosleep", RULE_ANY, "short waits (nanosleep/usleep in the C library)"},
    {"sched_yield", RULE_ANY, "the C library's spinning locks may yield"},
    /* ---- memory ---- */
    {"mmap", RULE_NO_EXEC, "malloc's large blocks, thread stacks, zstd's work space "
                           "(snapshot-save); never executable"},
    {"mprotect", RULE_NO_EXEC, "guard pages of new thread stacks; never executable"},
    {"munmap", RULE_ANY, "free() of large blocks, thread stacks, teardown of guest RAM and the "
                         "vCPUs' run structures"},
    {"mremap", RULE_ANY, "realloc() of large blocks"},
    {"madvise", RULE_ANY, "guest RAM dropped (MADV_DONTNEED) before the boot images are "
                          "reloaded on a reset; freed thread stacks and heap"},
    {"brk", RULE_ANY, "malloc's heap"},
#ifdef __SANITIZE_ADDRESS__
    /* ---- sanitizer builds only (ASan+UBSan: make asan-arm64, the ASan unit tests; never
     * bin/pscivm): what a sanitizer report made under the filter needs, so that it is written
     * completely instead of ending in SIGSYS halfway (docs/seccomp.md) ---- */
    {"fcntl", RULE_SETFD, "sanitizer reports: the in-process symbolizer (libbacktrace) marks "
                          "each file it opens close-on-exec"},
    {"readlinkat", RULE_ANY, "sanitizer reports: UBSan's runtime starts at its first report and "
                             "reads /proc/self/exe; the symbolizer follows symlinked libraries"},
    {"readlink", RULE_ANY, "the same on x86_64 (the native ASan unit tests)"},
    {"open", RULE_ANY, "sanitizer reports on x86_64: the runtimes open their log file, "
                       "/proc/self/maps and the symbolizer's files with open (aarch64 has only "
                       "openat)"},
#endif
};

/* Terminal requests of the console (tcgetattr, tcsetattr, isatty). */
static const unsigned long console_ioctls[] = {
    TCGETS,  /* tcgetattr, isatty (stdio's first use of stdout) */
    TCSETS,  /* tcsetattr(TCSANOW): raw mode and its restore */
    TCSETSW, /* tcsetattr(TCSADRAIN) */
    TCSETSF, /* tcsetattr(TCSAFLUSH) */
};

static int fail(char *err, size_t errlen, int rc, const char *what)
{
    snprintf(err, errlen, "seccomp: %s: %s", what, strerror(-rc));
    return rc;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned int n,
                    const struct scmp_arg_cmp *cmp)
{
    /* seccomp_rule_add (not _exact): libseccomp may rewrite a rule for an architecture
     * (several comparisons of one argument). */
    return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

int seccomp_filter_init(struct seccomp_filter *f, enum run_seccomp mode, uint32_t arch,
                        const unsigned long *ioctls, size_t nr_ioctls, char *err, size_t errlen)
{
    *f = (struct seccomp_filter){.mode = mode};
    if (mode == RUN_SECCOMP_OFF)
        return 0;
    uint32_t deny = SCMP_ACT_KILL_PROCESS;
    if (mode == RUN_SECCOMP_LOG) {
        /* API level 3: the kernel has SECCOMP_RET_LOG (Linux >= 4.14). */
        if (seccomp_api_get() < 3) {
            snprintf(err, errlen, "--seccomp log: this kernel has no SECCOMP_RET_LOG (it "
                     "needs Linux >= 4.14); use --seccomp kill or off");
            return -EOPNOTSUPP;
        }
        deny = SCMP_ACT_LOG;
    }
    scmp_filter_ctx ctx = seccomp_init(deny);
    if (!ctx) {
        snprintf(err, errlen, "seccomp: cannot create a filter with the %s action (kernel "
                 "without seccomp filters, or too old for it)",
                 mode == RUN_SECCOMP_LOG ? "log" : "kill-process");
        return -EOPNOTSUPP;
    }
    f->ctx = ctx;
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, deny);
    if (!rc)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (rc) {
        seccomp_filter_release(f);
        return fail(err, errlen, rc, "setting the filter's attributes");
    }
    uint32_t target = arch ? arch : seccomp_arch_native();
    if (target != seccomp_arch_native()) {
        rc = seccomp_arch_add(ctx, target);
        if (!rc)
            rc = seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE);
        if (rc) {
            seccomp_filter_release(f);
            return fail(err, errlen, rc, "selecting the architecture");
        }
    }
    for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
        const struct entry *e = &entries[i];
        /* Rules take the native number; libseccomp translates it for the target by name. */
        int nr = seccomp_syscall_resolve_name(e->name);
        if (nr == __NR_SCMP_ERROR || seccomp_syscall_resolve_name_arch(target, e->name) < 0)
            continue; /* not a system call of this architecture */
        rc = 0;
        switch (e->rule) {
        case RULE_ANY:
            rc = add_rule(ctx, SCMP_ACT_ALLOW, nr, 0, NULL);
            break;
        case RULE_THREAD: {
            struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
            rc = add_rule(ctx, SCMP_ACT_ALLOW, nr, 1, &c);
            break;
        }
        case RULE_NO_EXEC: {
            struct scmp_arg_cmp c = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
            rc = add_rule(ctx, SCMP_ACT_ALLOW, nr, 1, &c);
            break;
        }
        case RULE_ENOSYS:
            rc = add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0, NULL);
            break;
        case RULE_SETFD: {
            /* The kernel takes the command as an unsigned int: compare 32 bits. */
            struct scmp_arg_cmp c = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, F_SETFD);
            rc = add_rule(ctx, SCMP_ACT_ALLOW, nr, 1, &c);
            break;
        }
        case RULE_IOCTL:
            for (size_t k = 0; !rc && k < nr_ioctls + sizeof(console_ioctls) /
                                               sizeof(console_ioctls[0]); k++) {
                unsigned long req = k < nr_ioctls ? ioctls[k] : console_ioctls[k - nr_ioctls];
                /* The kernel takes the request as an unsigned int: compare 32 bits. */
                struct scmp_arg_cmp c = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL,
                                                req & 0xffffffffUL);
                rc = add_rule(ctx, SCMP_ACT_ALLOW, nr, 1, &c);
                f->nr_ioctls += rc == 0;
            }
            break;
        }
        if (rc) {
            char what[96];
            snprintf(what, sizeof(what), "adding %s to the allow-list", e->name);
            seccomp_filter_release(f);
            return fail(err, errlen, rc, what);
        }
        f->nr_syscalls += e->rule != RULE_ENOSYS;
    }
    return 0;
}

int seccomp_filter_load(struct seccomp_filter *f, char *err, size_t errlen)
{
    if (f->mode == RUN_SECCOMP_OFF)
        return 0;
    if (!f->ctx)
        return fail(err, errlen, -EINVAL, "no filter was built");
    int rc = seccomp_load(f->ctx);
    if (rc == -ESRCH) {
        snprintf(err, errlen, "seccomp: a thread of pscivm could not be given the filter "
                 "(TSYNC)");
        return rc;
    }
    if (rc)
        return fail(err, errlen, rc == -ECANCELED ? -EPERM : rc,
                    "the kernel refused the filter (seccomp filters or TSYNC unavailable)");
    f->loaded = true;
    return 0;
}

int seccomp_filter_export(const struct seccomp_filter *f, int fd)
{
    if (!f->ctx)
        return -EINVAL;
    return seccomp_export_bpf(f->ctx, fd);
}

void seccomp_filter_release(struct seccomp_filter *f)
{
    if (f->ctx)
        seccomp_release(f->ctx);
    f->ctx = NULL;
}

int seccomp_filter_selftest(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}
