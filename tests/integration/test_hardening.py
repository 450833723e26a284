"""Issue 9, hardening round two: what a hostile review of main broke.

Each test reproduces one finding against the real agent and fails on the
main before the fix:
- a FIFO where a file is expected (the config file at start and at
  SIGHUP, a ca_file) froze the agent; now it is refused at once, by
  --check-config too, and a running agent keeps probing;
- a password_file that leads (through a symlink) to a multi-line file,
  /etc/shadow say, became the secret sent to the server.

Takes about 10 s.
"""

import os
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

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


if __name__ == "__main__":
    unittest.main()
