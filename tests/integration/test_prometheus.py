"""The bundled dashboards and alert rules, proved on a real Prometheus.

A Postfix and an aiosmtpd run on loopback; the agent probes five targets
every INTERVAL_S seconds: a good password (pf-good), a wrong one (pf-wrong,
535), a mechanism aiosmtpd does not offer (aio-cram, 504), a port where
nobody listens (refused) and Postfix's STARTTLS checked against the system
CA bundle, which does not know the test CA (pf-badcert: 220, 250, 220, then
the certificate fails: a TLS failure after EHLO 250, no AUTH). Debian's
Prometheus scrapes the agent every second and evaluates a test copy of
config/alerts.yml in which every `for:` is 0s (increase() windows are
kept: two samples are enough).

The agent runs with the default series (no extra_metrics): what a user
gets without options is what the dashboards and rules must work with.

Then:
 0. the scrape has the default series only: no family that only an
    extra_metrics option brings, duration buckets only at le="+Inf", no
    failure series for the good target, at most 32 series per target;
 1. every dashboard query, its variables substituted as Grafana would with
    All selected, returns at least one series from /api/v1/query, and the
    variable queries return the job, the instance and the five targets;
    the per-target status table shows each target's AUTH reply, and for a
    failing target the stage and the class or error of the failure, never
    "success" (pf-badcert's replies were all success); the availability,
    failure, AUTH ratio and reply panels return one series per target,
    per failing stage or error, per target and mechanism, per stage and
    code, with values in their range; a second agent, stopped, reads
    DOWN in Agents up and its target failing in Failing targets, never 0;
    the target links open each target's card on the agent's status page;
 2. every metric name a dashboard query or a rule uses is in the agent's
    scrape (or, like `up`, in Prometheus, or a counter that README's
    Metrics table says appears with its first count and none happened);
 3. the authentication alert fires for pf-wrong and not for pf-good; for
    aio-cram (CRAM-MD5, which aiosmtpd does not advertise and answers with
    504) the mechanism alert fires and the 504 alert does not (one page
    per cause); the probe-failing alert fires for refused with the stage
    (connect) in its labels or description; the probe-failing alert does
    not fire for the targets whose cause another alert names (pf-wrong,
    aio-cram, pf-badcert); pf-good fires nothing.
Each query with its series count and the alerts seen are printed to stderr.
"""

import glob
import json
import os
import re
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402
import prom  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_dashboard as dashboard_checks  # noqa: E402  (README's table)

REPO = harness.REPO
ALERTS_FILE = os.path.join(REPO, "config", "alerts.yml")
PROM_CONFIG_FILE = os.path.join(REPO, "config", "prometheus.yml")
DASHBOARD_DIR = os.path.join(REPO, "dashboards")
MAIN_DASHBOARD = "smtp-health-agent.json"
DEFAULT_JOB = "smtp-health-agent"

# Families a default target does not have (README, "by default").
OPTION_ONLY = {"smtp_last_reply_code": "last_reply_codes",
               "smtp_ehlo_extension": "ehlo_extensions",
               "smtp_tls_cert_info": "cert_details",
               "smtp_tls_leaf_cert_not_before_timestamp_seconds":
                   "cert_details"}
SERIES_BUDGET = 32  # per STARTTLS + AUTH target, DESIGN.md

# The alerts of config/alerts.yml that item 3 checks.
AUTH_ALERT = "SMTPAuthFailing"
UNSUPPORTED_ALERT = "SMTPAuthMechanismUnsupported"
NOT_ADVERTISED_ALERT = "SMTPAuthMechanismNotAdvertised"
PROBE_FAILING_ALERT = "SMTPProbeFailing"

# Series that Prometheus makes itself, not the agent.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                     "scrape_samples_post_metric_relabeling",
                     "scrape_series_added", "ALERTS", "ALERTS_FOR_STATE"}

INTERVAL_S = 2
SCRAPE_INTERVAL = "1s"
ALERT_TIMEOUT_S = 60
QUERY_TIMEOUT_S = 20

# Grafana's built-in variables, for a 1 s scrape interval: $__rate_interval
# is at least 4 scrape intervals; the dashboard range is the last 5 minutes.
# A panel's minimum interval changes them: see panel_builtins().
BUILTINS = {"__rate_interval": "1m", "__interval": "15s",
            "__interval_ms": "15000", "__range": "5m", "__range_s": "300",
            "__range_ms": "300000"}
# The Prometheus data source's "Scrape interval" when unset: Grafana's.
GRAFANA_SCRAPE_S = 15

CONFIG = """
[agent]
interval = %(interval)ds
timeout = 1500ms
log_level = info
; An empty targets file (written before the agent starts): no target,
; but the file's own series, which an alert rule reads.
targets_file = @DIR@/targets/*.json

[target "pf-good"]
host = 127.0.0.1
port = %(pf)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN
username = %(pf_user)s
password_file = @PASSWORD_FILE@

[target "pf-wrong"]
host = 127.0.0.1
port = %(pf)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN
username = %(pf_user)s
password_env = WRONG_PASSWORD

; aiosmtpd offers only PLAIN and LOGIN: CRAM-MD5 gets a real 504.
[target "aio-cram"]
host = 127.0.0.1
port = %(aio)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = CRAM-MD5
username = %(aio_user)s
password_env = AIO_PASSWORD
; A refusal check that passes: smtp_check_success in the scrape.
require_ehlo = 8BITMIME SIZE>=1

[target "refused"]
host = 127.0.0.1
port = %(refused)d
tls = none

; The default ca_file (the system bundle) does not know the test CA.
[target "pf-badcert"]
host = 127.0.0.1
port = %(pf)d
server_name = localhost
"""

TARGETS = ("pf-good", "pf-wrong", "aio-cram", "refused", "pf-badcert")
WRONG_PASSWORD = "fixture-wrong-pw-prom-3"

PROMETHEUS_CONFIG = """
global:
  scrape_interval: %(scrape)s
  scrape_timeout: %(scrape)s
  evaluation_interval: 1s
rule_files:
  - "@DIR@/alerts.yml"
scrape_configs:
  - job_name: "%(job)s"
    static_configs:
      - targets: ["%(agent)s"]
"""

# test_1f: a second agent with one good target, scraped by a second
# Prometheus without rules, then stopped.
SECOND_AGENT_CONFIG = CONFIG.split('\n[target "pf-wrong"]')[0].replace(
    '[target "pf-good"]', '[target "pf-good-2"]')

PROMETHEUS_NO_RULES_CONFIG = PROMETHEUS_CONFIG.replace(
    "  evaluation_interval: 1s\nrule_files:\n  - \"@DIR@/alerts.yml\"\n", "")
assert "rule_files" not in PROMETHEUS_NO_RULES_CONFIG
assert '"pf-good-2"' in SECOND_AGENT_CONFIG and "pf-wrong" not in \
    SECOND_AGENT_CONFIG

# --- the rule file and the scrape config -----------------------------------

_FOR_RE = re.compile(r"^(\s*(?:-\s+)?)for:\s*\S+[ \t]*(#.*)?$", re.M)
_ALERT_RE = re.compile(r"^\s*(?:-\s+)?alert:\s*\S", re.M)


def rules_test_copy(text):
    """The rule file with every `for:` set to 0s; (text, how many)."""
    return _FOR_RE.subn(r"\1for: 0s", text)


def job_name():
    """The job name of config/prometheus.yml (the rules assume it)."""
    try:
        with open(PROM_CONFIG_FILE) as f:
            m = re.search(r"job_name:\s*[\"']?([^\"'\s#]+)", f.read())
    except FileNotFoundError:
        m = None
    return m.group(1) if m else DEFAULT_JOB


# --- Grafana variable substitution -----------------------------------------

_VAR_RE = re.compile(r"\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]")
_PROM_SPECIAL = re.compile(r"[$^*{}\[\]'+?.()|]")
_KBN_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")


def _prom_regex_escape(value):
    # Grafana's prometheusSpecialRegexEscape: doubled backslashes, since the
    # result goes inside a PromQL string.
    return _PROM_SPECIAL.sub(lambda m: "\\\\" + m.group(0),
                             value.replace("\\", "\\\\\\\\"))


def _format(name, fmt, var, values):
    """The text Grafana's Prometheus datasource puts for a variable."""
    if var.get("_all") and var.get("allValue"):
        return var["allValue"]
    if fmt is None:  # the datasource's interpolateQueryExpr
        if not var.get("multi") and not var.get("includeAll"):
            return values[0].replace("\\", "\\\\").replace("'", "\\\\'")
        esc = [_prom_regex_escape(v) for v in values]
        return esc[0] if len(esc) == 1 else "(%s)" % "|".join(esc)
    if fmt == "regex":
        esc = [_KBN_SPECIAL.sub(lambda m: "\\" + m.group(0), v)
               for v in values]
        return esc[0] if len(esc) == 1 else "(%s)" % "|".join(esc)
    if fmt == "pipe":
        return "|".join(values)
    if fmt in ("raw", "csv", "text"):
        return ",".join(values)
    raise AssertionError("${%s:%s}: format not emulated by this test"
                         % (name, fmt))


def duration_s(text):
    """Seconds of a Prometheus/Grafana duration such as "5m" or "1h30m"."""
    seconds = dashboard_checks.duration_s(text)
    if not seconds:
        raise AssertionError("not a duration: %r" % text)
    return seconds


def panel_builtins(panel):
    """Grafana's built-ins for one panel. Its minimum interval (the
    panel's "interval", query options) is a floor under $__interval, and
    $__rate_interval = max($__interval + scrape interval, 4 x scrape
    interval) with the data source's scrape interval (Grafana's 15 s when
    unset); without one, BUILTINS."""
    if not panel.get("interval"):
        return BUILTINS
    interval = max(duration_s(panel["interval"]),
                   duration_s(BUILTINS["__interval"]))
    rate = max(interval + GRAFANA_SCRAPE_S, 4 * GRAFANA_SCRAPE_S)
    return dict(BUILTINS, __interval="%ds" % interval,
                __interval_ms=str(interval * 1000),
                __rate_interval="%ds" % rate)


def interpolate(expr, variables, selected, builtins=None):
    """expr with Grafana's built-ins and the dashboard variables replaced.

    variables: name -> templating entry (with "_all" when All is chosen);
    selected: name -> list of values; builtins: panel_builtins() of the
    query's panel (default BUILTINS)."""
    builtins = builtins or BUILTINS

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(5)
        if name in builtins:
            return builtins[name]
        if name.isdigit():  # $1 of label_replace: Grafana leaves it
            return m.group(0)
        if name not in variables:
            raise AssertionError("unknown variable $%s in %r" % (name, expr))
        values = selected.get(name)
        if not values:
            raise AssertionError("variable $%s has no value" % name)
        return _format(name, fmt, variables[name], values)
    return _VAR_RE.sub(repl, expr)


def variable_query(var):
    q = var.get("query")
    if isinstance(q, dict):
        q = q.get("query")
    return q or var.get("definition") or ""


_LABEL_VALUES_RE = re.compile(r"^\s*label_values\(\s*(?:(.*)\s*,)?\s*(\w+)\s*\)\s*$",
                              re.S)


def apply_regex(var, values):
    """A Grafana variable's `regex` filter (/re/), capture group if any."""
    rx = var.get("regex") or ""
    if not rx:
        return values
    m = re.fullmatch(r"/(.*)/([a-z]*)", rx, re.S)
    pattern = re.compile(m.group(1) if m else rx,
                         re.I if m and "i" in m.group(2) else 0)
    out = []
    for v in values:
        hit = pattern.search(v)
        if hit:
            out.append(hit.group(1) if hit.groups() else v)
    return out


# --- dashboards ------------------------------------------------------------

def walk_panels(panels, path=()):
    """(title path, panel) of every panel, rows' nested panels included."""
    for p in panels or []:
        here = path + (p.get("title") or "(untitled %s)" % p.get("type"),)
        yield here, p
        yield from walk_panels(p.get("panels"), here)


def dashboard_queries(dash):
    """[(panel path, refId, expr, panel)] of every panel target with an
    expr."""
    found = []
    for path, panel in walk_panels(dash.get("panels")):
        for t in panel.get("targets") or []:
            if t.get("expr"):
                found.append((" / ".join(path), t.get("refId", "?"),
                              t["expr"], panel))
    return found


# --- PromQL metric names ---------------------------------------------------

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
             "and", "or", "unless", "offset", "bool", "inf", "nan", "atan2",
             "start", "end"}


def metric_names(expr):
    """The metric names a PromQL expression selects (not functions,
    keywords, label names or strings)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\{[^}]*\}", "{}", s)
    s = re.sub(r"\[[^\]]*\]", "[]", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*"
               r"\([^)]*\)", " ", s)
    s = re.sub(r"\boffset\s+-?\w+", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)", s):
        rest = s[m.end():].lstrip()
        if rest.startswith("(") or m.group(1).lower() in _KEYWORDS:
            continue
        names.add(m.group(1))
    return names


class LiveDashboardsAndAlerts(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.t0 = time.monotonic()
        cls.timings = {}
        # Class cleanups run last to first: this check runs after every
        # server below has been stopped, also when setup fails halfway.
        cls.addClassCleanup(cls._check_stopped)
        cls._start()

    @classmethod
    def _mark(cls, what):
        cls.timings[what] = time.monotonic() - cls.t0

    @classmethod
    def _start(cls):
        for path in (ALERTS_FILE, os.path.join(DASHBOARD_DIR, MAIN_DASHBOARD)):
            if not os.path.exists(path):
                raise AssertionError("missing %s" % path)
        with open(ALERTS_FILE) as f:
            cls.rules_text = f.read()
        cls.rules_copy, cls.for_count = rules_test_copy(cls.rules_text)
        cls.alert_count = len(_ALERT_RE.findall(cls.rules_text))
        cls.job = job_name()

        cls.pf = cls.enterClassContext(harness.postfix_server())
        cls.aio = cls.enterClassContext(harness.aiosmtpd(tls="starttls"))
        cls._mark("servers up")
        cls.secrets = cls._secret_forms()
        cfg = CONFIG % dict(interval=INTERVAL_S, pf=cls.pf.ports.starttls,
                            pf_user=cls.pf.username, aio=cls.aio.port,
                            aio_user=cls.aio.user,
                            refused=harness.free_port())
        env = dict(os.environ, WRONG_PASSWORD=WRONG_PASSWORD,
                   AIO_PASSWORD=cls.aio.password)
        agent = harness.run_agent(harness.agent_binary(), cfg,
                                  password=cls.pf.password, env=env)
        os.mkdir(os.path.join(agent.dir, "targets"))
        with open(os.path.join(agent.dir, "targets", "none.json"), "w") as f:
            f.write("[]\n")
        cls.agent = cls.enterClassContext(agent)
        cls.instance = cls.agent.listen
        cls._mark("agent ready")
        cls.prom = cls.enterClassContext(prom.PrometheusServer(
            PROMETHEUS_CONFIG % dict(scrape=SCRAPE_INTERVAL, job=cls.job,
                                     agent=cls.instance),
            {"alerts.yml": cls.rules_copy}))
        cls._mark("prometheus ready")
        # Prometheus has scraped every target's probe at least twice.
        harness.wait_for(lambda: len(cls.prom.query(
            'increase(smtp_probes_total{job="%s"}[1m]) > 0' % cls.job))
            == len(TARGETS), 30, interval=0.5,
            message="Prometheus to see every target probed again")
        cls._mark("every target probed, seen twice by prometheus")

    @classmethod
    def _secret_forms(cls):
        return (harness.secret_forms(cls.pf.username, cls.pf.password) +
                harness.secret_forms(cls.pf.username, WRONG_PASSWORD) +
                harness.secret_forms(cls.aio.user, cls.aio.password))

    @classmethod
    def _check_stopped(cls):
        if hasattr(cls, "prom"):
            left = harness.live_processes(cls.prom.process_pattern())
            if left:
                raise AssertionError("prometheus left running: %s" % left)
        cls.report("timings: %s; total %.1f s" % (
            ", ".join("%s %.1f s" % kv for kv in cls.timings.items()),
            time.monotonic() - cls.t0))

    @classmethod
    def report(cls, text):
        """Print to stderr, after checking no secret is in it."""
        for s in cls.secrets:
            if s in text:
                raise AssertionError("a secret would be printed")
        sys.stderr.write(text + "\n")

    # --- helpers ---------------------------------------------------------

    def dashboards(self):
        paths = sorted(glob.glob(os.path.join(DASHBOARD_DIR, "*.json")))
        self.assertIn(os.path.join(DASHBOARD_DIR, MAIN_DASHBOARD), paths)
        out = []
        for p in paths:
            with open(p) as f:
                out.append((os.path.basename(p), json.load(f)))
        return out

    def resolve_variables(self, dash, choose_all=True, server=None):
        """Evaluate the templating list in order; return (variables,
        selected, {name: (query, values)}). A multi-value variable gets
        "All" (its allValue, if any) with choose_all, else every value
        ticked one by one (Grafana's "(a|b)" regex); others their first.
        server: the Prometheus to ask (default the class's)."""
        server = server or self.prom
        variables, selected, evaluated = {}, {}, {}
        for var in dash.get("templating", {}).get("list", []):
            name, kind = var["name"], var.get("type")
            var = dict(var)
            variables[name] = var
            if kind == "datasource":
                self.assertEqual(var.get("query"), "prometheus", name)
                selected[name] = ["prometheus-test"]
                continue
            if kind == "query":
                q = interpolate(variable_query(var), variables, selected)
                m = _LABEL_VALUES_RE.match(q)
                if not m:
                    self.fail("variable %s: query %r is not label_values(); "
                              "not emulated" % (name, q))
                values = server.label_values(m.group(2),
                                                m.group(1) or None)
                values = apply_regex(var, values)
                evaluated[name] = (q, values)
            elif kind in ("custom", "interval"):
                values = [o["value"] for o in var.get("options", [])
                          if o.get("value") != "$__all"]
            else:
                cur = (var.get("current") or {}).get("value")
                values = cur if isinstance(cur, list) else [cur or ""]
            if var.get("includeAll") and choose_all:
                var["_all"] = True
            elif not var.get("multi"):
                values = values[:1]
            selected[name] = values
        return variables, selected, evaluated

    # --- 0. the default series -------------------------------------------

    def test_0_agent_serves_the_default_series(self):
        self.assertNotIn("extra_metrics", CONFIG)
        _, samples = harness.scrape(self.agent.port)
        names = {name for name, _ in samples}
        for name, word in OPTION_ONLY.items():
            self.assertNotIn(name, names, "%s needs extra_metrics = %s"
                             % (name, word))
        les = {dict(lbl)["le"] for lbl in harness.series(
            samples, "smtp_probe_duration_seconds_bucket")}
        self.assertEqual(les, {"+Inf"})
        # pf-good never failed: no failure series, and of the errors only
        # the one SMTPStartTLSUnavailable fires on at once.
        self.assertEqual(harness.series(samples, "smtp_probe_failures_total",
                                         target="pf-good"), {})
        self.assertEqual(
            {dict(lbl)["error"] for lbl in harness.series(
                samples, "smtp_probe_errors_total", target="pf-good")},
            {"starttls_unavailable"})
        per_target = {t: 0 for t in TARGETS}
        for name, lbl in samples:
            t = dict(lbl).get("target")
            # The refusal checks are opt-in (aio-cram's require_ehlo):
            # outside the default budget.
            if t in per_target and not name.startswith("smtp_check_"):
                per_target[t] += 1
        self.report("series per target (default): %s" % json.dumps(
            per_target, sort_keys=True))
        for t, n in per_target.items():
            with self.subTest(target=t):
                self.assertLessEqual(n, SERIES_BUDGET)
        # STARTTLS + AUTH PLAIN against Postfix, the README's first column.
        self.assertEqual(per_target["pf-good"], 31)

    # --- 1. dashboard queries --------------------------------------------

    def test_1a_variable_queries_return_the_job_instance_and_targets(self):
        for fname, dash in self.dashboards():
            variables, _, evaluated = self.resolve_variables(dash)
            self.assertIn("datasource", variables, fname)
            for name in ("job", "instance", "target"):
                self.assertIn(name, evaluated, "%s: no query variable %s"
                              % (fname, name))
            expect = {"job": {self.job}, "instance": {self.instance},
                      "target": set(TARGETS)}
            for name, (q, values) in evaluated.items():
                self.report("%s: variable %s = %s  <- %s"
                            % (fname, name, sorted(values), q))
                if name in expect:
                    with self.subTest(dashboard=fname, variable=name):
                        self.assertEqual(set(values), expect[name], q)

    def test_1b_every_dashboard_query_returns_series_all_selected(self):
        self.check_dashboard_queries(choose_all=True)

    def test_1c_every_dashboard_query_returns_series_each_value(self):
        self.check_dashboard_queries(choose_all=False)

    def check_dashboard_queries(self, choose_all):
        mode = "All" if choose_all else "each value"
        for fname, dash in self.dashboards():
            variables, selected, _ = self.resolve_variables(dash, choose_all)
            queries = dashboard_queries(dash)
            self.assertTrue(queries, "%s has no queries" % fname)
            exprs, bad = [], {}
            for p, r, e, panel in queries:
                try:
                    exprs.append((p, r, interpolate(e, variables, selected,
                                                    panel_builtins(panel))))
                except AssertionError as err:
                    bad[(p, r)] = str(err)
                    exprs.append((p, r, e))
            counts = {}

            def all_nonempty():
                for path, ref, expr in exprs:
                    if (path, ref) not in bad and not counts.get(expr):
                        counts[expr] = len(self.prom.query(expr))
                return all(counts.values())
            try:
                harness.wait_for(all_nonempty, QUERY_TIMEOUT_S, interval=1)
            except AssertionError:
                pass  # the per-query assertions below say which
            self._mark("%d queries of %s checked (%s)"
                       % (len(exprs), fname, mode))
            for path, ref, expr in exprs:
                self.report("%s (%s): [%d series] %s %s: %s"
                            % (fname, mode, counts.get(expr, 0), path, ref,
                               " ".join(expr.split())))
            for path, ref, expr in exprs:
                with self.subTest(dashboard=fname, variables=mode,
                                  panel=path, refId=ref):
                    if (path, ref) in bad:
                        self.fail(bad[(path, ref)])
                    self.assertGreater(counts.get(expr, 0), 0,
                                       "no series for %s" % expr)

    def main_panel(self, title):
        dash = dict(self.dashboards())[MAIN_DASHBOARD]
        panels = [p for _, p in walk_panels(dash.get("panels"))
                  if p.get("title") == title]
        self.assertEqual(len(panels), 1, title)
        return dash, panels[0]

    def panel_queries(self, title, choose_all=True, server=None, **pick):
        """{refId: expr} of the main dashboard's panel `title`,
        variables substituted (pick: name=[values] ticked instead)."""
        dash, panel = self.main_panel(title)
        variables, selected, _ = self.resolve_variables(dash, choose_all,
                                                        server)
        for name, values in pick.items():
            variables[name].pop("_all", None)
            selected[name] = values
        return {t["refId"]: interpolate(t["expr"], variables, selected,
                                        panel_builtins(panel))
                for t in panel["targets"]}

    def column(self, expr, label):
        """{target: its `label`} of an instant query (one row a target)."""
        rows = self.prom.query(expr)
        out = {r["metric"]["target"]: r["metric"].get(label) for r in rows}
        self.assertEqual(len(out), len(rows), "one row per target: %s"
                         % expr)
        return out

    def test_1d_status_table_shows_each_targets_reply(self):
        """The per-target status table's reply columns, from
        smtp_replies_total, say what each target answered; its Failed at
        and Class / error columns say why a failing target fails, and a
        failing row never reads "success"."""
        exprs = self.panel_queries("Per-target status")
        now = self.panel_queries("Failing targets now")
        want_auth = {"pf-good": "235 success", "pf-wrong": "535 auth_failed",
                     "aio-cram": "504 unsupported_parameter"}
        want_class = {"pf-good": "success", "pf-wrong": "auth_failed",
                      "aio-cram": "unsupported_parameter",
                      "refused": "connect", "pf-badcert": "certificate"}
        want_stage = {"pf-wrong": "auth", "aio-cram": "auth",
                      "refused": "connect", "pf-badcert": "tls"}
        failing = set(want_stage)
        got = {}

        def ready():
            got["success"] = {
                r["metric"]["target"]: r["value"][1]
                for r in self.prom.query(exprs["success"])}
            got["auth"] = self.column(exprs["code_auth"], "reply_auth")
            got["class"] = self.column(exprs["class"], "class")
            got["stage"] = self.column(exprs["stage"], "stage")
            for stage in ("greeting", "ehlo", "starttls"):
                got[stage] = self.column(exprs["code_" + stage],
                                         "reply_" + stage)
            got["now class"] = self.column(now["class"], "class")
            got["now stage"] = self.column(now["stage"], "stage")
            return (got["auth"] == want_auth and
                    got["class"] == want_class and
                    got["stage"] == want_stage and
                    got["now class"] == {t: want_class[t] for t in failing})
        try:
            harness.wait_for(ready, QUERY_TIMEOUT_S, interval=1)
        except AssertionError:
            pass  # the assertions below say what differs
        self.report("status table: %s" % json.dumps(got, sort_keys=True))
        self.assertEqual(got["success"], {t: "0" if t in failing else "1"
                                          for t in TARGETS})
        self.assertEqual(got["auth"], want_auth)
        self.assertEqual(got["class"], want_class)
        self.assertEqual(got["stage"], want_stage)
        # A failing row never reads success, whatever its replies were:
        # pf-badcert's greeting, EHLO and STARTTLS all succeeded.
        for t in failing:
            self.assertNotEqual(got["class"][t], "success", t)
        for stage, reply in (("greeting", "220 success"),
                             ("ehlo", "250 success"),
                             ("starttls", "220 success")):
            self.assertEqual(got[stage]["pf-badcert"], reply, stage)
        self.assertEqual(got["greeting"], {
            t: "220 success" for t in TARGETS if t != "refused"})
        # Failing targets now: the same stage and reason, failing rows only.
        self.assertEqual(got["now class"], {t: want_class[t]
                                            for t in failing})
        self.assertEqual(got["now stage"], want_stage)

    def rows(self, expr):
        """[(labels without job and instance, value)] of an instant
        query."""
        out = []
        for r in self.prom.query(expr):
            labels = {k: v for k, v in r["metric"].items()
                      if k not in ("job", "instance")}
            out.append((labels, float(r["value"][1])))
        return out

    def test_1e_new_panels_return_data_of_the_expected_shape(self):
        """Availability: one series per target, a share in [0, 1]; failure
        reasons: one series per failing target and stage or error; AUTH
        success ratio: one per target and mechanism, in [0, 1]; replies:
        one per stage, code and class; probe phases: one per phase."""
        failing = {"pf-wrong", "aio-cram", "refused", "pf-badcert"}
        want_stage = {("pf-wrong", "auth"), ("aio-cram", "auth"),
                      ("refused", "connect"), ("pf-badcert", "tls")}
        want_error = {("refused", "connect"), ("pf-badcert", "certificate")}
        want_ratio = {("pf-good", "PLAIN"): 1.0, ("pf-wrong", "PLAIN"): 0.0,
                      ("aio-cram", "CRAM-MD5"): 0.0}
        want_replies = {("greeting", "220", "success"),
                        ("ehlo", "250", "success"),
                        ("starttls", "220", "success"),
                        ("auth", "235", "success"),
                        ("auth", "535", "auth_failed"),
                        ("auth", "504", "unsupported_parameter"),
                        ("quit", "221", "success")}
        avail = self.panel_queries("Availability by target")
        stage = self.panel_queries("Failed probes by stage")["A"]
        error = self.panel_queries("Failures without a reply, by error")["A"]
        ratio = self.panel_queries("AUTH success ratio by mechanism")["A"]
        replies = self.panel_queries("Replies by stage and code")["A"]
        got = {}

        def ready():
            got["avail"] = {ref: self.rows(e) for ref, e in avail.items()}
            got["stage"] = self.rows(stage)
            got["error"] = self.rows(error)
            got["ratio"] = self.rows(ratio)
            got["replies"] = self.rows(replies)
            return ({(r["target"], r["stage"]) for r, _ in got["stage"]}
                    == want_stage and
                    {(r["target"], r["error"]) for r, _ in got["error"]}
                    == want_error and
                    {(r["target"], r["mechanism"]): v
                     for r, v in got["ratio"]} == want_ratio and
                    want_replies <= {(r["stage"], r["code"], r["class"])
                                     for r, _ in got["replies"]})
        try:
            harness.wait_for(ready, QUERY_TIMEOUT_S, interval=1)
        except AssertionError:
            pass  # the assertions below say what differs
        self.report("new panels: %s" % json.dumps(got, sort_keys=True))
        self.assertEqual(set(avail), {"range", "d30"})
        for ref, rows in got["avail"].items():
            with self.subTest(availability=ref):
                self.assertEqual(sorted(r["target"] for r, _ in rows),
                                 sorted(TARGETS), "one series per target")
                for labels, v in rows:
                    self.assertEqual(set(labels), {"target"})
                    self.assertTrue(0 <= v <= 1, (labels, v))
                    if labels["target"] in failing:
                        self.assertEqual(v, 0, labels)
                    else:  # a scrape may precede its first probe
                        self.assertGreater(v, 0.5, labels)
        for name, label, want in (("stage", "stage", want_stage),
                                  ("error", "error", want_error)):
            with self.subTest(failures=name):
                rows = got[name]
                self.assertEqual([set(r) for r, _ in rows],
                                 [{"target", label}] * len(rows))
                self.assertEqual({(r["target"], r[label]) for r, _ in rows},
                                 want)
                self.assertEqual(len(rows), len(want))
                for labels, v in rows:
                    self.assertGreater(v, 0, labels)
        with self.subTest("AUTH success ratio"):
            rows = got["ratio"]
            self.assertEqual(len(rows), len(want_ratio))
            for labels, v in rows:
                self.assertEqual(set(labels), {"target", "mechanism"})
                self.assertTrue(0 <= v <= 1, (labels, v))
            self.assertEqual({(r["target"], r["mechanism"]): v
                              for r, v in rows}, want_ratio)
        with self.subTest("replies"):
            rows = got["replies"]
            seen = set()
            for labels, v in rows:
                self.assertEqual(set(labels), {"stage", "code", "class"})
                self.assertIn(labels["stage"], ("greeting", "ehlo",
                                                "starttls", "auth", "quit"))
                self.assertRegex(labels["code"], r"^[2-5][0-9][0-9]$")
                self.assertGreater(v, 0, labels)
                seen.add((labels["stage"], labels["code"], labels["class"]))
            self.assertEqual(len(seen), len(rows), "one per stage/code/class")
            self.assertLessEqual(want_replies, seen)
        with self.subTest("probe phases"):  # one panel, phase as series
            rows = self.rows(self.panel_queries("Probe phases")["A"])
            self.assertEqual(sorted(r["phase"] for r, _ in rows), sorted(
                ["resolve", "connect", "banner", "ehlo", "starttls",
                 "auth"]))
            for labels, v in rows:
                self.assertEqual(set(labels), {"phase"})
                self.assertTrue(0 <= v < 10, (labels, v))

    def test_1f_overview_stats_when_an_agent_stops(self):
        """A second agent, scraped by a second Prometheus: while it runs,
        Agents up reads 1 (UP) and Failing targets 0; once it stopped,
        Agents up reads 0 (DOWN) and Failing targets counts its target,
        never a reassuring 0; with nothing selected the stat has no
        series at all (Grafana shows "No data"), never 0."""
        cfg = SECOND_AGENT_CONFIG % dict(interval=INTERVAL_S,
                                         pf=self.pf.ports.starttls,
                                         pf_user=self.pf.username)
        titles = ("Agents up", "Failing targets", "Targets probed")
        with harness.run_agent(harness.agent_binary(), cfg,
                               password=self.pf.password) as agent, \
                prom.PrometheusServer(PROMETHEUS_NO_RULES_CONFIG % dict(
                    scrape=SCRAPE_INTERVAL, job=self.job,
                    agent=agent.listen)) as server:
            exprs = {}

            def stats():
                if not exprs:  # the variables need the first scrape
                    exprs.update({t: self.panel_queries(t, server=server)
                                  ["A"] for t in titles})
                return {t: sorted((r["metric"].get("instance"),
                                   float(r["value"][1]))
                                  for r in server.query(e))
                        for t, e in exprs.items()}
            seen = {}

            def running():
                seen["running"] = stats()
                return seen["running"] == {
                    "Agents up": [(agent.listen, 1.0)],
                    "Failing targets": [(None, 0.0)],
                    "Targets probed": [(None, 1.0)]}

            def stopped():
                seen["stopped"] = stats()
                return seen["stopped"]["Agents up"] == [(agent.listen, 0.0)]
            try:
                harness.wait_for(running, QUERY_TIMEOUT_S, interval=0.5)
            except AssertionError:
                self.fail("second agent running: %s" % seen)
            agent.stop()
            try:
                harness.wait_for(stopped, QUERY_TIMEOUT_S, interval=0.5)
            except AssertionError:
                self.fail("second agent stopped: %s" % seen)
            nothing = self.panel_queries("Failing targets", server=server,
                                         target=["no-such-target"])["A"]
            seen["nothing selected"] = server.query(nothing)
            self.report("overview stats: %s" % json.dumps(seen,
                                                          sort_keys=True))
            self.assertEqual(seen["stopped"], {
                "Agents up": [(agent.listen, 0.0)],
                "Failing targets": [(None, 1.0)],
                "Targets probed": []})
            self.assertEqual(seen["nothing selected"], [])

    def test_1g_target_links_open_the_targets_card(self):
        """The data links, filled in from a query's labels as Grafana
        would, open each target's card on the agent's status page."""
        _, table = self.main_panel("Per-target status")
        _, chart = self.main_panel("Failed probes by stage")
        table_url = [pr["value"][0]["url"]
                     for o in table["fieldConfig"]["overrides"]
                     if o["matcher"]["options"] == "Target"
                     for pr in o["properties"] if pr["id"] == "links"][0]
        chart_url = chart["fieldConfig"]["defaults"]["links"][0]["url"]
        urls = set()
        for r in self.prom.query(
                self.panel_queries("Per-target status")["success"]):
            urls.add(re.sub(r"\$\{__data\.fields\.(\w+)\}",
                            lambda m: r["metric"][m.group(1)], table_url))
        for r in self.prom.query(
                self.panel_queries("Failed probes by stage")["A"]):
            urls.add(re.sub(r"\$\{__field\.labels\.(\w+)\}",
                            lambda m: r["metric"][m.group(1)], chart_url))
        want = {"http://%s/?target=%s" % (self.instance, t) for t in TARGETS}
        self.assertEqual(urls, want)
        for url in sorted(urls) + ["http://%s/?target=no-such-target"
                                   % self.instance]:
            with self.subTest(url=url):
                u = urllib.parse.urlsplit(url)
                status, _, body = harness.http_get(u.port, "/?" + u.query,
                                                   host=u.hostname)
                name = urllib.parse.parse_qs(u.query)["target"][0]
                if name == "no-such-target":
                    self.assertEqual(status, 404)
                    continue
                self.assertEqual(status, 200)
                # Its card alone (the page's <h2> of a target card).
                self.assertEqual(re.findall(rb"<h2>([^<]*)</h2>", body),
                                 [name.encode()])
        self.report("status page links: %s" % " ".join(sorted(urls)))

    # --- 2. metric names -------------------------------------------------

    def test_2_every_metric_name_used_exists(self):
        _, samples = harness.scrape(self.agent.port)
        scraped = {name for name, _ in samples}
        # The /probe pattern's rule reads what /probe answers.
        status, _, body = harness.http_get(self.agent.port,
                                           "/probe?target=pf-good")
        self.assertEqual(status, 200, body)
        scraped |= {name for name, _ in
                    harness.parse_metrics(body.decode("utf-8"))}
        rules = self.prom.rules()
        recorded = {r["name"] for r in rules if r["type"] == "recording"}
        uses = {}
        for fname, dash in self.dashboards():
            # Variables stand in label values and ranges: any text will do.
            exprs = []
            for v in dash.get("templating", {}).get("list", []):
                if v.get("type") == "query":  # label_values(selector, label)
                    m = _LABEL_VALUES_RE.match(variable_query(v))
                    exprs.append(m.group(1) or "" if m else "")
            exprs += [q[2] for q in dashboard_queries(dash)]
            for e in exprs:
                for n in metric_names(_VAR_RE.sub("0", e)):
                    uses.setdefault(n, set()).add(fname)
        for r in rules:
            for n in metric_names(r["query"]):
                uses.setdefault(n, set()).add("rule " + r["name"])
        self.assertTrue(uses)
        from_agent = sorted(n for n in uses if n in scraped)
        elsewhere = sorted(n for n in uses if n not in scraped)
        self.report("metric names used (%d) found in the agent's scrape: %s"
                    % (len(from_agent), " ".join(from_agent)))
        # Counters that appear with their first count (README: "from
        # ..."): a query of one must work without it (e.g. `or 0`), as
        # test_1b proves for the dashboards.
        later = {}
        for cells in dashboard_checks.readme_metrics_rows():
            for name in re.findall(r"`([a-z_:][a-z0-9_:]*)`", cells[0]):
                if cells[3].startswith("from "):
                    later[name] = cells[3]
        self.assertIn("smtp_agent_probes_skipped_total", later)
        for n in elsewhere:
            with self.subTest(metric=n, used_by=sorted(uses[n])):
                if n in later:
                    self.report("metric name %s: none counted yet (README: "
                                "%s)" % (n, later[n]))
                    continue
                # `up`, ALERTS and recording rules come from Prometheus.
                self.assertTrue(n in PROMETHEUS_SERIES or n in recorded,
                                "%s (used by %s) is not in the agent's "
                                "scrape" % (n, ", ".join(sorted(uses[n]))))
                self.assertTrue(self.prom.query(n),
                                "%s has no series in Prometheus" % n)
                self.report("metric name %s: from Prometheus" % n)

    # --- 3. alerts -------------------------------------------------------

    def test_3a_test_copy_of_the_rules_is_loaded_with_short_for(self):
        self.assertGreater(self.alert_count, 0)
        rules = self.prom.rules()
        alerting = [r for r in rules if r["type"] == "alerting"]
        self.assertEqual(len(alerting), self.alert_count,
                         "Prometheus loaded %d alerts, the file has %d"
                         % (len(alerting), self.alert_count))
        for r in alerting:
            with self.subTest(alert=r["name"]):
                self.assertEqual(r["duration"], 0)
                self.assertEqual(r["health"], "ok", r.get("lastError"))
        names = {r["name"] for r in alerting}
        for a in (AUTH_ALERT, UNSUPPORTED_ALERT, NOT_ADVERTISED_ALERT,
                  PROBE_FAILING_ALERT):
            self.assertIn(a, names)
        self.report("rules: %d alerts, %d `for:` set to 0s in the test copy"
                    % (len(alerting), self.for_count))

    def test_3b_alerts_fire_for_the_right_targets(self):
        def firing():
            out = {}
            for a in self.prom.alerts():
                if a["state"] == "firing":
                    out.setdefault(a["labels"]["alertname"], []).append(a)
            return out

        def targets_of(alerts, name):
            return {a["labels"].get("target") for a in alerts.get(name, [])}

        def connect_stage(a):
            # The stage as a label, or else named in the description (the
            # summary is static).
            desc = a.get("annotations", {}).get("description", "")
            return a["labels"].get("target") == "refused" and (
                a["labels"].get("stage") == "connect" if "stage" in
                a["labels"] else re.search(r"at stage\s+connect\b", desc))

        missing = []

        def ready():
            alerts = firing()
            conds = {
                "auth alert for pf-wrong":
                    "pf-wrong" in targets_of(alerts, AUTH_ALERT),
                "mechanism alert for aio-cram":
                    "aio-cram" in targets_of(alerts, NOT_ADVERTISED_ALERT),
                "probe-failing alert for refused (connect)":
                    any(connect_stage(a)
                        for a in alerts.get(PROBE_FAILING_ALERT, [])),
            }
            for what, ok in conds.items():
                if ok and what not in self.timings:
                    self._mark(what)
            missing[:] = [what for what, ok in conds.items() if not ok]
            return alerts if not missing else None

        try:
            harness.wait_for(ready, ALERT_TIMEOUT_S, interval=0.5)
        except AssertionError:
            self.fail("after %d s, not firing: %s; firing: %s"
                      % (ALERT_TIMEOUT_S, "; ".join(missing), sorted(
                          (n, a["labels"].get("target"),
                           a["labels"].get("stage"))
                          for n, lst in firing().items() for a in lst)))
        # Two more evaluations: the good target must still be silent.
        time.sleep(2)
        alerts = firing()
        pending = [a for a in self.prom.alerts() if a["state"] != "firing"]
        for name in sorted(alerts):
            for a in alerts[name]:
                labels = {k: v for k, v in a["labels"].items()
                          if k != "alertname"}
                self.report("firing %s %s summary=%r"
                            % (name, json.dumps(labels, sort_keys=True),
                               a.get("annotations", {}).get("summary")))
        self.assertEqual(pending, [], "for: is 0s: nothing stays pending")
        self.assertEqual(targets_of(alerts, AUTH_ALERT), {"pf-wrong"})
        # 504 to a mechanism the server does not advertise: the mechanism
        # alert names the cause, the 504 alert stays quiet.
        self.assertEqual(targets_of(alerts, NOT_ADVERTISED_ALERT),
                         {"aio-cram"})
        self.assertEqual(targets_of(alerts, UNSUPPORTED_ALERT), set())
        # One page per cause: availability only where no alert names it.
        self.assertEqual(targets_of(alerts, PROBE_FAILING_ALERT), {"refused"})
        self.assertEqual(targets_of(alerts, "SMTPCertificateInvalid"),
                         {"pf-badcert"})
        self.assertTrue(any(connect_stage(a)
                            for a in alerts[PROBE_FAILING_ALERT]))
        # The good target fires nothing at all.
        for name, lst in alerts.items():
            self.assertNotIn("pf-good", {a["labels"].get("target")
                                         for a in lst}, name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
