/* config_shard: shard = I/N: which targets are this agent's, and the
 * others left out of the config once it is known to be valid. */
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "config_value.h"
#include "shard.h"

/* shard = I/N, or what is wrong with it. */
void config_shard_key(struct parser *p, int line, const char *key,
                      const char *v)
{
    struct agent_config *c = p->cfg;
    switch (config_parse_shard(v, &c->shard, &c->shards)) {
    case CONFIG_SHARD_OK:
        return;
    case CONFIG_SHARD_SYNTAX:
        config_err_at(p, line, key,
                      "must be I/N, this agent's shard I (0 to N-1) of N "
                      "agents, like 0/3, not \"%s\"",
                      v);
        return;
    case CONFIG_SHARD_COUNT:
        config_err_at(p, line, key,
                      "the number of shards N must be from 1 to %u, not "
                      "\"%s\"",
                      CONFIG_SHARDS_MAX, v);
        return;
    case CONFIG_SHARD_INDEX:
        config_err_at(p, line, key,
                      "the shard I must be below the number of shards N "
                      "(0 to N-1), not \"%s\"",
                      v);
        return;
    }
}

void config_shard_check(struct parser *p, struct target_config *t,
                        struct target_draft *d)
{
    struct agent_config *c = p->cfg;
    if (c->shards <= 1)
        return;
    unsigned s = 0;
    if (shard_of(t->host, t->port, c->shards, &s) < 0) {
        /* The load fails; the target stays, like any other. */
        if (!p->shard_failed)
            config_err_at(p, p->agent_key_line[AK_SHARD],
                          config_agent_key_names[AK_SHARD],
                          "cannot hash the targets' addresses: OpenSSL "
                          "offers no MD5 here (a FIPS-only configuration?), "
                          "and Prometheus' hashmod is MD5");
        p->shard_failed = true;
        return;
    }
    d->other_shard = s != c->shard;
    if (d->other_shard && t->secret_shared) {
        t->secret = NULL; /* its module's: it stays */
        t->secret_len = 0;
        t->secret_shared = false;
    } else if (d->other_shard && t->secret) {
        explicit_bzero(t->secret, t->secret_len);
        free(t->secret);
        t->secret = NULL;
        t->secret_len = 0;
    }
}

void config_apply_shard(struct parser *p)
{
    struct agent_config *c = p->cfg;
    if (c->shards <= 1)
        return;
    size_t n = c->n_targets, kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (p->drafts[i].other_shard)
            c->n_other_shards++;
        else
            c->targets[kept++] = c->targets[i];
    }
    c->n_targets = kept;
    /* Their strings stay in the config's pool (tens of bytes a target);
     * the array's part of them, megabytes at 100,000 targets, goes. */
    if (kept > 0 && kept < n) {
        struct target_config *smaller =
            realloc(c->targets, kept * sizeof(*c->targets));
        if (smaller)
            c->targets = smaller;
    }
    if (kept == 0)
        config_warn_at(p, p->agent_key_line[AK_SHARD],
                       config_agent_key_names[AK_SHARD],
                       "none of the %zu targets falls in shard %u/%u; this "
                       "agent probes nothing",
                       n, c->shard, c->shards);
}
