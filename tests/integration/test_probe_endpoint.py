"""/probe?target=NAME: one probe of one configured target, now (issue 13).

AioTargets (aiosmtpd with STARTTLS and AUTH): a good target answers 200
with blackbox_exporter's probe_success and probe_duration_seconds beside
the SMTP detail of that probe, no agent or process series, no target
label, and promtool accepts it (gzip'd too); a wrong password gives
probe_success 0 with 535 classed auth_failed; an unknown target is 400;
the scheduled probe's counters and last results do not move; debug=true
shows the redacted transcript and no form of either password.

PostfixTargets (real Postfix with Cyrus SASL): PLAIN, LOGIN and CRAM-MD5
succeed and fail per mechanism, and the debug transcript holds no form of
either password (CRAM-MD5's digest included).

LabelledTargets (aiosmtpd, EHLO only): a target's labels, [agent]'s when
it sets none, nothing with `labels = none`, are on every series of
/probe?target=NAME, first, in the order its /metrics series show them
after `target`, then each family's own.

SlowTargets (the project's slow and silent SMTP servers): the scrape
timeout header caps the probe (a silent server: answered within 2 s with
probe_success 0); a /probe during a long scheduled round answers on time
and /-/healthy answers meanwhile; with max_concurrent_probes = 1 a /probe
that finds no slot in its time is 503 with Retry-After, and a burst past
the bound of waiting requests is refused at once with 503; basic auth
applies (401, nothing probed); a SIGTERM with a /probe in flight exits
cleanly.

Every server listens on 127.0.0.1 only; every wait has a deadline.
"""

import base64
import gzip
import http.client
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402
from slow_smtp import SlowSmtpServer  # noqa: E402

EXPO_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WRONG_PASSWORD = "fixture-wrong-pw-probe-13"
# Long: the first target is probed by the schedule at start, the others
# not before the test ends (targets are spread over the interval).
INTERVAL = "1h"

AIO_CONFIG = """
[agent]
listen = @LISTEN@
interval = %(interval)s
timeout = 10s
""" + harness.target_ini("good", 0) + harness.target_ini("wrong", 0)


def aio_config(port, user):
    text = AIO_CONFIG % dict(interval=INTERVAL)
    text = text.replace("port = 0", "port = %d" % port)
    # Each target's AUTH settings.
    text = text.replace(
        '[target "good"]',
        '[target "good"]\nmechanisms = PLAIN LOGIN\nusername = %s\n'
        'password_env = AIO_PASSWORD' % user)
    text = text.replace(
        '[target "wrong"]',
        '[target "wrong"]\nmechanisms = PLAIN\nusername = %s\n'
        'password_env = WRONG_PASSWORD' % user)
    return text


def probe(port, target, headers=None, query="", timeout=5.0):
    """GET /probe?target=...: (status, headers, body text), gzip undone."""
    conn = http.client.HTTPConnection(harness.LOOPBACK, port, timeout=timeout)
    try:
        conn.request("GET", "/probe?target=%s%s" % (target, query),
                     headers=headers or {})
        resp = conn.getresponse()
        status, body = resp.status, resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    if hdrs.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return status, hdrs, body.decode("utf-8", errors="replace")


def names(samples):
    return {name for (name, _) in samples}


class AioTargets(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.aio = cls.enterClassContext(harness.aiosmtpd(tls="starttls"))
        env = dict(os.environ, AIO_PASSWORD=cls.aio.password,
                   WRONG_PASSWORD=WRONG_PASSWORD)
        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(), aio_config(cls.aio.port, cls.aio.user),
            env=env))
        # The schedule's first probe of "good" (due at start).
        harness.wait_for(lambda: harness.metric(
            harness.scrape(cls.agent.port)[1], "smtp_probes_total",
            target="good") == 1, 15, message="good probed by the schedule")

    def test_good_target(self):
        status, hdrs, text = probe(self.agent.port, "good")
        self.assertEqual(status, 200, text)
        self.assertEqual(hdrs.get("content-type"), EXPO_TYPE)
        s = harness.parse_metrics(text)
        self.assertEqual(harness.metric(s, "probe_success"), 1, text)
        self.assertGreater(harness.metric(s, "probe_duration_seconds"), 0)
        self.assertLess(harness.metric(s, "probe_duration_seconds"), 10)
        # The SMTP detail of this probe: reply and class per stage, AUTH
        # per mechanism, TLS facts, phases.
        for stage, code in (("greeting", 220), ("ehlo", 250),
                            ("starttls", 220), ("auth", 235),
                            ("quit", 221)):
            self.assertEqual(harness.metric(
                s, "smtp_last_reply_code", stage=stage,
                **{"class": "success"}), code, stage)
        for mech in ("PLAIN", "LOGIN"):
            self.assertEqual(harness.metric(
                s, "smtp_auth_reply_code", mechanism=mech,
                **{"class": "success"}), 235, mech)
            self.assertEqual(harness.metric(
                s, "smtp_auth_mechanism_advertised", mechanism=mech), 1)
        self.assertEqual(harness.metric(s, "smtp_tls_cert_valid"), 1)
        self.assertTrue(harness.series(s, "smtp_tls_info"))
        self.assertGreater(
            harness.metric(s, "smtp_tls_cert_expiry_timestamp_seconds"),
            time.time())
        for phase in ("connect", "banner", "ehlo", "starttls", "auth"):
            self.assertIsNotNone(harness.metric(
                s, "smtp_probe_phase_duration_seconds", phase=phase), phase)
        # The target's settings, as its smtp_target_info on /metrics.
        self.assertEqual(harness.series(s, "smtp_target_info"), {
            frozenset({"host": "127.0.0.1", "port": str(self.aio.port),
                       "tls": "starttls", "tls_verify": "true"}.items()): 1})
        # Only this probe's series: nothing of the agent or the process,
        # no counters of the schedule, no target label.
        for name in names(s):
            self.assertFalse(name.startswith(("smtp_agent_", "process_")),
                             name)
            self.assertFalse(name.endswith("_total"), name)
        for (_, labels) in s:
            self.assertNotIn("target", dict(labels))
        rc, out = harness.promtool_check(text)
        self.assertEqual(rc, 0, out)

    def test_gzip(self):
        status, hdrs, body = harness.http_get(
            self.agent.port, "/probe?target=good",
            {"Accept-Encoding": "gzip"})
        self.assertEqual(status, 200)
        self.assertEqual(hdrs.get("content-encoding"), "gzip")
        self.assertEqual(hdrs.get("content-type"), EXPO_TYPE)
        s = harness.parse_metrics(gzip.decompress(body).decode())
        self.assertEqual(harness.metric(s, "probe_success"), 1)

    def test_wrong_password(self):
        status, _, text = probe(self.agent.port, "wrong")
        self.assertEqual(status, 200, text)
        s = harness.parse_metrics(text)
        self.assertEqual(harness.metric(s, "probe_success"), 0, text)
        self.assertEqual(harness.metric(
            s, "smtp_auth_reply_code", mechanism="PLAIN",
            **{"class": "auth_failed"}), 535, text)
        self.assertEqual(harness.metric(
            s, "smtp_last_reply_code", stage="auth",
            **{"class": "auth_failed"}), 535, text)
        rc, out = harness.promtool_check(text)
        self.assertEqual(rc, 0, out)

    def test_unknown_and_bad_targets(self):
        status, hdrs, text = probe(self.agent.port, "nosuch")
        self.assertEqual(status, 400)
        self.assertEqual(text, "Unknown target: nosuch\n")
        self.assertTrue(hdrs.get("content-type").startswith("text/plain"))
        for path in ("/probe", "/probe?target=", "/probe?target=a%2",
                     "/probe?target=a%00b", "/probe?target=go+od",
                     "/probe?target=good&module=smtp_auth",
                     "/probe?target=good&debug=yes"):
            status, _, body = harness.http_get(self.agent.port, path)
            self.assertEqual(status, 400, path)
            self.assertEqual(body.count(b"\n"), 1, path)
        status, _, _ = harness.http_get(
            self.agent.port, "/probe?target=good",
            {"X-Prometheus-Scrape-Timeout-Seconds": "soon"})
        self.assertEqual(status, 400)
        # A name as Prometheus sends it: %-escaped.
        status, _, text = probe(self.agent.port, "%67ood")
        self.assertEqual(status, 200, text)

    def test_head_not_allowed(self):
        status, hdrs, _ = harness.http_get(
            self.agent.port, "/probe?target=good", method="HEAD")
        self.assertEqual(status, 405)
        self.assertEqual(hdrs.get("allow"), "GET")

    def test_scheduled_results_untouched(self):
        before_text, before = harness.scrape(self.agent.port)
        for target in ("good", "wrong", "good"):
            status, _, text = probe(self.agent.port, target)
            self.assertEqual(status, 200, text)
        after_text, after = harness.scrape(self.agent.port)
        for target in ("good", "wrong"):
            for name in ("smtp_probes_total", "smtp_auth_results_total",
                         "smtp_replies_total", "smtp_probe_success",
                         "smtp_probe_last_run_timestamp_seconds",
                         "smtp_probe_duration_seconds_count"):
                self.assertEqual(
                    harness.series(before, name, target=target),
                    harness.series(after, name, target=target),
                    "%s{target=%s}" % (name, target))
        self.assertEqual(harness.metric(after, "smtp_probes_total",
                                        target="good"), 1)
        self.assertEqual(harness.metric(after, "smtp_probes_total",
                                        target="wrong"), 0)
        # The schedule never probed "wrong": it has no last result.
        self.assertIsNone(harness.metric(after, "smtp_probe_success",
                                         target="wrong"))

    def test_debug_transcript(self):
        status, hdrs, text = probe(self.agent.port, "good",
                                   query="&debug=true")
        self.assertEqual(status, 200, text)
        self.assertTrue(hdrs.get("content-type").startswith("text/plain;"))
        self.assertNotEqual(hdrs.get("content-type"), EXPO_TYPE)
        for want in (" S: 220 ", " C: EHLO ", " C: STARTTLS", " S: 250",
                     " C: AUTH PLAIN [initial response withheld]",
                     " C: AUTH LOGIN", " C: [SASL response withheld]",
                     " S: 235 ", " C: QUIT", " S: 221 ",
                     "Metrics that would have been returned:",
                     "\nprobe_success 1\n"):
            self.assertIn(want, text)
        status, _, wrong = probe(self.agent.port, "wrong",
                                 query="&debug=true")
        self.assertEqual(status, 200, wrong)
        self.assertIn(" S: 535 ", wrong)
        self.assertIn("\nprobe_success 0\n", wrong)
        forms = (harness.secret_forms(self.aio.user, self.aio.password) +
                 harness.secret_forms(self.aio.user, WRONG_PASSWORD))
        harness.assert_no_secret(self, forms, {"debug good": text,
                                               "debug wrong": wrong})


LABELLED_CONFIG = """
[agent]
listen = @LISTEN@
interval = 1h
timeout = 10s
labels = env=prod region="eu west"
"""


class LabelledTargets(unittest.TestCase):
    """A target's labels (key `labels`, default [agent]'s) are on every
    series of /probe?target=NAME, in the order /metrics writes them after
    `target`."""

    @classmethod
    def setUpClass(cls):
        cls.aio = cls.enterClassContext(harness.aiosmtpd(tls="starttls"))
        port = cls.aio.port
        cfg = (LABELLED_CONFIG +
               harness.target_ini("own", port, labels='team=mail note="on '
                                  'call: \\"mail\\" \\\\ team" '
                                  'site=Z\u00fcrich') +
               harness.target_ini("inherits", port) +
               harness.target_ini("off", port, labels="none"))
        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(), cfg))

    def check(self, target, user):
        status, hdrs, text = probe(self.agent.port, target)
        self.assertEqual(status, 200, text)
        self.assertEqual(hdrs.get("content-type"), EXPO_TYPE)
        rc, out = harness.promtool_check(text)
        self.assertEqual(rc, 0, out)
        harness.assert_probe_labels(self, text, user)
        # Exact label sets, a few families.
        s = harness.parse_metrics(text)
        u = dict(user)
        self.assertEqual(harness.metric(s, "probe_success", **u), 1, text)
        self.assertEqual(harness.metric(
            s, "smtp_last_reply_code", stage="ehlo",
            **dict(u, **{"class": "success"})), 250, text)
        tls = harness.series(s, "smtp_tls_info", **u)
        self.assertEqual([set(dict(l)) for l in tls],
                         [set(u) | {"version", "cipher"}], text)
        # The same labels, in the same order, as the target's series on
        # /metrics show right after target.
        info = [l for n, l in harness.sample_labels(
            harness.scrape(self.agent.port)[0])
            if n == "smtp_target_info" and l[0] == ("target", target)]
        self.assertEqual(len(info), 1, info)
        self.assertEqual(info[0][1:1 + len(user)], user)
        self.assertEqual([k for k, _ in info[0][1 + len(user):]],
                         ["host", "port", "tls", "tls_verify"])
        return text

    def test_own_labels(self):
        text = self.check("own", [("team", "mail"),
                                  ("note", 'on call: "mail" \\ team'),
                                  ("site", "Z\u00fcrich")])
        self.assertIn('probe_success{team="mail",note="on call: \\"mail\\" '
                      '\\\\ team",site="Z\u00fcrich"} 1\n', text)

    def test_agent_labels_by_default(self):
        self.check("inherits", [("env", "prod"), ("region", "eu west")])

    def test_none(self):
        text = self.check("off", [])
        self.assertTrue(text.startswith("# HELP probe_success "), text)
        self.assertIn("\nprobe_success 1\n", text)


PF_CONFIG = """
[agent]
listen = @LISTEN@
interval = 1h
timeout = 10s

[target "pf-good"]
host = 127.0.0.1
port = %(port)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN LOGIN CRAM-MD5
username = %(user)s
password_file = @PASSWORD_FILE@

[target "pf-wrong"]
host = 127.0.0.1
port = %(port)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN CRAM-MD5
username = %(user)s
password_env = WRONG_PASSWORD
"""


class PostfixTargets(unittest.TestCase):
    """Real Postfix with Cyrus SASL: every mechanism, CRAM-MD5 included,
    whose digest is secret-derived: the transcript shows none of it."""

    @classmethod
    def setUpClass(cls):
        cls.pf = cls.enterClassContext(harness.postfix_server())
        env = dict(os.environ, WRONG_PASSWORD=WRONG_PASSWORD)
        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(),
            PF_CONFIG % dict(port=cls.pf.ports.starttls,
                             user=cls.pf.username),
            password=cls.pf.password, env=env))

    def test_good_and_wrong(self):
        status, _, text = probe(self.agent.port, "pf-good",
                                query="&debug=true")
        self.assertEqual(status, 200, text)
        self.assertIn("\nprobe_success 1\n", text)
        for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
            self.assertIn('smtp_auth_reply_code{mechanism="%s",'
                          'class="success"} 235\n' % mech, text)
        self.assertIn(" C: AUTH CRAM-MD5\n", text)
        self.assertIn(" S: 334 ", text)  # the challenge is no secret
        status, _, wrong = probe(self.agent.port, "pf-wrong",
                                 query="&debug=true")
        self.assertEqual(status, 200, wrong)
        self.assertIn("\nprobe_success 0\n", wrong)
        self.assertIn('smtp_auth_reply_code{mechanism="CRAM-MD5",'
                      'class="auth_failed"} 535\n', wrong)
        forms = (harness.secret_forms(self.pf.username, self.pf.password) +
                 harness.secret_forms(self.pf.username, WRONG_PASSWORD))
        harness.assert_no_secret(self, forms, {"debug good": text,
                                               "debug wrong": wrong})
        # Without debug: the same series, promtool's blessing.
        status, _, plain = probe(self.agent.port, "pf-wrong")
        self.assertEqual(status, 200, plain)
        rc, out = harness.promtool_check(plain)
        self.assertEqual(rc, 0, out)


def plain_target(name, port, **keys):
    """A [target] without TLS or AUTH: one EHLO session."""
    return harness.target_ini(name, port, tls="none", **keys)


class SlowTargets(unittest.TestCase):

    def test_scrape_timeout_caps_the_probe(self):
        silent = self.enterContext(SlowSmtpServer(silent=True))
        fast = self.enterContext(SlowSmtpServer())
        cfg = ("[agent]\nlisten = @LISTEN@\ninterval = %s\n" % INTERVAL +
               plain_target("fast", fast.port) +
               plain_target("silent", silent.port, timeout="10s"))
        agent = self.enterContext(harness.run_agent(harness.agent_binary(),
                                                    cfg))
        t0 = time.monotonic()
        status, _, text = probe(agent.port, "silent",
                                {"X-Prometheus-Scrape-Timeout-Seconds": "2"})
        took = time.monotonic() - t0
        self.assertEqual(status, 200, text)
        self.assertLess(took, 2.0)
        self.assertGreater(took, 1.0)  # it did wait for the server
        s = harness.parse_metrics(text)
        self.assertEqual(harness.metric(s, "probe_success"), 0)
        self.assertEqual(harness.metric(s, "smtp_probe_error",
                                        stage="greeting", error="timeout"), 1)
        self.assertLess(harness.metric(s, "probe_duration_seconds"), 2.0)

    def test_probe_during_long_round(self):
        slow = self.enterContext(SlowSmtpServer(delay=3.0))
        fast = self.enterContext(SlowSmtpServer())
        # 40 slow targets spread over a 10 s interval; each probe takes
        # about 9 s.
        cfg = ("[agent]\nlisten = @LISTEN@\ninterval = 10s\ntimeout = 10s\n"
               "max_per_host = 64\n" +
               "".join(plain_target("slow%02d" % i, slow.port)
                       for i in range(40)) +
               plain_target("fast", fast.port, interval="1h"))
        agent = self.enterContext(harness.run_agent(harness.agent_binary(),
                                                    cfg))
        harness.wait_for(lambda: harness.metric(
            harness.scrape(agent.port)[1],
            "smtp_agent_probes_in_flight") >= 20, 15,
            message="a long round in flight")
        results = {}

        def health():
            t0 = time.monotonic()
            st, _, _ = harness.http_get(agent.port, "/-/healthy")
            results["healthy"] = (st, time.monotonic() - t0)

        th = threading.Thread(target=health)
        t0 = time.monotonic()
        th.start()
        status, _, text = probe(agent.port, "fast")
        took = time.monotonic() - t0
        th.join(5)
        self.assertEqual(status, 200, text)
        self.assertLess(took, 1.0)
        self.assertEqual(harness.metric(harness.parse_metrics(text),
                                        "probe_success"), 1)
        self.assertEqual(results["healthy"][0], 200)
        self.assertLess(results["healthy"][1], 0.5)
        # Still a long round when the answer came: it did not wait for it.
        self.assertGreaterEqual(harness.metric(
            harness.scrape(agent.port)[1], "smtp_agent_probes_in_flight"), 20)

    def test_overload(self):
        silent = self.enterContext(SlowSmtpServer(silent=True))
        fast = self.enterContext(SlowSmtpServer())
        cfg = ("[agent]\nlisten = @LISTEN@\ninterval = %s\n"
               "max_concurrent_probes = 1\n" % INTERVAL +
               plain_target("fast", fast.port) +
               plain_target("silent", silent.port, timeout="8s"))
        agent = self.enterContext(harness.run_agent(harness.agent_binary(),
                                                    cfg))
        # One /probe holds the only slot for its 8 s.
        holder = {}

        def hold():
            holder["r"] = probe(agent.port, "silent", timeout=15)

        th = threading.Thread(target=hold)
        th.start()
        harness.wait_for(lambda: harness.metric(
            harness.scrape(agent.port)[1],
            "smtp_agent_probes_in_flight") == 1, 5, message="slot taken")
        # A /probe that finds no slot in its time: 503, Retry-After.
        t0 = time.monotonic()
        status, hdrs, text = probe(
            agent.port, "fast", {"X-Prometheus-Scrape-Timeout-Seconds": "2"})
        took = time.monotonic() - t0
        self.assertEqual(status, 503, text)
        self.assertEqual(hdrs.get("retry-after"), "1")
        self.assertIn("No probe slot", text)
        self.assertLess(took, 2.0)
        # A burst past the bound of waiting requests: refused at once.
        answers = []
        lock = threading.Lock()

        def ask():
            t = time.monotonic()
            st, h, body = probe(agent.port, "fast",
                                {"X-Prometheus-Scrape-Timeout-Seconds": "4"})
            with lock:
                answers.append((st, h.get("retry-after"), body,
                                time.monotonic() - t))

        burst = [threading.Thread(target=ask) for _ in range(40)]
        for b in burst:
            b.start()
        for b in burst:
            b.join(10)
        self.assertEqual(len(answers), 40)
        refused = [a for a in answers if "Too many /probe" in a[2]]
        self.assertGreaterEqual(len(refused), 8)
        for st, retry, _, took in refused:
            self.assertEqual((st, retry), (503, "1"))
            self.assertLess(took, 1.0)
        self.assertTrue(all(a[0] == 503 for a in answers))
        th.join(10)
        status, _, text = holder["r"]
        self.assertEqual(status, 200, text)
        self.assertEqual(harness.metric(harness.parse_metrics(text),
                                        "probe_success"), 0)

    def test_stop_while_probing(self):
        """SIGTERM with a /probe in flight: the agent exits cleanly (0,
        and with the ASan build nothing leaked or freed twice) and the
        client gets its connection back at once, not at its deadline."""
        silent = self.enterContext(SlowSmtpServer(silent=True))
        cfg = ("[agent]\nlisten = @LISTEN@\ninterval = %s\n" % INTERVAL +
               plain_target("first", silent.port, timeout="9s") +
               plain_target("silent", silent.port, timeout="9s"))
        agent = harness.run_agent(harness.agent_binary(), cfg).start()
        try:
            got = {}

            def ask():
                try:
                    got["r"] = probe(agent.port, "silent", timeout=15)
                except (OSError, http.client.HTTPException) as e:
                    got["r"] = e

            th = threading.Thread(target=ask)
            th.start()
            # The schedule's probe of "first" and this one.
            harness.wait_for(lambda: harness.metric(
                harness.scrape(agent.port)[1],
                "smtp_agent_probes_in_flight") == 2, 5,
                message="the /probe in flight")
            t0 = time.monotonic()
            self.assertEqual(agent.stop(), 0, harness.tail(agent.stderr_path))
            th.join(10)
            self.assertLess(time.monotonic() - t0, 3.0)
            self.assertIn("r", got)
            # No answer, or a 503: never a probe_success it did not get.
            if isinstance(got["r"], tuple):
                self.assertEqual(got["r"][0], 503, got["r"])
        finally:
            agent.kill()
            agent.cleanup()

    def test_basic_auth_applies(self):
        """/probe is behind basic auth like every path: nothing is probed
        for a client without credentials."""
        first = self.enterContext(SlowSmtpServer())
        fast = self.enterContext(SlowSmtpServer())
        # test_http_abuse.py's fixture user (bcrypt cost 10).
        user, password = "prometheus", "storm-Scrape-pw-1"
        pw_hash = "$2b$10$.ThjD.mu2ZbV2ZC8ieyPVeoo/.4lYFWfhZMIQuhKP3Ihrmu.ORWNi"
        cfg = ("[agent]\nlisten = @LISTEN@\ninterval = %s\n"
               "web_basic_auth_user = %s\n"
               "web_basic_auth_password_hash = %s\n"
               % (INTERVAL, user, pw_hash) +
               plain_target("first", first.port) +
               plain_target("fast", fast.port))
        agent = self.enterContext(harness.run_agent(
            harness.agent_binary(), cfg, wait_ready=False))
        harness.wait_port(agent.port)
        status, hdrs, _ = probe(agent.port, "fast")
        self.assertEqual(status, 401)
        self.assertIn("Basic", hdrs.get("www-authenticate", ""))
        status, _, _ = probe(agent.port, "nosuch")
        self.assertEqual(status, 401)  # not even which targets exist
        time.sleep(0.3)
        # The schedule probes "fast" in half an hour; nobody did now.
        self.assertEqual(fast.connections, 0)
        token = base64.b64encode(
            ("%s:%s" % (user, password)).encode()).decode()
        status, _, text = probe(agent.port, "fast",
                                {"Authorization": "Basic " + token})
        self.assertEqual(status, 200, text)
        self.assertIn("\nprobe_success 1\n", text)
        self.assertEqual(fast.connections, 1)


if __name__ == "__main__":
    unittest.main()
