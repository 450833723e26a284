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
from token_endpoint import TokenEndpoint  # noqa: E402

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
        self.assertIn("token_file: warning: cannot read %s/none.token"
                      % ag.dir,
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
            (target("p", 2525, "PLAIN", "@DIR@/t"), ":15: token_file: a "
             "bearer token is for XOAUTH2 and OAUTHBEARER only, not PLAIN"),
            (target("d", 2525, "XOAUTH2", "/dev/null"), ":15: token_file: "
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


CLIENT_ID = "smtp-health-agent-test"
CLIENT_SECRET = "fixture-client-secret-5e1a"
REFRESH_TOKEN = "1//fixture-refresh-token-c0de"
GOOD_SCOPE = "https://outlook.office365.com/.default"


def client_target(name, port, url, mech="XOAUTH2", scope=GOOD_SCOPE,
                  secret_file="@DIR@/client.secret", refresh_file=None,
                  timeout=None):
    lines = ['[target "%s"]' % name, "host = 127.0.0.1", "port = %d" % port,
             "server_name = localhost", "ca_file = @CA_FILE@",
             "tls = starttls", "mechanisms = %s" % mech,
             "username = %s" % USER, "token_url = %s" % url,
             "client_id = %s" % CLIENT_ID, "extra_metrics = zero_series"]
    if secret_file:
        lines.append("client_secret_file = %s" % secret_file)
    if scope:
        lines.append("scope = %s" % scope)
    if refresh_file:
        lines.append("refresh_token_file = %s" % refresh_file)
    if timeout:
        lines.append("timeout = %s" % timeout)
    return "\n" + "\n".join(lines) + "\n"


class OAuthClient(unittest.TestCase):
    """The agent's own OAuth2 client against a local token endpoint whose
    tokens are the only ones the SMTP server accepts: the endpoint writes
    each token it issues for the right scope into aiosmtpd's token file."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="oauth-client-test-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.server_token = os.path.join(cls.dir, "server.token")
        harness.write_secret(cls.server_token, "no-token-issued-yet-0000")
        cls.aio = cls.enterClassContext(harness.aiosmtpd(
            mechanisms=("XOAUTH2", "OAUTHBEARER"),
            token_file=cls.server_token, oauth_host="localhost"))

    def endpoint(self, **kwargs):
        kwargs.setdefault("client_secret", CLIENT_SECRET)
        kwargs.setdefault("scope", GOOD_SCOPE)

        def on_issue(token, scope):
            # The SMTP server takes only tokens of the endpoint's scope.
            if scope == kwargs["scope"]:
                harness.write_secret(self.server_token, token)
        ep = TokenEndpoint(harness.shared_pki().server, CLIENT_ID,
                           on_issue=on_issue, **kwargs)
        return self.enterContext(ep)

    def agent(self, targets, secret=CLIENT_SECRET, refresh=REFRESH_TOKEN,
              tokens=None):
        ag = harness.AgentProcess(harness.agent_binary(), config(targets))
        harness.write_secret(os.path.join(ag.dir, "client.secret"), secret)
        harness.write_secret(os.path.join(ag.dir, "refresh.token"), refresh)
        for name, tok in (tokens or {}).items():
            harness.write_secret(os.path.join(ag.dir, name), tok)
        return self.enterContext(ag)

    def samples(self, ag):
        return harness.scrape(ag.port)[1]

    def value(self, ag, name, **labels):
        return harness.metric(self.samples(ag), name, **labels)

    def wait_value(self, ag, want, name, **labels):
        harness.wait_for(
            lambda: self.value(ag, name, **labels) == want, WAIT_S,
            message="%s%r != %r:\n%s" % (name, labels, want,
                                          harness.tail(ag.stderr_path)))

    def wait_at_least(self, ag, want, name, **labels):
        harness.wait_for(
            lambda: (self.value(ag, name, **labels) or 0) >= want, WAIT_S,
            message="%s%r < %r:\n%s" % (name, labels, want,
                                         harness.tail(ag.stderr_path)))

    def once_text(self, ag):
        r = harness.run_agent_once(
            harness.agent_binary(), ["-c", ag.config_path, "--once"])
        return r.returncode, r.stdout + r.stderr

    def test_token_cached_and_shared(self):
        """Two targets of one client: one token request, reused by every
        probe of both until it nears expiry (an hour here)."""
        ep = self.endpoint()
        port = self.aio.port
        ag = self.agent([client_target("a", port, ep.url),
                         client_target("b", port, ep.url)])
        for name in ("a", "b"):
            self.wait_at_least(ag, 3, "smtp_probes_total", target=name)
            self.assertEqual(self.value(ag, "smtp_probe_success",
                                        target=name), 1)
        self.assertEqual(ep.count(), 1)

    def test_expiry_and_refresh(self):
        """expires_in = 4 s: the token is kept 3 s (a quarter of its life
        is the margin), then fetched again; a token the server stops
        accepting fails AUTH until the next fetch replaces it."""
        ep = self.endpoint(expires_in=4)
        ag = self.agent([client_target("a", self.aio.port, ep.url)])
        self.wait_value(ag, 1, "smtp_probe_success", target="a")
        harness.wait_for(lambda: ep.count() >= 3, WAIT_S)
        # Not one per probe: about one per 3 s.
        self.assertLess(ep.count(), self.value(
            ag, "smtp_probes_total", target="a"))
        self.assertEqual(self.value(ag, "smtp_probe_failures_total",
                                    target="a", stage="auth"), 0)
        # The server revokes the token: AUTH fails, then the next fetch
        # brings one it accepts.
        harness.write_secret(self.server_token, "revoked-by-the-server-1")
        self.wait_at_least(ag, 1, "smtp_probe_failures_total", target="a",
                           stage="auth")
        self.wait_value(ag, 1, "smtp_probe_success", target="a")

    def test_endpoint_errors_are_stage_token(self):
        """A refused client secret, a 500 and an HTML page: stage token,
        with the HTTP status and OAuth error code in the detail; the SMTP
        server is not contacted (connect stays at 0)."""
        ep = self.endpoint()
        ag = self.agent([client_target("a", self.aio.port, ep.url)],
                        secret="not-the-client-secret-42")
        self.wait_at_least(ag, 2, "smtp_probe_failures_total", target="a",
                           stage="token")
        self.assertEqual(self.value(ag, "smtp_probe_failures_total",
                                    target="a", stage="connect"), 0)
        self.assertEqual(self.value(ag, "smtp_probe_failures_total",
                                    target="a", stage="auth"), 0)
        rc, out = self.once_text(ag)
        self.assertEqual(rc, 1)
        self.assertIn("token: https://localhost:%d/token: HTTP 401, OAuth "
                      "error invalid_client" % ep.port, out)
        self.assertIn("No bearer token", out)
        self.assertNotIn("AADSTS", out)  # the description is not shown
        for mode, words in (("error500", "HTTP 500, not a JSON object"),
                            ("notjson", "HTTP 200, not a JSON object")):
            ep.set_mode(mode)
            rc, out = self.once_text(ag)
            self.assertEqual(rc, 1)
            self.assertIn(words, out)

    def test_wrong_scope(self):
        """A scope the endpoint refuses is stage token (invalid_scope); a
        token it issues for a scope the SMTP server does not take is an
        AUTH failure with the server's OAuth status."""
        ep = self.endpoint()
        lax = self.endpoint(wrong_scope_tokens=True)
        port = self.aio.port
        ag = self.agent([client_target("refused", port, ep.url,
                                       scope="https://graph.microsoft.com/"
                                       ".default"),
                         client_target("issued", port, lax.url,
                                       scope="https://graph.microsoft.com/"
                                       ".default")])
        self.wait_at_least(ag, 1, "smtp_probe_failures_total",
                           target="refused", stage="token")
        self.wait_at_least(ag, 1, "smtp_probe_failures_total",
                           target="issued", stage="auth")
        rc, out = self.once_text(ag)
        self.assertIn("HTTP 400, OAuth error invalid_scope", out)
        self.assertIn("AUTH XOAUTH2: 535 5.7.8 Authentication credentials "
                      "invalid (OAuth error status 401)", out)

    def test_refresh_token_grant(self):
        """Gmail's way: the refresh_token grant with OAUTHBEARER; a
        revoked refresh token is invalid_grant at stage token."""
        ep = self.endpoint(refresh_token=REFRESH_TOKEN,
                           scope="https://mail.google.com/")
        port = self.aio.port
        ag = self.agent([client_target("g", port, ep.url, mech="OAUTHBEARER",
                                       scope=None,
                                       refresh_file="@DIR@/refresh.token")])
        # The request has no scope, as Gmail's refresh needs none: the
        # endpoint's own applies.
        self.wait_value(ag, 1, "smtp_probe_success", target="g")
        self.assertIn("grant_type=refresh_token", ep.bodies[0])
        harness.write_secret(os.path.join(ag.dir, "refresh.token"),
                             "1//revoked-refresh-token")
        ep.set_mode("ok")
        rc, out = self.once_text(ag)
        self.assertIn("HTTP 400, OAuth error invalid_grant", out)

    def test_hanging_endpoint_blocks_nothing(self):
        """An endpoint that does not answer costs its own probe its
        deadline (stage token, timeout), while another target goes on
        being probed and the agent answers scrapes."""
        ep = self.endpoint()
        ep.set_mode("hang")
        port = self.aio.port
        harness.write_secret(self.server_token, TOKEN_A)
        ag = self.agent([client_target("slow", port, ep.url),
                         target("other", port, "XOAUTH2", "@DIR@/o.token")],
                        tokens={"o.token": TOKEN_A})
        self.wait_at_least(ag, 1, "smtp_probe_failures_total",
                           target="slow", stage="token")
        self.wait_at_least(ag, 3, "smtp_probes_total", target="other")
        self.assertEqual(self.value(ag, "smtp_probe_success",
                                    target="other"), 1)
        self.assertGreaterEqual(self.value(ag, "smtp_probe_errors_total",
                                           target="slow", error="timeout"),
                                1)
        ep.set_mode("ok")

    def test_no_client_secret_refresh_or_access_token_in_any_output(self):
        """The client secret, the refresh token and every access token
        issued, in any form, appear in no output: debug log, /metrics,
        page, --once, a /probe transcript (good and refused cases)."""
        ep = self.endpoint(refresh_token=REFRESH_TOKEN)
        port = self.aio.port
        ag = self.agent([client_target("cc", port, ep.url),
                         client_target("rt", port, ep.url,
                                       mech="OAUTHBEARER",
                                       refresh_file="@DIR@/refresh.token")])
        self.wait_value(ag, 1, "smtp_probe_success", target="cc")
        outputs = {}
        for name in ("cc", "rt"):
            status, _, body = harness.http_get(
                ag.port, "/probe?target=%s&debug=true" % name)
            self.assertEqual(status, 200)
            outputs["probe-" + name] = body
        harness.write_secret(self.server_token, "revoked-by-the-server-2")
        harness.write_secret(os.path.join(ag.dir, "client.secret"),
                             CLIENT_SECRET + "-rotated")
        rc, out = self.once_text(ag)
        self.assertEqual(rc, 1)
        outputs.update({"once": out, "metrics": harness.scrape(ag.port)[0],
                        "page": harness.http_get(ag.port, "/")[2],
                        "log": ag.stderr()})
        self.assertIn("debug", outputs["log"])
        self.assertGreaterEqual(len(ep.issued), 1)
        forms = (harness.token_forms(USER, CLIENT_SECRET) +
                 harness.token_forms(USER, CLIENT_SECRET + "-rotated") +
                 harness.token_forms(USER, REFRESH_TOKEN))
        for tok in ep.issued:
            forms += harness.token_forms(USER, tok, "localhost", port)
        harness.assert_no_secret(self, forms, outputs)


if __name__ == "__main__":
    unittest.main()
