"""The agent under valgrind memcheck: no memory error, no definite or
indirect leak, over a real run.

One daemon run probes Postfix (STARTTLS, AUTH PLAIN with the good
password: 235), aiosmtpd (CRAM-MD5, which it does not offer: 504) and a
refused port, is scraped and its status page read several times, and is
stopped with SIGTERM. --once and --check-config (with errors) run under
valgrind too. valgrind's exit status (99 on any error or definite/indirect
leak) and its log's summaries are both checked. "still reachable" and
"possibly lost" are allowed: OpenSSL and libcurl keep one-time global
allocations until exit.

Needs the default (non-ASan) build: under the ASan ctest run
SMTP_HEALTH_AGENT is an ASan binary, which valgrind cannot run, and the
test skips. Takes about a minute (valgrind is slow).
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

VALGRIND = shutil.which("valgrind")
INTERVAL_S = 4
RUN_S = 14  # a few probes of each target
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0


def valgrind_argv(log_path):
    argv = [VALGRIND, "--tool=memcheck", "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect", "--error-exitcode=99",
            "--num-callers=40", "--log-file=" + log_path]
    return argv


def leak_summary(log):
    """{"definitely": bytes, "indirectly": bytes, ...} from the LEAK
    SUMMARY, or all zeros when valgrind says no leak is possible."""
    if "All heap blocks were freed -- no leaks are possible" in log:
        return {"definitely": 0, "indirectly": 0}
    found = {}
    for kind in ("definitely", "indirectly", "possibly"):
        m = re.search(r"%s lost: ([\d,]+) bytes" % kind, log)
        if m:
            found[kind] = int(m.group(1).replace(",", ""))
    return found


class ValgrindAgent(harness.AgentProcess):
    """The agent with valgrind in front of it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.valgrind_log = os.path.join(self.dir, "valgrind.log")

    def argv(self):
        return valgrind_argv(self.valgrind_log) + super().argv()


CONFIG = """
[agent]
interval = %(interval)ds
timeout = %(interval)ds
log_level = debug

[target "pf-plain"]
host = 127.0.0.1
port = %(pf)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN
username = %(pf_user)s
password_file = @PASSWORD_FILE@

[target "aio-cram"]
host = 127.0.0.1
port = %(aio)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = CRAM-MD5
username = %(aio_user)s
password_env = AIO_PASSWORD

[target "refused"]
host = 127.0.0.1
port = %(refused)d
tls = none
"""


@unittest.skipIf(VALGRIND is None, "valgrind is not installed")
class Valgrind(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.binary = harness.agent_binary()
        if harness.sanitized(cls.binary):
            raise unittest.SkipTest("%s is an ASan build; valgrind runs "
                                    "the default build only" % cls.binary)

    def check_log(self, log, what):
        """valgrind's own summaries: no error, no definite or indirect
        leak. Only counts are reported (a leak's stack has no secret, but
        the log is the place to read it)."""
        m = re.search(r"ERROR SUMMARY: ([\d,]+) errors", log)
        self.assertIsNotNone(m, "%s: no ERROR SUMMARY in valgrind's log"
                             % what)
        self.assertEqual(int(m.group(1).replace(",", "")), 0,
                         "%s: valgrind errors:\n%s" % (what, log[-6000:]))
        leaks = leak_summary(log)
        self.assertEqual(leaks.get("definitely"), 0,
                         "%s: definite leak:\n%s" % (what, log[-6000:]))
        self.assertEqual(leaks.get("indirectly"), 0,
                         "%s: indirect leak:\n%s" % (what, log[-6000:]))

    def test_daemon_run_has_no_errors_and_no_leaks(self):
        pf = self.enterContext(harness.postfix_server())
        aio = self.enterContext(harness.aiosmtpd(tls="starttls"))
        cfg = CONFIG % dict(interval=INTERVAL_S, pf=pf.ports.starttls,
                            pf_user=pf.username, aio=aio.port,
                            aio_user=aio.user, refused=harness.free_port())
        env = dict(os.environ, AIO_PASSWORD=aio.password)
        agent = ValgrindAgent(self.binary, cfg, password=pf.password,
                              env=env, ready_timeout=READY_TIMEOUT)
        self.addCleanup(agent.cleanup)
        self.addCleanup(agent.kill)
        agent.start()

        def counts():
            s = harness.scrape(agent.port)[1]
            return (harness.metric(s, "smtp_auth_results_total",
                                   target="pf-plain", mechanism="PLAIN",
                                   **{"class": "success"}) or 0,
                    harness.metric(s, "smtp_auth_results_total",
                                   target="aio-cram", mechanism="CRAM-MD5",
                                   **{"class": "unsupported_parameter"})
                    or 0,
                    harness.metric(s, "smtp_probe_errors_total",
                                   target="refused", error="connect") or 0)
        # Every path at least twice (a probe after a probe frees and
        # reuses state), then scrapes and pages while probes go on.
        harness.wait_for(lambda: min(counts()) >= 2, 6 * INTERVAL_S + 30,
                         message="two probes of every target")
        deadline = time.monotonic() + RUN_S
        scrapes = 0
        while time.monotonic() < deadline:
            harness.scrape(agent.port, accept_gzip=scrapes % 2 == 1)
            status, _, page = harness.http_get(agent.port, "/")
            self.assertEqual(status, 200)
            self.assertIn(b"aio-cram", page)
            self.assertEqual(harness.http_get(agent.port, "/nope")[0], 404)
            scrapes += 1
            time.sleep(1)
        good, unsupported, refused = counts()
        self.assertGreaterEqual(good, 2)
        self.assertGreaterEqual(unsupported, 2)
        self.assertGreaterEqual(refused, 2)
        # A reload frees the old config while probes may run.
        agent.signal(signal.SIGHUP)
        harness.wait_for(lambda: "config reloaded" in agent.stderr(), 30)

        rc = agent.stop(timeout=STOP_TIMEOUT)
        with open(agent.valgrind_log, errors="replace") as f:
            log = f.read()
        self.assertEqual(rc, 0, "valgrind/agent exit %s:\n%s"
                         % (rc, log[-6000:]))
        self.check_log(log, "daemon")

    def run_tool(self, args, env=None):
        d = self.enterContext(tempfile.TemporaryDirectory())
        log_path = os.path.join(d, "valgrind.log")
        r = subprocess.run(valgrind_argv(log_path) + [self.binary] + args,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=180, env=env)
        with open(log_path, errors="replace") as f:
            return r, f.read()

    def test_once_and_check_config_have_no_errors_and_no_leaks(self):
        pf = self.enterContext(harness.postfix_server())
        aio = self.enterContext(harness.aiosmtpd(tls="starttls"))
        cfg = CONFIG % dict(interval=INTERVAL_S, pf=pf.ports.starttls,
                            pf_user=pf.username, aio=aio.port,
                            aio_user=aio.user, refused=harness.free_port())
        ag = harness.AgentProcess(self.binary, cfg, password=pf.password)
        self.addCleanup(ag.cleanup)
        env = dict(os.environ, AIO_PASSWORD=aio.password)

        r, log = self.run_tool(["-c", ag.config_path, "--once"], env)
        # aio-cram (504) and refused fail: exit 1 is the right answer.
        self.assertEqual(r.returncode, 1, r.stderr + log[-4000:])
        self.assertRegex(r.stdout, r"pf-plain\s+quit\s+221\s+success")
        self.assertRegex(r.stdout, r"aio-cram\s+auth\s+504")
        self.check_log(log, "--once")

        # Errors around the secrets: an unset variable, a bad line.
        bad = cfg.replace("password_env = AIO_PASSWORD",
                          "password_env = NOT_SET_ANYWHERE\nbogus = 1")
        with open(ag.config_path, "w") as f:
            f.write(ag._substitute(bad))
        r, log = self.run_tool(["-c", ag.config_path, "--check-config"], env)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("password_env: environment variable NOT_SET_ANYWHERE",
                      r.stderr)
        self.check_log(log, "--check-config")


if __name__ == "__main__":
    unittest.main(verbosity=2)
