/* errmsg: the error message of a function that returns -1 and writes
 * what went wrong into a caller's buffer (Redis' anet style). Pure. */
#ifndef ERRMSG_H
#define ERRMSG_H

#include <stddef.h>

/* Formats into err (cut to errlen - 1 bytes); NULL or errlen 0: nothing. */
void errmsg_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
