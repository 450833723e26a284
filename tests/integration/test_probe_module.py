"""/probe?module=NAME&target=HOST[:PORT]: a [module]'s settings on a host
that its allowed_targets let through (issue 13, step 2).

Refusals (an in-process TCP server that counts its connections, no SMTP
server): a host, a port or a name against a CIDR pattern that the module
does not allow is 403 with one line, a log line naming the client, the
module and the target, and no connection at all; the same server is
connected to once a module allows it (the counter works); an unknown
module is 400, and so are bad arguments; a file of modules only is valid
(--check-config counts them) and a bad pattern is refused at
file:line:key; modules follow SIGHUP.

AioModule (aiosmtpd with STARTTLS and AUTH): an allowed target answers
200 with probe_success 1 and the SMTP detail, as /probe?target=NAME
does; the module's default port (587 for starttls) is what is checked
when the request names none; debug=true shows the transcript; no form of
the password anywhere (answers, log).

ModuleLabels (aiosmtpd, EHLO only): a module's labels, [agent]'s when it
sets none, nothing with `labels = none`, are on every series of its
answers, first and in the order given, then each family's own; escaped
as on /metrics; promtool accepts them. ModuleLabelsReload (the slow
server): a SIGHUP while a /probe?module= runs leaves its answer with the
labels it started with (run the ASan build: nothing read from the freed
config), the next answer has the new ones.

Every server listens on 127.0.0.1 only; every wait has a deadline.
"""

import os
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402
from slow_smtp import SlowSmtpServer  # noqa: E402

EXPO_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REFUSAL_CONFIG = """
[agent]
listen = @LISTEN@
interval = 1h
timeout = 5s

[module "named"]
tls = none
allowed_targets = *.example.com localhost:1

[module "cidr"]
tls = none
allowed_targets = 127.0.0.0/8 [::1]/128

[module "port"]
tls = none
allowed_targets = 127.0.0.1:1 localhost:2
"""


def get(port, query):
    """GET /probe?query: (status, headers, body text)."""
    status, hdrs, body = harness.http_get(port, "/probe?" + query)
    return status, hdrs, body.decode("utf-8", errors="replace")


class Refusals(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.connections = 0
        lock = threading.Lock()

        class Counting(socketserver.StreamRequestHandler):
            def handle(self):
                with lock:
                    Refusals.connections += 1
                self.wfile.write(b"554 5.3.2 not today\r\n")

        cls.server_port = cls.enterClassContext(harness.tcp_server(Counting))
        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(), REFUSAL_CONFIG))

    def refused(self, module, target):
        status, hdrs, text = get(self.agent.port,
                                 "module=%s&target=%s" % (module, target))
        self.assertEqual(status, 403, text)
        self.assertTrue(hdrs.get("content-type").startswith("text/plain"))
        self.assertEqual(text.count("\n"), 1, text)
        self.assertIn("not in module %s's allowed_targets" % module, text)
        return text

    def test_1_refused_targets_are_never_connected_to(self):
        p = self.server_port
        # A host that no pattern names (an address against names only).
        text = self.refused("named", "127.0.0.1:%d" % p)
        self.assertEqual(
            text, "Target 127.0.0.1:%d is not in module named's "
            "allowed_targets\n" % p)
        # The right host on another port.
        self.refused("named", "localhost:%d" % p)
        self.refused("port", "127.0.0.1:%d" % p)
        self.refused("port", "localhost:%d" % p)
        # A name that DNS would turn into an allowed address: never
        # resolved to decide, so refused.
        self.refused("cidr", "localhost:%d" % p)
        self.refused("cidr", "LocalHost:%d" % p)
        # No port: the module's default (25 for tls = none) is checked.
        self.refused("port", "127.0.0.1")
        time.sleep(0.5)
        self.assertEqual(Refusals.connections, 0,
                         "a refused target was connected to")
        # One log line (rate-limited: the first of the burst) names the
        # client, the module and the target.
        log = harness.wait_for(
            lambda: [l for l in self.agent.stderr().splitlines()
                     if "probe refused with 403" in l], 5,
            message="the 403's log line")
        self.assertIn("remote=127.0.0.1", log[0])
        self.assertIn("probe_module=named", log[0])
        self.assertIn("target=127.0.0.1:%d" % p, log[0])

    def test_2_allowed_target_is_probed(self):
        # The counter works: the same server, allowed, is connected to.
        before = Refusals.connections
        status, hdrs, text = get(
            self.agent.port, "module=cidr&target=127.0.0.1:%d"
            % self.server_port)
        self.assertEqual(status, 200, text)
        self.assertEqual(hdrs.get("content-type"), EXPO_TYPE)
        s = harness.parse_metrics(text)
        self.assertEqual(harness.metric(s, "probe_success"), 0, text)
        self.assertIn('stage="greeting"', text)
        self.assertRegex(text, r'smtp_last_reply_code\{[^}]*stage="greeting"'
                         r'[^}]*\} 554')
        self.assertGreater(Refusals.connections, before)
        # Percent-escaped as Prometheus sends it: [::1] is allowed, but
        # nothing listens there on that port (a failed probe, not 403).
        status, _, text = get(self.agent.port,
                              "module=cidr&target=%%5B%%3A%%3A1%%5D%%3A%d"
                              % self.server_port)
        self.assertEqual(status, 200, text)
        # No port: the transcript names the one probed, the module's
        # default (25 for tls = none), whatever answers there.
        status, _, text = get(self.agent.port,
                              "module=cidr&target=127.0.0.1&debug=true")
        self.assertEqual(status, 200, text)
        self.assertTrue(text.startswith(
            "Transcript of the probe of 127.0.0.1:25 with module cidr "), text)

    def test_unknown_module_and_bad_arguments(self):
        status, _, text = get(self.agent.port,
                              "module=nosuch&target=127.0.0.1:25")
        self.assertEqual(status, 400)
        self.assertEqual(text, "Unknown module: nosuch\n")
        for query in ("module=&target=127.0.0.1", "module=cidr",
                      "module=cidr&target=", "module=cidr&target=127.1",
                      "module=cidr&target=2130706433:25",
                      "module=cidr&target=%5B%3A%3A1",
                      "module=cidr&target=127.0.0.1:0",
                      "module=cidr&target=127.0.0.1:99999",
                      "module=cidr&target=a%20b",
                      "module=c%20d&target=127.0.0.1",
                      "module=cidr&target=u%40127.0.0.1"):
            status, _, text = get(self.agent.port, query)
            self.assertEqual(status, 400, query)
            self.assertEqual(text.count("\n"), 1, query)
        # target=NAME without module keeps its meaning.
        status, _, text = get(self.agent.port, "target=cidr")
        self.assertEqual(status, 400)
        self.assertEqual(text, "Unknown target: cidr\n")

    def test_check_config(self):
        binary = harness.agent_binary()
        proc = subprocess.run([binary, "-c", self.agent.config_path,
                               "--check-config"], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("ok, 0 targets, 3 modules", proc.stderr)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.ini")
            with open(path, "w") as f:
                f.write('[module "m"]\ntls = none\n'
                        "allowed_targets = *.example.com 10.0.0.1/8\n"
                        '[module "n"]\nhost = a.example.com\n')
            proc = subprocess.run([binary, "-c", path, "--check-config"],
                                  stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(
            '%s:3: allowed_targets: pattern "10.0.0.1/8": the address has '
            "bits set past its prefix length" % path, proc.stderr)
        self.assertIn("%s:5: host: not allowed in [module \"NAME\"] sections"
                      % path, proc.stderr)
        self.assertIn("%s:4: allowed_targets: missing" % path, proc.stderr)

    def test_z_modules_follow_sighup(self):
        with open(self.agent.config_path, "w") as f:
            f.write(self.agent.config_text.replace(
                '[module "cidr"]', '[module "cidr2"]'))
        self.agent.signal(signal.SIGHUP)
        harness.wait_for(
            lambda: get(self.agent.port,
                        "module=cidr&target=127.0.0.1:25")[0] == 400, 10,
            message="module cidr gone after SIGHUP")
        status, _, text = get(self.agent.port,
                              "module=cidr2&target=localhost:25")
        self.assertEqual(status, 403, text)


MODULE_CONFIG = """
[agent]
listen = @LISTEN@
interval = 1h
timeout = 10s

[module "submit"]
tls = starttls
ca_file = @CA_FILE@
server_name = localhost
mechanisms = PLAIN LOGIN
username = %(user)s
password_env = AIO_PASSWORD
allowed_targets = 127.0.0.1:%(port)d
"""


class AioModule(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.aio = cls.enterClassContext(harness.aiosmtpd(tls="starttls"))
        env = dict(os.environ, AIO_PASSWORD=cls.aio.password)
        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(),
            MODULE_CONFIG % dict(user=cls.aio.user, port=cls.aio.port),
            env=env))
        cls.outputs = {}

    def test_allowed_target(self):
        query = "module=submit&target=127.0.0.1:%d" % self.aio.port
        status, hdrs, text = get(self.agent.port, query)
        self.outputs["probe"] = text
        self.assertEqual(status, 200, text)
        self.assertEqual(hdrs.get("content-type"), EXPO_TYPE)
        s = harness.parse_metrics(text)
        self.assertEqual(harness.metric(s, "probe_success"), 1, text)
        self.assertGreater(harness.metric(s, "probe_duration_seconds"), 0)
        for stage, code in (("greeting", 220), ("ehlo", 250),
                            ("starttls", 220), ("auth", 235)):
            self.assertEqual(harness.metric(
                s, "smtp_last_reply_code", stage=stage,
                **{"class": "success"}), code, stage)
        self.assertEqual(harness.metric(s, "smtp_tls_cert_valid"), 1)
        # The module's settings on the host asked for, as /metrics says a
        # target's: what the certificate alert reads tls_verify from.
        self.assertEqual(harness.series(s, "smtp_target_info"), {
            frozenset({"host": "127.0.0.1", "port": str(self.aio.port),
                       "tls": "starttls", "tls_verify": "true"}.items()): 1})
        rc, out = harness.promtool_check(text)
        self.assertEqual(rc, 0, out)

        status, _, text = get(self.agent.port, query + "&debug=true")
        self.outputs["debug"] = text
        self.assertEqual(status, 200, text)
        self.assertIn("Transcript of the probe of 127.0.0.1:%d with module "
                      "submit" % self.aio.port, text)
        self.assertIn("probe_success 1", text)

    def test_default_port_is_checked(self):
        # No port: starttls' 587, which the module does not allow.
        status, _, text = get(self.agent.port,
                              "module=submit&target=127.0.0.1")
        self.outputs["default port"] = text
        self.assertEqual(status, 403, text)
        self.assertEqual(
            text, "Target 127.0.0.1:587 is not in module submit's "
            "allowed_targets\n")

    def test_z_no_secret_anywhere(self):
        forms = harness.secret_forms(self.aio.user, self.aio.password)
        outputs = dict(self.outputs)
        outputs["log"] = self.agent.stderr()
        outputs["metrics"] = harness.http_get(self.agent.port, "/metrics")[2]
        harness.assert_no_secret(self, forms, outputs)


AGENT_LABELS = [("env", "prod"), ("region", "eu west")]
OWN_LABELS = [("team", "modteam"), ("note", 'on call: "mail" \\ team'),
              ("site", "Z\u00fcrich")]

LABELS_CONFIG = """
[agent]
listen = @LISTEN@
interval = 1h
timeout = 10s
labels = env=prod region="eu west"

[module "own"]
tls = starttls
ca_file = @CA_FILE@
server_name = localhost
labels = team=modteam note="on call: \\"mail\\" \\\\ team" site=Z\u00fcrich
allowed_targets = 127.0.0.1:%(port)d

[module "inherits"]
tls = starttls
ca_file = @CA_FILE@
server_name = localhost
allowed_targets = 127.0.0.1:%(port)d

[module "off"]
tls = starttls
ca_file = @CA_FILE@
server_name = localhost
labels = none
allowed_targets = 127.0.0.1:%(port)d
"""


class ModuleLabels(unittest.TestCase):
    """A module's labels (key `labels`, default [agent]'s) are on every
    series of its /probe answers, as a target's are on /metrics."""

    @classmethod
    def setUpClass(cls):
        cls.aio = cls.enterClassContext(harness.aiosmtpd(tls="starttls"))
        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(), LABELS_CONFIG % dict(port=cls.aio.port)))

    def answer(self, module):
        status, hdrs, text = get(self.agent.port,
                                 "module=%s&target=127.0.0.1:%d"
                                 % (module, self.aio.port))
        self.assertEqual(status, 200, text)
        self.assertEqual(hdrs.get("content-type"), EXPO_TYPE)
        rc, out = harness.promtool_check(text)
        self.assertEqual(rc, 0, out)
        return text

    def check(self, text, user):
        harness.assert_probe_labels(self, text, user)
        s = harness.parse_metrics(text)
        u = dict(user)
        # Exact label sets, a few families.
        self.assertEqual(harness.metric(s, "probe_success", **u), 1, text)
        self.assertEqual(harness.metric(
            s, "smtp_last_reply_code", stage="greeting",
            **dict(u, **{"class": "success"})), 220, text)
        self.assertIsNotNone(harness.metric(
            s, "smtp_probe_phase_duration_seconds",
            **dict(u, phase="starttls")), text)
        self.assertEqual(harness.metric(s, "smtp_tls_cert_valid", **u), 1,
                         text)

    def test_own_labels(self):
        text = self.answer("own")
        self.check(text, OWN_LABELS)
        # Escaped as on /metrics.
        self.assertIn('probe_success{team="modteam",note="on call: '
                      '\\"mail\\" \\\\ team",site="Z\u00fcrich"} 1\n', text)

    def test_agent_labels_by_default(self):
        self.check(self.answer("inherits"), AGENT_LABELS)

    def test_none(self):
        text = self.answer("off")
        self.check(text, [])
        self.assertIn("\nprobe_success 1\n", "\n" + text)

    def test_debug_answer_has_them_too(self):
        status, _, text = get(self.agent.port,
                              "module=own&target=127.0.0.1:%d&debug=true"
                              % self.aio.port)
        self.assertEqual(status, 200, text)
        self.assertIn('\nprobe_success{team="modteam",', text)


RELOAD_CONFIG = """
[agent]
listen = @LISTEN@
interval = 1h
timeout = 10s

[module "slow"]
tls = none
labels = team=%(team)s
allowed_targets = 127.0.0.1:%(port)d
"""


class ModuleLabelsReload(unittest.TestCase):
    """A SIGHUP while a /probe?module= runs frees the config that the
    probe started with: its answer still carries that config's labels
    (a copy, not a pointer into freed memory: the ASan build says so),
    and the next answer the new ones."""

    def test_sighup_while_probing(self):
        slow = self.enterContext(SlowSmtpServer(delay=1.0))
        cfg = RELOAD_CONFIG % dict(team="before", port=slow.port)
        agent = self.enterContext(harness.run_agent(harness.agent_binary(),
                                                    cfg))
        query = "module=slow&target=127.0.0.1:%d" % slow.port
        got = {}

        def ask():
            got["r"] = get(agent.port, query)

        th = threading.Thread(target=ask)
        th.start()
        harness.wait_for(lambda: harness.metric(
            harness.scrape(agent.port)[1],
            "smtp_agent_probes_in_flight") == 1, 5,
            message="the /probe in flight")
        # Other strings everywhere, so that nothing of the old config
        # survives in place; the module's labels change.
        with open(agent.config_path, "w") as f:
            f.write(agent.config_text.replace(
                "team=before", "team=after-the-reload other=x").replace(
                "[module \"slow\"]", "[module \"first\"]\ntls = none\n"
                "labels = a=b\nallowed_targets = 192.0.2.1\n\n"
                "[module \"slow\"]"))
        agent.signal(signal.SIGHUP)
        harness.wait_for(lambda: "config reloaded" in agent.stderr(), 5,
                         message="the reload")
        th.join(10)
        status, _, text = got["r"]
        self.assertEqual(status, 200, text)
        s = harness.parse_metrics(text)
        self.assertEqual(harness.metric(s, "probe_success", team="before"),
                         1, text)
        harness.assert_probe_labels(self, text, [("team", "before")])
        status, _, text = get(agent.port, query)
        self.assertEqual(status, 200, text)
        harness.assert_probe_labels(self, text,
                                    [("team", "after-the-reload"),
                                     ("other", "x")])


if __name__ == "__main__":
    unittest.main()
