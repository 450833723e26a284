/* http_accept: content negotiation (RFC 9110 Accept-Encoding); pure. */
#ifndef HTTP_ACCEPT_H
#define HTTP_ACCEPT_H

#include <stdbool.h>

/*
 * Whether an Accept-Encoding value (every such header of a request,
 * joined with ',') lets us send gzip: "gzip" or "x-gzip" with q > 0, or
 * "*" with q > 0 when gzip is not named. A malformed q counts as 0.
 * NULL (no header): false.
 */
bool http_accepts_gzip(const char *accept_encoding);

#endif
