/* file_image.c — boot files read by descriptor with an identity check on every copy (see
 * file_image.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/file_image.h"

#define READ_CHUNK (1u << 30) /* bytes per pread(); Linux transfers at most ~2 GiB anyway */

static bool same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

int file_image_init(struct file_image *img, const char *what, const char *path,
                    uint64_t max_size, char *err, size_t errlen)
{
    memset(img, 0, sizeof(*img));
    img->fd = -1;
    img->what = what;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s %s: cannot open: %s", what, path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s %s: fstat: %s", what, path, strerror(e));
        close(fd);
        return -e;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s %s: not a regular file", what, path);
        close(fd);
        return -EINVAL;
    }
    if ((uint64_t)st.st_size > max_size) {
        snprintf(err, errlen, "%s %s: %llu MiB is larger than the limit of %llu MiB", what,
                 path, (unsigned long long)((uint64_t)st.st_size >> 20),
                 (unsigned long long)(max_size >> 20));
        close(fd);
        return -EFBIG;
    }
    img->path = strdup(path);
    if (!img->path) {
        snprintf(err, errlen, "%s %s: out of memory", what, path);
        close(fd);
        return -ENOMEM;
    }
    img->fd = fd;
    img->size = (uint64_t)st.st_size;
    img->dev = st.st_dev;
    img->ino = st.st_ino;
    img->mtime = st.st_mtim;
    img->ctime = st.st_ctim;
    return 0;
}

/* -ESTALE and a message saying what differs, or 0. */
static int compare_identity(const struct file_image *img, const struct stat *st, char *err,
                            size_t errlen)
{
    char how[160];
    if ((uint64_t)st->st_size != img->size)
        snprintf(how, sizeof(how), "size %llu -> %llu bytes", (unsigned long long)img->size,
                 (unsigned long long)st->st_size);
    else if (st->st_dev != img->dev || st->st_ino != img->ino)
        snprintf(how, sizeof(how), "a different file");
    else if (!same_time(&st->st_mtim, &img->mtime))
        snprintf(how, sizeof(how), "same size, modified since");
    else if (!same_time(&st->st_ctim, &img->ctime))
        snprintf(how, sizeof(how), "same size and mtime, but its inode changed: chmod, link, "
                 "unlink or rename over it, or a write with the mtime put back");
    else
        return 0;
    snprintf(err, errlen, "%s %s changed since pscivm started (%s): refusing to load it again; "
                          "restart pscivm to use the new file", img->what, img->path, how);
    return -ESTALE;
}

int file_image_check(const struct file_image *img, char *err, size_t errlen)
{
    if (!img->path || img->fd < 0) {
        snprintf(err, errlen, "%s: not open", img->what ? img->what : "file");
        return -EBADF;
    }
    struct stat st;
    if (fstat(img->fd, &st) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s %s: fstat: %s", img->what, img->path, strerror(e));
        return -e;
    }
    return compare_identity(img, &st, err, errlen);
}

int file_image_copy(const struct file_image *img, void *dst, size_t len, char *err,
                    size_t errlen)
{
    int rc = file_image_check(img, err, errlen);
    if (rc < 0)
        return rc;
    if (len > img->size) {
        snprintf(err, errlen, "%s %s: %zu bytes asked of a %llu-byte file", img->what,
                 img->path, len, (unsigned long long)img->size);
        return -EINVAL;
    }
    uint8_t *p = dst;
    size_t done = 0;
    while (done < len) {
        size_t n = len - done < READ_CHUNK ? len - done : READ_CHUNK;
        ssize_t r = pread(img->fd, p + done, n, (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            snprintf(err, errlen, "%s %s: read at byte %zu: %s", img->what, img->path, done,
                     strerror(e));
            return -e;
        }
        if (r == 0) {
            snprintf(err, errlen, "%s %s changed since pscivm started (ends at byte %zu of "
                                  "%llu: truncated while being read): refusing to load it "
                                  "again; restart pscivm to use the new file", img->what,
                     img->path, done, (unsigned long long)img->size);
            return -ESTALE;
        }
        done += (size_t)r;
    }
    /* A write racing the read changes mtime (or the size): the bytes may be mixed. */
    return file_image_check(img, err, errlen);
}

void file_image_release(struct file_image *img)
{
    if (img->path) {
        if (img->fd >= 0)
            close(img->fd);
        free(img->path);
    }
    img->fd = -1;
    img->path = NULL;
}
