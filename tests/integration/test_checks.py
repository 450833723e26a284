"""The refusal checks (expect_auth_before_tls, expect_open_relay,
require_ehlo) against real Postfix configured both ways, and against the
scripted server for what Postfix will not do (235 to AUTH in clear, 538,
a 450 to RCPT).

Two Postfix instances: the normal one (AUTH only after STARTTLS,
relaying only for SASL clients, mynetworks not covering 127.0.0.1) and a
misconfigured one (smtpd_tls_auth_only = no on the STARTTLS port,
127.0.0.0/8 in mynetworks with permit_mynetworks). Each is probed by
--once (table and JSON) and by a running agent (/metrics, the status
page, /probe through a module), with log_level = debug; the real
password is looked for in every output.
"""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402
import hostile_smtpd  # noqa: E402

INTERVAL = "5s"
REQUIRE = "PIPELINING SMTPUTF8 8BITMIME SIZE>=10240000"
# Postfix 3.7's default message_size_limit is 10240000.
REQUIRE_MISSING = "PIPELINING X-NOT-THERE SIZE>=20971520"
CHECKS = dict(expect_auth_before_tls="refused",
              expect_open_relay="refused", require_ehlo=REQUIRE)
DUMMY_USER = "smtp-health-agent-check"
RCPT = "smtp-health-agent-relay-test@example.net"

SCENARIOS = ("auth_in_clear_235", "auth_in_clear_538", "relay_open",
             "relay_deferred", "healthy")


def by_check(doc_target):
    return {c["check"]: c for c in doc_target.get("checks", [])}


class PostfixBothWays(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pf = cls.enterClassContext(harness.postfix_server())
        cls.bad = cls.enterClassContext(harness.postfix_server(
            relay_open=True, auth_before_tls=True))
        auth = dict(mechanisms="PLAIN", username=cls.pf.username,
                    password_file="@PASSWORD_FILE@")
        target = harness.target_ini
        cls.config_text = (
            "[agent]\ninterval = %s\ntimeout = 5s\nlog_level = debug\n"
            % INTERVAL + "".join([
                target("normal", cls.pf.ports.starttls, **auth, **CHECKS),
                target("misconfigured", cls.bad.ports.starttls, **auth,
                       **CHECKS),
                target("ehlo-missing", cls.pf.ports.starttls,
                       require_ehlo=REQUIRE_MISSING),
                target("plain-target", cls.pf.ports.starttls, **auth),
                # The clear port of the normal instance: STARTTLS optional,
                # AUTH offered before it.
                target("clear-port", cls.pf.ports.clear,
                       expect_auth_before_tls="refused"),
            ]) + "\n[module \"checked\"]\nallowed_targets = 127.0.0.1\n"
            "server_name = localhost\nca_file = @CA_FILE@\n"
            "expect_open_relay = refused\nexpect_auth_before_tls = refused\n")
        # Same password in both instances (the fixture's).
        cls.password = cls.pf.password
        cls.forms = harness.secret_forms(cls.pf.username, cls.password)
        once_agent = harness.AgentProcess(harness.agent_binary(),
                                          cls.config_text,
                                          password=cls.password)
        cls.addClassCleanup(once_agent.cleanup)
        path = once_agent.config_path
        cls.once = harness.run_agent_once(harness.agent_binary(),
                                          ["-c", path, "--once"])
        cls.once_json = harness.run_agent_once(
            harness.agent_binary(), ["-c", path, "--once", "--format",
                                     "json"])
        if not cls.once_json.stdout:
            raise AssertionError("--once --format json: rc %d\n%s"
                                 % (cls.once_json.returncode,
                                    cls.once_json.stderr))
        cls.doc = json.loads(cls.once_json.stdout)
        cls.by_name = {t["name"]: t for t in cls.doc["targets"]}

        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(), cls.config_text, password=cls.password))

        def probed():
            s = harness.scrape(cls.agent.port)[1]
            return all((harness.metric(s, "smtp_probes_total", target=t)
                        or 0) >= 1 for t in ("normal", "misconfigured",
                                             "ehlo-missing", "plain-target",
                                             "clear-port"))
        harness.wait_for(probed, 30, interval=0.2,
                         message="a probe of every target")
        cls.text, cls.samples = harness.scrape(cls.agent.port)
        cls.page = harness.http_get(cls.agent.port, "/")[2].decode()
        cls.probe_text = harness.http_get(
            cls.agent.port, "/probe?module=checked&target=127.0.0.1:%d"
            % cls.bad.ports.starttls)[2].decode()
        cls.bad_maillog = cls.bad.maillog_text()
        cls.pf_maillog = cls.pf.maillog_text()

    def m(self, name, **labels):
        return harness.metric(self.samples, name, **labels)

    # --- what Postfix answered ----------------------------------------------

    def test_normal_postfix_passes_every_check(self):
        checks = by_check(self.by_name["normal"])
        self.assertEqual({k: c["verdict"] for k, c in checks.items()},
                         {"auth_before_tls": "passed", "open_relay": "passed",
                          "ehlo": "passed"}, checks)
        # No AUTH before STARTTLS in its first EHLO: no session needed.
        self.assertIsNone(checks["auth_before_tls"]["code"])
        self.assertIn("AUTH not advertised before STARTTLS",
                      checks["auth_before_tls"]["detail"])
        # reject_unauth_destination: 554 5.7.1 Relay access denied.
        self.assertEqual(checks["open_relay"]["code"], 554)
        self.assertIn("RCPT TO:<%s>" % RCPT, checks["open_relay"]["detail"])
        self.assertIn("Relay access denied", checks["open_relay"]["detail"])
        self.assertTrue(self.by_name["normal"]["success"])

    def test_misconfigured_postfix_fails_both_refusals(self):
        t = self.by_name["misconfigured"]
        checks = by_check(t)
        self.assertEqual(checks["auth_before_tls"]["verdict"], "failed")
        # Postfix checked the dummy password sent in clear: 535.
        self.assertEqual(checks["auth_before_tls"]["code"], 535)
        self.assertEqual(checks["open_relay"]["verdict"], "failed")
        self.assertEqual(checks["open_relay"]["code"], 250)
        self.assertEqual(checks["ehlo"]["verdict"], "passed")
        # The server works: the probe itself succeeded.
        self.assertTrue(t["success"])
        self.assertEqual(t["stage"], "quit")
        self.assertEqual(t["explanation"]["key"], "check_auth_before_tls")
        self.assertIn("smtp_probe_success stays 1", t["note"])

    def test_clear_port_of_the_normal_instance_fails_auth_check(self):
        # Its STARTTLS is optional and it offers AUTH in clear.
        c = by_check(self.by_name["clear-port"])["auth_before_tls"]
        self.assertEqual((c["verdict"], c["code"]), ("failed", 535))

    def test_require_ehlo_names_what_is_missing(self):
        c = by_check(self.by_name["ehlo-missing"])["ehlo"]
        self.assertEqual(c["verdict"], "failed")
        self.assertEqual(c["detail"], "missing: X-NOT-THERE not advertised; "
                         "SIZE 10240000 < 20971520")

    def test_relay_attempt_never_sent_data(self):
        # The open instance accepted the RCPT: a queue file was begun, and
        # removed at RSET; nothing was ever delivered or even cleaned up
        # into a message (no DATA).
        self.assertNotRegex(self.bad_maillog, r"status=sent|message-id=")
        self.assertNotRegex(self.pf_maillog, r"status=sent|message-id=")
        # The normal one logged its refusal of the relay attempt.
        self.assertRegex(self.pf_maillog,
                         r"NOQUEUE: reject: RCPT from \S+: 554 5\.7\.1 <%s>: "
                         r"Relay access denied" % re.escape(RCPT))

    def test_dummy_credentials_not_the_real_ones(self):
        # Postfix logs the failed clear-text AUTH; the name in it (if it
        # names one) is the dummy, and the real password never appears.
        failed = [ln for ln in self.bad_maillog.splitlines()
                  if "authentication failed" in ln]
        self.assertTrue(failed, self.bad_maillog[-2000:])
        for ln in failed:
            self.assertNotIn(self.pf.user + "@", ln)
            if "sasl_username" in ln:
                self.assertIn(DUMMY_USER, ln)

    # --- the series ---------------------------------------------------------

    def test_series(self):
        want = {("normal", "auth_before_tls"): (1, 0),
                ("normal", "open_relay"): (1, 554),
                ("normal", "ehlo"): (1, 250),
                ("misconfigured", "auth_before_tls"): (0, 535),
                ("misconfigured", "open_relay"): (0, 250),
                ("misconfigured", "ehlo"): (1, 250),
                ("ehlo-missing", "ehlo"): (0, 250),
                ("clear-port", "auth_before_tls"): (0, 535)}
        for (t, c), (ok, code) in want.items():
            with self.subTest(target=t, check=c):
                self.assertEqual(self.m("smtp_check_success", target=t,
                                        check=c), ok)
                self.assertEqual(self.m("smtp_check_reply_code", target=t,
                                        check=c), code)
        # Only the checks a target configures have series.
        for t, n in (("normal", 3), ("misconfigured", 3), ("ehlo-missing", 1),
                     ("plain-target", 0), ("clear-port", 1)):
            with self.subTest(target=t):
                self.assertEqual(len(harness.series(
                    self.samples, "smtp_check_success", target=t)), n)
                self.assertEqual(len(harness.series(
                    self.samples, "smtp_check_reply_code", target=t)), n)
        # The cost: 2 series per configured check, none by default. normal
        # and plain-target probe the same port the same way (PLAIN).
        def count(t):
            return sum(1 for (_, lbl) in self.samples
                       if ("target", t) in lbl)
        self.assertEqual(count("plain-target"), 31)  # README: the default
        self.assertEqual(count("normal") - count("plain-target"), 6)
        # A failed check leaves smtp_probe_success at 1.
        self.assertEqual(self.m("smtp_probe_success", target="misconfigured"),
                         1)
        self.assertEqual(self.m("smtp_probe_success", target="ehlo-missing"),
                         1)
        self.assertEqual(harness.promtool_check(self.text)[0], 0)

    def test_probe_endpoint(self):
        s = harness.parse_metrics(self.probe_text)
        self.assertEqual(harness.metric(s, "probe_success"), 1)
        self.assertEqual(harness.metric(s, "smtp_check_success",
                                        check="open_relay"), 0)
        self.assertEqual(harness.metric(s, "smtp_check_success",
                                        check="auth_before_tls"), 0)
        self.assertEqual(harness.metric(s, "smtp_check_reply_code",
                                        check="open_relay"), 250)
        self.assertIsNone(harness.metric(s, "smtp_check_success",
                                         check="ehlo"))

    # --- the page and --once ------------------------------------------------

    def card(self, name):
        m = re.search(r'<article[^>]*id="t-%s"[^>]*>.*?</article>'
                      % re.escape(name), self.page, re.S)
        self.assertIsNotNone(m, "no card for %s" % name)
        return m.group(0)

    def test_status_page_shows_failed_check_as_failing(self):
        bad = self.card("misconfigured")
        self.assertRegex(bad, r'class="card failing"')
        self.assertRegex(bad, r'data-check="open_relay">open_relay: '
                              r'<span class="bad">failing</span>')
        self.assertRegex(bad, r'data-check="auth_before_tls">auth_before_tls'
                              r': <span class="bad">failing</span>')
        # The first failed check explains the card, and the note says the
        # probe itself passed.
        self.assertIn("<strong>Credentials accepted before STARTTLS."
                      "</strong>", bad)
        self.assertIn("every stage passed (smtp_probe_success stays 1)", bad)
        self.assertRegex(self.card("ehlo-missing"), r'class="card failing"')
        self.assertIn('<a href="#t-misconfigured">misconfigured</a>',
                      re.search(r'<p class="failing-list">.*?</p>',
                                self.page).group(0))
        good = self.card("normal")
        self.assertRegex(good, r'class="card ok"')
        self.assertRegex(good, r'data-check="open_relay">open_relay: '
                              r'<span class="good">passed</span>')
        self.assertNotIn("data-check", self.card("plain-target"))

    def test_once_table(self):
        # A failed check: exit 1 like any failing target.
        self.assertEqual(self.once.returncode, 1, self.once.stderr)
        lines = self.once.stdout.splitlines()
        row = next(ln for ln in lines if ln.startswith("misconfigured "))
        self.assertEqual(row.split()[1:4], ["quit", "221", "check_failed"])
        self.assertIn("  check open_relay      failed: RCPT TO:<%s>: 250 "
                      % RCPT, self.once.stdout)
        self.assertIn("  check auth_before_tls failed: AUTH PLAIN before "
                      "STARTTLS: 535 ", self.once.stdout)
        self.assertIn("  explanation: Credentials accepted before STARTTLS",
                      self.once.stdout)
        row = next(ln for ln in lines if ln.startswith("normal "))
        self.assertEqual(row.split()[1:4], ["quit", "221", "success"])
        self.assertNotIn("checks", self.by_name["plain-target"])

    def test_log_line(self):
        # One info line per probe with a failed check, naming the first.
        self.assertRegex(self.agent.stderr(),
                         r'check failed.*target=misconfigured '
                         r'check=auth_before_tls code=535 ')
        self.assertNotRegex(self.agent.stderr(),
                            r'check failed.*target=normal ')

    def test_no_sanitizer_report(self):
        # Under -DSANITIZE=ON a report goes to stderr (and its exit code
        # could pass for --once's 1).
        for where, text in (("once", self.once.stderr),
                            ("once json", self.once_json.stderr),
                            ("agent", self.agent.stderr())):
            with self.subTest(where=where):
                self.assertNotIn("Sanitizer", text)
                self.assertNotIn("runtime error", text)

    def test_no_secret_anywhere(self):
        harness.assert_no_secret(self, self.forms, {
            "once": self.once.stdout + self.once.stderr,
            "once json": self.once_json.stdout,
            "metrics": self.text, "page": self.page,
            "probe": self.probe_text, "agent log": self.agent.stderr(),
            "maillog bad": self.bad_maillog})


class ConfigErrors(unittest.TestCase):
    """Bad values: FILE:LINE: KEY: message, every one, exit 1."""

    def test_check_config(self):
        text = ('[target "a"]\nhost = 127.0.0.1\ntls = implicit\n'
                "expect_auth_before_tls = refused\n"
                "expect_open_relay = maybe\n"
                "require_ehlo = PIPELINING SIZE>=10MB\n"
                "open_relay_rcpt = <x@example.net>\n")
        ag = harness.AgentProcess(harness.agent_binary(), text)
        self.addCleanup(ag.cleanup)
        r = harness.run_agent_once(harness.agent_binary(),
                                   ["-c", ag.config_path, "--check-config"])
        self.assertEqual(r.returncode, 1, r.stderr)
        p = ag.config_path
        for line in (
                "%s:4: expect_auth_before_tls: only for a STARTTLS target" % p,
                "%s:5: expect_open_relay: must be refused (checked) or "
                "unchecked, not \"maybe\"" % p,
                "%s:6: require_ehlo: \"SIZE>=10MB\": SIZE>= takes a whole "
                "number of bytes" % p,
                "%s:7: open_relay_rcpt: must be an address like "
                "someone@example.net" % p):
            self.assertIn(line, r.stderr)


class ScriptedServers(unittest.TestCase):
    """What Postfix will not answer: 235 or 538 to AUTH before STARTTLS,
    250 and 450 to RCPT, with every command the agent sent logged."""

    @classmethod
    def setUpClass(cls):
        pki = harness.shared_pki()
        cls.srv = cls.enterClassContext(
            hostile_smtpd.HostileServer(list(SCENARIOS), pki.dir))
        cls.password = "scripted-Real-pw-77"
        cls.user = "real-user@example.test"
        target = harness.target_ini
        auth = dict(mechanisms="PLAIN", username=cls.user,
                    password_file="@PASSWORD_FILE@")
        text = "[agent]\ntimeout = 5s\nlog_level = debug\n" + "".join(
            target(n, cls.srv.ports[n], **auth, **CHECKS) for n in SCENARIOS)
        ag = harness.AgentProcess(harness.agent_binary(), text,
                                  password=cls.password)
        cls.addClassCleanup(ag.cleanup)
        cls.once = harness.run_agent_once(
            harness.agent_binary(), ["-c", ag.config_path, "--once",
                                     "--format", "json"])
        cls.doc = {t["name"]: t for t in json.loads(cls.once.stdout)["targets"]}
        cls.log = cls.srv.log()

    def commands(self, scenario):
        """The commands each connection of scenario got, in order."""
        conns = {}
        for m in re.finditer(r"scenario=%s conn=(\d+) command (.*)"
                             % scenario, self.log):
            conns.setdefault(m.group(1), []).append(m.group(2))
        return list(conns.values())

    def test_235_in_clear_fails_with_dummy_user(self):
        c = by_check(self.doc["auth_in_clear_235"])["auth_before_tls"]
        self.assertEqual((c["verdict"], c["code"]), ("failed", 235))
        users = re.findall(r"scenario=auth_in_clear_235 conn=\d+ clear AUTH "
                           r"user=(\S+)", self.log)
        self.assertEqual(users, [DUMMY_USER])
        self.assertTrue(self.doc["auth_in_clear_235"]["success"])

    def test_538_in_clear_passes(self):
        c = by_check(self.doc["auth_in_clear_538"])["auth_before_tls"]
        self.assertEqual((c["verdict"], c["code"]), ("passed", 538))

    def test_open_relay_rset_quit_never_data(self):
        c = by_check(self.doc["relay_open"])["open_relay"]
        self.assertEqual((c["verdict"], c["code"]), ("failed", 250))
        sessions = [s for s in self.commands("relay_open")
                    if any(x.startswith("MAIL") for x in s)]
        self.assertEqual(len(sessions), 1, self.log)
        cmds = [x.split(" ")[0].split(":")[0] for x in sessions[0]]
        self.assertEqual(cmds, ["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT",
                                "RSET", "QUIT"])
        self.assertIn("RCPT TO:<%s>" % RCPT, sessions[0])
        self.assertNotIn("DATA", self.log)

    def test_450_to_rcpt_fails(self):
        c = by_check(self.doc["relay_deferred"])["open_relay"]
        self.assertEqual((c["verdict"], c["code"]), ("failed", 450))

    def test_healthy_passes(self):
        checks = by_check(self.doc["healthy"])
        # healthy answers 502 to MAIL: refused before any RCPT.
        self.assertEqual({k: c["verdict"] for k, c in checks.items()},
                         {"auth_before_tls": "passed", "open_relay": "passed",
                          "ehlo": "failed"})

    def test_no_sanitizer_report(self):
        self.assertNotIn("Sanitizer", self.once.stderr)
        self.assertNotIn("runtime error", self.once.stderr)

    def test_no_secret(self):
        forms = harness.secret_forms(self.user, self.password)
        harness.assert_no_secret(self, forms, {
            "once": self.once.stdout + self.once.stderr,
            "server log": self.log})


if __name__ == "__main__":
    unittest.main()
