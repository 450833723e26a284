"""ip_family, source_address, the resolve phase and the address that
answered, against real aiosmtpd servers on ::1 and on 127.0.0.1.

Names: this machine's /etc/hosts has localhost as 127.0.0.1 only, so the
agent runs in a mount namespace of its own (`unshare --mount`, root or a
user namespace) in which /etc/hosts is the test's:

    dual.test   ::1 and 127.0.0.1
    v4.test     127.0.0.1

Nothing else changes for it: same network, same loopback. Without
unshare the test is skipped, and says so.

Servers (tls none, AUTH advertised in clear, so that the EHLO a probe
got says which server answered it):

    P    one on ::1 (AUTH PLAIN), one on 127.0.0.1 (AUTH LOGIN)
    Q4   127.0.0.1 only (AUTH LOGIN): ::1 refuses there
    Q6   ::1 only (AUTH PLAIN): 127.0.0.1 refuses there

Targets (EHLO-only):

    dual-v6        dual.test:P  ipv6        ::1, protocol 6, PLAIN's server
    dual-v4        dual.test:P  ipv4        127.0.0.1, protocol 4, LOGIN's
    dual-auto-q4   dual.test:Q4 auto        127.0.0.1 (::1 refused)
    dual-auto-q6   dual.test:Q6 auto        ::1 (127.0.0.1 refused)
    lit4-as-v6     127.0.0.1:P  ipv6        error connect, no address
    name4-as-v6    v4.test:P    ipv6        error connect, no address
    src4           127.0.0.1:P  source_address 127.0.0.1
    src4-other     127.0.0.1:Q4 source_address 127.0.0.2 (Q4 sees it)
    src6           ::1:P        source_address ::1
    src6-to-lit4   127.0.0.1:P  source_address ::1: error connect

`--once --format json` and a running agent's /metrics and status page
are each read once and checked by several tests.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

HOSTS = """127.0.0.1 localhost
::1 dual.test
127.0.0.1 dual.test
127.0.0.1 v4.test
"""


def in_namespace(hosts_path, argv):
    """argv run with hosts_path as its /etc/hosts, in a mount namespace
    of its own (the bind mount is gone when the process is)."""
    ns = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        ns.append("--map-root-user")
    return ns + ["sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"',
                 hosts_path] + list(argv)


class NamespacedAgent(harness.AgentProcess):
    """The agent run with the test's /etc/hosts."""

    def __init__(self, hosts_path, *args, **kwargs):
        self.hosts_path = hosts_path
        super().__init__(*args, **kwargs)

    def argv(self):
        return in_namespace(self.hosts_path, super().argv())


def target(name, host, port, **keys):
    lines = ['[target "%s"]' % name, "host = %s" % host, "port = %d" % port,
             "tls = none"]
    lines += ["%s = %s" % kv for kv in keys.items()]
    return "\n" + "\n".join(lines) + "\n"


class Network(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="test-network-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.hosts = os.path.join(cls.dir, "hosts")
        with open(cls.hosts, "w") as f:
            f.write(HOSTS)
        if not shutil.which("unshare"):
            raise unittest.SkipTest("no unshare: cannot give the agent "
                                    "names that resolve to ::1")
        probe = subprocess.run(
            in_namespace(cls.hosts, ["getent", "ahosts", "dual.test"]),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=10)
        if probe.returncode != 0:
            raise unittest.SkipTest("no mount namespace here (%s)"
                                    % probe.stdout.strip())
        # The namespace works: from here on, everything asserts.
        addrs = {line.split()[0] for line in probe.stdout.splitlines()}
        assert addrs == {"::1", "127.0.0.1"}, probe.stdout

        server = dict(tls="none", auth_require_tls=False)
        p = harness.free_dual_port()
        cls.p6 = cls.enterClassContext(harness.aiosmtpd(
            port=p, host="::1", mechanisms=("PLAIN",), **server))
        cls.p4 = cls.enterClassContext(harness.aiosmtpd(
            port=p, host="127.0.0.1", mechanisms=("LOGIN",), **server))
        cls.q4 = cls.enterClassContext(harness.aiosmtpd(
            port=harness.free_dual_port(), host="127.0.0.1",
            mechanisms=("LOGIN",), **server))
        cls.q6 = cls.enterClassContext(harness.aiosmtpd(
            port=harness.free_dual_port(), host="::1",
            mechanisms=("PLAIN",), **server))
        q4, q6 = cls.q4.port, cls.q6.port
        assert cls.p6.port == cls.p4.port == p
        cls.config_text = "[agent]\ninterval = 2s\ntimeout = 2s\n" + "".join([
            target("dual-v6", "dual.test", p, ip_family="ipv6"),
            target("dual-v4", "dual.test", p, ip_family="ipv4"),
            target("dual-auto-q4", "dual.test", q4),
            target("dual-auto-q6", "dual.test", q6, ip_family="auto"),
            target("lit4-as-v6", "127.0.0.1", p, ip_family="ipv6"),
            target("name4-as-v6", "v4.test", p, ip_family="ipv6"),
            target("src4", "127.0.0.1", p, source_address="127.0.0.1"),
            target("src4-other", "127.0.0.1", q4,
                   source_address="127.0.0.2"),
            target("src6", "::1", p, source_address="::1"),
            target("src6-to-lit4", "127.0.0.1", p, source_address="::1"),
        ])
        cls.names = ["dual-v6", "dual-v4", "dual-auto-q4", "dual-auto-q6",
                     "lit4-as-v6", "name4-as-v6", "src4", "src4-other",
                     "src6", "src6-to-lit4"]

        cls.agent = NamespacedAgent(cls.hosts, harness.agent_binary(),
                                    cls.config_text)
        cls.addClassCleanup(cls.agent.cleanup)
        cls.once = subprocess.run(
            in_namespace(cls.hosts, [harness.agent_binary(), "-c",
                                     cls.agent.config_path, "--once",
                                     "--format", "json"]),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, timeout=60)
        cls.doc = json.loads(cls.once.stdout)
        cls.by_name = {t["name"]: t for t in cls.doc["targets"]}
        cls.table = subprocess.run(
            in_namespace(cls.hosts, [harness.agent_binary(), "-c",
                                     cls.agent.config_path, "--once"]),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, timeout=60)

        # The running agent: every target probed at least once.
        with cls.agent:
            def all_probed():
                s = harness.scrape(cls.agent.port)[1]
                done = all((harness.metric(s, "smtp_probes_total",
                                           target=t) or 0) >= 1
                           for t in cls.names)
                return s if done else None
            cls.samples = harness.wait_for(all_probed, 20)
            cls.cards = {}
            for t in cls.names:
                status, _, body = harness.http_get(cls.agent.port,
                                                   "/?target=" + t)
                assert status == 200, (t, status)
                cls.cards[t] = body.decode()

    def t(self, name):
        return self.by_name[name]

    def ehlo_mechs(self, name):
        ehlo = self.t(name)["ehlo"]
        return ehlo["mechanisms"] if ehlo else None

    # --- ip_family: which address of a name a probe uses ----------------

    def test_ipv6_reaches_the_server_on_ipv6_loopback(self):
        t = self.t("dual-v6")
        self.assertTrue(t["success"], t)
        self.assertEqual(t["address"], "::1")
        self.assertEqual(t["ip_protocol"], 6)
        # The server on ::1 is the one that offers PLAIN.
        self.assertEqual(self.ehlo_mechs("dual-v6"), ["PLAIN"])

    def test_ipv4_reaches_the_server_on_ipv4_loopback(self):
        t = self.t("dual-v4")
        self.assertTrue(t["success"], t)
        self.assertEqual(t["address"], "127.0.0.1")
        self.assertEqual(t["ip_protocol"], 4)
        self.assertEqual(self.ehlo_mechs("dual-v4"), ["LOGIN"])

    def test_auto_says_which_of_the_names_addresses_answered(self):
        # dual.test has both; on Q4 only 127.0.0.1 listens, on Q6 only ::1.
        for name, address, proto, mechs in (
                ("dual-auto-q4", "127.0.0.1", 4, ["LOGIN"]),
                ("dual-auto-q6", "::1", 6, ["PLAIN"])):
            with self.subTest(target=name):
                t = self.t(name)
                self.assertTrue(t["success"], t)
                self.assertEqual(t["address"], address)
                self.assertEqual(t["ip_protocol"], proto)
                self.assertEqual(self.ehlo_mechs(name), mechs)

    def test_ipv6_against_an_ipv4_address_is_a_connect_error(self):
        t = self.t("lit4-as-v6")
        self.assertFalse(t["success"])
        self.assertEqual(t["stage"], "connect")
        self.assertEqual(t["error"], "connect")
        self.assertIsNone(t["address"])
        self.assertIsNone(t["ip_protocol"])
        self.assertEqual(t["detail"], "connect: 127.0.0.1 is an IPv4 "
                         "address, but the probe may only use IPv6 "
                         "(ip_family)")
        self.assertEqual(t["explanation"]["key"], "connect")
        # --check-config and --once warn about it too.
        self.assertIn("host: warning: 127.0.0.1 is an IPv4 address, but "
                      "ip_family is ipv6: no probe can connect",
                      self.once.stderr)

    def test_ipv6_against_a_name_without_ipv6_is_a_connect_error(self):
        # libcurl 7.88 resolves the name, then skips its IPv4 address: the
        # name resolved, no address could be tried.
        t = self.t("name4-as-v6")
        self.assertFalse(t["success"])
        self.assertEqual(t["stage"], "connect")
        self.assertEqual(t["error"], "connect")
        self.assertIsNone(t["address"])
        self.assertEqual(t["detail"], "connect: v4.test has no IPv6 "
                         "address, and the probe may only use IPv6 "
                         "(ip_family)")

    # --- source_address -------------------------------------------------

    def test_source_address_ipv4(self):
        for name in ("src4", "src4-other"):
            with self.subTest(target=name):
                t = self.t(name)
                self.assertTrue(t["success"], t)
                self.assertEqual(t["address"], "127.0.0.1")
                self.assertEqual(t["ip_protocol"], 4)
        # The kernel would pick 127.0.0.1: Q4 saw 127.0.0.2, and only
        # src4-other connects from it.
        self.assertIn("Peer: ('127.0.0.2', ", self.q4.log())
        self.assertNotIn("Peer: ('127.0.0.2', ", self.p4.log())
        self.assertIn("Peer: ('127.0.0.1', ", self.p4.log())

    def test_source_address_ipv6(self):
        t = self.t("src6")
        self.assertTrue(t["success"], t)
        self.assertEqual(t["address"], "::1")
        self.assertEqual(t["ip_protocol"], 6)
        self.assertEqual(self.ehlo_mechs("src6"), ["PLAIN"])
        self.assertIn("Peer: ('::1', ", self.p6.log())

    def test_source_address_limits_auto_to_its_family(self):
        t = self.t("src6-to-lit4")
        self.assertFalse(t["success"])
        self.assertEqual(t["error"], "connect")
        self.assertIsNone(t["address"])
        self.assertEqual(t["detail"], "connect: 127.0.0.1 is an IPv4 "
                         "address, but the probe may only use IPv6 "
                         "(source_address)")

    # --- --once's table ---------------------------------------------------

    def test_table_has_the_address_column(self):
        lines = self.table.stdout.splitlines()
        self.assertEqual(lines[0].split()[-1], "ADDRESS")
        rows = {ln.split()[0]: ln.split() for ln in lines[1:]
                if ln and not ln.startswith(" ")}
        self.assertEqual(set(rows), set(self.names))
        want = {"dual-v6": "::1", "dual-v4": "127.0.0.1",
                "dual-auto-q4": "127.0.0.1", "dual-auto-q6": "::1",
                "lit4-as-v6": "-", "name4-as-v6": "-", "src4": "127.0.0.1",
                "src4-other": "127.0.0.1", "src6": "::1",
                "src6-to-lit4": "-"}
        self.assertEqual({n: r[-1] for n, r in rows.items()}, want)
        self.assertEqual(self.table.returncode, 1)

    # --- the running agent: metrics and the status page -----------------

    def m(self, name, **labels):
        return harness.metric(self.samples, name, **labels)

    def test_ip_protocol_metric(self):
        want = {"dual-v6": 6, "dual-v4": 4, "dual-auto-q4": 4,
                "dual-auto-q6": 6, "lit4-as-v6": 0, "name4-as-v6": 0,
                "src4": 4, "src4-other": 4, "src6": 6, "src6-to-lit4": 0}
        got = {t: self.m("smtp_probe_ip_protocol", target=t)
               for t in self.names}
        self.assertEqual(got, want)

    def test_resolve_phase(self):
        # A name and an address: both resolved (an address at ~0 s), then
        # connected.
        for name in ("dual-v6", "dual-v4", "src4", "src6"):
            with self.subTest(target=name):
                phases = {dict(k)["phase"]: v for k, v in harness.series(
                    self.samples, "smtp_probe_phase_duration_seconds",
                    target=name).items()}
                self.assertIn("resolve", phases)
                self.assertGreaterEqual(phases["resolve"], 0)
                self.assertLess(phases["resolve"], 2)
                self.assertIn("connect", phases)
                self.assertGreaterEqual(phases["connect"], 0)
                self.assertEqual(set(phases),
                                 {"resolve", "connect", "banner", "ehlo"})
        # Resolved, but no address of the family to connect to.
        phases = {dict(k)["phase"]: v for k, v in harness.series(
            self.samples, "smtp_probe_phase_duration_seconds",
            target="name4-as-v6").items()}
        self.assertEqual(set(phases), {"resolve"})
        self.assertGreaterEqual(phases["resolve"], 0)

    def test_status_page_card_shows_the_address(self):
        want = {"dual-v6": "<dt>Address</dt><dd>::1 <span "
                "class=\"muted\">(IPv6)</span></dd>",
                "dual-v4": "<dt>Address</dt><dd>127.0.0.1 <span "
                "class=\"muted\">(IPv4)</span></dd>",
                "lit4-as-v6": "<dt>Address</dt><dd>none reached</dd>"}
        for name, row in want.items():
            with self.subTest(target=name):
                self.assertIn(row, self.cards[name])


if __name__ == "__main__":
    unittest.main()
