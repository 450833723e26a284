/* passhash: the bcrypt hash that web_basic_auth_password_hash takes,
 * made by the agent itself (--hash-password). */
#include "passhash.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

int passhash_read(FILE *in, char *pw, size_t cap, const char **why)
{
    size_t n = 0;
    int c = EOF;
    *why = NULL;
    /* Byte by byte: nothing of the password in a stdio buffer of ours
     * beyond what stdin's own holds. */
    while ((c = getc(in)) != EOF && c != '\n') {
        if (c == '\0')
            *why = "the password holds a NUL byte";
        else if (n + 1 >= cap)
            *why = "the password is longer than bcrypt reads (72 bytes)";
        else
            pw[n++] = (char)c;
    }
    if (n > 0 && pw[n - 1] == '\r')
        n--;
    pw[n] = '\0';
    if (!*why && n > PASSHASH_MAX)
        *why = "the password is longer than bcrypt reads (72 bytes)";
    if (!*why && n == 0)
        *why = "empty password";
    /* A terminal has no end to wait for. */
    if (!*why && c == '\n' && !isatty(fileno(in)) && getc(in) != EOF)
        *why = "more than one line on stdin";
    if (*why) {
        explicit_bzero(pw, cap);
        return -1;
    }
    return 0;
}

int passhash_bcrypt(const char *password, unsigned cost, char *out, size_t cap)
{
    unsigned char rnd[16];
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (cap < PASSHASH_LEN + 1 ||
        getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return -1;
    const char *s =
        crypt_gensalt_rn("$2b$", cost, (const char *)rnd, (int)sizeof(rnd),
                         setting, (int)sizeof(setting));
    explicit_bzero(rnd, sizeof(rnd));
    if (!s)
        return -1;
    /* 32 KiB of state derived from the password: on the heap, wiped. */
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        return -1;
    const char *h = crypt_r(password, setting, cd);
    int rc = -1;
    if (h && h[0] == '$' && strlen(h) == PASSHASH_LEN) {
        memcpy(out, h, PASSHASH_LEN + 1);
        rc = 0;
    }
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return rc;
}
