/* test_http_listen: listen addresses into socket addresses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_listen.h"

static bool system_has_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static void test_parse_listen_ok(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int family; /* 0: AF_INET6 when the system has it, else AF_INET */
        const char *addr;
        unsigned port;
    } cases[] = {
        {"127.0.0.1:9925", AF_INET, "127.0.0.1", 9925},
        {"0.0.0.0:1", AF_INET, "0.0.0.0", 1},
        {"192.0.2.7:65535", AF_INET, "192.0.2.7", 65535},
        {"[::1]:9925", AF_INET6, "::1", 9925},
        {"[::]:9925", AF_INET6, "::", 9925},
        {"[2001:db8::5]:25", AF_INET6, "2001:db8::5", 25},
        {":9925", 0, NULL, 9925},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_storage ss;
        char err[256] = "";
        if (http_listen_parse(cases[i].in, false, &ss, err, sizeof(err)) != 0)
            fail_msg("%s: %s", cases[i].in, err);
        int family = cases[i].family;
        if (family == 0)
            family = system_has_ipv6() ? AF_INET6 : AF_INET;
        assert_int_equal(ss.ss_family, family);
        char text[INET6_ADDRSTRLEN];
        unsigned port;
        if (family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, text, sizeof(text));
            port = ntohs(s4->sin_port);
        } else {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof(text));
            port = ntohs(s6->sin6_port);
        }
        const char *want = cases[i].addr;
        if (!want)
            want = family == AF_INET6 ? "::" : "0.0.0.0";
        assert_string_equal(text, want);
        assert_int_equal(port, cases[i].port);
    }

    /* A name resolves to its first address: localhost is a loopback. */
    struct sockaddr_storage ss;
    char err[256] = "";
    assert_int_equal(http_listen_parse("localhost:9925", false, &ss, err, 256),
                     0);
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        assert_int_equal(ntohl(s4->sin_addr.s_addr) >> 24, 127);
        assert_int_equal(ntohs(s4->sin_port), 9925);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        assert_int_equal(ss.ss_family, AF_INET6);
        assert_true(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));
        assert_int_equal(ntohs(s6->sin6_port), 9925);
    }
}

static void test_parse_listen_errors(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *msg; /* part of the message */
    } cases[] = {
        {"", "empty"},
        {"127.0.0.1", "missing port"},
        {"garbage", "missing port"},
        {"127.0.0.1:", "bad port"},
        {"127.0.0.1:0", "bad port"},
        {"127.0.0.1:65536", "bad port"},
        {"127.0.0.1:99999", "bad port"},
        {"127.0.0.1:123456", "bad port"},
        {"127.0.0.1:abc", "bad port"},
        {"127.0.0.1:-1", "bad port"},
        {"127.0.0.1:+80", "bad port"},
        {"127.0.0.1: 80", "bad port"},
        {":", "bad port"},
        {"::1:9925", "brackets"},
        {"[::1]", "want [IPv6-address]:port"},
        {"[::1]9925", "want [IPv6-address]:port"},
        {"[::1:9925", "want [IPv6-address]:port"},
        {"[]:9925", "bad IPv6 address"},
        /* netaddr's syntax check says so before any resolver could. */
        {"[127.0.0.1]:9925", "bad IPv6 address"},
        {"[zz::1]:9925", "bad IPv6 address"},
        {"mx 1.example.com:9925", "bad host name"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_storage ss;
        char err[256] = "";
        if (http_listen_parse(cases[i].in, false, &ss, err, sizeof(err)) != -1)
            fail_msg("%s: accepted", cases[i].in);
        if (!strstr(err, cases[i].msg))
            fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].in, err,
                     cases[i].msg);
    }
    struct sockaddr_storage ss;
    char err[256] = "";
    assert_int_equal(http_listen_parse(NULL, false, &ss, err, sizeof(err)),
                     -1);
    /* A host longer than any name. */
    char longhost[400];
    memset(longhost, 'a', 300);
    strcpy(longhost + 300, ":80");
    assert_int_equal(http_listen_parse(longhost, false, &ss, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "too long"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_listen_ok),
        cmocka_unit_test(test_parse_listen_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
