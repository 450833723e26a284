"""--once as a new operator uses it (issue 15): the table's columns with
long target names, and --target NAME to probe only some targets.

aiosmtpd (STARTTLS, AUTH PLAIN) and a refused port; target names of 3,
40 and 64 characters (64 is the longest a [target] may have), and a
targets file whose target is named HOST:PORT/MODULE. Nothing else.
"""

import json
import os
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
        text = "[agent]\ntimeout = 5s\ntargets_file = sd/*.yml\n" + "".join([
            harness.target_ini("aio", cls.aio.port, **auth),
            harness.target_ini(NAME_40, cls.aio.port, **auth),
            harness.target_ini(NAME_64, cls.refused_port, tls="none"),
        ])
        # A targets file's target: 127.0.0.1:PORT/sub.
        text += ('\n[module "sub"]\nserver_name = localhost\n'
                 'ca_file = @CA_FILE@\nusername = %s\nmechanisms = PLAIN\n'
                 'password_env = AIO_PASSWORD\nallowed_targets = 127.0.0.1\n'
                 % cls.aio.user)
        ag = harness.AgentProcess(harness.agent_binary(), text)
        cls.addClassCleanup(ag.cleanup)
        os.mkdir(os.path.join(ag.dir, "sd"))
        with open(os.path.join(ag.dir, "sd", "t.yml"), "w") as f:
            f.write('- targets: ["127.0.0.1:%d"]\n'
                    '  labels:\n    __param_module: sub\n' % cls.aio.port)
        cls.file_target = "127.0.0.1:%d/sub" % cls.aio.port
        cls.path = ag.config_path
        cls.env = dict(os.environ, AIO_PASSWORD=cls.aio.password)
        cls.forms = harness.secret_forms(cls.aio.user, cls.aio.password)

    def once(self, *args):
        return harness.run_agent_once(
            harness.agent_binary(), ["-c", self.path, "--once"] + list(args),
            env=self.env)

    def test_long_names_keep_the_columns_aligned(self):
        run = self.once()
        self.assertEqual(run.returncode, 1, run.stderr)  # the refused one
        lines = rows(run.stdout)
        self.assertEqual(len(lines), 5, run.stdout)
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
        self.assertEqual(set(by_name), {"aio", NAME_40, NAME_64,
                                        self.file_target})
        self.assertEqual(by_name[NAME_40].split()[1:4],
                         ["quit", "221", "success"])


    # --- --target -------------------------------------------------------

    def test_target_probes_only_that_one(self):
        run = self.once("--target", NAME_40)
        self.assertEqual(run.returncode, 0, run.stderr)
        lines = rows(run.stdout)
        self.assertEqual([line.split()[0] for line in lines],
                         ["TARGET", NAME_40])
        self.assertEqual(lines[1].split()[1:4], ["quit", "221", "success"])
        # Its column is its own name's width: it is the only one shown.
        self.assertEqual(column_starts(lines[0])[0][0], len(NAME_40) + 1)

    def test_targets_in_config_order_as_json(self):
        # Flags in another order, one twice: config order, each once; the
        # refused one decides the exit status.
        run = self.once("--format", "json", "--target", NAME_64,
                        "--target", "aio", "--target", NAME_64)
        self.assertEqual(run.returncode, 1, run.stderr)
        doc = json.loads(run.stdout)
        self.assertEqual([t["name"] for t in doc["targets"]],
                         ["aio", NAME_64])
        self.assertEqual([t["success"] for t in doc["targets"]],
                         [True, False])

    def test_targets_file_target_by_its_name(self):
        run = self.once("--target", self.file_target, "--format", "json")
        self.assertEqual(run.returncode, 0, run.stderr)
        doc = json.loads(run.stdout)
        self.assertEqual([t["name"] for t in doc["targets"]],
                         [self.file_target])
        self.assertEqual(doc["targets"][0]["auth"][0]["class"], "success")

    def test_unknown_target_is_a_usage_error(self):
        run = self.once("--target", "ai", "--target", "aio",
                        "--target", "127.0.0.1")
        self.assertEqual(run.returncode, 2, run.stderr)
        self.assertEqual(run.stdout, "")
        self.assertEqual(run.stderr.splitlines(), [
            "smtp-health-agent: --target: no target named 'ai' in %s; "
            "did you mean 'aio'?" % self.path,
            "smtp-health-agent: --target: no target named '127.0.0.1' in "
            "%s; did you mean '%s'?" % (self.path, self.file_target),
        ])
        # Nothing was probed: no probe's log line.
        self.assertNotIn("module=runner", run.stderr)
        harness.assert_no_secret(self, self.forms, {"stdout": run.stdout,
                                                    "stderr": run.stderr})

    def test_unknown_target_far_from_every_name(self):
        run = self.once("--target", "nothing-like-it")
        self.assertEqual(run.returncode, 2, run.stderr)
        self.assertEqual(run.stdout, "")
        self.assertIn("no target named 'nothing-like-it' in %s (4 targets; "
                      "a name is a [target \"NAME\"]'s, or a targets file's "
                      "HOST:PORT/MODULE)" % self.path, run.stderr)
        harness.assert_no_secret(self, self.forms, {"stdout": run.stdout,
                                                    "stderr": run.stderr})

    def test_target_without_once_is_a_usage_error(self):
        for extra in ([], ["--check-config"], ["--explain", "504"]):
            with self.subTest(extra=extra):
                run = harness.run_agent_once(
                    harness.agent_binary(),
                    ["-c", self.path, "--target", "aio"] + extra,
                    env=self.env, timeout=10)
                self.assertEqual(run.returncode, 2, run.stderr)
                self.assertIn("smtp-health-agent: --target goes with --once",
                              run.stderr)
                self.assertEqual(run.stdout, "")


if __name__ == "__main__":
    unittest.main()
