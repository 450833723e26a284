/* http_strict: refuses requests that libmicrohttpd 0.9.75 lets through
 * and that a proxy in front of us could read differently. */
#ifndef HTTP_STRICT_H
#define HTTP_STRICT_H

#include <stdbool.h>
#include <stddef.h>

struct MHD_Connection;

/*
 * The request-target as libmicrohttpd's URI log callback saw it, before
 * libmicrohttpd cut it at '?' and took the arguments apart in place: a
 * pointer into the connection's read buffer, its strlen() then, and
 * whether its characters were right then.
 */
struct http_strict_target {
    const char *s;
    size_t len;
    bool chars_ok;
};

/* From the URI log callback (MHD_OPTION_URI_LOG_CALLBACK): notes uri
 * (NULL: a request line without one) in t. */
void http_strict_target_seen(struct http_strict_target *t, const char *uri);

/*
 * From the access handler's first call, with the arguments it got: NULL
 * when the request may be served, else what is wrong with it (a constant
 * string for the log; the answer is 400 and a closed connection).
 *
 * Checked through libmicrohttpd's API, whatever its version: one
 * Content-Length at most, one Transfer-Encoding at most and never both,
 * one Host (none only before HTTP/1.1) that is a host[:port], field
 * names that are tokens, field values without control bytes, a method
 * that is a token and a target in RFC 3986's characters with whole
 * %-escapes and no fragment.
 *
 * With libmicrohttpd 0.9.75 also the bytes as read (see
 * http_strict_raw_known()): a NUL anywhere, a line not ended by CRLF, a
 * folded field (obs-fold), more than one space after the method. Those
 * end a C string early or vanish in its parser; only the read buffer
 * still shows them.
 */
const char *http_strict_check(struct MHD_Connection *conn, const char *method,
                              const char *url, const char *version,
                              const struct http_strict_target *target);

/* Whether the running libmicrohttpd is the one whose in-place parsing the
 * raw check knows (0.9.75); with any other, only the API checks run. */
bool http_strict_raw_known(void);

/* The grammar, public for tests. Each takes n bytes (NULs count). */
/* RFC 9110 token: a method or a field name. */
bool http_strict_token(const char *s, size_t n);
/* RFC 9110 field value: visible ASCII, bytes >= 0x80, SP and HTAB. */
bool http_strict_field_value(const char *s, size_t n);
/* RFC 9112 request-target characters (RFC 3986, with "[" and "]" for an
 * absolute-form IPv6 host); % is followed by two hex digits. */
bool http_strict_target_chars(const char *s, size_t n);
/* RFC 9110 Host: uri-host [ ":" port ], empty allowed. */
bool http_strict_host(const char *s, size_t n);

#endif
