/* runbook: the alert runbooks (config/ALERTS.md) as one HTML page, the
 * frame around markdown's document; rendered once, served as /runbook. */
#include "runbook.h"

#include "markdown.h"

/* The status page's look (page.c): its font, colours and code style; no
 * script (the Content-Security-Policy forbids it too). A section linked
 * to, as from an alert's runbook_url, is highlighted. .self, .table, .c
 * and .r are the classes markdown_render() gives. */
static const char runbook_css[] =
    "*{box-sizing:border-box}\n"
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;"
    "margin:0;padding:1rem;background:#f3f4f6;color:#1f2328;"
    "line-height:1.45}\n"
    "a{color:#0b57d0}\n"
    "nav{margin:0 0 .6rem}\n"
    "main{background:#fff;border:1px solid #d0d7de;border-radius:.4rem;"
    "padding:.25rem 1.25rem 1rem;max-width:64rem;overflow-wrap:break-word}\n"
    "h1{font-size:1.4rem}h2{font-size:1.2rem;margin-top:1.6rem}"
    "h3{font-size:1.05rem;margin-top:1.4rem}\n"
    "h1,h2,h3,h4,h5,h6{scroll-margin-top:.5rem}\n"
    ":target{background:#fff6d6;border-radius:.3rem}\n"
    ".self{margin-left:.4rem;color:#8c959f;text-decoration:none;"
    "font-weight:400}\n"
    "code,pre{font-family:ui-monospace,'DejaVu Sans Mono',monospace;"
    "font-size:.88em}\n"
    "code{background:#eef1f4;border-radius:.25rem;padding:0 .25rem}\n"
    "pre{background:#eef1f4;border-radius:.3rem;padding:.6rem .8rem;"
    "overflow-x:auto}\n"
    "pre code{background:none;padding:0;font-size:1em}\n"
    ".table{overflow-x:auto}\n"
    "table{border-collapse:collapse;margin:.6rem 0;font-size:.92em}\n"
    "th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;"
    "vertical-align:top}\n"
    "th{background:#f6f8fa}\n"
    "th.c,td.c{text-align:center}th.r,td.r{text-align:right}\n"
    "blockquote{margin:.6rem 0;padding:0 .8rem;"
    "border-left:.25rem solid #d0d7de;color:#57606a}\n"
    "footer{margin-top:1rem}\n"
    ".muted{color:#57606a;font-size:.92em}\n"
    "@media (max-width:36rem){body{padding:.5rem}"
    "main{padding:.1rem .6rem .6rem}}\n";

static int put_head(struct buf *out)
{
    if (buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
                      "<meta charset=\"utf-8\">\n"
                      "<meta name=\"viewport\" content=\"width=device-width, "
                      "initial-scale=1\">\n"
                      "<title>Alert runbooks - smtp-health-agent</title>\n"
                      "<style>\n") < 0 ||
        buf_puts(out, runbook_css) < 0)
        return -1;
    return buf_puts(out,
                    "</style>\n</head>\n<body>\n"
                    "<nav><a href=\"/\">&larr; smtp-health-agent status</a>"
                    "</nav>\n"
                    "<main>\n");
}

static int put_foot(struct buf *out)
{
    return buf_puts(out, "</main>\n<footer class=\"muted\">An alert's section "
                         "is <code>/runbook#</code> and its name in lower "
                         "case. <a href=\"/\">Status page</a>. "
                         "<a href=\"/metrics\">Metrics</a>.</footer>\n"
                         "</body>\n</html>\n");
}

int runbook_render(struct buf *out, const char *md, size_t len)
{
    if (put_head(out) < 0 || markdown_render(out, md, len) < 0)
        return -1;
    return put_foot(out);
}
