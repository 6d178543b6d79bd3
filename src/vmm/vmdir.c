/* vmdir.c — a VM's directory (vmdir.h): the lock held by the running pscivm, the definition
 * and the hibernation record read and written atomically, and the state `pscivm status`
 * reports. The record's JSON:
 *   {"format": 1, "state": "hibernated", "time": "2026-12-04T20:01:02Z", "unix_time": N,
 *    "off2_type": 1 (or null: not readable), "host_kernel": "7.2.0-1-arm64",
 *    "psci_mode": "user", "written_by": "pscivm ...", "machine": {the definition}} */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "vmm/vmdir.h"

void vm_hibernation_init(struct vm_hibernation *h)
{
    memset(h, 0, sizeof(*h));
    vmdef_init(&h->machine);
}

void vm_hibernation_release(struct vm_hibernation *h)
{
    vmdef_release(&h->machine);
    vm_hibernation_init(h);
}

int vm_hibernation_to_json(const struct vm_hibernation *h, const char *writer, char **out)
{
    json_object *m;
    int rc = vmdef_to_object(&h->machine, NULL, &m);
    if (rc)
        return rc;
    json_object *o = json_object_new_object();
    char when[32];
    time_t t = (time_t)h->time;
    struct tm tm;
    if (h->time > VMDIR_TIME_MAX || !gmtime_r(&t, &tm)) {
        json_object_put(m);
        json_object_put(o);
        return -EOVERFLOW; /* the parser refuses such a time; a caller set it */
    }
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_object_add(o, "format", json_object_new_int(VMDIR_RECORD_FORMAT));
    json_object_object_add(o, "state", json_object_new_string("hibernated"));
    json_object_object_add(o, "time", json_object_new_string(when));
    json_object_object_add(o, "unix_time", json_object_new_int64(h->time));
    json_object_object_add(o, "off2_type", h->type_read ? json_object_new_int64(h->type) : NULL);
    json_object_object_add(o, "host_kernel", json_object_new_string(h->host_kernel));
    json_object_object_add(o, "psci_mode", json_object_new_string(psci_mode_name(h->mode)));
    if (writer)
        json_object_object_add(o, "written_by", json_object_new_string(writer));
    json_object_object_add(o, "machine", m);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                         JSON_C_TO_STRING_SPACED |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t len = text ? strlen(text) : 0;
    *out = text ? malloc(len + 2) : NULL;
    if (*out)
        snprintf(*out, len + 2, "%s\n", text);
    json_object_put(o);
    return *out ? 0 : -ENOMEM;
}

static int fail(char *err, size_t errlen, int rc, const char *path, const char *msg)
{
    snprintf(err, errlen, "%s: %s", path, msg);
    return rc;
}

int vm_hibernation_parse(const char *text, size_t len, struct vm_hibernation *h, char *err,
                         size_t errlen)
{
    static const char *const keys[] = {"format", "state", "time", "unix_time", "off2_type",
                                       "host_kernel", "psci_mode", "written_by", "machine",
                                       NULL};
    vm_hibernation_init(h);
    if (len == 0 || len > (1u << 20) || memchr(text, '\0', len))
        return fail(err, errlen, -EINVAL, "(top level)", "not JSON text");
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return fail(err, errlen, -ENOMEM, "(top level)", "out of memory");
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    bool whole = o && json_tokener_get_error(tok) == json_tokener_success;
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    while (whole && end < len && strchr(" \t\r\n", text[end]))
        end++;
    int rc = -EINVAL;
    json_object *v;
    if (!whole || end != len) {
        fail(err, errlen, rc, "(top level)", "not one JSON value");
        goto out;
    }
    if (!json_object_is_type(o, json_type_object)) {
        fail(err, errlen, rc, "(top level)", "expected a JSON object");
        goto out;
    }
    json_object_object_foreach(o, key, val) {
        (void)val;
        bool known = false;
        for (const char *const *k = keys; *k && !known; k++)
            known = !strcmp(*k, key);
        if (!known) {
            snprintf(err, errlen, "%.64s: unknown member", key);
            goto out;
        }
    }
    if (!json_object_object_get_ex(o, "format", &v) || !json_object_is_type(v, json_type_int) ||
        json_object_get_int64(v) != VMDIR_RECORD_FORMAT) {
        fail(err, errlen, rc, "format", "missing, or not a record format this pscivm reads (1)");
        goto out;
    }
    if (!json_object_object_get_ex(o, "state", &v) || !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), "hibernated")) {
        fail(err, errlen, rc, "state", "expected \"hibernated\"");
        goto out;
    }
    if (!json_object_object_get_ex(o, "unix_time", &v) || !json_object_is_type(v, json_type_int) ||
        json_object_get_int64(v) < 0 || json_object_get_int64(v) > VMDIR_TIME_MAX) {
        fail(err, errlen, rc, "unix_time",
             "missing, or not an integer from 0 to 253402300799 (9999-12-31T23:59:59Z)");
        goto out;
    }
    h->time = json_object_get_int64(v);
    if (!json_object_object_get_ex(o, "off2_type", &v) ||
        (v && (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
               json_object_get_int64(v) > UINT32_MAX))) {
        fail(err, errlen, rc, "off2_type", "missing, or neither null nor a 32-bit type");
        goto out;
    }
    h->type_read = v != NULL;
    h->type = v ? (uint32_t)json_object_get_int64(v) : 0;
    if (!json_object_object_get_ex(o, "host_kernel", &v) || !json_object_is_type(v, json_type_string) ||
        (size_t)json_object_get_string_len(v) >= sizeof(h->host_kernel)) {
        fail(err, errlen, rc, "host_kernel", "missing or not a string of at most 64 bytes");
        goto out;
    }
    snprintf(h->host_kernel, sizeof(h->host_kernel), "%s", json_object_get_string(v));
    if (!json_object_object_get_ex(o, "psci_mode", &v) || !json_object_is_type(v, json_type_string) ||
        (strcmp(json_object_get_string(v), "user") && strcmp(json_object_get_string(v), "kernel"))) {
        fail(err, errlen, rc, "psci_mode", "expected \"user\" or \"kernel\"");
        goto out;
    }
    h->mode = strcmp(json_object_get_string(v), "user") ? PSCI_MODE_KERNEL : PSCI_MODE_USER;
    if (!json_object_object_get_ex(o, "machine", &v)) {
        fail(err, errlen, rc, "machine", "missing");
        goto out;
    }
    rc = vmdef_from_object(v, "machine.", &h->machine, err, errlen);
out:
    json_object_put(o);
    return rc;
}

/* ---- the directory ---- */

void vm_dir_init(struct vm_dir *vd)
{
    memset(vd, 0, sizeof(*vd));
    vd->lock_fd = -1;
    vmdef_init(&vd->def);
    vmdef_init(&vd->cand);
    vm_hibernation_init(&vd->hib);
}

void vm_dir_release(struct vm_dir *vd)
{
    if (vd->lock_fd >= 0)
        close(vd->lock_fd); /* drops the flock */
    vmdef_release(&vd->def);
    vmdef_release(&vd->cand);
    vm_hibernation_release(&vd->hib);
    free(vd->path);
    vm_dir_init(vd);
}

static char *join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s", dir, name);
    return p;
}

/* The whole of DIR/name (NUL-terminated, *len bytes): 0, -ENOENT when absent, -errno. */
static int read_file(const char *dir, const char *name, char **text, size_t *len)
{
    char *path = join(dir, name);
    if (!path)
        return -ENOMEM;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return -errno;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    int rc = buf ? 0 : -ENOMEM;
    while (!rc) {
        if (n == cap) {
            if (cap > (2u << 20)) { /* more than any definition: let the parser refuse it */
                break;
            }
            char *b = realloc(buf, cap * 2 + 1);
            if (!b) {
                rc = -ENOMEM;
                break;
            }
            buf = b;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = -errno;
        else if (r == 0)
            break;
        else
            n += (size_t)r;
    }
    close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

/* Read and parse DIR/vm.json and DIR/hibernation.json into def/hib. */
static int load(const char *dir, struct vmdef *def, bool *has_def, struct vm_hibernation *hib,
                bool *hibernated, char *err, size_t errlen)
{
    char *text;
    size_t len;
    char msg[400];
    int rc = read_file(dir, VMDIR_DEF, &text, &len);
    *has_def = *hibernated = false;
    if (rc == -ENOENT)
        return 0;
    if (rc) {
        snprintf(err, errlen, "%s/%s: %s", dir, VMDIR_DEF, strerror(-rc));
        return rc;
    }
    rc = vmdef_parse(text, len, def, msg, sizeof(msg));
    free(text);
    if (rc) {
        snprintf(err, errlen, "%s/%s: %s", dir, VMDIR_DEF, msg);
        return rc;
    }
    *has_def = true;
    rc = read_file(dir, VMDIR_HIBERNATION, &text, &len);
    if (rc == -ENOENT)
        return 0;
    if (!rc) {
        rc = vm_hibernation_parse(text, len, hib, msg, sizeof(msg));
        free(text);
    } else {
        snprintf(msg, sizeof(msg), "%s", strerror(-rc));
    }
    if (rc) {
        snprintf(err, errlen, "%s/%s: %s", dir, VMDIR_HIBERNATION, msg);
        return rc;
    }
    *hibernated = true;
    return 0;
}

/* The pid written in a lock file (0 when unreadable). */
static long lock_pid(int fd)
{
    char buf[24] = "";
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    return n > 0 ? strtol(buf, NULL, 10) : 0;
}

int vm_dir_open(struct vm_dir *vd, const char *path, char *err, size_t errlen)
{
    vm_dir_init(vd);
    if (!(vd->path = strdup(path)))
        return fail(err, errlen, -ENOMEM, path, "out of memory");
    if (mkdir(path, 0755) && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot create the VM directory: %s", path, strerror(e));
        return -e;
    }
    char *lp = join(path, VMDIR_LOCK);
    if (!lp)
        return fail(err, errlen, -ENOMEM, path, "out of memory");
    vd->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    int e = errno;
    free(lp);
    if (vd->lock_fd < 0) {
        snprintf(err, errlen, "%s/%s: %s", path, VMDIR_LOCK, strerror(e));
        return -e;
    }
    if (flock(vd->lock_fd, LOCK_EX | LOCK_NB)) {
        e = errno;
        if (e == EWOULDBLOCK) {
            snprintf(err, errlen, "%s: the VM is running (pscivm pid %ld holds %s/%s)", path,
                     lock_pid(vd->lock_fd), path, VMDIR_LOCK);
            return -EBUSY;
        }
        snprintf(err, errlen, "%s/%s: flock: %s", path, VMDIR_LOCK, strerror(e));
        return -e;
    }
    char pid[24];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(vd->lock_fd, 0) || pwrite(vd->lock_fd, pid, (size_t)n, 0) != n) {
        e = errno;
        snprintf(err, errlen, "%s/%s: writing the pid: %s", path, VMDIR_LOCK, strerror(e));
        return -e;
    }
    return load(path, &vd->def, &vd->has_def, &vd->hib, &vd->hibernated, err, errlen);
}

/* DIR/name <- text, atomically: DIR/.name.tmp written and fsynced, renamed, DIR fsynced. */
static int write_atomic(const char *dir, const char *name, const char *text, char *err,
                        size_t errlen)
{
    char tmpname[64];
    snprintf(tmpname, sizeof(tmpname), ".%s.tmp", name);
    char *tmp = join(dir, tmpname), *dst = join(dir, name);
    int rc = 0;
    if (!tmp || !dst) {
        rc = fail(err, errlen, -ENOMEM, dir, "out of memory");
        goto out;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", tmp, strerror(-rc));
        goto out;
    }
    size_t len = strlen(text), off = 0;
    while (off < len && !rc) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        else if (n > 0)
            off += (size_t)n;
    }
    if (!rc && fsync(fd))
        rc = -errno;
    if (close(fd) && !rc)
        rc = -errno;
    if (!rc && rename(tmp, dst))
        rc = -errno;
    if (rc) {
        snprintf(err, errlen, "writing %s: %s", dst, strerror(-rc));
        unlink(tmp);
        goto out;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd))
            rc = -errno;
        close(dfd);
    }
    if (rc)
        snprintf(err, errlen, "fsync of %s: %s", dir, strerror(-rc));
out:
    free(tmp);
    free(dst);
    return rc;
}

int vm_dir_write_def(struct vm_dir *vd, const struct vmdef *d, const char *writer, char *err,
                     size_t errlen)
{
    char *text = NULL;
    int rc = vmdef_to_json(d, writer, &text);
    if (rc)
        return fail(err, errlen, rc, vd->path, "the definition cannot be written (invalid)");
    rc = write_atomic(vd->path, VMDIR_DEF, text, err, errlen);
    free(text);
    if (!rc && d != &vd->def) {
        struct vmdef copy;
        if (vmdef_copy(&copy, d) == 0) {
            vmdef_release(&vd->def);
            vd->def = copy;
        }
        vd->has_def = true;
    }
    return rc;
}

int vm_dir_write_hibernation(struct vm_dir *vd, const struct vm_hibernation *h,
                             const char *writer, char *err, size_t errlen)
{
    char *text = NULL;
    int rc = vm_hibernation_to_json(h, writer, &text);
    if (rc)
        return fail(err, errlen, rc, vd->path, "the hibernation record cannot be written");
    rc = write_atomic(vd->path, VMDIR_HIBERNATION, text, err, errlen);
    free(text);
    if (!rc)
        vd->hibernated = true;
    return rc;
}

int vm_dir_clear_hibernation(struct vm_dir *vd, char *err, size_t errlen)
{
    char *p = join(vd->path, VMDIR_HIBERNATION);
    if (!p)
        return fail(err, errlen, -ENOMEM, vd->path, "out of memory");
    int rc = unlink(p) && errno != ENOENT ? -errno : 0;
    if (rc)
        snprintf(err, errlen, "removing %s: %s", p, strerror(-rc));
    free(p);
    int dfd = rc ? -1 : open(vd->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    if (!rc) {
        vd->hibernated = false;
        vm_hibernation_release(&vd->hib);
    }
    return rc;
}

const char *vm_state_name(enum vm_state s)
{
    switch (s) {
    case VM_STATE_OFF: return "off";
    case VM_STATE_HIBERNATED: return "hibernated";
    case VM_STATE_RUNNING: return "running";
    }
    return "?";
}

int vm_dir_status(const char *path, struct vm_status *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof(*st));
    vmdef_init(&st->def);
    vm_hibernation_init(&st->hib);
    bool has_def = false;
    int rc = load(path, &st->def, &has_def, &st->hib, &st->hibernation_record, err, errlen);
    if (!rc && !has_def) {
        snprintf(err, errlen, "%s: not a pscivm VM directory (no %s)", path, VMDIR_DEF);
        return -ENOENT;
    }
    if (rc)
        return rc;
    st->state = st->hibernation_record ? VM_STATE_HIBERNATED : VM_STATE_OFF;
    char *lp = join(path, VMDIR_LOCK);
    int fd = lp ? open(lp, O_RDONLY | O_CLOEXEC) : -1;
    free(lp);
    if (fd >= 0) {
        if (flock(fd, LOCK_SH | LOCK_NB) && errno == EWOULDBLOCK) {
            st->state = VM_STATE_RUNNING;
            st->pid = lock_pid(fd);
        }
        close(fd); /* drops the probe's shared lock, if it got one */
    }
    return 0;
}

void vm_status_release(struct vm_status *st)
{
    vmdef_release(&st->def);
    vm_hibernation_release(&st->hib);
}
