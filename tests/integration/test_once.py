"""--once against real servers: the table's explanation lines, --format
json for scripts, and the exit codes (0 all good, 1 some failed, 2 a bad
config).

Postfix (good password, wrong password, an unoffered XOAUTH2 that Postfix
answers with "535 5.7.8 ... no mechanism available"), aiosmtpd (CRAM-MD5,
which it does not offer: a real 504), a refused port, and a small server
whose reply carries every character JSON must escape. Each output is
produced once per class and checked by several tests.
"""

import json
import math
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

WRONG_PASSWORD = "fixture-wrong-pw-5"

# What a server may put in a reply that JSON must escape: quotes,
# backslashes, braces, markup. (The probe keeps printable ASCII; control
# characters and bytes past ASCII are covered by tests/unit/test_once.c.)
ODD_TEXT = '5.7.1 "quoted" back\\slash {"json": [1]} <b>&amp;</b> \\u0041'


def strict_json(text):
    """json.loads that refuses NaN and Infinity (not JSON, though Python
    accepts them by default)."""
    def bad_constant(name):
        raise ValueError("not JSON: %s" % name)
    return json.loads(text, parse_constant=bad_constant)


class Once(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pf = cls.enterClassContext(harness.postfix_server())
        cls.aio = cls.enterClassContext(harness.aiosmtpd(tls="starttls"))
        # Greets with a 554 whose text needs escaping.
        odd_port = cls.enterClassContext(
            harness.greeting_server("554 " + ODD_TEXT))
        cls.refused_port = harness.free_port()
        st = cls.pf.ports.starttls
        pf_auth = dict(username=cls.pf.username)
        target = harness.target_ini
        cls.config_text = "[agent]\ntimeout = 5s\n" + "".join([
            target("pf-good", st, mechanisms="PLAIN LOGIN", **pf_auth,
                   password_file="@PASSWORD_FILE@"),
            target("pf-wrong", st, mechanisms="PLAIN", **pf_auth,
                   password_env="WRONG_PASSWORD"),
            target("pf-unoffered", st, mechanisms="XOAUTH2", **pf_auth,
                   password_file="@PASSWORD_FILE@"),
            target("aio-cram", cls.aio.port, mechanisms="CRAM-MD5",
                   username=cls.aio.user, password_env="AIO_PASSWORD"),
            target("refused", cls.refused_port, tls="none"),
            target("odd", odd_port, tls="none"),
        ])
        cls.env = dict(os.environ, WRONG_PASSWORD=WRONG_PASSWORD,
                       AIO_PASSWORD=cls.aio.password)
        cls.path = cls.write_config(cls.config_text, cls.pf.password)
        cls.text = cls.run_once(cls.path, [])
        cls.json_run = cls.run_once(cls.path, ["--format", "json"])
        cls.doc = strict_json(cls.json_run.stdout)
        cls.by_name = {t["name"]: t for t in cls.doc["targets"]}

    @classmethod
    def write_config(cls, text, password):
        # AgentProcess only to write the file (with @CA_FILE@ and the
        # password file filled in); it is never started.
        ag = harness.AgentProcess(harness.agent_binary(), text,
                                  password=password)
        cls.addClassCleanup(ag.cleanup)
        return ag.config_path

    @classmethod
    def run_once(cls, path, extra):
        return harness.run_agent_once(harness.agent_binary(),
                                      ["-c", path, "--once"] + extra,
                                      env=cls.env)

    def block(self, name):
        """The table row of `name` and the indented lines under it."""
        lines = self.text.stdout.splitlines()
        for i, line in enumerate(lines):
            if line.split(" ", 1)[0] == name:
                out = [line]
                for more in lines[i + 1:]:
                    if not more.startswith("  "):
                        break
                    out.append(more)
                return out
        self.fail("no row for %s in:\n%s" % (name, self.text.stdout))

    def lines_starting(self, name, prefix):
        return [ln[len(prefix):] for ln in self.block(name)
                if ln.startswith(prefix)]

    # --- the table ---------------------------------------------------------

    def test_table_exit_1_and_rows(self):
        self.assertEqual(self.text.returncode, 1, self.text.stderr)
        want = {"pf-good": ["quit", "221", "success"],
                "pf-wrong": ["auth", "535", "auth_failed"],
                "pf-unoffered": ["auth", "535", "auth_failed"],
                "aio-cram": ["auth", "504", "unsupported_parameter"],
                "refused": ["connect", "-", "connect"],
                "odd": ["greeting", "554", "rejected"]}
        for name, cols in want.items():
            with self.subTest(target=name):
                self.assertEqual(self.block(name)[0].split()[1:4], cols)

    def test_table_explains_each_failure_and_only_failures(self):
        self.assertEqual(self.lines_starting("pf-good", "  explanation: "),
                         [])
        self.assertEqual(self.lines_starting("pf-good", "  note: "), [])
        for name, t in self.by_name.items():
            if t["success"]:
                continue
            with self.subTest(target=name):
                # The same words as the JSON's: one catalogue behind both.
                e = t["explanation"]
                self.assertEqual(
                    self.lines_starting(name, "  explanation: "),
                    ["%s: %s" % (e["title"], e["meaning"])])
                notes = self.lines_starting(name, "  note: ")
                self.assertEqual(notes, [t["note"]] if t["note"] else [])

    def test_table_notes_name_the_mechanisms(self):
        # aiosmtpd's 504 to CRAM-MD5: the note names what it does offer.
        (note,) = self.lines_starting("aio-cram", "  note: ")
        self.assertIn("CRAM-MD5", note)
        self.assertIn("PLAIN", note)
        self.assertIn("LOGIN", note)
        # Postfix's 535 to XOAUTH2 is a mechanism problem, said so.
        (note,) = self.lines_starting("pf-unoffered", "  note: ")
        self.assertIn("XOAUTH2", note)
        self.assertIn("mechanism", note.lower())
        self.assertIn("PLAIN", note)
        # A plain wrong password needs no such note.
        self.assertEqual(self.lines_starting("pf-wrong", "  note: "), [])

    def test_table_prints_the_auth_reply_once(self):
        # The probe says its detail only quotes the AUTH reply: the row
        # shows Postfix's 535 text, and no detail line repeats it.
        text = self.by_name["pf-wrong"]["auth"][0]["text"]
        self.assertTrue(text)
        block = "\n".join(self.block("pf-wrong"))
        self.assertEqual(block.count(text), 1, block)

    # --- JSON --------------------------------------------------------------

    def test_json_exit_1_ascii_and_every_target(self):
        self.assertEqual(self.json_run.returncode, 1, self.json_run.stderr)
        self.assertTrue(self.json_run.stdout.isascii())
        self.assertEqual(list(self.doc), ["targets"])
        self.assertEqual(sorted(self.by_name),
                         sorted(["pf-good", "pf-wrong", "pf-unoffered",
                                 "aio-cram", "refused", "odd"]))

    def test_json_fields_and_types(self):
        keys = {"name", "success", "stage", "error", "code", "enhanced",
                "text", "class", "detail", "start_time", "duration_seconds",
                "address", "ip_protocol", "tls", "ehlo", "auth",
                "explanation", "note"}
        for name, t in self.by_name.items():
            with self.subTest(target=name):
                self.assertEqual(set(t), keys)
                # Every target here is 127.0.0.1; refused reached none.
                if name == "refused":
                    self.assertEqual((t["address"], t["ip_protocol"]),
                                     (None, None))
                else:
                    self.assertEqual((t["address"], t["ip_protocol"]),
                                     ("127.0.0.1", 4))
                self.assertIsInstance(t["success"], bool)
                self.assertIsInstance(t["duration_seconds"], (int, float))
                self.assertTrue(0 <= t["duration_seconds"] < 10)
                self.assertTrue(math.isfinite(t["start_time"]))
                self.assertIsInstance(t["auth"], list)
                if t["success"]:
                    self.assertIsNone(t["explanation"])
                    self.assertIsNone(t["note"])
                    continue
                e = t["explanation"]
                self.assertEqual(set(e), {"key", "title", "meaning", "when",
                                          "fix"})
                for k, v in e.items():
                    self.assertIsInstance(v, str, k)
                    self.assertTrue(v.strip(), k)

    def test_json_good(self):
        t = self.by_name["pf-good"]
        self.assertEqual((t["success"], t["stage"], t["error"], t["code"],
                          t["class"]), (True, "quit", None, 221, "success"))
        tls = t["tls"]
        self.assertIn(tls["version"], ("TLSv1.2", "TLSv1.3"))
        self.assertTrue(tls["cipher"])
        self.assertIs(tls["cert_valid"], True)
        self.assertIsNone(tls["problem"])
        self.assertIsInstance(tls["cert_not_after"], int)
        self.assertGreater(tls["cert_days_left"], 30)
        self.assertEqual([a["mechanism"] for a in t["auth"]],
                         ["PLAIN", "LOGIN"])
        for a in t["auth"]:
            self.assertEqual((a["advertised"], a["attempted"], a["code"],
                              a["class"], a["error"]),
                             (True, True, 235, "success", None))
            self.assertTrue(0 <= a["seconds"] < 5)
        self.assertIn("PLAIN", t["ehlo"]["mechanisms"])
        self.assertIn("AUTH", t["ehlo"]["keywords"])

    def test_json_failures(self):
        t = self.by_name["pf-wrong"]
        self.assertEqual((t["success"], t["stage"], t["code"], t["enhanced"],
                          t["class"]),
                         (False, "auth", 535, "5.7.8", "auth_failed"))
        self.assertIn("authentication failure", t["text"])
        self.assertEqual(t["explanation"]["key"], "535@auth")
        self.assertIsNone(t["note"])

        t = self.by_name["pf-unoffered"]
        self.assertEqual((t["code"], t["class"]), (535, "auth_failed"))
        self.assertIn("no mechanism available", t["text"])
        (a,) = t["auth"]
        self.assertEqual((a["mechanism"], a["advertised"], a["attempted"],
                          a["code"]), ("XOAUTH2", False, True, 535))
        self.assertIn("XOAUTH2", t["note"])
        # The reply's text, not its code, picks the words: a mechanism
        # problem, not the password's.
        self.assertEqual(t["explanation"]["key"], "no_mechanism")
        self.assertIn("will not help", t["explanation"]["fix"])

        t = self.by_name["aio-cram"]
        self.assertEqual((t["stage"], t["code"], t["enhanced"], t["class"]),
                         ("auth", 504, "5.5.4", "unsupported_parameter"))
        self.assertTrue(t["explanation"]["key"].startswith("504"))
        (a,) = t["auth"]
        self.assertEqual((a["mechanism"], a["advertised"], a["code"],
                          a["class"]),
                         ("CRAM-MD5", False, 504, "unsupported_parameter"))
        self.assertEqual(sorted(t["ehlo"]["mechanisms"]), ["LOGIN", "PLAIN"])
        for mech in ("PLAIN", "LOGIN"):
            self.assertIn(mech, t["note"])

        t = self.by_name["refused"]
        self.assertEqual((t["stage"], t["error"], t["code"], t["class"],
                          t["text"], t["tls"], t["ehlo"], t["auth"]),
                         ("connect", "connect", None, None, None, None, None,
                          []))
        self.assertEqual(t["explanation"]["key"], "connect")

    def test_json_escapes_server_text(self):
        t = self.by_name["odd"]
        self.assertEqual((t["stage"], t["code"], t["class"]),
                         ("greeting", 554, "rejected"))
        self.assertEqual(t["text"], ODD_TEXT)
        self.assertEqual(t["enhanced"], "5.7.1")
        # The table prints it as the probe kept it, in the detail line.
        self.assertIn("  greeting: 554 " + ODD_TEXT, self.block("odd"))

    def test_no_secret_in_any_output(self):
        forms = (harness.secret_forms(self.pf.username, self.pf.password) +
                 harness.secret_forms(self.pf.username, WRONG_PASSWORD) +
                 harness.secret_forms(self.aio.user, self.aio.password))
        harness.assert_no_secret(self, forms, {
            "table": self.text.stdout + self.text.stderr,
            "json": self.json_run.stdout + self.json_run.stderr})

    # --- exit codes --------------------------------------------------------

    def test_all_good_exits_0(self):
        path = self.write_config(
            "[agent]\ntimeout = 5s\n" + harness.target_ini(
                "pf-good", self.pf.ports.starttls, mechanisms="PLAIN",
                username=self.pf.username,
                password_file="@PASSWORD_FILE@"),
            self.pf.password)
        for extra in ([], ["--format", "json"]):
            with self.subTest(args=extra):
                r = self.run_once(path, extra)
                self.assertEqual(r.returncode, 0, r.stderr)
                if extra:
                    (t,) = strict_json(r.stdout)["targets"]
                    self.assertIs(t["success"], True)
                else:
                    self.assertNotIn("explanation:", r.stdout)

    def test_config_error_exits_2(self):
        path = self.write_config("[agent]\ninterval = 5x\n", "unused")
        for extra in ([], ["--format", "json"]):
            with self.subTest(args=extra):
                r = self.run_once(path, extra)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stdout, "")
                self.assertIn("interval", r.stderr)


if __name__ == "__main__":
    unittest.main()
