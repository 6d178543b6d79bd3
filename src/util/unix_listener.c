/* unix_listener.c — a listening Unix socket file with careful path rules (unix_listener.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/unix_listener.h"
#include "util/errbuf.h"

/* 0: a socket nobody accepts on (stale), -EADDRINUSE: a live server, or -errno. */
static int probe(const struct sockaddr_un *addr)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
    int e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
        return -EADDRINUSE; /* EAGAIN: listening, its backlog full */
    return e == ECONNREFUSED || e == ENOENT ? 0 : -e;
}

/* Remove a stale socket at path; refuse anything else. */
static int clear_path(const struct sockaddr_un *addr, char *err, size_t errlen)
{
    const char *path = addr->sun_path;
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return errbuf_fail(err, errlen, -errno, "cannot stat %s: %s", path, strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode))
        return errbuf_fail(err, errlen, -EEXIST, "%s exists and is not a socket (left untouched)",
                           path);
    int rc = probe(addr);
    if (rc == -EADDRINUSE)
        return errbuf_fail(err, errlen, rc, "%s: another server is listening on this socket", path);
    if (rc < 0)
        return errbuf_fail(err, errlen, rc, "cannot check whether %s is in use: %s", path,
                           strerror(-rc));
    if (unlink(path) < 0 && errno != ENOENT)
        return errbuf_fail(err, errlen, -errno, "cannot remove stale socket %s: %s", path,
                           strerror(errno));
    return 0;
}

int unix_listener_init(struct unix_listener *l, const char *path, int backlog, char *err,
                       size_t errlen)
{
    *l = (struct unix_listener){.fd = -1};
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (!*path || strlen(path) >= sizeof(addr.sun_path))
        return errbuf_fail(err, errlen, -ENAMETOOLONG, "socket path '%s': empty or longer than %zu "
                           "bytes", path, sizeof(addr.sun_path) - 1);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int rc = clear_path(&addr, err, errlen);
    if (rc)
        return rc;

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errbuf_fail(err, errlen, -errno, "socket(AF_UNIX): %s", strerror(errno));
    /* Linux creates the socket file with the socket inode's mode (minus the umask): 0600
     * from the first instant; chmod then makes it exactly 0600 whatever the umask. */
    (void)fchmod(fd, 0600);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;
        close(fd);
        return errbuf_fail(err, errlen, -e, "cannot bind socket %s: %s", path, strerror(e));
    }
    struct stat st;
    int e = 0;
    if (chmod(path, 0600) < 0 || lstat(path, &st) < 0 || listen(fd, backlog) < 0)
        e = errno;
    l->path = e ? NULL : strdup(path);
    if (!e && !l->path)
        e = ENOMEM;
    if (e) {
        unlink(path);
        close(fd);
        return errbuf_fail(err, errlen, -e, "cannot listen on socket %s: %s", path, strerror(e));
    }
    l->fd = fd;
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    return 0;
}

void unix_listener_release(struct unix_listener *l)
{
    if (l->fd >= 0)
        close(l->fd);
    struct stat st;
    if (l->path && lstat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
        unlink(l->path);
    free(l->path);
    *l = (struct unix_listener){.fd = -1};
}
