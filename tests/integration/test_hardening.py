"""Issue 9, hardening round two: what a hostile review of main broke.

Each test reproduces one finding against the real agent and fails on the
main before the fix:
- a FIFO where a file is expected (the config file at start and at
  SIGHUP, a ca_file) froze the agent; now it is refused at once, by
  --check-config too, and a running agent keeps probing;
- a password_file that leads (through a symlink) to a multi-line file,
  /etc/shadow say, became the secret sent to the server;
- behind a load balancer whose second backend serves an expired
  certificate, the TLS facts (valid, expiry) were the first session's
  only: valid, 300 days left, while the probe failed on "certificate has
  expired" (and with tls_verify = false the bad backend never showed);
- with a descriptor limit of 64 and 200 targets on a slow but healthy
  server, hundreds of probes failed with "connect" (the agent's own
  EMFILE blamed on the targets); now the agent caps its concurrency from
  the limit, says so at start, and counts a probe it cannot run as its
  own failure;
- redaction was an oracle: with the password "Authentication" a reply
  showed as "535 5.7.8 [secret] credentials invalid"; and a token sent
  in one session, echoed in the next session's greeting, reached the
  status page. Such text is now withheld whole, whatever the session;
- when the agent cancelled AUTH itself ("*" to a challenge it could not
  answer), the server's 501 looked like a refusal, with no word of the
  cancellation; the detail, the log and a note now say it;
- a timeout after the greeting read "Operation timed out after 2000
  milliseconds with 0 bytes received"; it now says which stage waited.

Takes about 10 s.
"""

import json
import os
import re
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402
from slow_smtp import SlowSmtpServer  # noqa: E402
import hostile_smtpd  # noqa: E402

# A hang is what these tests catch: every run is bounded by this.
RUN_TIMEOUT_S = 20


def fifo(directory, name="fifo"):
    path = os.path.join(directory, name)
    os.mkfifo(path, 0o600)
    return path


class FifoTest(unittest.TestCase):
    """A FIFO never blocks the agent: it is not a regular file."""

    @classmethod
    def setUpClass(cls):
        cls.binary = harness.agent_binary()

    def setUp(self):
        self.dir = self.enterContext(tempfile.TemporaryDirectory())

    def test_config_file_fifo_at_start(self):
        path = fifo(self.dir, "agent.ini")
        for args in (["--check-config"], ["--once"], []):
            r = harness.run_agent_once(
                self.binary, ["-c", path] + args, timeout=RUN_TIMEOUT_S)
            self.assertIn("%s: cannot open: not a regular file" % path,
                          r.stderr, args)
            self.assertEqual(r.returncode, 2 if args == ["--once"] else 1,
                             args)

    def test_ca_file_fifo_is_a_config_error(self):
        ca = fifo(self.dir)
        cfg = os.path.join(self.dir, "agent.ini")
        text = harness.target_ini("t", 9, tls="implicit").replace(
            "@CA_FILE@", ca)
        with open(cfg, "w") as f:
            f.write(text)
        line = text.count("\n", 0, text.index("ca_file")) + 1
        for args in (["--check-config"], ["--once"]):
            r = harness.run_agent_once(self.binary, ["-c", cfg] + args,
                                       timeout=RUN_TIMEOUT_S)
            self.assertIn("%s:%d: ca_file: %s is not a regular file"
                          % (cfg, line, ca), r.stderr, args)
            self.assertNotEqual(r.returncode, 0, args)

    def test_config_fifo_at_reload_keeps_the_agent_running(self):
        aio = self.enterContext(harness.aiosmtpd(tls="none"))
        cfg = ("[agent]\ninterval = 1s\ntimeout = 1s\n"
               + harness.target_ini("aio", aio.port, tls="none"))
        ag = self.enterContext(harness.run_agent(self.binary, cfg))

        def probes():
            return harness.metric(harness.scrape(ag.port)[1],
                                  "smtp_probes_total", target="aio") or 0
        harness.wait_for(lambda: probes() >= 1, 15)
        os.rename(ag.config_path, ag.config_path + ".real")
        os.mkfifo(ag.config_path, 0o600)
        ag.signal(signal.SIGHUP)
        # The reload fails at once and says why; the old config goes on.
        harness.wait_for(lambda: harness.metric(
            harness.scrape(ag.port)[1],
            "smtp_agent_config_last_reload_successful") == 0, 10)
        before = probes()
        harness.wait_for(lambda: probes() >= before + 2, 15,
                         message="probes to go on after the failed reload")
        self.assertIn("cannot open: not a regular file", ag.stderr())
        self.assertEqual(ag.stop(), 0)


class PasswordFileTest(unittest.TestCase):
    """A password file is the secret alone: one line, owned by us or root;
    a symlink is followed and what it leads to is checked."""

    def test_symlink_to_a_multi_line_file_is_refused(self):
        d = self.enterContext(tempfile.TemporaryDirectory())
        secret = "Shadow-Like-Content-7731"
        shadow = os.path.join(d, "shadow")
        with open(shadow, "w") as f:
            f.write("root:%s:19000:0:99999:7:::\n"
                    "daemon:*:19000:0:99999:7:::\n" % secret)
        os.chmod(shadow, 0o640)
        link = os.path.join(d, "pw")
        os.symlink(shadow, link)
        cfg = os.path.join(d, "agent.ini")
        text = harness.target_ini("t", 9, mechanisms="PLAIN", username="u",
                                  password_file=link).replace(
                                      "@CA_FILE@", "/dev/null/none")
        with open(cfg, "w") as f:
            f.write(text)
        line = text.count("\n", 0, text.index("password_file")) + 1
        r = harness.run_agent_once(self.binary(), ["-c", cfg,
                                                   "--check-config"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:%d: password_file: %s holds more than one line"
                      % (cfg, line, link), r.stderr)
        self.assertNotIn(secret, r.stdout + r.stderr)
        self.assertNotIn("daemon", r.stdout + r.stderr)

    @staticmethod
    def binary():
        return harness.agent_binary()


# notAfter of certs.py's expired certificate (2021-01-01T00:00:00Z).
EXPIRED_NOT_AFTER = 1609459200
PASSWORD = "fixture-hardening-pw-9"
USER = "probe@hardening.test"


def wait_probed(agent, targets, n, timeout=30):
    """Until every one of targets has been probed n times."""
    def probed():
        s = harness.scrape(agent.port)[1]
        return all((harness.metric(s, "smtp_probes_total", target=t) or 0)
                   >= n for t in targets)
    harness.wait_for(probed, timeout, message="%d probes of %s"
                     % (n, ", ".join(targets)))


def lb_config(ports):
    out = ["[agent]", "interval = 2s", "timeout = 1500ms",
           "max_per_host = 16"]
    for name, verify in (("lb_verify", "true"), ("lb_noverify", "false")):
        out.append(harness.target_ini(
            name, ports[name], tls_verify=verify, mechanisms="PLAIN LOGIN",
            username=USER, password_file="@PASSWORD_FILE@"))
    return "\n".join(out) + "\n"


class LoadBalancerTest(unittest.TestCase):
    """Each mechanism gets its own connection; behind a load balancer they
    reach different backends. The TLS facts cover every session: valid
    only if all are, the earliest expiry, and which session differed."""

    @classmethod
    def setUpClass(cls):
        cls.binary = harness.agent_binary()
        pki = harness.shared_pki()
        cls.srv = cls.enterClassContext(hostile_smtpd.HostileServer(
            ["lb_verify=lb_second_backend_expired",
             "lb_noverify=lb_second_backend_expired"], pki.dir))
        cls.agent = cls.enterClassContext(harness.run_agent(
            cls.binary, lb_config(cls.srv.ports), password=PASSWORD))

        wait_probed(cls.agent, ("lb_verify", "lb_noverify"), 2)
        cls.samples = harness.scrape(cls.agent.port)[1]
        cls.page = harness.http_get(cls.agent.port, "/")[2].decode()

    def m(self, name, **labels):
        return harness.metric(self.samples, name, **labels)

    def test_verified_target_reports_the_expired_backend(self):
        t = "lb_verify"
        probes = self.m("smtp_probes_total", target=t)
        # Session 1 (PLAIN) got through; session 2 (LOGIN) was refused at
        # TLS, before anything secret was sent.
        self.assertEqual(self.m("smtp_probe_failures_total", target=t,
                                stage="tls"), probes)
        self.assertEqual(self.m("smtp_auth_results_total", target=t,
                                mechanism="PLAIN", **{"class": "success"}),
                         probes)
        self.assertEqual(self.m("smtp_tls_cert_valid", target=t), 0)
        self.assertEqual(self.m(
            "smtp_tls_cert_expiry_timestamp_seconds", target=t),
            EXPIRED_NOT_AFTER)

    def test_unverified_target_still_shows_the_expired_backend(self):
        t = "lb_noverify"
        self.assertEqual(self.m("smtp_probe_success", target=t), 1)
        self.assertEqual(self.m("smtp_tls_cert_valid", target=t), 0)
        self.assertEqual(self.m(
            "smtp_tls_cert_expiry_timestamp_seconds", target=t),
            EXPIRED_NOT_AFTER)

    def test_page_and_once_say_which_session_differed(self):
        self.assertTrue("session 2 of 2 (LOGIN)" in self.page,
                        "the status page does not name the session")
        r = harness.run_agent_once(
            self.binary, ["-c", self.agent.config_path, "--once",
                          "--format", "json"], timeout=30)
        rows = {t["name"]: t for t in json.loads(r.stdout)["targets"]}
        for t in ("lb_verify", "lb_noverify"):
            tls = rows[t]["tls"]
            self.assertFalse(tls["cert_valid"], t)
            self.assertEqual(tls["cert_not_after"], EXPIRED_NOT_AFTER, t)
            self.assertLess(tls["cert_days_left"], 0, t)
            self.assertIn("session 2 of 2 (LOGIN): certificate has "
                          "expired", tls["problem"] or "", t)
        self.assertIn("Session 2 (of 2 with TLS) met another certificate",
                      rows["lb_verify"]["note"] or "")


WORD_PASSWORD = "Authentication"
WITHHELD = "[withheld: the text contained a form of the secret]"


class RedactionTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.binary = harness.agent_binary()
        pki = harness.shared_pki()
        cls.srv = cls.enterClassContext(hostile_smtpd.HostileServer(
            ["echo_word=auth_535", "echo_token=echo_token_in_greeting"],
            pki.dir))
        cfg = ("[agent]\ninterval = 2s\ntimeout = 1500ms\nlog_level = debug\n"
               + harness.target_ini("echo_word", cls.srv.ports["echo_word"],
                                    mechanisms="PLAIN", username=USER,
                                    password_env="WORD_PW")
               + harness.target_ini("echo_token",
                                    cls.srv.ports["echo_token"],
                                    mechanisms="PLAIN LOGIN", username=USER,
                                    password_file="@PASSWORD_FILE@"))
        cls.env = dict(os.environ, WORD_PW=WORD_PASSWORD)
        cls.agent = cls.enterClassContext(harness.run_agent(
            cls.binary, cfg, password=PASSWORD, env=cls.env))

        wait_probed(cls.agent, ("echo_word", "echo_token"), 2)
        cls.metrics = harness.scrape(cls.agent.port)[0]
        cls.page = harness.http_get(cls.agent.port, "/")[2].decode()
        cls.once = harness.run_agent_once(
            cls.binary, ["-c", cls.agent.config_path, "--once"], timeout=30,
            env=cls.env)
        cls.log = cls.agent.stderr()

    def test_a_word_of_the_reply_is_no_oracle(self):
        outputs = {"page": self.page, "once": self.once.stdout,
                   "log": self.log}
        for where, text in outputs.items():
            self.assertNotIn("[secret]", text, where)
            # The server's words, not the catalogue's title of 535.
            self.assertNotIn("8 Authentication credentials invalid", text,
                             where)
        self.assertIn("<code>535 %s</code>" % WITHHELD, self.page)
        self.assertIn(WITHHELD, self.once.stdout)
        self.assertIn("note: The server sent back a form of the probe's "
                      "secret", self.once.stdout)
        # The class still follows the code.
        self.assertRegex(self.metrics, r'smtp_auth_results_total\{target='
                         r'"echo_word",mechanism="PLAIN",class="auth_failed"'
                         r'\} [1-9]')

    def test_a_token_echoed_by_another_session_is_withheld(self):
        self.assertIn(WITHHELD, self.page)
        harness.assert_no_secret(
            self, harness.secret_forms(USER, PASSWORD),
            {"page": self.page, "once": self.once.stdout + self.once.stderr,
             "log": self.log, "metrics": self.metrics})


class CancelTest(unittest.TestCase):

    def test_agent_cancel_is_said(self):
        pki = harness.shared_pki()
        srv = self.enterContext(hostile_smtpd.HostileServer(
            ["cram=cram_bad_challenge"], pki.dir))
        cfg = ("[agent]\ninterval = 2s\ntimeout = 1500ms\n"
               + harness.target_ini("cram", srv.ports["cram"],
                                    mechanisms="CRAM-MD5", username=USER,
                                    password_file="@PASSWORD_FILE@"))
        ag = self.enterContext(harness.run_agent(
            harness.agent_binary(), cfg, password=PASSWORD))
        wait_probed(ag, ("cram",), 1, 20)
        text, samples = harness.scrape(ag.port)
        # The reply is counted as it came: the class follows the code.
        self.assertEqual(harness.metric(
            samples, "smtp_replies_total", target="cram", stage="auth",
            code="501", **{"class": "syntax_error"}) or 0,
            harness.metric(samples, "smtp_probes_total", target="cram"))
        once = harness.run_agent_once(
            harness.agent_binary(), ["-c", ag.config_path, "--once"],
            timeout=30)
        want = ("AUTH CRAM-MD5: cancelled by the agent (the server's "
                "challenge is not valid base64); the server answered 501 "
                "5.7.0 Authentication cancelled")
        self.assertIn(want, once.stdout)
        self.assertIn('note: The agent cancelled AUTH CRAM-MD5 itself (it '
                      'sent "*") because the server\'s challenge is not '
                      'valid base64; the 501 that followed answers that '
                      'cancellation', once.stdout)
        self.assertIn("cancelled by the agent", ag.stderr())
        page = harness.http_get(ag.port, "/")[2].decode()
        self.assertTrue("The agent cancelled AUTH CRAM-MD5 itself" in page,
                        "the status page does not say who cancelled")
        # The server saw the cancel, and nothing secret after it.
        self.assertIn("command *", srv.log())


class TimeoutWordsTest(unittest.TestCase):
    """A timeout names the stage that waited, not curl's byte count."""

    def test_timeouts_say_where(self):
        pki = harness.shared_pki()
        srv = self.enterContext(hostile_smtpd.HostileServer(
            ["ehlo=never_reads", "greeting=no_banner",
             "tls=tls_handshake_stall", "starttls=starttls_stall"], pki.dir))
        cfg = ["[agent]", "timeout = 1s"]
        for name, tls in (("ehlo", "none"), ("greeting", "none"),
                          ("tls", "implicit"), ("starttls", "starttls")):
            cfg.append(harness.target_ini(name, srv.ports[name], tls=tls))
        path = os.path.join(self.enterContext(tempfile.TemporaryDirectory()),
                            "agent.ini")
        with open(path, "w") as f:
            f.write("\n".join(cfg).replace("@CA_FILE@", pki.ca.cert))
        r = harness.run_agent_once(harness.agent_binary(),
                                   ["-c", path, "--once", "--format", "json"],
                                   timeout=30)
        rows = {t["name"]: t for t in json.loads(r.stdout)["targets"]}
        want = {
            "ehlo": "ehlo: no reply to EHLO before the deadline (1 s)",
            "greeting": "greeting: no greeting before the deadline (1 s)",
            "tls": "tls: the TLS handshake did not finish before the "
                   "deadline (1 s)",
            "starttls": "tls: the TLS handshake did not finish before the "
                        "deadline (1 s)",
        }
        for name, detail in want.items():
            self.assertEqual(rows[name]["error"], "timeout", name)
            self.assertEqual(rows[name]["detail"], detail, name)
        self.assertNotIn("bytes received", r.stdout)


class LimitedAgent(harness.AgentProcess):
    """The agent under `prlimit --nofile=N:N`: it cannot raise it."""

    nofile = 64

    def argv(self):
        return (["prlimit", "--nofile=%d:%d" % (self.nofile, self.nofile),
                 "--"] + super().argv())


class FdLimitTest(unittest.TestCase):
    TARGETS = 200

    def test_descriptor_limit_is_the_agents_not_the_targets(self):
        # A probe of it takes ~3 x 0.7 s: 200 at once would need far
        # more descriptors than 64.
        srv = self.enterContext(SlowSmtpServer(delay=0.7))
        port = srv.port
        cfg = ["[agent]", "interval = 4s", "timeout = 3s",
               "max_concurrent_probes = 256", "max_per_host = 256"]
        for i in range(self.TARGETS):
            cfg.append(harness.target_ini("t%03d" % i, port, tls="none"))
        ag = self.enterContext(LimitedAgent(harness.agent_binary(),
                                            "\n".join(cfg) + "\n"))
        targets = ["t%03d" % i for i in range(self.TARGETS)]

        def some_probed():
            s = harness.scrape(ag.port)[1]
            done = sum(harness.metric(s, "smtp_probes_total", target=t) or 0
                       for t in targets)
            return s if done >= 20 else None
        harness.wait_for(some_probed, 30, interval=0.5)
        time.sleep(4)  # one more interval of the slow server
        s = harness.scrape(ag.port)[1]
        log = ag.stderr()
        self.assertTrue(re.search(
            r'msg="file descriptor limit" fd_limit=64 ', log),
            "no start line names the descriptor limit")
        self.assertTrue(re.search(
            r'msg="max_concurrent_probes lowered[^"]*" configured=256 '
            r'effective=\d+ fd_limit=64', log),
            "no line says max_concurrent_probes was lowered")
        blamed = {t: (harness.metric(s, "smtp_probe_errors_total",
                                     target=t, error="connect"),
                      harness.metric(s, "smtp_probe_success", target=t))
                  for t in targets}
        bad = {t: v for t, v in blamed.items() if v[0] or v[1] == 0}
        self.assertEqual(bad, {}, "targets blamed for the agent's limit")
        # What the agent could not run is its own failure, counted apart.
        self.assertIsNotNone(harness.metric(
            s, "smtp_agent_resource_failures_total",
            resource="file_descriptors"))


if __name__ == "__main__":
    unittest.main()
