"""Issue 14, part 2: certificate facts that match what the client trusted.

Real chains made by the test CA (tests/support/certs.py, ensure_chains),
served by aiosmtpd, probed by the agent:
- leaf + intermediate + an old cross-sign of the CA that expired in 2020
  and that no verified path uses: the presented chain's earliest notAfter
  is 2020, the verified chain's (leaf, intermediate, CA) 2040; the expiry
  alerts, fed the values of the real scrape through promtool, stay silent;
  so they do for the same chain with a cross-sign that expires in 3 days
  (the presented chain's figure, which the alerts used before, paged);
- an intermediate that expires in 10 days: the verified chain's figure is
  its notAfter, and SMTPCertificateExpiringSoon fires;
- a leaf not valid before 2039: valid 0, notBefore in the future, no
  verified figure;
- a load balancer whose second backend serves an expired leaf (the
  project's hostile server): the sessions combine as the rest of the TLS
  facts do (no verified figure unless every session's chain verified,
  the leaf's earliest notAfter, the first session's identity), and the
  critical expiry alert fires from the presented chain's figure.
The leaf's identity (smtp_tls_cert_info, with extra_metrics = cert_details)
is checked against `openssl x509` of the same files; /probe, the status
page and --once JSON show the same facts.

Every server listens on 127.0.0.1 only; every wait has a deadline.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import certs  # noqa: E402
import harness  # noqa: E402
import hostile_smtpd  # noqa: E402

PASSWORD = "fixture-certs-pw-14"
USER = "probe@certs.test"
LEAF_NOT_BEFORE_TS = 1577836800  # 2020-01-01, every fixed-date leaf's
JOB, INSTANCE = "smtp-health-agent", "agent1:9925"
RULES = os.path.join(harness.REPO, "config", "alerts.yml")
EVAL = 15 * 60  # promtool's eval_time, seconds from its epoch 0


def openssl_facts(cert):
    """(sha256 fingerprint, serial) of a PEM file by openssl itself, in the
    agent's form: lowercase hex without colons."""
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-serial",
         "-in", cert], stdout=subprocess.PIPE, text=True, check=True,
        timeout=30).stdout
    fp = re.search(r"Fingerprint=([0-9A-F:]+)", out).group(1)
    serial = re.search(r"serial=([0-9A-F]+)", out).group(1)
    return fp.replace(":", "").lower(), serial.lower()


def wait_probed(agent, targets, timeout=30):
    def probed():
        s = harness.scrape(agent.port)[1]
        return all((harness.metric(s, "smtp_probes_total", target=t) or 0)
                   >= 1 for t in targets)
    harness.wait_for(probed, timeout, message="a probe of each of %s"
                     % ", ".join(targets))


TARGETS = ("cross", "cross_soon", "soon", "future", "future_verify", "lb")


class CertChainsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pki = harness.shared_pki()
        cls.ch = certs.ensure_chains(cls.pki)
        aio = {}
        for name, pair in (("cross", cls.ch.with_cross),
                           ("cross_soon", cls.ch.with_cross_soon),
                           ("soon", cls.ch.soon_chain),
                           ("future", cls.ch.future)):
            aio[name] = cls.enterClassContext(
                harness.aiosmtpd(tls="starttls", pair=pair))
        cls.lb = cls.enterClassContext(hostile_smtpd.HostileServer(
            ["lb_second_backend_expired"], cls.pki.dir))
        target = harness.target_ini
        text = "\n".join([
            "[agent]", "interval = 3s", "timeout = 3s",
            "extra_metrics = cert_details",
            target("cross", aio["cross"].port),
            target("cross_soon", aio["cross_soon"].port),
            target("soon", aio["soon"].port),
            target("future", aio["future"].port, tls_verify="false"),
            target("future_verify", aio["future"].port),
            target("lb", cls.lb.ports["lb_second_backend_expired"],
                   tls_verify="false", mechanisms="PLAIN LOGIN",
                   username=USER, password_file="@PASSWORD_FILE@"),
        ]) + "\n"
        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(), text, password=PASSWORD))
        # /probe of two of them (never of lb: the hostile load balancer
        # alternates by connection, and a /probe beside the schedule's
        # probe would swap its backends' order).
        cls.probe_text = {}
        for t in ("cross", "future"):
            status, _, body = harness.http_get(
                cls.agent.port, "/probe?target=%s" % t)
            assert status == 200, (t, status, body[:300])
            cls.probe_text[t] = body.decode()
        wait_probed(cls.agent, TARGETS, timeout=20)
        cls.scrape_time = time.time()
        cls.text, cls.samples = harness.scrape(cls.agent.port)
        cls.page = harness.http_get(cls.agent.port, "/")[2].decode()
        r = harness.run_agent_once(
            harness.agent_binary(), ["-c", cls.agent.config_path, "--once",
                                     "--format", "json"], timeout=60)
        cls.once = {t["name"]: t for t in json.loads(r.stdout)["targets"]}

    def m(self, name, target):
        return harness.metric(self.samples, name, target=target)

    def info(self, target):
        """The labels of the target's smtp_tls_cert_info (one series)."""
        found = harness.series(self.samples, "smtp_tls_cert_info",
                               target=target)
        self.assertEqual(len(found), 1, found)
        (labels, value), = found.items()
        self.assertEqual(value, 1)
        d = dict(labels)
        del d["target"]
        return d

    # --- the chains ----------------------------------------------------------

    def test_cross_sign_off_the_verified_path(self):
        t = "cross"
        self.assertEqual(self.m("smtp_tls_cert_valid", t), 1)
        # The presented chain holds the cross-sign that expired in 2020 ...
        self.assertEqual(self.m("smtp_tls_cert_expiry_timestamp_seconds", t),
                         certs.CROSS_NOT_AFTER_TS)
        # ... the verified one (leaf 2040, intermediate 2045, CA) does not.
        self.assertEqual(self.m(
            "smtp_tls_verified_chain_expiry_timestamp_seconds", t),
            certs.SERVER_NOT_AFTER_TS)
        self.assertEqual(self.m(
            "smtp_tls_leaf_cert_not_after_timestamp_seconds", t),
            certs.SERVER_NOT_AFTER_TS)
        self.assertEqual(self.m(
            "smtp_tls_leaf_cert_not_before_timestamp_seconds", t),
            LEAF_NOT_BEFORE_TS)
        fp, serial = openssl_facts(self.ch.leaf.cert)
        self.assertEqual(self.info(t), {
            "fingerprint_sha256": fp, "subject": "CN=localhost",
            "issuer": "CN=smtp-health-agent test intermediate",
            "serial": serial})

    def test_cross_sign_about_to_expire(self):
        t = "cross_soon"
        self.assertEqual(self.m("smtp_tls_cert_valid", t), 1)
        self.assertEqual(self.m("smtp_tls_cert_expiry_timestamp_seconds", t),
                         certs.not_after(self.ch.cross_soon.cert))
        self.assertEqual(self.m(
            "smtp_tls_verified_chain_expiry_timestamp_seconds", t),
            certs.SERVER_NOT_AFTER_TS)

    def test_expiring_intermediate(self):
        t = "soon"
        inter_end = certs.not_after(self.ch.soon_inter.cert)
        self.assertLess(inter_end, time.time() + (certs.SOON_DAYS + 1) * 86400)
        self.assertEqual(self.m("smtp_tls_cert_valid", t), 1)
        self.assertEqual(self.m(
            "smtp_tls_verified_chain_expiry_timestamp_seconds", t), inter_end)
        # The leaf itself lasts: the intermediate is the one expiring.
        self.assertEqual(self.m(
            "smtp_tls_leaf_cert_not_after_timestamp_seconds", t),
            certs.SERVER_NOT_AFTER_TS)
        self.assertEqual(self.info(t)["issuer"],
                         "CN=smtp-health-agent expiring intermediate")

    def test_not_yet_valid_leaf(self):
        for t in ("future", "future_verify"):
            with self.subTest(target=t):
                self.assertEqual(self.m("smtp_tls_cert_valid", t), 0)
                nb = self.m("smtp_tls_leaf_cert_not_before_timestamp_seconds",
                            t)
                self.assertEqual(nb, certs.FUTURE_NOT_BEFORE_TS)
                self.assertGreater(nb, time.time())
                self.assertIsNone(self.m(
                    "smtp_tls_verified_chain_expiry_timestamp_seconds", t))
                self.assertEqual(self.m(
                    "smtp_tls_leaf_cert_not_after_timestamp_seconds", t),
                    certs.SERVER_NOT_AFTER_TS)
        # Not verified: the probe goes on; verified: it fails at TLS.
        self.assertEqual(self.m("smtp_probe_success", "future"), 1)
        self.assertEqual(self.m("smtp_probe_success", "future_verify"), 0)
        tls = self.once["future"]["tls"]
        self.assertEqual(tls["leaf_not_before"], certs.FUTURE_NOT_BEFORE_TS)
        self.assertIsNone(tls["verified_chain_not_after"])
        self.assertIn("not yet valid", tls["problem"])

    def test_sessions_combine(self):
        """Session 1 the CA's localhost certificate, session 2 one that
        expired in 2021: no verified figure (not every chain verified),
        the leaves' earliest notAfter, the first session's identity."""
        t = "lb"
        self.assertEqual(self.m("smtp_tls_cert_valid", t), 0)
        self.assertIsNone(self.m(
            "smtp_tls_verified_chain_expiry_timestamp_seconds", t))
        self.assertEqual(self.m(
            "smtp_tls_leaf_cert_not_after_timestamp_seconds", t),
            certs.EXPIRED_NOT_AFTER_TS)
        fp, serial = openssl_facts(self.pki.server.cert)
        self.assertEqual(self.info(t), {
            "fingerprint_sha256": fp, "subject": "CN=localhost",
            "issuer": "CN=smtp-health-agent test CA", "serial": serial})

    # --- the alerts, from the values of this scrape ---------------------------

    def rendered(self, alert, target, days):
        """The alert's annotations for target, as Prometheus renders them
        (the templates the rules use, nothing else)."""
        def sub(text):
            q = urllib.parse.quote_plus
            return (text.replace("{{ $labels.target }}", target)
                    .replace("{{ $labels.instance }}", INSTANCE)
                    .replace('{{ printf "%.1f" $value }}', "%.1f" % days)
                    .replace("{{ $labels.job | urlquery }}", q(JOB))
                    .replace("{{ $labels.instance | urlquery }}", q(INSTANCE))
                    .replace("{{ $labels.target | urlquery }}", q(target)))
        ann = self.rules[alert]["annotations"]
        out = {k: sub(v) for k, v in ann.items()}
        self.assertNotIn("{{", json.dumps(out), "a template left unrendered")
        return out

    def test_alerts_from_the_real_scrape(self):
        if not shutil.which("promtool"):
            self.fail("promtool not found: install the Debian package "
                      "prometheus (tests/setup.sh)")
        with open(RULES) as f:
            doc = yaml.safe_load(f)
        self.rules = {r["alert"]: r for g in doc["groups"]
                      for r in g["rules"] if "alert" in r}
        # promtool's clock starts at 0: every timestamp moves back by the
        # time of the scrape, so days left stay what they are now.
        t0 = int(self.scrape_time)
        names = ("smtp_tls_cert_expiry_timestamp_seconds",
                 "smtp_tls_verified_chain_expiry_timestamp_seconds",
                 "smtp_tls_cert_valid")
        series = []
        for t in ("cross", "cross_soon", "soon", "future", "lb"):
            for name in names:
                v = self.m(name, t)
                if v is None:
                    continue
                if name != "smtp_tls_cert_valid":
                    v -= t0
                series.append({
                    "series": '%s{target="%s",job="%s",instance="%s"}'
                              % (name, t, JOB, INSTANCE),
                    "values": "%dx40" % v})

        def days(name, t):
            return (self.m(name, t) - t0 - EVAL) / 86400

        soon_days = days("smtp_tls_verified_chain_expiry_timestamp_seconds",
                         "soon")
        lb_days = days("smtp_tls_cert_expiry_timestamp_seconds", "lb")
        self.assertTrue(7 <= soon_days < 21, soon_days)
        self.assertLess(lb_days, 0)
        # What the presented chain alone said of cross_soon: under 7 days,
        # not expired, in a chain that verifies.
        self.assertTrue(0 < days("smtp_tls_cert_expiry_timestamp_seconds",
                                 "cross_soon") < 7)
        self.assertEqual(self.m("smtp_tls_cert_valid", "cross_soon"), 1)

        def alert(name, t, severity, d):
            return {"exp_labels": {"severity": severity, "target": t,
                                   "job": JOB, "instance": INSTANCE},
                    "exp_annotations": self.rendered(name, t, d)}
        test = {
            "rule_files": [RULES],
            "evaluation_interval": "30s",
            "tests": [{
                "interval": "30s",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "15m",
                     "alertname": "SMTPCertificateExpiringSoon",
                     "exp_alerts": [alert("SMTPCertificateExpiringSoon",
                                          "soon", "warning", soon_days)]},
                    {"eval_time": "15m",
                     "alertname": "SMTPCertificateExpiryImminent",
                     "exp_alerts": [alert("SMTPCertificateExpiryImminent",
                                          "lb", "critical", lb_days)]},
                ],
            }],
        }
        with tempfile.TemporaryDirectory(prefix="cert-alerts-") as d:
            path = os.path.join(d, "test.yml")
            with open(path, "w") as f:
                yaml.safe_dump(test, f, sort_keys=False)
            proc = subprocess.run(["promtool", "test", "rules", path],
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True,
                                  timeout=120)
        print("\ncross: presented %+.0f days, verified %+.0f days; "
              "soon: %.1f days; lb: %.1f days"
              % (days("smtp_tls_cert_expiry_timestamp_seconds", "cross"),
                 days("smtp_tls_verified_chain_expiry_timestamp_seconds",
                      "cross"), soon_days, lb_days), file=sys.stderr)
        # cross and cross_soon (their cross-signs on no verified path) and
        # future (no verified chain, the presented one lasts until 2040)
        # are in neither list: silent.
        self.assertEqual(proc.returncode, 0, proc.stdout)

    # --- the other readers --------------------------------------------------

    def test_probe_endpoint(self):
        s = harness.parse_metrics(self.probe_text["cross"])
        self.assertEqual(harness.metric(
            s, "smtp_tls_verified_chain_expiry_timestamp_seconds"),
            certs.SERVER_NOT_AFTER_TS)
        self.assertEqual(harness.metric(
            s, "smtp_tls_cert_expiry_timestamp_seconds"),
            certs.CROSS_NOT_AFTER_TS)
        info = harness.series(s, "smtp_tls_cert_info")
        self.assertEqual([dict(k) for k in info], [self.info("cross")])
        s = harness.parse_metrics(self.probe_text["future"])
        self.assertEqual(harness.metric(
            s, "smtp_tls_leaf_cert_not_before_timestamp_seconds"),
            certs.FUTURE_NOT_BEFORE_TS)
        self.assertIsNone(harness.metric(
            s, "smtp_tls_verified_chain_expiry_timestamp_seconds"))

    def test_page_and_once(self):
        fp, serial = openssl_facts(self.ch.leaf.cert)
        tls = self.once["cross"]["tls"]
        self.assertEqual(tls["cert_not_after"], certs.CROSS_NOT_AFTER_TS)
        self.assertEqual(tls["verified_chain_not_after"],
                         certs.SERVER_NOT_AFTER_TS)
        self.assertEqual(tls["leaf_not_after"], certs.SERVER_NOT_AFTER_TS)
        self.assertEqual(tls["leaf_not_before"], LEAF_NOT_BEFORE_TS)
        self.assertEqual(tls["issuer"], "CN=smtp-health-agent test "
                                        "intermediate")
        self.assertEqual(tls["serial"], serial)
        self.assertEqual(tls["fingerprint_sha256"], fp)
        # Days left count from the verified chain, not the cross-sign.
        self.assertGreater(tls["cert_days_left"], 365)
        self.assertIn("2040-01-01 00:00:00 UTC, verified chain", self.page)
        self.assertIn("issuer CN=smtp-health-agent test intermediate",
                      self.page)
        self.assertIn("SHA-256 " + fp, self.page)
        self.assertIn("not valid before</span> 2039-01-01", self.page)


# Hex digits only, so that a serial can be it; the probe's password.
SECRET = "c0ffee15deadbeef0123"
WITHHELD = "[withheld: the text contained a form of the secret]"


class SecretInCertificateTest(unittest.TestCase):
    """A server whose leaf names the probe's password as its issuer's CN
    and as its serial: both are withheld, as a subject would be, from
    the series, /probe, the status page, --once and the log."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cert-secret-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        pair = certs.secret_chain(harness.shared_pki(), cls.tmp, SECRET)
        cls.aio = cls.enterClassContext(harness.aiosmtpd(
            tls="starttls", pair=pair, password=SECRET))
        text = "\n".join([
            "[agent]", "interval = 3s", "timeout = 3s",
            "extra_metrics = cert_details",
            harness.target_ini("leaky", cls.aio.port, mechanisms="PLAIN",
                               username=cls.aio.user,
                               password_file="@PASSWORD_FILE@"),
        ]) + "\n"
        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(), text, password=SECRET))
        wait_probed(cls.agent, ("leaky",), timeout=20)
        cls.text, cls.samples = harness.scrape(cls.agent.port)
        cls.probe_text = harness.http_get(
            cls.agent.port, "/probe?target=leaky")[2].decode()
        cls.page = harness.http_get(cls.agent.port, "/")[2].decode()
        r = harness.run_agent_once(
            harness.agent_binary(), ["-c", cls.agent.config_path, "--once",
                                     "--format", "json"], timeout=60)
        cls.once_out = r.stdout + r.stderr
        cls.once = json.loads(r.stdout)["targets"][0]

    def test_issuer_and_serial_withheld(self):
        self.assertEqual(harness.metric(self.samples, "smtp_probe_success",
                                        target="leaky"), 1)
        (labels, _), = harness.series(self.samples, "smtp_tls_cert_info",
                                      target="leaky").items()
        d = dict(labels)
        self.assertEqual(d["issuer"], WITHHELD)
        self.assertEqual(d["serial"], WITHHELD)
        self.assertEqual(d["subject"], "CN=localhost")
        self.assertEqual(self.once["tls"]["issuer"], WITHHELD)
        self.assertEqual(self.once["tls"]["serial"], WITHHELD)
        # The facts that are not the server's text stay.
        self.assertEqual(harness.metric(
            self.samples, "smtp_tls_verified_chain_expiry_timestamp_seconds",
            target="leaky"), certs.SERVER_NOT_AFTER_TS)

    def test_no_form_of_the_secret_anywhere(self):
        forms = harness.secret_forms(self.aio.user, SECRET)
        harness.assert_no_secret(self, forms, {
            "/metrics": self.text, "/probe": self.probe_text,
            "status page": self.page, "--once": self.once_out,
            "log": self.agent.stderr()})


class OddSubjectTest(unittest.TestCase):
    """A subject past 127 bytes with a quote, a backslash, a comma and
    bytes past ASCII: the label is OpenSSL's own RFC 2253 text (those
    bytes escaped as \\XX), cut to 124 bytes and "...", and the
    exposition escapes it so that promtool and the parser read it back."""

    # RFC 2253 writes the last field first: O comes right after CN.
    SUBJECT = ("/C=CH/OU=" + "x" * 60 + "/OU=" + "y" * 40 +
               "/O=Z\u00fcrich \"quoted\" \\\\back, Inc./CN=localhost")

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cert-subject-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.leaf = certs.named_leaf(harness.shared_pki(), cls.tmp,
                                    cls.SUBJECT)
        cls.aio = cls.enterClassContext(harness.aiosmtpd(
            tls="starttls", pair=cls.leaf))
        text = "\n".join([
            "[agent]", "interval = 3s", "timeout = 3s",
            "extra_metrics = cert_details",
            harness.target_ini("odd", cls.aio.port)]) + "\n"
        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(), text))
        wait_probed(cls.agent, ("odd",), timeout=20)
        cls.text, cls.samples = harness.scrape(cls.agent.port)

    def test_subject_label(self):
        full = certs.rfc2253_subject(self.leaf.cert)
        self.assertGreater(len(full), 127, full)
        self.assertIn("\\C3\\BC", full)  # the u-umlaut, escaped
        (labels, _), = harness.series(self.samples, "smtp_tls_cert_info",
                                      target="odd").items()
        subject = dict(labels)["subject"]
        self.assertEqual(subject, full[:124] + "...")
        self.assertTrue(subject.startswith(
            'CN=localhost,O=Z\\C3\\BCrich \\"quoted\\" \\\\back\\, Inc.,OU=y'),
            subject)
        rc, out = harness.promtool_check(self.text)
        self.assertEqual(rc, 0, out)


if __name__ == "__main__":
    unittest.main()
