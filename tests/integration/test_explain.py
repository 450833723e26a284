"""--explain: the catalogue's words for a code, a code at a stage, a class,
an error or an enhanced code, as text and as JSON, with its exit codes;
--help's exit codes; and the log line of a failed probe, which carries the
catalogue's one-line meaning.

Runs the agent binary ($SMTP_HEALTH_AGENT); the log test talks to a tiny
server on 127.0.0.1 only.
"""

import json
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

LABELS = {"Class:": "class", "Kind:": "kind", "Meaning:": "meaning",
          "When:": "when", "Fix:": "fix", "Differences:": "neighbours"}
TEXT_FIELDS = ("title", "meaning", "when", "fix", "neighbours")
INDENT = 16


def run(*args):
    return harness.run_agent_once(harness.agent_binary(), list(args),
                                  timeout=30)


def explain(what, fmt=None):
    args = ["--explain", what] + (["--format", fmt] if fmt else [])
    return run(*args)


def explain_json(what):
    proc = explain(what, "json")
    if proc.returncode != 0:
        raise AssertionError("--explain %s --format json: rc %d, %s"
                             % (what, proc.returncode, proc.stderr))
    return json.loads(proc.stdout)


def parse_text(out):
    """The text output as [{"header": ..., field: unwrapped text}], and
    every line checked for width and form on the way."""
    entries = []
    for block in out.rstrip("\n").split("\n\n"):
        lines = block.split("\n")
        entry = {"header": lines[0]}
        current = None
        for line in lines[1:]:
            if len(line) > 79 and " " in line.strip():
                raise AssertionError("line too long: %r" % line)
            m = re.match(r"  (\S+:) +(.*)$", line)
            if m and m.group(1) in LABELS and line[INDENT - 1] == " ":
                current = LABELS[m.group(1)]
                entry[current] = m.group(2)
            elif current and line.startswith(" " * INDENT) \
                    and line[INDENT] != " ":
                entry[current] += " " + line[INDENT:]
            else:
                raise AssertionError("unexpected line %r in:\n%s"
                                     % (line, block))
        entries.append(entry)
    return entries


class ExplainText(unittest.TestCase):

    def check_matches_json(self, what):
        """The text and the JSON carry the same entries, word for word."""
        proc = explain(what)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stderr, "")
        text = parse_text(proc.stdout)
        doc = explain_json(what)
        self.assertEqual(doc["query"], what)
        self.assertEqual(len(text), len(doc["entries"]))
        for t, j in zip(text, doc["entries"]):
            self.assertTrue(t["header"].endswith(": " + j["title"]),
                            t["header"])
            for field in ("meaning", "when", "fix"):
                self.assertEqual(t[field], j[field], field)
            self.assertEqual(t.get("neighbours"), j["neighbours"])
            if j["kind"] == "code":
                self.assertEqual(t["class"], j["class"])
        return text, doc

    def test_504(self):
        text, doc = self.check_matches_json("504")
        # One entry per stage where 504 means something different.
        self.assertEqual([e["key"] for e in doc["entries"]],
                         ["504@ehlo", "504@auth", "504"])
        self.assertEqual([e["stages"] for e in doc["entries"]],
                         [["ehlo"], ["auth"], ["greeting", "starttls",
                                               "quit"]])
        for e in doc["entries"]:
            self.assertEqual(e["class"], "unsupported_parameter")
            self.assertEqual(e["code"], 504)
        auth = text[1]
        self.assertEqual(auth["header"], "504 at AUTH: Mechanism not supported")
        self.assertEqual(text[2]["header"],
                         "504 at the greeting, STARTTLS or QUIT: "
                         "Command parameter not implemented")
        self.assertIn("EHLO capability list", auth["fix"])
        self.assertIn("use a mechanism it advertises", auth["fix"])
        # The difference from its neighbours, spelled out.
        for code in ("535", "534", "538"):
            self.assertIn(code + " means", auth["neighbours"])

    def test_535(self):
        text, doc = self.check_matches_json("535")
        self.assertEqual([e["key"] for e in doc["entries"]],
                         ["535@auth", "535"])
        auth = text[0]
        self.assertEqual(auth["header"],
                         "535 at AUTH: Authentication credentials invalid")
        self.assertEqual(auth["class"], "auth_failed")
        self.assertIn("password", auth["meaning"])
        # Postfix's mechanism case is named, and what to do about it.
        self.assertIn("no mechanism available", auth["when"])
        self.assertIn("fix the mechanism, not the password", auth["fix"])
        for code in ("504", "534", "538", "454"):
            self.assertIn(code + " is", auth["neighbours"])

    def test_code_at_a_stage(self):
        text, doc = self.check_matches_json("535@auth")
        self.assertEqual(len(doc["entries"]), 1)
        self.assertEqual(doc["entries"][0]["stages"], ["auth"])
        text, doc = self.check_matches_json("454@starttls")
        self.assertIn("TLS", doc["entries"][0]["meaning"])
        self.assertIn("454 to AUTH", doc["entries"][0]["neighbours"])
        # A code where it does not belong gets its class's words.
        text, doc = self.check_matches_json("250@auth")
        self.assertEqual(doc["entries"][0]["key"], "unexpected")
        self.assertEqual(doc["entries"][0]["class"], "unexpected")

    def test_class(self):
        text, doc = self.check_matches_json("auth_failed")
        self.assertEqual(text[0]["header"],
                         "auth_failed: Authentication failed")
        self.assertEqual(doc["entries"][0]["kind"], "class")
        self.assertEqual(doc["entries"][0]["class"], "auth_failed")
        self.assertIn("535", text[0]["meaning"])

    def test_enhanced(self):
        text, doc = self.check_matches_json("5.7.8")
        self.assertEqual(text[0]["header"],
                         "5.7.8: Authentication credentials invalid")
        self.assertEqual(doc["entries"][0]["kind"], "enhanced")
        self.assertIn("5.5.4", text[0]["neighbours"])

    def test_provider_pair_and_token(self):
        """A provider's code with its enhanced code (issue 14), and stage
        token's entry."""
        text, doc = self.check_matches_json("535 5.7.139")
        self.assertEqual(text[0]["header"], "535 5.7.139: Microsoft 365: "
                         "authentication unsuccessful")
        self.assertEqual(doc["entries"][0]["kind"], "reply")
        self.assertIn("Set-CASMailbox", text[0]["fix"])
        for what in ("550 5.7.30", "535 5.7.3", "530 5.7.57", "534 5.7.9",
                     "535 5.7.8", "454 4.7.0"):
            doc = explain_json(what)
            self.assertEqual(doc["entries"][0]["key"], what)
        text, doc = self.check_matches_json("token")
        self.assertEqual(text[0]["header"], "token: No bearer token")
        self.assertIn("token_file", text[0]["fix"])
        self.assertNotEqual(explain("535 5.7.99").returncode, 0)

    def test_error(self):
        text, doc = self.check_matches_json("timeout")
        self.assertEqual(text[0]["header"], "timeout: Timed out")
        self.assertEqual(doc["entries"][0]["error"], "timeout")

    def test_every_class_and_error_is_known(self):
        for what in ("success", "unsupported_parameter", "auth_failed",
                     "mechanism_too_weak", "encryption_required",
                     "temporary_failure", "syntax_error", "bad_sequence",
                     "not_implemented", "rejected", "unexpected", "dns",
                     "connect", "timeout", "tls_handshake", "certificate",
                     "starttls_unavailable", "closed", "malformed",
                     "probe_failed", "no_mechanism"):
            with self.subTest(what=what):
                self.check_matches_json(what)

    def test_json_texts_are_clean(self):
        for what in ("504", "535", "220", "auth_failed", "5.7.11",
                     "starttls_unavailable"):
            for e in explain_json(what)["entries"]:
                for field in TEXT_FIELDS:
                    value = e[field]
                    if value is None and field == "neighbours":
                        continue
                    with self.subTest(what=what, field=field):
                        self.assertRegex(value, r"^[\x20-\x7e]+$")
                        if field != "title":
                            self.assertTrue(value.endswith("."), value)

    def test_unknown(self):
        for what in ("nope", "999", "5.9.9", "535@nowhere", ""):
            for fmt in (None, "json"):
                with self.subTest(what=what, fmt=fmt):
                    proc = explain(what, fmt)
                    self.assertEqual(proc.returncode, 1)
                    self.assertEqual(proc.stdout, "")
                    self.assertIn("nothing known as '%s'" % what,
                                  proc.stderr)

    def test_usage_errors(self):
        proc = explain("504", "xml")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("must be text or json", proc.stderr)
        proc = run("--format", "json")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--format goes with --once or --explain", proc.stderr)
        self.assertEqual(explain("504", "text").returncode, 0)

    def test_help_documents_exit_codes(self):
        proc = run("--help")
        self.assertEqual(proc.returncode, 0)
        self.assertIn("--format FMT", proc.stdout)
        self.assertRegex(proc.stdout, r"--once +0 every target succeeded, "
                                      r"1 some failed, 3 the agent\n +could "
                                      r"not probe some \(out of descriptors "
                                      r"or memory\),\n +2 bad config")
        self.assertRegex(proc.stdout, r"--explain +0 known, 1 unknown")


class FailureLog(unittest.TestCase):
    """A failed probe's log line: class or error, code, and meaning."""

    def test_failure_lines_carry_the_meaning(self):
        busy_port = self.enterContext(
            harness.greeting_server("421 4.3.2 Service shutting down"))
        refused = harness.free_port()
        conf = ("[agent]\nlisten = 127.0.0.1:%d\ntimeout = 5s\n"
                "[target \"busy\"]\nhost = 127.0.0.1\nport = %d\n"
                "tls = none\n"
                "[target \"gone\"]\nhost = 127.0.0.1\nport = %d\n"
                "tls = none\n") % (harness.free_port(),
                                   busy_port, refused)
        with tempfile.TemporaryDirectory(prefix="explain-test-") as tmp:
            path = os.path.join(tmp, "agent.ini")
            with open(path, "w") as f:
                f.write(conf)
            proc = run("-c", path, "--once")
            self.assertEqual(proc.returncode, 1, proc.stderr)
            lines = [ln for ln in proc.stderr.splitlines()
                     if 'msg="probe failed"' in ln]
            busy = [ln for ln in lines if "target=busy " in ln]
            gone = [ln for ln in lines if "target=gone " in ln]
            self.assertEqual(len(busy), 1, proc.stderr)
            self.assertEqual(len(gone), 1, proc.stderr)
            self.assertIn("level=info module=runner", busy[0])
            self.assertIn("stage=greeting code=421 class=temporary_failure",
                          busy[0])
            self.assertTrue(busy[0].endswith(
                'meaning="Service not available"'), busy[0])
            self.assertIn("stage=connect error=connect", gone[0])
            self.assertTrue(gone[0].endswith('meaning="Connection failed"'),
                            gone[0])
            # The meaning is the catalogue's title, not a copy of its own.
            title = explain_json("421@greeting")["entries"][0]["title"]
            self.assertIn('meaning="%s"' % title, busy[0])

            # A config error is exit 2 under --once, in either format.
            with open(path, "a") as f:
                f.write("bogus_key = 1\n")
            for fmt in ("text", "json"):
                proc = run("-c", path, "--once", "--format", fmt)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertEqual(proc.stdout, "")


if __name__ == "__main__":
    unittest.main()
