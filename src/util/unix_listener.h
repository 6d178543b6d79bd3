/* unix_listener.h — a listening Unix socket file with careful path rules, for control
 * sockets (QMP): created mode 0600; an existing socket nobody accepts on (connect() gets
 * ECONNREFUSED) is stale and replaced; a live socket or any other kind of file is an error
 * and is never deleted; release unlinks the path only if it is still the socket created. */
#ifndef PSCIVM_UTIL_UNIX_LISTENER_H
#define PSCIVM_UTIL_UNIX_LISTENER_H

#include <stddef.h>
#include <sys/types.h>

struct unix_listener {
    int fd; /* non-blocking, close-on-exec; -1 when not listening */
    char *path;
    dev_t dev; /* the socket file created (release unlinks only it) */
    ino_t ino;
};

/* Listen on path. 0, or -errno with a message naming path: -EADDRINUSE (a server listens
 * there), -EEXIST (not a socket), -ENAMETOOLONG, or what socket/bind/listen said. */
int unix_listener_init(struct unix_listener *l, const char *path, int backlog, char *err,
                       size_t errlen);
/* Close, and unlink the path if it is still our socket. */
void unix_listener_release(struct unix_listener *l);

#endif
