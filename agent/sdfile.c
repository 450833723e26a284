/* sdfile: Prometheus file_sd files, JSON (jansson) or YAML (libyaml),
 * walked into one builder that checks every value. */
#include "sdfile.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "allowlist.h"
#include "config.h"
#include "config_value.h"
#include "errmsg.h"
#include "labels.h"

/* What the file's label that picks the module is called: what a
 * blackbox-style file_sd file already carries. */
#define SD_MODULE_LABEL "__param_module"
/* The longest piece of the file a message quotes. */
#define QUOTE_MAX 64

enum sd_format sd_format_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return SD_FORMAT_NONE;
    if (strcmp(dot, ".json") == 0)
        return SD_FORMAT_JSON;
    if (strcmp(dot, ".yml") == 0 || strcmp(dot, ".yaml") == 0)
        return SD_FORMAT_YAML;
    return SD_FORMAT_NONE;
}

/* The groups being built, and where the walk is for messages. */
struct builder {
    struct sd_file *f;
    size_t cap_targets;
    size_t cap_groups;
    char *err;
    size_t errlen;
    char where[64]; /* "group 2: " or "line 7: group 2: " */
    /* The group being read: its labels so far (parsed form, always
     * ended by an empty name) and module. */
    char canon[LABELS_CANON_MAX];
    size_t canon_len;
    size_t n_labels;
    char module[CONFIG_NAME_MAX + 1];
};

/* s (n bytes) for a message, in quotes, printable ASCII only (others as
 * '?'), cut at QUOTE_MAX with "...". Returns dst. */
static const char *quote(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    if (cap < QUOTE_MAX + 6)
        return "";
    dst[o++] = '"';
    for (size_t i = 0; i < n && i < QUOTE_MAX; i++)
        dst[o++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    dst[o++] = '"';
    if (n > QUOTE_MAX) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return dst;
}

static void group_begin(struct builder *b, unsigned line)
{
    size_t g = b->f->n_groups + 1;
    if (line)
        snprintf(b->where, sizeof(b->where), "line %u: group %zu: ", line, g);
    else
        snprintf(b->where, sizeof(b->where), "group %zu: ", g);
    b->canon[0] = '\0';
    b->canon_len = 0;
    b->n_labels = 0;
    b->module[0] = '\0';
}

static int oom(struct builder *b)
{
    errmsg_set(b->err, b->errlen, "out of memory");
    return -1;
}

/* The k-th (0-based) entry of the group's targets list, n bytes at s. */
static int add_target(struct builder *b, size_t k, const char *s, size_t n)
{
    struct sd_file *f = b->f;
    char q[QUOTE_MAX + 8];
    char text[CONFIG_HOST_MAX + 16], host[CONFIG_HOST_MAX + 1];
    unsigned port = 0;
    if (f->n_targets >= SD_TARGETS_MAX) {
        errmsg_set(b->err, b->errlen, "%smore than %u targets in one file",
                   b->where, SD_TARGETS_MAX);
        return -1;
    }
    if (n == 0 || n >= sizeof(text) || memchr(s, '\0', n)) {
        errmsg_set(b->err, b->errlen,
                   "%stargets[%zu]: %s is not an address: want HOST:PORT, "
                   "HOST, IPv4:PORT or [IPv6]:PORT",
                   b->where, k, quote(q, sizeof(q), s, n));
        return -1;
    }
    memcpy(text, s, n);
    text[n] = '\0';
    if (allowlist_split_target(text, host, sizeof(host), &port) < 0 ||
        !config_valid_host(host)) {
        errmsg_set(b->err, b->errlen,
                   "%stargets[%zu]: %s is not an address: want HOST:PORT, "
                   "HOST, IPv4:PORT or [IPv6]:PORT",
                   b->where, k, quote(q, sizeof(q), s, n));
        return -1;
    }
    if (f->n_targets == b->cap_targets) {
        size_t cap = b->cap_targets ? b->cap_targets * 2 : 16;
        struct sd_target *t = realloc(f->targets, cap * sizeof(*t));
        if (!t)
            return oom(b);
        f->targets = t;
        b->cap_targets = cap;
    }
    const char *own = strpool_dup(&f->pool, host);
    if (!own)
        return oom(b);
    f->targets[f->n_targets++] = (struct sd_target){own, port};
    return 0;
}

static const char *problem_words(enum labels_problem pr)
{
    switch (pr) {
    case LABELS_BAD_NAME:
        return "is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)";
    case LABELS_NAME_TOO_LONG:
        return "is a label name longer than 64 characters";
    case LABELS_RESERVED:
        return "is reserved: the agent or Prometheus sets it";
    case LABELS_DUPLICATE:
        return "is given twice";
    case LABELS_VALUE_TOO_LONG:
        return "has a value longer than 128 bytes";
    case LABELS_BAD_UTF8:
        return "has a value that is not valid UTF-8";
    case LABELS_CONTROL:
        return "has a value with a control character";
    case LABELS_TOO_MANY:
        return "is one label too many (at most 8)";
    default:
        return "is not a label";
    }
}

/* A label of the group: name (nn bytes), value (vn bytes). */
static int add_label(struct builder *b, const char *name, size_t nn,
                     const char *value, size_t vn)
{
    char q[QUOTE_MAX + 8];
    enum labels_problem pr = LABELS_OK;
    if (nn == strlen(SD_MODULE_LABEL) &&
        memcmp(name, SD_MODULE_LABEL, nn) == 0) {
        if (vn == 0)
            return 0;
        if (!config_valid_target_name(value, vn)) {
            errmsg_set(b->err, b->errlen,
                       "%slabel " SD_MODULE_LABEL ": %s is not a module name",
                       b->where, quote(q, sizeof(q), value, vn));
            return -1;
        }
        memcpy(b->module, value, vn);
        b->module[vn] = '\0';
        return 0;
    }
    /* Prometheus' own (__address__, __scheme__, __meta_*, __param_*):
     * its relabelling reads them, the agent does not. */
    if (nn >= 2 && name[0] == '_' && name[1] == '_')
        return 0;
    if (vn == 0)
        return 0; /* to Prometheus an empty label is no label */
    if (memchr(name, '\0', nn))
        pr = LABELS_BAD_NAME;
    if (pr == LABELS_OK)
        pr = labels_check_name(name, nn, b->canon);
    if (pr == LABELS_OK && b->n_labels >= LABELS_MAX)
        pr = LABELS_TOO_MANY;
    if (pr == LABELS_OK && vn > LABEL_VALUE_MAX)
        pr = LABELS_VALUE_TOO_LONG;
    if (pr == LABELS_OK)
        pr = labels_check_value(value, vn);
    if (pr != LABELS_OK) {
        errmsg_set(b->err, b->errlen, "%slabel %s %s", b->where,
                   quote(q, sizeof(q), name, nn), problem_words(pr));
        return -1;
    }
    memcpy(b->canon + b->canon_len, name, nn);
    b->canon[b->canon_len + nn] = '\0';
    memcpy(b->canon + b->canon_len + nn + 1, value, vn);
    b->canon_len += nn + 1 + vn + 1;
    b->canon[b->canon_len - 1] = '\0';
    b->canon[b->canon_len] = '\0';
    b->n_labels++;
    return 0;
}

static int group_end(struct builder *b, size_t first, unsigned line)
{
    struct sd_file *f = b->f;
    if (f->n_groups == b->cap_groups) {
        size_t cap = b->cap_groups ? b->cap_groups * 2 : 8;
        struct sd_group *g = realloc(f->groups, cap * sizeof(*g));
        if (!g)
            return oom(b);
        f->groups = g;
        b->cap_groups = cap;
    }
    const char *labels = "", *module = "";
    if (b->canon_len) {
        labels = strpool_ndup(&f->pool, b->canon, b->canon_len);
        if (!labels)
            return oom(b);
    }
    if (b->module[0]) {
        module = strpool_dup(&f->pool, b->module);
        if (!module)
            return oom(b);
    }
    f->groups[f->n_groups++] = (struct sd_group){
        .first = first,
        .n_targets = f->n_targets - first,
        .module = module,
        .labels = labels,
        .n_labels = b->n_labels,
        .line = line,
    };
    return 0;
}

/* ---- JSON ---- */

static int json_group(struct builder *b, json_t *g)
{
    char q[QUOTE_MAX + 8];
    size_t first = b->f->n_targets;
    group_begin(b, 0);
    if (!json_is_object(g)) {
        errmsg_set(b->err, b->errlen,
                   "%snot an object {\"targets\": [...], \"labels\": {...}}",
                   b->where);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(g, key, v)
    {
        if (strcmp(key, "targets") != 0 && strcmp(key, "labels") != 0) {
            errmsg_set(b->err, b->errlen,
                       "%sunknown key %s; a group has targets and labels",
                       b->where, quote(q, sizeof(q), key, strlen(key)));
            return -1;
        }
    }
    json_t *targets = json_object_get(g, "targets");
    if (!json_is_array(targets) && !json_is_null(targets)) {
        errmsg_set(b->err, b->errlen,
                   "%s\"targets\" is %s; want a list of addresses", b->where,
                   targets ? "not a list" : "missing");
        return -1;
    }
    size_t k;
    json_array_foreach(targets, k, v)
    {
        if (!json_is_string(v)) {
            errmsg_set(b->err, b->errlen, "%stargets[%zu] is not a string",
                       b->where, k);
            return -1;
        }
        if (add_target(b, k, json_string_value(v), json_string_length(v)))
            return -1;
    }
    json_t *labels = json_object_get(g, "labels");
    if (labels && !json_is_object(labels) && !json_is_null(labels)) {
        errmsg_set(b->err, b->errlen,
                   "%s\"labels\" is not an object of names and values",
                   b->where);
        return -1;
    }
    json_object_foreach(labels, key, v)
    {
        if (!json_is_string(v)) {
            errmsg_set(b->err, b->errlen,
                       "%slabel %s: the value is not a string", b->where,
                       quote(q, sizeof(q), key, strlen(key)));
            return -1;
        }
        if (add_label(b, key, strlen(key), json_string_value(v),
                      json_string_length(v)))
            return -1;
    }
    return group_end(b, first, 0);
}

static int parse_json(struct builder *b, const char *text, size_t len)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        errmsg_set(b->err, b->errlen, "line %d, column %d: %s", je.line,
                   je.column, je.text);
        return -1;
    }
    int rc = 0;
    if (!json_is_array(root)) {
        errmsg_set(b->err, b->errlen,
                   "not a list of groups [{\"targets\": [...], \"labels\": "
                   "{...}}, ...]");
        rc = -1;
    }
    size_t i;
    json_t *g;
    json_array_foreach(root, i, g)
    {
        if (rc == 0 && json_group(b, g))
            rc = -1;
    }
    json_decref(root);
    return rc;
}

/* ---- YAML ---- */

struct ywalk {
    struct builder *b;
    yaml_document_t *doc;
    size_t visits; /* nodes looked at: aliases may repeat a subtree */
    size_t max_visits;
};

static yaml_node_t *ynode(struct ywalk *w, int index)
{
    yaml_node_t *n = yaml_document_get_node(w->doc, index);
    w->visits++;
    if (n && w->visits > w->max_visits) {
        errmsg_set(w->b->err, w->b->errlen,
                   "line %zu: more nodes than the file has bytes: aliases "
                   "that repeat a part of it",
                   n->start_mark.line + 1);
        return NULL;
    }
    return n;
}

/* A plain scalar that YAML reads as null: "", "~", "null". */
static bool ynull(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE ||
        n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    return len == 0 || (len == 1 && s[0] == '~') ||
           (len == 4 &&
            (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 ||
             memcmp(s, "NULL", 4) == 0));
}

static const char *yscalar(const yaml_node_t *n, size_t *len)
{
    *len = n->data.scalar.length;
    return (const char *)n->data.scalar.value;
}

static int yaml_targets(struct ywalk *w, yaml_node_t *list)
{
    struct builder *b = w->b;
    if (ynull(list))
        return 0;
    if (list->type != YAML_SEQUENCE_NODE) {
        errmsg_set(b->err, b->errlen,
                   "%s\"targets\" is not a list of addresses", b->where);
        return -1;
    }
    size_t k = 0;
    for (yaml_node_item_t *it = list->data.sequence.items.start;
         it < list->data.sequence.items.top; it++, k++) {
        yaml_node_t *n = ynode(w, *it);
        if (!n)
            return -1;
        if (n->type != YAML_SCALAR_NODE) {
            errmsg_set(b->err, b->errlen, "%stargets[%zu] is not a string",
                       b->where, k);
            return -1;
        }
        size_t len;
        const char *s = yscalar(n, &len);
        if (add_target(b, k, s, len))
            return -1;
    }
    return 0;
}

static int yaml_labels(struct ywalk *w, yaml_node_t *map)
{
    struct builder *b = w->b;
    char q[QUOTE_MAX + 8];
    if (ynull(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE) {
        errmsg_set(b->err, b->errlen,
                   "%s\"labels\" is not a map of names and values", b->where);
        return -1;
    }
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
         pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = ynode(w, pr->key),
                    *v = k ? ynode(w, pr->value) : NULL;
        if (!k || !v)
            return -1;
        size_t kn = 0, vn = 0;
        const char *ks = k->type == YAML_SCALAR_NODE ? yscalar(k, &kn) : NULL;
        if (!ks) {
            errmsg_set(b->err, b->errlen, "%sa label name is not a string",
                       b->where);
            return -1;
        }
        if (v->type != YAML_SCALAR_NODE) {
            errmsg_set(b->err, b->errlen,
                       "%slabel %s: the value is not a string", b->where,
                       quote(q, sizeof(q), ks, kn));
            return -1;
        }
        const char *vs = ynull(v) ? "" : yscalar(v, &vn);
        if (add_label(b, ks, kn, vs, vn))
            return -1;
    }
    return 0;
}

static int yaml_group(struct ywalk *w, yaml_node_t *g)
{
    struct builder *b = w->b;
    char q[QUOTE_MAX + 8];
    unsigned line = (unsigned)g->start_mark.line + 1;
    size_t first = b->f->n_targets;
    group_begin(b, line);
    if (g->type != YAML_MAPPING_NODE) {
        errmsg_set(b->err, b->errlen, "%snot a map of targets and labels",
                   b->where);
        return -1;
    }
    yaml_node_t *targets = NULL, *labels = NULL;
    for (yaml_node_pair_t *pr = g->data.mapping.pairs.start;
         pr < g->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = ynode(w, pr->key),
                    *v = k ? ynode(w, pr->value) : NULL;
        if (!k || !v)
            return -1;
        size_t kn = 0;
        const char *ks = k->type == YAML_SCALAR_NODE ? yscalar(k, &kn) : "";
        yaml_node_t **slot =
            kn == 7 && memcmp(ks, "targets", 7) == 0  ? &targets
            : kn == 6 && memcmp(ks, "labels", 6) == 0 ? &labels
                                                      : NULL;
        if (!slot) {
            errmsg_set(b->err, b->errlen,
                       "%sunknown key %s; a group has targets and labels",
                       b->where, quote(q, sizeof(q), ks, kn));
            return -1;
        }
        if (*slot) {
            errmsg_set(b->err, b->errlen, "%s%s given twice", b->where,
                       slot == &targets ? "targets" : "labels");
            return -1;
        }
        *slot = v;
    }
    if (!targets) {
        errmsg_set(b->err, b->errlen,
                   "%s\"targets\" is missing; want a list of addresses",
                   b->where);
        return -1;
    }
    if (yaml_targets(w, targets) || (labels && yaml_labels(w, labels)))
        return -1;
    return group_end(b, first, line);
}

static int parse_yaml(struct builder *b, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return oom(b);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        errmsg_set(
            b->err, b->errlen, "line %zu, column %zu: %s%s%s",
            parser.problem_mark.line + 1, parser.problem_mark.column + 1,
            parser.problem ? parser.problem : "not YAML",
            parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return -1;
    }
    int rc = 0;
    struct ywalk w = {.b = b, .doc = &doc, .max_visits = 2 * len + 16};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !ynull(root)) {
        if (root->type != YAML_SEQUENCE_NODE) {
            errmsg_set(b->err, b->errlen,
                       "line %zu: not a list of groups (- targets: [...])",
                       root->start_mark.line + 1);
            rc = -1;
        }
        for (yaml_node_item_t *it = root->data.sequence.items.start;
             rc == 0 && root->type == YAML_SEQUENCE_NODE &&
             it < root->data.sequence.items.top;
             it++) {
            yaml_node_t *g = ynode(&w, *it);
            if (!g || yaml_group(&w, g))
                rc = -1;
        }
    }
    yaml_document_delete(&doc);
    /* A second document would be ignored by a reader that stops at the
     * first: refuse it rather than probe half the file. */
    if (rc == 0 && root) {
        if (!yaml_parser_load(&parser, &doc)) {
            errmsg_set(b->err, b->errlen, "line %zu, column %zu: %s",
                       parser.problem_mark.line + 1,
                       parser.problem_mark.column + 1,
                       parser.problem ? parser.problem : "not YAML");
            rc = -1;
        } else {
            if (yaml_document_get_root_node(&doc)) {
                errmsg_set(b->err, b->errlen,
                           "more than one YAML document; want one list of "
                           "groups");
                rc = -1;
            }
            yaml_document_delete(&doc);
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

int sd_parse(enum sd_format format, const char *text, size_t len,
             struct sd_file *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    struct builder b = {.f = out, .err = err, .errlen = errlen};
    int rc;
    switch (format) {
    case SD_FORMAT_JSON:
        rc = parse_json(&b, text, len);
        break;
    case SD_FORMAT_YAML:
        rc = parse_yaml(&b, text, len);
        break;
    default:
        errmsg_set(err, errlen,
                   "the name must end in .json, .yml or .yaml (its format)");
        rc = -1;
        break;
    }
    if (rc < 0)
        sd_file_free(out);
    return rc;
}

void sd_file_free(struct sd_file *f)
{
    if (!f)
        return;
    free(f->targets);
    free(f->groups);
    strpool_free(&f->pool);
    memset(f, 0, sizeof(*f));
}
