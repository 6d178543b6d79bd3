/* file.c — atomic snapshot files: temporary file in the target's directory, fsync, rename,
 * fsync of the directory (see file.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot/file.h"
#include "snapshot/format.h"

int snapshot_file_create(struct snapshot_file *f, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    if (!path || !*path)
        return snapshot_error(err, errlen, -EINVAL, "snapshot: empty path");
    f->path = strdup(path);
    if (!f->path || asprintf(&f->tmp_path, "%s.tmp.XXXXXX", path) < 0) {
        f->tmp_path = NULL;
        snapshot_file_release(f);
        return snapshot_error(err, errlen, -ENOMEM, "snapshot: out of memory");
    }
    f->fd = mkostemp(f->tmp_path, O_CLOEXEC);
    if (f->fd < 0) {
        int e = errno;
        snapshot_error(err, errlen, -e, "snapshot: creating %s: %s", f->tmp_path, strerror(e));
        free(f->tmp_path);
        f->tmp_path = NULL;
        snapshot_file_release(f);
        return -e;
    }
    return 0;
}

static int sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int snapshot_file_commit(struct snapshot_file *f, char *err, size_t errlen)
{
    if (f->fd < 0 || !f->tmp_path)
        return snapshot_error(err, errlen, -EINVAL, "snapshot: nothing to commit");
    int rc = 0;
    if (fsync(f->fd) < 0)
        rc = snapshot_error(err, errlen, -errno, "snapshot: fsync %s: %s", f->tmp_path,
                            strerror(errno));
    if (close(f->fd) < 0 && !rc)
        rc = snapshot_error(err, errlen, -errno, "snapshot: close %s: %s", f->tmp_path,
                            strerror(errno));
    f->fd = -1;
    if (!rc && rename(f->tmp_path, f->path) < 0)
        rc = snapshot_error(err, errlen, -errno, "snapshot: rename to %s: %s", f->path,
                            strerror(errno));
    if (rc) {
        snapshot_file_abort(f);
        return rc;
    }
    free(f->tmp_path);
    f->tmp_path = NULL;
    rc = sync_dir(f->path);
    if (rc)
        return snapshot_error(err, errlen, rc, "snapshot: fsync of %s's directory: %s", f->path,
                              strerror(-rc));
    return 0;
}

void snapshot_file_abort(struct snapshot_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp_path)
        unlink(f->tmp_path);
    free(f->tmp_path);
    f->tmp_path = NULL;
}

void snapshot_file_release(struct snapshot_file *f)
{
    snapshot_file_abort(f);
    free(f->path);
    f->path = NULL;
}
