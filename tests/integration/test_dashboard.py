"""The bundled Grafana dashboards (dashboards/*.json), checked without Grafana.

1. Schema: tests/dashboards/validate.js checks every dashboard against JSON
   schemas generated from the pinned @grafana/schema package's TypeScript
   types (ts-json-schema-generator + ajv; node_modules installed by
   tests/dashboards/setup.sh). The test fails when the validation fails,
   and proves the validator is not a no-op by feeding it broken copies.
2. Content: variables, titles, descriptions, units, data sources, only
   core panels, and every PromQL expression: each metric selector is
   filtered by $job and $instance (and $target when the metric has a
   target label), uses only label names the metric has (README "Metrics"
   table), rates use $__rate_interval, and only functions Prometheus 2.42
   knows appear; and no query needs a series that only an extra_metrics
   option brings (README's "by default" column), so that every panel has
   data with the agent's default series.

No agent, no network. Run: /usr/bin/python3 tests/integration/test_dashboard.py
(test_prometheus.py runs the queries on a real Prometheus.)
"""

import copy
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
VALIDATOR = os.path.join(REPO, "tests", "dashboards", "validate.js")
NODE_MODULES = os.path.join(REPO, "tests", "dashboards", "node_modules")
VALIDATE_TIMEOUT = 120  # a first run generates the schemas (~5 s)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
CORE_PANELS = {"timeseries", "stat", "table", "bargauge", "gauge", "text",
               "row", "piechart", "state-timeline", "status-history",
               "barchart", "histogram", "heatmap"}
CORE_TRANSFORMATIONS = {"merge", "organize", "joinByField", "reduce",
                        "filterFieldsByName", "filterByValue", "sortBy",
                        "calculateField", "groupBy", "seriesToRows",
                        "renameByRegex", "labelsToFields", "concatenate"}
GRAFANA_VARS = {"job", "instance", "target", "__rate_interval", "__range",
                "__interval"}
# PromQL of Prometheus 2.42: functions and aggregation operators.
PROMQL_FUNCTIONS = set("""
abs absent absent_over_time ceil changes clamp clamp_max clamp_min
day_of_month day_of_week day_of_year days_in_month delta deriv exp floor
histogram_count histogram_sum histogram_fraction histogram_quantile
holt_winters hour idelta increase irate label_join label_replace ln log2
log10 minute month predict_linear rate resets round scalar sgn sort
sort_desc sqrt time timestamp vector year avg_over_time min_over_time
max_over_time sum_over_time count_over_time quantile_over_time
stddev_over_time stdvar_over_time last_over_time present_over_time
acos acosh asin asinh atan atanh cos cosh sin sinh tan tanh deg pi rad
sum min max avg group stddev stdvar count count_values bottomk topk quantile
""".split())
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left",
                   "group_right", "and", "or", "unless", "bool", "offset"}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left",
                       "group_right"}
SCRAPE_LABELS = {"job", "instance"}
# Series Prometheus makes itself that a query may use: their labels.
PROMETHEUS_METRICS = {"up": set()}
# Panels with $__rate_interval: their minimum interval, at least 5 probes
# of the default 60 s interval.
MIN_RATE_INTERVAL_S = 300


# --- helpers (also for the live test) --------------------------------------

def dashboard_files():
    return sorted(glob.glob(os.path.join(REPO, "dashboards", "*.json")))


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def all_panels(dash):
    """Every panel, rows and the panels inside rows included."""
    for p in dash.get("panels", []):
        yield p
        for q in p.get("panels", []) or []:
            yield q


def queries(dash):
    """(panel title, refId, expr, instant) of every panel query."""
    for p in all_panels(dash):
        for t in p.get("targets", []) or []:
            yield (p.get("title"), t.get("refId"), t.get("expr"),
                   bool(t.get("instant")) and not t.get("range"))


def variable_query(var):
    q = var.get("query")
    return q.get("query") if isinstance(q, dict) else q


def readme_metrics_rows():
    """The cells of every row of README.md's Metrics table: metric(s),
    type, labels, by default, meaning."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n## Metrics", 1)[1].split("\n## ", 1)[0]
    rows, in_table = [], False
    for line in section.splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "metric":  # the header of the metrics table
            in_table = True
            continue
        if in_table and "`" in cells[0]:
            rows.append(cells)
    if not rows:
        raise AssertionError("README's Metrics section has no table whose "
                             "first column is 'metric'")
    return rows


def readme_option_only():
    """{series name: the extra_metrics word it needs} for what a default
    target does not have: a family whose "by default" cell reads "only
    with `WORD`", and the buckets of a histogram whose cell says every
    bucket needs `WORD` (a default target keeps only le="+Inf")."""
    out = {}
    for cells in readme_metrics_rows():
        if len(cells) < 5:
            raise AssertionError("Metrics table row without a 'by default' "
                                 "column: %r" % cells)
        only = re.match(r"only with `([a-z_]+)`", cells[3])
        buckets = re.search(r"every bucket with `([a-z_]+)`", cells[3])
        for name in re.findall(r"`([a-z_:][a-z0-9_:]*)`", cells[0]):
            if only:
                out[name] = only.group(1)
            if buckets and cells[1] == "histogram":
                out[name + "_bucket"] = buckets.group(1)
    return out


def readme_metrics():
    """{metric name: set of labels} from README.md's Metrics table;
    histograms add _bucket (with le), _sum and _count."""
    out = {}
    for cells in readme_metrics_rows():
        labels = {x.strip() for x in cells[2].split(",") if x.strip()}
        for name in re.findall(r"`([a-z_:][a-z0-9_:]*)`", cells[0]):
            if cells[1] == "histogram":
                out[name + "_bucket"] = labels | {"le"}
                out[name + "_sum"] = labels
                out[name + "_count"] = labels
            else:
                out[name] = labels
    return out


_TOKEN = re.compile(r'''
    (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<var>\$\{?\w+\}?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=,(){}\[\]])
  | (?P<space>\s+)
  | (?P<bad>.)''', re.X)


def parse_promql(expr):
    """A small PromQL scanner, enough for the checks: returns
    (selectors, functions, ranges, variables, problems) where selectors is
    a list of (metric, {label: (op, value)})."""
    toks = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr)
            if m.lastgroup != "space"]
    selectors, functions, ranges, variables, problems = [], [], [], [], []
    for kind, text in toks:
        if kind == "var":
            variables.append(text.strip("${}"))
        elif kind == "bad":
            problems.append("unexpected character %r" % text)
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else None
        if kind == "ident" and text in LABEL_LIST_KEYWORDS and nxt == "(":
            i = _skip_to(toks, i + 1, ")") + 1
            continue
        if kind == "ident" and (nxt == "(" or nxt in ("by", "without")):
            functions.append(text)  # a function, or `sum by (...) (...)`
        elif kind == "ident" and text in PROMQL_KEYWORDS:
            pass
        elif kind == "ident":
            matchers = {}
            if nxt == "{":
                end = _skip_to(toks, i + 1, "}")
                body = toks[i + 2:end]
                for j in range(0, len(body), 4):
                    part = body[j:j + 4]
                    if (len(part) < 3 or part[0][0] != "ident" or
                            part[2][0] != "str" or
                            (len(part) == 4 and part[3][1] != ",")):
                        problems.append("cannot read the matchers of %s" % text)
                        break
                    matchers[part[0][1]] = (part[1][1], part[2][1][1:-1])
                i = end
            selectors.append((text, matchers))
        elif text == "[":
            end = _skip_to(toks, i, "]")
            ranges.append("".join(t for _, t in toks[i + 1:end]))
            i = end
        i += 1
    return selectors, functions, ranges, variables, problems


def _skip_to(toks, i, closing):
    for j in range(i, len(toks)):
        if toks[j][1] == closing:
            return j
    return len(toks) - 1


def duration_s(text):
    """Seconds of a duration such as "5m" or "1h30m"; 0 if not one."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text or "")
    if not parts or "".join(n + u for n, u in parts) != text:
        return 0
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400,
            "w": 604800, "y": 31536000}
    return sum(int(n) * unit[u] for n, u in parts)


def run_validator(*paths):
    return subprocess.run(["node", VALIDATOR, *paths], cwd=REPO,
                          capture_output=True, text=True,
                          timeout=VALIDATE_TIMEOUT)


# --- 1. the schema ---------------------------------------------------------

class DashboardSchemaTest(unittest.TestCase):
    """Checked against @grafana/schema's types; failures fail the test."""

    @classmethod
    def setUpClass(cls):
        cls.files = dashboard_files()
        if shutil.which("node") is None:
            raise AssertionError("node is not installed (tests/setup.sh)")
        if not os.path.isdir(NODE_MODULES):
            raise AssertionError("%s is missing: run bash "
                                 "tests/dashboards/setup.sh" % NODE_MODULES)

    def test_dashboards_exist(self):
        names = [os.path.basename(f) for f in self.files]
        self.assertIn("smtp-health-agent.json", names)

    def test_every_dashboard_satisfies_the_generated_schema(self):
        r = run_validator(*self.files)
        self.assertEqual(r.returncode, 0,
                         "schema validation failed:\n%s%s" % (r.stdout, r.stderr))
        ok = [l for l in r.stdout.splitlines() if l.startswith("ok ")]
        self.assertEqual(len(ok), len(self.files), r.stdout)

    def test_validator_rejects_broken_dashboards(self):
        dash = load(os.path.join(REPO, "dashboards", "smtp-health-agent.json"))
        first = {}
        for i, p in enumerate(dash["panels"]):
            first.setdefault(p["type"], i)

        def ts_panel(d):
            return d["panels"][first["timeseries"]]

        def table_panel(d):
            return d["panels"][first["table"]]

        cases = {
            # name: (mutation, text the error must contain)
            "unknown panel key": (
                lambda d: ts_panel(d).update(bogus=1),
                "/panels/%d: must NOT have additional properties 'bogus'"
                % first["timeseries"]),
            "schemaVersion as a string": (
                lambda d: d.update(schemaVersion="39"),
                "/schemaVersion: must be number"),
            "timeseries option typo": (
                lambda d: ts_panel(d)["options"].update(legnd={}),
                "/options: must NOT have additional properties 'legnd'"),
            "bad custom draw style": (
                lambda d: ts_panel(d)["fieldConfig"]["defaults"]["custom"]
                .update(drawStyle="zigzag"),
                "/fieldConfig/defaults/custom/drawStyle"),
            "table without frameIndex": (
                lambda d: table_panel(d)["options"].pop("frameIndex"),
                "must have required property 'frameIndex'"),
            "unknown override property": (
                lambda d: table_panel(d)["fieldConfig"]["overrides"][0]
                ["properties"].append({"id": "custom.nope", "value": 1}),
                "'custom.nope' is not a field config property"),
            "unknown query field": (
                lambda d: ts_panel(d)["targets"][0].update(exprr="up"),
                "must NOT have additional properties 'exprr'"),
            "variable of an unknown type": (
                lambda d: d["templating"]["list"][1].update(type="querie"),
                "/templating/list/1/type"),
            "plugin panel": (
                lambda d: ts_panel(d).update(type="grafana-clock-panel"),
                "'grafana-clock-panel' is not a core panel type"),
        }
        with tempfile.TemporaryDirectory() as tmp:
            paths = {}
            for n, (name, (mutate, _)) in enumerate(cases.items()):
                broken = copy.deepcopy(dash)
                mutate(broken)
                paths[name] = os.path.join(tmp, "broken-%d.json" % n)
                with open(paths[name], "w", encoding="utf-8") as f:
                    json.dump(broken, f)
            r = run_validator(*paths.values())
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        blocks = {}
        for block in r.stdout.split("FAIL ")[1:]:
            blocks[block.split(":", 1)[0]] = block
        for name, (_, expected) in cases.items():
            with self.subTest(name):
                self.assertIn(paths[name], blocks, r.stdout)
                self.assertIn(expected, blocks[paths[name]])


# --- 2. the content --------------------------------------------------------

class DashboardContentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.path = os.path.join(REPO, "dashboards", "smtp-health-agent.json")
        cls.dash = load(cls.path)
        cls.metrics = readme_metrics()
        cls.panels = [p for p in all_panels(cls.dash) if p.get("type") != "row"]
        cls.rows = [p for p in all_panels(cls.dash) if p.get("type") == "row"]

    def test_header(self):
        self.assertGreaterEqual(self.dash["schemaVersion"], 39)
        self.assertEqual(self.dash["uid"], "smtp-health-agent")
        self.assertEqual(self.dash["title"], "SMTP health agent")
        ids = [p["id"] for p in all_panels(self.dash)]
        self.assertEqual(len(ids), len(set(ids)), "panel ids must be unique")

    def test_readme_metrics_table_was_read(self):
        # The label checks below rely on it.
        self.assertEqual(self.metrics["smtp_auth_results_total"],
                         {"target", "mechanism", "class"})
        self.assertEqual(self.metrics["smtp_agent_probes_in_flight"], set())
        self.assertIn("le", self.metrics["smtp_probe_duration_seconds_bucket"])
        self.assertIn("process_resident_memory_bytes", self.metrics)

    def test_variables(self):
        v = {x["name"]: x for x in self.dash["templating"]["list"]}
        self.assertEqual(list(v), ["datasource", "job", "instance", "target"])
        self.assertEqual(v["datasource"]["type"], "datasource")
        self.assertEqual(v["datasource"]["query"], "prometheus")
        filters = {"job": [], "instance": ["$job"], "target": ["$job", "$instance"]}
        for name, needs in filters.items():
            with self.subTest(name):
                var = v[name]
                self.assertEqual(var["type"], "query")
                self.assertEqual(var["datasource"], DATASOURCE)
                self.assertIs(var["multi"], True)
                self.assertIs(var["includeAll"], True)
                q = variable_query(var)
                self.assertRegex(q, r"^label_values\(smtp_target_info\b.*, %s\)$"
                                 % name)
                for n in needs:
                    self.assertIn('=~"%s"' % n, q)

    def test_every_panel_has_title_description_unit_datasource(self):
        for p in self.panels:
            with self.subTest(p.get("title") or p.get("id")):
                self.assertTrue(p.get("title", "").strip())
                self.assertGreater(len(p.get("description", "").strip()), 20)
                self.assertIn(p["type"], CORE_PANELS)
                if p["type"] != "text":
                    unit = p["fieldConfig"]["defaults"].get("unit")
                    self.assertTrue(unit, "fieldConfig.defaults.unit")
                    self.assertEqual(p.get("datasource"), DATASOURCE)
                    self.assertTrue(p.get("targets"))
                for t in p.get("targets", []):
                    self.assertEqual(t.get("datasource"), DATASOURCE)
                for tr in p.get("transformations", []):
                    self.assertIn(tr["id"], CORE_TRANSFORMATIONS)
        for r in self.rows:
            self.assertTrue(r.get("title", "").strip())

    def test_every_query_is_filtered_and_portable(self):
        n = 0
        for title, ref, expr, instant in queries(self.dash):
            n += 1
            with self.subTest("%s/%s" % (title, ref)):
                self.assertTrue(expr)
                sels, funcs, ranges, variables, problems = parse_promql(expr)
                self.assertEqual(problems, [])
                self.assertTrue(sels, "no metric selector")
                for metric, matchers in sels:
                    if metric in PROMETHEUS_METRICS:
                        # Prometheus' own: only joined with an agent's
                        # metric, or a job's other targets would count.
                        self.assertRegex(expr, r"group_left|and on \(job, "
                                         r"instance\)", metric)
                    else:
                        self.assertIn(metric, self.metrics, "%s is not in "
                                      "README's Metrics table" % metric)
                    labels = (self.metrics[metric] if metric in self.metrics
                              else PROMETHEUS_METRICS[metric])
                    need = {"job": "$job", "instance": "$instance"}
                    if "target" in labels:
                        need["target"] = "$target"
                    for label, var in need.items():
                        self.assertEqual(matchers.get(label), ("=~", var),
                                         "%s needs %s=~\"%s\"" % (metric, label, var))
                    unknown = set(matchers) - labels - SCRAPE_LABELS
                    self.assertFalse(unknown, "%s has no label %s" % (metric, unknown))
                for f in funcs:
                    self.assertIn(f, PROMQL_FUNCTIONS,
                                  "%s is not a Prometheus 2.42 function" % f)
                for v in variables:
                    self.assertIn(v, GRAFANA_VARS)
                for rng in ranges:
                    self.assertIn(rng, {"$__rate_interval", "$__range", "30d"})
                    if rng != "$__rate_interval":
                        self.assertTrue(instant, "%s only in instant queries"
                                        % rng)
                for fn, rng in re.findall(r"\b(i?rate|increase)\s*\([^\[]*\[([^\]]*)\]", expr):
                    if fn != "increase":
                        self.assertEqual(rng, "$__rate_interval")
                self.assertNotIn("irate(", expr)
        self.assertGreater(n, 20)

    def test_rate_windows_hold_several_probes(self):
        """At one probe a minute, $__rate_interval must span >= 4 probes:
        every panel using it has a minimum interval of 5m, so Grafana's
        $__rate_interval = max($__interval + scrape interval, 4 x scrape
        interval) >= 5m15s; no fixed rate window shorter than that."""
        n = 0
        for p in self.panels:
            exprs = [t.get("expr", "") for t in p.get("targets", [])]
            if not any("$__rate_interval" in e for e in exprs):
                self.assertNotIn("interval", p, p["title"])
                continue
            n += 1
            with self.subTest(p["title"]):
                self.assertGreaterEqual(duration_s(p.get("interval", "")),
                                        MIN_RATE_INTERVAL_S)
                for t in p["targets"]:
                    # A per-query "Min step" would become the scrape
                    # interval of $__rate_interval (4 x 5m = 20m).
                    self.assertNotIn("interval", t)
        self.assertGreater(n, 5)
        self.assertIn("minimum interval of 5m", self.dash["description"])

    def test_required_sections_and_metrics(self):
        rows = [r["title"] for r in self.rows]
        self.assertEqual(rows, ["Overview", "Failures and replies", "Targets",
                                "Latency", "Certificates", "Agent"])
        used = {m for _, _, e, _ in queries(self.dash) for m, _ in parse_promql(e)[0]}
        for m in ["smtp_target_info", "smtp_probe_success",
                  "smtp_auth_results_total", "smtp_probe_failures_total",
                  "smtp_probe_errors_total",
                  "smtp_replies_total", "smtp_auth_mechanism_advertised",
                  "smtp_tls_info", "smtp_tls_cert_expiry_timestamp_seconds",
                  "smtp_tls_verified_chain_expiry_timestamp_seconds",
                  "smtp_tls_leaf_cert_not_after_timestamp_seconds",
                  "smtp_tls_cert_valid", "smtp_probe_last_run_timestamp_seconds",
                  "smtp_probe_duration_seconds_sum",
                  "smtp_probe_duration_seconds_count",
                  "smtp_probe_phase_duration_seconds",
                  "smtp_agent_probes_in_flight",
                  "smtp_agent_probe_start_delay_seconds_bucket",
                  "smtp_agent_probes_skipped_total",
                  "smtp_agent_config_last_reload_successful",
                  "process_cpu_seconds_total", "process_resident_memory_bytes"]:
            self.assertIn(m, used)

    def test_no_query_needs_an_extra_metrics_option(self):
        """Every panel works with a default target: no selector of a
        series that only extra_metrics brings."""
        option_only = readme_option_only()
        # The README says it, and the check would see it.
        self.assertEqual(option_only.get("smtp_last_reply_code"),
                         "last_reply_codes")
        self.assertEqual(option_only.get("smtp_ehlo_extension"),
                         "ehlo_extensions")
        self.assertEqual(option_only.get("smtp_probe_duration_seconds_bucket"),
                         "duration_buckets")
        self.assertNotIn("smtp_agent_probe_start_delay_seconds_bucket",
                         option_only)
        for title, ref, expr, _ in queries(self.dash):
            for metric, _ in parse_promql(expr)[0]:
                with self.subTest("%s/%s" % (title, ref), metric=metric):
                    self.assertNotIn(metric, option_only,
                                     "needs extra_metrics = %s"
                                     % option_only.get(metric))

    def panel(self, title):
        found = [p for p in self.panels if p["title"] == title]
        self.assertEqual(len(found), 1, title)
        return found[0]

    def test_auth_classes_have_fixed_colours(self):
        p = self.panel("AUTH results by class")
        self.assertIn("by (class)", p["targets"][0]["expr"])
        self.assertEqual(p["targets"][0]["legendFormat"], "{{class}}")
        colours = {}
        for o in p["fieldConfig"]["overrides"]:
            if o["matcher"]["id"] != "byName":
                continue
            for prop in o["properties"]:
                if prop["id"] == "color":
                    self.assertEqual(prop["value"]["mode"], "fixed")
                    colours[o["matcher"]["options"]] = prop["value"]["fixedColor"]
        self.assertEqual(colours, {"success": "green", "auth_failed": "red",
                                   "unsupported_parameter": "orange",
                                   "temporary_failure": "yellow"})
        # Every other class: one fixed colour, not the palette.
        self.assertEqual(p["fieldConfig"]["defaults"]["color"]["mode"], "fixed")

    def test_status_table_columns(self):
        p = self.panel("Per-target status")
        ids = [t["id"] for t in p["transformations"]]
        self.assertEqual(ids, ["merge", "organize"])
        refs = {t["refId"] for t in p["targets"]}
        for ref in ["success", "stage", "class", "code_greeting", "code_auth",
                    "mechs", "tls", "cert_days", "age"]:
            self.assertIn(ref, refs)
        for t in p["targets"]:
            self.assertTrue(t["instant"])
            self.assertEqual(t["format"], "table")
        options = p["transformations"][1]["options"]
        renamed = options["renameByName"]
        # Columns shown as a label's text: the value itself is hidden.
        label_columns = {"tls": "version", "class": "class", "stage": "stage"}
        for stage in ["greeting", "ehlo", "starttls", "auth", "quit"]:
            label_columns["code_" + stage] = "reply_" + stage
        exprs = {t["refId"]: t["expr"] for t in p["targets"]}
        for ref in refs:
            with self.subTest(ref=ref):
                if ref not in label_columns:
                    self.assertIn("Value #" + ref, renamed)
                    continue
                label = label_columns[ref]
                self.assertIn(label, renamed)
                self.assertIn("by (job, instance, target, %s)" % label,
                              exprs[ref])
                self.assertTrue(options["excludeByName"]["Value #" + ref])
        # The codes come from the counter of every reply, code and class.
        for stage in ["greeting", "ehlo", "starttls", "auth", "quit"]:
            expr = exprs["code_" + stage]
            self.assertIn('smtp_replies_total{', expr)
            self.assertIn('stage="%s"' % stage, expr)
            self.assertIn('"reply_%s", " ", "code", "class"' % stage, expr)
        self.assertEqual(renamed["class"], "Class / error")
        self.assertEqual(renamed["stage"], "Failed at")
        self.check_failure_reason(exprs["class"], with_success=True)
        self.check_failure_stage(exprs["stage"])

    def check_failure_reason(self, expr, with_success):
        """The class column of a failing row is the failure's: "success"
        only when the last probe succeeded, else the class of a reply
        other than success or the error of a failure without a reply, or
        "failing"; never the class of some succeeding reply."""
        flat = " ".join(expr.split())
        success = ('label_replace(smtp_probe_success{job=~"$job", '
                   'instance=~"$instance", target=~"$target"} == 1, "class", '
                   '"success", "", "")')
        self.assertEqual(success in flat, with_success)
        self.assertEqual(flat.count('"success"'), 2 if with_success else 1)
        self.assertIn('class!="success"', flat)
        self.assertIn('label_replace(increase(smtp_probe_errors_total{', flat)
        self.assertIn('"class", "$1", "error", "(.+)"', flat)
        self.assertEqual(flat.count("and on (job, instance, target) "
                                    "(smtp_probe_success{"), 1)
        self.assertIn('== 0, "class", "failing", "", "")', flat)
        self.assertEqual(flat.count("or on (job, instance, target)"),
                         2 if with_success else 1)

    def check_failure_stage(self, expr):
        flat = " ".join(expr.split())
        self.assertIn("sum by (job, instance, target, stage) (increase("
                      "smtp_probe_failures_total{", flat)
        self.assertIn("and on (job, instance, target) (smtp_probe_success{",
                      flat)

    def test_failing_targets_now_names_the_failure(self):
        p = self.panel("Failing targets now")
        exprs = {t["refId"]: t["expr"] for t in p["targets"]}
        self.assertEqual(set(exprs), {"stage", "class", "availability"})
        self.check_failure_reason(exprs["class"], with_success=False)
        self.check_failure_stage(exprs["stage"])
        renamed = p["transformations"][1]["options"]["renameByName"]
        self.assertEqual(renamed["class"], "Class / error")
        self.assertEqual(renamed["stage"], "Failed at")

    def flat_exprs(self, title):
        return {t["refId"]: " ".join(t["expr"].split())
                for t in self.panel(title)["targets"]}

    def test_availability_over_the_range_and_30_days(self):
        p = self.panel("Availability by target")
        exprs = self.flat_exprs("Availability by target")
        f = 'job=~"$job", instance=~"$instance", target=~"$target"'
        self.assertEqual(exprs, {
            "range": "avg_over_time(smtp_probe_success{%s}[$__range])" % f,
            "d30": "avg_over_time(smtp_probe_success{%s}[30d])" % f})
        defaults = p["fieldConfig"]["defaults"]
        self.assertEqual(defaults["unit"], "percentunit")
        self.assertEqual((defaults["min"], defaults["max"]), (0, 1))
        renamed = p["transformations"][1]["options"]["renameByName"]
        self.assertEqual(renamed["Value #range"], "Dashboard range")
        self.assertEqual(renamed["Value #d30"], "30 days")

    def test_failure_reasons_auth_ratio_and_replies_over_time(self):
        f = 'job=~"$job", instance=~"$instance", target=~"$target"'
        want = {
            "Failed probes by stage": (
                "sum by (job, instance, target, stage) (rate("
                "smtp_probe_failures_total{%s}[$__rate_interval])) * 60 > 0"
                % f, "{{target}}: {{stage}}", "opm"),
            "Failures without a reply, by error": (
                "sum by (job, instance, target, error) (rate("
                "smtp_probe_errors_total{%s}[$__rate_interval])) * 60 > 0"
                % f, "{{target}}: {{error}}", "opm"),
            "AUTH success ratio by mechanism": (
                "sum by (job, instance, target, mechanism) (rate("
                "smtp_auth_results_total{%s, class=\"success\"}"
                "[$__rate_interval])) / sum by (job, instance, target, "
                "mechanism) (rate(smtp_auth_results_total{%s}"
                "[$__rate_interval]))" % (f, f),
                "{{target}} {{mechanism}}", "percentunit"),
            "Replies by stage and code": (
                "sum by (stage, code, class) (rate(smtp_replies_total{%s}"
                "[$__rate_interval])) * 60" % f,
                "{{stage}} {{code}} {{class}}", "opm"),
        }
        for title, (expr, legend, unit) in want.items():
            with self.subTest(title):
                p = self.panel(title)
                self.assertEqual(p["type"], "timeseries")
                self.assertEqual(len(p["targets"]), 1)
                self.assertEqual(" ".join(p["targets"][0]["expr"].split()),
                                 expr)
                self.assertEqual(p["targets"][0]["legendFormat"], legend)
                self.assertEqual(p["fieldConfig"]["defaults"]["unit"], unit)
        ratio = self.panel("AUTH success ratio by mechanism")
        self.assertEqual(ratio["fieldConfig"]["defaults"]["max"], 1)

    def test_agent_down_is_never_a_green_zero(self):
        """Agents up shows `up` of the agents that served their build
        info; Failing targets counts the targets of an agent that is
        down, and reads "No data" in grey, never a green 0, when nothing
        reports."""
        up = self.panel("Agents up")
        expr = " ".join(up["targets"][0]["expr"].split())
        self.assertIn('up{job=~"$job", instance=~"$instance"}', expr)
        self.assertIn("* on (job, instance) group_left () max by (job, "
                      "instance) (max_over_time(smtp_agent_build_info{", expr)
        maps = up["fieldConfig"]["defaults"]["mappings"][0]["options"]
        self.assertEqual((maps["0"]["text"], maps["0"]["color"]),
                         ("DOWN", "red"))
        self.assertEqual((maps["1"]["text"], maps["1"]["color"]),
                         ("UP", "green"))
        failing = self.panel("Failing targets")
        expr = " ".join(failing["targets"][0]["expr"].split())
        self.assertNotIn("vector(", expr)
        self.assertIn('and on (job, instance) (up{job=~"$job", '
                      'instance=~"$instance"} == 0)', expr)
        self.assertTrue(expr.endswith(
            'or 0 * count(smtp_probe_success{job=~"$job", '
            'instance=~"$instance", target=~"$target"})'), expr)
        for title in ("Failing targets", "Targets probed", "Agents up"):
            with self.subTest(title):
                defaults = self.panel(title)["fieldConfig"]["defaults"]
                self.assertNotIn(defaults.get("noValue", ""), ("", "0"))
                # No data takes the base colour: never green.
                self.assertNotEqual(defaults["thresholds"]["steps"][0]
                                    ["color"], "green")

    def test_target_names_link_to_the_status_page(self):
        table_url = ("http://${__data.fields.instance}/?target="
                     "${__data.fields.target}")
        series_url = ("http://${__field.labels.instance}/?target="
                      "${__field.labels.target}")
        tables = ["Failing targets now", "Availability by target",
                  "Per-target status", "Certificate expiry by target"]
        series = ["Probe result by target", "Failed probes by stage",
                  "Failures without a reply, by error",
                  "AUTH success ratio by mechanism", "Probe duration",
                  "Skipped probes"]
        for title in tables:
            with self.subTest(title):
                p = self.panel(title)
                org = [t for t in p["transformations"]
                       if t["id"] == "organize"][0]["options"]
                self.assertNotIn("instance", org["excludeByName"])
                self.assertEqual(org["renameByName"]["target"], "Target")
                links = [pr["value"] for o in p["fieldConfig"]["overrides"]
                         if o["matcher"] == {"id": "byName",
                                             "options": "Target"}
                         for pr in o["properties"] if pr["id"] == "links"]
                self.assertEqual([[x["url"] for x in lst] for lst in links],
                                 [[table_url]])
                for t in p["targets"]:
                    # Every row keeps the instance and target labels.
                    self.assertRegex(t["expr"], r"by \(job, instance, "
                                     r"target\b|^avg_over_time\(")
        for title in series:
            with self.subTest(title):
                p = self.panel(title)
                links = p["fieldConfig"]["defaults"]["links"]
                self.assertEqual([x["url"] for x in links], [series_url])
                for t in p["targets"]:
                    self.assertIn("{{target}}", t["legendFormat"])
                    self.assertRegex(t["expr"], r"by \(job, instance, "
                                     r"target\b")

    def test_less_clutter(self):
        """No panel repeated per target, no set of quantile lines (one
        quantile per panel, none per target), one duration line per
        target, and the Agent row collapsed, last, holding its panels."""
        for p in self.panels:
            with self.subTest(p["title"]):
                self.assertNotIn("repeat", p)
                exprs = [t["expr"] for t in p["targets"]]
                quantiles = [e for e in exprs if "quantile" in e]
                self.assertLessEqual(len(quantiles), 1)
                for e in quantiles:
                    self.assertNotRegex(e, r"by \([^)]*\btarget\b")
        phases = self.panel("Probe phases")
        self.assertRegex(phases["targets"][0]["expr"], r"^avg by \(phase\) ")
        self.assertEqual([t["refId"] for t in
                          self.panel("Probe duration")["targets"]], ["mean"])
        top = self.dash["panels"]
        self.assertEqual((top[-1]["type"], top[-1]["title"]), ("row", "Agent"))
        self.assertIs(top[-1]["collapsed"], True)
        self.assertEqual({p["title"] for p in top[-1]["panels"]}, {
            "Probes in flight", "Probe start delay", "Skipped probes",
            "Config reload", "Agent CPU", "Agent memory"})
        for r in self.rows[:-1]:
            self.assertIs(r["collapsed"], False, r["title"])
            self.assertEqual(r["panels"], [], r["title"])

    def test_latency_phases_stacked_and_certificates_sorted(self):
        phases = [p for p in self.panels if p["title"].startswith("Probe phases")]
        self.assertEqual(len(phases), 1)
        custom = phases[0]["fieldConfig"]["defaults"]["custom"]
        self.assertEqual(custom["stacking"]["mode"], "normal")
        expr = phases[0]["targets"][0]["expr"]
        for phase in ["resolve", "connect", "banner", "ehlo", "starttls",
                      "auth"]:
            self.assertIn(phase, expr)
        # Issue 15: implicit TLS's handshake is phase tls.
        self.assertIn("|tls|", expr)
        q = self.panel("Probe duration")
        mean = [t["expr"] for t in q["targets"] if t["refId"] == "mean"]
        self.assertEqual(len(mean), 1)
        self.assertRegex(mean[0], re.compile(
            r"rate\(smtp_probe_duration_seconds_sum\{.*"
            r"/ sum by \(job, instance, target\) "
            r"\(rate\(smtp_probe_duration_seconds_count\{", re.S))
        c = self.panel("Certificate expiry by target")
        self.assertEqual(c["options"]["sortBy"], [{"displayName": "Expires in",
                                                   "desc": False}])
        self.assertIn("Expires in", json.dumps(c["transformations"]))

    def test_parser_catches_unfiltered_queries(self):
        # The scanner the checks rely on sees a missing filter.
        sels = parse_promql('sum(rate(smtp_probes_total{job=~"$job"}[5m])) '
                            'or up')[0]
        self.assertEqual(sels, [("smtp_probes_total", {"job": ("=~", "$job")}),
                                ("up", {})])
        self.assertEqual(parse_promql("sum by (target, le) (x)")[0], [("x", {})])


if __name__ == "__main__":
    unittest.main()
