/* config_net: ip_family and source_address, in [agent], [target] and
 * [module]: each value checked, and the two checked against each other
 * and against a host that is an address. */
#include <stdio.h>

#include "config_internal.h"
#include "config_value.h"

void config_ip_family_key(struct parser *p, int line, const char *key,
                          const char *v, enum ip_family *out)
{
    if (config_parse_ip_family(v, out))
        config_err_at(p, line, key, "must be auto, ipv4 or ipv6, not \"%s\"",
                      v);
}

int config_source_address_key(struct parser *p, int line, const char *key,
                              const char *v)
{
    enum ip_family fam;
    if (config_parse_address(v, &fam) == 0)
        return 0;
    config_err_at(p, line, key,
                  "must be an IPv4 or IPv6 address of this machine (IPv6 "
                  "without brackets; not a host or interface name), not "
                  "\"%s\"",
                  v);
    return -1;
}

/* "an IPv4", "an IPv6": an address's family in a message. */
static const char *family_words(enum ip_family f)
{
    return f == IP_FAMILY_IPV6 ? "an IPv6" : "an IPv4";
}

/* [agent]'s source_address must be of [agent]'s ip_family. */
void config_check_agent_family(struct parser *p)
{
    const struct agent_config *c = p->cfg;
    enum ip_family fam;
    if (!c->source_address[0] || p->agent_bad[AK_IP_FAMILY] ||
        config_parse_address(c->source_address, &fam) ||
        config_family_allows(c->ip_family, fam))
        return;
    config_err_at(p, p->agent_key_line[AK_SOURCE_ADDRESS], "source_address",
                  "%s is %s address, but ip_family is %s (line %d)",
                  c->source_address, family_words(fam),
                  ip_family_name(c->ip_family),
                  p->agent_key_line[AK_IP_FAMILY]);
}

/*
 * A target's source_address must be of its ip_family, whichever of the
 * two it inherits from [agent] (a pair both inherited was checked
 * there): the message is at the target's own key and says where the
 * other came from. A host that is an address of the other family can
 * never be reached either: warned about (every probe fails with error
 * connect, which says so too).
 */
void config_check_target_family(struct parser *p,
                                const struct target_config *t,
                                const struct target_draft *d)
{
    enum ip_family fam, src;
    bool own_src = d->set[TK_SOURCE_ADDRESS], own_fam = d->set[TK_IP_FAMILY];
    /* Under auto a source address limits probes to its family. */
    enum ip_family want = t->ip_family;
    bool by_src = want == IP_FAMILY_AUTO && t->source_address[0] &&
                  config_parse_address(t->source_address, &src) == 0;
    if (by_src)
        want = src;
    if (d->set[TK_HOST] && !d->bad[TK_HOST] && !d->bad[TK_IP_FAMILY] &&
        config_parse_address(t->host, &fam) == 0 &&
        !config_family_allows(want, fam)) {
        char why[CONFIG_ADDRESS_MAX + 64];
        if (by_src)
            snprintf(why, sizeof(why), "source_address %s is not",
                     t->source_address);
        else
            snprintf(why, sizeof(why), "ip_family is %s",
                     ip_family_name(t->ip_family));
        config_warn_at(p, d->key_line[TK_HOST], "host",
                       "%s is %s address, but %s: no probe can connect",
                       t->host, family_words(fam), why);
    }
    if ((!own_src && !own_fam) || d->bad[TK_SOURCE_ADDRESS] ||
        d->bad[TK_IP_FAMILY] || (!own_fam && p->agent_bad[AK_IP_FAMILY]) ||
        !t->source_address[0] ||
        config_parse_address(t->source_address, &fam) ||
        config_family_allows(t->ip_family, fam))
        return;
    if (own_src && own_fam)
        config_err_at(p, d->key_line[TK_SOURCE_ADDRESS], "source_address",
                      "%s is %s address, but ip_family is %s (line %d)",
                      t->source_address, family_words(fam),
                      ip_family_name(t->ip_family), d->key_line[TK_IP_FAMILY]);
    else if (own_src)
        config_err_at(p, d->key_line[TK_SOURCE_ADDRESS], "source_address",
                      "%s is %s address, but ip_family is %s (from "
                      "[agent], line %d)",
                      t->source_address, family_words(fam),
                      ip_family_name(t->ip_family),
                      p->agent_key_line[AK_IP_FAMILY]);
    else
        config_err_at(p, d->key_line[TK_IP_FAMILY], "ip_family",
                      "%s does not fit source_address %s (from [agent], "
                      "line %d), %s address; give this target a "
                      "source_address of its own",
                      ip_family_name(t->ip_family), t->source_address,
                      p->agent_key_line[AK_SOURCE_ADDRESS], family_words(fam));
}
