/* config_resolve: a section's probe settings made whole: their defaults
 * before its keys, [agent]'s inherited after them (by [target]s,
 * [module]s and targets_file targets alike), and the checks across keys
 * that need the whole section. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config_internal.h"
#include "config_value.h"

void config_probe_init(struct parser *p, struct target_config *t,
                       const char *name)
{
    memset(t, 0, sizeof(*t));
    t->name = name;
    t->tls = CONFIG_DEFAULT_TLS;
    t->tls_verify = CONFIG_DEFAULT_TLS_VERIFY;
    t->host = t->ca_file = t->server_name = t->ehlo_name = t->username = "";
    t->source_address = CONFIG_DEFAULT_SOURCE_ADDRESS;
    t->labels = "";
    t->token_file = "";
    t->oauth.token_url = t->oauth.client_id = t->oauth.client_secret_file =
        t->oauth.scope = t->oauth.refresh_token_file = "";
    t->require_ehlo = "";
    t->open_relay_rcpt = CHECK_DEFAULT_RELAY_RCPT;
    t->line = p->lineno;
}

void config_inherit_agent(struct parser *p, struct target_config *t,
                          const struct target_draft *d)
{
    const struct agent_config *c = p->cfg;
    if (!d || !d->set[TK_CA_FILE])
        t->ca_file = c->ca_file;
    if (!d || !d->set[TK_EHLO_NAME])
        t->ehlo_name = p->ehlo ? p->ehlo : "localhost";
    /* A [module] may not set interval or extra_metrics (config.c's
     * section_refuses()): it always takes [agent]'s. */
    if (!d || !d->set[TK_INTERVAL])
        t->interval_ms = c->interval_ms;
    if (!d || !d->set[TK_TIMEOUT])
        t->timeout_ms = c->timeout_ms;
    /* The section's list replaces [agent]'s: no union. */
    if (!d || !d->set[TK_EXTRA_METRICS])
        t->extra_metrics = c->extra_metrics;
    if (!d || !d->set[TK_IP_FAMILY])
        t->ip_family = c->ip_family;
    if (!d || !d->set[TK_SOURCE_ADDRESS])
        t->source_address = c->source_address;
    /* The same: a section's labels replace [agent]'s. */
    if (!d || !d->set[TK_LABELS])
        t->labels = c->labels;
}

/* After the section: what the checks need of the rest of it. */
static void check_target_checks(struct parser *p,
                                const struct target_config *t,
                                const struct target_draft *d)
{
    if (t->expect_auth_refused && t->tls != TLS_MODE_STARTTLS)
        config_err_at(p, d->key_line[TK_EXPECT_AUTH_BEFORE_TLS],
                      config_target_key_names[TK_EXPECT_AUTH_BEFORE_TLS],
                      "only for a STARTTLS target (tls = starttls): there is "
                      "no \"before TLS\" with tls = %s",
                      t->tls == TLS_MODE_IMPLICIT ? "implicit" : "none");
    if (d->set[TK_OPEN_RELAY_RCPT] && !t->expect_relay_refused)
        config_warn_at(p, d->key_line[TK_OPEN_RELAY_RCPT],
                       config_target_key_names[TK_OPEN_RELAY_RCPT],
                       "has no effect without expect_open_relay = refused");
}

/* The machine's name for EHLO; "localhost" when it has none usable. */
static void default_ehlo_name(char *dst, size_t n)
{
    char host[CONFIG_HOST_MAX + 1];
    if (gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        if (config_valid_ehlo_name(host) && strlen(host) < n) {
            memcpy(dst, host, strlen(host) + 1);
            return;
        }
    }
    snprintf(dst, n, "localhost");
}

/* "interval is the default 1m", "interval 1m comes from [agent] at line
 * 2": where the value of [agent]'s key k that a section did not set comes
 * from, for a message. A refused value left the default. */
static const char *agent_origin(const struct parser *p, enum agent_key k,
                                uint64_t ms, char *dst, size_t n)
{
    char v[32];
    config_format_duration(ms, v, sizeof(v));
    if (p->agent_set[k] && !p->agent_bad[k])
        snprintf(dst, n, "%s %s comes from [agent] at line %d",
                 config_agent_key_names[k], v, p->agent_key_line[k]);
    else
        snprintf(dst, n, "%s is the default %s", config_agent_key_names[k], v);
    return dst;
}

/* "timeout must not exceed interval (T > I[; why])" at line, key. */
static void err_timeout(struct parser *p, int line, const char *key,
                        uint64_t timeout_ms, uint64_t interval_ms,
                        const char *why)
{
    char a[32], b[32];
    config_err_at(p, line, key,
                  "timeout must not exceed interval (%s > %s%s%s)",
                  config_format_duration(timeout_ms, a, sizeof(a)),
                  config_format_duration(interval_ms, b, sizeof(b)),
                  why[0] ? "; " : "", why);
}

/* [agent]'s timeout against its interval, at the line of the one given
 * (the timeout's when both are); the other, when left at its default,
 * is said to be. A refused value was reported already. */
static void check_agent_timeout(struct parser *p)
{
    const struct agent_config *c = p->cfg;
    if (c->timeout_ms <= c->interval_ms || p->agent_bad[AK_TIMEOUT] ||
        p->agent_bad[AK_INTERVAL])
        return;
    char why[96] = "";
    enum agent_key k = AK_TIMEOUT;
    if (!p->agent_set[AK_TIMEOUT] && p->agent_set[AK_INTERVAL]) {
        k = AK_INTERVAL;
        agent_origin(p, AK_TIMEOUT, c->timeout_ms, why, sizeof(why));
    } else if (!p->agent_set[AK_INTERVAL]) {
        agent_origin(p, AK_INTERVAL, c->interval_ms, why, sizeof(why));
    }
    int line = p->agent_key_line[k] ? p->agent_key_line[k] : p->agent_line;
    err_timeout(p, line, config_agent_key_names[k], c->timeout_ms,
                c->interval_ms, why);
}

/* A target's timeout against its interval, at the line of the one it
 * gives (the timeout's when both); the other comes from [agent] or is
 * the default, and the message says which. Both inherited: [agent]'s
 * own check said it already. A refused value was reported already too. */
static void check_target_timeout(struct parser *p,
                                 const struct target_config *t,
                                 const struct target_draft *d)
{
    bool own_t = d->set[TK_TIMEOUT], own_i = d->set[TK_INTERVAL];
    if ((!own_t && !own_i) || d->bad[TK_INTERVAL] || d->bad[TK_TIMEOUT] ||
        t->timeout_ms <= t->interval_ms)
        return;
    char why[96] = "";
    enum target_key k = own_t ? TK_TIMEOUT : TK_INTERVAL;
    if (!own_i)
        agent_origin(p, AK_INTERVAL, t->interval_ms, why, sizeof(why));
    else if (!own_t)
        agent_origin(p, AK_TIMEOUT, t->timeout_ms, why, sizeof(why));
    err_timeout(p, d->key_line[k], config_target_key_names[k], t->timeout_ms,
                t->interval_ms, why);
}

/* A [module]'s settings, as a [target]'s but for what the request
 * brings: the host, the port, the server name (by default the host). */
static void resolve_module(struct parser *p, struct module_config *m,
                           struct target_draft *d, bool *agent_ca_warned,
                           bool *agent_ca_failed)
{
    struct target_config *t = &m->probe;
    if (!d->set[TK_ALLOWED_TARGETS] && !d->bad[TK_ALLOWED_TARGETS])
        config_err_at(p,
                      d->key_line[TK_ALLOWED_TARGETS]
                          ? d->key_line[TK_ALLOWED_TARGETS]
                          : t->line,
                      "allowed_targets",
                      "missing; every module needs the targets it may probe, "
                      "like allowed_targets = *.example.com:587");
    config_inherit_agent(p, t, d);
    config_check_target_family(p, t, d);
    config_check_auth(p, t, d);
    config_check_ca_file(p, t, d, agent_ca_warned, agent_ca_failed);
    check_target_checks(p, t, d);
}

void config_resolve(struct parser *p)
{
    struct agent_config *c = p->cfg;
    check_agent_timeout(p);
    config_check_agent_family(p);
    char ehlo_buf[CONFIG_HOST_MAX + 1];
    default_ehlo_name(ehlo_buf, sizeof(ehlo_buf));
    /* One copy for every target that does not set its own. */
    const char *ehlo = strpool_dup(&c->strings, ehlo_buf);
    if (!ehlo) {
        p->oom = true;
        ehlo = "localhost";
    }
    p->ehlo = ehlo;
    bool agent_ca_warned = false, agent_ca_failed = false;

    for (size_t i = 0; i < c->n_targets; i++) {
        struct target_config *t = &c->targets[i];
        struct target_draft *d = &p->drafts[i];
        /* "host =" (empty) is missing too: at its line. */
        if (!d->set[TK_HOST])
            config_err_at(
                p, d->key_line[TK_HOST] ? d->key_line[TK_HOST] : t->line,
                "host", "missing; every target needs a host");
        /* A [target]'s own, from its host and tls. */
        if (!d->set[TK_PORT])
            t->port = config_default_port(t->tls);
        if (!d->set[TK_SERVER_NAME])
            t->server_name = t->host;
        config_inherit_agent(p, t, d);
        config_check_target_family(p, t, d);
        check_target_timeout(p, t, d);
        config_check_auth(p, t, d);
        check_target_checks(p, t, d);
        config_shard_check(p, t, d);
        config_check_ca_file(p, t, d, &agent_ca_warned, &agent_ca_failed);
    }
    for (size_t i = 0; i < c->n_modules; i++)
        resolve_module(p, &c->modules[i], &p->mod_drafts[i], &agent_ca_warned,
                       &agent_ca_failed);
    config_check_web_tls(p);
    config_check_web_auth(p);
}
