/* file_image.h — a boot file (kernel Image, initrd) that pscivm copies into guest RAM at power-on
 * and again at every reset, read from the file each time without keeping a copy in memory and
 * without depending on the file staying as it was.
 *
 * The file is opened once and its descriptor kept; its identity (device, inode, size, mtime,
 * ctime) is recorded. Every copy re-checks the identity with fstat() and reads with pread(),
 * never through a mapping: a file truncated or rewritten in place since it was opened gives
 * -ESTALE and a message, never SIGBUS and never the new bytes under the old size and layout.
 * The check is deliberately conservative: ctime also moves when the file is chmod'ed, linked,
 * deleted or replaced (a rename over it unlinks the old inode), and those are refused too,
 * although the descriptor would still read the original bytes; ctime is what catches a
 * rewrite whose mtime was put back (cp -p, rsync -t), which size and mtime cannot. */
#ifndef PSCIVM_FILE_IMAGE_H
#define PSCIVM_FILE_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct file_image {
    int fd;
    char *path;         /* malloc'd copy, for messages; NULL when not open */
    const char *what;   /* "kernel Image", "initrd" (static string, for messages) */
    uint64_t size;      /* bytes, as at file_image_init() */
    /* identity at file_image_init() */
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    struct timespec ctime;
};

/* Open `path` (a regular file of at most max_size bytes; empty is fine) and record its
 * identity. `what` names it in messages and must outlive `img`. 0, or negative errno with `err`
 * naming the file: -ENOENT etc. from open, -EINVAL (not a regular file), -EFBIG (larger than
 * max_size), -ENOMEM. On failure `img` is closed (file_image_release() is a no-op). A zeroed
 * struct file_image is a valid closed one. */
int file_image_init(struct file_image *img, const char *what, const char *path,
                    uint64_t max_size, char *err, size_t errlen);

/* 0 when the file still has the identity recorded at file_image_init(); -ESTALE with a message
 * ("initrd X changed since pscivm started (size A -> B) ...") when it does not; -errno when
 * fstat fails; -EBADF when `img` is not open. */
int file_image_check(const struct file_image *img, char *err, size_t errlen);

/* Copy the first `len` bytes of the file (len <= img->size) to `dst`: identity check, pread()
 * to the end, identity check again (a change during the read is caught too). 0; -ESTALE when
 * the file changed or ended early (truncated while being read); -EINVAL when len > size;
 * -errno on a read error. `dst` may be partly written on failure. */
int file_image_copy(const struct file_image *img, void *dst, size_t len, char *err,
                    size_t errlen);

void file_image_release(struct file_image *img);

#endif
