/* explain: the catalogue's entries for what an operator types after
 * --explain ("504", "535@auth", "auth_failed", "timeout", "5.7.8"). */
#ifndef EXPLAIN_H
#define EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Prints the entries for what to out, as wrapped text or as JSON
 * ({"query": ..., "entries": [...]}). Returns how many there were; 0
 * (nothing printed) when what is unknown.
 */
size_t explain_print(FILE *out, const char *what, bool json);

#endif
