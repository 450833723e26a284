"""The README's demo (config/demo.sh, config/demo.ini) works and cleans up.

Runs the real script with the already built agent (DEMO_SKIP_BUILD=1: no
apt, no build) on free loopback ports, so it can run next to other tests
and next to a demo someone has running on the default ports. Run with
/usr/bin/python3 (the demo server needs Debian's aiosmtpd); the agent is
$SMTP_HEALTH_AGENT, else build/smtp-health-agent.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

DEMO_SH = os.path.join(harness.REPO, "config", "demo.sh")
DEMO_INI = os.path.join(harness.REPO, "config", "demo.ini")
# Bounds: the check itself stops at DEMO_SECONDS; the subprocess timeout
# only catches a script that hangs.
DEMO_SECONDS = 40
RUN_TIMEOUT = 60

AUTH_LINE = re.compile(r'^smtp_auth_results_total\{target="([^"]+)",'
                       r'mechanism="([^"]+)",class="([^"]+)"\} (\d+)$')


class DemoTest(unittest.TestCase):
    def setUp(self):
        self.agent = harness.agent_binary()
        self.smtp_port = harness.free_port()
        self.http_port = harness.free_port()
        # demo.sh makes its run directory under TMPDIR: a private one shows
        # whether it removed it.
        self.tmp = tempfile.mkdtemp(prefix="demo-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.env = dict(os.environ, DEMO_SKIP_BUILD="1",
                        SMTP_HEALTH_AGENT=self.agent,
                        DEMO_SMTP_PORT=str(self.smtp_port),
                        DEMO_HTTP_PORT=str(self.http_port),
                        DEMO_SECONDS=str(DEMO_SECONDS), TMPDIR=self.tmp)

    def leftovers(self):
        return (harness.live_processes(
                    r"aiosmtpd_server\.py --demo --port %d\b"
                    % self.smtp_port)
                + harness.live_processes(
                    r"smtp-health-agent -c \S+ --listen 127\.0\.0\.1:%d\b"
                    % self.http_port))

    def assert_cleaned_up(self):
        # The script waits for its children, so they are gone when it
        # returns; a short grace only covers /proc lagging behind.
        try:
            harness.wait_for(lambda: not self.leftovers(), 3,
                             message="demo processes to exit")
        except AssertionError:
            left = self.leftovers()
            for pid, _ in left:  # ours: they carry this test's ports
                os.kill(pid, signal.SIGKILL)
            raise AssertionError("demo.sh left running: %r" % left)
        self.assertEqual(os.listdir(self.tmp), [],
                         "demo.sh left its run directory behind")

    def run_demo(self, *args, env=None):
        return subprocess.run(["bash", DEMO_SH] + list(args),
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=RUN_TIMEOUT,
                              env=env or self.env, cwd=self.tmp)

    def test_check_sees_every_auth_class_count_up(self):
        proc = self.run_demo("--check")
        out = proc.stdout + proc.stderr
        self.assertEqual(proc.returncode, 0, out)
        counts = {}
        for line in proc.stdout.splitlines():
            m = AUTH_LINE.match(line)
            if m:
                counts[m.group(1, 2, 3)] = int(m.group(4))
        # Each target gives exactly the class its comment in demo.ini
        # promises, and nothing else.
        expected = {
            ("demo-good", "PLAIN"): "success",
            ("demo-good", "LOGIN"): "success",
            ("demo-wrong-password", "PLAIN"): "auth_failed",
            ("demo-cram-md5", "CRAM-MD5"): "unsupported_parameter",
        }
        for (target, mech), cls in expected.items():
            self.assertGreater(counts.get((target, mech, cls), 0), 0,
                               "%s %s %s missing:\n%s"
                               % (target, mech, cls, out))
        unexpected = {k: v for k, v in counts.items()
                      if expected.get(k[:2]) != k[2] and v > 0}
        self.assertEqual(unexpected, {}, out)
        # The summary shows the count going up between two scrapes.
        for cls in ("success", "auth_failed", "unsupported_parameter"):
            m = re.search(r"^  %s (\d+) -> (\d+)$" % cls, proc.stdout, re.M)
            self.assertIsNotNone(m, out)
            self.assertGreater(int(m.group(2)), int(m.group(1)), out)
        self.assertIn("demo: ok:", proc.stdout)
        self.assert_cleaned_up()

    def test_interactive_runs_until_sigterm(self):
        env = dict(self.env)
        del env["DEMO_SECONDS"]  # it would mean --check
        # Outside self.tmp, which must end up empty.
        outdir = tempfile.mkdtemp(prefix="demo-test-out-")
        self.addCleanup(shutil.rmtree, outdir, True)
        out_path = os.path.join(outdir, "demo.out")
        with open(out_path, "w") as out:
            proc = subprocess.Popen(["bash", DEMO_SH],
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=env,
                                    cwd=self.tmp)
        try:
            def auth_counted():
                _, samples = harness.scrape(self.http_port)
                return all(
                    harness.metric(samples, "smtp_auth_results_total",
                                   target=t, mechanism=m, **{"class": c})
                    for t, m, c in (("demo-good", "PLAIN", "success"),
                                    ("demo-wrong-password", "PLAIN",
                                     "auth_failed"),
                                    ("demo-cram-md5", "CRAM-MD5",
                                     "unsupported_parameter")))
            harness.wait_for(auth_counted, 30,
                             message="AUTH results on the demo's /metrics")
            # The banner comes after /-/ready and names the real port.
            with open(out_path) as f:
                banner = f.read()
            self.assertIn("http://127.0.0.1:%d/metrics" % self.http_port,
                          banner)
            self.assertIn("--once", banner)
            # Both children run, and the leftover check can see them.
            self.assertEqual(len(self.leftovers()), 2, self.leftovers())
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        with open(out_path) as f:
            log = f.read()
        self.assertEqual(rc, 0, log)
        self.assertIn("demo: stopping", log)
        self.assert_cleaned_up()

    def test_installs_only_what_the_demo_needs(self):
        # Every package missing (a fake dpkg-query), apt-get and sudo that
        # record what they were asked, a cmake that fails: the demo's
        # install step runs for real and stops at the build.
        fake = tempfile.mkdtemp(prefix="demo-test-bin-")
        self.addCleanup(shutil.rmtree, fake, True)
        log = os.path.join(fake, "apt.log")
        scripts = {
            "dpkg-query": "exit 1\n",
            "apt-get": 'echo "$*" >> %s\n' % log,
            "sudo": 'exec "$@"\n',
            "cmake": "echo 'fake cmake: no build' >&2; exit 1\n",
        }
        for name, body in scripts.items():
            path = os.path.join(fake, name)
            with open(path, "w") as f:
                f.write("#!/bin/sh\n" + body)
            os.chmod(path, 0o755)
        env = dict(self.env, PATH=fake + os.pathsep + os.environ["PATH"])
        del env["DEMO_SKIP_BUILD"]
        proc = self.run_demo("--check", env=env)
        out = proc.stdout + proc.stderr
        self.assertNotEqual(proc.returncode, 0, out)
        self.assertIn("fake cmake: no build", proc.stderr)
        self.assertIn("demo: installing what the demo needs: ", proc.stdout)
        self.assertNotIn("tests/setup.sh", out)
        with open(log) as f:
            calls = f.read().splitlines()
        self.assertEqual(calls[0], "update -qq", calls)
        self.assertEqual(len(calls), 2, calls)
        words = calls[1].split()
        self.assertEqual(words[:4],
                         ["install", "-y", "-qq", "--no-install-recommends"])
        pkgs = set(words[4:])
        for need in ("cmake", "build-essential", "libcurl4-openssl-dev",
                     "libmicrohttpd-dev", "python3-aiosmtpd", "curl"):
            self.assertIn(need, pkgs)
        for test_only in ("postfix", "prometheus", "prometheus-alertmanager",
                          "chromium", "clang", "valgrind", "nodejs", "npm",
                          "swaks", "mandoc"):
            self.assertNotIn(test_only, pkgs)
        # Real names: each is one of the test setup's packages too.
        with open(os.path.join(harness.REPO, "tests", "setup.sh")) as f:
            setup = f.read()
        listed = set(re.search(r"^PKGS=\((.*?)^\)", setup,
                               re.S | re.M).group(1).split())
        self.assertEqual(pkgs - listed, set())
        self.assertEqual(os.listdir(self.tmp), [])

    def test_port_in_use_fails_before_starting_anything(self):
        with socket.socket() as s:
            s.bind((harness.LOOPBACK, self.smtp_port))
            s.listen()
            start = time.monotonic()
            proc = self.run_demo("--check")
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("127.0.0.1:%d is in use" % self.smtp_port, proc.stderr)
        self.assertIn("DEMO_SMTP_PORT", proc.stderr)
        self.assertLess(time.monotonic() - start, 10)
        self.assert_cleaned_up()

    def test_demo_ini_is_valid_with_the_demo_environment(self):
        env = dict(os.environ, DEMO_PASSWORD="demo-password",
                   DEMO_WRONG_PASSWORD="something-else")
        proc = subprocess.run([self.agent, "-c", DEMO_INI, "--check-config"],
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=30, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("ok, 3 targets", proc.stdout + proc.stderr)
        # Without them it says which variable is missing.
        env.pop("DEMO_WRONG_PASSWORD")
        proc = subprocess.run([self.agent, "-c", DEMO_INI, "--check-config"],
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=30, env=env)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("DEMO_WRONG_PASSWORD is not set", proc.stderr)
        self.assertNotIn("demo-password", proc.stdout + proc.stderr)


if __name__ == "__main__":
    unittest.main()
