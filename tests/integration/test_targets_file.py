"""targets_file: targets from Prometheus file_sd files (issue 13).

Check (--check-config, no server): JSON and YAML files matched by globs
give targets named HOST:PORT/MODULE with their group's labels joined to
the module's; a broken file, a module the file names but the config
lacks, an address outside the module's allowed_targets fail the check
naming the file, the line and the group; bad patterns are refused at
file:line:key.

Live (an agent probing a real aiosmtpd with STARTTLS and AUTH PLAIN
through a module): a file's target is probed with the module's
credentials and carries the group's labels; a file written anew is
picked up without a restart or a signal; a broken file keeps the old
targets, says why in the log and sets smtp_agent_targets_file_valid to
0, and its counters go on; a fixed file is taken again; a deleted file
takes its targets away; /probe?target= answers for a file's target; no
form of the password in the log or the metrics.

Shards: the same file_sd file given to Prometheus (promtool check
service-discovery with a hashmod relabel) and to three agents with
shard = I/3: each agent keeps exactly Prometheus' shard.

Every server listens on 127.0.0.1; every wait has a deadline.
"""

import json
import os
import signal
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_shard  # noqa: E402

CHECK_CONFIG = """
[agent]
targets_file = sd/*.json
targets_file = sd/*.yml
labels = env=test

[module "sub"]
tls = none
allowed_targets = *.example.com:587 192.0.2.0/24
labels = team=mail
"""


def write(path, text):
    """Writes text to path as a file_sd writer should: a new file renamed
    into place, so that no reader sees half of it."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def check(dirname):
    return harness.run_agent_once(
        harness.agent_binary(),
        ["-c", os.path.join(dirname, "agent.ini"), "--check-config"])


class Check(unittest.TestCase):

    def setUp(self):
        self.dir = self.enterContext(
            tempfile.TemporaryDirectory(prefix="sd-check-"))
        os.mkdir(os.path.join(self.dir, "sd"))
        with open(os.path.join(self.dir, "agent.ini"), "w") as f:
            f.write(CHECK_CONFIG)
        self.sd = os.path.join(self.dir, "sd")
        write(os.path.join(self.sd, "a.json"), json.dumps([
            {"targets": ["mx1.example.com:587", "192.0.2.7"],
             "labels": {"__param_module": "sub", "site": "fra"}}]))
        write(os.path.join(self.sd, "b.yml"),
              "- targets: ['[2001:db8::1]:25']\n  labels: {site: ber}\n")

    def test_good_files(self):
        r = check(self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ok, 3 targets, 3 from 2 targets files", r.stderr)

    def test_broken_file_fails_the_check(self):
        write(os.path.join(self.sd, "b.yml"),
              "- targets: ['[2001:db8::1]:25']\n- targets: ['a b']\n")
        r = check(self.dir)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(os.path.join("sd", "b.yml") + ": line 2: group 2: "
                      "targets[0]: \"a b\" is not an address", r.stderr)
        self.assertIn("1 targets file error", r.stderr)

    def test_unknown_module(self):
        write(os.path.join(self.sd, "c.json"), json.dumps([
            {"targets": ["mx2.example.com:587"],
             "labels": {"__param_module": "nope"}}]))
        r = check(self.dir)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("c.json: group 1: __param_module \"nope\" is not a "
                      "[module] of", r.stderr)

    def test_module_allowed_targets_apply(self):
        # A file may not point the module's credentials anywhere.
        write(os.path.join(self.sd, "c.json"), json.dumps([
            {"targets": ["mx2.example.com:25"],
             "labels": {"__param_module": "sub"}}]))
        r = check(self.dir)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("c.json: group 1: targets[0]: mx2.example.com:25 is "
                      "not in module sub's allowed_targets", r.stderr)

    def test_bad_patterns(self):
        text = CHECK_CONFIG.replace(
            "targets_file = sd/*.yml",
            "targets_file = sd/*.yml\ntargets_file = s*/x.json\n"
            "targets_file = sd/targets\ntargets_file = sd/*.json")
        with open(os.path.join(self.dir, "agent.ini"), "w") as f:
            f.write(text)
        r = check(self.dir)
        self.assertEqual(r.returncode, 1, r.stderr)
        ini = os.path.join(self.dir, "agent.ini")
        self.assertIn(ini + ":5: targets_file: glob characters (* ? [) only "
                      "in the file's name", r.stderr)
        self.assertIn(ini + ":6: targets_file: must end in .json, .yml or "
                      ".yaml", r.stderr)
        self.assertIn(ini + ":7: targets_file: \"sd/*.json\" given twice "
                      "(first on line 3)", r.stderr)

    def test_a_pattern_matching_nothing_is_a_warning(self):
        for name in ("a.json", "b.yml"):
            os.unlink(os.path.join(self.sd, name))
        r = check(self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("matches no file yet", r.stderr)


LIVE_CONFIG = """
[agent]
listen = @LISTEN@
interval = 2s
timeout = 1500ms
targets_file = @DIR@/sd/*.yml
labels = env=test

[module "auth"]
tls = starttls
ca_file = @CA_FILE@
server_name = localhost
mechanisms = PLAIN
username = %(user)s
password_file = @PASSWORD_FILE@
allowed_targets = 127.0.0.1
labels = team=mail
"""


def total(samples, name, **labels):
    """The sum over every series of name with these labels (a target's
    series carry its own labels too); None when there is none."""
    got = harness.series(samples, name, **labels)
    return sum(got.values()) if got else None


def targets(samples):
    """{target: labels dict} of smtp_target_info."""
    return {dict(lb)["target"]: dict(lb)
            for lb in harness.series(samples, "smtp_target_info")}


class Live(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.aio = cls.enterClassContext(harness.aiosmtpd(tls="starttls"))
        cls.agent = harness.AgentProcess(
            harness.agent_binary(), LIVE_CONFIG % dict(user=cls.aio.user),
            password=cls.aio.password)
        cls.sd = os.path.join(cls.agent.dir, "sd")
        os.mkdir(cls.sd)
        cls.file = os.path.join(cls.sd, "mail.yml")
        cls.name = "127.0.0.1:%d/auth" % cls.aio.port
        write(cls.file, "- targets: ['127.0.0.1:%d']\n  labels:\n"
              "    __param_module: auth\n    site: fra\n" % cls.aio.port)
        cls.enterClassContext(cls.agent)
        cls.outputs = {}

    def scrape(self):
        text, samples = harness.scrape(self.agent.port)
        self.outputs.setdefault("metrics", []).append(text)
        return samples

    def wait_metric(self, what, predicate, timeout=15):
        harness.wait_for(lambda: predicate(self.scrape()), timeout,
                         message=what)
        return self.scrape()

    def test_1_probed_with_the_module_and_the_groups_labels(self):
        s = self.wait_metric("the file's target probed", lambda s: total(
            s, "smtp_probe_success", target=self.name) == 1)
        self.assertEqual(targets(s)[self.name], {
            "target": self.name, "team": "mail", "site": "fra",
            "host": "127.0.0.1", "port": str(self.aio.port),
            "tls": "starttls", "tls_verify": "true"})
        self.assertGreater(total(
            s, "smtp_auth_results_total", target=self.name, mechanism="PLAIN",
            **{"class": "success"}), 0)
        self.assertEqual(harness.metric(
            s, "smtp_agent_targets_file_valid", targets_file=self.file), 1)
        self.assertEqual(harness.metric(
            s, "smtp_agent_targets_file_targets", targets_file=self.file), 1)
        status, _, body = harness.http_get(
            self.agent.port, "/probe?target=" + self.name)
        self.outputs["probe"] = body
        self.assertEqual(status, 200, body)
        # The file's labels are on /probe's answer too.
        self.assertEqual(harness.metric(
            harness.parse_metrics(body.decode()), "probe_success",
            team="mail", site="fra"), 1)

    def test_2_a_new_file_is_taken_without_a_restart(self):
        other = os.path.join(self.sd, "more.yml")
        write(other, "- targets: ['127.0.0.1:%d']\n" % self.aio.port)
        plain = "127.0.0.1:%d" % self.aio.port
        s = self.wait_metric("the new file's target", lambda s: plain in
                             targets(s))
        # No module: [agent]'s defaults (an EHLO-only probe) and labels.
        self.assertEqual(targets(s)[plain]["env"], "test")
        self.assertNotIn("team", targets(s)[plain])
        self.assertIn(self.name, targets(s))
        os.unlink(other)
        s = self.wait_metric("the deleted file's target gone", lambda s:
                             plain not in targets(s))
        self.assertIn(self.name, targets(s))
        self.assertIsNone(harness.metric(
            s, "smtp_agent_targets_file_valid", targets_file=other))
        self.assertIn("why=targets_file", self.agent.stderr())

    def test_3_a_broken_file_keeps_its_targets(self):
        before = total(self.scrape(), "smtp_probes_total", target=self.name)
        self.assertGreater(before, 0)
        write(self.file, "- targets: ['127.0.0.1:%d'\n" % self.aio.port)
        s = self.wait_metric("the file marked broken", lambda s:
                             harness.metric(s, "smtp_agent_targets_file_valid",
                                            targets_file=self.file) == 0)
        self.assertIn(self.name, targets(s))
        self.assertEqual(harness.metric(
            s, "smtp_agent_targets_file_targets", targets_file=self.file), 1)
        log = self.agent.stderr()
        self.assertIn("targets file error", log)
        self.assertIn(self.file + ": line 2, column 1:", log)
        self.assertIn("last good version's 1 target stays", log)
        # Still probed, and its counters went on.
        s = self.wait_metric("probes go on", lambda s: total(
            s, "smtp_probes_total", target=self.name) > before)
        write(self.file, "- targets: ['127.0.0.1:%d']\n  labels:\n"
              "    __param_module: auth\n    site: muc\n" % self.aio.port)
        s = self.wait_metric("the fixed file taken", lambda s:
                             harness.metric(s, "smtp_agent_targets_file_valid",
                                            targets_file=self.file) == 1)
        self.assertEqual(targets(s)[self.name]["site"], "muc")
        self.assertGreater(total(s, "smtp_probes_total", target=self.name),
                           before)

    def test_4_sighup_reads_the_files_too(self):
        self.agent.signal(signal.SIGHUP)
        harness.wait_for(lambda: "why=sighup" in self.agent.stderr(), 10,
                         message="a reload by SIGHUP")
        self.assertIn(self.name, targets(self.scrape()))

    def test_z_no_secret_anywhere(self):
        forms = harness.secret_forms(self.aio.user, self.aio.password)
        outputs = {k: "".join(v) if isinstance(v, list) else v
                   for k, v in self.outputs.items()}
        outputs["log"] = self.agent.stderr()
        harness.assert_no_secret(self, forms, outputs)


class Shards(unittest.TestCase):
    """One file_sd file, read by Prometheus and by three agents."""

    def test_each_agent_keeps_prometheus_shard(self):
        test_shard.need_promtool()
        fleet = test_shard.fleet()
        addresses = [t[3] for t in fleet]
        with tempfile.TemporaryDirectory(prefix="sd-shards-") as tmp:
            prom = test_shard.prometheus_shards(tmp, addresses,
                                                test_shard.SHARDS)
            sd = os.path.join(tmp, "targets.json")  # what promtool read
            self.assertEqual(len(prom), len(addresses))
            got = {}
            for k in range(test_shard.SHARDS):
                text = ("[agent]\nlisten = @LISTEN@\ninterval = 24h\n"
                        "timeout = 1s\nshard = %d/%d\ntargets_file = %s\n"
                        % (k, test_shard.SHARDS, sd))
                with harness.run_agent(harness.agent_binary(), text) as ag:
                    _, samples = harness.scrape(ag.port)
                got[k] = set(targets(samples))
            for k in range(test_shard.SHARDS):
                want = {a for a, s in prom.items() if s == k}
                self.assertEqual(got[k], want, k)
                self.assertGreater(len(want), 250)


if __name__ == "__main__":
    unittest.main()
