/* errbuf.h — the one way library code reports an error: a message in the caller's buffer and a
 * negative errno returned (see docs/ARCHITECTURE.md, "Errors"). */
#ifndef PSCIVM_UTIL_ERRBUF_H
#define PSCIVM_UTIL_ERRBUF_H

#include <stddef.h>

/* Format the message into err (errlen bytes, may be 0 with err NULL) and return rc. */
int errbuf_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
