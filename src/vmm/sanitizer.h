/* sanitizer.h — what pscivm does differently when built with ASan+UBSan (make asan-arm64, the
 * ASan unit tests; GCC's -fsanitize=address,undefined): where UBSan's reports go, and the
 * deliberate reports the lab uses to prove a report is written completely from under the seccomp
 * filter. In other builds these functions do nothing. docs/lab.md, "Sanitizers in the lab". */
#ifndef PSCIVM_VMM_SANITIZER_H
#define PSCIVM_VMM_SANITIZER_H

#include <stdbool.h>
#include <stddef.h>

/* True in a sanitizer build (GCC defines __SANITIZE_ADDRESS__; ours add UBSan to ASan). */
bool sanitizer_build(void);

/* The value of the last log_path=... in a sanitizer options string (ASAN_OPTIONS syntax: flags
 * separated by ':', ',', spaces, tabs or newlines; quoted values are not supported), copied
 * into buf; NULL when there is none or it does not fit. */
const char *sanitizer_options_log_path(const char *options, char *buf, size_t len);

/* Send UBSan's reports to PATH.<pid>. GCC's UBSan runtime (libubsan) prints through its own copy
 * of the sanitizer common code, but sets that copy's report path through the exported
 * __sanitizer_set_report_path, which binds to libasan's copy (loaded first): UBSAN_OPTIONS=
 * log_path moves ASan's reports and UBSan's still go to stderr. This calls libubsan's own
 * copy. 0, or -ENOTSUP when no separate UBSan runtime is loaded (not a sanitizer build). */
int sanitizer_ubsan_log_path(const char *path);

/* main()'s first step: in a sanitizer build, UBSan's reports go where ASAN_OPTIONS's log_path
 * sends ASan's (one file per process either way: a report ends the process). */
void sanitizer_init(void);

/* Sanitizer builds only (PSCIVM_SANITIZER_SELFTEST=address|undefined, run right after the
 * seccomp filter is loaded): an out-of-bounds heap read ("address") or a signed integer
 * overflow ("undefined"). In such a build it does not return: the sanitizer reports and ends the
 * process. Elsewhere, or for another word, it returns -ENOTSUP. */
int sanitizer_selftest(const char *what);

#endif
