/* errbuf.c — errbuf_fail: format an error message into the caller's buffer (errbuf.h). */
#include <stdarg.h>
#include <stdio.h>

#include "util/errbuf.h"

int errbuf_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}
