"""Target labels (key `labels`) on a real agent probing a real aiosmtpd.

One aiosmtpd (STARTTLS, PLAIN and LOGIN) and a closed port; three
targets: "aio" with labels of its own (a quoted value with an escaped
quote and a backslash, a UTF-8 value) and every extra_metrics option, so
that every family of a target has a series; "inherits", EHLO-only, with
[agent]'s labels; "off" (labels = none) against the closed port. Every
check reads a real scrape (passed through promtool check metrics), the
status page, or --check-config's exit status and messages.
"""

import os
import re
import signal
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

AIO_LABELS = {"team": "mail", "note": 'on call: "mail" \\ team',
              "site": "Z\u00fcrich"}
# As every series of aio shows them, right after target.
AIO_TEXT = ('{target="aio",team="mail",note="on call: \\"mail\\" \\\\ team",'
            'site="Z\u00fcrich"')
AGENT_LABELS = {"env": "prod"}
OWN_NAMES = set(AIO_LABELS) | set(AGENT_LABELS) | {"zone"}

CONFIG = """
[agent]
interval = 1s
timeout = 900ms
labels = env=prod
extra_metrics = duration_buckets, ehlo_extensions, last_reply_codes, zero_series

[target "aio"]
host = 127.0.0.1
port = %(aio)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN LOGIN
username = %(user)s
password_file = @PASSWORD_FILE@
%(aio_labels)s

[target "inherits"]
host = 127.0.0.1
port = %(aio)d
server_name = localhost
ca_file = @CA_FILE@

[target "off"]
host = 127.0.0.1
port = %(closed)d
tls = none
labels = none
"""

AIO_LABELS_LINE = ('labels = team=mail note="on call: \\"mail\\" \\\\ team" '
                   'site=Z\u00fcrich')
CHANGED_LABELS_LINE = "labels = zone=eu team=dns"

# The families of the agent as a whole (and process_*): never a target,
# never its labels.
AGENT_FAMILIES = {
    "smtp_agent_build_info", "smtp_agent_targets",
    "smtp_agent_probes_in_flight", "smtp_agent_resource_failures_total",
    "smtp_agent_probe_start_delay_seconds",
    "smtp_agent_config_last_reload_successful",
    "smtp_agent_config_last_reload_success_timestamp_seconds",
    "smtp_agent_shard_info", "smtp_agent_shard_targets",
}


def family_of(name, meta):
    """A sample's family: its name, or without _bucket/_sum/_count for a
    histogram's."""
    if name in meta:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and meta.get(base, {}).get(
                "type") == "histogram":
            return base
    raise AssertionError("no family for %s" % name)


class Labels(unittest.TestCase):

    def start(self):
        aio = self.enterContext(harness.aiosmtpd(tls="starttls"))
        params = {"aio": aio.port, "user": aio.user,
                  "closed": harness.free_port(),
                  "aio_labels": AIO_LABELS_LINE}
        ag = self.enterContext(harness.run_agent(
            harness.agent_binary(), CONFIG % params, password=aio.password))
        return ag, params

    def wait_probed(self, ag):
        def ready():
            s = harness.scrape(ag.port)[1]
            good = harness.series(s, "smtp_auth_results_total",
                                  target="aio", mechanism="PLAIN",
                                  **{"class": "success"})
            return (any(v >= 1 for v in good.values()) and
                    any(v >= 1 for v in harness.series(
                        s, "smtp_probes_total", target="inherits").values())
                    and any(v >= 1 for v in harness.series(
                        s, "smtp_probes_total", target="off").values()))
        harness.wait_for(ready, 15, message="every target probed")

    def check_scrape(self, text, aio_labels, aio_text):
        """Every series of a target carries its labels right after target,
        the agent-wide ones none; every family of a target has aio's."""
        rc, out = harness.promtool_check(text)
        self.assertEqual(rc, 0, out)
        meta = harness.parse_metadata(text)
        samples = harness.parse_metrics(text)
        target_fams, aio_fams = set(), set()
        for (name, labels), _ in samples.items():
            labels = dict(labels)
            fam = family_of(name, meta)
            own = set(labels) & OWN_NAMES
            target = labels.get("target")
            if target is None:
                self.assertTrue(fam in AGENT_FAMILIES or
                                fam.startswith("process_"), name)
                self.assertEqual(own, set(), name)
                continue
            self.assertNotIn(fam, AGENT_FAMILIES, name)
            target_fams.add(fam)
            if target == "aio":
                aio_fams.add(fam)
                self.assertEqual({k: labels[k] for k in own}, aio_labels,
                                 name)
            elif target == "inherits":
                self.assertEqual({k: labels[k] for k in own}, AGENT_LABELS,
                                 name)
            else:
                self.assertEqual(target, "off")
                self.assertEqual(own, set(), name)
        self.assertEqual(aio_fams, target_fams)
        # The families DESIGN.md gives a target label, all here.
        for fam in ("smtp_probe_success", "smtp_probe_duration_seconds",
                    "smtp_probe_phase_duration_seconds", "smtp_probes_total",
                    "smtp_probe_failures_total", "smtp_probe_errors_total",
                    "smtp_replies_total", "smtp_auth_results_total",
                    "smtp_last_reply_code", "smtp_auth_mechanism_advertised",
                    "smtp_ehlo_extension", "smtp_tls_info",
                    "smtp_tls_cert_expiry_timestamp_seconds",
                    "smtp_tls_cert_valid",
                    "smtp_probe_last_run_timestamp_seconds",
                    "smtp_target_info", "smtp_agent_probes_skipped_total"):
            self.assertIn(fam, aio_fams)
        # The order: target, the target's labels as given, then the
        # family's own (le last), on every line of aio, as written.
        n = 0
        for line in text.split("\n"):
            if '{target="aio"' in line:
                n += 1
                self.assertTrue(line[line.index("{"):].startswith(aio_text),
                                line)
            elif '{target="inherits"' in line:
                self.assertTrue(line[line.index("{"):].startswith(
                    '{target="inherits",env="prod"'), line)
        self.assertGreater(n, 40)
        self.assertEqual(len(harness.series(samples, "smtp_target_info",
                                            target="aio")), 1)
        line = [ln for ln in text.split("\n")
                if ln.startswith('smtp_target_info{target="aio"')][0]
        self.assertRegex(line, re.escape(aio_text) +
                         r',host="127\.0\.0\.1",port="\d+",tls="starttls",'
                         r'tls_verify="true"\} 1$')
        return samples

    def test_labels_scrape_reload_and_page(self):
        ag, params = self.start()
        self.wait_probed(ag)
        text, _ = harness.scrape(ag.port)
        self.check_scrape(text, AIO_LABELS, AIO_TEXT)
        # The same once gzip'd.
        gz, _ = harness.scrape(ag.port, accept_gzip=True)
        self.assertIn(AIO_TEXT, gz)

        # The status page: aio's card shows its labels, escaped.
        page = harness.http_get(ag.port, "/?target=aio")[2].decode()
        self.assertIn('<p class="labels"><code>team=&quot;mail&quot;,'
                      'note=&quot;on call: \\&quot;mail\\&quot; \\\\ '
                      'team&quot;,site=&quot;Z\u00fcrich&quot;</code></p>',
                      page)
        page = harness.http_get(ag.port, "/?target=off")[2].decode()
        self.assertNotIn('class="labels"', page)

        # Reload with other labels: the next scrape shows them, and the
        # counters of aio go on from where they were.
        def probes(s):
            return max(harness.series(s, "smtp_probes_total",
                                      target="aio").values())
        before = probes(harness.scrape(ag.port)[1])
        params["aio_labels"] = CHANGED_LABELS_LINE
        with open(ag.config_path, "w") as f:
            f.write(ag._substitute(CONFIG % params))
        ag.signal(signal.SIGHUP)
        harness.wait_for(lambda: 'team="dns"' in harness.scrape(ag.port)[0],
                         5, message="new labels after SIGHUP")
        text, s = harness.scrape(ag.port)
        self.assertNotIn('team="mail"', text)
        self.assertNotIn("note=", text)
        self.check_scrape(text, {"zone": "eu", "team": "dns"},
                          '{target="aio",zone="eu",team="dns"')
        self.assertGreaterEqual(probes(s), before)
        self.assertEqual(harness.metric(
            s, "smtp_agent_config_last_reload_successful"), 1)


class CheckConfig(unittest.TestCase):
    """--check-config: a bad labels line is exit 1 with file:line: key;
    the same file with a good line is exit 0."""

    def check(self, labels_line):
        d = self.enterContext(tempfile.TemporaryDirectory())
        path = os.path.join(d, "agent.ini")
        with open(path, "w", encoding="utf-8") as f:
            f.write('[agent]\ninterval = 30s\n[target "mx1"]\n'
                    "host = mx1.example.com\ntls = none\n%s\n" % labels_line)
        r = harness.run_agent_once(harness.agent_binary(),
                                   ["-c", path, "--check-config"])
        return r, path

    def test_good_labels(self):
        r, _ = self.check('labels = team=mail note="a b \\" c"')
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_bad_labels(self):
        cases = [
            ("labels = team=mail stage=x", 'label name "stage" is reserved'),
            ("labels = job=x", 'label name "job" is reserved'),
            ("labels = __x=1", 'label name "__x": names starting with __'),
            ("labels = 1x=a", 'label name "1x" must match'),
            ("labels = a=1 a=2", 'label "a" is given twice'),
            ('labels = a="unterminated',
             'the value of label "a" has no closing double quote'),
            ("labels = a=" + "x" * 129,
             'the value of label "a" is longer than 128 bytes'),
            ("labels = team", '"team" is not name=value'),
            ("labels = a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9",
             "more than 8 labels"),
        ]
        for line, message in cases:
            with self.subTest(line=line):
                r, path = self.check(line)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn("%s:6: labels: %s" % (path, message),
                              r.stderr)


if __name__ == "__main__":
    unittest.main()
