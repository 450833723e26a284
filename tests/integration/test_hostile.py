"""The agent against misbehaving servers: the right class or error, within
the deadline, with memory bounded, while a healthy target stays on time.

One hostile_smtpd process plays every misbehaviour, one port each; one
agent probes all of them (one target per scenario) every INTERVAL_S with
a TIMEOUT_S deadline, next to a healthy aiosmtpd. After ROUNDS probes of
every target, each test method checks one misbehaviour from the scrape,
the agent's debug log (every probe's duration) and the server's log (what
the agent sent). At the end a table goes to stderr: scenario, what the
agent reported, probe durations against the deadline, peak RSS.

Decisions where the issue is silent (the agent's behaviour, asserted
here):
- Bare LF line ends are tolerated: the probe succeeds (libcurl and the
  agent's own reader both take LF as a line end).
- AUTH answered with 334 forever: the agent answers the first unexpected
  challenge with "*" (RFC 4954 4: cancel) and records the server's answer
  to that, another 334, as the final reply: class unexpected at auth.
- The connection closed during the TLS handshake is tls_handshake (stage
  tls), like any other failed handshake, not closed.
- TLS on a plain port: a TLS server waits for the ClientHello that a
  client expecting a banner never sends: timeout at greeting.
- 4,000 EHLO keywords: Debian's libcurl 7.88.1 cannot read that reply (it
  counts the unread rest of a reply again at each EHLO line and gives up
  at 300 KiB); the agent stops at 128 KiB and says malformed. 100
  keywords show the cap of 32 smtp_ehlo_extension series.
- A reply line longer than 4 KiB is malformed (RFC 5321 allows 512
  bytes), even when libcurl would have cut it down to a short valid one.

Takes about 25 s (35 s under ASan).
"""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import certs  # noqa: E402
import harness  # noqa: E402
import hostile_smtpd  # noqa: E402

INTERVAL_S = 3
TIMEOUT_S = 2.0
ROUNDS = 4  # probes of every target before the checks
# Generous, per the house rules: the agent's own timeouts fire at the
# deadline; this only allows for a loaded machine.
DEADLINE_MARGIN_S = 3.0
# A timeout must really wait for the deadline (curl may fire 1 ms early).
EARLY_S = 0.1
# Resident memory of the default build. The agent idles at ~12 MiB; the
# worst these servers can add is bounded by the agent's own limits, per
# connection at once: libcurl's 256 KiB reply buffer, the parser's 64 KiB
# of reply text and 4 KiB line, 64 KiB of queued commands; with the ~40
# targets here all connected at once that is under 16 MiB more. 64 MiB
# leaves room and still catches a reply kept whole (the 100,000-line one
# is 4.5 MB, the 1 MiB line 1 MiB, for every probe).
RSS_LIMIT = 64 << 20
# Under AddressSanitizer memory is not the agent's own (shadow memory, a
# 256 MiB quarantine of freed blocks): only a runaway is caught.
RSS_LIMIT_ASAN = 512 << 20
START_DELAY_LIMIT = "1"  # the histogram bucket every start must fall in

PASSWORD = "fixture-hostile-pw-5"
USER = "probe@hostile.test"

# target name -> (scenario, tls, AUTH PLAIN?, tls_verify, expected outcome)
# The outcome is (stage, error) for a failure without a reply,
# (stage, code, class) for a failing reply, or "success".
CASES = {
    "no_banner": ("no_banner", "none", False, True,
                  ("greeting", "timeout")),
    "banner_trickle": ("banner_trickle", "none", False, True,
                       ("greeting", "timeout")),
    "banner_late": ("banner_late", "none", False, True,
                    ("greeting", "timeout")),
    "greeting_421": ("greeting_421", "none", False, True,
                     ("greeting", 421, "temporary_failure")),
    "greeting_554": ("greeting_554", "none", False, True,
                     ("greeting", 554, "rejected")),
    "greeting_markup": ("greeting_markup", "none", False, True,
                        ("greeting", 554, "rejected")),
    "garbage": ("garbage", "none", False, True, ("greeting", "malformed")),
    "long_line": ("long_line", "none", False, True,
                  ("greeting", "malformed")),
    "long_line_crlf": ("long_line_crlf", "none", False, True,
                       ("greeting", "malformed")),
    "line_17k": ("line_17k", "none", False, True, ("greeting", "malformed")),
    "ehlo_100k_lines": ("ehlo_100k_lines", "none", False, True,
                        ("ehlo", "malformed")),
    "code_600": ("code_600", "none", False, True, ("greeting", "malformed")),
    "code_abc": ("code_abc", "none", False, True, ("greeting", "malformed")),
    "code_25": ("code_25", "none", False, True, ("greeting", "malformed")),
    "multiline_mismatch": ("multiline_mismatch", "none", False, True,
                           ("ehlo", "malformed")),
    "bare_lf": ("bare_lf", "none", True, True, "success"),
    "close_after_banner": ("close_after_banner", "none", False, True,
                           ("ehlo", "closed")),
    "close_after_ehlo": ("close_after_ehlo", "none", True, True,
                         ("auth", "closed")),
    "close_mid_reply": ("close_mid_reply", "none", False, True,
                        ("ehlo", "closed")),
    "close_in_tls_handshake": ("close_in_tls_handshake", "implicit", False,
                               True, ("tls", "tls_handshake")),
    "tls_handshake_stall": ("tls_handshake_stall", "implicit", False, True,
                            ("tls", "timeout")),
    "tls_on_plain_port": ("tls_on_plain_port", "starttls", False, True,
                          ("greeting", "timeout")),
    "plain_on_tls_port": ("plain_on_tls_port", "implicit", False, True,
                          ("tls", "tls_handshake")),
    "starttls_454": ("starttls_454", "starttls", True, True,
                     ("starttls", 454, "temporary_failure")),
    "starttls_garbage": ("starttls_garbage", "starttls", True, True,
                         ("tls", "tls_handshake")),
    "starttls_stall": ("starttls_stall", "starttls", True, True,
                       ("tls", "timeout")),
    "starttls_missing": ("starttls_missing", "starttls", True, True,
                         ("starttls", "starttls_unavailable")),
    "cert_expired": ("cert_expired", "starttls", True, True,
                     ("tls", "certificate")),
    "cert_wronghost": ("cert_wronghost", "starttls", True, True,
                       ("tls", "certificate")),
    "cert_selfsigned": ("cert_selfsigned", "starttls", True, True,
                        ("tls", "certificate")),
    "cert_selfsigned_noverify": ("cert_selfsigned", "starttls", True, False,
                                 "success"),
    "auth_endless_334": ("auth_endless_334", "starttls", True, True,
                         ("auth", 334, "unexpected")),
    "auth_never_ends": ("auth_never_ends", "starttls", True, True,
                        ("auth", "malformed")),
    "auth_trickle": ("auth_trickle", "starttls", True, True,
                     ("auth", "timeout")),
    "ehlo_4000_keywords": ("ehlo_4000_keywords", "none", True, True,
                           ("ehlo", "malformed")),
    "ehlo_100_keywords": ("ehlo_100_keywords", "none", True, True,
                          "success"),
    "ehlo_10k_keywords": ("ehlo_10k_keywords", "none", False, True,
                          ("ehlo", "malformed")),
    "never_reads": ("never_reads", "none", False, True, ("ehlo", "timeout")),
}

# Scenarios where a failed STARTTLS or certificate must keep AUTH (and
# with it the password) from ever being sent.
NO_AUTH_SENT = ("starttls_454", "starttls_garbage", "starttls_stall",
                "starttls_missing",
                "cert_expired", "cert_wronghost", "cert_selfsigned")

HEALTHY = "healthy"
STAGES = ("connect", "greeting", "ehlo", "starttls", "tls", "auth", "quit")
ERRORS = ("dns", "connect", "timeout", "tls_handshake", "certificate",
          "starttls_unavailable", "closed", "malformed")

_DONE_RE = re.compile(r'msg="probe done" target=(\S+) success=(\d) '
                      r'duration=([0-9.]+)')


def config(ports, aio):
    out = ["[agent]", "interval = %ds" % INTERVAL_S,
           "timeout = %dms" % (TIMEOUT_S * 1000),
           # Every target is on 127.0.0.1: the per-host limit of 4 would
           # queue them behind each other.
           "max_per_host = 128", "log_level = debug",
           # The checks read every detail: counters at 0 for what did not
           # happen, last codes, the buckets and the EHLO keywords.
           "extra_metrics = duration_buckets, ehlo_extensions, "
           "last_reply_codes, zero_series"]
    for name, (_, tls, auth, verify, _) in CASES.items():
        out += ['[target "%s"]' % name, "host = 127.0.0.1",
                "port = %d" % ports[name], "tls = %s" % tls,
                "server_name = localhost", "ca_file = @CA_FILE@",
                "tls_verify = %s" % ("true" if verify else "false")]
        if auth:
            out += ["mechanisms = PLAIN", "username = %s" % USER,
                    "password_file = @PASSWORD_FILE@"]
            if tls == "none":
                out.append("allow_plaintext_auth = true")
    out += ['[target "%s"]' % HEALTHY, "host = 127.0.0.1",
            "port = %d" % aio.port, "server_name = localhost",
            "ca_file = @CA_FILE@", "mechanisms = PLAIN",
            "username = %s" % aio.user, "password_env = AIO_PASSWORD"]
    return "\n".join(out) + "\n"


class Hostile(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # Class cleanups stop every server, also when this fails halfway.
        cls._start()

    @classmethod
    def _start(cls):
        binary = harness.agent_binary()
        cls.asan = harness.sanitized(binary)
        pki = harness.shared_pki()
        cls.aio = cls.enterClassContext(harness.aiosmtpd(tls="starttls"))
        # One port per target, named after it in the server's log.
        plays = ["%s=%s" % (name, c[0]) for name, c in CASES.items()]
        cls.srv = cls.enterClassContext(hostile_smtpd.HostileServer(plays, pki.dir))
        env = dict(os.environ, AIO_PASSWORD=cls.aio.password)
        cls.agent = cls.enterClassContext(harness.run_agent(
            binary, config(cls.srv.ports, cls.aio), password=PASSWORD,
            env=env))
        cls.t0 = time.monotonic()
        cls.healthy_samples = []  # (seconds since start, probes, success)
        cls.rss_max = 0
        targets = list(CASES) + [HEALTHY]

        def enough():
            s = harness.scrape(cls.agent.port)[1]
            probes = harness.metric(s, "smtp_probes_total", target=HEALTHY)
            cls.healthy_samples.append(
                (time.monotonic() - cls.t0, probes,
                 harness.metric(s, "smtp_probe_success", target=HEALTHY)))
            cls.rss_max = max(cls.rss_max, harness.metric(
                s, "process_resident_memory_bytes") or 0)
            return all((harness.metric(s, "smtp_probes_total", target=t)
                        or 0) >= ROUNDS for t in targets)
        # The first probes spread over one interval, then ROUNDS - 1 more.
        harness.wait_for(enough, (ROUNDS + 3) * INTERVAL_S, interval=0.5,
                         message="%d probes of every target" % ROUNDS)
        cls.elapsed = time.monotonic() - cls.t0
        cls.vm = harness.vm_status(cls.agent.proc.pid)
        cls.text, cls.samples = harness.scrape(cls.agent.port)
        cls.page = harness.http_get(cls.agent.port, "/")[2].decode(
            "utf-8", "replace")
        cls.log = cls.agent.stderr()
        cls.server_log = cls.srv.log()
        cls.durations = {}
        for m in _DONE_RE.finditer(cls.log):
            cls.durations.setdefault(m.group(1), []).append(
                float(m.group(3)))

    @classmethod
    def tearDownClass(cls):
        cls._print_table()  # the servers stop in the class cleanups

    @classmethod
    def _print_table(cls):
        if not hasattr(cls, "samples"):
            return
        peak = cls.vm.get("VmHWM", 0) / (1 << 20)
        out = ["", "hostile servers: %d+ probes per target in %.1f s, "
               "deadline %.1f s, agent peak RSS %.1f MiB (VmHWM, one "
               "process for all)%s; every probe start within %s s of its "
               "schedule" % (ROUNDS, cls.elapsed, TIMEOUT_S, peak,
                             ", ASan build" if cls.asan else "",
                             cls._delay_bound()),
               "%-26s %-10s %-50s %6s %15s %9s" % (
                   "TARGET", "TLS", "REPORTED", "PROBES", "DURATION MIN-MAX",
                   "PEAK RSS")]
        for name in list(CASES) + [HEALTHY]:
            d = cls.durations.get(name, [])
            tls = CASES[name][1] if name in CASES else "starttls"
            span = "%.3f-%.3f s" % (min(d), max(d)) if d else "-"
            out.append("%-26s %-10s %-50s %6d %15s %5.1f MiB" % (
                name, tls, cls.reported(name),
                int(cls._m("smtp_probes_total", target=name) or 0), span,
                peak))
        sys.stderr.write("\n".join(out) + "\n")

    @classmethod
    def _delay_bound(cls):
        """The smallest bucket of smtp_agent_probe_start_delay_seconds
        that holds every start."""
        count = cls._m("smtp_agent_probe_start_delay_seconds_count")
        buckets = sorted(
            (float(dict(k)["le"]), v) for k, v in harness.series(
                cls.samples, "smtp_agent_probe_start_delay_seconds_bucket")
            .items())
        return next(("%g" % le for le, v in buckets if v == count), "?")

    @classmethod
    def _m(cls, name, **labels):
        return harness.metric(cls.samples, name, **labels)

    @classmethod
    def reported(cls, target):
        """What the agent reported for target: stage and error or class
        of the failures seen, from the counters."""
        parts = []
        for stage in STAGES:
            n = cls._m("smtp_probe_failures_total", target=target,
                       stage=stage) or 0
            if n:
                parts.append("%s x%d" % (stage, n))
        for err in ERRORS:
            n = cls._m("smtp_probe_errors_total", target=target,
                       error=err) or 0
            if n:
                parts.append("error=%s" % err)
        for lbl, n in harness.series(cls.samples, "smtp_replies_total",
                                     target=target).items():
            d = dict(lbl)
            if n and d["class"] != "success":
                parts.append("%s %s %s" % (d["stage"], d["code"],
                                           d["class"]))
        if not parts and cls._m("smtp_probe_success", target=target) == 1:
            parts.append("success")
        return ", ".join(parts) or "?"

    # --- the checks ------------------------------------------------------

    def check(self, name):
        auth, expect = CASES[name][2], CASES[name][4]
        m = self._m
        probes = m("smtp_probes_total", target=name)
        self.assertGreaterEqual(probes, ROUNDS)
        # Every probe ended before the next was due: none skipped, for
        # any reason (the series at 0 is there from the start).
        self.assertEqual(m("smtp_agent_probes_skipped_total", target=name,
                           reason="running"), 0)
        self.assertEqual(sum(harness.series(
            self.samples, "smtp_agent_probes_skipped_total",
            target=name).values()), 0)

        # Every probe, not only the last, had the expected outcome.
        fails = {s: m("smtp_probe_failures_total", target=name, stage=s)
                 for s in STAGES}
        errors = {e: m("smtp_probe_errors_total", target=name, error=e)
                  for e in ERRORS}
        if expect == "success":
            self.assertEqual(m("smtp_probe_success", target=name), 1)
            self.assertEqual(sum(fails.values()), 0, fails)
            self.assertEqual(sum(errors.values()), 0, errors)
            self.assertEqual(m("smtp_last_reply_code", target=name,
                               stage="quit"), 221)
            if auth:
                self.assertEqual(m("smtp_auth_results_total", target=name,
                                   mechanism="PLAIN",
                                   **{"class": "success"}), probes)
        else:
            stage = expect[0]
            self.assertEqual(m("smtp_probe_success", target=name), 0)
            self.assertEqual(fails, {s: probes if s == stage else 0
                                     for s in STAGES})
            if len(expect) == 2:
                err = expect[1]
                self.assertEqual(errors, {e: probes if e == err else 0
                                          for e in ERRORS})
            else:
                code, cls_ = expect[1], expect[2]
                self.assertEqual(sum(errors.values()), 0, errors)
                self.assertEqual(m("smtp_replies_total", target=name,
                                   stage=stage, code=str(code),
                                   **{"class": cls_}), probes)
                self.assertEqual(m("smtp_last_reply_code", target=name,
                                   stage=stage), code)

        # Within the deadline, every probe; a timeout waits for it.
        d = self.durations.get(name, [])
        self.assertGreaterEqual(len(d), probes)
        self.assertLessEqual(max(d), TIMEOUT_S + DEADLINE_MARGIN_S)
        if expect != "success" and expect[-1] == "timeout":
            self.assertGreaterEqual(min(d), TIMEOUT_S - EARLY_S)
        hist_n = m("smtp_probe_duration_seconds_count", target=name)
        self.assertEqual(m("smtp_probe_duration_seconds_bucket", target=name,
                           le="5"), hist_n)

        # However many keywords the server sends, at most 32 series.
        ext = harness.series(self.samples, "smtp_ehlo_extension",
                             target=name)
        self.assertLessEqual(len(ext), 32)

        # The status page lists it (it rendered despite what it shows).
        self.assertIn(name, self.page)

    # --- per-scenario extras, next to the generated tests ----------------

    def test_ehlo_100_keywords_keeps_32_series(self):
        ext = harness.series(self.samples, "smtp_ehlo_extension",
                             target="ehlo_100_keywords")
        self.assertEqual({dict(k)["keyword"] for k in ext},
                         {"X%04d" % i for i in range(32)})
        self.assertEqual(set(ext.values()), {1})
        # AUTH came after the 32nd keyword: it still counts.
        self.assertEqual(self._m("smtp_auth_mechanism_advertised",
                                 target="ehlo_100_keywords",
                                 mechanism="PLAIN"), 1)

    def test_selfsigned_without_verification_goes_on_to_auth(self):
        m = self._m
        self.assertEqual(m("smtp_tls_cert_valid",
                           target="cert_selfsigned_noverify"), 0)
        self.assertGreaterEqual(m("smtp_auth_results_total",
                                  target="cert_selfsigned_noverify",
                                  mechanism="PLAIN",
                                  **{"class": "success"}), ROUNDS)
        for t in ("cert_expired", "cert_wronghost", "cert_selfsigned"):
            with self.subTest(target=t):
                self.assertEqual(m("smtp_tls_cert_valid", target=t), 0)
        self.assertEqual(m("smtp_tls_cert_expiry_timestamp_seconds",
                           target="cert_expired"),
                         certs.EXPIRED_NOT_AFTER_TS)

    def test_reply_text_is_escaped_on_the_page_and_in_the_log(self):
        self.assertIn("&lt;script&gt;", self.page)
        self.assertNotIn("<script>", self.page)
        self.assertNotIn("\x1b", self.page + self.log)
        # The forged field stays inside the quoted detail of its line.
        lines = [ln for ln in self.log.splitlines()
                 if "target=greeting_markup" in ln and "detail=" in ln]
        self.assertTrue(lines)
        for ln in lines:
            self.assertNotIn("level=error", ln.split("detail=", 1)[0])
            self.assertTrue(ln.startswith("ts="), ln)

    def conn_lines(self, target):
        """{conn number: [log text]} of the server's log for a target."""
        conns = {}
        for line in self.server_log.splitlines():
            m = re.search(r"scenario=%s conn=(\d+) (.*)" % target, line)
            if m:
                conns.setdefault(m.group(1), []).append(m.group(2))
        return conns

    def test_no_auth_after_failed_starttls_or_certificate(self):
        for scen in NO_AUTH_SENT:
            with self.subTest(scenario=scen):
                conns = self.conn_lines(scen)
                self.assertGreaterEqual(len(conns), ROUNDS)
                for lines in conns.values():
                    self.assertFalse([ln for ln in lines
                                      if ln.startswith("command AUTH")],
                                     lines)
                self.assertEqual(self._m("smtp_auth_results_total",
                                         target=scen, mechanism="PLAIN",
                                         **{"class": "success"}), 0)

    def test_endless_334_is_cancelled(self):
        conns = self.conn_lines("auth_endless_334")
        cancelled = [c for c, lines in conns.items()
                     if "command *" in lines]
        # Every connection that got as far as AUTH was cancelled with "*".
        reached = [c for c, lines in conns.items()
                   if any(ln.startswith("command AUTH") for ln in lines)]
        self.assertGreaterEqual(len(reached), ROUNDS)
        self.assertEqual(sorted(cancelled), sorted(reached))

    def test_every_connection_is_closed_by_the_agent(self):
        # The silent servers never close by themselves: each connection
        # ends because the agent hung up at its deadline.
        for scen in ("no_banner", "never_reads", "banner_trickle"):
            with self.subTest(scenario=scen):
                conns = self.conn_lines(scen)
                self.assertGreaterEqual(len(conns), ROUNDS)
                closed = [c for c, lines in conns.items()
                          if any(ln.startswith("close: client hung up")
                                 for ln in lines)]
                # The last one may still be open at the scrape.
                self.assertGreaterEqual(len(closed), len(conns) - 1)
        # No descriptor left behind: the agent holds far fewer than it
        # opened (one socket per probe).
        opened = sum(self._m("smtp_probes_total", target=t)
                     for t in list(CASES) + [HEALTHY])
        self.assertGreater(opened, 100)
        self.assertLess(self._m("process_open_fds"), len(CASES) + 40)

    # --- the healthy neighbour and the agent itself ----------------------

    def test_healthy_target_stays_on_schedule(self):
        m = self._m
        self.assertEqual(m("smtp_probe_success", target=HEALTHY), 1)
        self.assertEqual(sum(m("smtp_probe_failures_total", target=HEALTHY,
                               stage=s) for s in STAGES), 0)
        self.assertEqual(m("smtp_agent_probes_skipped_total",
                           target=HEALTHY, reason="running"), 0)
        self.assertEqual(sum(harness.series(
            self.samples, "smtp_agent_probes_skipped_total",
            target=HEALTHY).values()), 0)
        # Success at every sample taken while the hostile probes ran.
        seen = [s for s in self.healthy_samples if s[1]]
        self.assertTrue(seen)
        self.assertEqual({s[2] for s in seen}, {1})
        # One probe per interval: as many as the elapsed intervals allow
        # (the first one comes within the first interval).
        probes = m("smtp_probes_total", target=HEALTHY)
        self.assertGreaterEqual(probes, int(self.elapsed / INTERVAL_S))
        self.assertLessEqual(probes, int(self.elapsed / INTERVAL_S) + 2)
        # Every probe of every target started less than 1 s late.
        count = m("smtp_agent_probe_start_delay_seconds_count")
        self.assertGreater(count, len(CASES) * ROUNDS)
        self.assertEqual(m("smtp_agent_probe_start_delay_seconds_bucket",
                           le=START_DELAY_LIMIT), count)

    def test_memory_stays_bounded(self):
        limit = RSS_LIMIT_ASAN if self.asan else RSS_LIMIT
        self.assertGreater(self.vm["VmHWM"], 0)
        self.assertLess(self.vm["VmHWM"], limit)
        self.assertLess(self.rss_max, limit)

    def test_live_scrape_passes_promtool(self):
        rc, out = harness.promtool_check(self.text)
        self.assertEqual(rc, 0, out)

    def test_no_secret_in_any_output(self):
        forms = (harness.secret_forms(USER, PASSWORD) +
                 harness.secret_forms(self.aio.user, self.aio.password))
        outputs = {"log": self.log, "metrics": self.text, "page": self.page,
                   "server log": self.server_log}
        self.assertIn("level=debug", self.log)
        harness.assert_no_secret(self, forms, outputs)


def _make_test(name):
    def test(self):
        self.check(name)
    test.__doc__ = "%s: %s" % (name, " ".join(
        hostile_smtpd.SCENARIOS[CASES[name][0]].__doc__.split()))
    return test


for _name in CASES:
    setattr(Hostile, "test_%s" % _name, _make_test(_name))


if __name__ == "__main__":
    unittest.main(verbosity=2)
