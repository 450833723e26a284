"""config/prometheus-probe.yml and config/smtp-targets.example.yml: the
/probe?module=NAME&target=HOST:PORT pattern with file_sd, proved with
promtool and with a real Prometheus in front of a real agent.

ExampleFiles (promtool only): a copy of the example in which only the
file_sd directory is changed (the rest byte for byte the same, checked)
passes `promtool check config`, which loads the rule file and checks the
example file_sd file; a file_sd file with a bad label makes it fail (so
the file is really read). `promtool check service-discovery` turns every
server of the example file into a scrape of the agent's /probe with
?module= from the group's __param_module, ?target= and instance = the
server, and the group's team label; the modules are [module] sections of
config/agent.ini; the probe job's scrape_timeout is below its interval;
the second job scrapes the agent's /metrics. ReadmeExample: README's
file_sd lines are the example files' own.

EndToEnd: an agent with two modules (ehlo: STARTTLS and EHLO only;
auth: STARTTLS and AUTH PLAIN) in front of two aiosmtpd servers, and a
Prometheus running both jobs of the example (the file's own relabel rules
and paths, only addresses, directories and intervals changed) with a
file_sd file in its temp dir. From Prometheus' API: probe_success is 1
for the server that answers and 0 for the allowed port where nothing
listens, with instance = the address and the group's team label; the
server given as `localhost`, which module ehlo's address patterns do not
name, is up 0 with a 403 and the agent logs the refusal; a group without
__param_module is up 0 with a 400, as the example's comments say; the
agent's own job is up and the rules are loaded. Then the file is
replaced with one more group (the AUTH module's server): Prometheus picks
it up (inotify, refresh_interval 5s in the copy) and its probe succeeds
with AUTH 235. No form of the password in the agent's log, Prometheus'
log or the answers.

Needs promtool and prometheus (Debian package prometheus), PyYAML and
aiosmtpd (tests/setup.sh). Loopback only; every wait has a deadline.
"""

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
import prom  # noqa: E402

CONFIG_DIR = os.path.join(harness.REPO, "config")
EXAMPLE = os.path.join(CONFIG_DIR, "prometheus-probe.yml")
SD_EXAMPLE = os.path.join(CONFIG_DIR, "smtp-targets.example.yml")
ALERTS = os.path.join(CONFIG_DIR, "alerts.yml")
SAMPLE_INI = os.path.join(CONFIG_DIR, "agent.ini")

# What the example names that a test copy must change.
SD_DIR = "/etc/prometheus/smtp-targets"
AGENT_ADDRESS = "mon1.example.com:9925"
ALERTMANAGER = "127.0.0.1:9093"
PROBE_JOB = "smtp-probe"
AGENT_JOB = "smtp-health-agent"

# The copy Prometheus runs: short intervals, the timeout still below the
# interval; file_sd re-read every 5 s besides inotify.
SCRAPE_INTERVAL = "2s"
SCRAPE_TIMEOUT = "1500ms"
SD_REFRESH = "5s"
SCRAPE_WAIT_S = 25   # first scrapes of a target set, once Prometheus runs
SD_CHANGE_WAIT_S = 30  # a file_sd change: refresh + scrape manager + scrape


def run(argv, timeout=60):
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def need_promtool():
    if not shutil.which("promtool"):
        raise AssertionError("promtool not found: install the Debian "
                             "package prometheus (tests/setup.sh)")


def read(path):
    with open(path) as f:
        return f.read()


def rewrite(text, changes):
    """text with each (old, new) of `changes` replaced everywhere. Each old
    must occur and no new may be in text already; putting every old back
    must give text again: the copy differs from the original in those
    places and nowhere else."""
    out = text
    for old, new in changes:
        if old not in text or new in text:
            raise AssertionError("cannot rewrite %r as %r" % (old, new))
        out = out.replace(old, new)
    back = out
    for old, new in changes:
        back = back.replace(new, old)
    if back != text:
        raise AssertionError("the copy differs from the original in more "
                             "than %s" % [old for old, _ in changes])
    return out


def sample_modules():
    """The [module "NAME"] names of config/agent.ini."""
    return set(re.findall(r'^\[module "([^"]+)"\]', read(SAMPLE_INI), re.M))


class ExampleFiles(unittest.TestCase):
    """The example files, checked by promtool without any server."""

    @classmethod
    def setUpClass(cls):
        need_promtool()
        cls.text = read(EXAMPLE)
        cls.doc = yaml.safe_load(cls.text)
        cls.sd_groups = yaml.safe_load(read(SD_EXAMPLE))

    def copy(self):
        """A temp dir with the example (its file_sd directory moved there),
        alerts.yml beside it and the example file_sd file in it; returns
        (config path, file_sd dir)."""
        tmp = tempfile.mkdtemp(prefix="prom-probe-example-")
        self.addCleanup(shutil.rmtree, tmp, True)
        sd_dir = os.path.join(tmp, "smtp-targets")
        os.mkdir(sd_dir)
        shutil.copy(ALERTS, tmp)
        shutil.copy(SD_EXAMPLE, os.path.join(sd_dir, "mail.yml"))
        path = os.path.join(tmp, "prometheus.yml")
        with open(path, "w") as f:
            f.write(rewrite(self.text, [(SD_DIR, sd_dir)]))
        return path, sd_dir

    def test_promtool_check_config(self):
        path, sd_dir = self.copy()
        rc, out, err = run(["promtool", "check", "config", path])
        self.assertEqual(rc, 0, out + err)
        self.assertIn("SUCCESS: 1 rule files found", out)
        self.assertIn("SUCCESS: %d rules found"
                      % read(ALERTS).count("- alert:"), out)
        # The file_sd file was found (and so checked): no warning.
        self.assertNotIn("WARNING", out + err)
        # ... and is really checked: a bad label name fails the config.
        with open(os.path.join(sd_dir, "bad.yml"), "w") as f:
            f.write('- targets: ["127.0.0.1:25"]\n'
                    '  labels: {team-name: mail}\n')
        rc, out, err = run(["promtool", "check", "config", path])
        self.assertNotEqual(rc, 0, out + err)
        self.assertIn('"team-name" is not a valid label name', out + err)

    def test_service_discovery(self):
        path, _ = self.copy()
        rc, out, err = run(["promtool", "check", "service-discovery",
                            "--timeout=5s", path, PROBE_JOB])
        self.assertEqual(rc, 0, out + err)
        got = {t["labels"]["__param_target"]: t["labels"]
               for t in json.loads(out)}
        want = {server: group["labels"] for group in self.sd_groups
                for server in group["targets"]}
        self.assertGreaterEqual(len(want), 2)
        self.assertEqual(sorted(got), sorted(want))
        for server, labels in got.items():
            self.assertEqual(labels["__address__"], AGENT_ADDRESS)
            self.assertEqual(labels["__metrics_path__"], "/probe")
            self.assertEqual(labels["instance"], server)
            self.assertEqual(labels["__param_module"],
                             want[server]["__param_module"])
            self.assertEqual(labels["team"], want[server]["team"])
        # Every module the example names is one the sample agent.ini has.
        modules = {g["labels"]["__param_module"] for g in self.sd_groups}
        self.assertLessEqual(modules, sample_modules())

    def test_jobs(self):
        jobs = {j["job_name"]: j for j in self.doc["scrape_configs"]}
        self.assertEqual(set(jobs), {PROBE_JOB, AGENT_JOB})
        probe = jobs[PROBE_JOB]
        self.assertEqual(probe["metrics_path"], "/probe")
        self.assertEqual(probe["file_sd_configs"],
                         [{"files": [SD_DIR + "/*.yml"]}])
        self.assertNotIn("params", probe)  # it would override the modules
        seconds = {"s": 1, "m": 60}
        interval, timeout = (int(v[:-1]) * seconds[v[-1]]
                             for v in (probe["scrape_interval"],
                                       probe["scrape_timeout"]))
        self.assertLess(timeout, interval)
        agent = jobs[AGENT_JOB]
        self.assertEqual(agent.get("metrics_path", "/metrics"), "/metrics")
        self.assertEqual(agent["static_configs"][0]["targets"],
                         [AGENT_ADDRESS])
        self.assertEqual(self.doc["rule_files"], ["alerts.yml"])


class ReadmeExample(unittest.TestCase):
    """README's file_sd lines are the example's, not a variant of them."""

    def test_readme_snippets(self):
        readme = read(os.path.join(harness.REPO, "README.md"))
        section = readme.split("## Scraping with Prometheus", 1)[1].split(
            "\n## ", 1)[0]
        part = section.split("file_sd and modules", 1)[1]
        blocks = re.findall(r"```yaml\n(.*?)```", part, re.S)
        self.assertEqual(len(blocks), 2, part)
        jobs = yaml.safe_load(read(EXAMPLE))["scrape_configs"]
        self.assertEqual(yaml.safe_load(blocks[0])["file_sd_configs"],
                         [j for j in jobs if j["job_name"] == PROBE_JOB][0]
                         ["file_sd_configs"])
        self.assertEqual(yaml.safe_load(blocks[1])[0],
                         yaml.safe_load(read(SD_EXAMPLE))[0])
        for name in ("config/prometheus-probe.yml",
                     "config/smtp-targets.example.yml",
                     "tests/integration/test_prometheus_probe.py"):
            self.assertIn(name, part)


AGENT_CONFIG = """
[agent]
listen = @LISTEN@
interval = 1h
timeout = 5s

; EHLO only: the server that answers and a port where nothing listens.
; The patterns are addresses: a name (localhost) is never let through.
[module "ehlo"]
tls = starttls
ca_file = @CA_FILE@
server_name = localhost
allowed_targets = 127.0.0.1:%(aio)d 127.0.0.1:%(refused)d

[module "auth"]
tls = starttls
ca_file = @CA_FILE@
server_name = localhost
mechanisms = PLAIN
username = %(user)s
password_env = AIO_PASSWORD
allowed_targets = 127.0.0.1:%(auth)d
"""


def sd_yaml(groups):
    """A file_sd file: [(targets, labels), ...] in Prometheus' format."""
    return yaml.safe_dump([{"targets": t, "labels": l} for t, l in groups],
                          sort_keys=False)


class EndToEnd(unittest.TestCase):
    """The example's jobs in a real Prometheus, scraping a real agent."""

    @classmethod
    def setUpClass(cls):
        need_promtool()
        cls.aio = cls.enterClassContext(harness.aiosmtpd(tls="starttls"))
        cls.aio_auth = cls.enterClassContext(harness.aiosmtpd(
            tls="starttls"))
        cls.refused = harness.free_port()
        cls.no_module = harness.free_port()
        env = dict(os.environ, AIO_PASSWORD=cls.aio_auth.password)
        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(),
            AGENT_CONFIG % dict(aio=cls.aio.port, refused=cls.refused,
                                auth=cls.aio_auth.port,
                                user=cls.aio_auth.user), env=env))
        cls.good = "127.0.0.1:%d" % cls.aio.port
        cls.down = "127.0.0.1:%d" % cls.refused
        # The answering server, named: module ehlo only allows addresses.
        cls.named = "localhost:%d" % cls.aio.port
        cls.moduleless = "127.0.0.1:%d" % cls.no_module
        cls.added = "127.0.0.1:%d" % cls.aio_auth.port
        cls.groups = [
            ([cls.good, cls.down], {"__param_module": "ehlo",
                                    "team": "mail"}),
            ([cls.named], {"__param_module": "ehlo", "team": "edge"}),
            ([cls.moduleless], {"team": "mail"}),
        ]
        cls.prom = cls.enterClassContext(cls.prometheus())

    @classmethod
    def prometheus(cls):
        """A PrometheusServer (not started) running the example's jobs."""
        p = prom.PrometheusServer("", {"alerts.yml": read(ALERTS)})
        try:
            cls.sd_dir = os.path.join(p.dir, "smtp-targets")
            os.mkdir(cls.sd_dir)
            cls.write_sd(cls.groups)
            copy = rewrite(read(EXAMPLE), [
                (AGENT_ADDRESS, cls.agent.listen), (SD_DIR, cls.sd_dir),
                (ALERTMANAGER, "127.0.0.1:%d" % harness.free_port())])
            doc = yaml.safe_load(copy)
            doc["global"]["scrape_interval"] = SCRAPE_INTERVAL
            doc["global"]["evaluation_interval"] = SCRAPE_INTERVAL
            for job in doc["scrape_configs"]:
                job["scrape_interval"] = SCRAPE_INTERVAL
                job["scrape_timeout"] = SCRAPE_TIMEOUT
                for sd in job.get("file_sd_configs", []):
                    sd["refresh_interval"] = SD_REFRESH
            cls.running_doc = doc
            with open(p.config_path, "w") as f:
                yaml.safe_dump(doc, f, sort_keys=False)
        except BaseException:
            shutil.rmtree(p.dir, ignore_errors=True)  # never started
            raise
        return p

    @classmethod
    def write_sd(cls, groups):
        """Replace the file_sd file at once (rename), as the example's
        comments say to."""
        tmp = os.path.join(cls.sd_dir, "servers.yml.tmp")
        with open(tmp, "w") as f:
            f.write(sd_yaml(groups))
        os.replace(tmp, os.path.join(cls.sd_dir, "servers.yml"))

    def probe_series(self, name, instance):
        """The one series of `name` from the probe job for instance."""
        got = self.prom.query('%s{job="%s",instance="%s"}'
                              % (name, PROBE_JOB, instance))
        return got[0] if len(got) == 1 else None

    def wait_series(self, name, instance, value, timeout=SCRAPE_WAIT_S):
        def found():
            r = self.probe_series(name, instance)
            return r if r and float(r["value"][1]) == value else None
        try:
            return harness.wait_for(found, timeout, interval=0.5)
        except AssertionError as e:
            raise AssertionError(
                "%s{instance=%s} == %s not in Prometheus within %d s; "
                "targets (instance, health, last error): %s"
                % (name, instance, value, timeout,
                   self.target_states())) from e

    def target_states(self):
        try:
            return [(t["labels"].get("instance"), t["health"],
                     t["lastError"]) for t in self.prom.targets()]
        except AssertionError as e:
            return str(e)

    def target(self, instance):
        for t in self.prom.targets():
            if (t["labels"].get("job") == PROBE_JOB
                    and t["labels"].get("instance") == instance):
                return t
        return None

    def test_1_the_running_copy_is_the_example(self):
        # The jobs Prometheus runs have the example's relabel rules, path
        # and file_sd pattern (only the directory and address changed).
        example = {j["job_name"]: j
                   for j in yaml.safe_load(read(EXAMPLE))["scrape_configs"]}
        for job in self.running_doc["scrape_configs"]:
            ex = example[job["job_name"]]
            self.assertEqual(job.get("metrics_path"), ex.get("metrics_path"))
            self.assertEqual(
                yaml.safe_dump(job.get("relabel_configs")).replace(
                    self.agent.listen, AGENT_ADDRESS),
                yaml.safe_dump(ex.get("relabel_configs")))
        probe = [j for j in self.running_doc["scrape_configs"]
                 if j["job_name"] == PROBE_JOB][0]
        self.assertEqual(probe["file_sd_configs"][0]["files"],
                         [os.path.join(self.sd_dir, "*.yml")])

    def test_2_probes_through_prometheus(self):
        # The server that answers: a probe that succeeded, with the
        # address as instance and the group's team label.
        r = self.wait_series("probe_success", self.good, 1)
        self.assertEqual(r["metric"]["team"], "mail")
        self.assertNotIn("target", r["metric"])
        t = self.target(self.good)
        self.assertEqual(t["health"], "up", t)
        self.assertIn("module=ehlo", t["scrapeUrl"])
        self.assertIn("target=127.0.0.1%3A" + str(self.aio.port),
                      t["scrapeUrl"])
        ehlo = self.prom.query(
            'smtp_last_reply_code{job="%s",instance="%s",stage="ehlo"}'
            % (PROBE_JOB, self.good))
        self.assertEqual([float(s["value"][1]) for s in ehlo], [250.0])

        # Allowed, nothing listens: the scrape works, the probe fails.
        r = self.wait_series("probe_success", self.down, 0)
        self.assertEqual(r["metric"]["team"], "mail")
        self.assertEqual(self.target(self.down)["health"], "up")

        # Not allowed by module ehlo: 403, so up 0, and the agent logs it.
        r = self.wait_series("up", self.named, 0)
        self.assertEqual(r["metric"]["team"], "edge")
        self.assertIn("403", self.target(self.named)["lastError"])
        self.assertIsNone(self.probe_series("probe_success", self.named))
        log = harness.wait_for(
            lambda: [l for l in self.agent.stderr().splitlines()
                     if "probe refused with 403" in l], 5,
            message="the agent's log line for the 403")
        self.assertIn("remote=127.0.0.1", log[0])
        self.assertIn("probe_module=ehlo", log[0])
        self.assertIn("target=%s" % self.named, log[0])

        # No __param_module: /probe?target=HOST:PORT, no such [target]:
        # 400, as the example's comments say.
        self.wait_series("up", self.moduleless, 0)
        t = self.target(self.moduleless)
        self.assertIn("400", t["lastError"])
        self.assertNotIn("module=", t["scrapeUrl"])

        # The agent's own job, and the rules of the example.
        got = harness.wait_for(lambda: self.prom.query(
            'smtp_agent_build_info{job="%s",instance="%s"}'
            % (AGENT_JOB, self.agent.listen)), SCRAPE_WAIT_S,
            interval=0.5, message="the agent job's smtp_agent_build_info")
        self.assertEqual(got[0]["metric"]["team"], "mail")
        names = {r["name"] for r in self.prom.rules()}
        self.assertIn("SMTPAgentDown", names)
        self.assertEqual(len(names), read(ALERTS).count("- alert:"))

    def test_3_file_sd_change_is_picked_up(self):
        # The AUTH module's server is not a target yet.
        self.assertIsNone(self.target(self.added))
        self.write_sd(self.groups + [
            ([self.added], {"__param_module": "auth", "team": "mail"})])
        r = self.wait_series("probe_success", self.added, 1,
                             timeout=SD_CHANGE_WAIT_S)
        self.assertEqual(r["metric"]["team"], "mail")
        auth = self.prom.query(
            'smtp_auth_reply_code{job="%s",instance="%s"}'
            % (PROBE_JOB, self.added))
        self.assertEqual([(s["metric"]["mechanism"], float(s["value"][1]))
                          for s in auth], [("PLAIN", 235.0)])
        self.assertIn("module=auth", self.target(self.added)["scrapeUrl"])
        # The others stay.
        self.assertIsNotNone(self.target(self.good))

    def test_z_no_secret_anywhere(self):
        forms = harness.secret_forms(self.aio_auth.user,
                                     self.aio_auth.password)
        outputs = {"agent log": self.agent.stderr(),
                   "prometheus log": self.prom.log_text(),
                   "agent metrics": harness.http_get(self.agent.port,
                                                     "/metrics")[2],
                   "probe answer": harness.http_get(
                       self.agent.port, "/probe?module=auth&target=%s"
                       % self.added)[2]}
        harness.assert_no_secret(self, forms, outputs)


if __name__ == "__main__":
    unittest.main()
