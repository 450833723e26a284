"""Issue 15: the phases of smtp_probe_phase_duration_seconds for each TLS
mode, against real aiosmtpd servers (implicit TLS, STARTTLS, none).

An implicit-TLS target's handshake, right after connect, is phase `tls`;
a STARTTLS target's STARTTLS command, handshake and second EHLO are phase
`starttls`. Each has the one and not the other, and as many phase series
as the other. The agent's /metrics is read once the first probe of every
target is in, and checked by several tests; /probe names the phases the
same way.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

TARGETS = ("implicit", "starttls", "none")


class TlsPhase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        servers = {tls: cls.enterClassContext(harness.aiosmtpd(tls=tls))
                   for tls in TARGETS}
        cls.aio = servers["starttls"]
        user = dict(username=cls.aio.user, mechanisms="PLAIN",
                    password_env="AIO_PASSWORD")
        # aiosmtpd offers AUTH in clear only when told; the clear target
        # is EHLO-only.
        cfg = "[agent]\ninterval = 2s\ntimeout = 2s\n" + "".join([
            harness.target_ini("implicit", servers["implicit"].port,
                               tls="implicit", **user),
            harness.target_ini("starttls", servers["starttls"].port, **user),
            harness.target_ini("none", servers["none"].port, tls="none"),
        ])
        # The [module] for /probe: implicit TLS to the same server.
        cfg += ('\n[module "smtps"]\ntls = implicit\nserver_name = localhost'
                '\nca_file = @CA_FILE@\nallowed_targets = 127.0.0.1\n')
        env = dict(os.environ, AIO_PASSWORD=cls.aio.password)
        cls.agent = cls.enterClassContext(
            harness.run_agent(harness.agent_binary(), cfg, env=env))

        def first():
            s = harness.scrape(cls.agent.port)[1]
            done = all(harness.metric(s, "smtp_probe_duration_seconds_count",
                                      target=t) for t in TARGETS)
            return s if done else None
        cls.samples = harness.wait_for(first, 20)
        cls.implicit_port = servers["implicit"].port

    def phases(self, target):
        return {dict(k)["phase"]: v for k, v in harness.series(
            self.samples, "smtp_probe_phase_duration_seconds",
            target=target).items()}

    def test_every_probe_succeeded(self):
        for t in TARGETS:
            self.assertEqual(harness.metric(self.samples, "smtp_probe_success",
                                            target=t), 1, t)

    def test_implicit_tls_handshake_is_phase_tls(self):
        ph = self.phases("implicit")
        self.assertIn("tls", ph)
        self.assertNotIn("starttls", ph)
        self.assertGreater(ph["tls"], 0)
        self.assertEqual(set(ph), {"resolve", "connect", "tls", "banner",
                                   "ehlo", "auth"})

    def test_starttls_is_phase_starttls(self):
        ph = self.phases("starttls")
        self.assertIn("starttls", ph)
        self.assertNotIn("tls", ph)
        self.assertGreater(ph["starttls"], 0)
        self.assertEqual(set(ph), {"resolve", "connect", "banner", "ehlo",
                                   "starttls", "auth"})

    def test_series_per_target_do_not_grow(self):
        # One TLS phase or the other, never both: as many series for an
        # implicit target as for a STARTTLS one; none for plain text.
        self.assertEqual(len(self.phases("implicit")),
                         len(self.phases("starttls")))
        self.assertEqual(set(self.phases("none")),
                         {"resolve", "connect", "banner", "ehlo"})

    def test_phases_add_up_to_no_more_than_the_duration(self):
        # The first probe's: the histogram's sum is that probe's duration
        # while its count is 1.
        if harness.metric(self.samples, "smtp_probe_duration_seconds_count",
                          target="implicit") != 1:
            self.skipTest("a second probe came before the scrape")
        total = harness.metric(self.samples, "smtp_probe_duration_seconds_sum",
                               target="implicit")
        self.assertLessEqual(sum(self.phases("implicit").values()), total)

    def test_probe_endpoint_names_it_tls_too(self):
        status, _, body = harness.http_get(
            self.agent.port,
            "/probe?module=smtps&target=127.0.0.1:%d" % self.implicit_port)
        self.assertEqual(status, 200, body[:300])
        s = harness.parse_metrics(body.decode())
        ph = {dict(k)["phase"] for k in harness.series(
            s, "smtp_probe_phase_duration_seconds")}
        self.assertIn("tls", ph)
        self.assertNotIn("starttls", ph)


if __name__ == "__main__":
    unittest.main()
