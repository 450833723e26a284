/* config_module: [module "NAME"] sections, whose keys but
 * allowed_targets are [target]'s, read by config.c's code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "config_value.h"

/* The module named so already, or NULL: a config has a handful. */
static const struct module_config *parsed_module(const struct agent_config *c,
                                                 const char *name, size_t n)
{
    for (size_t i = 0; i < c->n_modules; i++) {
        const char *m = c->modules[i].probe.name;
        if (strlen(m) == n && memcmp(m, name, n) == 0)
            return &c->modules[i];
    }
    return NULL;
}

/* A new module, its section's, or NULL when out of memory. */
static struct module_config *add_module(struct parser *p, const char *name,
                                        size_t n)
{
    struct agent_config *c = p->cfg;
    const char *own = strpool_ndup(&c->strings, name, n);
    if (!own)
        return NULL;
    if (c->n_modules == p->mod_cap) {
        size_t cap = p->mod_cap ? p->mod_cap * 2 : 4;
        struct module_config *m = realloc(c->modules, cap * sizeof(*m));
        if (!m)
            return NULL;
        c->modules = m;
        struct target_draft *d = realloc(p->mod_drafts, cap * sizeof(*d));
        if (!d)
            return NULL;
        p->mod_drafts = d;
        p->mod_cap = cap;
    }
    struct module_config *m = &c->modules[c->n_modules];
    struct target_draft *d = &p->mod_drafts[c->n_modules];
    c->n_modules++;
    memset(m, 0, sizeof(*m));
    memset(d, 0, sizeof(*d));
    config_probe_init(p, &m->probe, own);
    p->cur = &m->probe;
    p->cur_draft = d;
    p->cur_module = m;
    return m;
}

void config_module_header(struct parser *p, const char *key, const char *q,
                          const char *in_end)
{
    p->saw_module = true;
    while (q < in_end && (*q == ' ' || *q == '\t'))
        q++;
    size_t qn = (size_t)(in_end - q);
    if (qn < 2 || q[0] != '"' || q[qn - 1] != '"') {
        config_err_at(
            p, p->lineno, key,
            "expected [module \"NAME\"] with the name in double quotes");
        return;
    }
    const char *name = q + 1;
    size_t n = qn - 2;
    if (!config_valid_target_name(name, n)) {
        config_err_at(
            p, p->lineno, key,
            "module name must be 1 to %d characters of A-Z a-z 0-9 _ . : -",
            CONFIG_NAME_MAX);
        return;
    }
    const struct module_config *dup = parsed_module(p->cfg, name, n);
    if (dup) {
        config_err_at(p, p->lineno, key, "duplicate module (first on line %d)",
                      dup->probe.line);
        return;
    }
    if (!add_module(p, name, n)) {
        p->oom = true;
        return;
    }
    p->sec = SEC_MODULE;
}

void config_allowed_targets_key(struct parser *p, int line, const char *key,
                                const char *v)
{
    char err[512];
    if (allowlist_parse(v, &p->cur_module->allowed, err, sizeof(err)) == 0)
        return;
    if (strcmp(err, "out of memory") == 0)
        p->oom = true;
    else
        config_err_at(p, line, key, "%s", err);
}

const struct module_config *config_find_module(const struct agent_config *c,
                                               const char *name)
{
    if (!c || !name)
        return NULL;
    return parsed_module(c, name, strlen(name));
}
