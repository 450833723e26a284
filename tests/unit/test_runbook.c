/* test_runbook: the alert runbooks' Markdown to HTML, and the copy of
 * config/ALERTS.md the build embeds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "runbook.h"

#define PAGE_START "<!DOCTYPE html>\n"
#define PAGE_END   "</footer>\n</body>\n</html>\n"
#define DOC_START  "<main>\n"
#define DOC_END    "</main>\n"

/* The whole page of md[0..len), checked to be one (rc 0, its start and
 * end); the caller frees it. */
static char *page_of(const char *md, size_t len)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(runbook_render(&b, md, len), 0);
    const char *page = buf_str(&b);
    assert_true(strncmp(page, PAGE_START, strlen(PAGE_START)) == 0);
    assert_true(b.len >= strlen(PAGE_END));
    assert_string_equal(page + b.len - strlen(PAGE_END), PAGE_END);
    return buf_take(&b);
}

/* The document part of the page: what md became, between <main> and
 * </main>. */
static char *doc_of(const char *md, size_t len)
{
    char *page = page_of(md, len);
    char *start = strstr(page, DOC_START);
    assert_non_null(start);
    start += strlen(DOC_START);
    char *end = strstr(start, DOC_END);
    assert_non_null(end);
    /* Only the footer after it. */
    assert_null(strstr(end + 1, DOC_END));
    char *doc = strndup(start, (size_t)(end - start));
    assert_non_null(doc);
    free(page);
    return doc;
}

static size_t count_of(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

struct doc_case {
    const char *md, *want;
};

static void check_docs(const struct doc_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *doc = doc_of(cases[i].md, strlen(cases[i].md));
        if (strcmp(doc, cases[i].want) != 0)
            print_error("case %zu: %s\n", i, cases[i].md);
        assert_string_equal(doc, cases[i].want);
        free(doc);
    }
}

#define CHECK_DOCS(c) check_docs(c, sizeof(c) / sizeof(c[0]))

static void test_heading_ids(void **state)
{
    (void)state;
    static const struct doc_case cases[] = {
        {"### SMTPAuthFailing",
         "<h3 id=\"smtpauthfailing\">SMTPAuthFailing"
         "<a class=\"self\" href=\"#smtpauthfailing\">#</a></h3>\n"},
        {"# Alert rules ##",
         "<h1 id=\"alertrules\">Alert rules"
         "<a class=\"self\" href=\"#alertrules\">#</a></h1>\n"},
        /* Unique: a repeated id gets -2, -3; one that is already
         * somebody's -2 goes on. */
        {"## A\n## A\n## a-2\n## A",
         "<h2 id=\"a\">A<a class=\"self\" href=\"#a\">#</a></h2>\n"
         "<h2 id=\"a-2\">A<a class=\"self\" href=\"#a-2\">#</a></h2>\n"
         "<h2 id=\"a-2-2\">a-2<a class=\"self\" href=\"#a-2-2\">#</a></h2>\n"
         "<h2 id=\"a-3\">A<a class=\"self\" href=\"#a-3\">#</a></h2>\n"},
        /* Nothing left: "section"; only ASCII letters count. */
        {"## !!!\n## \xc3\x9c"
         "ber\n######\n#hashtag\n####### seven",
         "<h2 id=\"section\">!!!<a class=\"self\" href=\"#section\">#</a>"
         "</h2>\n"
         "<h2 id=\"ber\">\xc3\x9c"
         "ber<a class=\"self\" href=\"#ber\">#</a>"
         "</h2>\n"
         "<h6 id=\"section-2\"><a class=\"self\" href=\"#section-2\">#</a>"
         "</h6>\n"
         "<p>#hashtag\n####### seven</p>\n"},
        /* The id is of the text shown: no markup, no URL. */
        {"## The `foo` [x](http://e/z) **bold** ##",
         "<h2 id=\"thefooxbold\">The <code>foo</code> "
         "<a href=\"http://e/z\">x</a> <strong>bold</strong>"
         "<a class=\"self\" href=\"#thefooxbold\">#</a></h2>\n"},
    };
    CHECK_DOCS(cases);
}

/* Markup in the file, wherever it is, comes out as text. */
static void test_escaping(void **state)
{
    (void)state;
    static const char md[] =
        "# <script>alert(1)</script>\n"
        "<script>alert(2)</script> & \"q\" 'a'\n"
        "- <script>alert(3)</script>\n\n"
        "| <script>alert(4)</script> | b |\n|---|---|\n"
        "| <script>alert(5)</script> | `<script>alert(6)</script>` |\n\n"
        "```\n<script>alert(7)</script>\n```\n"
        "> <script>alert(8)</script>\n\n"
        "[<script>alert(9)</script>](/x) **<script>alert(10)</script>**\n"
        "<img src=x onerror=alert(11)> <!-- c --> &lt; &#106;\n";
    char *page = page_of(md, strlen(md));
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "<img"));
    assert_null(strstr(page, "<!--"));
    assert_int_equal(count_of(page, "&lt;script&gt;alert("), 10);
    assert_non_null(strstr(page, "&lt;img src=x onerror=alert(11)&gt; "
                                 "&lt;!-- c --&gt; &amp;lt; &amp;#106;"));
    assert_non_null(strstr(page, "&amp; &quot;q&quot; &#39;a&#39;"));
    free(page);

    /* Control characters are '?', tabs stay; CRLF is a line end. */
    static const char controls[] = "tab\there nul\0 bell\x07 del\x7f cr\rmid";
    char *doc = doc_of(controls, sizeof(controls) - 1);
    assert_string_equal(doc, "<p>tab\there nul? bell? del? cr?mid</p>\n");
    free(doc);
    static const struct doc_case cases[] = {
        {"line one\r\nline two\r\n", "<p>line one\nline two</p>\n"},
    };
    CHECK_DOCS(cases);
}

static void test_links(void **state)
{
    (void)state;
    static const struct doc_case cases[] = {
        /* Another scheme, in any case: the text alone. */
        {"[click](javascript:alert)", "<p>click</p>\n"},
        {"[click](JavaScript:alert%281%29)", "<p>click</p>\n"},
        {"[a](data:text/html,hi) [b](vbscript:x) [c](mailto:a@b) "
         "[d](java\tscript:x)",
         "<p>a b c [d](java\tscript:x)</p>\n"},
        {"<javascript:alert(1)>", "<p>&lt;javascript:alert(1)&gt;</p>\n"},
        /* http(s), anchors and the agent's own paths are links; a path
         * relative to ALERTS.md's directory (alerts.yml) or another host
         * without a scheme would be a 404 or a surprise: text. */
        {"[a](https://x.example/p?q=1&r=2) [b](#smtpauthfailing) "
         "[c](alerts.yml) [d](/metrics) [e](HTTP://X) [f](//h.example/p) "
         "[g](../README.md)",
         "<p><a href=\"https://x.example/p?q=1&amp;r=2\">a</a> "
         "<a href=\"#smtpauthfailing\">b</a> c "
         "<a href=\"/metrics\">d</a> <a href=\"HTTP://X\">e</a> "
         "f g</p>\n"},
        {"<https://x.example/a?b=1&c>",
         "<p><a href=\"https://x.example/a?b=1&amp;c\">"
         "https://x.example/a?b=1&amp;c</a></p>\n"},
        /* No way out of the attribute; no URL, no link. */
        {"[q](/a\"onmouseover=x) [s](/a b) [t]() [u](/a'b)",
         "<p>[q](/a&quot;onmouseover=x) [s](/a b) t "
         "[u](/a&#39;b)</p>\n"},
        /* No link in a link's text. */
        {"[x <https://a.example>](/b)",
         "<p><a href=\"/b\">x &lt;https://a.example&gt;</a></p>\n"},
    };
    CHECK_DOCS(cases);
}

static void test_tables(void **state)
{
    (void)state;
    static const struct doc_case cases[] = {
        /* Alignment, inline markup, an escaped pipe; rows padded and cut
         * to the header's cells; a line without '|' ends the table. */
        {"| A | B | C |\n|:--|:-:|--:|\n| 1 | **2** | `3` |\n"
         "| x \\| y | only two |\n| a | b | c | d |\nafter",
         "<div class=\"table\"><table>\n<thead><tr><th>A</th>"
         "<th class=\"c\">B</th><th class=\"r\">C</th></tr>\n</thead>\n"
         "<tbody>\n"
         "<tr><td>1</td><td class=\"c\"><strong>2</strong></td>"
         "<td class=\"r\"><code>3</code></td></tr>\n"
         "<tr><td>x | y</td><td class=\"c\">only two</td>"
         "<td class=\"r\"></td></tr>\n"
         "<tr><td>a</td><td class=\"c\">b</td><td class=\"r\">c</td>"
         "</tr>\n</tbody></table></div>\n<p>after</p>\n"},
        /* Without the outer pipes; a blank line ends it. */
        {"a | b\n--|--\nc | d\n\ne | f",
         "<div class=\"table\"><table>\n<thead><tr><th>a</th><th>b</th>"
         "</tr>\n</thead>\n<tbody>\n<tr><td>c</td><td>d</td></tr>\n"
         "</tbody></table></div>\n<p>e | f</p>\n"},
        /* A delimiter row of another width, or none: a paragraph. */
        {"| not | a table |\n| --- |", "<p>| not | a table |\n| --- |</p>\n"},
        {"| A |\n| B |", "<p>| A |\n| B |</p>\n"},
        /* A header alone. */
        {"|x|\n|-|", "<div class=\"table\"><table>\n<thead><tr><th>x</th>"
                     "</tr>\n</thead>\n<tbody>\n</tbody></table></div>\n"},
    };
    CHECK_DOCS(cases);
}

static void test_code_blocks(void **state)
{
    (void)state;
    static const struct doc_case cases[] = {
        /* The info string goes; nothing inside is markup. */
        {"```sh\necho \"<b>\" && **x** [a](/b)\n  two\n```\ntext",
         "<pre><code>echo &quot;&lt;b&gt;&quot; &amp;&amp; **x** [a](/b)\n"
         "  two\n</code></pre>\n<p>text</p>\n"},
        /* ~~~, indented: the fence's indentation comes off each line; a
         * longer fence closes it. */
        {"  ~~~\n  indented\n    more\n ~~~~\n",
         "<pre><code>indented\n  more\n</code></pre>\n"},
        /* A shorter fence, or another character, does not close it. */
        {"````\n```\n~~~~\n````", "<pre><code>```\n~~~~\n</code></pre>\n"},
        /* Never closed: the rest of the text, and the page still ends. */
        {"para\n```\nnever closed\n# not a heading\n| a | b |\n|---|---|",
         "<p>para</p>\n<pre><code>never closed\n# not a heading\n"
         "| a | b |\n|---|---|\n</code></pre>\n"},
        {"```", "<pre><code></code></pre>\n"},
        /* Code spans. */
        {"`code` ``a ` b`` `` `x` `` ```unclosed",
         "<p><code>code</code> <code>a ` b</code> <code>`x`</code> "
         "```unclosed</p>\n"},
    };
    CHECK_DOCS(cases);
}

static void test_blocks(void **state)
{
    (void)state;
    static const struct doc_case cases[] = {
        {"plain text\nsecond line\n\nnext", "<p>plain text\nsecond line</p>\n"
                                            "<p>next</p>\n"},
        /* Lists: continuation lines, blank lines between items. */
        {"- one\n- two\n  continued\n* three",
         "<ul>\n<li>one</li>\n<li>two\ncontinued</li>\n<li>three</li>\n"
         "</ul>\n"},
        {"- a\n\n- b\n\nafter",
         "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<p>after</p>\n"},
        {"1. x\n2) y\n- z",
         "<ol>\n<li>x</li>\n<li>y</li>\n</ol>\n<ul>\n<li>z</li>\n</ul>\n"},
        /* Only a bullet or "1." starts a list inside a paragraph. */
        {"para\n2024. was a year\n- item",
         "<p>para\n2024. was a year</p>\n<ul>\n<li>item</li>\n</ul>\n"},
        {"> quoted\n> more\nlazy\n\n---\n* * *",
         "<blockquote><p>quoted\nmore\nlazy</p></blockquote>\n<hr>\n"
         "<hr>\n"},
        /* Emphasis; snake_case and lone stars stay text. */
        {"**bold** *em* _em_ __strong__ snake_case_name a * b * c "
         "*a **b** c*",
         "<p><strong>bold</strong> <em>em</em> <em>em</em> "
         "<strong>strong</strong> snake_case_name a * b * c "
         "<em>a <strong>b</strong> c</em></p>\n"},
        {"\\*not em\\* \\[x] \\a **open", "<p>*not em* [x] \\a **open</p>\n"},
    };
    CHECK_DOCS(cases);
}

static void test_empty(void **state)
{
    (void)state;
    char *doc = doc_of("", 0);
    assert_string_equal(doc, "");
    free(doc);
    doc = doc_of(NULL, 0);
    assert_string_equal(doc, "");
    free(doc);
    doc = doc_of("\n\n  \n", 4);
    assert_string_equal(doc, "");
    free(doc);

    /* The frame: a link back, the stylesheet, no script. */
    char *page = page_of("", 0);
    assert_non_null(strstr(page, "<a href=\"/\">"));
    assert_non_null(strstr(page, "<style>\n"));
    assert_non_null(strstr(page, "<meta charset=\"utf-8\">"));
    assert_null(strstr(page, "<script"));
    free(page);
}

/* 100 KB on one line, of text and of markers that never close: rendered
 * whole, in time linear in its length. */
static void test_long_lines(void **state)
{
    (void)state;
    enum { LINE = 100 * 1024 };
    static const char *const units[] = {
        /* Markers that close at once, and (after a space) never. */
        "a",   "*",        "*a", "**a", "_a", " *a", " **a",
        " _a", " __a",     "`a", "``a", "`",  "[",   "[a](",
        "<",   "<http://", "|",  "\\",  "&",  "#",   "*_`[<\\|]( a",
    };
    /* Before the line, and between it and its second copy (if any). */
    static const struct {
        const char *before, *between, *after;
    } frames[] = {
        {"", NULL, ""},
        {"# ", NULL, ""},
        {"- ", NULL, ""},
        {"> ", NULL, ""},
        {"| ", " | b |\n|---|---|\n| ", " | c |"},
        {"```\n", NULL, ""},
    };
    char *line = malloc(LINE + 1);
    size_t md_max = 3 * LINE + 64;
    assert_non_null(line);
    clock_t cpu = clock();
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        size_t ul = strlen(units[u]), n = 0;
        while (n + ul <= LINE) {
            memcpy(line + n, units[u], ul);
            n += ul;
        }
        line[n] = '\0';
        for (size_t f = 0; f < sizeof(frames) / sizeof(frames[0]); f++) {
            struct buf b;
            buf_init(&b, md_max);
            assert_int_equal(buf_puts(&b, frames[f].before), 0);
            assert_int_equal(buf_puts(&b, line), 0);
            if (frames[f].between) {
                assert_int_equal(buf_puts(&b, frames[f].between), 0);
                assert_int_equal(buf_puts(&b, line), 0);
            }
            assert_int_equal(buf_puts(&b, frames[f].after), 0);
            char *page = page_of(buf_str(&b), b.len);
            buf_free(&b);
            /* Every 'a' of the input is on the page (counted by hand:
             * under ASan each strstr() measures the rest of the page). */
            if (strcmp(units[u], "a") == 0) {
                size_t a = 0;
                for (const char *p = page; *p; p++)
                    a += *p == 'a';
                assert_true(a >= n);
            }
            free(page);
        }
    }
    /* Linear: about 100 such pages take well under a second; a marker
     * search that started over at each marker would take minutes. */
    double s = (double)(clock() - cpu) / CLOCKS_PER_SEC;
    assert_true(s < 20.0);
    free(line);
}

/* Room for the frame but not the document: -1, never a page cut short
 * that looks whole. */
static void test_out_of_room(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    static const char md[] = "# Title\n\nSome text.\n";
    char big[8192];
    memset(big, 'x', sizeof(big));
    assert_int_equal(runbook_render(&b, big, sizeof(big)), -1);
    buf_free(&b);
    buf_init(&b, 4096);
    assert_int_equal(runbook_render(&b, md, strlen(md)), 0);
    buf_free(&b);
}

/* The build's copy is config/ALERTS.md as it is (build again after
 * editing it), with a NUL after it; and every alert heading gets its
 * lower-cased id. */
static void test_embedded(void **state)
{
    (void)state;
    FILE *f = fopen(TEST_SOURCE_DIR "/config/ALERTS.md", "rb");
    assert_non_null(f);
    struct buf want;
    buf_init(&want, 0);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        assert_int_equal(buf_append(&want, chunk, got), 0);
    fclose(f);
    assert_int_equal(runbook_md_len, want.len);
    assert_memory_equal(runbook_md, buf_str(&want), want.len);
    assert_int_equal(runbook_md[runbook_md_len], 0);
    buf_free(&want);

    char *page = page_of((const char *)runbook_md, runbook_md_len);
    /* Each "### Name" line: <h3 id="name">. */
    const char *md = (const char *)runbook_md;
    size_t headings = 0;
    for (const char *p = md; p && *p; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (strncmp(p, "### ", 4) != 0)
            continue;
        char id[128];
        size_t k = 0;
        for (const char *c = p + 4; *c && *c != '\n' && k + 1 < sizeof(id);
             c++)
            if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z'))
                id[k++] = (char)(*c | 0x20);
            else if ((*c >= '0' && *c <= '9') || *c == '-')
                id[k++] = *c;
        id[k] = '\0';
        char want_tag[160];
        snprintf(want_tag, sizeof(want_tag), "<h3 id=\"%s\">", id);
        if (!strstr(page, want_tag))
            print_error("no %s\n", want_tag);
        assert_non_null(strstr(page, want_tag));
        headings++;
    }
    assert_true(headings > 0);
    free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heading_ids), cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_links),       cmocka_unit_test(test_tables),
        cmocka_unit_test(test_code_blocks), cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_empty),       cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_out_of_room), cmocka_unit_test(test_embedded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
