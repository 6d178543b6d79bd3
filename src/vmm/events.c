/* events.c — JSON-lines event stream (see events.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "vmm/events.h"

uint64_t events_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int events_init(struct events *ev, const char *path)
{
    memset(ev, 0, sizeof(*ev));
    ev->fd = -1;
    ev->clock_ns = events_monotonic_ns;
    int err = pthread_mutex_init(&ev->lock, NULL);
    if (err)
        return -err;
    if (!path)
        return 0;
    if (!strcmp(path, "-")) {
        ev->fd = STDOUT_FILENO;
        return 0;
    }
    ev->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0644);
    if (ev->fd < 0) {
        err = -errno;
        pthread_mutex_destroy(&ev->lock);
        return err;
    }
    ev->own_fd = true;
    return 0;
}

void events_release(struct events *ev)
{
    if (ev->own_fd && ev->fd >= 0)
        close(ev->fd);
    ev->fd = -1;
    pthread_mutex_destroy(&ev->lock);
}

bool events_enabled(const struct events *ev)
{
    return ev->fd >= 0;
}

bool events_on_stdout(const struct events *ev)
{
    return ev->fd == STDOUT_FILENO;
}

struct json_object *events_hex(uint64_t value)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "0x%" PRIx64, value);
    return json_object_new_string(buf);
}

/* write() all of buf, retrying on EINTR / short writes. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int events_emit(struct events *ev, const char *name, int vcpu, struct json_object *fields)
{
    if (ev->fd < 0) {
        json_object_put(fields);
        return 0;
    }
    struct json_object *obj = json_object_new_object();
    if (!obj) {
        json_object_put(fields);
        return -ENOMEM;
    }
    json_object_object_add(obj, "event", json_object_new_string(name));
    json_object_object_add(obj, "t_ns", json_object_new_uint64(ev->clock_ns()));
    if (vcpu >= 0)
        json_object_object_add(obj, "vcpu", json_object_new_int(vcpu));
    if (fields) {
        json_object_object_foreach(fields, key, val) {
            json_object_object_add(obj, key, json_object_get(val));
        }
        json_object_put(fields);
    }
    size_t len;
    const char *text = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
    int err = -ENOMEM;
    char *line = text ? malloc(len + 2) : NULL;
    if (line) {
        memcpy(line, text, len);
        line[len] = '\n';
        pthread_mutex_lock(&ev->lock);
        err = write_all(ev->fd, line, len + 1);
        pthread_mutex_unlock(&ev->lock);
        free(line);
    }
    json_object_put(obj);
    return err;
}
