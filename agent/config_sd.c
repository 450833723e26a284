/* config_sd: targets_file: Prometheus file_sd files of targets, read
 * after the sections, each target made from its group's module (or
 * [agent]'s defaults); a broken file keeps its last good version's. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "config_value.h"
#include "labels.h"
#include "sdfile.h"
#include "shard.h"

struct sd_cache_entry {
    char *path;
    struct sd_file f;
};

struct sd_cache {
    struct sd_cache_entry *e;
    size_t n;
    size_t cap;
};

struct sd_cache *sd_cache_new(void)
{
    return calloc(1, sizeof(struct sd_cache));
}

void sd_cache_free(struct sd_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].path);
        sd_file_free(&c->e[i].f);
    }
    free(c->e);
    free(c);
}

static struct sd_cache_entry *cache_find(struct sd_cache *c, const char *path)
{
    for (size_t i = 0; c && i < c->n; i++) {
        if (strcmp(c->e[i].path, path) == 0)
            return &c->e[i];
    }
    return NULL;
}

/* Keeps *f (moved: *f is empty after) as path's last good version. When
 * out of memory the old version stays, and *f is freed. */
static void cache_put(struct sd_cache *c, const char *path, struct sd_file *f)
{
    struct sd_cache_entry *e = cache_find(c, path);
    if (!e && c && c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        struct sd_cache_entry *grown = realloc(c->e, cap * sizeof(*grown));
        if (grown) {
            c->e = grown;
            c->cap = cap;
        }
    }
    if (!e && c && c->n < c->cap) {
        char *copy = strdup(path);
        if (copy) {
            e = &c->e[c->n++];
            e->path = copy;
            memset(&e->f, 0, sizeof(e->f));
        }
    }
    if (!e) {
        sd_file_free(f);
        return;
    }
    sd_file_free(&e->f);
    e->f = *f;
    memset(f, 0, sizeof(*f));
}

/* Forgets the files this load did not match: a file that is gone takes
 * its targets with it, as in Prometheus. */
static void cache_keep_only(struct sd_cache *c, const struct agent_config *cfg)
{
    size_t kept = 0;
    for (size_t i = 0; c && i < c->n; i++) {
        bool seen = false;
        for (size_t k = 0; k < cfg->n_sd_files && !seen; k++)
            seen = strcmp(cfg->sd_files[k].path, c->e[i].path) == 0;
        if (seen) {
            c->e[kept++] = c->e[i];
        } else {
            free(c->e[i].path);
            sd_file_free(&c->e[i].f);
        }
    }
    if (c)
        c->n = kept;
}

static bool has_glob(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '*' || s[i] == '?' || s[i] == '[')
            return true;
    }
    return false;
}

void config_targets_file_key(struct parser *p, int line, const char *key,
                             const char *v)
{
    struct agent_config *c = p->cfg;
    char path[CONFIG_PATH_MAX + 1];
    int len = v[0] == '/' || !p->base_dir[0]
                  ? snprintf(path, sizeof(path), "%s", v)
                  : snprintf(path, sizeof(path), "%s/%s", p->base_dir, v);
    if (len < 0 || (size_t)len >= sizeof(path)) {
        config_err_at(p, line, key, "path longer than %d characters",
                      CONFIG_PATH_MAX);
        return;
    }
    const char *slash = strrchr(path, '/');
    if (slash && has_glob(path, (size_t)(slash - path))) {
        config_err_at(p, line, key,
                      "glob characters (* ? [) only in the file's name, not "
                      "in its directories: \"%s\"",
                      v);
        return;
    }
    if (sd_format_of(path) == SD_FORMAT_NONE) {
        config_err_at(p, line, key,
                      "must end in .json, .yml or .yaml (the files' format, "
                      "as for Prometheus' file_sd), not \"%s\"",
                      v);
        return;
    }
    for (size_t i = 0; i < c->n_targets_files; i++) {
        if (strcmp(c->targets_files[i], path) == 0) {
            config_err_at(p, line, key,
                          "\"%s\" given twice (first on line %d)", v,
                          p->sd_lines[i]);
            return;
        }
    }
    if (c->n_targets_files == p->sd_cap) {
        size_t cap = p->sd_cap ? p->sd_cap * 2 : 4;
        const char **f = realloc(c->targets_files, cap * sizeof(*f));
        if (f)
            c->targets_files = f;
        int *l = f ? realloc(p->sd_lines, cap * sizeof(*l)) : NULL;
        if (!l) {
            p->oom = true;
            return;
        }
        p->sd_lines = l;
        p->sd_cap = cap;
    }
    const char *own = strpool_dup(&c->strings, path);
    if (!own) {
        p->oom = true;
        return;
    }
    p->sd_lines[c->n_targets_files] = line;
    c->targets_files[c->n_targets_files++] = own;
}

/*
 * base's labels, then own's (a name in both takes own's value), in
 * labels.h's parsed form into dst (LABELS_CANON_MAX bytes); its length
 * without the final NUL in *len. -1 when that makes more than
 * LABELS_MAX labels.
 */
static int merge_labels(const char *base, const char *own, char *dst,
                        size_t *len)
{
    size_t o = 0, n = 0;
    const char *name, *value;
    for (int pass = 0; pass < 2; pass++) {
        for (const char *p = labels_next(pass ? own : base, &name, &value); p;
             p = labels_next(p, &name, &value)) {
            if (pass == 0) {
                const char *on, *ov;
                bool overridden = false;
                for (const char *q = labels_next(own, &on, &ov); q;
                     q = labels_next(q, &on, &ov))
                    overridden = overridden || strcmp(on, name) == 0;
                if (overridden)
                    continue;
            }
            if (++n > LABELS_MAX)
                return -1;
            size_t nn = strlen(name) + 1, vn = strlen(value) + 1;
            memcpy(dst + o, name, nn);
            memcpy(dst + o + nn, value, vn);
            o += nn + vn;
        }
    }
    dst[o] = '\0';
    *len = o;
    return 0;
}

/* Where a group is, for messages: "line 7: group 2: " or "group 2: ". */
static const char *group_where(char *dst, size_t n, const struct sd_file *f,
                               size_t g)
{
    if (f->groups[g].line)
        snprintf(dst, n, "line %u: group %zu: ", f->groups[g].line, g + 1);
    else
        snprintf(dst, n, "group %zu: ", g + 1);
    return dst;
}

/*
 * The targets of f into the config: each made from its group's module
 * (or tmpl, [agent]'s defaults), named HOST:PORT/MODULE (HOST:PORT
 * without a module). *added counts them. 0; or -1 with err saying what
 * is wrong (the caller drops what was added).
 */
static int add_file_targets(struct parser *p, int line, const char *path,
                            const struct sd_file *f,
                            const struct target_config *tmpl, size_t *added,
                            char *err, size_t errlen)
{
    struct agent_config *c = p->cfg;
    char where[64], a[32], b[32];
    for (size_t g = 0; g < f->n_groups; g++) {
        const struct sd_group *gr = &f->groups[g];
        const struct module_config *m = NULL;
        if (gr->module[0]) {
            m = config_find_module(c, gr->module);
            if (!m) {
                snprintf(err, errlen,
                         "%s__param_module \"%s\" is not a [module] of %s",
                         group_where(where, sizeof(where), f, g), gr->module,
                         p->name);
                return -1;
            }
        }
        const struct target_config *base = m ? &m->probe : tmpl;
        if (gr->n_targets && base->timeout_ms > c->interval_ms) {
            snprintf(err, errlen,
                     "%smodule %s's timeout (%s) exceeds the interval its "
                     "targets are probed at ([agent] interval, %s)",
                     group_where(where, sizeof(where), f, g), gr->module,
                     config_format_duration(base->timeout_ms, a, sizeof(a)),
                     config_format_duration(c->interval_ms, b, sizeof(b)));
            return -1;
        }
        const char *labels = base->labels;
        if (gr->n_labels) {
            char canon[LABELS_CANON_MAX];
            size_t len = 0;
            if (merge_labels(base->labels, gr->labels, canon, &len) < 0) {
                snprintf(err, errlen, "%smore than %d labels with those of %s",
                         group_where(where, sizeof(where), f, g), LABELS_MAX,
                         m ? "its module" : "[agent]");
                return -1;
            }
            labels = strpool_ndup(&c->strings, canon, len);
            if (!labels)
                goto oom;
        }
        for (size_t k = 0; k < gr->n_targets; k++) {
            const struct sd_target *st = &f->targets[gr->first + k];
            unsigned port =
                st->port ? st->port : config_default_port(base->tls);
            char addr[SHARD_ADDRESS_MAX + 1];
            char name[CONFIG_TARGET_NAME_MAX + 1];
            if (m && !allowlist_match(&m->allowed, st->host, port)) {
                shard_address(addr, sizeof(addr), st->host, port);
                snprintf(err, errlen,
                         "%stargets[%zu]: %s is not in module %s's "
                         "allowed_targets",
                         group_where(where, sizeof(where), f, g), k, addr,
                         gr->module);
                return -1;
            }
            if (shard_address(addr, sizeof(addr), st->host, port) < 0)
                goto oom; /* a checked host always fits */
            snprintf(name, sizeof(name), "%s%s%s", addr, m ? "/" : "",
                     m ? gr->module : "");
            const struct target_config *dup = NULL;
            struct target_config *t = config_add_target(p, name, &dup);
            if (!t && dup) {
                config_warn_at(p, line, "targets_file",
                               "%s: %stargets[%zu]: target %s is there "
                               "already (line %d); probed once",
                               path, group_where(where, sizeof(where), f, g),
                               k, name, dup->line);
                continue;
            }
            if (!t)
                goto oom;
            const char *own_name = t->name;
            *t = *base;
            t->name = own_name;
            t->host = strpool_dup(&c->strings, st->host);
            if (!t->host)
                goto oom;
            t->port = port;
            if (!t->server_name[0])
                t->server_name = t->host;
            t->labels = labels;
            t->interval_ms = c->interval_ms;
            t->secret_shared = t->secret != NULL;
            t->line = line;
            config_shard_check(p, t, &p->drafts[c->n_targets - 1]);
            (*added)++;
        }
    }
    return 0;
oom:
    p->oom = true;
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* [agent]'s defaults for a group without __param_module: a [target] that
 * gives only its host (and port). */
static void agent_template(struct parser *p, struct target_config *t)
{
    config_probe_init(p, t, "");
    config_inherit_agent(p, t, NULL);
}

static const char *read_problem(char *dst, size_t n, enum file_status st,
                                int err)
{
    return file_problem(dst, n, "the file", st, err, SD_FILE_MAX_WORDS);
}

/* One file: its targets, or its last good version's. */
static void expand_file(struct parser *p, int line, const char *path,
                        const struct target_config *tmpl)
{
    struct agent_config *c = p->cfg;
    struct targets_file_state *st = &c->sd_files[c->n_sd_files];
    st->path = strpool_dup(&c->strings, path);
    if (!st->path) {
        p->oom = true;
        return;
    }
    st->valid = false;
    st->n_targets = 0;
    c->n_sd_files++;

    char problem[600] = "";
    char *text = NULL;
    size_t len = 0;
    int err = 0;
    struct file_info info;
    enum file_status fs =
        file_read(path, SD_FILE_MAX, &text, &len, &info, &err);
    struct sd_file f;
    memset(&f, 0, sizeof(f));
    if (fs != FILE_OK && fs != FILE_EMPTY) {
        read_problem(problem, sizeof(problem), fs, err);
    } else if (sd_parse(sd_format_of(path), text ? text : "", len, &f, problem,
                        sizeof(problem)) == 0) {
        size_t before = c->n_targets, added = 0;
        if (add_file_targets(p, line, path, &f, tmpl, &added, problem,
                             sizeof(problem)) == 0) {
            st->valid = true;
            st->n_targets = added;
            c->n_file_targets += added;
            cache_put(p->sd_cache, path, &f);
            free(text);
            return;
        }
        config_drop_targets(p, before);
        sd_file_free(&f);
    }
    free(text);
    if (p->oom)
        return;

    struct sd_cache_entry *e = cache_find(p->sd_cache, path);
    size_t before = c->n_targets, added = 0;
    char again[600] = "";
    if (e && add_file_targets(p, line, path, &e->f, tmpl, &added, again,
                              sizeof(again)) == 0) {
        st->n_targets = added;
        c->n_file_targets += added;
        config_file_err(
            p, path, "%s; its last good version's %zu target%s stay%s",
            problem, added, added == 1 ? "" : "s", added == 1 ? "s" : "");
        return;
    }
    config_drop_targets(p, before);
    if (e)
        config_file_err(p, path,
                        "%s; its last good version no longer fits the "
                        "config either (%s): none of its targets is probed",
                        problem, again);
    else
        config_file_err(p, path,
                        "%s; none of its targets is probed until it is "
                        "fixed",
                        problem);
}

static bool seen_file(const struct agent_config *c, const char *path)
{
    for (size_t i = 0; i < c->n_sd_files; i++) {
        if (strcmp(c->sd_files[i].path, path) == 0)
            return true;
    }
    return false;
}

void config_sd_expand(struct parser *p)
{
    struct agent_config *c = p->cfg;
    if (!c->n_targets_files)
        return;
    struct target_config tmpl;
    agent_template(p, &tmpl);
    size_t cap = 0;
    for (size_t i = 0; i < c->n_targets_files && !p->oom; i++) {
        const char *pattern = c->targets_files[i];
        int line = p->sd_lines[i];
        glob_t g;
        memset(&g, 0, sizeof(g));
        int rc = glob(pattern, 0, NULL, &g);
        if (rc == GLOB_NOSPACE) {
            p->oom = true;
        } else if (rc == GLOB_NOMATCH) {
            config_warn_at(p, line, "targets_file",
                           "\"%s\" matches no file yet; its targets come "
                           "when one appears",
                           pattern);
        } else if (rc != 0) {
            config_warn_at(p, line, "targets_file",
                           "cannot read the directory of \"%s\"", pattern);
        }
        for (size_t k = 0; rc == 0 && k < g.gl_pathc && !p->oom; k++) {
            const char *path = g.gl_pathv[k];
            if (seen_file(c, path))
                continue;
            if (c->n_sd_files == cap) {
                cap = cap ? cap * 2 : 8;
                struct targets_file_state *s =
                    realloc(c->sd_files, cap * sizeof(*s));
                if (!s) {
                    p->oom = true;
                    break;
                }
                c->sd_files = s;
            }
            expand_file(p, line, path, &tmpl);
        }
        globfree(&g);
    }
    if (!p->oom)
        cache_keep_only(p->sd_cache, c);
}
