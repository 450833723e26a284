"""config/alertmanager.yml, proved end to end on a real Alertmanager.

A Postfix with Cyrus SASL runs on loopback; the agent probes it every
second (target pf-auth, AUTH PLAIN) with a WRONG password from its
password_file. Debian's Prometheus scrapes the agent every second, with
the scrape-config labels team="mail" and service="submission", evaluates a
test copy of config/alerts.yml every second and sends to Debian's
Alertmanager, configured from config/alertmanager.yml with every webhook
pointed at a small receiver in this process that records each
notification. The test copy of the rules has every `for:` and
`keep_firing_for:` at 0s and every range selector at [20s]; the test copy
of alertmanager.yml has its group timers at a second.

EndToEnd checks that
 1. the receiver that config/alertmanager.yml gives team mail + critical
    gets a firing SMTPAuthFailing for pf-auth with the labels target,
    mechanism=PLAIN, team=mail, service=submission, severity=critical, and
    a static summary and a description quoting the catalogue's meaning
    and fix for 535@auth;
 2. its runbook_url is the agent's (http://<instance>/runbook
    #smtpauthfailing) and its dashboard_url the dashboard's path with the
    job, instance and target filled in;
 3. once the right password is in the password_file and the agent got
    SIGHUP, the same receiver gets the same alert resolved;
 4. the inhibition: synthetic alerts POSTed to /api/v2/alerts show an
    SMTPAgentDown or an SMTPAgentAbsent holding back the per-target alerts
    of the same job and instance (an SMTPAgentAbsent without instance: of
    the same job), not another instance's, nor the agent's own alerts;
    the held-back ones are never notified;
 5. no notification, nor the Alertmanager's alerts or log, has the
    password in any form.
RoutesAndConfig checks the routes with `amtool config routes test`,
`amtool check-config` (and that a broken copy fails it) and the commented
template. Timings go to stderr.
"""

import base64
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import unittest
import urllib.parse

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import alertmanager  # noqa: E402
import harness  # noqa: E402
import prom  # noqa: E402
import webhook  # noqa: E402

REPO = harness.REPO
ALERTS_FILE = os.path.join(REPO, "config", "alerts.yml")
AM_CONFIG_FILE = os.path.join(REPO, "config", "alertmanager.yml")
PROM_CONFIG_FILE = os.path.join(REPO, "config", "prometheus.yml")
DEFAULT_JOB = "smtp-health-agent"

AUTH_ALERT = "SMTPAuthFailing"
TARGET = "pf-auth"
MECHANISM = "PLAIN"
SCRAPE_LABELS = {"team": "mail", "service": "submission"}
WRONG_PASSWORD = "fixture-wrong-pw-am-7"

# The rules' windows in the test copy: with a probe, a scrape and an
# evaluation every second, 20 samples.
TEST_RANGE = "20s"
TEST_SUBQUERY_STEP = "1s"
# The test copy of alertmanager.yml: notify a second after a change.
AM_TIMERS = {"group_wait": "1s", "group_interval": "1s",
             "repeat_interval": "1h"}

FIRE_TIMEOUT_S = 40
RESOLVE_TIMEOUT_S = 60
INHIBIT_TIMEOUT_S = 15

AGENT_CONFIG = """
[agent]
interval = 1s
timeout = 900ms
log_level = info
"""

PROMETHEUS_CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - "@DIR@/alerts.yml"
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["%(am)s"]
scrape_configs:
  - job_name: "%(job)s"
    static_configs:
      - targets: ["%(agent)s"]
        labels: %(labels)s
"""


# --- the test copy of the rules ---------------------------------------------

_DURATION = r"(?:[0-9]+(?:ms|[smhdwy]))+"
# [10m], [1d], [1h30m]; subqueries [30m:1m] and [30m:].
_RANGE_RE = re.compile(r"\[\s*(%s)\s*(?::\s*(%s)?\s*)?\]"
                       % (_DURATION, _DURATION))


def short_ranges(expr):
    """expr with every range selector at TEST_RANGE (a subquery's step at
    TEST_SUBQUERY_STEP); (text, how many)."""
    def repl(m):
        if ":" not in m.group(0):
            return "[%s]" % TEST_RANGE
        step = TEST_SUBQUERY_STEP if m.group(2) else ""
        return "[%s:%s]" % (TEST_RANGE, step)
    return _RANGE_RE.subn(repl, expr)


def rules_test_copy(text):
    """The rule file for a test: every `for:` and `keep_firing_for:` 0s,
    every range selector of every expression TEST_RANGE, every group's
    own interval 1s. Annotations and labels are left alone. Returns
    (YAML text, {"for": n, "keep_firing_for": n, "ranges": n})."""
    doc = yaml.safe_load(text)
    counts = {"for": 0, "keep_firing_for": 0, "ranges": 0}
    for group in doc.get("groups") or []:
        if "interval" in group:
            group["interval"] = "1s"
        for rule in group.get("rules") or []:
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    rule[key] = "0s"
                    counts[key] += 1
            rule["expr"], n = short_ranges(str(rule["expr"]))
            counts["ranges"] += n
    return yaml.safe_dump(doc, sort_keys=False, width=1 << 16), counts


def job_name():
    """The job name of config/prometheus.yml (the rules assume it)."""
    try:
        with open(PROM_CONFIG_FILE) as f:
            m = re.search(r"job_name:\s*[\"']?([^\"'\s#]+)", f.read())
    except FileNotFoundError:
        m = None
    return m.group(1) if m else DEFAULT_JOB


def words(text):
    """Text with every run of white space one space (YAML folding and
    templates may break lines anywhere)."""
    return " ".join(text.split())


def explain(key):
    proc = harness.run_agent_once(harness.agent_binary(),
                                  ["--explain", key, "--format", "json"],
                                  timeout=30)
    if proc.returncode != 0:
        raise AssertionError("--explain %s: rc %d: %s"
                             % (key, proc.returncode, proc.stderr))
    entries = json.loads(proc.stdout)["entries"]
    if len(entries) != 1:
        raise AssertionError("--explain %s gives %d entries"
                             % (key, len(entries)))
    return entries[0]


def rule(name):
    """The alerting rule `name` of config/alerts.yml."""
    with open(ALERTS_FILE) as f:
        doc = yaml.safe_load(f)
    found = [r for g in doc.get("groups") or [] for r in g.get("rules") or []
             if r.get("alert") == name]
    if len(found) != 1:
        raise AssertionError("%s: %d rules named %s"
                             % (ALERTS_FILE, len(found), name))
    return found[0]


def alerts_of(n, alertname, status=None, **labels):
    """The alerts of notification n with that name, status and labels."""
    out = []
    for a in (n.doc or {}).get("alerts") or []:
        lbl = a.get("labels") or {}
        if lbl.get("alertname") != alertname:
            continue
        if status is not None and a.get("status") != status:
            continue
        if all(lbl.get(k) == v for k, v in labels.items()):
            out.append(a)
    return out


class RoutesAndConfig(unittest.TestCase):
    """config/alertmanager.yml offline, with amtool."""

    def routes(self, **labels):
        return alertmanager.route_receivers(AM_CONFIG_FILE, **labels)

    def test_check_config_passes(self):
        rc, out, err = alertmanager.amtool("check-config", AM_CONFIG_FILE)
        sys.stderr.write("amtool check-config: rc %d\n%s" % (rc, out))
        self.assertEqual(rc, 0, out + err)
        self.assertIn("SUCCESS", out)
        self.assertRegex(out, r"\b[1-9][0-9]* inhibit rules\b")

    def test_a_broken_copy_fails_the_check(self):
        with open(AM_CONFIG_FILE) as f:
            doc = yaml.safe_load(f)
        broken = {
            "undefined receiver": lambda d: d["route"]["routes"][0].update(
                receiver="no-such-receiver"),
            "unknown key": lambda d: d["route"].update(group_byy=["x"]),
            "bad matcher": lambda d: d["inhibit_rules"][0].update(
                target_matchers=['target=~"(']),
        }
        for what, breaker in broken.items():
            with self.subTest(broken=what):
                copy = json.loads(json.dumps(doc))
                breaker(copy)
                path = os.path.join(self.enterContext(_TempDir()), "am.yml")
                with open(path, "w") as f:
                    yaml.safe_dump(copy, f, sort_keys=False)
                rc, out, err = alertmanager.amtool("check-config", path)
                self.assertNotEqual(rc, 0, "check-config passed with a %s"
                                    % what)
                self.assertIn("FAILED", out + err)

    def test_routes(self):
        cases = [
            ({"team": "mail", "severity": "critical"}, ["mail-pager"]),
            ({"team": "mail", "severity": "warning"}, ["mail-tickets"]),
            ({"team": "mail", "severity": "info"}, ["default"]),
            ({"team": "web", "severity": "critical"}, ["default-pager"]),
            ({"team": "web", "severity": "warning"}, ["default"]),
            ({"severity": "critical"}, ["default-pager"]),
            ({"severity": "warning"}, ["default"]),
            # An SMTPAuthFailing as the rules make it.
            ({"alertname": AUTH_ALERT, "severity": "critical",
              "team": "mail", "service": "submission", "job": DEFAULT_JOB,
              "instance": "127.0.0.1:9925", "target": "mx1",
              "mechanism": "PLAIN"}, ["mail-pager"]),
        ]
        for labels, want in cases:
            with self.subTest(labels=labels):
                got = self.routes(**labels)
                sys.stderr.write("route %s -> %s\n" % (
                    " ".join("%s=%s" % kv for kv in labels.items()),
                    ",".join(got)))
                self.assertEqual(got, want)

    def test_every_receiver_sends_resolved(self):
        with open(AM_CONFIG_FILE) as f:
            doc = yaml.safe_load(f)
        self.assertEqual(doc["route"]["group_by"], ["alertname", "team"])
        for recv in doc["receivers"]:
            hooks = recv.get("webhook_configs") or []
            with self.subTest(receiver=recv["name"]):
                self.assertTrue(hooks)
                for h in hooks:
                    self.assertIs(h.get("send_resolved"), True)
                    self.assertTrue(h["url"].startswith("http://127.0.0.1:"))

    def test_commented_template_renders(self):
        """The link template in the comments parses and puts the Grafana
        root in front of dashboard_url."""
        with open(AM_CONFIG_FILE) as f:
            text = f.read()
        m = re.search(r"^#\s*(\{\{ define \"smtp\.grafana_root\" \}\}.*?"
                      r"\{\{ end \}\}\{\{ end \}\})$", text, re.M | re.S)
        self.assertIsNotNone(m, "no commented template in %s"
                             % AM_CONFIG_FILE)
        tmpl = re.sub(r"^#   ?", "", m.group(1), flags=re.M)
        root = re.search(r'define "smtp.grafana_root" \}\}(\S+?)\{\{', tmpl)
        self.assertIsNotNone(root)
        self.assertIn(".Annotations.dashboard_url", tmpl)
        path = os.path.join(self.enterContext(_TempDir()), "smtp.tmpl")
        with open(path, "w") as f:
            f.write(tmpl)
        rc, out, err = alertmanager.amtool(
            "template", "render", "--template.glob=" + path,
            '--template.text={{ template "smtp.links" . }}')
        self.assertEqual(rc, 0, out + err)
        self.assertIn("dashboard: " + root.group(1), out)


class _TempDir:
    """A temp dir removed on exit (for enterContext)."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="am-cfg-test-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
        return False


class EndToEnd(unittest.TestCase):
    """Agent -> Prometheus -> Alertmanager -> webhook, all on loopback."""

    @classmethod
    def setUpClass(cls):
        cls.t0 = time.monotonic()
        cls.timings = {}
        cls.secrets = []
        # Class cleanups run last to first: this runs after every server
        # below has been stopped, also when setup fails halfway.
        cls.addClassCleanup(cls._check_stopped)
        cls._start()

    @classmethod
    def _mark(cls, what):
        cls.timings[what] = time.monotonic() - cls.t0
        return cls.timings[what]

    @classmethod
    def report(cls, text):
        """Print to stderr, after checking no secret is in it."""
        for s in cls.secrets:
            if s in text:
                raise AssertionError("a secret would be printed")
        sys.stderr.write(text + "\n")

    @classmethod
    def _start(cls):
        with open(ALERTS_FILE) as f:
            cls.rules_copy, counts = rules_test_copy(f.read())
        cls.job = job_name()
        cls.expected_receiver = alertmanager.route_receivers(
            AM_CONFIG_FILE, team="mail", severity="critical")
        if len(cls.expected_receiver) != 1:
            raise AssertionError("team=mail severity=critical goes to %s, "
                                 "not one receiver" % cls.expected_receiver)
        cls.expected_receiver = cls.expected_receiver[0]

        cls.hook = cls.enterClassContext(webhook.WebhookReceiver())
        with open(AM_CONFIG_FILE) as f:
            am_config = alertmanager.config_for_test(
                f.read(), cls.hook.url, AM_TIMERS)
        cls.am = cls.enterClassContext(
            alertmanager.AlertmanagerServer(am_config))
        cls._mark("alertmanager ready")

        cls.pf = cls.enterClassContext(harness.postfix_server())
        cls.secrets = (harness.secret_forms(cls.pf.username, WRONG_PASSWORD)
                       + harness.secret_forms(cls.pf.username,
                                              cls.pf.password))
        cls._mark("postfix ready")
        cfg = AGENT_CONFIG + harness.target_ini(
            TARGET, cls.pf.ports.starttls, mechanisms=MECHANISM,
            username=cls.pf.username, password_file="@PASSWORD_FILE@")
        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(), cfg, password=WRONG_PASSWORD))
        cls.instance = cls.agent.listen
        cls.t_agent = time.monotonic()
        cls._mark("agent ready")

        cls.prom = cls.enterClassContext(prom.PrometheusServer(
            PROMETHEUS_CONFIG % dict(am=cls.am.address, job=cls.job,
                                     agent=cls.instance,
                                     labels=json.dumps(SCRAPE_LABELS)),
            {"alerts.yml": cls.rules_copy}))
        cls.t_prom = time.monotonic()
        cls._mark("prometheus ready")
        cls.report("rules test copy: %d for:, %d keep_firing_for: at 0s, "
                   "%d range selectors at [%s]"
                   % (counts["for"], counts["keep_firing_for"],
                      counts["ranges"], TEST_RANGE))

    @classmethod
    def _check_stopped(cls):
        for name in ("prom", "am"):
            server = getattr(cls, name, None)
            if server is not None:
                left = harness.live_processes(server.process_pattern())
                if left:
                    raise AssertionError("%s left running: %s"
                                         % (name, left))
        cls.report("timings: %s; total %.1f s" % (
            ", ".join("%s %.1f s" % kv for kv in cls.timings.items()),
            time.monotonic() - cls.t0))

    # --- helpers ---------------------------------------------------------

    def the_alert(self, n, status):
        found = alerts_of(n, AUTH_ALERT, status, target=TARGET,
                          instance=self.instance)
        self.assertEqual(len(found), 1, "notification has %d %s %s for %s"
                         % (len(found), status, AUTH_ALERT, TARGET))
        return found[0]

    @classmethod
    def firing(cls):
        """The first notification with SMTPAuthFailing firing for
        pf-auth (waited for once, then kept)."""
        if not hasattr(cls, "_firing"):
            n = cls.hook.wait_for(
                lambda n: alerts_of(n, AUTH_ALERT, "firing", target=TARGET),
                FIRE_TIMEOUT_S, "a firing %s for %s" % (AUTH_ALERT, TARGET))
            cls._firing = n
            cls._mark("first %s notification" % AUTH_ALERT)
            cls.report("time to first notification: %.1f s after the agent "
                       "was ready, %.1f s after prometheus was"
                       % (n.received - cls.t_agent,
                          n.received - cls.t_prom))
        return cls._firing

    def assert_no_secret_in_notifications(self):
        harness.assert_no_secret(self, self.secrets, {
            "notification %d to %s" % (i, n.path): n.body
            for i, n in enumerate(self.hook.notifications())})

    # --- 1. firing -------------------------------------------------------

    def test_1_auth_failing_is_notified_to_the_mail_pager(self):
        n = self.firing()
        a = self.the_alert(n, "firing")
        labels = a["labels"]
        self.report("firing %s to %s (path %s): labels %s"
                    % (AUTH_ALERT, n.doc.get("receiver"), n.path,
                       json.dumps(labels, sort_keys=True)))
        self.assertEqual(n.doc.get("receiver"), self.expected_receiver)
        self.assertEqual(n.path, "/" + self.expected_receiver)
        want = dict(SCRAPE_LABELS, alertname=AUTH_ALERT, target=TARGET,
                    mechanism=MECHANISM, severity="critical", job=self.job,
                    instance=self.instance)
        self.assertEqual({k: labels.get(k) for k in want}, want)
        # Grouped by alertname and team, never by target.
        self.assertEqual(n.doc.get("groupLabels"),
                         {"alertname": AUTH_ALERT, "team": "mail"})
        entry = explain("535@auth")
        desc = words(a["annotations"].get("description", ""))
        self.assertGreater(len(entry["meaning"]), 20)
        self.assertIn(words(entry["meaning"]), desc)
        self.assertIn(words(entry["fix"]), desc)
        # A static summary: the same for every target, so a group's
        # notification has it in commonAnnotations.
        rule_summary = rule(AUTH_ALERT)["annotations"].get("summary", "")
        self.assertTrue(rule_summary)
        self.assertNotIn("{{", rule_summary)
        self.assertEqual(a["annotations"].get("summary"), rule_summary)
        self.assertEqual(n.doc["commonAnnotations"].get("summary"),
                         rule_summary)
        self.assert_no_secret_in_notifications()

    # --- 2. links --------------------------------------------------------

    def test_2_links_to_the_runbook_and_the_dashboard(self):
        a = self.the_alert(self.firing(), "firing")
        ann = a["annotations"]
        runbook = ann.get("runbook_url", "")
        self.report("runbook_url=%r dashboard_url=%r"
                    % (runbook, ann.get("dashboard_url")))
        self.assertTrue(runbook.startswith("http://%s/" % self.instance),
                        "runbook_url %r is not on the agent %s"
                        % (runbook, self.instance))
        self.assertTrue(runbook.endswith("/runbook#smtpauthfailing"),
                        runbook)
        dash = urllib.parse.urlsplit(ann.get("dashboard_url", ""))
        self.assertEqual((dash.scheme, dash.netloc), ("", ""),
                         "dashboard_url is a path under Grafana's root")
        self.assertEqual(dash.path, "/d/smtp-health-agent/smtp-health-agent")
        query = urllib.parse.parse_qs(dash.query)
        self.assertEqual({k: query.get(k) for k in
                          ("var-job", "var-instance", "var-target")},
                         {"var-job": [self.job],
                          "var-instance": [self.instance],
                          "var-target": [TARGET]})

    # --- 3. resolved -----------------------------------------------------

    def test_3_resolved_once_the_password_is_fixed(self):
        fired = self.the_alert(self.firing(), "firing")
        harness.write_secret(self.agent.password_file, self.pf.password)
        self.agent.signal(signal.SIGHUP)
        t_fix = time.monotonic()
        self._mark("password fixed, SIGHUP")

        def resolved(n):
            return [a for a in alerts_of(n, AUTH_ALERT, "resolved",
                                         target=TARGET)
                    if a["labels"] == fired["labels"]]
        n = self.hook.wait_for(resolved, RESOLVE_TIMEOUT_S,
                               "%s for %s resolved" % (AUTH_ALERT, TARGET))
        self._mark("%s resolved notification" % AUTH_ALERT)
        self.report("time to resolve: %.1f s after the password fix"
                    % (n.received - t_fix))
        a = self.the_alert(n, "resolved")
        self.assertEqual(a["labels"], fired["labels"])
        self.assertEqual(n.doc.get("receiver"), self.expected_receiver)
        self.assertEqual(n.path, "/" + self.expected_receiver)
        self.assertEqual(n.doc.get("status"), "resolved")
        self.assertEqual(a["startsAt"], fired["startsAt"])
        self.assertNotEqual(a["endsAt"], fired["endsAt"])
        # The agent took the new password: probes of pf-auth succeed.
        _, samples = harness.scrape(self.agent.port)
        self.assertEqual(harness.metric(samples, "smtp_probe_success",
                                        target=TARGET), 1)
        self.assert_no_secret_in_notifications()

    # --- 4. inhibition ---------------------------------------------------

    def test_4_agent_down_or_absent_holds_back_its_targets_alerts(self):
        job, job2 = "am-inhibit-test", "am-inhibit-test-2"
        x, y, z = ("agent-x.test:9925", "agent-y.test:9925",
                   "agent-z.test:9925")

        def alert(name, job, instance, **labels):
            labels = dict(labels, alertname=name, severity="critical")
            labels.update({k: v for k, v in (("job", job),
                                             ("instance", instance)) if v})
            return {"labels": labels}

        def probe_failing(job, instance):
            return alert("SMTPProbeFailing", job, instance,
                         target="mx-" + instance[:7], stage="connect")
        # The causes first; once they are notified the inhibitor has them.
        # x is down, z is gone, no agent of job2 is left (an absence
        # without instance), and no agent at all (neither job nor
        # instance), which must hold back nothing.
        causes = [("SMTPAgentDown", job, x), ("SMTPAgentAbsent", job, z),
                  ("SMTPAgentAbsent", job2, None),
                  ("SMTPAgentAbsent", None, None)]
        self.am.post_alerts([alert(*c) for c in causes])
        for name, j, inst in causes:
            want = {k: v for k, v in (("job", j), ("instance", inst)) if v}
            self.hook.wait_for(
                lambda n: [a for a in alerts_of(n, name, "firing")
                           if {k: a["labels"].get(k) for k in
                               ("job", "instance")
                               if k in a["labels"]} == want],
                INHIBIT_TIMEOUT_S, "%s %s notified" % (name, want))
        self.am.post_alerts([
            probe_failing(job, x), probe_failing(job, y),
            probe_failing(job, z), probe_failing(job2, x),
            probe_failing(job2, y),
            # The agent's own alert (no target) is not held back.
            alert("SMTPAgentConfigReloadFailed", job, x),
        ])
        t_post = time.monotonic()
        state = {}
        held = [(job, x), (job, z), (job2, x), (job2, y)]

        def settled():
            state.clear()
            for j in (job, job2):
                for a in self.am.alerts('job="%s"' % j):
                    lbl = a["labels"]
                    state[(lbl["alertname"], j,
                           lbl.get("instance"))] = a["status"]
            return len(state) == 9 and all(
                s["state"] != "unprocessed" for s in state.values()) and \
                all(state[("SMTPProbeFailing",) + k]["inhibitedBy"]
                    for k in held)
        try:
            harness.wait_for(settled, INHIBIT_TIMEOUT_S, interval=0.2)
        except AssertionError:
            pass  # the assertions below say what differs
        self.report("inhibition: %s" % json.dumps(
            {" ".join(str(p) for p in k): [v["state"], len(v["inhibitedBy"])]
             for k, v in sorted(state.items(), key=str)}))

        def status(name, j, inst):
            self.assertIn((name, j, inst), state)
            return state[(name, j, inst)]
        for j, inst in held:
            with self.subTest(held=(j, inst)):
                s = status("SMTPProbeFailing", j, inst)
                self.assertTrue(s["inhibitedBy"])
                self.assertEqual(s["state"], "suppressed")
        for key in (("SMTPProbeFailing", job, y),
                    ("SMTPAgentConfigReloadFailed", job, x),
                    ("SMTPAgentDown", job, x), ("SMTPAgentAbsent", job, z),
                    ("SMTPAgentAbsent", job2, None)):
            with self.subTest(not_held=key):
                s = status(*key)
                self.assertEqual(s["inhibitedBy"], [])
                self.assertEqual(s["state"], "active")
        # y's alert is notified; the held-back ones, in the same group
        # (alertname, team), never.
        self.hook.wait_for(
            lambda n: alerts_of(n, "SMTPProbeFailing", job=job, instance=y),
            INHIBIT_TIMEOUT_S, "SMTPProbeFailing of %s notified" % y)
        self.hook.wait_for(
            lambda n: alerts_of(n, "SMTPAgentConfigReloadFailed", job=job,
                                instance=x),
            INHIBIT_TIMEOUT_S, "SMTPAgentConfigReloadFailed notified")
        self.report("inhibition settled %.1f s after the POST"
                    % (time.monotonic() - t_post))
        for n in self.hook.notifications():
            for j, inst in held:
                self.assertEqual(
                    alerts_of(n, "SMTPProbeFailing", job=j, instance=inst),
                    [], "the held-back alert of %s %s was notified"
                    % (j, inst))

    # --- 5. secrets ------------------------------------------------------

    def test_5_no_secret_anywhere(self):
        notifications = self.hook.notifications()
        self.assertTrue(notifications)
        outputs = {"notification %d to %s" % (i, n.path): n.body
                   for i, n in enumerate(notifications)}
        outputs["alertmanager /api/v2/alerts"] = self.am.alerts_raw()
        outputs["alertmanager log"] = self.am.log_text()
        outputs["prometheus /api/v1/alerts"] = json.dumps(self.prom.alerts())
        harness.assert_no_secret(self, self.secrets, outputs)
        self.report("no secret in %d notifications (%d bytes), the "
                    "alertmanager's alerts and log"
                    % (len(notifications),
                       sum(len(n.body) for n in notifications)))
        # The check can fail: PLAIN's message in a notification is found.
        plain = base64.b64encode(("\0%s\0%s" % (
            self.pf.username, WRONG_PASSWORD)).encode()).decode()
        leaky = notifications[0].body + plain.encode()
        with self.assertRaises(AssertionError):
            harness.assert_no_secret(self, self.secrets, {"leaky": leaky})


if __name__ == "__main__":
    unittest.main(verbosity=2)
