"""--hash-password (issue 15): the hash it prints is one the agent's own
basic auth accepts for that password and no other, and the password is
in none of its output, nor in the agent's log.

The command reads one line on stdin and prints a "$2b$10$" hash (cost
10) and nothing else; an agent started with web_basic_auth_user and that
hash answers /metrics with 200 for the password, 401 for another one,
for the right one with another user and for no credentials. An empty
password, a second line and a password longer than bcrypt reads are
refused (exit 1, nothing on stdout).

Every server listens on 127.0.0.1 only; every wait has a deadline.
"""

import base64
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

PASSWORD = "hash-me: p\u00e4ss \\ \"w0rd\""
USER = "scraper"

CONFIG = """
[agent]
listen = @LISTEN@
interval = 1h
web_basic_auth_user = %s
web_basic_auth_password_hash = %s

[module "idle"]
tls = none
allowed_targets = *.example.com
"""


def hash_password(stdin):
    return subprocess.run([harness.agent_binary(), "--hash-password"],
                          input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=30)


def basic(user, password):
    raw = ("%s:%s" % (user, password)).encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


class HashPassword(unittest.TestCase):

    def test_hash_opens_basic_auth(self):
        r = hash_password((PASSWORD + "\n").encode())
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertRegex(out, r"^\$2b\$10\$[./A-Za-z0-9]{53}\n$")
        self.assertEqual(r.stderr, b"")
        forms = harness.secret_forms(USER, PASSWORD)
        harness.assert_no_secret(self, forms, {"stdout": r.stdout,
                                               "stderr": r.stderr})
        # A fresh salt every time.
        again = hash_password((PASSWORD + "\n").encode())
        self.assertNotEqual(again.stdout, r.stdout)

        # Ready once /-/ready answers with the credentials (the plain
        # readiness poll would get 401).
        agent = self.enterContext(harness.run_agent(
            harness.agent_binary(), CONFIG % (USER, out.strip()),
            wait_ready=False))

        def ready():
            try:
                return harness.http_get(agent.port, "/-/ready",
                                        basic(USER, PASSWORD))[0] == 200
            except OSError:
                return False
        harness.wait_for(ready, 15, interval=0.2, message="ready with auth")
        status, _, _ = harness.http_get(agent.port, "/metrics",
                                        basic(USER, PASSWORD))
        self.assertEqual(status, 200)
        for user, pw in ((USER, PASSWORD + "x"), (USER, PASSWORD[:-1]),
                         ("other", PASSWORD), (USER, "")):
            status, _, _ = harness.http_get(agent.port, "/metrics",
                                            basic(user, pw))
            self.assertEqual(status, 401, (user, len(pw)))
        status, _, _ = harness.http_get(agent.port, "/metrics")
        self.assertEqual(status, 401)
        agent.stop()
        harness.assert_no_secret(self, forms, {"agent": agent.stderr()})

    def test_refusals(self):
        cases = ((b"", "empty password"),
                 (b"\n", "empty password"),
                 (b"one\ntwo\n", "more than one line on stdin"),
                 (b"p" * 73 + b"\n",
                  "the password is longer than bcrypt reads (72 bytes)"))
        for stdin, why in cases:
            with self.subTest(why=why, n=len(stdin)):
                r = hash_password(stdin)
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stdout, b"")
                self.assertEqual(
                    r.stderr.decode(),
                    "smtp-health-agent: --hash-password: %s\n" % why)
        # 72 bytes is the most bcrypt reads, and is taken.
        r = hash_password(b"p" * 72 + b"\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(re.match(rb"^\$2b\$10\$", r.stdout))


if __name__ == "__main__":
    unittest.main()
