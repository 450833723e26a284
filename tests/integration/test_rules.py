"""The alert rules: promtool accepts them and their tests pass, every alert
is documented and tested both ways, and ALERTS.md's thresholds table says
exactly what config/alerts.yml does. The rules name no job, keep every
label of their series (no `by (...)`), have static summaries, and link to
their runbook section and the dashboard.

The alerts about one class or error quote the agent's catalogue: their
descriptions contain, word for word, the meaning and fix that
`smtp-health-agent --explain KEY --format json` prints for the key that
ALERTS.md's "Words from the catalogue" table gives them.

Needs promtool (Debian package prometheus, installed by tests/setup.sh),
PyYAML (python3-yaml) and the agent binary ($SMTP_HEALTH_AGENT); no
network.
"""

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

CONFIG = os.path.join(harness.REPO, "config")
RULES = os.path.join(CONFIG, "alerts.yml")
RULE_TESTS = os.path.join(CONFIG, "alerts_test.yml")
FAILURE_MODE_TESTS = os.path.join(CONFIG, "alerts_failure_modes_test.yml")
ALL_RULE_TESTS = (RULE_TESTS, FAILURE_MODE_TESTS)
# The failure modes of issue 12, one promtool test group each.
FAILURE_MODES = ("fm1-one-transient-535", "fm2-mechanism-dropped",
                 "fm3-half-the-probes-time-out", "fm4-agent-crash-loop",
                 "fm5-agent-dies-while-target-fails",
                 "fm5b-agent-leaves-discovery-while-target-fails",
                 "fm6-agent-clock-4-minutes-slow",
                 "fm7-expired-cross-sign-in-a-valid-chain",
                 "fm8-454-for-10-minutes")
ANNOTATIONS = {"summary", "description", "runbook_url", "dashboard_url"}
PROM_CONFIG = os.path.join(CONFIG, "prometheus.yml")
ALERTS_MD = os.path.join(CONFIG, "ALERTS.md")

SEVERITIES = ("critical", "warning", "info")
# Literal numbers allowed outside comparisons: unit conversions.
UNIT_CONSTANTS = {86400.0}  # seconds per day

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400,
           "w": 604800, "y": 31536000}
_COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)\s*(?:bool\s+)?"
                         r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w.])")


def seconds(text):
    """A Prometheus duration ("1h30m", "0m") in seconds."""
    text = text.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError("bad duration %r" % text)
    return sum(int(n) * _UNIT_S[u] for n, u in parts)


def strip_selectors(expr):
    """The expression without label matchers and strings, so that
    `{stage="auth"}` or `"%.1f"` is not taken for a number."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return re.sub(r"\{[^}]*\}", "", expr)


def expr_facts(expr):
    """(comparisons as {"> 0", ...}, windows in seconds, other numbers)."""
    bare = strip_selectors(expr)
    windows = set()
    for m in re.finditer(r"\[([^\]:]+)(?::[^\]]*)?\]", bare):
        windows.add(seconds(m.group(1)))
    no_windows = re.sub(r"\[[^\]]*\]", "", bare)
    comparisons = set()
    for m in _COMPARISON.finditer(no_windows):
        comparisons.add("%s %g" % (m.group(1), float(m.group(2))))
    rest = _COMPARISON.sub("", no_windows)
    others = {float(n) for n in _NUMBER.findall(rest)}
    return comparisons, windows, others


def load_rules():
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def md_cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def md_table(heading, key="Alert"):
    """The table of ALERTS.md's "## heading" section: {row[key]: {column:
    cell}}. Checked: a separator under the header, every row as wide as
    the header, no key twice."""
    with open(ALERTS_MD) as f:
        text = f.read()
    m = re.search(r"^## %s$(.*?)^## " % re.escape(heading), text,
                  re.M | re.S)
    if not m:
        raise AssertionError("ALERTS.md has no '## %s' section" % heading)
    lines = [ln for ln in m.group(1).split("\n") if ln.startswith("|")]
    header = md_cells(lines[0])
    if not re.fullmatch(r"[-|: ]+", lines[1]):
        raise AssertionError("no table separator under %r" % lines[0])
    rows = {}
    for line in lines[2:]:
        cells = md_cells(line)
        if len(cells) != len(header):
            raise AssertionError("table row has %d cells, header %d: %r"
                                 % (len(cells), len(header), line))
        row = dict(zip(header, cells))
        if row[key] in rows:
            raise AssertionError("listed twice: %s" % row[key])
        rows[row[key]] = row
    return rows


def thresholds_table():
    """ALERTS.md's thresholds table: {alert: {column: cell}}."""
    return md_table("Thresholds")


def cell_items(cell):
    """`> 0`, `== 235` -> ["> 0", "== 235"]; an em dash or "-" -> []."""
    if cell in ("—", "-", ""):
        return []
    items = [c.strip() for c in cell.split(",")]
    for item in items:
        if not (item.startswith("`") and item.endswith("`")):
            raise AssertionError("table cell item not in backticks: %r"
                                 % item)
    return [i.strip("`").strip() for i in items]


def catalogue_table():
    """ALERTS.md's "Words from the catalogue" table: {alert: key}."""
    rows = {}
    for alert, row in md_table("Words from the catalogue").items():
        key = row["Catalogue key"]
        if not (key.startswith("`") and key.endswith("`")):
            raise AssertionError("key not in backticks: %r" % key)
        rows[alert] = key.strip("`")
    return rows


@functools.lru_cache(maxsize=None)
def explain(key):
    """The one catalogue entry the agent prints for key, as JSON. Cached:
    two tests ask for the same keys (callers must not change it)."""
    proc = harness.run_agent_once(harness.agent_binary(),
                                  ["--explain", key, "--format", "json"],
                                  timeout=30)
    if proc.returncode != 0:
        raise AssertionError("--explain %s: rc %d: %s"
                             % (key, proc.returncode, proc.stderr))
    entries = json.loads(proc.stdout)["entries"]
    if len(entries) != 1:
        raise AssertionError("--explain %s gives %d entries, not one"
                             % (key, len(entries)))
    return entries[0]


def unquoted(description, entry):
    """The fields of a catalogue entry that the description does not
    contain word for word. Folded YAML joins lines with one space and the
    catalogue never has two in a row, so plain containment is exact."""
    return [f for f in ("meaning", "fix") if entry[f] not in description]


def run(argv):
    proc = subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120,
                          cwd=harness.REPO)
    return proc.returncode, proc.stdout


class Promtool(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("promtool"):
            raise AssertionError("promtool not found: install the Debian "
                                 "package prometheus (tests/setup.sh)")

    def test_check_rules(self):
        rc, out = run(["promtool", "check", "rules", RULES])
        self.assertEqual(rc, 0, out)
        self.assertIn("SUCCESS: %d rules found" % len(load_rules()), out)

    def test_rule_unit_tests_pass(self):
        for tests in ALL_RULE_TESTS:
            with self.subTest(tests=os.path.basename(tests)):
                rc, out = run(["promtool", "test", "rules", tests])
                self.assertEqual(rc, 0, out)
                self.assertIn("SUCCESS", out)

    def test_failure_modes_are_named_groups(self):
        with open(FAILURE_MODE_TESTS) as f:
            doc = yaml.safe_load(f)
        self.assertEqual([g.get("name") for g in doc["tests"]],
                         list(FAILURE_MODES))
        # The same names in ALERTS.md's failure modes table.
        rows = md_table("Failure modes", key="Test group")
        self.assertEqual(sorted(rows), sorted(FAILURE_MODES))

    def test_check_prometheus_config(self):
        rc, out = run(["promtool", "check", "config", PROM_CONFIG])
        self.assertEqual(rc, 0, out)
        # The rule file is really loaded, not just the scrape config.
        self.assertIn("SUCCESS: 1 rule files found", out)

    def test_unit_tests_fail_on_a_broken_rule(self):
        """The unit tests can fail: with SMTPAuthFailing's condition
        inverted, promtool test rules must report it."""
        with open(RULES) as f:
            rules = f.read()
        needle = ('increase(smtp_auth_results_total{class="auth_failed"}'
                  '[10m])')
        self.assertEqual(rules.count(needle), 1)
        with tempfile.TemporaryDirectory(prefix="rules-test-") as tmp:
            with open(os.path.join(tmp, "alerts.yml"), "w") as f:
                f.write(rules.replace(needle,
                                      needle.replace("auth_failed", "success")))
            for tests in ALL_RULE_TESTS:
                shutil.copy(tests, tmp)
            rc, out = run(["promtool", "test", "rules"] +
                          [os.path.join(tmp, os.path.basename(t))
                           for t in ALL_RULE_TESTS])
        self.assertNotEqual(rc, 0, out)
        self.assertIn("alertname: SMTPAuthFailing", out)
        self.assertIn("name: fm1-one-transient-535", out)


class RuleContents(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rules = load_rules()
        cls.names = [r["alert"] for r in cls.rules]

    def test_names_unique_with_prefix(self):
        self.assertEqual(len(self.names), len(set(self.names)), self.names)
        for name in self.names:
            self.assertRegex(name, r"^SMTP[A-Z][A-Za-z]+$")

    def test_severity_summary_description(self):
        for r in self.rules:
            with self.subTest(alert=r["alert"]):
                self.assertIn(r.get("labels", {}).get("severity"),
                              SEVERITIES)
                ann = r.get("annotations", {})
                self.assertGreater(len(ann.get("summary", "")), 10)
                desc = ann.get("description", "")
                self.assertGreater(len(desc), 80)
                # What to check first, and which target or agent.
                self.assertIn("Check first", desc)
                self.assertRegex(desc,
                                 r"\{\{ (with )?\$labels\.(target|instance|job)"
                                 r" \}\}")
                # Static: a summary that names a target or a value breaks
                # Alertmanager's grouping.
                self.assertNotIn("{{", ann["summary"])
                self.assertNotIn("$value", ann["summary"])
                # The runbook section served by the agent, the dashboard.
                self.assertEqual(set(ann), ANNOTATIONS)
                # On /probe series instance is the probed server: the
                # runbook is then that of an agent Prometheus scrapes.
                self.assertRegex(
                    ann["runbook_url"],
                    r"^(\{\{ with \$labels\.instance \}\})?http://\{\{ "
                    r"(\$labels\.instance|\.) \}\}/runbook#%s"
                    r"(\{\{ end \}\})?$" % r["alert"].lower()
                    if not re.search(r"(?<![a-z_])probe_success", r["expr"])
                    else
                    r'^\{\{ with query "smtp_agent_build_info" \}\}'
                    r"\{\{ with index \. 0 \}\}http://\{\{ "
                    r"\.Labels\.instance \}\}/runbook#%s\{\{ end \}\}"
                    r"\{\{ end \}\}$" % r["alert"].lower())
                self.assertTrue(ann["dashboard_url"].startswith(
                    "/d/smtp-health-agent/smtp-health-agent"),
                    ann["dashboard_url"])

    def test_required_alerts_present(self):
        """The classes the issue asks for, by what their rule selects."""
        exprs = {r["alert"]: r["expr"] for r in self.rules}
        wanted = {
            "535": 'class="auth_failed"',
            "504": 'class="unsupported_parameter"',
            "not advertised": "smtp_auth_mechanism_advertised",
            "4xx": 'class="temporary_failure"',
            "probe failing": "smtp_probe_failures_total",
            "slow": "smtp_probe_duration_seconds",
            "expiry": "smtp_tls_cert_expiry_timestamp_seconds",
            "invalid": "smtp_tls_cert_valid",
            "starttls": 'error="starttls_unavailable"',
            "stale": "increase(smtp_probes_total",
            "never ran": "smtp_target_info",
            "reload": "smtp_agent_config_last_reload_successful",
            "down": "up == 0",
            "absent": "absent_over_time(smtp_agent_build_info",
            "restarting": "changes(process_start_time_seconds",
        }
        for what, needle in wanted.items():
            with self.subTest(what=what):
                self.assertTrue(any(needle in e for e in exprs.values()),
                                "no rule selects %s" % needle)
        expiry = [r for r in self.rules
                  if "smtp_tls_cert_expiry_timestamp_seconds" in r["expr"]]
        self.assertEqual(sorted(r["labels"]["severity"] for r in expiry),
                         ["critical", "warning"])

    def test_no_job_name(self):
        """The rules work whatever the scrape job is called: no rule
        selects a job (the failure-mode tests use job="mail-probes")."""
        with open(PROM_CONFIG) as f:
            prom = yaml.safe_load(f)
        self.assertIn("alerts.yml", prom["rule_files"])
        for r in self.rules:
            self.assertNotRegex(r["expr"], r"\bjob\s*[=!]~?\s*\"",
                                r["alert"])

    def test_labels_reach_the_alerts(self):
        """No aggregation names what it keeps (`by`): what it drops is
        named (`without`), so team, service and every other label of the
        series reach the alert. The failure-mode tests expect team="mail"
        on every alert of a target or agent."""
        for r in self.rules:
            self.assertNotRegex(r["expr"], r"\bby\s*\(", r["alert"])
        with open(FAILURE_MODE_TESTS) as f:
            doc = yaml.safe_load(f)
        fired = 0
        for group in doc["tests"]:
            for case in group.get("alert_rule_test", []):
                for a in case.get("exp_alerts") or []:
                    fired += 1
                    self.assertEqual(a["exp_labels"].get("team"), "mail",
                                     (group["name"], case["alertname"]))
        self.assertGreater(fired, 10)

    def test_one_page_per_cause(self):
        """SMTPProbeFailing leaves out the targets for which an alert that
        names the cause is pending or firing; those alerts are in the same
        group, before it, so that their ALERTS series are written first."""
        with open(RULES) as f:
            doc = yaml.safe_load(f)
        for group in doc["groups"]:
            names = [r.get("alert") for r in group["rules"]]
            if "SMTPProbeFailing" not in names:
                continue
            rule = group["rules"][names.index("SMTPProbeFailing")]
            m = re.search(r'ALERTS\{alertname=~"([^"]+)"\}', rule["expr"])
            self.assertIsNotNone(m, rule["expr"])
            causes = m.group(1).split("|")
            self.assertEqual(sorted(causes), sorted([
                "SMTPAuthFailing", "SMTPAuthMechanismUnsupported",
                "SMTPAuthMechanismNotAdvertised", "SMTPAuthTemporaryFailure",
                "SMTPStartTLSUnavailable", "SMTPCertificateInvalid",
                "SMTPOAuthTokenFailing"]))
            for c in causes:
                self.assertLess(names.index(c),
                                names.index("SMTPProbeFailing"), c)
            return
        self.fail("no group has SMTPProbeFailing")

    def test_every_alert_tested_both_ways(self):
        firing, silent = set(), set()
        for tests in ALL_RULE_TESTS:
            with open(tests) as f:
                doc = yaml.safe_load(f)
            self.assertEqual(doc["rule_files"], ["alerts.yml"])
            for group in doc["tests"]:
                for case in group.get("alert_rule_test", []):
                    name = case["alertname"]
                    self.assertIn(name, self.names, "test for unknown alert")
                    if case.get("exp_alerts"):
                        firing.add(name)
                        for a in case["exp_alerts"]:
                            self.assertIn("severity", a["exp_labels"])
                            self.assertEqual(set(a["exp_annotations"]),
                                             ANNOTATIONS)
                    else:
                        silent.add(name)
        self.assertEqual(sorted(set(self.names) - firing), [],
                         "alerts without a firing case")
        self.assertEqual(sorted(set(self.names) - silent), [],
                         "alerts without an exp_alerts: [] case")

    def test_every_alert_documented(self):
        with open(ALERTS_MD) as f:
            text = f.read()
        sections = re.findall(r"^### (\S+)$", text, re.M)
        self.assertEqual(sorted(sections), sorted(self.names))


class CatalogueWords(unittest.TestCase):
    """The rules quote the catalogue: one source for the words."""

    @classmethod
    def setUpClass(cls):
        cls.rules = {r["alert"]: r for r in load_rules()}
        cls.table = catalogue_table()

    def test_table_names_real_alerts(self):
        self.assertEqual(sorted(set(self.table) - set(self.rules)), [])
        self.assertEqual(
            sorted(self.table),
            sorted(["SMTPAuthFailing", "SMTPAuthMechanismUnsupported",
                    "SMTPAuthTemporaryFailure", "SMTPStartTLSUnavailable",
                    "SMTPCertificateInvalid", "SMTPProbeFailing",
                    "SMTPCheckFailing", "SMTPOAuthTokenFailing"]))

    def test_every_class_or_error_alert_has_a_key(self):
        """An alert that selects a class or an error quotes its entry,
        and the entry is about what the alert selects."""
        for name, rule in self.rules.items():
            selected = re.findall(r'\b(class|error)="([a-z_]+)"',
                                  rule["expr"])
            selected = [(k, v) for k, v in selected if v != "success"]
            if not selected:
                continue
            with self.subTest(alert=name):
                self.assertIn(name, self.table,
                              "%s selects %s but quotes no catalogue entry"
                              % (name, selected))
                entry = explain(self.table[name])
                for kind, value in selected:
                    self.assertEqual(entry.get(kind), value,
                                     "%s selects %s=%s, its key %s is %r"
                                     % (name, kind, value, self.table[name],
                                        entry.get(kind)))

    def test_descriptions_quote_meaning_and_fix(self):
        for name, key in self.table.items():
            with self.subTest(alert=name, key=key):
                entry = explain(key)
                desc = self.rules[name]["annotations"]["description"]
                self.assertGreater(len(entry["meaning"]), 20)
                self.assertGreater(len(entry["fix"]), 20)
                self.assertEqual(unquoted(desc, entry), [],
                                 "%s's description lacks these of %s"
                                 % (name, key))

    def test_the_check_can_fail(self):
        """A description that paraphrases the catalogue is caught."""
        entry = explain("535@auth")
        desc = self.rules["SMTPAuthFailing"]["annotations"]["description"]
        self.assertEqual(unquoted(desc, entry), [])
        self.assertEqual(unquoted(desc.replace("try a login", "test a login"),
                                  entry), ["fix"])
        self.assertEqual(unquoted(desc.replace("token (RFC", "token  (RFC"),
                                  entry), ["meaning"])


class ThresholdsTable(unittest.TestCase):
    """ALERTS.md's table and alerts.yml agree, number for number."""

    @classmethod
    def setUpClass(cls):
        cls.rules = {r["alert"]: r for r in load_rules()}
        cls.table = thresholds_table()

    def test_same_alerts(self):
        self.assertEqual(sorted(self.table), sorted(self.rules))

    def test_keep_firing_for(self):
        for name, rule in self.rules.items():
            row = self.table.get(name)
            if row is None:
                continue
            with self.subTest(alert=name):
                want = cell_items(row["Keep firing"])
                self.assertEqual(seconds(rule.get("keep_firing_for", "0s")),
                                 seconds(want[0]) if want else 0)

    def test_rows_match_rules(self):
        for name, rule in self.rules.items():
            row = self.table.get(name)
            if row is None:
                continue  # reported by test_same_alerts
            with self.subTest(alert=name):
                comparisons, windows, others = expr_facts(rule["expr"])
                self.assertEqual(row["Severity"], rule["labels"]["severity"])
                self.assertEqual(
                    sorted(comparisons),
                    sorted("%s %g" % (c.split()[0], float(c.split()[1]))
                           for c in cell_items(row["Thresholds"])))
                self.assertEqual(sorted(windows),
                                 sorted(seconds(w) for w in
                                        cell_items(row["Windows"])))
                self.assertEqual(seconds(rule.get("for", "0s")),
                                 seconds(cell_items(row["For"])[0]))
                # No number hides outside a comparison or a window.
                self.assertEqual(others - UNIT_CONSTANTS, set(),
                                 "undocumented literals in %s" % name)

    def test_parser_sees_thresholds(self):
        """The comparison parser itself, on a known expression."""
        comparisons, windows, others = expr_facts(
            'time() - x{a="1"} > 180 and rate(y[5m]) / 86400 < 2.5 '
            'unless changes(z{b="c"}[1h30m]) == 0')
        self.assertEqual(comparisons, {"> 180", "< 2.5", "== 0"})
        self.assertEqual(windows, {300, 5400})
        self.assertEqual(others, {86400.0})


if __name__ == "__main__":
    unittest.main()
