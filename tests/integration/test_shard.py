"""shard = I/N against Prometheus itself (issue 13, "Past one machine").

ThreeShardsOfAThousand: 1,000 target addresses (host names on port 25,
some at the default port of tls = none, some on 587 and 2525, IPv6
literals among them) go to Prometheus as a file_sd job whose relabel rule
is `hashmod` of __address__ with modulus 3; `promtool check
service-discovery` prints the shard it gives each. Then three agents run
with the same 1,000 targets as [target] sections and shard = 0/3, 1/3,
2/3: the targets each one keeps (its smtp_target_info series, and the
names on its status page) are exactly Prometheus' set for its shard; the
three sets are disjoint and cover all 1,000; smtp_agent_shard_info and
smtp_agent_shard_targets and the log line say the same. Nothing is really
probed: interval 24h, timeout 1s, nothing listens (only the first target
of each agent is tried at start).

Reload: a SIGHUP that applies a shard keeps the counters of the targets
that stay and drops the others' series; another shard swaps the sets; a
bad shard keeps the old config.

BadValues: shard = 3/3, 1/0, x, -1/2 are errors that name file, line and
key, at --check-config and at start.

ShardedPrometheusExample: config/prometheus-sharded.yml passes `promtool
check config` and scrapes three agents, one per shard.

ScrapedByPrometheus: a real Prometheus with that example's job (its
targets replaced by three local agents, shard = 0/3, 1/3, 2/3, 62 targets
between them) sees each target from exactly one agent, the agent of its
hashmod shard, and the checks in the example's comments hold; with one
agent stopped the coverage check turns empty.

Needs promtool (Debian package prometheus) and PyYAML; loopback only.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402
import prom  # noqa: E402

N_TARGETS = 1000
SHARDS = 3
JOB = "smtp-shards"
SHARDED_EXAMPLE = os.path.join(harness.REPO, "config",
                               "prometheus-sharded.yml")


def address(host, port):
    """Prometheus' __address__ for host and port (Go's JoinHostPort)."""
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host,
                                                                   port)


def hashmod(addr, modulus):
    """The test's own hashmod, checked against promtool's in setUpClass:
    MD5, the last 8 bytes big-endian, modulo."""
    digest = hashlib.md5(addr.encode()).digest()
    return int.from_bytes(digest[8:], "big") % modulus


def fleet():
    """[(name, host, port or None for the default, address)] of the
    1,000 targets, all tls = none (default port 25)."""
    v6 = {97: "::1", 211: "2001:db8::1", 333: "2001:db8::a:b",
          500: "fd00::25", 777: "2001:DB8::7", 999: "::ffff:192.0.2.1"}
    out = []
    for i in range(N_TARGETS):
        host = v6.get(i, "host-%d.example" % i)
        port = {3: None, 5: 587, 7: 2525}.get(i % 10, 25)
        out.append(("t%d" % i, host, port, address(host, port or 25)))
    return out


def agent_config(targets, shard=None, interval="24h", timeout="1s"):
    head = "[agent]\ninterval = %s\ntimeout = %s\n" % (interval, timeout)
    if shard is not None:
        head += "shard = %s\n" % shard
    parts = [head]
    for name, host, port, _ in targets:
        parts.append('\n[target "%s"]\nhost = %s\n%stls = none\n'
                     % (name, host, "" if port is None
                        else "port = %d\n" % port))
    return "".join(parts)


def run(argv, timeout=60):
    proc = subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def need_promtool():
    if not shutil.which("promtool"):
        raise AssertionError("promtool not found: install the Debian "
                             "package prometheus (tests/setup.sh)")


def prometheus_shards(tmp, addresses, modulus):
    """{address: shard} as `promtool check service-discovery` relabels a
    file_sd job of these addresses with hashmod(__address__, modulus)."""
    sd = os.path.join(tmp, "targets.json")
    with open(sd, "w") as f:
        json.dump([{"targets": addresses, "labels": {"fleet": "mail"}}], f)
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        yaml.safe_dump({"scrape_configs": [{
            "job_name": JOB,
            "file_sd_configs": [{"files": [sd]}],
            "relabel_configs": [{
                "source_labels": ["__address__"],
                "modulus": modulus,
                "target_label": "__tmp_shard",
                "action": "hashmod"}]}]}, f)
    rc, out, err = run(["promtool", "check", "service-discovery",
                        "--timeout=5s", cfg, JOB])
    if rc != 0:
        raise AssertionError("promtool check service-discovery: %d\n%s%s"
                             % (rc, out, err))
    shards = {}
    for t in json.loads(out):
        labels = t["labels"]
        shards[labels["__address__"]] = int(labels["__tmp_shard"])
    return shards


def kept_addresses(samples):
    """The agent's targets as Prometheus addresses, from smtp_target_info:
    {target name: address}."""
    out = {}
    for lbl in harness.series(samples, "smtp_target_info"):
        d = dict(lbl)
        out[d["target"]] = address(d["host"], int(d["port"]))
    return out


def page_names(page):
    """Every target named on the status page: the cards, and the links of
    the compact lists below them (the failing list above repeats)."""
    cards = re.findall(r'<article class="card [a-z]+" id="t-([^"]+)"', page)
    below = page.split("</main>", 1)[1] if "</main>" in page else ""
    return cards + re.findall(r'<a href="\?target=([^"]+)">', below)


class ThreeShardsOfAThousand(unittest.TestCase):
    """Each agent's kept set is Prometheus' set for its shard."""

    @classmethod
    def setUpClass(cls):
        need_promtool()
        cls.targets = fleet()
        cls.addresses = [t[3] for t in cls.targets]
        cls.name_of = {t[3]: t[0] for t in cls.targets}
        with tempfile.TemporaryDirectory(prefix="shard-sd-") as tmp:
            cls.prom = prometheus_shards(tmp, cls.addresses, SHARDS)
        cls.want = {k: {a for a, s in cls.prom.items() if s == k}
                    for k in range(SHARDS)}
        cls.got = {}
        cls.page = {}
        cls.other = {}
        cls.log = {}
        binary = harness.agent_binary()
        for k in range(SHARDS):
            shard = "%d/%d" % (k, SHARDS)
            with harness.run_agent(binary, agent_config(cls.targets,
                                                         shard)) as ag:
                text, samples = harness.scrape(ag.port)
                cls.got[k] = (text, samples)
                status, _, body = harness.http_get(ag.port, "/")
                cls.page[k] = (status, body.decode("utf-8"))
                # A target of another shard has no page.
                other = sorted(cls.want[(k + 1) % SHARDS])[0]
                status, _, body = harness.http_get(
                    ag.port, "/?target=" + cls.name_of[other])
                cls.other[k] = (cls.name_of[other], status,
                                body.decode("utf-8"))
                cls.log[k] = ag.stderr()

    def test_promtool_saw_every_address(self):
        self.assertEqual(len(self.prom), N_TARGETS)
        self.assertEqual(sorted(self.prom), sorted(self.addresses))
        # Every shard holds a fair part (1/3 of 1,000 is 333): a broken
        # rule that put everything in one shard would not.
        for k in range(SHARDS):
            self.assertGreater(len(self.want[k]), 250, k)
        # The IPv6 literals are there in Prometheus' own form.
        for addr in ("[::1]:2525", "[2001:db8::1]:25", "[2001:DB8::7]:2525",
                     "[::ffff:192.0.2.1]:25"):
            self.assertTrue(addr in self.prom, addr)
        # The default port of tls = none is the address's port.
        self.assertTrue("host-3.example:25" in self.prom)

    def test_test_hashmod_is_promtools(self):
        """The test's own hashmod (used by Reload) agrees with promtool on
        all 1,000 addresses."""
        wrong = [a for a, s in self.prom.items() if hashmod(a, SHARDS) != s]
        self.assertEqual(wrong, [])

    def test_each_agent_keeps_prometheus_shard(self):
        for k in range(SHARDS):
            with self.subTest(shard=k):
                kept = kept_addresses(self.got[k][1])
                self.assertEqual(set(kept.values()), self.want[k])
                self.assertEqual(len(kept), len(self.want[k]))
                # ... under the names the file gives them.
                for name, addr in kept.items():
                    self.assertEqual(self.name_of[addr], name)

    def test_shards_are_disjoint_and_cover_all(self):
        sets = [set(kept_addresses(self.got[k][1]).values())
                for k in range(SHARDS)]
        for i in range(SHARDS):
            for j in range(i + 1, SHARDS):
                self.assertEqual(sets[i] & sets[j], set(), (i, j))
        union = set().union(*sets)
        self.assertEqual(len(union), N_TARGETS)
        self.assertEqual(union, set(self.addresses))
        self.assertEqual(sum(len(s) for s in sets), N_TARGETS)

    def test_no_series_of_other_shards(self):
        for k in range(SHARDS):
            with self.subTest(shard=k):
                mine = {self.name_of[a] for a in self.want[k]}
                named = {dict(lbl)["target"]
                         for (_, lbl) in self.got[k][1]
                         if "target" in dict(lbl)}
                self.assertEqual(named, mine)

    def test_shard_metrics(self):
        for k in range(SHARDS):
            with self.subTest(shard=k):
                s = self.got[k][1]
                n = len(self.want[k])
                self.assertEqual(harness.metric(
                    s, "smtp_agent_shard_info", shard=str(k),
                    shards=str(SHARDS)), 1)
                self.assertEqual(len(harness.series(
                    s, "smtp_agent_shard_info")), 1)
                self.assertEqual(harness.metric(
                    s, "smtp_agent_shard_targets", state="probed"), n)
                self.assertEqual(harness.metric(
                    s, "smtp_agent_shard_targets", state="other_shards"),
                    N_TARGETS - n)
                self.assertEqual(harness.metric(s, "smtp_agent_targets"), n)
                rc, out = harness.promtool_check(self.got[k][0])
                self.assertEqual(rc, 0, out)

    def test_log_says_how_many_were_left_out(self):
        for k in range(SHARDS):
            with self.subTest(shard=k):
                n = len(self.want[k])
                line = [ln for ln in self.log[k].splitlines()
                        if 'msg="started"' in ln or "msg=started" in ln]
                self.assertEqual(len(line), 1, self.log[k])
                self.assertIn("targets=%d shard=%d/%d other_shards=%d"
                              % (n, k, SHARDS, N_TARGETS - n), line[0])

    def test_status_page_shows_only_its_shard(self):
        for k in range(SHARDS):
            with self.subTest(shard=k):
                status, page = self.page[k]
                self.assertEqual(status, 200)
                self.assertEqual(sorted(page_names(page)),
                                 sorted(self.name_of[a]
                                        for a in self.want[k]))
                name, status, page = self.other[k]
                self.assertEqual(status, 404, page[:300])
                self.assertIn("No target is named <code>%s</code>" % name,
                              page)


def probes(samples, name):
    return harness.metric(samples, "smtp_probes_total", target=name)


class Reload(unittest.TestCase):
    """SIGHUP applies a changed shard; the targets that stay keep their
    counters."""

    def test_sighup_applies_shard(self):
        # 12 targets on closed loopback ports, probed every second: each
        # probe fails at once (connection refused) and counts.
        ports = [harness.free_port() for _ in range(12)]
        targets = [("r%d" % i, "127.0.0.1", p, address("127.0.0.1", p))
                   for i, p in enumerate(ports)]
        shard_of = {t[0]: hashmod(t[3], 2) for t in targets}
        # Twelve ports almost surely fall in both shards; the test needs
        # that, so it says so rather than pass vacuously.
        self.assertEqual(set(shard_of.values()), {0, 1}, shard_of)
        names = [t[0] for t in targets]
        ag = self.enterContext(harness.run_agent(
            harness.agent_binary(),
            agent_config(targets, interval="1s", timeout="1s")))
        scrape = lambda: harness.scrape(ag.port)[1]  # noqa: E731
        harness.wait_for(lambda: all((probes(scrape(), n) or 0) >= 2
                                     for n in names), 20,
                         message="two probes of every target")
        before = scrape()

        # Shard 0 of 2: its targets stay with their counts.
        with open(ag.config_path, "w") as f:
            f.write(agent_config(targets, "0/2", interval="1s",
                                 timeout="1s"))
        ag.signal(signal.SIGHUP)
        harness.wait_for(lambda: "shard=0/2" in ag.stderr(), 10,
                         message="the reload's log line")
        after = scrape()
        zero = sorted(n for n in names if shard_of[n] == 0)
        one = sorted(n for n in names if shard_of[n] == 1)
        self.assertEqual(sorted(kept_addresses(after)), zero)
        for n in zero:
            self.assertGreaterEqual(probes(after, n), probes(before, n), n)
            self.assertGreaterEqual(probes(after, n), 2, n)
        for n in one:
            self.assertIsNone(probes(after, n), n)
        self.assertEqual(harness.metric(after, "smtp_agent_shard_targets",
                                        state="other_shards"), len(one))
        self.assertEqual(harness.metric(
            after, "smtp_agent_config_last_reload_successful"), 1)
        self.assertIn("config reloaded", ag.stderr())
        reload_line = [ln for ln in ag.stderr().splitlines()
                       if "config reloaded" in ln][-1]
        self.assertIn("targets=%d shard=0/2 other_shards=%d"
                      % (len(zero), len(one)), reload_line)

        # A bad shard: the old config stays.
        with open(ag.config_path, "w") as f:
            f.write(agent_config(targets, "2/2", interval="1s",
                                 timeout="1s"))
        ag.signal(signal.SIGHUP)
        harness.wait_for(lambda: harness.metric(
            scrape(), "smtp_agent_config_last_reload_successful") == 0, 10)
        self.assertIn("agent.ini:4: shard: the shard I must be below",
                      ag.stderr())
        self.assertEqual(sorted(kept_addresses(scrape())), zero)

        # Shard 1 of 2: the sets swap. The targets that come back start
        # again (at most the first is probed at once under 1h), where
        # they had two probes or more before they left.
        with open(ag.config_path, "w") as f:
            f.write(agent_config(targets, "1/2", interval="1h",
                                 timeout="1s"))
        ag.signal(signal.SIGHUP)
        harness.wait_for(lambda: harness.metric(
            scrape(), "smtp_agent_shard_info", shard="1", shards="2") == 1,
            10, message="shard 1/2 applied")
        last = scrape()
        self.assertEqual(sorted(kept_addresses(last)), one)
        for n in zero:
            self.assertIsNone(probes(last, n), n)
        for n in one:
            self.assertGreaterEqual(probes(before, n), 2, n)
            self.assertLessEqual(probes(last, n), 1, n)
        self.assertEqual(harness.metric(last, "smtp_agent_targets"),
                         len(one))


class BadValues(unittest.TestCase):
    """Each bad shard is an error naming file, line and key."""

    CASES = {
        "3/3": "the shard I must be below the number of shards N (0 to "
               "N-1), not \"3/3\"",
        "1/0": "the number of shards N must be from 1 to 65535, not "
               "\"1/0\"",
        "x": "must be I/N, this agent's shard I (0 to N-1) of N agents, "
             "like 0/3, not \"x\"",
        "-1/2": "must be I/N, this agent's shard I (0 to N-1) of N agents, "
                "like 0/3, not \"-1/2\"",
    }

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="shard-bad-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, shard):
        path = os.path.join(self.tmp, "agent.ini")
        with open(path, "w") as f:
            # The key on line 3.
            f.write("[agent]\nlog_level = info\nshard = %s\n"
                    '[target "a"]\nhost = host-0.example\ntls = none\n'
                    % shard)
        return path

    def test_check_config(self):
        binary = harness.agent_binary()
        for value, message in self.CASES.items():
            with self.subTest(shard=value):
                path = self.write(value)
                proc = harness.run_agent_once(binary, ["-c", path,
                                                       "--check-config"])
                self.assertEqual(proc.returncode, 1, proc.stderr)
                self.assertIn("%s:3: shard: %s\n" % (path, message),
                              proc.stderr)
                self.assertIn("%s: 1 error\n" % path, proc.stderr)

    def test_start(self):
        path = self.write("1/0")
        proc = harness.run_agent_once(harness.agent_binary(),
                                      ["-c", path, "--listen",
                                       "127.0.0.1:%d" % harness.free_port()],
                                      timeout=20)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("%s:3: shard: %s\n" % (path, self.CASES["1/0"]),
                      proc.stderr)

    def test_good_value_passes(self):
        """The same file with a good value is valid: the errors above are
        the value's."""
        path = self.write("2/3")
        proc = harness.run_agent_once(harness.agent_binary(),
                                      ["-c", path, "--check-config"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        # host-0.example:25 is in shard 0 of 3 (promtool): none in 2/3.
        self.assertIn("ok, 0 targets in shard 2/3, 1 in other shards",
                      proc.stderr)
        self.assertIn("none of the 1 targets falls in shard 2/3",
                      proc.stderr)


# The checks config/prometheus-sharded.yml's comments give, as PromQL.
COVERAGE = ('sum(smtp_agent_shard_targets{state="probed"})\n'
            '    == max(sum by (instance) (smtp_agent_shard_targets))')
ONCE_EACH = "max(count by (target) (smtp_target_info)) == 1"


class ScrapedByPrometheus(unittest.TestCase):
    """Three sharded agents under the example's scrape job."""

    def test_prometheus_sees_each_target_once(self):
        targets = [t for i, t in enumerate(fleet())
                   if i < 60 or i in (97, 211)]
        n = len(targets)
        binary = harness.agent_binary()
        agents = [self.enterContext(harness.run_agent(
            binary, agent_config(targets, "%d/%d" % (k, SHARDS))))
            for k in range(SHARDS)]
        with open(SHARDED_EXAMPLE) as f:
            text = f.read()
        for expr in (COVERAGE, ONCE_EACH):
            self.assertIn("\n#   " + expr.replace("\n", "\n# ") + "\n",
                          text)
        doc = yaml.safe_load(text)
        doc["global"]["scrape_interval"] = "1s"
        job = doc["scrape_configs"][0]
        job["scrape_interval"] = "1s"
        job["scrape_timeout"] = "1s"
        for sc, ag in zip(job["static_configs"], agents):
            sc["targets"] = [ag.listen]
        instance = {ag.listen: k for k, ag in enumerate(agents)}
        with open(os.path.join(harness.REPO, "config", "alerts.yml")) as f:
            rules = f.read()
        p = self.enterContext(prom.PrometheusServer(
            yaml.safe_dump(doc), {"alerts.yml": rules}))
        harness.wait_for(lambda: len(p.query(
            'up{job="%s"} == 1' % job["job_name"])) == SHARDS, 30,
            message="Prometheus scraping the three agents")
        harness.wait_for(lambda: p.query(
            "count(count by (target) (smtp_target_info))"), 30)

        got = p.query(COVERAGE)
        self.assertEqual(len(got), 1, got)
        self.assertEqual(float(got[0]["value"][1]), n)
        got = p.query(ONCE_EACH)
        self.assertEqual(len(got), 1, got)
        got = p.query("count(count by (target) (smtp_target_info))")
        self.assertEqual(float(got[0]["value"][1]), n)
        # Each target from the agent of its hashmod shard, with the team
        # label the example gives every agent.
        seen = {}
        for r in p.query("smtp_target_info"):
            m = r["metric"]
            self.assertEqual(m.get("team"), "mail")
            seen[m["target"]] = instance[m["instance"]]
        want = {name: hashmod(addr, SHARDS)
                for name, _, _, addr in targets}
        self.assertEqual(seen, want)

        # One agent gone: its targets are no one's, and the coverage check
        # says so as soon as its series are stale.
        agents[2].stop()
        harness.wait_for(lambda: p.query(COVERAGE) == [], 30,
                         message="the coverage check to turn empty")


class Once(unittest.TestCase):
    """--once probes this shard's targets only."""

    def test_once_probes_its_shard(self):
        tmp = tempfile.mkdtemp(prefix="shard-once-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "agent.ini")
        # promtool's shards of 3: host-0.example:25 and [::1]:25 are in 0,
        # host-1.example:25 and [2001:db8::1]:587 in 2. Nothing listens on
        # [::1]:25 here, and .example does not resolve: quick failures.
        targets = [("h0", "host-0.example", 25, None),
                   ("h1", "host-1.example", 25, None),
                   ("lo", "::1", 25, None),
                   ("v6", "2001:db8::1", 587, None)]
        with open(path, "w") as f:
            f.write(agent_config(targets, "0/3", timeout="2s"))
        proc = harness.run_agent_once(harness.agent_binary(),
                                      ["-c", path, "--once", "--format",
                                       "json"])
        self.assertEqual(proc.returncode, 1, proc.stderr)
        names = sorted(t["name"] for t in json.loads(proc.stdout)["targets"])
        self.assertEqual(names, ["h0", "lo"])


class ReadmeExample(unittest.TestCase):
    """The README's sharding example does what the README says: shard 0/3
    probes mx1, 1/3 smtp, 2/3 mx3."""

    def test_each_shard_keeps_one(self):
        with open(os.path.join(harness.REPO, "README.md")) as f:
            readme = f.read()
        section = readme.split("### Sharding", 1)[1].split("\n## ", 1)[0]
        ini = re.search(r"```ini\n(.*?)```", section, re.S).group(1)
        self.assertIn("shard = 0/3", ini)
        tmp = tempfile.mkdtemp(prefix="shard-readme-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "agent.ini")
        for k, name in enumerate(("mx1", "smtp", "mx3")):
            with self.subTest(shard=k):
                with open(path, "w") as f:
                    f.write(ini.replace("shard = 0/3", "shard = %d/3" % k))
                proc = harness.run_agent_once(harness.agent_binary(),
                                              ["-c", path, "--check-config"])
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertIn("ok, 1 target in shard %d/3, 2 in other "
                              "shards" % k, proc.stderr)
                self.assertIn("`%s`" % name, section)
                # The one it keeps is `name`: its address hashes to k.
                t = re.search(r'\[target "%s"\]\nhost = (\S+)' % name, ini)
                self.assertEqual(hashmod(t.group(1) + ":587", 3), k)


class ShardedPrometheusExample(unittest.TestCase):
    """config/prometheus-sharded.yml: valid, and one job of three agents
    whose comments give each one its shard."""

    def test_promtool_check_config(self):
        need_promtool()
        rc, out, err = run(["promtool", "check", "config",
                            SHARDED_EXAMPLE])
        self.assertEqual(rc, 0, out + err)
        self.assertIn("SUCCESS", out + err)

    def test_three_agents_one_shard_each(self):
        with open(SHARDED_EXAMPLE) as f:
            text = f.read()
        doc = yaml.safe_load(text)
        jobs = doc["scrape_configs"]
        self.assertEqual(len(jobs), 1)
        self.assertEqual(jobs[0].get("metrics_path", "/metrics"), "/metrics")
        agents = [t for sc in jobs[0]["static_configs"]
                  for t in sc["targets"]]
        self.assertEqual(len(agents), SHARDS)
        self.assertEqual(len(set(agents)), SHARDS)
        # Each agent's line is preceded by the comment with its shard.
        for k, agent in enumerate(agents):
            m = re.search(r"#[^\n]*shard = (\d+)/(\d+)[^\n]*\n(?:\s*#[^\n]*"
                          r"\n)*\s*- targets: \[\"%s\"\]" % re.escape(agent),
                          text)
            self.assertIsNotNone(m, agent)
            self.assertEqual((int(m.group(1)), int(m.group(2))),
                             (k, SHARDS))


if __name__ == "__main__":
    unittest.main()
