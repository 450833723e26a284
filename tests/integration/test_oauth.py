"""OAuth2 bearer tokens (issue 14, part 1): XOAUTH2 and OAUTHBEARER.

aiosmtpd (tests/support/aiosmtpd_server.py --token-file) accepts only the
token its own token file holds at the moment of AUTH, as a provider
accepts only an access token that has not expired; the test "expires" a
token by rewriting the server's file, and "refreshes" the agent's by
rewriting the agent's token_file, without a reload. A refused token gets
the RFCs' error flow: a 334 carrying base64 JSON ({"status":"401",...}
for XOAUTH2, {"status":"invalid_token",...} for OAUTHBEARER), the
client's empty response (XOAUTH2) or %x01 (OAUTHBEARER), then 535.
OAUTHBEARER's GS2 header must name the server and port the agent was
told (server_name, port). A token_file that cannot be read fails the probe
at stage token before any connection. No token appears in any output
(logs at debug, /metrics, the page, --once, a /probe transcript), in any
encoding.
"""

import os
import sys
import tempfile
import shutil
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

USER = "probe@example.test"
# Made up for these tests; long enough that no form matches by chance.
TOKEN_A = "ya29.fixture-oauth-token-A-7f3c"
TOKEN_B = "ya29.fixture-oauth-token-B-91d0"
WAIT_S = 15


def target(name, port, mech, token_file, server_name="localhost",
           tls_verify="true", extra="zero_series"):
    return ('\n[target "%s"]\nhost = 127.0.0.1\nport = %d\n'
            "server_name = %s\nca_file = @CA_FILE@\ntls = starttls\n"
            "tls_verify = %s\nmechanisms = %s\nusername = %s\n"
            "token_file = %s\nextra_metrics = %s\n"
            % (name, port, server_name, tls_verify, mech, USER, token_file,
               extra))


def config(targets):
    return ("[agent]\ninterval = 1s\ntimeout = 900ms\nlog_level = debug\n" +
            "".join(targets))


class OAuthTokens(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="oauth-test-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.server_token = os.path.join(cls.dir, "server.token")
        harness.write_secret(cls.server_token, TOKEN_A)
        cls.aio = cls.enterClassContext(harness.aiosmtpd(
            mechanisms=("XOAUTH2", "OAUTHBEARER"),
            token_file=cls.server_token, oauth_host="localhost"))

    def setUp(self):
        # Every test starts with the server accepting TOKEN_A.
        harness.write_secret(self.server_token, TOKEN_A)

    def agent(self, targets, tokens):
        """An agent (started) whose token files in its own directory hold
        tokens ({file name: token}, None: no file)."""
        ag = harness.AgentProcess(harness.agent_binary(), config(targets))
        for name, tok in tokens.items():
            if tok is not None:
                harness.write_secret(os.path.join(ag.dir, name), tok)
        return self.enterContext(ag)

    def samples(self, ag):
        return harness.scrape(ag.port)[1]

    def wait_metric(self, ag, want, name, **labels):
        harness.wait_for(
            lambda: harness.metric(self.samples(ag), name, **labels) == want,
            WAIT_S, message="%s%r != %r:\n%s" % (
                name, labels, want, harness.tail(ag.stderr_path)))

    def wait_success(self, ag, name, want):
        self.wait_metric(ag, want, "smtp_probe_success", target=name)

    def once(self, ag):
        return harness.run_agent_once(
            harness.agent_binary(), ["-c", ag.config_path, "--once"])

    def test_rotation_expiry_and_refresh(self):
        """The token file is read before each probe: the server's new
        token fails the agent's old one at AUTH (not at stage token), with
        the decoded OAuth status in the detail and note; writing the new
        token into token_file makes the next probe pass, no reload."""
        port = self.aio.port
        ag = self.agent([target("xo", port, "XOAUTH2", "@DIR@/xo.token"),
                         target("ob", port, "OAUTHBEARER",
                                "@DIR@/ob.token")],
                        {"xo.token": TOKEN_A, "ob.token": TOKEN_A})
        self.wait_success(ag, "xo", 1)
        self.wait_success(ag, "ob", 1)

        # The server moves on to TOKEN_B: the agent's TOKEN_A "expired".
        harness.write_secret(self.server_token, TOKEN_B)
        self.wait_success(ag, "xo", 0)
        self.wait_success(ag, "ob", 0)
        s = self.samples(ag)
        self.assertGreaterEqual(harness.metric(
            s, "smtp_probe_failures_total", target="xo", stage="auth"), 1)
        self.assertEqual(harness.metric(
            s, "smtp_probe_failures_total", target="xo", stage="token"), 0)
        self.assertGreaterEqual(harness.metric(
            s, "smtp_auth_results_total", target="ob",
            mechanism="OAUTHBEARER", **{"class": "auth_failed"}), 1)
        once = self.once(ag)
        self.assertEqual(once.returncode, 1, once.stdout + once.stderr)
        # The 334's JSON was answered (empty line, %x01): the final 535
        # came, and its status is in the detail and the note.
        self.assertIn("AUTH XOAUTH2: 535 5.7.8 Authentication credentials "
                      "invalid (OAuth error status 401)", once.stdout)
        self.assertIn("AUTH OAUTHBEARER: 535 5.7.8 Authentication "
                      "credentials invalid (OAuth error status "
                      "invalid_token)", once.stdout)
        self.assertIn("XOAUTH2 token with an OAuth error of status 401",
                      once.stdout)
        page = harness.http_get(ag.port, "/")[2].decode(errors="replace")
        self.assertIn("OAuth error of status invalid_token", page)

        # The refresher writes the new token: the next probes pass.
        harness.write_secret(os.path.join(ag.dir, "xo.token"), TOKEN_B)
        harness.write_secret(os.path.join(ag.dir, "ob.token"), TOKEN_B)
        self.wait_success(ag, "xo", 1)
        self.wait_success(ag, "ob", 1)

    def test_oauthbearer_names_host_and_port(self):
        """OAUTHBEARER's GS2 header carries server_name and the port: the
        server refuses the right token sent for another host."""
        port = self.aio.port
        ag = self.agent([target("ob-other", port, "OAUTHBEARER",
                                "@DIR@/ob.token", server_name="127.0.0.1",
                                tls_verify="false")],
                        {"ob.token": TOKEN_A})
        self.wait_metric(ag, 1, "smtp_auth_results_total", target="ob-other",
                         mechanism="OAUTHBEARER",
                         **{"class": "auth_failed"})
        self.assertEqual(harness.metric(self.samples(ag),
                                        "smtp_probe_success",
                                        target="ob-other"), 0)

    def test_missing_token_file_is_stage_token(self):
        """No token: stage token, before any connection (the port has no
        server: a connection would fail at connect); --check-config warns
        and loads; the file appearing later is read by the next probe."""
        closed = harness.free_port()
        targets = [target("nofile", closed, "XOAUTH2", "@DIR@/none.token"),
                   target("late", self.aio.port, "XOAUTH2",
                          "@DIR@/late.token")]
        ag = self.agent(targets, {})
        check = harness.run_agent_once(
            harness.agent_binary(), ["-c", ag.config_path, "--check-config"])
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn("token_file: cannot read %s/none.token" % ag.dir,
                      check.stderr)
        self.assertIn("probes fail at stage token until it can be read",
                      check.stderr)

        harness.wait_for(lambda: (harness.metric(
            self.samples(ag), "smtp_probe_failures_total", target="nofile",
            stage="token") or 0) >= 2, WAIT_S)
        s = self.samples(ag)
        self.assertEqual(harness.metric(s, "smtp_probe_failures_total",
                                        target="nofile", stage="connect"), 0)
        self.assertEqual(harness.metric(s, "smtp_probe_errors_total",
                                        target="nofile", error="connect"), 0)
        self.assertEqual(harness.metric(s, "smtp_probe_success",
                                        target="late"), 0)
        once = self.once(ag)
        self.assertEqual(once.returncode, 1)
        row = [ln for ln in once.stdout.splitlines()
               if ln.startswith("nofile ")]
        self.assertEqual(len(row), 1, once.stdout)
        self.assertEqual(row[0].split()[1], "token")
        self.assertIn("token: cannot read %s/none.token" % ag.dir, once.stdout)
        self.assertIn("No bearer token", once.stdout)

        # The refresher's first write: the next probe reads it.
        harness.write_secret(os.path.join(ag.dir, "late.token"), TOKEN_A)
        self.wait_success(ag, "late", 1)

    def test_token_file_refusals(self):
        """token_file is for the OAuth mechanisms only, and one source."""
        cases = [
            (target("p", 2525, "PLAIN", "@DIR@/t"), ":14: token_file: a "
             "bearer token is for XOAUTH2 and OAUTHBEARER only, not PLAIN"),
            (target("d", 2525, "XOAUTH2", "/dev/null"), ":14: token_file: "
             "/dev/null is not a regular file"),
        ]
        for text, want in cases:
            ag = harness.AgentProcess(harness.agent_binary(), config([text]))
            self.addCleanup(ag.cleanup)
            harness.write_secret(os.path.join(ag.dir, "t"), TOKEN_A)
            r = harness.run_agent_once(
                harness.agent_binary(),
                ["-c", ag.config_path, "--check-config"])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(ag.config_path + want, r.stderr)
            harness.assert_no_secret(self, harness.token_forms(
                USER, TOKEN_A), {"check": r.stdout + r.stderr})

    def test_no_token_in_any_output(self):
        """Neither token, in any form (raw, base64 at any offset, the
        XOAUTH2 and OAUTHBEARER initial responses), in the debug log,
        /metrics, the page, --once or a /probe transcript, after probes
        that passed and probes that the server refused."""
        port = self.aio.port
        ag = self.agent([target("xo", port, "XOAUTH2", "@DIR@/xo.token"),
                         target("ob", port, "OAUTHBEARER",
                                "@DIR@/ob.token")],
                        {"xo.token": TOKEN_A, "ob.token": TOKEN_A})
        self.wait_success(ag, "ob", 1)
        outputs = {}
        for name in ("xo", "ob"):
            status, _, body = harness.http_get(
                ag.port, "/probe?target=%s&debug=true" % name)
            self.assertEqual(status, 200)
            outputs["probe-ok-" + name] = body
        harness.write_secret(self.server_token, TOKEN_B)
        self.wait_success(ag, "ob", 0)
        for name in ("xo", "ob"):
            status, _, body = harness.http_get(
                ag.port, "/probe?target=%s&debug=true" % name)
            self.assertEqual(status, 200)
            outputs["probe-refused-" + name] = body
        # The transcript shows the exchange, with the SASL messages
        # withheld.
        self.assertIn(b"AUTH OAUTHBEARER [initial response withheld]",
                      outputs["probe-refused-ob"])
        self.assertIn(b"[SASL response withheld]",
                      outputs["probe-refused-ob"])
        once = self.once(ag)
        outputs.update({
            "once": once.stdout + once.stderr,
            "metrics": harness.scrape(ag.port)[0],
            "page": harness.http_get(ag.port, "/")[2],
            "log": ag.stderr(),
        })
        self.assertIn("debug", outputs["log"])
        forms = (harness.token_forms(USER, TOKEN_A, "localhost", port) +
                 harness.token_forms(USER, TOKEN_B, "localhost", port))
        harness.assert_no_secret(self, forms, outputs)


if __name__ == "__main__":
    unittest.main()
