/* token: a bearer token for XOAUTH2 and OAUTHBEARER from token_file,
 * read again before each probe (an external refresher rotates it). */
#ifndef TOKEN_H
#define TOKEN_H

#include <stddef.h>

/* Bearer tokens are longer than passwords: Microsoft's JWTs pass 2 KiB. */
#define TOKEN_MAX       16384
#define TOKEN_MAX_WORDS "16384 bytes"

enum token_status {
    TOKEN_OK,
    TOKEN_UNREADABLE, /* missing or unreadable now: it may come later */
    TOKEN_BAD,        /* there, but never usable as it is */
    TOKEN_NO_MEMORY,
};

/*
 * Reads the token in path: a regular file (followed through symlinks)
 * owned by the agent's user or root, of one line (one line end at most),
 * not empty, without NUL, at most TOKEN_MAX bytes. On TOKEN_OK *tok is
 * malloc()ed and NUL-terminated, *len its length; the caller wipes and
 * frees it. Otherwise nothing is allocated and why says what is wrong,
 * naming the path, never the content. *info (when not NULL) is what
 * fstat() said (mode 0 when the file was not opened), for the caller's
 * warning on a file others can read.
 */
struct file_info;
enum token_status token_file_read(const char *path, char **tok, size_t *len,
                                  struct file_info *info, char *why, size_t n);

#endif
