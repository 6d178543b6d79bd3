/* file.h — atomic snapshot files: a snapshot is written to "<path>.tmp.XXXXXX" in the same
 * directory and only renamed over <path> after it is complete and on disk, so <path> always
 * holds either the previous snapshot or the new one, whole, whatever happens (crash, power
 * loss, ENOSPC, an error in the writer). A crash may leave a "<path>.tmp.*" file behind; it is
 * never read. */
#ifndef PSCIVM_SNAPSHOT_FILE_H
#define PSCIVM_SNAPSHOT_FILE_H

#include <stdbool.h>
#include <stddef.h>

struct snapshot_file {
    char *path;
    char *tmp_path;
    int fd;          /* the temporary file, open for writing (hand it to snapshot_writer_init) */
};

/* Create the temporary file (mode 0600). 0, or -errno with err. */
int snapshot_file_create(struct snapshot_file *f, const char *path, char *err, size_t errlen);
/* fsync the file, close it, rename it over path, fsync the directory. On error the temporary
 * file is removed and path is unchanged (except when only the directory fsync failed: then the
 * rename happened, and -errno says the new name may not be durable yet). */
int snapshot_file_commit(struct snapshot_file *f, char *err, size_t errlen);
/* Close and unlink the temporary file; path is unchanged. Safe to call after commit (no-op). */
void snapshot_file_abort(struct snapshot_file *f);
/* abort() if not committed, and free everything. */
void snapshot_file_release(struct snapshot_file *f);

#endif
