/* config_value: the syntax of each config value, checked and parsed; pure. */
#ifndef CONFIG_VALUE_H
#define CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sasl.h"

/*
 * Every parser here returns 0, or -1 with nothing written; every
 * validator says yes or no. None logs, none reads a file: config.c puts
 * the key and the line around a refusal. (config_parse_duration() and
 * config_listen_is_loopback() live here too; config.h declares them.)
 */

/* What a refused web user or hash is told; never quotes the value. */
#define CONFIG_WEB_USER_RULE                                                  \
    "must be 1 to 64 printable ASCII characters without spaces or ':'"
#define CONFIG_BCRYPT_RULE                                                    \
    "must be a bcrypt hash like $2y$10$ and 53 more characters (make one "    \
    "with htpasswd -nBC 10 USER); other hash types are not supported"

/* Digits only, no sign, no spaces; lo..hi. */
int config_parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out);

/* true, yes, on, 1 / false, no, off, 0; any case. */
int config_parse_bool(const char *s, bool *out);

/* starttls, implicit, none: tls_mode_name()'s words, exactly. */
int config_parse_tls(const char *s, enum tls_mode *out);

/* auto, ipv4, ipv6: ip_family_name()'s words, exactly. */
int config_parse_ip_family(const char *s, enum ip_family *out);

/* source_address: an IPv4 or an IPv6 address literal (inet_pton's
 * syntax: no brackets, no zone, no host name), at most
 * CONFIG_ADDRESS_MAX characters; *family is IP_FAMILY_IPV4 or
 * IP_FAMILY_IPV6. */
int config_parse_address(const char *s, enum ip_family *family);

/* Whether an address of family addr (IPV4 or IPV6) may be used where
 * ip_family is want: always under auto, else only the same family. */
bool config_family_allows(enum ip_family want, enum ip_family addr);

/* The shortest exact spelling that config_parse_duration() reads back:
 * "1h", "90s", "250ms". Returns dst. */
const char *config_format_duration(uint64_t ms, char *dst, size_t n);

/* One mechanism of the mechanisms list: n bytes of s, any case. */
int config_parse_mech(const char *s, size_t n, enum sasl_mech *out);

/* Every mechanism sasl implements, as the mechanisms key's message lists
 * them: "PLAIN, LOGIN, CRAM-MD5, XOAUTH2". Returns dst. */
const char *config_mech_names(char *dst, size_t n);

/* What is wrong with an extra_metrics list. */
enum config_extra_problem {
    CONFIG_EXTRA_OK,
    CONFIG_EXTRA_UNKNOWN_WORD, /* not one of config_extra_name()'s */
    CONFIG_EXTRA_TWICE,        /* a word listed twice */
    CONFIG_EXTRA_EMPTY_WORD,   /* nothing between two commas, or at an end */
    CONFIG_EXTRA_NONE_MIXED,   /* none together with other words */
};

/*
 * extra_metrics: "none", or words of config_extra_name() separated by
 * commas (blanks around each allowed), each at most once; exact case.
 * CONFIG_EXTRA_OK with *bits the CONFIG_EXTRA_BIT()s of the words (0 for
 * none); else *bits untouched and *word, *word_len the word at fault
 * (the empty one: where it is, length 0).
 */
enum config_extra_problem config_parse_extra(const char *s, unsigned *bits,
                                             const char **word,
                                             size_t *word_len);

/* Every word extra_metrics takes besides none, from the same table as
 * config_extra_name(): "duration_buckets, ehlo_extensions, ...". Whole
 * words only when n is short. Returns dst. */
const char *config_extra_names(char *dst, size_t n);

/* What is wrong with a shard value. */
enum config_shard_problem {
    CONFIG_SHARD_OK,
    CONFIG_SHARD_SYNTAX, /* not digits, '/', digits */
    CONFIG_SHARD_COUNT,  /* N is 0 or more than CONFIG_SHARDS_MAX */
    CONFIG_SHARD_INDEX,  /* I is not below N */
};

/*
 * shard: "I/N", this agent's shard I of N: digits only (no sign, no
 * blanks), 1 <= N <= CONFIG_SHARDS_MAX, 0 <= I < N. CONFIG_SHARD_OK
 * with *index and *count set; else both untouched.
 */
enum config_shard_problem config_parse_shard(const char *s, unsigned *index,
                                             unsigned *count);

/* listen: HOST:PORT, [IPv6]:PORT or :PORT (netaddr's syntax), port 1 to
 * 65535; nothing is resolved. */
bool config_valid_listen(const char *s);

/* host and server_name: a DNS name, an IPv4 or an IPv6 address (IPv6
 * without brackets: whoever builds a URL adds them). */
bool config_valid_host(const char *s);

/* ehlo_name: a domain or an address literal, [192.0.2.1] or
 * [IPv6:2001:db8::1] (RFC 5321 4.1.3). It also becomes the path of
 * curl's smtp:// URL, so no '/', '%' or spaces. */
bool config_valid_ehlo_name(const char *s);

/* password_env: [A-Za-z_][A-Za-z0-9_]*. */
bool config_valid_env_name(const char *s);

/* A target's name, n bytes of s: [A-Za-z0-9_.:-]{1,64}. */
bool config_valid_target_name(const char *s, size_t n);

/* A name any target may have: a [target]'s, or a targets file's
 * ("HOST:PORT/MODULE", "[2001:db8::1]:25"): 1 to CONFIG_TARGET_NAME_MAX
 * bytes of [A-Za-z0-9_.:/[]-]. What a request may ask for by name. */
bool config_valid_any_target_name(const char *s, size_t n);

/* A basic auth user-id (RFC 7617), n bytes of s: no ':' and, to keep it
 * one token in files and logs, no spaces or control characters; 1 to
 * CONFIG_WEB_USER_MAX. */
bool config_valid_web_user(const char *s, size_t n);

/* "$2a$", "$2b$" or "$2y$", a cost of 04 to 31, "$", then 22 characters
 * of salt and 31 of hash in bcrypt's base64: what Prometheus' web config
 * and htpasswd -B write, and what libcrypt's crypt_r() verifies. */
bool config_valid_bcrypt(const char *s, size_t n);

#endif
