/* fuzz_qmp.c — libFuzzer target for the QMP command reader: the server (src/qmp/server.c:
 * streaming JSON framing, error recovery, limits) and the dispatcher (src/qmp/commands.c:
 * request checks, argument schemas, every command) fed the bytes a client sends. The server
 * runs on a real socket as in production, on the fake machine of tests/unit/qmp_harness.c
 * (stop/cont emit events; quit only records itself), with its loop driven from this thread.
 * Input: one control byte, then the client's bytes. Control bits 0-5: the bytes go out in
 * chunks of that many (0: all at once), each processed before the next; bit 6: negotiate
 * (qmp_capabilities) first, so commands run without the fuzzer having to find it. After the
 * client's EOF the server must answer what it was sent and close the connection. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "qmp_harness.h"

static struct loop loop;
static struct qmp_server srv;
static struct fake_vm vm;
static struct vm_control ctl;
static char dir[64], path[128];

static void cleanup(void)
{
    qmp_server_release(&srv);
    loop_release(&loop);
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof(dir), "/tmp/pscivm-fuzz-qmp-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof(path), "%s/qmp.sock", dir);
    fake_vm_init(&vm);
    ctl = fake_vm_control(&vm);
    char err[256];
    if (loop_init(&loop, NULL, NULL) || qmp_server_init(&srv, path, &loop, &ctl, err,
                                                        sizeof(err))) {
        fprintf(stderr, "fuzz_qmp: cannot start the server: %s\n", err);
        abort();
    }
    vm.emit_to = &srv;
    atexit(cleanup);
    return 0;
}

/* Read whatever the server sent so far (the client side never blocks). */
static size_t drain(int fd)
{
    char buf[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0)
            return total;
        total += (size_t)n;
    }
}

static void pump(int fd)
{
    for (int i = 0; i < 3; i++) {
        loop_run_once(&loop, 0);
        drain(fd);
    }
}

static void send_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pump(fd);
            continue;
        }
        if (n <= 0)
            return; /* the server closed the connection (a limit): fine */
        p += n;
        len -= (size_t)n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t control = data[0];
    data++, size--;
    size_t chunk = control & 0x3f;
    if (!chunk)
        chunk = size ? size : 1;

    pthread_mutex_lock(&vm.lock);
    vm.status = VM_STATUS_RUNNING;
    vm.log[0] = '\0';
    vm.fail_rc = 0;
    vm.fail_msg = NULL;
    pthread_mutex_unlock(&vm.lock);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        perror("fuzz_qmp: connect");
        abort();
    }
    for (int i = 0; i < 100 && srv.nr_conns == 0; i++)
        loop_run_once(&loop, 10);
    if (srv.nr_conns != 1) {
        fprintf(stderr, "fuzz_qmp: the connection was not accepted\n");
        abort();
    }
    pump(fd);
    if (control & 0x40) {
        static const char caps[] = "{\"execute\": \"qmp_capabilities\"}";
        send_all(fd, (const uint8_t *)caps, sizeof(caps) - 1);
        pump(fd);
    }
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        send_all(fd, data + off, n);
        pump(fd);
    }
    shutdown(fd, SHUT_WR);
    for (int i = 0; i < 1000 && srv.nr_conns; i++) {
        loop_run_once(&loop, 10);
        drain(fd);
    }
    if (srv.nr_conns) {
        fprintf(stderr, "fuzz_qmp: the server did not close the connection after EOF\n");
        abort();
    }
    drain(fd);
    close(fd);
    if (srv.listeners) {
        fprintf(stderr, "fuzz_qmp: %u listeners left with no client\n", srv.listeners);
        abort();
    }
    return 0;
}
