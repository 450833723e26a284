"""--once as a new operator uses it (issue 15): the table's columns with
long target names, and --target NAME to probe only some targets.

aiosmtpd (STARTTLS, AUTH PLAIN) and a refused port; target names of 4,
40 and 64 characters (64 is the longest a [target] may have), and a
targets file whose targets are named HOST:PORT/MODULE. Nothing else.
"""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

NAME_40 = "mx-" + "a" * 33 + "-587"
NAME_64 = "submission." + "b" * 44 + ".example"
assert len(NAME_40) == 40 and len(NAME_64) == 63
NAME_64 += "x"


def rows(table):
    """The header and every row of a --once table (the lines that do not
    start with a space)."""
    return [line for line in table.splitlines() if line and line[0] != " "]


def column_starts(header):
    """Where STAGE, CODE, CLASS, TLS and ADDRESS start, and where
    DURATION (right-aligned) ends."""
    starts = [header.index(" %s " % w) + 1
              for w in ("STAGE", "CODE", "CLASS", "TLS")]
    starts.append(header.index(" ADDRESS") + 1)
    return starts, header.index(" DURATION") + 9


class OnceTable(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.aio = cls.enterClassContext(harness.aiosmtpd(tls="starttls"))
        cls.refused_port = harness.free_port()
        auth = dict(username=cls.aio.user, mechanisms="PLAIN",
                    password_env="AIO_PASSWORD")
        text = "[agent]\ntimeout = 5s\n" + "".join([
            harness.target_ini("aio", cls.aio.port, **auth),
            harness.target_ini(NAME_40, cls.aio.port, **auth),
            harness.target_ini(NAME_64, cls.refused_port, tls="none"),
        ])
        ag = harness.AgentProcess(harness.agent_binary(), text)
        cls.addClassCleanup(ag.cleanup)
        cls.path = ag.config_path
        cls.env = dict(os.environ, AIO_PASSWORD=cls.aio.password)

    def once(self, *args):
        return harness.run_agent_once(
            harness.agent_binary(), ["-c", self.path, "--once"] + list(args),
            env=self.env)

    def test_long_names_keep_the_columns_aligned(self):
        run = self.once()
        self.assertEqual(run.returncode, 1, run.stderr)  # the refused one
        lines = rows(run.stdout)
        self.assertEqual(len(lines), 4, run.stdout)
        starts, duration_end = column_starts(lines[0])
        # The name column is the longest name and one space.
        self.assertEqual(starts[0], len(NAME_64) + 1)
        for line in lines:
            for at in starts:
                self.assertEqual(line[at - 1], " ", (at, line))
                self.assertNotEqual(line[at], " ", (at, line))
            self.assertEqual(line[duration_end], " ", line)
            self.assertNotEqual(line[duration_end - 1], " ", line)
        by_name = {line.split()[0]: line for line in lines[1:]}
        self.assertEqual(set(by_name), {"aio", NAME_40, NAME_64})
        self.assertEqual(by_name[NAME_40].split()[1:4],
                         ["quit", "221", "success"])


if __name__ == "__main__":
    unittest.main()
