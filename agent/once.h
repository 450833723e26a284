/* once: the table that --once prints. */
#ifndef ONCE_H
#define ONCE_H

#include <stdio.h>

#include "probe.h"

/*
 * One row per target: target, stage reached, reply code, class (or the
 * no-reply error), duration, TLS version, days until the certificate
 * expires; under it one line per AUTH mechanism. The target column is
 * as wide as the longest name in results (24 at least), so the columns
 * after it line up on every row. now is the unix time the
 * days are counted from. Server text is printed only as printable ASCII.
 * A result with a fault shows "agent:RESOURCE" as its class, the detail
 * and a note, and nothing of the target.
 */
void once_print_table(FILE *out, const struct probe_result *results, size_t n,
                      double now);

/*
 * The same as JSON for scripts: {"targets": [{...}, ...]} with, per
 * target, its name, success, stage, error, code, class, text, detail,
 * duration, TLS facts, each AUTH attempt, and the catalogue's explanation
 * and note of a failure. A target the agent failed to probe (a fault)
 * has one key more, agent_fault (the resource: "file_descriptors",
 * "memory"), and null for everything about the target. Strings are
 * JSON-escaped. now as above.
 */
void once_print_json(FILE *out, const struct probe_result *results, size_t n,
                     double now);

/*
 * 0 when every result succeeded; 1 when a target failed (a failed
 * refusal check included, though its probe succeeded); else 3 when the
 * agent itself failed to probe some (a fault: out of descriptors or
 * memory), which says nothing of those targets.
 */
int once_exit_status(const struct probe_result *results, size_t n);

#endif
