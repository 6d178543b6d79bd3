/* sanitizer.c — sanitizer builds' report plumbing and deliberate reports (sanitizer.h). Nothing
 * here runs in a normal build: the functions say so and return. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/sanitizer.h"

#ifdef __SANITIZE_ADDRESS__
#include <dlfcn.h>
#endif

bool sanitizer_build(void)
{
#ifdef __SANITIZE_ADDRESS__
    return true;
#else
    return false;
#endif
}

const char *sanitizer_options_log_path(const char *options, char *buf, size_t len)
{
    static const char seps[] = ":, \t\n";
    static const char key[] = "log_path=";
    const char *found = NULL;
    size_t found_len = 0;
    for (const char *p = options; p && *p;) {
        p += strspn(p, seps);
        size_t n = strcspn(p, seps);
        if (n > sizeof(key) - 1 && !strncmp(p, key, sizeof(key) - 1)) {
            found = p + sizeof(key) - 1;
            found_len = n - (sizeof(key) - 1);
        }
        p += n;
    }
    if (!found || found_len >= len)
        return NULL;
    memcpy(buf, found, found_len);
    buf[found_len] = '\0';
    return buf;
}

int sanitizer_ubsan_log_path(const char *path)
{
#ifdef __SANITIZE_ADDRESS__
    void *ubsan = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (!ubsan)
        return -ENOTSUP;
    /* dlsym on libubsan's handle finds libubsan's own definition first. */
    void (*set_path)(const char *) =
        (void (*)(const char *))dlsym(ubsan, "__sanitizer_set_report_path");
    if (set_path)
        set_path(path);
    dlclose(ubsan);
    return set_path ? 0 : -ENOTSUP;
#else
    /* Not even a reference to dlopen: bin/pscivm is static. */
    (void)path;
    return -ENOTSUP;
#endif
}

void sanitizer_init(void)
{
    char path[PATH_MAX];
    if (sanitizer_build() &&
        sanitizer_options_log_path(getenv("ASAN_OPTIONS"), path, sizeof(path)))
        sanitizer_ubsan_log_path(path);
}

int sanitizer_selftest(const char *what)
{
#ifdef __SANITIZE_ADDRESS__
    if (!strcmp(what, "address")) {
        char *volatile p = malloc(8);
        if (p) {
            volatile char c = p[8]; /* one past the 8-byte block: heap-buffer-overflow */
            (void)c;
        }
        free(p);
    } else if (!strcmp(what, "undefined")) {
        volatile int big = INT_MAX;
        volatile int sum = big + 1; /* signed integer overflow */
        (void)sum;
    }
#else
    (void)what;
#endif
    return -ENOTSUP;
}
