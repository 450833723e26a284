/* config_labels: the labels key, in [agent] or a [target]: its value
 * parsed by labels.c, kept in the config's pool, or refused with a
 * message that names the label at fault. */
#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "labels.h"

/* labels, in [agent] or a [target]: its parsed form in the config's
 * pool, or what is wrong, naming the label at fault. */
void config_labels_key(struct parser *p, int line, const char *key,
                       const char *v, const char **field)
{
    char canon[LABELS_CANON_MAX];
    size_t len = 0, n = 0, at_len = 0;
    const char *at = v;
    enum labels_problem pr = labels_parse(v, canon, &len, &n, &at, &at_len);
    int w = (int)at_len;
    char reserved[512];
    switch (pr) {
    case LABELS_OK: {
        const char *copy = strpool_ndup(&p->cfg->strings, canon, len);
        if (!copy)
            p->oom = true;
        else
            *field = copy;
        return;
    }
    case LABELS_NO_EQUALS:
        config_err_at(p, line, key,
                      "\"%.*s\" is not name=value; write none, or labels "
                      "like team=mail note=\"a value with spaces\" separated "
                      "by spaces",
                      w, at);
        return;
    case LABELS_BAD_NAME:
        config_err_at(p, line, key,
                      "label name \"%.*s\" must match [a-zA-Z_][a-zA-Z0-9_]*",
                      w, at);
        return;
    case LABELS_NAME_TOO_LONG:
        config_err_at(p, line, key,
                      "label name \"%.*s\" is longer than %d characters", w,
                      at, LABEL_NAME_MAX);
        return;
    case LABELS_DOUBLE_UNDERSCORE:
        config_err_at(p, line, key,
                      "label name \"%.*s\": names starting with __ are "
                      "reserved for Prometheus",
                      w, at);
        return;
    case LABELS_RESERVED:
        config_err_at(p, line, key,
                      "label name \"%.*s\" is reserved; the agent and "
                      "Prometheus use %s",
                      w, at,
                      labels_reserved_names(reserved, sizeof(reserved)));
        return;
    case LABELS_DUPLICATE:
        config_err_at(p, line, key, "label \"%.*s\" is given twice", w, at);
        return;
    case LABELS_EMPTY_VALUE:
        config_err_at(p, line, key,
                      "label \"%.*s\" has an empty value (to Prometheus an "
                      "empty label is no label)",
                      w, at);
        return;
    case LABELS_VALUE_TOO_LONG:
        config_err_at(p, line, key,
                      "the value of label \"%.*s\" is longer than %d bytes", w,
                      at, LABEL_VALUE_MAX);
        return;
    case LABELS_BAD_UTF8:
        config_err_at(p, line, key,
                      "the value of label \"%.*s\" is not valid UTF-8", w, at);
        return;
    case LABELS_CONTROL:
        config_err_at(p, line, key,
                      "the value of label \"%.*s\" holds a control character "
                      "(a tab, say)",
                      w, at);
        return;
    case LABELS_UNTERMINATED:
        config_err_at(p, line, key,
                      "the value of label \"%.*s\" has no closing double "
                      "quote (a \" ;\" in it starts a comment)",
                      w, at);
        return;
    case LABELS_BAD_ESCAPE:
        config_err_at(p, line, key,
                      "the value of label \"%.*s\": in double quotes only "
                      "\\\" and \\\\ are escapes",
                      w, at);
        return;
    case LABELS_QUOTE_IN_VALUE:
        config_err_at(p, line, key,
                      "the value of label \"%.*s\" holds a double quote; put "
                      "the whole value in double quotes and write it \\\"",
                      w, at);
        return;
    case LABELS_AFTER_QUOTE:
        config_err_at(p, line, key,
                      "text right after the closing quote of label \"%.*s\"; "
                      "separate labels with spaces",
                      w, at);
        return;
    case LABELS_TOO_MANY:
        config_err_at(p, line, key, "more than %d labels (at \"%.*s\")",
                      LABELS_MAX, w, at);
        return;
    case LABELS_NONE_MIXED:
        config_err_at(p, line, key,
                      "none cannot be listed with labels, not \"%s\"", v);
        return;
    }
}
