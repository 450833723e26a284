"""The support self-test looks only at processes it started.

A machine may run a Postfix of its own (a mail host running our tests),
or another test's servers may be up beside the self-test. Its final
check, "no master or aiosmtpd process left", once counted every Postfix
master and aiosmtpd on the host, failed there, and stopped tests/run.sh
before the sanitizer build. Here a foreign "master" and a foreign
"aiosmtpd_server.py" run while the check looks at what the self-test
recorded: it passes; and it fails when one of its own is still alive.
"""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402
import selftest  # noqa: E402


def foreign(argv0):
    """A process whose command line looks like argv0 (sleep under that
    name), for the length of the test."""
    return subprocess.Popen(["bash", "-c", 'exec -a "$0" sleep 60', argv0],
                            stdin=subprocess.DEVNULL)


class LeftoverScope(unittest.TestCase):
    def setUp(self):
        self.procs = [foreign("/usr/lib/postfix/sbin/master"),
                      foreign("/usr/bin/python3 aiosmtpd_server.py")]
        for p in self.procs:
            self.addCleanup(p.wait)
            self.addCleanup(p.kill)
        harness.wait_for(lambda: len(harness.live_processes(
            r"postfix/sbin/master|aiosmtpd_server\.py")) >= 2, 5)
        self.saved = dict(selftest.STARTED)
        self.addCleanup(selftest.STARTED.update, self.saved)

    def run_check(self, started):
        selftest.STARTED.update(started)
        results = selftest.Results()
        selftest.check_leftovers(results)
        return results

    def test_foreign_servers_are_not_ours(self):
        own = subprocess.Popen(["true"])
        own.wait()
        results = self.run_check({"postfix_dirs": ["/nonexistent/etc"],
                                  "pids": [own.pid]})
        self.assertEqual((results.passed, results.failed), (2, 0))

    def test_one_of_ours_left_fails(self):
        # One of the foreign ones, recorded as ours: now it is a leftover.
        results = self.run_check({"postfix_dirs": ["/nonexistent/etc"],
                                  "pids": [self.procs[1].pid]})
        self.assertEqual(results.failed, 1)


if __name__ == "__main__":
    unittest.main()
