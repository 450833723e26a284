/* test_netaddr: HOST:PORT, [IPv6]:PORT and :PORT, good and hostile. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "netaddr.h"

struct parse_case {
    const char *in;
    int rc;
    const char *host; /* when rc == 0 */
    unsigned port;
    bool loopback;
    const char *msg; /* when rc == -1: the whole message */
};

static const struct parse_case cases[] = {
    /* What [agent] listen takes. */
    {"127.0.0.1:9925", 0, "127.0.0.1", 9925, true, NULL},
    {"127.8.9.10:1", 0, "127.8.9.10", 1, true, NULL},
    {"0.0.0.0:9925", 0, "0.0.0.0", 9925, false, NULL},
    {"192.0.2.1:80", 0, "192.0.2.1", 80, false, NULL},
    {"128.0.0.1:80", 0, "128.0.0.1", 80, false, NULL},
    {"[::]:9925", 0, "::", 9925, false, NULL},
    {"[::1]:65535", 0, "::1", 65535, true, NULL},
    {"[0:0:0:0:0:0:0:1]:1", 0, "0:0:0:0:0:0:0:1", 1, true, NULL},
    {"[2001:db8::5]:25", 0, "2001:db8::5", 25, false, NULL},
    {"[::ffff:127.0.0.1]:80", 0, "::ffff:127.0.0.1", 80, false, NULL},
    {":9925", 0, "", 9925, false, NULL},
    {"localhost:1", 0, "localhost", 1, true, NULL},
    {"LocalHost:1", 0, "LocalHost", 1, true, NULL},
    {"localhost.:1", 0, "localhost.", 1, false, NULL},
    {"metrics.example.com:80", 0, "metrics.example.com", 80, false, NULL},
    {"a_b-c.d:80", 0, "a_b-c.d", 80, false, NULL},
    {"h:0080", 0, "h", 80, false, NULL},
    {"h:0000000000080", 0, "h", 80, false, NULL},
    /* inet_pton's IPv4 is four parts: "127.1" is a name like any other. */
    {"127.1:80", 0, "127.1", 80, false, NULL},

    {"", -1, NULL, 0, false, "empty listen address (want host:port)"},
    {"[", -1, NULL, 0, false, "[: want [IPv6-address]:port"},
    {"[::1]", -1, NULL, 0, false, "[::1]: want [IPv6-address]:port"},
    {"[::1]x1", -1, NULL, 0, false, "[::1]x1: want [IPv6-address]:port"},
    {"[::1]9925", -1, NULL, 0, false, "[::1]9925: want [IPv6-address]:port"},
    {"[::1:9925", -1, NULL, 0, false, "[::1:9925: want [IPv6-address]:port"},
    {"[::1]]:1", -1, NULL, 0, false, "[::1]]:1: want [IPv6-address]:port"},
    {"[]:1", -1, NULL, 0, false, "[]:1: bad IPv6 address"},
    {"[127.0.0.1]:9925", -1, NULL, 0, false,
     "[127.0.0.1]:9925: bad IPv6 address"},
    {"[zz::1]:9925", -1, NULL, 0, false, "[zz::1]:9925: bad IPv6 address"},
    {"[localhost]:1", -1, NULL, 0, false, "[localhost]:1: bad IPv6 address"},
    {"[fe80::1%eth0]:1", -1, NULL, 0, false,
     "[fe80::1%eth0]:1: bad IPv6 address"},
    {"[ ::1]:1", -1, NULL, 0, false, "[ ::1]:1: bad IPv6 address"},
    {"127.0.0.1", -1, NULL, 0, false,
     "127.0.0.1: missing port (want host:port)"},
    {"garbage", -1, NULL, 0, false, "garbage: missing port (want host:port)"},
    {"a:b:1", -1, NULL, 0, false,
     "a:b:1: an IPv6 address needs brackets: [addr]:port"},
    {"::1:9925", -1, NULL, 0, false,
     "::1:9925: an IPv6 address needs brackets: [addr]:port"},
    {"::1", -1, NULL, 0, false,
     "::1: an IPv6 address needs brackets: [addr]:port"},
    {" 127.0.0.1:80", -1, NULL, 0, false,
     " 127.0.0.1:80: bad host name \" 127.0.0.1\""},
    {"my host:80", -1, NULL, 0, false,
     "my host:80: bad host name \"my host\""},
    {"-h:80", -1, NULL, 0, false, "-h:80: bad host name \"-h\""},
    {".h:80", -1, NULL, 0, false, ".h:80: bad host name \".h\""},
    {"a/b:80", -1, NULL, 0, false, "a/b:80: bad host name \"a/b\""},
    {"u@h:80", -1, NULL, 0, false, "u@h:80: bad host name \"u@h\""},
    {":", -1, NULL, 0, false, ":: bad port \"\" (want 1-65535)"},
    {":0", -1, NULL, 0, false, ":0: bad port \"0\" (want 1-65535)"},
    {":00", -1, NULL, 0, false, ":00: bad port \"00\" (want 1-65535)"},
    {":65536", -1, NULL, 0, false,
     ":65536: bad port \"65536\" (want 1-65535)"},
    {"h:9999999999", -1, NULL, 0, false,
     "h:9999999999: bad port \"9999999999\" (want 1-65535)"},
    {"127.0.0.1:", -1, NULL, 0, false,
     "127.0.0.1:: bad port \"\" (want 1-65535)"},
    {"127.0.0.1:abc", -1, NULL, 0, false,
     "127.0.0.1:abc: bad port \"abc\" (want 1-65535)"},
    {"127.0.0.1:-1", -1, NULL, 0, false,
     "127.0.0.1:-1: bad port \"-1\" (want 1-65535)"},
    {"127.0.0.1:+80", -1, NULL, 0, false,
     "127.0.0.1:+80: bad port \"+80\" (want 1-65535)"},
    {"127.0.0.1: 80", -1, NULL, 0, false,
     "127.0.0.1: 80: bad port \" 80\" (want 1-65535)"},
    {"127.0.0.1:80 ", -1, NULL, 0, false,
     "127.0.0.1:80 : bad port \"80 \" (want 1-65535)"},
    {"[::1]:", -1, NULL, 0, false, "[::1]:: bad port \"\" (want 1-65535)"},
    {"[::1]:0x50", -1, NULL, 0, false,
     "[::1]:0x50: bad port \"0x50\" (want 1-65535)"},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct parse_case *c = &cases[i];
        struct netaddr a;
        char err[256] = "";
        print_message("netaddr: '%s'\n", c->in);
        int rc = netaddr_parse(c->in, false, &a, err, sizeof(err));
        assert_int_equal(rc, c->rc);
        if (rc == 0) {
            assert_string_equal(err, "");
            assert_string_equal(a.host, c->host);
            assert_int_equal(a.port, c->port);
            assert_int_equal(a.bracketed, c->in[0] == '[');
            assert_int_equal(netaddr_is_loopback(&a), c->loopback);
        } else {
            assert_string_equal(err, c->msg);
            assert_string_equal(a.host, "");
            assert_int_equal(a.port, 0);
            assert_false(a.bracketed);
        }
    }
}

static void test_port_zero(void **state)
{
    (void)state;
    struct netaddr a;
    char err[128] = "";
    assert_int_equal(netaddr_parse("127.0.0.1:0", true, &a, err, 128), 0);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 0);
    assert_int_equal(netaddr_parse(":0", true, &a, err, 128), 0);
    assert_string_equal(a.host, "");
    assert_int_equal(netaddr_parse("[::1]:000", true, &a, err, 128), 0);
    assert_int_equal(a.port, 0);
    assert_true(netaddr_is_loopback(&a));
    /* Only zero is added. */
    assert_int_equal(netaddr_parse(":65536", true, &a, err, 128), -1);
    assert_string_equal(err, ":65536: bad port \"65536\" (want 1-65535)");
    assert_int_equal(netaddr_parse(":", true, &a, err, 128), -1);
}

static void test_hostile(void **state)
{
    (void)state;
    struct netaddr a;
    char err[256];
    char in[1200];

    /* The longest host name fits, one more does not. */
    memset(in, 'a', NETADDR_HOST_MAX);
    strcpy(in + NETADDR_HOST_MAX, ":80");
    assert_int_equal(netaddr_parse(in, false, &a, err, sizeof(err)), 0);
    assert_int_equal(strlen(a.host), NETADDR_HOST_MAX);
    assert_int_equal(a.port, 80);
    memset(in, 'a', NETADDR_HOST_MAX + 1);
    strcpy(in + NETADDR_HOST_MAX + 1, ":80");
    assert_int_equal(netaddr_parse(in, false, &a, err, sizeof(err)), -1);
    assert_string_equal(err, "host name too long (254 bytes, at most 253)");

    /* Far longer than anything: the message is cut, never overrun. */
    memset(in, 'a', 1000);
    strcpy(in + 1000, ":80");
    assert_int_equal(netaddr_parse(in, false, &a, err, sizeof(err)), -1);
    assert_string_equal(err, "host name too long (1000 bytes, at most 253)");
    memset(in, ':', 1000);
    in[1000] = '\0';
    assert_int_equal(netaddr_parse(in, false, &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too long"));
    in[0] = '[';
    assert_int_equal(netaddr_parse(in, false, &a, err, sizeof(err)), -1);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    memset(in, '1', 1000);
    in[0] = ':';
    assert_int_equal(netaddr_parse(in, false, &a, err, sizeof(err)), -1);
    assert_memory_equal(err, ":111", 4);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    strcpy(in + 20, "x");
    assert_int_equal(netaddr_parse(in, false, &a, err, sizeof(err)), -1);
    assert_string_equal(err, ":1111111111111111111x: bad port "
                             "\"1111111111111111111x\" (want 1-65535)");
    /* A long IPv6-looking text in brackets. */
    memset(in, '0', 1000);
    in[0] = '[';
    strcpy(in + 100, "::1]:80");
    assert_int_equal(netaddr_parse(in, false, &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bad IPv6 address"));

    /* No message buffer, or none of room: only the answer. */
    assert_int_equal(netaddr_parse("x", false, &a, NULL, 0), -1);
    err[0] = 'z';
    assert_int_equal(netaddr_parse("x", false, &a, err, 0), -1);
    assert_int_equal(err[0], 'z');
    assert_int_equal(netaddr_parse(NULL, false, &a, err, sizeof(err)), -1);
    assert_string_equal(err, "empty listen address (want host:port)");
}

static void test_pieces(void **state)
{
    (void)state;
    assert_true(netaddr_is_dns_name("mx1.example.com", 15));
    assert_true(netaddr_is_dns_name("192.0.2.1", 9));
    assert_true(netaddr_is_dns_name("a", 1));
    assert_false(netaddr_is_dns_name("", 0));
    assert_false(netaddr_is_dns_name("a b", 3));
    assert_false(netaddr_is_dns_name("-a", 2));
    /* Only n bytes count. */
    assert_true(netaddr_is_dns_name("ab cd", 2));
    assert_true(netaddr_is_ipv6("::1", 3));
    assert_true(netaddr_is_ipv6("2001:db8::1x", 11));
    assert_false(netaddr_is_ipv6("", 0));
    assert_false(netaddr_is_ipv6("1.2.3.4", 7));
    char v6[100];
    memset(v6, '0', sizeof(v6));
    memcpy(v6 + sizeof(v6) - 3, "::1", 3);
    assert_false(netaddr_is_ipv6(v6, sizeof(v6)));

    unsigned port = 7;
    assert_int_equal(netaddr_parse_port("25", false, &port), 0);
    assert_int_equal(port, 25);
    assert_int_equal(netaddr_parse_port("0", false, &port), -1);
    assert_int_equal(port, 25);
    assert_int_equal(netaddr_parse_port("0", true, &port), 0);
    assert_int_equal(port, 0);
    assert_int_equal(netaddr_parse_port("", true, &port), -1);
    assert_int_equal(netaddr_parse_port("65535", false, &port), 0);
    assert_int_equal(port, 65535);
    assert_int_equal(netaddr_parse_port("65536", true, &port), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_port_zero),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
