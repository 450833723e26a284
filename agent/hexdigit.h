/* hexdigit: the value of hex digits, for every escape the agent decodes. */
#ifndef HEXDIGIT_H
#define HEXDIGIT_H

/* Header-only: its users share no other module, and a .c file would have
 * to join the hand list of sources in tests/fuzz/CMakeLists.txt. */

/* 0..15 for '0'-'9', 'a'-'f' and 'A'-'F'; -1 for any other byte. */
static inline int hexdigit_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * The byte (0..255) that the two hex digits at s spell, or -1 when either
 * is no hex digit: no sign, no space, no "0x". s[1] is read only when s[0]
 * is a digit, so s may end (NUL) after s[0].
 */
static inline int hexdigit_pair(const char *s)
{
    int hi = hexdigit_value((unsigned char)s[0]);
    int lo = hi < 0 ? -1 : hexdigit_value((unsigned char)s[1]);
    return lo < 0 ? -1 : hi << 4 | lo;
}

#endif
