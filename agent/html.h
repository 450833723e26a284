/* html: what HTML text and attribute values must say instead of a byte.
 * Pure; shared by the status page and the runbook's Markdown. */
#ifndef HTML_H
#define HTML_H

/* The entity for &, <, >, " and ' (so that text is safe in an element
 * and in a quoted attribute), NULL for every other byte. */
const char *html_entity(unsigned char c);

#endif
