/* page: the status page, HTML from each target's last result and what
 * report makes of it. Pure. */
#include "page.h"

#include <math.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "catalogue.h"
#include "html.h"
#include "report.h"
#include "classify.h"
#include "sasl.h"

int page_html_escape(struct buf *out, const char *s)
{
    if (!s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *rep = html_entity(c);
        int rc;
        if (rep)
            rc = buf_puts(out, rep);
        else if (c < 0x20 || c == 0x7f)
            rc = buf_putc(out, '?');
        else
            rc = buf_putc(out, (char)c);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/*
 * How often the page reloads itself: often enough to follow an outage as
 * it happens, seldom enough that a tab left open costs nothing next to
 * probes that run every 30-60 s.
 */
#define PAGE_REFRESH_S 15

/* A writer that remembers its first failure, so that the page reads as a
 * sequence of writes checked once at the end. */
struct page {
    struct buf *b;
    int rc;
    double now; /* unix time the page is rendered at: ages count from it */
};

static void pg_puts(struct page *pg, const char *s)
{
    if (pg->rc == 0)
        pg->rc = buf_puts(pg->b, s);
}

/* Everything that did not come from this file goes through here. */
static void pg_esc(struct page *pg, const char *s)
{
    if (pg->rc == 0)
        pg->rc = page_html_escape(pg->b, s);
}

static void pg_printf(struct page *pg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void pg_printf(struct page *pg, const char *fmt, ...)
{
    if (pg->rc != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    pg->rc = buf_vprintf(pg->b, fmt, ap);
    va_end(ap);
}

static void pg_time(struct page *pg, double t)
{
    if (t <= 0) {
        pg_puts(pg, "never");
        return;
    }
    time_t secs = (time_t)t;
    struct tm tm;
    char s[64];
    if (!gmtime_r(&secs, &tm) ||
        strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        pg_puts(pg, "?");
    else
        pg_puts(pg, s);
}

int page_format_age(struct buf *out, double t, double now)
{
    if (!(t > 0))
        return buf_puts(out, "never");
    /* A clock stepped back makes a probe look younger than now. */
    double d = now > t ? now - t : 0;
    if (!(d < 1e12))
        d = 1e12;
    long long s = (long long)d;
    if (s < 60)
        return buf_printf(out, "%lld s ago", s);
    if (s < 3600)
        return buf_printf(out, "%lld min %lld s ago", s / 60, s % 60);
    if (s < 86400)
        return buf_printf(out, "%lld h %lld min ago", s / 3600, s % 3600 / 60);
    return buf_printf(out, "%lld d %lld h ago", s / 86400, s % 86400 / 3600);
}

/* How a card shows each state of a report: its CSS class and word. A
 * fault never reaches the store, so the page has no card for one. */
enum page_state { PAGE_OK, PAGE_FAILING, PAGE_PENDING, PAGE_STATE_COUNT };

static const struct {
    const char *css;
    const char *label;
} page_states[] = {
    [PAGE_OK] = {"ok", "ok"},
    [PAGE_FAILING] = {"failing", "failing"},
    [PAGE_PENDING] = {"pending", "not probed yet"},
};
_Static_assert(sizeof page_states / sizeof page_states[0] == PAGE_STATE_COUNT,
               "a look for every card state");

static enum page_state state_of(const struct probe_result *r)
{
    switch (report_state_of(r)) {
    case REPORT_PENDING:
        return PAGE_PENDING;
    case REPORT_OK:
        return PAGE_OK;
    default:
        return PAGE_FAILING;
    }
}

static void pg_dt(struct page *pg, const char *term, const char *dd_class)
{
    pg_printf(pg, "<dt>%s</dt><dd%s%s%s>", term, dd_class ? " class=\"" : "",
              dd_class ? dd_class : "", dd_class ? "\"" : "");
}

static void pg_reply_text(struct page *pg, const struct probe_reply *rep)
{
    pg_printf(pg, "<code>%d ", rep->code);
    pg_esc(pg, rep->text);
    pg_puts(pg, "</code>");
}

static void pg_outcome(struct page *pg, const struct probe_result *r,
                       const struct report *report)
{
    pg_dt(pg, "Stage", NULL);
    pg_esc(pg, probe_stage_name(r->stage));
    pg_puts(pg, r->success ? " <span class=\"muted\">(every stage "
                             "passed)</span>"
                           : " <span class=\"muted\">(failed here)</span>");
    pg_puts(pg, "</dd>\n");

    const struct probe_reply *rep = report->reply;
    pg_dt(pg, "Reply", NULL);
    if (rep)
        pg_reply_text(pg, rep);
    else if (r->error != PROBE_ERROR_NONE)
        pg_puts(pg, "none");
    else
        pg_puts(pg, "-");
    /* A failing reply's detail only repeats it; without a reply, the
     * detail is what there is (curl's words, the TLS error). */
    if (!rep && !r->success && r->detail[0]) {
        pg_puts(pg, "<div class=\"muted\">");
        pg_esc(pg, r->detail);
        pg_puts(pg, "</div>");
    }
    pg_puts(pg, "</dd>\n");

    pg_dt(pg, "Class", NULL);
    if (rep) {
        pg_esc(pg, smtp_class_name(rep->cls));
    } else if (r->error != PROBE_ERROR_NONE) {
        pg_puts(pg, "error: ");
        pg_esc(pg, probe_error_name(r->error));
    } else {
        pg_puts(pg, "-");
    }
    pg_puts(pg, "</dd>\n");
}

/* What the failure means and what to do, from the catalogue; the note is
 * what this probe showed about it (it quotes the server: escaped). */
static void pg_explanation(struct page *pg, const struct report *report)
{
    const struct catalogue_entry *e = report->entry;
    if (e) {
        pg_dt(pg, "Explanation", "explain");
        pg_puts(pg, "<strong>");
        pg_esc(pg, e->title);
        pg_puts(pg, ".</strong> ");
        pg_esc(pg, e->meaning);
        pg_puts(pg, "<div class=\"fix\"><strong>Fix:</strong> ");
        pg_esc(pg, e->fix);
        pg_puts(pg, "</div></dd>\n");
    }
    if (report->note[0]) {
        pg_dt(pg, "Note", "note");
        pg_esc(pg, report->note);
        pg_puts(pg, "</dd>\n");
    }
}

static void pg_auth(struct page *pg, const struct probe_result *r)
{
    if (r->n_auth == 0)
        return;
    pg_dt(pg, "AUTH", NULL);
    pg_puts(pg, "<ul>");
    for (size_t i = 0; i < r->n_auth && i < CONFIG_MAX_MECHS; i++) {
        const struct probe_auth *a = &r->auth[i];
        pg_puts(pg, "<li>");
        pg_esc(pg, sasl_mech_name(a->mech));
        pg_puts(pg, ": ");
        if (a->reply.code) {
            pg_reply_text(pg, &a->reply);
            pg_puts(pg, " <i>");
            pg_esc(pg, smtp_class_name(a->reply.cls));
            pg_puts(pg, "</i>");
        } else if (a->error != PROBE_ERROR_NONE) {
            pg_puts(pg, "error: ");
            pg_esc(pg, probe_error_name(a->error));
        } else {
            pg_puts(pg, "not attempted");
        }
        if (a->attempted && !a->advertised)
            pg_puts(pg, " <span class=\"warn\">(not advertised)</span>");
        pg_puts(pg, "</li>");
    }
    pg_puts(pg, "</ul></dd>\n");
}

/* The refusal checks the target configures, one line each: a failed one
 * fails the card though every stage passed. */
static void pg_checks(struct page *pg, const struct probe_result *r)
{
    bool any = false;
    for (int k = 0; k < CHECK_COUNT; k++)
        any = any || r->checks[k].configured;
    if (!any)
        return;
    static const char *const look[] = {
        [CHECK_NOT_RUN] = "muted",
        [CHECK_PASSED] = "good",
        [CHECK_FAILED] = "bad",
    };
    _Static_assert(sizeof look / sizeof look[0] == CHECK_VERDICT_COUNT,
                   "a look for every verdict");
    pg_dt(pg, "Checks", NULL);
    pg_puts(pg, "<ul>");
    for (int k = 0; k < CHECK_COUNT; k++) {
        const struct probe_check_result *c = &r->checks[k];
        if (!c->configured)
            continue;
        unsigned v = (unsigned)c->verdict < CHECK_VERDICT_COUNT
                         ? (unsigned)c->verdict
                         : CHECK_NOT_RUN;
        pg_printf(pg, "<li class=\"check\" data-check=\"%s\">",
                  check_name((enum probe_check)k));
        pg_esc(pg, check_name((enum probe_check)k));
        pg_printf(pg, ": <span class=\"%s\">%s</span>", look[v],
                  v == CHECK_FAILED   ? "failing"
                  : v == CHECK_PASSED ? "passed"
                                      : "not run");
        if (c->detail[0]) {
            pg_puts(pg, " <span class=\"muted\">");
            pg_esc(pg, c->detail);
            pg_puts(pg, "</span>");
        }
        pg_puts(pg, "</li>");
    }
    pg_puts(pg, "</ul></dd>\n");
}

/* Every stage's reply, folded (<details> needs no script): the one that
 * matters is already under Reply, the rest is for a closer look. */
static void pg_replies(struct page *pg, const struct probe_result *r)
{
    size_t n = 0;
    for (int s = 0; s < PROBE_STAGE_COUNT; s++)
        n += r->replies[s].code != 0;
    pg_dt(pg, "Replies", NULL);
    if (n == 0) {
        pg_puts(pg, "none</dd>\n");
        return;
    }
    pg_printf(pg, "<details><summary>%zu repl%s</summary><ul>", n,
              n == 1 ? "y" : "ies");
    for (int s = 0; s < PROBE_STAGE_COUNT; s++) {
        const struct probe_reply *rep = &r->replies[s];
        if (!rep->code)
            continue;
        pg_puts(pg, "<li>");
        pg_esc(pg, probe_stage_name((enum probe_stage)s));
        pg_puts(pg, ": ");
        pg_reply_text(pg, rep);
        pg_puts(pg, " <i>");
        pg_esc(pg, smtp_class_name(rep->cls));
        pg_puts(pg, "</i></li>");
    }
    pg_puts(pg, "</ul></details></dd>\n");
}

static void pg_ehlo(struct page *pg, const struct probe_result *r)
{
    if (!r->ehlo_seen)
        return;
    pg_dt(pg, "Mechanisms", NULL);
    for (size_t i = 0; i < r->ehlo.n_mechs; i++) {
        pg_puts(pg, "<span class=\"kw\">");
        pg_esc(pg, r->ehlo.mechs[i]);
        pg_puts(pg, "</span>");
    }
    if (r->ehlo.n_mechs == 0)
        pg_puts(pg, "none advertised");
    pg_puts(pg, "</dd>\n");
    pg_dt(pg, "EHLO", NULL);
    for (size_t i = 0; i < r->ehlo.n_keywords; i++) {
        pg_puts(pg, "<span class=\"kw\">");
        pg_esc(pg, r->ehlo.keywords[i]);
        pg_puts(pg, "</span>");
    }
    if (r->ehlo.n_keywords == 0)
        pg_puts(pg, "no keywords");
    if (r->ehlo.n_dropped)
        pg_printf(pg, " <span class=\"muted\">(%zu more not kept)</span>",
                  r->ehlo.n_dropped);
    pg_puts(pg, "</dd>\n");
}

/* The address that answered, of the host's addresses: which backend
 * this result is about. */
static void pg_address(struct page *pg, const struct probe_result *r)
{
    pg_dt(pg, "Address", NULL);
    if (!r->address[0]) {
        pg_puts(pg, "none reached</dd>\n");
        return;
    }
    pg_esc(pg, r->address);
    pg_printf(pg, " <span class=\"muted\">(IPv%u)</span></dd>\n",
              r->ip_protocol);
}

/* The leaf's own dates and identity: what smtp_tls_cert_info and the
 * leaf's date series show. */
static void pg_leaf(struct page *pg, const struct tls_facts *t)
{
    if (!t->leaf_not_after && !t->issuer[0] && !t->serial[0])
        return;
    pg_puts(pg, "<div class=\"muted\">leaf ");
    if (t->leaf_not_before > 0 && (double)t->leaf_not_before > pg->now)
        pg_puts(pg, "<span class=\"bad\">not valid before</span> ");
    else
        pg_puts(pg, "valid from ");
    pg_time(pg, (double)t->leaf_not_before);
    pg_puts(pg, " to ");
    pg_time(pg, (double)t->leaf_not_after);
    if (t->issuer[0]) {
        pg_puts(pg, "; issuer ");
        pg_esc(pg, t->issuer);
    }
    if (t->serial[0]) {
        pg_puts(pg, "; serial ");
        pg_esc(pg, t->serial);
    }
    char fp[TLS_FINGERPRINT_LEN];
    if (tls_fingerprint_hex(t, fp)[0]) {
        pg_puts(pg, "; SHA-256 ");
        pg_esc(pg, fp);
    }
    pg_puts(pg, "</div>");
}

static void pg_tls(struct page *pg, const struct tls_facts *t,
                   const struct report *report)
{
    pg_dt(pg, "TLS", NULL);
    if (!t->present) {
        pg_puts(pg, "none</dd>\n");
        return;
    }
    pg_esc(pg, t->version);
    pg_puts(pg, " <span class=\"muted\">");
    pg_esc(pg, t->cipher);
    pg_puts(pg, "</span></dd>\n");
    pg_dt(pg, "Certificate", NULL);
    if (report->has_cert_days) {
        double days = report->cert_days_left;
        if (days >= 0)
            pg_printf(pg, "%.0f days left", floor(days));
        else
            pg_printf(pg, "<span class=\"bad\">expired %.0f days ago</span>",
                      ceil(-days));
        pg_puts(pg, " <span class=\"muted\">(");
        pg_time(pg, (double)report->cert_until);
        pg_puts(pg, report->cert_verified ? ", verified chain)</span>"
                                          : ", presented chain)</span>");
    }
    if (t->valid) {
        pg_puts(pg, "<div class=\"good\">valid</div>");
    } else {
        pg_puts(pg, "<div class=\"bad\">invalid: ");
        pg_esc(pg, t->problem[0] ? t->problem : "not verified");
        pg_puts(pg, "</div>");
    }
    if (t->subject[0]) {
        pg_puts(pg, "<div class=\"muted\">");
        pg_esc(pg, t->subject);
        pg_puts(pg, "</div>");
    }
    pg_leaf(pg, t);
    pg_puts(pg, "</dd>\n");
}

static void pg_age(struct page *pg, const struct probe_result *r)
{
    pg_dt(pg, "Last probe", NULL);
    if (pg->rc == 0)
        pg->rc = page_format_age(pg->b, r->start_time, pg->now);
    pg_puts(pg, " <span class=\"muted\">(");
    pg_time(pg, r->start_time);
    pg_printf(pg, ", took %.3f s)</span></dd>\n", r->duration_seconds);
}

static void pg_server(struct page *pg, const struct metrics_last *l)
{
    pg_puts(pg, "<p class=\"server\">");
    if (l->host[0]) {
        bool v6 = strchr(l->host, ':') != NULL;
        pg_puts(pg, v6 ? "[" : "");
        pg_esc(pg, l->host);
        pg_printf(pg, "%s:%u (%s)", v6 ? "]" : "", l->port,
                  tls_mode_name(l->tls));
    } else {
        pg_puts(pg, "-");
    }
    pg_puts(pg, "</p>\n");
}

/* The target's own labels as its series show them (team="mail",...),
 * small, under the server; nothing when it has none. */
static void pg_labels(struct page *pg, const struct metrics_last *l)
{
    if (!l->labels[0])
        return;
    pg_puts(pg, "<p class=\"labels\"><code>");
    pg_esc(pg, l->labels);
    pg_puts(pg, "</code></p>\n");
}

static void pg_card(struct page *pg, const struct metrics_last *l)
{
    const struct probe_result *r = &l->result;
    enum page_state st = state_of(r);
    /* Target names are [A-Za-z0-9_.:-]: safe in an id, escaped anyway. */
    pg_printf(pg, "<article class=\"card %s\" id=\"t-", page_states[st].css);
    pg_esc(pg, r->target);
    pg_puts(pg, "\">\n<header><h2>");
    pg_esc(pg, r->target);
    pg_printf(pg, "</h2><span class=\"state\">%s</span></header>\n",
              page_states[st].label);
    pg_server(pg, l);
    pg_labels(pg, l);
    if (st == PAGE_PENDING) {
        pg_puts(pg, "<p class=\"muted\">Waiting for the first probe.</p>\n"
                    "</article>\n");
        return;
    }
    /* Only a card that shows a result pays for its report. */
    struct report report;
    report_make(&report, r, &l->history, pg->now);
    pg_puts(pg, "<dl>\n");
    pg_outcome(pg, r, &report);
    if (st == PAGE_FAILING)
        pg_explanation(pg, &report);
    pg_address(pg, r);
    pg_auth(pg, r);
    pg_checks(pg, r);
    pg_replies(pg, r);
    pg_ehlo(pg, r);
    pg_tls(pg, &r->tls, &report);
    pg_age(pg, r);
    pg_puts(pg, "</dl>\n</article>\n");
}

static enum page_state brief_state(const struct metrics_brief *b)
{
    switch (b->state) {
    case REPORT_PENDING:
        return PAGE_PENDING;
    case REPORT_OK:
        return PAGE_OK;
    default:
        return PAGE_FAILING;
    }
}

/* A link to a target: its card's anchor when the page shows the card,
 * else the page of that card alone. */
static void pg_target_link(struct page *pg, const char *name, bool on_page)
{
    pg_puts(pg, on_page ? "<a href=\"#t-" : "<a href=\"?target=");
    pg_esc(pg, name);
    pg_puts(pg, "\">");
    pg_esc(pg, name);
    pg_puts(pg, "</a>");
}

/* What the page shows, and of which targets. */
struct view {
    const struct page_query *q;
    const struct metrics_brief *b; /* every target, by name */
    size_t n;
    const size_t *idx; /* the selected ones, in the page's order */
    size_t matched, cards;
    bool fleet; /* too many targets for a card each */
};

/* The counts (links to each state's page in a fleet), and the failing
 * targets by name: what to look at first. */
static void pg_summary(struct page *pg, const struct view *v)
{
    size_t count[PAGE_STATE_COUNT] = {0};
    for (size_t i = 0; i < v->n; i++)
        count[brief_state(&v->b[i])]++;
    static const enum page_filter filter[] = {
        [PAGE_OK] = PAGE_FILTER_OK,
        [PAGE_FAILING] = PAGE_FILTER_FAILING,
        [PAGE_PENDING] = PAGE_FILTER_PENDING,
    };
    _Static_assert(sizeof filter / sizeof filter[0] == PAGE_STATE_COUNT,
                   "a filter for every card state");
    pg_puts(pg, "<p class=\"summary\">");
    for (int s = 0; s < PAGE_STATE_COUNT; s++) {
        if (v->fleet)
            pg_printf(pg, "<a href=\"?state=%s\">",
                      page_filter_name(filter[s]));
        pg_printf(pg, "<span class=\"pill %s%s\">%zu %s</span>",
                  page_states[s].css, count[s] ? "" : " zero", count[s],
                  page_states[s].label);
        pg_puts(pg, v->fleet ? "</a> " : " ");
    }
    pg_puts(pg, "</p>\n");
    if (count[PAGE_FAILING] == 0 || page_query_given(v->q))
        return;
    /* Links to the failing cards; the failing without a card are
     * counted here and listed below. */
    pg_puts(pg, "<p class=\"failing-list\">Failing:");
    const char *sep = " ";
    for (size_t k = 0; k < v->cards; k++) {
        const struct metrics_brief *t = &v->b[v->idx[k]];
        if (brief_state(t) != PAGE_FAILING)
            break; /* the failing come first */
        pg_puts(pg, sep);
        pg_target_link(pg, t->name, true);
        sep = ", ";
    }
    if (count[PAGE_FAILING] > v->cards)
        pg_printf(pg, "%sand %zu more, listed below",
                  sep[0] == ',' ? ", " : " ", count[PAGE_FAILING] - v->cards);
    pg_puts(pg, "</p>\n");
}

/* A search form, where there are too many targets to scroll through. A
 * GET to the page itself: no script. */
static void pg_form(struct page *pg, const struct page_query *q)
{
    pg_puts(pg, "<form class=\"filter\" method=\"get\" action=\"/\">"
                "<input type=\"search\" name=\"q\" placeholder=\"target "
                "name contains\" value=\"");
    pg_esc(pg, q->q);
    pg_puts(pg, "\"> <select name=\"state\">");
    static const char *const words[] = {"any state", "failing",
                                        "not probed yet", "ok"};
    _Static_assert(sizeof words / sizeof words[0] == PAGE_FILTER_COUNT,
                   "words for every filter");
    for (int f = 0; f < PAGE_FILTER_COUNT; f++)
        pg_printf(pg, "<option value=\"%s\"%s>%s</option>",
                  page_filter_name((enum page_filter)f),
                  (int)q->state == f ? " selected" : "", words[f]);
    pg_puts(pg, "</select> <button type=\"submit\">Filter</button>");
    if (page_query_given(q))
        pg_puts(pg, " <a href=\"/\">all targets</a>");
    pg_puts(pg, "</form>\n");
}

/* What a filtered page shows, in words. */
static void pg_query_line(struct page *pg, const struct view *v)
{
    if (v->q->target[0]) {
        if (v->matched == 0) {
            pg_puts(pg, "<p>No target is named <code>");
            pg_esc(pg, v->q->target);
            pg_puts(pg, "</code>.</p>\n");
        }
        return;
    }
    pg_printf(pg, "<p class=\"muted\">%zu of %zu targets match", v->matched,
              v->n);
    if (v->matched > v->cards)
        pg_printf(pg, "; the first %zu in full, the rest listed below",
                  v->cards);
    pg_puts(pg, ".</p>\n");
}

/* The selected targets without a card, one short line each, grouped by
 * state: a fleet fits on a page, and each name links to its card. */
static void pg_list(struct page *pg, const struct view *v)
{
    int open = -1;
    for (size_t k = v->cards; k < v->matched && pg->rc == 0; k++) {
        const struct metrics_brief *t = &v->b[v->idx[k]];
        int st = (int)brief_state(t);
        if (st != open) {
            if (open >= 0)
                pg_puts(pg, "</p></section>\n");
            pg_printf(pg, "<section class=\"list %s\"><h2>%s</h2><p>",
                      page_states[st].css, page_states[st].label);
            open = st;
        }
        pg_target_link(pg, t->name, false);
        pg_puts(pg, " ");
    }
    if (open >= 0)
        pg_puts(pg, "</p></section>\n");
}

/*
 * No script at all (the Content-Security-Policy forbids it too); the
 * cards stack in one column on a phone and the text wraps anywhere, so
 * that a long reply or EHLO line never scrolls sideways.
 */
static const char page_css[] =
    "*{box-sizing:border-box}\n"
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;"
    "margin:0;padding:1rem;background:#f3f4f6;color:#1f2328;"
    "line-height:1.4}\n"
    "h1{font-size:1.4rem;margin:0 0 .4rem}\n"
    "a{color:#0b57d0}\n"
    "main{display:grid;gap:1rem;align-items:start;"
    "grid-template-columns:repeat(auto-fill,minmax(min(100%,32rem),1fr))}\n"
    ".card{background:#fff;border:1px solid #d0d7de;"
    "border-left:.5rem solid #6b7280;border-radius:.4rem;"
    "padding:.75rem 1rem;min-width:0}\n"
    ".card.ok{border-left-color:#1a7f37}\n"
    ".card.failing{border-left-color:#c62828}\n"
    ".card header{display:flex;flex-wrap:wrap;align-items:center;"
    "justify-content:space-between;gap:.5rem}\n"
    "h2{font-size:1.15rem;margin:0;overflow-wrap:anywhere}\n"
    ".state,.pill{display:inline-block;padding:.05rem .6rem;"
    "border-radius:1rem;color:#fff;background:#6b7280;font-weight:600;"
    "font-size:.9rem;white-space:nowrap}\n"
    ".ok .state,.pill.ok{background:#1a7f37}\n"
    ".failing .state,.pill.failing{background:#c62828}\n"
    ".pill.zero{background:#e5e7eb;color:#57606a}\n"
    ".server{margin:.2rem 0 0;color:#57606a;overflow-wrap:anywhere}\n"
    ".labels{margin:.1rem 0 0;color:#57606a;font-size:.85em;"
    "overflow-wrap:anywhere}\n"
    "dl{display:grid;grid-template-columns:max-content minmax(0,1fr);"
    "gap:.3rem .8rem;margin:.6rem 0 0}\n"
    "dt{font-weight:600;color:#444c56}\n"
    "dd{margin:0;min-width:0;overflow-wrap:anywhere}\n"
    "ul{margin:0;padding-left:1.1rem}\n"
    "code,.kw{font-family:ui-monospace,'DejaVu Sans Mono',monospace;"
    "font-size:.88em}\n"
    ".kw{display:inline-block;background:#eef1f4;border-radius:.25rem;"
    "padding:0 .3rem;margin:0 .25rem .2rem 0}\n"
    ".explain{background:#fdecec;border-radius:.3rem;padding:.3rem .5rem}\n"
    ".note{background:#fff6d6;border-radius:.3rem;padding:.3rem .5rem}\n"
    ".fix{margin-top:.25rem}\n"
    ".bad{color:#b3261e}.good{color:#1a7f37}.warn{color:#9a6700}\n"
    ".muted{color:#57606a;font-size:.92em}\n"
    "summary{cursor:pointer;color:#0b57d0}\n"
    "footer{margin-top:1rem}\n"
    ".filter{margin:.2rem 0 .8rem}\n"
    ".filter input{width:min(100%,16rem)}\n"
    ".list{margin-top:1rem;overflow-wrap:anywhere}\n"
    ".list h2{margin:0 0 .3rem}\n"
    ".list p{margin:0;line-height:1.8}\n"
    ".list a{margin-right:.6rem;white-space:nowrap;"
    "font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.9em}\n"
    ".list.failing h2{color:#b3261e}.list.ok a{color:#1a7f37}\n"
    "@media (max-width:36rem){body{padding:.5rem}"
    "dl{grid-template-columns:minmax(0,1fr);gap:.1rem}"
    "dt{margin-top:.35rem;font-size:.9rem}}\n";

static void pg_head(struct page *pg)
{
    pg_printf(pg,
              "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
              "<meta charset=\"utf-8\">\n"
              "<meta name=\"viewport\" content=\"width=device-width, "
              "initial-scale=1\">\n"
              "<meta http-equiv=\"refresh\" content=\"%d\">\n"
              "<title>smtp-health-agent</title>\n<style>\n",
              PAGE_REFRESH_S);
    pg_puts(pg, page_css);
    pg_puts(pg, "</style>\n</head>\n<body>\n<h1>smtp-health-agent</h1>\n");
}

static void pg_foot(struct page *pg)
{
    pg_puts(pg, "<footer class=\"muted\">Rendered ");
    pg_time(pg, pg->now);
    pg_printf(pg,
              "; reloads every %d s. <a href=\"/metrics\">Metrics</a>. "
              "<a href=\"/runbook\">Alert runbooks</a>. "
              "<code>smtp-health-agent --explain CODE</code> explains any "
              "reply.</footer>\n</body>\n</html>\n",
              PAGE_REFRESH_S);
}

int page_render_view(struct buf *b, const struct page_query *q,
                     const struct metrics_brief *briefs, size_t n,
                     const size_t *idx, size_t matched, size_t n_cards,
                     const struct metrics_last *cards, size_t n_shown,
                     double now)
{
    struct page pg = {.b = b, .rc = 0, .now = now};
    struct view v = {.q = q,
                     .b = briefs,
                     .n = n,
                     .idx = idx,
                     .matched = matched,
                     .cards = n_cards,
                     .fleet = n > PAGE_FULL_MAX || page_query_given(q)};
    pg_head(&pg);
    if (n == 0)
        pg_puts(&pg, "<p>No targets configured.</p>\n");
    else
        pg_summary(&pg, &v);
    if (v.fleet) {
        pg_form(&pg, q);
        if (page_query_given(q))
            pg_query_line(&pg, &v);
    }
    pg_puts(&pg, "<main>\n");
    for (size_t i = 0; i < n_shown && pg.rc == 0; i++)
        pg_card(&pg, &cards[i]);
    pg_puts(&pg, "</main>\n");
    pg_list(&pg, &v);
    pg_foot(&pg);
    return pg.rc;
}

int page_render(struct buf *b, const struct metrics_last *res, size_t n,
                double now)
{
    /* The briefs and order that the store and page_select() would give. */
    struct metrics_brief *briefs = calloc(n ? n : 1, sizeof(*briefs));
    size_t *idx = calloc(n ? n : 1, sizeof(*idx));
    struct metrics_last *cards = calloc(n ? n : 1, sizeof(*cards));
    int rc = -1;
    if (briefs && idx && cards) {
        for (size_t i = 0; i < n; i++) {
            snprintf(briefs[i].name, sizeof(briefs[i].name), "%s",
                     res[i].result.target);
            briefs[i].state = report_state_of(&res[i].result);
            briefs[i].start_time = res[i].result.start_time;
        }
        struct page_query q;
        memset(&q, 0, sizeof(q));
        size_t n_cards = 0;
        size_t matched = page_select(&q, briefs, n, idx, &n_cards);
        for (size_t k = 0; k < n_cards; k++)
            cards[k] = res[idx[k]];
        rc = page_render_view(b, &q, briefs, n, idx, matched, n_cards, cards,
                              n_cards, now);
    }
    free(briefs);
    free(idx);
    free(cards);
    return rc;
}
