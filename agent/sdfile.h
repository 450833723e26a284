/* sdfile: a Prometheus file_sd file (JSON or YAML) parsed into target
 * groups, every value checked; pure but for the parsers it uses
 * (jansson, libyaml). */
#ifndef SDFILE_H
#define SDFILE_H

#include <stddef.h>

#include "strpool.h"

/* A larger file is refused: 10,000 targets take well under 1 MiB. */
#define SD_FILE_MAX       ((size_t)16 << 20)
#define SD_FILE_MAX_WORDS "16 MiB"
/* Targets in one file, over all its groups. */
#define SD_TARGETS_MAX 100000u

/* The format a file's name says: Prometheus reads only these. */
enum sd_format { SD_FORMAT_JSON, SD_FORMAT_YAML, SD_FORMAT_NONE };

/* .json; .yml or .yaml; else SD_FORMAT_NONE. */
enum sd_format sd_format_of(const char *path);

/* One address of a group's targets list: HOST, HOST:PORT, IPv4[:PORT],
 * [IPv6][:PORT] or a bare IPv6, the host without brackets; port 0 when
 * the address names none. */
struct sd_target {
    const char *host;
    unsigned port;
};

/*
 * A group: its targets (the file's targets[first .. first + n_targets)),
 * the module its __param_module label names ("" for none), and its other
 * labels in labels.h's parsed form ("name\0value\0...\0", "" for none),
 * checked as the labels key is: names as Prometheus takes them, none of
 * the agent's own or Prometheus' (target, job, instance, ...), values
 * UTF-8 without control characters. Labels starting with __ other than
 * __param_module are Prometheus' own and left out; a label with an empty
 * value is no label (as to Prometheus).
 */
struct sd_group {
    size_t first;
    size_t n_targets;
    const char *module;
    const char *labels;
    size_t n_labels;
    unsigned line; /* YAML: where the group starts (1-based); JSON: 0 */
};

struct sd_file {
    struct sd_target *targets;
    size_t n_targets;
    struct sd_group *groups;
    size_t n_groups;
    struct strpool pool; /* the strings */
};

/*
 * Parses len bytes of text, in format, into *out (zeroed first): the
 * file_sd form, a list of groups {"targets": [...], "labels": {...}}
 * ("labels" optional; no other key). 0; or -1 with *out empty and err
 * saying where and what ("line 3, column 9: ...", "group 2: targets[1]:
 * ..."), never quoting more than a short piece of the file.
 */
int sd_parse(enum sd_format format, const char *text, size_t len,
             struct sd_file *out, char *err, size_t errlen);

/* NULL-safe; *f is empty after. */
void sd_file_free(struct sd_file *f);

#endif
