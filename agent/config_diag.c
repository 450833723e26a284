/* config_diag: the errors and warnings of a load, one "FILE:LINE: KEY:
 * message" line each, the first DIAG_SHOWN_MAX of either kept. */
#include <stdarg.h>

#include "config_internal.h"

/* The longest line one problem is given. */
#define DIAG_LINE_MAX 4096

void config_diag_init(struct config_diag *d)
{
    buf_init(&d->errors, 0);
    buf_init(&d->warnings, 0);
    buf_init(&d->file_errors, 0);
    d->n_errors = 0;
    d->n_warnings = 0;
    d->n_file_errors = 0;
}

void config_diag_free(struct config_diag *d)
{
    if (!d)
        return;
    buf_free(&d->errors);
    buf_free(&d->warnings);
    buf_free(&d->file_errors);
    d->n_errors = 0;
    d->n_warnings = 0;
    d->n_file_errors = 0;
}

/* One "FILE:LINE: KEY: message" line (line 0: "FILE: message"), a
 * warning's message after "warning: " so that a long list tells the two
 * apart. The line is built whole first so that a failed append never
 * leaves half of it. */
static void diag_vadd(struct config_diag *d, bool error, const char *file,
                      int line, const char *key, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

static void diag_vadd(struct config_diag *d, bool error, const char *file,
                      int line, const char *key, const char *fmt, va_list ap)
{
    size_t *n = error ? &d->n_errors : &d->n_warnings;
    (*n)++;
    if (*n > DIAG_SHOWN_MAX)
        return;
    struct buf one;
    buf_init(&one, DIAG_LINE_MAX);
    int rc = line > 0 ? buf_printf(&one, "%s:%d: ", file, line)
                      : buf_printf(&one, "%s: ", file);
    if (rc == 0 && key)
        rc = buf_printf(&one, "%s: ", key);
    if (rc == 0 && !error)
        rc = buf_puts(&one, "warning: ");
    if (rc == 0)
        rc = buf_vprintf(&one, fmt, ap);
    if (rc == 0)
        rc = buf_putc(&one, '\n');
    if (rc == 0)
        buf_append(error ? &d->errors : &d->warnings, one.data, one.len);
    buf_free(&one);
}

void config_err_at(struct parser *p, int line, const char *key,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(p->diag, true, p->name, line, key, fmt, ap);
    va_end(ap);
}

void config_warn_at(struct parser *p, int line, const char *key,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(p->diag, false, p->name, line, key, fmt, ap);
    va_end(ap);
}

void config_file_err(struct parser *p, const char *path, const char *fmt, ...)
{
    struct config_diag *d = p->diag;
    d->n_file_errors++;
    if (d->n_file_errors > DIAG_SHOWN_MAX)
        return;
    struct buf one;
    buf_init(&one, DIAG_LINE_MAX);
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_printf(&one, "%s: ", path);
    if (rc == 0)
        rc = buf_vprintf(&one, fmt, ap);
    va_end(ap);
    if (rc == 0)
        rc = buf_putc(&one, '\n');
    if (rc == 0)
        buf_append(&d->file_errors, one.data, one.len);
    buf_free(&one);
}
